"""``twin live`` under a file size limit: it polls and serves controllers on, and writes what it kept later.

A small simulated field runs in-process on 127.0.0.1; ``twin live`` runs as a process with its
controller server on ports the OS picks. The test lowers the process's file size limit to 0
(``prlimit``; Python ignores SIGXFSZ, so writes fail with EFBIG), reads the district power from
the controller port while the limit holds, then lifts it. Every wait is bounded.
"""

from __future__ import annotations

import contextlib
import resource
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pymodbus.client import ModbusTcpClient

from connectors.controller_map import load_controller_map
from connectors.device_server import ServerLoopThread
from tests.live.running import RunningField, read_snapshot, start_field
from twin.core.store import read_table

pytestmark = pytest.mark.e2e

READY_WITHIN_S = 60.0  # the power-flow worker prepares its grid first (seconds of CPU)
WAIT_S = 20.0
#: How long the store stays unwritable. [s]
FAILING_S = 3.0


class _Lines:
    """Collect a process's stdout lines in a thread."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        assert process.stdout is not None
        self._thread = threading.Thread(target=self._read, args=(process.stdout,), daemon=True)
        self._thread.start()

    def _read(self, stream: Any) -> None:
        for line in stream:
            self.lines.append(line.rstrip("\n"))


def _wait(
    what: str, ready: Callable[[], Any], running: RunningField, live: subprocess.Popen[str], within_s: float
) -> Any:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        running.step()
        result = ready()
        if result:
            return result
        assert live.poll() is None, f"twin live ended ({live.returncode}) while waiting for {what}"
        time.sleep(0.05)
    pytest.fail(f"no {what} within {within_s} s")


def _grid_kw(client: ModbusTcpClient) -> float | None:
    offset = load_controller_map().district_point("p_grid_kw").offset
    rr = client.read_holding_registers(offset, count=2, device_id=1)
    if rr.isError():
        return None
    value = client.convert_from_registers(rr.registers, ModbusTcpClient.DATATYPE.FLOAT32, word_order="big")
    return float(value) if isinstance(value, float) else None


def test_twin_live_under_a_file_size_limit(server_loop: ServerLoopThread, tmp_path: Path, twin_exe: Path) -> None:
    running = start_field(server_loop)
    site = running.field.write_site(
        tmp_path / "site.yaml", clock_port=running.clock_port, interval_s=0.1, timeout_s=0.3
    )
    store = tmp_path / "store"
    args = [str(twin_exe), "live", "--site", str(site), "--store", str(store), "--status-every", "0.5"]
    args += ["--controller-port", "0", "--controller-tls-port", "0", "--certs", str(tmp_path / "certs")]
    live = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out = _Lines(live)
    client: ModbusTcpClient | None = None
    try:
        snap = _wait(
            "stored minutes and the controller listeners",
            lambda: (
                (s := read_snapshot(store)).get("store", {}).get("1min", 0) >= 3
                and s.get("controller", {}).get("listeners", {}).get("port")
                and s
            ),
            running,
            live,
            READY_WITHIN_S,
        )
        client = ModbusTcpClient("127.0.0.1", port=snap["controller"]["listeners"]["port"], timeout=2, retries=0)
        assert client.connect()
        resource.prlimit(live.pid, resource.RLIMIT_FSIZE, (0, resource.RLIM_INFINITY))
        failed_at = time.monotonic()
        try:
            shown = len(out.lines)
            _wait(
                "a status line naming the failing store",
                lambda: any("STORE FAILING" in line for line in out.lines[shown:]),
                running,
                live,
                WAIT_S,
            )
            # polling and the controller server go on: a new substation power reaches controllers
            running.field.devices["substation/meter"].set_quantities({"p_meter_kw": 88.0})
            _wait("88 kW at the controller port", lambda: _grid_kw(client) == 88.0, running, live, WAIT_S)
            _wait("the end of the failure", lambda: time.monotonic() - failed_at >= FAILING_S, running, live, WAIT_S)
            assert "STORE FAILING" in out.lines[-1], out.lines[-1]
        finally:
            with contextlib.suppress(ProcessLookupError):
                resource.prlimit(live.pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        recovered = _wait(
            "a snapshot with the store writable again and nothing kept",
            lambda: (
                (s := read_snapshot(store)).get("store_status", {}).get("ok") is True
                and s["store_status"]["late_rows"]["1min"] > 0
                and s["store_status"]["pending_rows"] == {"1min": 0, "15min": 0}
                and s
            ),
            running,
            live,
            WAIT_S,
        )
        assert recovered["store_status"]["failed_writes"] >= 1 and not recovered["alerts"]
        assert recovered["devices_ok"] == recovered["devices_total"]
    finally:
        if client is not None:
            client.close()
        live.send_signal(signal.SIGTERM)
        _, err = live.communicate(timeout=60)
    assert live.returncode == 0, err
    failures = [line for line in err.splitlines() if "store write failed" in line]
    assert failures and all("File too large" in line for line in failures), err[-2000:]
    assert any("store writable again" in line for line in err.splitlines()), err[-2000:]
    minutes = read_table(store, "1min")["time"].values.astype("datetime64[s]").astype(np.int64)
    assert minutes.size > 10 and np.all(np.diff(minutes) == 60), minutes  # no minute lost, none twice
    assert not [p for p in store.rglob("*") if p.name.endswith((".tmp", ".partial"))]
    final = read_snapshot(store)  # written at the stop: every row committed
    assert final["store_status"]["ok"] is True and final["store"]["1min"] == minutes.size
