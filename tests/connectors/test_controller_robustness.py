"""The controller server under abuse and load: malformed frames, many clients, and mbpoll."""

from __future__ import annotations

import asyncio
import logging
import shutil
import struct
import time
from collections import Counter
from collections.abc import AsyncIterator

import numpy as np
import pytest
import pytest_asyncio
from pymodbus.client import AsyncModbusTcpClient

from connectors.controller_map import load_controller_map
from connectors.controller_server import ControllerServer
from models.control.signal import SignalMachine
from tests.connectors.controller_fakes import FakeTwin, fake_snapshot

pytestmark = pytest.mark.asyncio

logger = logging.getLogger(__name__)

CMAP = load_controller_map()
P_PV = CMAP.district_point("p_pv_kw").offset
FUZZ_FRAMES = 3000
FUZZ_BUDGET_S = 15.0
FUZZ_WORKERS = 40
#: How long to wait for an answer: short for frames that leave the server waiting for more bytes,
#: long for complete frames (those are always answered or closed). [s]
SHORT_WAIT_S = 0.03
ANSWER_WAIT_S = 1.0


@pytest_asyncio.fixture
async def server() -> AsyncIterator[ControllerServer]:
    twin = FakeTwin()
    async with ControllerServer(
        twin.provide, twin.sink, signal=SignalMachine(), port=0, refresh_s=0.2, max_connections=100
    ) as srv:
        yield srv


def _mbap(transaction: int, unit: int, pdu: bytes, *, protocol: int = 0, length: int | None = None) -> bytes:
    return struct.pack(">HHHB", transaction, protocol, len(pdu) + 1 if length is None else length, unit) + pdu


def _fuzz_frames(count: int, seed: int = 9) -> list[tuple[str, bytes]]:
    """Malformed frames of several kinds; the kind says what the server must do."""
    rng = np.random.default_rng(seed)
    frames: list[tuple[str, bytes]] = []
    for index in range(count):
        kind = ("garbage", "random_pdu", "count", "header", "unit", "truncated", "write")[index % 7]
        tid = int(rng.integers(0, 65536))
        if kind == "garbage":
            frame = rng.integers(0, 256, size=int(rng.integers(1, 300)), dtype=np.uint8).tobytes()
        elif kind == "random_pdu":  # a complete frame with any function code and body
            body = rng.integers(0, 256, size=int(rng.integers(0, 20)), dtype=np.uint8).tobytes()
            frame = _mbap(tid, 1, bytes([int(rng.integers(0, 256))]) + body)
        elif kind == "count":  # reads and writes with counts outside the limits
            count = int(rng.choice([0, 126, 200, 2000, 65535]))
            frame = _mbap(tid, 1, struct.pack(">BHH", 3, int(rng.integers(0, 65536)), count))
        elif kind == "header":  # protocol id not 0 or a length outside 2..254
            if rng.random() < 0.5:
                frame = _mbap(tid, 1, struct.pack(">BHH", 3, 0, 1), protocol=int(rng.integers(1, 65536)))
            else:
                frame = _mbap(tid, 1, struct.pack(">BHH", 3, 0, 1), length=int(rng.choice([0, 1, 255, 1000, 65535])))
        elif kind == "unit":
            unit = int(rng.choice([0, 2, 7, 100, 254]))
            frame = _mbap(tid, unit, struct.pack(">BHH", 3, 0, 2))
        elif kind == "truncated":
            full = _mbap(tid, 1, struct.pack(">BHH", 3, 0, 4))
            frame = full[: int(rng.integers(1, len(full)))]
        else:  # writes on the read-only listener, some with wrong byte counts
            n = int(rng.integers(1, 5))
            frame = _mbap(tid, 1, struct.pack(">BHHB", 16, 100, n, int(rng.integers(0, 12))) + b"\0" * (2 * n))
        frames.append((kind, frame))
    return frames


