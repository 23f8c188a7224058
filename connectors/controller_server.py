"""The twin's Modbus server for building controllers: plain read-only, TLS for writers.

:class:`ControllerServer` serves the controller register map (:mod:`connectors.controller_map`)
on two listeners that share one register image:

- **plain Modbus TCP** (default 127.0.0.1:1502): read-only; function code 3 only, writes
  (6, 16) and every other function code get exception 1 (illegal function);
- **Modbus/TCP Security** (default 127.0.0.1:1802): TLS with a client certificate required and
  trusted only when a CA given to :func:`writer_ssl_context` (the quarter's writer CA) signed it;
  function codes 3, 6 and 16. A write must cover whole points; a value outside the point's
  ``write_range`` (or the battery limits) gets exception 3 and nothing changes; accepted writes
  go to the write sink, are logged with the certificate's subject, and read back.

Every ``refresh_s`` (1 s) the server asks the snapshot provider for the latest
:class:`~connectors.controller_snapshot.ControllerSnapshot`, advances the signal it was given
(a :class:`SignalSource`: the state machine of :mod:`models.control.signal`), and re-encodes
the image; the heartbeat register counts
refreshes. No update for 10 s of wall-clock time makes the quality flag *stale* and the signal
*normal*. The block values are computed in :mod:`connectors.controller_values`.

Robustness: a frame whose MBAP header is broken (protocol id not 0, length outside 2..254)
closes its connection; an unknown unit id gets exception 11; counts outside 1..125 (read) or
1..123 (write) get exception 3. Pymodbus answers one request per connection at a time: clients
must not pipeline requests.

Connections (:mod:`connectors.controller_listener`, :mod:`connectors.connection_slots`): each
listener counts established connections (on the TLS listener only after the handshake, which
has its own deadline and pool), up to ``max_connections`` and ``max_connections_per_address``.
A full listener closes the connection least in use (a stalled request, a long silence; a
handshake whose client has not sent a byte, then the one with the oldest progress) to admit a
new one, and refuses the newcomer only when every connection is in use. A request must be
complete ``request_timeout_s`` after its first byte; the idle timer (``idle_timeout_s``)
restarts only on complete requests, so trickled bytes cannot keep a connection open.
"""

from __future__ import annotations

import asyncio
import logging
import math
import ssl
import time
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Final, Protocol, Self

from pymodbus.constants import ExcCodes
from pymodbus.simulator import DataType, SimData, SimDevice

from connectors.codec import decode_point
from connectors.connection_slots import ConnectionLimits, ListenerSlots, ListenerStats
from connectors.controller_listener import CLIENT_SUBJECT, Guard, GuardedTcpServer, GuardedTlsServer
from connectors.controller_map import ControllerMap, ControllerPoint, load_controller_map
from connectors.controller_snapshot import (
    ControllerSnapshot,
    ControllerWrite,
    Quality,
    SnapshotProvider,
    WriteSink,
)
from connectors.controller_values import building_values, district_values, encode_value, grid_stress
from connectors.device_server import DEFAULT_HOST, listen
from twin.core.errors import ConfigError, ConnectorError
from twin.core.signal import GridStress, SignalStep

__all__ = [
    "DEFAULT_PORT",
    "DEFAULT_TLS_PORT",
    "ControllerServer",
    "SignalSource",
    "writer_ssl_context",
]

logger = logging.getLogger(__name__)

#: Plain Modbus TCP, read-only (DESIGN.md section 7).
DEFAULT_PORT: Final[int] = 1502
#: Modbus/TCP Security for writers (802 needs root).
DEFAULT_TLS_PORT: Final[int] = 1802

_READ_CODES: Final[frozenset[int]] = frozenset({3})
_WRITE_CODES: Final[frozenset[int]] = frozenset({6, 16})
_MAX_WRITES_KEPT: Final[int] = 1000


class SignalSource(Protocol):
    """The controller signal the server advances at every refresh (e.g. ``models.control.signal.SignalMachine``)."""

    @property
    def stale_after_s(self) -> float:
        """Return the wall-clock time [s] without a snapshot update after which the data is stale."""
        ...

    def update(self, sim_time_s: float, *, p_surplus_kw: float, stress: GridStress, stale: bool = False) -> SignalStep:
        """Advance to ``sim_time_s`` with the latest inputs and return the signal."""
        ...


