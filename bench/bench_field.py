"""Time the simulated field of the beucha district as ``twin field`` runs it.

Starts ``twin field --site ... --speed 60`` as a child process and measures, in one run:

* the time from launching the command until the site file exists and until every device
  answers a read with valid values of what it measures (target < 10 s; the community
  battery's setpoint reads "not implemented" until a controller writes one);
* the clock register's rate over ``--seconds`` wall seconds (target 60 +- 1 simulated s per
  wall second), as the slope of clock readings every 0.5 s;
* the field process's CPU, first unpolled, then with every device polled once a second
  (one connection per port, as ``twin live`` polls);
* the time it takes to stop on SIGTERM.

    .venv/bin/python bench/bench_field.py [--district beucha] [--speed 60] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from connectors.maps import load_map
from connectors.polling import DeviceReader, ModbusConnection
from connectors.site import Site, load_site

TICKS_S = os.sysconf("SC_CLK_TCK")


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS_S  # utime + stime


def _measured(map_name: str) -> frozenset[str]:
    """The quantities a device measures: its map's quantities except setpoints (unset until written)."""
    register_map = load_map(map_name)
    return frozenset(q for q in register_map.quantities if not register_map.point_of(q).writable)


async def _all_answer(site: Site, launched: float, deadline_s: float) -> tuple[float, int]:
    connections = {port: ModbusConnection("127.0.0.1", port, timeout_s=2.0) for port in {d.port for d in site.devices}}
    readers = {d.id: DeviceReader(connections[d.port], load_map(d.map), unit_id=d.unit_id) for d in site.devices}
    measured = {d.id: _measured(d.map) for d in site.devices}
    waiting = set(readers)
    while waiting and time.perf_counter() - launched < deadline_s:
        readings = await asyncio.gather(*(readers[i].read() for i in sorted(waiting)), return_exceptions=True)
        for device_id, reading in zip(sorted(waiting), readings, strict=True):
            if isinstance(reading, BaseException) or reading.error is not None:
                continue
            if all(reading.quality[q] == 0 for q in measured[device_id]):
                waiting.discard(device_id)
        if waiting:
            await asyncio.sleep(0.05)
    for connection in connections.values():
        connection.close()
    return time.perf_counter() - launched, len(waiting)


async def _clock_rate(site: Site, seconds: float) -> tuple[float, float]:
    assert site.clock is not None
    reader = DeviceReader(
        ModbusConnection("127.0.0.1", site.clock.port, timeout_s=1.0), load_map("field_clock"), unit_id=1
    )
    walls, sims = [], []
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        before = time.perf_counter()
        reading = await reader.read()
        walls.append((before + time.perf_counter()) / 2)
        sims.append(reading.values["sim_time_s"])
        await asyncio.sleep(0.5)
    reader.connection.close()
    slope = float(np.polyfit(np.array(walls) - walls[0], np.array(sims) - sims[0], 1)[0])
    return slope, (sims[-1] - sims[0]) / (walls[-1] - walls[0])


async def _poll(site: Site, seconds: float) -> tuple[int, int, float]:
    connections = {port: ModbusConnection("127.0.0.1", port, timeout_s=1.0) for port in {d.port for d in site.devices}}
    readers = [DeviceReader(connections[d.port], load_map(d.map), unit_id=d.unit_id) for d in site.devices]
    rounds, bad, slowest = 0, 0, 0.0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        begin = time.perf_counter()
        readings = await asyncio.gather(*(reader.read() for reader in readers))
        slowest = max(slowest, time.perf_counter() - begin)
        bad += sum(not reading.ok for reading in readings)
        rounds += 1
        await asyncio.sleep(max(0.0, 1.0 - (time.perf_counter() - begin)))
    for connection in connections.values():
        connection.close()
    return rounds, bad, slowest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--district", default="beucha")
    parser.add_argument("--speed", type=float, default=60.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    twin = Path(sys.executable).parent / "twin"
    with tempfile.TemporaryDirectory() as folder:
        site_path = Path(folder) / "site.yaml"
        command = [
            str(twin),
            "field",
            "--district",
            args.district,
            "--site",
            str(site_path),
            "--speed",
            str(args.speed),
        ]
        launched = time.perf_counter()
        child = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
        try:
            while not site_path.exists():
                if child.poll() is not None:
                    raise SystemExit(f"twin field exited with {child.returncode}: {child.stderr.read()}")  # type: ignore[union-attr]
                time.sleep(0.02)
            site_s = time.perf_counter() - launched
            site = load_site(site_path)
            answered_s, silent = asyncio.run(_all_answer(site, launched, 60.0))
            ports = len({d.port for d in site.devices})
            print(f"devices: {len(site.devices)} on {ports} ports (+ clock)")
            print(
                f"start: site file after {site_s:.1f} s, all devices answer with valid values after {answered_s:.1f} s "
                f"from launch ({silent} silent; target < 10 s)"
            )
            cpu0, wall0 = _cpu_s(child.pid), time.perf_counter()
            slope, mean = asyncio.run(_clock_rate(site, args.seconds))
            cpu_idle = (_cpu_s(child.pid) - cpu0) / (time.perf_counter() - wall0)
            print(
                f"clock at speed {args.speed:g}: {slope:.2f} simulated s per wall s (fit), {mean:.2f} (end points) "
                f"over {args.seconds:.0f} s; field CPU unpolled {cpu_idle:.0%} of one core"
            )
            cpu0, wall0 = _cpu_s(child.pid), time.perf_counter()
            rounds, bad, slowest = asyncio.run(_poll(site, args.seconds))
            cpu_polled = (_cpu_s(child.pid) - cpu0) / (time.perf_counter() - wall0)
            print(
                f"polled every second: {rounds} rounds of {len(site.devices)} devices, slowest round "
                f"{slowest * 1000:.0f} ms, {bad} readings not ok; field CPU {cpu_polled:.0%} of one core"
            )
        finally:
            stop0 = time.perf_counter()
            child.send_signal(signal.SIGTERM)
            code = child.wait(30)
            print(f"stop: SIGTERM -> exit {code} in {time.perf_counter() - stop0:.1f} s")


if __name__ == "__main__":
    main()