async def _send(port: int, frame: bytes, *, wait_s: float = ANSWER_WAIT_S) -> str:
    """Send one frame on a new connection; return what came back: response, exception, closed, none."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(frame)
        await writer.drain()
        try:
            data = await asyncio.wait_for(reader.read(600), wait_s)
        except TimeoutError:
            return "none"
        except ConnectionResetError:
            return "closed"
        if not data:
            return "closed"
        if len(data) >= 9 and data[7] & 0x80:
            return f"exception{data[8]}"
        return "response"
    finally:
        writer.close()
        await asyncio.gather(writer.wait_closed(), return_exceptions=True)


async def _correct_read(port: int) -> float:
    client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=2, retries=0)
    assert await client.connect()
    try:
        rr = await client.read_holding_registers(P_PV, count=2, device_id=1)
        assert not rr.isError(), rr
        value = client.convert_from_registers(rr.registers, client.DATATYPE.FLOAT32)
        assert isinstance(value, float)
        return value
    finally:
        client.close()


async def test_fuzz_malformed_frames_then_still_correct(server: ControllerServer) -> None:
    assert server.port is not None
    port = server.port
    frames = _fuzz_frames(FUZZ_FRAMES)
    outcomes: Counter[tuple[str, str]] = Counter()
    queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
    for item in frames:
        queue.put_nowait(item)
    deadline = time.monotonic() + FUZZ_BUDGET_S
    started = time.monotonic()

    async def worker() -> None:
        while not queue.empty() and time.monotonic() < deadline:
            kind, frame = queue.get_nowait()
            wait_s = SHORT_WAIT_S if kind in {"garbage", "truncated"} else ANSWER_WAIT_S
            outcomes[kind, await _send(port, frame, wait_s=wait_s)] += 1

    await asyncio.gather(*(worker() for _ in range(FUZZ_WORKERS)))
    elapsed = time.monotonic() - started
    sent = sum(outcomes.values())
    logger.info("fuzz: %d frames in %.1f s: %s", sent, elapsed, dict(outcomes))
    assert sent == FUZZ_FRAMES, f"only {sent} frames within {FUZZ_BUDGET_S} s"
    by_kind: dict[str, set[str]] = {}
    for (kind, outcome), _n in outcomes.items():
        by_kind.setdefault(kind, set()).add(outcome)
    # complete frames with a sound header are answered, never ignored
    assert by_kind["count"] == {"exception3"}
    assert by_kind["unit"] == {"exception11"}
    assert by_kind["header"] == {"closed"}
    assert by_kind["write"] == {"exception1"}
    assert "none" not in by_kind["random_pdu"]
    # and the server still answers correctly, on a fresh connection
    assert await _correct_read(port) == fake_snapshot().p_pv_kw


async def test_fifty_clients_polling_once_a_second(server: ControllerServer) -> None:
    assert server.port is not None
    port = server.port
    rounds, n_clients = 3, 50
    clients = [AsyncModbusTcpClient("127.0.0.1", port=port, timeout=2, retries=0) for _ in range(n_clients)]
    assert all(await asyncio.gather(*(client.connect() for client in clients)))
    latencies: list[float] = []
    heartbeats: set[int] = set()

    async def poll(client: AsyncModbusTcpClient) -> None:
        for _ in range(rounds):
            start = time.monotonic()
            rr = await client.read_holding_registers(0, count=60, device_id=1)
            latencies.append(time.monotonic() - start)
            assert not rr.isError(), rr
            assert rr.registers[0] == CMAP.version
            heartbeats.add(rr.registers[CMAP.district_point("heartbeat").offset])
            value = client.convert_from_registers(rr.registers[P_PV : P_PV + 2], client.DATATYPE.FLOAT32)
            assert value == fake_snapshot().p_pv_kw
            await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - start)))

    try:
        await asyncio.gather(*(poll(client) for client in clients))
    finally:
        for client in clients:
            client.close()
    logger.info("50 clients: %d reads, max latency %.3f s", len(latencies), max(latencies))
    assert len(latencies) == rounds * n_clients
    assert max(latencies) < 1.0
    assert len(heartbeats) > 1  # the image kept refreshing under load


async def test_connections_beyond_the_limit_are_closed_others_served() -> None:
    twin = FakeTwin()
    async with ControllerServer(twin.provide, signal=SignalMachine(), port=0, max_connections=5, refresh_s=3600) as srv:
        assert srv.port is not None
        streams = [await asyncio.open_connection("127.0.0.1", srv.port) for _ in range(5)]
        try:
            assert await _send(srv.port, _mbap(1, 1, struct.pack(">BHH", 3, 0, 1))) == "closed"
            reader, writer = streams[0]
            writer.write(_mbap(2, 1, struct.pack(">BHH", 3, 0, 1)))
            data = await asyncio.wait_for(reader.read(100), 2.0)
            assert data[7] == 3 and data[9:11] == CMAP.version.to_bytes(2, "big")
        finally:
            for _, writer in streams:
                writer.close()
                await asyncio.gather(writer.wait_closed(), return_exceptions=True)


async def test_idle_connections_are_closed() -> None:
    twin = FakeTwin()
    async with ControllerServer(
        twin.provide, signal=SignalMachine(), port=0, idle_timeout_s=0.2, refresh_s=3600
    ) as srv:
        assert srv.port is not None
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
        writer.write(b"\x00\x01\x00")  # half a header, then silence
        try:
            assert await asyncio.wait_for(reader.read(100), 2.0) == b""
        finally:
            writer.close()
            await asyncio.gather(writer.wait_closed(), return_exceptions=True)


@pytest.mark.skipif(shutil.which("mbpoll") is None, reason="Debian's mbpoll is not installed (./run test installs it)")
async def test_mbpoll_reads_a_float(server: ControllerServer) -> None:
    command = ["mbpoll", "-m", "tcp", "-p", str(server.port), "-a", "1", "-t", "4:float", "-B", "-0"]
    command += ["-r", str(P_PV), "-c", "1", "-1", "-o", "2", "127.0.0.1"]
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    stdout, _ = await asyncio.wait_for(process.communicate(), 20.0)
    output = stdout.decode()
    assert process.returncode == 0, output
    line = next(line for line in output.splitlines() if line.startswith(f"[{P_PV}]:"))
    assert float(line.split(":", 1)[1]) == pytest.approx(fake_snapshot().p_pv_kw)
