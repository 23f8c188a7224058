"""Time the connectors' device servers and polling primitive on this machine, in one run.

Starts N simulated devices (a mix of SunSpec inverters, meters, batteries and SDM630 meters),
one per port, in one event loop; measures the start time, the requests per second one server
answers (one connection, and several), and full polling rounds over all devices with one
connection each (every device read once per round, concurrently), first with servers and
poller in one process, then with the servers in a child process and one round a second, as
``twin field`` and ``twin live`` will run. Prints wall and CPU times.

    .venv/bin/python bench/bench_device_servers.py [--devices 200] [--seconds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import multiprocessing
import time
from multiprocessing.connection import Connection

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


def _build(devices: int) -> tuple[list[str], list[SimulatedDevice]]:
    kinds = list(itertools.islice(itertools.cycle(KINDS), devices))
    sims = []
    for kind in kinds:
        sim = SimulatedDevice(load_map(kind))
        sim.set_quantities(KINDS[kind])
        sims.append(sim)
    return kinds, sims


async def _poll_rounds(ports: list[int], sims: list[SimulatedDevice], seconds: float, period_s: float) -> str:
    """Poll every device once per round (every ``period_s``, or back to back when 0)."""
    connections = [ModbusConnection("127.0.0.1", port, timeout_s=1.0) for port in ports]
    readers = [DeviceReader(conn, sim.register_map) for conn, sim in zip(connections, sims, strict=True)]
    await asyncio.gather(*(reader.read() for reader in readers))  # connect
    rounds, bad, slowest = 0, 0, 0.0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    while time.perf_counter() - wall0 < seconds:
        started = time.perf_counter()
        readings = await asyncio.gather(*(reader.read() for reader in readers))
        slowest = max(slowest, time.perf_counter() - started)
        bad += sum(not reading.ok for reading in readings)
        rounds += 1
        if period_s:
            await asyncio.sleep(max(0.0, period_s - (time.perf_counter() - started)))
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    for conn in connections:
        conn.close()
    requests = sum(len(reader.requests) for reader in readers)
    return (
        f"{rounds} rounds of {len(ports)} devices ({requests} requests a round) in {wall:.1f} s: slowest round "
        f"{slowest * 1000:.0f} ms, poller CPU {cpu / wall:.0%} of one core, {bad} readings not ok"
    )


async def main(devices: int, seconds: float) -> None:
    cpu0, wall0 = time.process_time(), time.perf_counter()
    kinds, sims = _build(devices)
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
    ports = [server.port for server in servers]
    print("same process, back to back:", await _poll_rounds(ports, sims, seconds, 0.0))
    await asyncio.gather(*(server.stop() for server in servers))


def _serve_in_child(devices: int, pipe: Connection) -> None:
    async def run() -> None:
        _, sims = _build(devices)
        servers = [DeviceServer([sim]) for sim in sims]
        await asyncio.gather(*(server.start() for server in servers))
        pipe.send([server.port for server in servers])
        await asyncio.get_running_loop().run_in_executor(None, pipe.recv)  # wait for "stop"
        await asyncio.gather(*(server.stop() for server in servers))
        pipe.send(time.process_time())

    asyncio.run(run())


def split(devices: int, seconds: float) -> None:
    """Servers in a child process (the field), the poller here (the live twin), one round a second."""
    parent, child = multiprocessing.Pipe()
    process = multiprocessing.get_context("spawn").Process(target=_serve_in_child, args=(devices, child))
    process.start()
    ports = parent.recv()
    _, sims = _build(devices)
    print("servers in a child process, one round a second:", asyncio.run(_poll_rounds(ports, sims, seconds, 1.0)))
    parent.send("stop")
    print(f"server process CPU: {parent.recv():.2f} s in total")
    process.join(10)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    asyncio.run(main(args.devices, args.seconds))
    split(args.devices, max(args.seconds, 5.0))
