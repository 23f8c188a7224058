"""Time from a value changed in the field to the same value on MQTT (target: median under 2 s).

A small field (three buildings, every device on its own Modbus port, polled at the site default
of once a second), a real mosquitto broker on a free port (Debian's, as the tests start it) and
``twin live --outlets`` publishing to it. Each round sets building b01's meter to a new power and
waits for ``beucha-twin/test_field/b01/state`` to carry it; the wall time from the change to the
message is the latency. The first state on MQTT is awaited before the first round.

    .venv/bin/python bench/bench_mqtt_latency.py [--rounds 20] [--interval-s 1.0]
"""

from __future__ import annotations

import argparse
import functools
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import paho.mqtt.client as mqtt

from connectors.device_server import ServerLoopThread
from tests.connectors.small_field import small_field

HOST = "127.0.0.1"
TOPIC = "beucha-twin/test_field/b01/state"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--interval-s", type=float, default=1.0, help="Poll interval of the site. [s]")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, ServerLoopThread() as loop:
        root = Path(folder)
        port = _free_port()
        broker = _start_broker(root, port)
        field = small_field(3)
        for server in field.servers.values():
            loop.serve(server)
        site = field.write_site(root / "site.yaml", interval_s=args.interval_s, timeout_s=0.5)
        outlets = root / "outlets.yaml"
        outlets.write_text(f"mqtt: {{url: 'mqtt://{HOST}:{port}'}}\n", encoding="utf-8")
        messages: dict[str, bytes | bytearray] = {}
        inbox = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-inbox")
        inbox.on_message = lambda c, u, m: messages.__setitem__(m.topic, m.payload)
        inbox.connect(HOST, port)
        inbox.subscribe(TOPIC, qos=1)
        inbox.loop_start()
        twin = Path(sys.executable).parent / "twin"
        command = [
            str(twin), "live", "--site", str(site), "--store", str(root / "store"), "--no-controllers",
            "--status-every", "600", "--outlets", str(outlets),
        ]  # fmt: skip
        live = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            _wait(lambda: TOPIC in messages, 60.0, live, "the first state on MQTT")
            latencies_s = []
            meter = field.devices["b01/meter"]
            for index in range(args.rounds):
                value = round(5.0 + 0.25 * index, 2)
                meter.set_quantities({"p_meter_kw": value})
                changed = time.monotonic()
                _wait(functools.partial(_carries, messages, value), 30.0, live, f"p_grid_kw {value} on MQTT")
                latencies_s.append(time.monotonic() - changed)
                time.sleep(0.37 * args.interval_s)  # changes fall at different phases of the poll cycle
        finally:
            live.terminate()
            live.communicate(timeout=30)
            inbox.loop_stop()
            inbox.disconnect()
            broker.terminate()
            broker.wait(timeout=10)
    seconds = np.array(latencies_s)
    print(
        f"field -> MQTT (poll every {args.interval_s:g} s, {args.rounds} changes): "
        f"median {np.median(seconds):.2f} s, p95 {np.percentile(seconds, 95):.2f} s, max {seconds.max():.2f} s"
    )


def _carries(messages: dict[str, bytes | bytearray], value: float) -> bool:
    return bool(json.loads(messages[TOPIC]).get("p_grid_kw") == value)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _start_broker(root: Path, port: int) -> subprocess.Popen[bytes]:
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    conf = root / "mosquitto.conf"
    conf.write_text(f"listener {port} {HOST}\nallow_anonymous true\npersistence false\n", encoding="utf-8")
    broker = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection((HOST, port), timeout=0.2).close()
            return broker
        except OSError:
            time.sleep(0.05)
    broker.terminate()
    raise SystemExit(f"mosquitto did not listen on port {port} within 10 s")


def _wait(check: Callable[[], bool], timeout_s: float, live: subprocess.Popen[str], what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (KeyError, ValueError):
            pass
        if live.poll() is not None:
            raise SystemExit(f"twin live stopped: {live.communicate()[1][-2000:]}")
        time.sleep(0.01)
    raise SystemExit(f"not seen within {timeout_s} s: {what}")


if __name__ == "__main__":
    main()
