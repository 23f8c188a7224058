"""Time a valid reader and writer of the controller server while its listeners are attacked.

Runs the controller server with its default limits and deadlines in a child process (as
``twin live`` does, apart from the twin) and attacks it from a second child process, with the
sizes of issue 23: plain TCP connects to the TLS port that never handshake, TLS clients with another CA's
certificate or none, and slowloris connections to the plain port that trickle one byte of a
request every ``--trickle-every-s``; every attacker reconnects when the server closes it. Every
half second a new plain client reads the map version and a new TLS client with the writer
certificate writes the battery setpoint; prints their times (median, 95th percentile, maximum)
and the listeners' counts at the end.

    .venv/bin/python bench/bench_controller_attack.py [--seconds 60] [--trickle-every-s 1]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import random
import resource
import ssl
import statistics
import tempfile
import time
from collections import Counter
from multiprocessing.connection import Connection
from pathlib import Path

from pymodbus.client import AsyncModbusTcpClient, AsyncModbusTlsClient

from connectors.certs import CertFiles, client_ssl_context, make_test_certs
from connectors.controller_map import load_controller_map
from connectors.controller_server import ControllerServer, writer_ssl_context
from models.control.signal import SignalMachine

SILENT_TLS_CONNECTS = 200
WRONG_CA_CLIENTS = 50
NO_CERT_CLIENTS = 50
TRICKLERS = 200
TRICKLE = bytes.fromhex("0001000000fe01") + b"\x03" * 253
PROBE_EVERY_S = 0.5
PROBE_TIMEOUT_S = 5.0
SETPOINT = load_controller_map().district_point("battery_setpoint_kw").offset


def _raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else 65536, hard))


def _serve_in_child(cert_dir: str, seconds: float, per_address: int, pipe: Connection) -> None:
    _raise_fd_limit()
    certs = _certs(Path(cert_dir))

    async def serve() -> None:
        tls = writer_ssl_context(certs.server_cert, certs.server_key, certs.writer_ca)
        async with ControllerServer(
            lambda: None, signal=SignalMachine(), port=0, tls_port=0, tls=tls, max_connections_per_address=per_address
        ) as server:
            pipe.send((server.port, server.tls_port))
            await asyncio.sleep(seconds + 15.0)  # the attackers leave, then the counts are read
            pipe.send({kind: vars(stats) for kind, stats in server.connection_stats().items()})

    asyncio.run(serve())


def _certs(folder: Path) -> CertFiles:
    names = ("writer-ca", "server", "server", "writer", "writer", "other-ca", "other-writer", "other-writer")
    suffixes = (".pem", ".pem", ".key", ".pem", ".key", ".pem", ".pem", ".key")
    return CertFiles(*(folder / (name + suffix) for name, suffix in zip(names, suffixes, strict=True)))


async def _attacker(
    port: int,
    stop: asyncio.Event,
    events: Counter[str],
    name: str,
    every_s: float,
    payload: bytes = b"",
    **tls: ssl.SSLContext,
) -> None:
    jitter = random.Random(hash(name))
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=tls.get("context"))
        except (OSError, ssl.SSLError):
            events[f"{name} refused"] += 1
            await asyncio.sleep(jitter.uniform(0.25, 0.75))
            continue
        events[f"{name} connected"] += 1
        index = 0
        try:
            while not stop.is_set():
                if index < len(payload):
                    writer.write(payload[index : index + 1])
                    index += 1
                try:
                    if await asyncio.wait_for(reader.read(100), every_s) == b"":
                        break
                except TimeoutError:
                    continue
        except (OSError, ssl.SSLError):
            pass
        finally:
            writer.transport.abort()
        await asyncio.sleep(jitter.uniform(0.25, 0.75))


async def _probe_read(port: int) -> float:
    started = time.perf_counter()
    client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=PROBE_TIMEOUT_S, retries=0)
    try:
        if not await client.connect():
            return float("inf")
        rr = await client.read_holding_registers(0, count=1, device_id=1)
        return time.perf_counter() - started if not rr.isError() else float("inf")
    except Exception:  # noqa: BLE001 - a failed probe is a result
        return float("inf")
    finally:
        client.close()


async def _probe_write(port: int, context: ssl.SSLContext) -> float:
    started = time.perf_counter()
    client = AsyncModbusTlsClient("127.0.0.1", port=port, sslctx=context, timeout=PROBE_TIMEOUT_S, retries=0)
    try:
        if not await client.connect():
            return float("inf")
        registers = client.convert_to_registers(1.0, client.DATATYPE.FLOAT32, word_order="big")
        rr = await client.write_registers(SETPOINT, registers, device_id=1)
        return time.perf_counter() - started if not rr.isError() else float("inf")
    except Exception:  # noqa: BLE001 - a failed probe is a result
        return float("inf")
    finally:
        client.close()


def _summary(name: str, times_s: list[float]) -> str:
    ok = sorted(t for t in times_s if t != float("inf"))
    if not ok:
        return f"{name}: {len(times_s)} probes, all failed"
    p95 = ok[min(len(ok) - 1, int(0.95 * len(ok)))]
    return (
        f"{name}: {len(times_s)} probes, {len(times_s) - len(ok)} failed; median {statistics.median(ok) * 1000:.0f} ms,"
        f" 95% {p95 * 1000:.0f} ms, max {ok[-1] * 1000:.0f} ms"
    )


def _attack_in_child(
    cert_dir: str, port: int, tls_port: int, seconds: float, trickle_every_s: float, pipe: Connection
) -> None:
    _raise_fd_limit()
    certs = _certs(Path(cert_dir))

    async def attack() -> None:
        stop, events = asyncio.Event(), Counter[str]()
        other = client_ssl_context(certs.writer_ca, certs.other_cert, certs.other_key)
        no_cert = client_ssl_context(certs.writer_ca, None, None)
        kinds = [
            (SILENT_TLS_CONNECTS, tls_port, "silent", 1.0, b"", {}),
            (WRONG_CA_CLIENTS, tls_port, "other-ca", 1.0, b"", {"context": other}),
            (NO_CERT_CLIENTS, tls_port, "no-cert", 1.0, b"", {"context": no_cert}),
            (TRICKLERS, port, "trickle", trickle_every_s, TRICKLE, {}),
        ]
        tasks = [
            asyncio.create_task(_attacker(to_port, stop, events, name, every_s, payload, **tls))
            for count, to_port, name, every_s, payload, tls in kinds
            for _ in range(count)
        ]
        await asyncio.sleep(seconds)
        stop.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        pipe.send(dict(sorted(events.items())))

    asyncio.run(attack())


async def main(seconds: float, trickle_every_s: float, per_address: int) -> None:
    _raise_fd_limit()
    spawn = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as folder:
        certs = make_test_certs(folder)
        server_pipe, child = spawn.Pipe()
        server = spawn.Process(target=_serve_in_child, args=(folder, seconds, per_address, child))
        server.start()
        port, tls_port = server_pipe.recv()
        attack_pipe, child = spawn.Pipe()
        attacker = spawn.Process(
            target=_attack_in_child, args=(folder, port, tls_port, seconds + 2.0, trickle_every_s, child)
        )
        attacker.start()
        writer = client_ssl_context(certs.writer_ca, certs.writer_cert, certs.writer_key)
        await asyncio.sleep(2.0)  # the attack is in place
        reads: list[float] = []
        writes: list[float] = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            reads.append(await _probe_read(port))
            writes.append(await _probe_write(tls_port, writer))
            await asyncio.sleep(PROBE_EVERY_S)
        print(
            f"attack for {seconds:.0f} s, tricklers send a byte every {trickle_every_s:g} s,"
            f" {per_address} connections per address"
        )
        print("attackers:", attack_pipe.recv())
        print(_summary("plain reader", reads))
        print(_summary("TLS writer", writes))
        with contextlib.suppress(EOFError):
            print("server counts after the attack:", server_pipe.recv())
        for process in (attacker, server):
            process.join(timeout=30.0)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--trickle-every-s", type=float, default=1.0)
    parser.add_argument("--per-address", type=int, default=100, help="max_connections_per_address")
    args = parser.parse_args()
    asyncio.run(main(args.seconds, args.trickle_every_s, args.per_address))