def writer_ssl_context(cert_file: str | Path, key_file: str | Path, writer_ca_file: str | Path) -> ssl.SSLContext:
    """Return the TLS server context of the writer listener.

    Parameters
    ----------
    cert_file, key_file : str or Path
        The server's certificate (chain) and private key, PEM.
    writer_ca_file : str or Path
        The CA certificate(s) whose client certificates may write, PEM; no other CA is trusted.

    Returns
    -------
    ssl.SSLContext
        TLS 1.2 or newer, ``verify_mode = CERT_REQUIRED``.

    Raises
    ------
    ConfigError
        A file is missing or not a valid certificate or key.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.verify_mode = ssl.CERT_REQUIRED
    try:
        context.load_cert_chain(certfile=str(cert_file), keyfile=str(key_file))
        context.load_verify_locations(cafile=str(writer_ca_file))
    except (OSError, ssl.SSLError) as err:
        raise ConfigError(f"TLS certificate, key or CA unusable: {err}", file=str(cert_file)) from err
    return context


class ControllerServer:
    """Serve the controller register map to building controllers.

    Parameters
    ----------
    provider : SnapshotProvider
        Returns the latest snapshot (or ``None``); called every ``refresh_s``.
    signal : SignalSource
        The controller signal (thresholds, dwell time, staleness limit), advanced at every refresh.
    sink : WriteSink, optional
        Takes accepted writes (default: only logged and kept in :attr:`writes`).
    host : str, optional
        Interface of both listeners (default 127.0.0.1).
    port : int, optional
        Plain Modbus TCP port (read-only); 0 lets the OS pick; ``None`` disables it.
    tls_port : int, optional
        Modbus/TCP Security port; 0 lets the OS pick; served only with ``tls``.
    tls : ssl.SSLContext, optional
        Server context from :func:`writer_ssl_context`; without it there is no writer listener.
    controller_map : ControllerMap, optional
        Default: the built-in map.
    n_buildings : int, optional
        Building blocks to serve; default: as many as the first snapshot has (0 without one).
    battery_limits_kw : tuple of float, optional
        Community battery setpoint limits (load-positive), narrower than the map's range. [kW]
    refresh_s : float, optional
        Refresh period. [s]
    max_connections : int, optional
        Established connections per listener (on the TLS listener: after the handshake).
    max_connections_per_address : int, optional
        Connections, and TLS handshakes, of one client address per listener.
    max_handshakes : int, optional
        TLS handshakes in progress.
    handshake_timeout_s : float, optional
        A TLS handshake must be done this long after the connect. [s]
    request_timeout_s : float, optional
        A request must be complete this long after its first byte. [s]
    idle_timeout_s : float, optional
        A connection without a complete request for this long is closed. [s]
    wall_clock : callable, optional
        ``time.time`` by default (tests pass their own).
    """

    def __init__(
        self,
        provider: SnapshotProvider,
        sink: WriteSink | None = None,
        *,
        signal: SignalSource,
        host: str = DEFAULT_HOST,
        port: int | None = DEFAULT_PORT,
        tls_port: int = DEFAULT_TLS_PORT,
        tls: ssl.SSLContext | None = None,
        controller_map: ControllerMap | None = None,
        n_buildings: int | None = None,
        battery_limits_kw: tuple[float, float] | None = None,
        refresh_s: float = 1.0,
        max_connections: int = 200,
        max_connections_per_address: int = 100,
        max_handshakes: int = 200,
        handshake_timeout_s: float = 5.0,
        request_timeout_s: float = 5.0,
        idle_timeout_s: float = 120.0,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if port is None and tls is None:
            raise ValueError("a controller server needs a plain port or a TLS context")
        if refresh_s <= 0:
            raise ValueError("refresh_s must be > 0")
        #: Connection limits of each listener.
        self.limits = ConnectionLimits(
            max_connections=max_connections,
            max_per_address=max_connections_per_address,
            max_handshakes=max_handshakes,
            handshake_timeout_s=handshake_timeout_s,
            request_timeout_s=request_timeout_s,
            idle_timeout_s=idle_timeout_s,
        )
        self.provider = provider
        self.sink = sink
        self.host = host
        self.map = controller_map or load_controller_map()
        #: The signal's state machine.
        self.signal_machine = signal
        self.battery_limits_kw = battery_limits_kw
        self.refresh_s = refresh_s
        self.wall_clock = wall_clock
        #: Accepted writes, newest last (at most 1,000 kept).
        self.writes: deque[ControllerWrite] = deque(maxlen=_MAX_WRITES_KEPT)
        #: Refreshes so far (the heartbeat register is this modulo 65536).
        self.heartbeat = 0
        #: The signal after the last refresh.
        self.signal: SignalStep | None = None
        #: The quality flag after the last refresh.
        self.quality = Quality.MISSING
        self.snapshot: ControllerSnapshot | None = None
        self._ports = {"plain": port, "tls": tls_port if tls is not None else None}
        self._tls = tls
        self._n_buildings = n_buildings
        self._regs: list[int] = []
        self._servers: dict[str, GuardedTcpServer] = {}
        self._slots: dict[str, ListenerSlots] = {}
        self._refresh_task: asyncio.Task[None] | None = None
        self._provider_failing = False
        self._points_by_offset: dict[str, dict[int, ControllerPoint]] = {}

    # --- life cycle -----------------------------------------------------------------------

    @property
    def port(self) -> int | None:
        """Plain Modbus TCP port (known after start)."""
        return self._ports["plain"]

    @property
    def tls_port(self) -> int | None:
        """Modbus/TCP Security port (known after start; ``None`` without TLS)."""
        return self._ports["tls"]

    @property
    def n_buildings(self) -> int:
        """Building blocks served."""
        return self._n_buildings or 0

    def connection_stats(self) -> dict[str, ListenerStats]:
        """Connections and TLS handshakes open now, and closing events, per listener.

        Returns
        -------
        dict of str to ListenerStats
            ``"plain"`` and ``"tls"`` (those listening).
        """
        return {kind: slots.stats() for kind, slots in self._slots.items()}

    async def start(self) -> None:
        """Take the first snapshot, lay out the image and open the listeners.

        Raises
        ------
        ConnectorError
            A port cannot be bound.
        """
        if self._servers:
            return
        first = self._call_provider()
        if self._n_buildings is None:
            self._n_buildings = len(first.buildings) if first is not None else 0
        if self.n_buildings > self.map.max_buildings:
            raise ConfigError(f"{self.n_buildings} buildings; the controller map serves {self.map.max_buildings}")
        size = self.map.building_base + self.n_buildings * self.map.building_stride if self.n_buildings else 0
        self._regs = [0] * max(size, self.map.district_size)
        self._init_writable()
        self.refresh(first)
        try:
            for kind in ("plain", "tls"):
                if self._ports[kind] is not None:
                    await self._listen(kind)
        except ConnectorError:
            await self.stop()
            raise
        self._refresh_task = asyncio.create_task(self._refresh_loop(), name="controller-server-refresh")
        logger.info(
            "controller server: map v%d, %d buildings, plain %s:%s (read-only), TLS %s:%s (writers)",
            self.map.version,
            self.n_buildings,
            self.host,
            self.port,
            self.host,
            self.tls_port,
        )

    async def stop(self) -> None:
        """Close both listeners and every connection, and stop refreshing."""
        task, self._refresh_task = self._refresh_task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        servers, self._servers = self._servers, {}
        for server in servers.values():
            await server.shutdown()
        await asyncio.sleep(0)  # let the closed connections' callbacks run

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # --- refresh --------------------------------------------------------------------------

    def refresh(self, snapshot: ControllerSnapshot | None = None) -> None:
        """Take a snapshot (default: ask the provider), advance the signal, re-encode the image."""
        if snapshot is None:
            snapshot = self._call_provider()
        if snapshot is not None:
            self.snapshot = snapshot
        snapshot = self.snapshot
        self.heartbeat += 1
        now = self.wall_clock()
        age_s = now - snapshot.updated_unix_s if snapshot is not None else math.nan
        stale = snapshot is None or not age_s <= self.signal_machine.stale_after_s
        if snapshot is None:
            self.quality = Quality.MISSING
        elif stale:
            self.quality = Quality.STALE
        else:
            self.quality = Quality(snapshot.quality)
        sim_time_s = snapshot.sim_time_s if snapshot is not None else 0.0
        stress = grid_stress(snapshot)
        surplus = snapshot.p_surplus_kw if snapshot is not None else math.nan
        self.signal = self.signal_machine.update(sim_time_s, p_surplus_kw=surplus, stress=stress, stale=stale)
        self._encode_block("district", 0, district_values(self, snapshot, age_s))
        buildings = snapshot.buildings if snapshot is not None else ()
        for number in range(1, self.n_buildings + 1):
            building = buildings[number - 1] if number <= len(buildings) else None
            self._encode_block("building", number, building_values(self, number, building))

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self.refresh_s)
            try:
                self.refresh()
            except Exception:  # keep serving: one bad snapshot must not stop the server
                logger.exception("controller server: refresh failed")

    def _call_provider(self) -> ControllerSnapshot | None:
        try:
            snapshot = self.provider()
        except Exception as err:  # noqa: BLE001 - the provider is the caller's code: keep serving
            if not self._provider_failing:
                logger.warning("controller server: snapshot provider failed: %s", err)
            self._provider_failing = True
            return None
        self._provider_failing = False
        return snapshot

    # --- register image -------------------------------------------------------------------

    def read_point(self, name: str, building_number: int | None = None) -> float | str | None:
        """Return a point's value as the image carries it now (for tests and diagnostics)."""
        cpoint, base = self._locate(name, building_number)
        regs = self._regs[base + cpoint.offset : base + cpoint.offset + cpoint.point.size]
        return decode_point(cpoint.point, regs)

    def _locate(self, name: str, building_number: int | None) -> tuple[ControllerPoint, int]:
        if building_number is None:
            return self.map.district_point(name), 0
        return self.map.building_point(name), self.map.building_address(building_number)

    def _block_points(self, block: str) -> tuple[ControllerPoint, ...]:
        return self.map.district_points if block == "district" else self.map.building_points

    def _encode_block(self, block: str, number: int, values: Mapping[str, float | str]) -> None:
        base = 0 if block == "district" else self.map.building_address(number)
        for cpoint in self._block_points(block):
            if cpoint.point.writable:
                continue  # written by clients only
            value = values.get(cpoint.name, math.nan)
            self._regs[base + cpoint.offset : base + cpoint.offset + cpoint.point.size] = encode_value(cpoint, value)

    def _init_writable(self) -> None:
        blocks = [("district", 0)] + [("building", n) for n in range(1, self.n_buildings + 1)]
        for block, number in blocks:
            base = 0 if block == "district" else self.map.building_address(number)
            for cpoint in self._block_points(block):
                if cpoint.point.writable:
                    initial = math.nan if cpoint.point.data_type == "float32" else 0
                    self._regs[base + cpoint.offset : base + cpoint.offset + cpoint.point.size] = encode_value(
                        cpoint, initial
                    )

    # --- pymodbus side --------------------------------------------------------------------

    async def _listen(self, kind: str) -> None:
        writable = kind == "tls"
        devices = [self._sim_device(unit_id, writable=writable) for unit_id in self.map.unit_ids]
        address = (self.host, self._ports[kind] or 0)
        server: GuardedTcpServer
        if kind == "tls":
            server = GuardedTlsServer(devices, address=address, sslctx=self._tls)
        else:
            server = GuardedTcpServer(devices, address=address)
        slots = self._slots[kind] = ListenerSlots(f"controller server ({kind})", self.limits)
        server.guard = Guard(
            codes=_READ_CODES | (_WRITE_CODES if writable else frozenset()),
            unit_ids=frozenset(self.map.unit_ids),
            slots=slots,
            tls=self._tls if writable else None,
        )
        self._ports[kind] = await listen(server, what=f"controller server ({kind})", address=address)
        self._servers[kind] = server

    def _sim_device(self, unit_id: int, *, writable: bool) -> SimDevice:
        no_bits = [SimData(0, values=[False] * 16, datatype=DataType.BITS)]
        runs = self._runs(writable=writable)
        action = self._write_action if writable else self._read_action
        no_input = [SimData(0, datatype=DataType.INVALID)]
        return SimDevice(id=unit_id, simdata=(no_bits, list(no_bits), runs, no_input), action=action)

    def _runs(self, *, writable: bool) -> list[SimData]:
        """Valid registers as runs of equal write access (writable only on the TLS listener)."""
        spans = [(0, self.map.district_size)]
        if self.n_buildings:
            spans.append((self.map.building_base, self.map.building_base + self.n_buildings * self.map.building_stride))
        open_regs: set[int] = set()
        if writable:
            blocks = [("district", 0)] + [("building", n) for n in range(1, self.n_buildings + 1)]
            for block, number in blocks:
                base = 0 if block == "district" else self.map.building_address(number)
                for cpoint in self._block_points(block):
                    if cpoint.point.writable:
                        open_regs.update(range(base + cpoint.offset, base + cpoint.offset + cpoint.point.size))
        runs = []
        for low, high in spans:
            start = low
            for address in range(low + 1, high + 1):
                if address == high or (address in open_regs) != (start in open_regs):
                    runs.append(
                        SimData(
                            start,
                            values=[0] * (address - start),
                            datatype=DataType.REGISTERS,
                            readonly=start not in open_regs,
                        )
                    )
                    start = address
        return runs

    async def _read_action(
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        if set_values is not None:  # the guard lets no write through to this listener
            return ExcCodes.ILLEGAL_FUNCTION
        # reads, and the read-back pymodbus does after a single-register write (function code 6)
        registers[address - start_address : address - start_address + count] = self._regs[address : address + count]
        return None

    async def _write_action(
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        if set_values is None:
            return await self._read_action(function_code, start_address, address, count, registers, set_values)
        if function_code not in _WRITE_CODES or set_values is None:
            return ExcCodes.ILLEGAL_FUNCTION
        return self._write(address, [int(value) for value in set_values], CLIENT_SUBJECT.get())

    def _write(self, address: int, values: list[int], client: str) -> ExcCodes | None:
        """Validate a write, hand it to the sink, and apply it to the image."""
        if address < self.map.district_size:
            block, number, base = "district", None, 0
        else:
            number = (address - self.map.building_base) // self.map.building_stride + 1
            block, base = "building", self.map.building_address(number)
        offsets = range(address - base, address - base + len(values))
        touched = [
            cpoint
            for cpoint in self._block_points(block)
            if cpoint.offset < offsets.stop and offsets.start < cpoint.offset + cpoint.point.size
        ]
        if not touched or any(
            not cpoint.point.writable
            or cpoint.offset < offsets.start
            or cpoint.offset + cpoint.point.size > offsets.stop
            for cpoint in touched
        ):
            logger.info(
                "controller write by %s at %d (%d registers): not whole writable points", client, address, len(values)
            )
            return ExcCodes.ILLEGAL_ADDRESS
        snapshot = self.snapshot
        sim_time_s = snapshot.sim_time_s if snapshot is not None else math.nan
        building_id = None
        if number is not None and snapshot is not None and number <= len(snapshot.buildings):
            building_id = snapshot.buildings[number - 1].building_id
        accepted = []
        for cpoint in touched:
            start = cpoint.offset - offsets.start
            value = decode_point(cpoint.point, values[start : start + cpoint.point.size])
            low, high = self._write_range(cpoint)
            if not isinstance(value, float) or not math.isfinite(value) or not low <= value <= high:
                logger.info(
                    "controller write by %s rejected: %s = %s outside %g..%g", client, cpoint.name, value, low, high
                )
                return ExcCodes.ILLEGAL_VALUE
            accepted.append(
                ControllerWrite(cpoint.name, value, number, building_id, client, sim_time_s, self.wall_clock())
            )
        try:
            for write in accepted:
                if self.sink is not None:
                    self.sink(write)
        except ValueError as err:
            logger.info("controller write by %s rejected by the twin: %s", client, err)
            return ExcCodes.ILLEGAL_VALUE
        except Exception:
            logger.exception("controller write by %s: the write sink failed", client)
            return ExcCodes.DEVICE_FAILURE
        self._regs[address : address + len(values)] = values
        for write in accepted:
            where = (
                "district"
                if write.building_number is None
                else f"building {write.building_number} ({write.building_id})"
            )
            logger.info("controller write by %s: %s %s = %g", client, where, write.name, write.value)
            self.writes.append(write)
        return None

    def _write_range(self, cpoint: ControllerPoint) -> tuple[float, float]:
        low, high = cpoint.point.write_range or (-math.inf, math.inf)
        if cpoint.name == "battery_setpoint_kw" and self.battery_limits_kw is not None:
            low, high = max(low, self.battery_limits_kw[0]), min(high, self.battery_limits_kw[1])
        return low, high
