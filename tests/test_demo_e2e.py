"""``twin demo`` end to end: it comes up, serves controllers, and stops without leftovers."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import psutil
import pytest
from pymodbus.client import ModbusTcpClient
from pymodbus.exceptions import ModbusException

from connectors.controller_map import load_controller_map

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SHORT_SCENARIO = """\
name: short
description: Two days of today's Beucha, for the demo test.
district: beucha
year: 2025
start: "2025-03-03"
end: "2025-03-05"
output: kpis
"""


def _free_port() -> int:
    """A free port below the kernel's ephemeral range.

    The demo's field binds hundreds of servers on ports the kernel picks from its ephemeral
    range; a port probed from that range could be handed to one of them before the demo's
    own server binds it.
    """
    low = min(int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0]), 32768)
    for port in random.sample(range(max(1024, low - 12000), low), 200):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError("no free port below the ephemeral range")


def _wait(condition, timeout_s: float, what: str, process: subprocess.Popen[bytes], logs: Path) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        if process.poll() is not None:
            raise AssertionError(
                f"twin demo exited ({process.returncode}) while waiting for {what}\n{_told(process, logs)}"
            )
        time.sleep(0.5)
    raise AssertionError(f"{what} not reached within {timeout_s} s\n{_told(None, logs)}")


def _told(process: subprocess.Popen[bytes] | None, logs: Path) -> str:
    """What the demo printed and the ends of its processes' logs (for a failure message)."""
    parts = []
    if process is not None and process.stdout is not None:
        parts.append("demo: " + process.stdout.read().decode(errors="replace")[-3000:])
    for log in sorted(logs.glob("*.log")) if logs.is_dir() else []:
        lines = [line for line in log.read_text(errors="replace").splitlines() if not line.startswith(">>>>>")]
        parts.append(f"{log.name}: " + "\n".join(lines[-30:]))
    return "\n".join(parts)


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _controller_version(port: int) -> int | None:
    client = ModbusTcpClient("127.0.0.1", port=port, timeout=1, retries=0)
    try:
        if not client.connect():
            return None
        response = client.read_holding_registers(0, count=1, device_id=1)
        return None if response.isError() else int(response.registers[0])
    except (OSError, ConnectionError, ModbusException):
        return None
    finally:
        client.close()


def test_demo_starts_serves_and_stops_cleanly(tmp_path: Path, twin_exe: Path, grid_cache_dir: Path) -> None:
    web, plain, tls = _free_port(), _free_port(), _free_port()
    env = {**os.environ, "TWIN_CACHE_DIR": str(grid_cache_dir)}
    command = [str(twin_exe), "--data-root", str(tmp_path / "data"), "demo", "--no-baseline"]
    command += ["--port", str(web), "--controller-port", str(plain), "--controller-tls-port", str(tls)]
    demo = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        logs = tmp_path / "data" / "demo" / "logs"
        _wait(lambda: _healthy(f"http://127.0.0.1:{web}/healthz"), 180, "the dashboard's /healthz", demo, logs)
        version = load_controller_map().version  # the shipped map
        _wait(lambda: _controller_version(plain) == version, 60, "the controller map version", demo, logs)
        login = (tmp_path / "data" / "demo-login.json").read_text()
        assert "manager" in login

        scenario = tmp_path / "short.yaml"
        scenario.write_text(SHORT_SCENARIO)
        run = subprocess.run(
            [str(twin_exe), "--data-root", str(tmp_path / "data"), "scenario", "run", str(scenario), "--workers", "0"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert run.returncode == 0, run.stderr
        assert (tmp_path / "data" / "scenarios" / "short" / "kpis.json").is_file()

        children = psutil.Process(demo.pid).children(recursive=True)
        assert len(children) >= 3
        demo.send_signal(signal.SIGINT)
        output, _ = demo.communicate(timeout=60)
        assert demo.returncode == 0, output.decode(errors="replace")[-2000:]
        _, alive = psutil.wait_procs(children, timeout=10)
        assert not alive, [p.pid for p in alive]
        text = output.decode(errors="replace")
        assert f"http://127.0.0.1:{web}/" in text
        assert f"127.0.0.1:{plain}" in text
        # the ports are free again
        for port in (web, plain, tls):
            with socket.socket() as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind(("127.0.0.1", port))
    finally:
        if demo.poll() is None:  # a failed check: stop the demo and its services, none left behind
            with contextlib.suppress(psutil.NoSuchProcess):
                leftover = psutil.Process(demo.pid).children(recursive=True)
                demo.kill()
                demo.wait(timeout=10)
                for child in leftover:
                    with contextlib.suppress(psutil.NoSuchProcess):
                        child.kill()
