"""Time the connectors' device servers and polling primitive on this machine, in one run.

Starts N simulated devices (a mix of SunSpec inverters, meters, batteries and SDM630 meters),
one per port, in one event loop; measures the start time, the requests per second one server
answers (one connection, and several), and full polling rounds over all devices with one
connection each (every device read once per round, concurrently). Prints wall and CPU times.

    .venv/bin/python bench/bench_device_servers.py [--devices 200] [--seconds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import time

from connectors.device_server import DeviceServer
from connectors.maps import load_map
from connectors.polling import DeviceReader, ModbusConnection
from connectors.simdevice import SimulatedDevice

KINDS = {
    "sunspec_inverter": {"p_kw": -3.2, "energy_export_kwh": 1000.0, "v_l1_v": 230.0, "frequency_hz": 50.0},
    "sunspec_meter": {
        "p_meter_kw": 1.2,
        "energy_import_kwh": 5000.0,
        "energy_export_kwh": 800.0,
        "v_l1_v": 230.0,
        "frequency_hz": 50.0,
    },
    "sunspec_battery_701": {
        "p_kw": 1.0,
        "soc_frac": 0.5,
        "energy_import_kwh": 10.0,
        "energy_export_kwh": 9.0,
        "capacity_kwh": 10.0,
    },
    "sdm630": {"p_kw": 2.0, "energy_import_kwh": 300.0, "energy_export_kwh": 1.0, "v_l1_v": 231.0},
}


async def _requests_per_second(port: int, seconds: float, connections: int) -> float:
    clients = [ModbusConnection("127.0.0.1", port, timeout_s=1.0) for _ in range(connections)]
    count = 0
    deadline = time.perf_counter() + seconds

    async def loop(client: ModbusConnection) -> None:
        nonlocal count
        while time.perf_counter() < deadline:
            await client.read("input", 0x34, 24, unit_id=1)
            count += 1

    started = time.perf_counter()
    await asyncio.gather(*(loop(client) for client in clients))
    elapsed = time.perf_counter() - started
    for client in clients:
        client.close()
    return count / elapsed


async def main(devices: int, seconds: float) -> None:
    kinds = list(itertools.islice(itertools.cycle(KINDS), devices))
    cpu0, wall0 = time.process_time(), time.perf_counter()
    sims = []
    for kind in kinds:
        sim = SimulatedDevice(load_map(kind))
        sim.set_quantities(KINDS[kind])
        sims.append(sim)
    servers = [DeviceServer([sim]) for sim in sims]
    await asyncio.gather(*(server.start() for server in servers))
    print(
        f"{devices} devices built and listening: {time.perf_counter() - wall0:.2f} s wall, "
        f"{time.process_time() - cpu0:.2f} s CPU"
    )

    sdm_port = next(server.port for server, kind in zip(servers, kinds, strict=True) if kind == "sdm630")
    for connections in (1, 4):
        rate = await _requests_per_second(sdm_port, seconds, connections)
        print(f"one SDM630 server, {connections} connection(s), client in the same process: {rate:,.0f} requests/s")

    connections = [ModbusConnection("127.0.0.1", server.port, timeout_s=1.0) for server in servers]
    readers = [DeviceReader(conn, sim.register_map) for conn, sim in zip(connections, sims, strict=True)]
    await asyncio.gather(*(reader.read() for reader in readers))  # connect
    rounds, bad = 0, 0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    while time.perf_counter() - wall0 < seconds:
        readings = await asyncio.gather(*(reader.read() for reader in readers))
        bad += sum(not reading.ok for reading in readings)
        rounds += 1
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    requests = sum(len(reader.requests) for reader in readers)
    print(
        f"polling all {devices} devices ({requests} requests a round), servers and clients in one process: "
        f"{rounds / wall:.1f} rounds/s, {wall / rounds * 1000:.0f} ms a round, CPU {cpu / wall:.0%} of one core, "
        f"{bad} readings not ok"
    )
    for conn in connections:
        conn.close()
    await asyncio.gather(*(server.stop() for server in servers))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    asyncio.run(main(args.devices, args.seconds))
