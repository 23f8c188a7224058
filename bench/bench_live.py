"""Time the live twin against 200 simulated devices polled every second (DESIGN.md section 8).

A child process serves the devices (one port each, ``DeviceServer``): 40 buildings with a
meter, PV inverter, battery and heat-pump and EV sub-meters, less one, plus the substation
meter. One SDM630 carries the wall clock in its power register (seconds modulo 1000, float32),
so the time until a register change shows in the snapshot can be measured. ``twin live`` runs
as its own process on the site file; this script reads the snapshot twice a second and reports:

* the age of each device's latest values in the snapshot (snapshot written - last good read),
  max over devices and time (target <= 2 s), and as a reader sees it (now - last good read);
* the latency of a register change (the clock register) until it is in the snapshot;
* the CPU of the live process (user + system, % of one core) and of the device servers.

    .venv/bin/python bench/bench_live.py [--devices 200] [--seconds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np
import psutil

from connectors.device_server import DeviceServer
from connectors.maps import load_map
from connectors.simdevice import SimulatedDevice
from connectors.site import Site, dump_site

KINDS = [  # (suffix, kind, map, values)
    (
        "meter",
        "building_meter",
        "sunspec_meter",
        {
            "p_meter_kw": 1.2,
            "energy_import_kwh": 5000.0,
            "energy_export_kwh": 800.0,
            "v_l1_v": 230.0,
            "frequency_hz": 50.0,
        },
    ),
    (
        "pv",
        "pv_inverter",
        "sunspec_inverter",
        {"p_kw": -3.2, "energy_export_kwh": 1000.0, "v_l1_v": 230.0, "frequency_hz": 50.0},
    ),
    ("battery", "battery", "sunspec_battery", {"p_kw": 0.5, "soc_frac": 0.5, "energy_export_kwh": 10.0}),
    (
        "hp",
        "heat_pump_meter",
        "sdm630",
        {"p_kw": 2.0, "energy_import_kwh": 300.0, "energy_export_kwh": 0.0, "v_l1_v": 230.0, "frequency_hz": 50.0},
    ),
    (
        "ev",
        "ev_charger_meter",
        "sdm630",
        {"p_kw": 1.9, "energy_import_kwh": 200.0, "energy_export_kwh": 0.0, "v_l1_v": 230.0, "frequency_hz": 50.0},
    ),
]
PROBE = "b001/hp"


def _entries(devices: int) -> list[tuple[str, str, str | None, str, dict[str, float]]]:
    entries: list[tuple[str, str, str | None, str, dict[str, float]]] = [
        (
            "substation/meter",
            "substation_meter",
            None,
            "sunspec_meter_substation",
            {
                "p_meter_kw": 50.0,
                "energy_import_kwh": 90_000.0,
                "energy_export_kwh": 9_000.0,
                "v_l1_v": 230.0,
                "frequency_hz": 50.0,
            },
        )
    ]
    building = 0
    while len(entries) < devices:
        building += 1
        for suffix, kind, map_name, values in KINDS:
            if len(entries) < devices:
                entries.append((f"b{building:03d}/{suffix}", kind, f"b{building:03d}", map_name, values))
    return entries


def _serve(devices: int, pipe: Connection) -> None:
    async def run() -> None:
        servers, probe = [], None
        for device_id, _kind, _building, map_name, values in _entries(devices):
            device = SimulatedDevice(load_map(map_name), name=device_id)
            device.set_quantities(values)
            probe = device if device_id == PROBE else probe
            servers.append(DeviceServer([device], name=device_id))
        ports = [await server.start() for server in servers]
        pipe.send(ports)
        assert probe is not None
        while not pipe.poll():
            probe.set_quantities({"p_kw": time.time() % 1000.0})
            await asyncio.sleep(0.05)
        await asyncio.gather(*(server.stop() for server in servers))

    asyncio.run(run())


def _read_snapshot(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _wall(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def main(devices: int, seconds: float) -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-live-"))
    parent, child = multiprocessing.Pipe()
    server_process = multiprocessing.Process(target=_serve, args=(devices, child), daemon=True)
    server_process.start()
    ports = parent.recv()
    site = Site(
        name="bench",
        defaults={"interval_s": 1.0, "timeout_s": 0.5, "retries": 0},
        devices=[
            {"id": device_id, "kind": kind, "building": building, "port": port, "map": map_name}
            for (device_id, kind, building, map_name, _), port in zip(_entries(devices), ports, strict=True)
        ],
    )
    site_file = dump_site(site, work / "site.yaml")
    store = work / "store"
    twin = Path(sys.executable).parent / "twin"
    started = time.perf_counter()
    live = subprocess.Popen(
        [str(twin), "live", "--site", str(site_file), "--store", str(store), "--status-every", "10"],
        stdout=subprocess.PIPE,
        text=True,
    )
    snapshot_file = store / "snapshot.json"
    while True:
        snap = _read_snapshot(snapshot_file)
        if snap and snap["devices_ok"] == devices:
            break
        if time.perf_counter() - started > 60:
            raise SystemExit(f"not every device in the snapshot within 60 s: {snap and snap['failing'][:5]}")
        time.sleep(0.1)
    print(
        f"{devices} devices, one port each, polled every 1 s; every device ok in the snapshot after "
        f"{time.perf_counter() - started:.1f} s (process start included)"
    )
    live_ps, server_ps = psutil.Process(live.pid), psutil.Process(server_process.pid)
    cpu0, srv0, t0 = sum(live_ps.cpu_times()[:2]), sum(server_ps.cpu_times()[:2]), time.perf_counter()
    ages, reader_ages, latencies, failing = [], [], [], 0
    while time.perf_counter() - t0 < seconds:
        snap = _read_snapshot(snapshot_file)
        now = time.time()
        if snap:
            written = _wall(snap["written_utc"])
            reads = [_wall(d["read_wall_utc"]) for d in snap["devices"].values() if d["read_wall_utc"]]
            ages.append(written - min(reads))
            reader_ages.append(now - min(reads))
            failing = max(failing, len(snap["failing"]))
            probe = snap["devices"][PROBE]["values"]["p_kw"]
            latencies.append((now % 1000.0 - probe) % 1000.0)
        time.sleep(0.5)
    elapsed = time.perf_counter() - t0
    cpu = (sum(live_ps.cpu_times()[:2]) - cpu0) / elapsed
    srv = (sum(server_ps.cpu_times()[:2]) - srv0) / elapsed
    rows = _read_snapshot(snapshot_file)["store"]  # type: ignore[index]
    live.send_signal(signal.SIGINT)
    stopping = time.perf_counter()
    try:
        out, _ = live.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        live.kill()
        out = "(did not stop within 30 s after SIGINT: killed)\n"
    stop_s = time.perf_counter() - stopping
    parent.send("stop")
    server_process.join(10)
    print(f"over {elapsed:.0f} s ({len(ages)} snapshots read):")
    print(
        f"  oldest device value in the snapshot when written: max {max(ages):.2f} s, "
        f"p50 {np.median(ages):.2f} s (target <= 2 s)"
    )
    print(f"  oldest device value as a reader sees it:          max {max(reader_ages):.2f} s")
    print(
        f"  register change -> snapshot:                      max {max(latencies):.2f} s, "
        f"p50 {np.median(latencies):.2f} s"
    )
    print(f"  devices failing at any time: {failing}; store rows {rows}")
    print(f"  CPU: live process {cpu:.0%} of one core, device servers {srv:.0%} (2-core machine)")
    print(f"  SIGINT -> exit {stop_s:.1f} s; live's last line: {out.strip().splitlines()[-1]}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devices", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    main(args.devices, args.seconds)
