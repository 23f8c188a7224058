"""The polling primitive: read one device's map over Modbus TCP into quality-flagged values.

:class:`ModbusConnection` owns one TCP connection (to a device or a gateway): one request in
flight at a time, a timeout and retries per request, and reconnection with exponential back-off
managed here (pymodbus' own background reconnect is switched off, so closing leaves no tasks).
A request that times out drops the connection, so a late answer can never be taken for the
answer to the next request. :class:`DeviceReader` plans the fewest reads that cover a map's
quantities (and their SunSpec scale factors), decodes them to the twin's units and sign, and
flags each value ``ok``, ``missing`` (no answer, or an exception response) or ``invalid`` (not
implemented, outside the map's physical range, or a SunSpec model where the map expects another).
The multi-device poller of the live twin builds on these two classes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Final

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException
from pymodbus.pdu import ModbusPDU

from connectors.codec import decode_quantity, encode_point, in_valid_range, point_values
from connectors.maps import Point, RegisterMap, RegisterType
from connectors.sunspec_chain import read_model_chain, relocate, same_layout
from twin.core.errors import ConnectorError
from twin.core.schema import QUALITY_FLAGS

__all__ = [
    "POWER_QUANTITIES",
    "RATING_MARGIN",
    "DeviceExceptionError",
    "DeviceReader",
    "ModbusConnection",
    "ReadRequest",
    "Reading",
    "plan_reads",
    "power_limit_kw",
]

logger = logging.getLogger(__name__)

_OK: Final[int] = QUALITY_FLAGS["ok"]
_MISSING: Final[int] = QUALITY_FLAGS["missing"]
_INVALID: Final[int] = QUALITY_FLAGS["invalid"]


class DeviceExceptionError(ConnectorError):
    """The device answered a request with a Modbus exception code (``code``)."""

    def __init__(self, message: str, *, code: int) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class ReadRequest:
    """One read: ``count`` registers of ``register`` table from ``address`` (0-based)."""

    register: RegisterType
    address: int
    count: int
    points: tuple[str, ...]


@dataclass(frozen=True)
class Reading:
    """The result of reading one device once.

    Parameters
    ----------
    device : str
        Device name.
    values : dict of str to float or None
        Quantity -> value in the twin's unit and sign; ``None`` when missing or not
        implemented (out-of-range values are kept, flagged invalid).
    quality : dict of str to int
        Quantity -> ``twin.core.schema.QUALITY_FLAGS`` value.
    error : str or None
        Why values are missing or invalid, if they are.
    duration_s : float
        Wall time of the read. [s]
    """

    device: str
    values: dict[str, float | None]
    quality: dict[str, int]
    error: str | None = None
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        """Whether every value is ok."""
        return all(flag == _OK for flag in self.quality.values())


@dataclass
class ModbusConnection:
    """One Modbus TCP connection with one request in flight, timeouts and reconnect back-off.

    Parameters
    ----------
    host : str
        Device or gateway address.
    port : int
        TCP port.
    timeout_s : float, optional
        Wait for one answer. [s]
    retries : int, optional
        Repeats of a request that got no answer (pymodbus' ``retries``).
    reconnect_delay_s : float, optional
        First wait before reconnecting after a failure; doubles per failure. [s]
    reconnect_delay_max_s : float, optional
        Longest wait between connection attempts. [s]
    name : str, optional
        For messages (default ``host:port``).
    """

    host: str
    port: int
    timeout_s: float = 1.0
    retries: int = 0
    reconnect_delay_s: float = 0.5
    reconnect_delay_max_s: float = 10.0
    name: str = ""
    _client: AsyncModbusTcpClient | None = field(default=None, init=False, repr=False)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False, repr=False)
    _next_attempt: float = field(default=0.0, init=False, repr=False)
    _delay_s: float = field(default=0.0, init=False, repr=False)
    requests: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.name = self.name or f"{self.host}:{self.port}"

    @property
    def connected(self) -> bool:
        """Whether the TCP connection is up."""
        return self._client is not None and self._client.connected

    async def read(self, register: RegisterType, address: int, count: int, *, unit_id: int) -> list[int]:
        """Read registers (function code 3 or 4).

        Parameters
        ----------
        register : {"holding", "input"}
            Register table.
        address : int
            First register, 0-based wire address.
        count : int
            Number of registers.
        unit_id : int
            Modbus unit id.

        Returns
        -------
        list of int
            The registers.

        Raises
        ------
        DeviceExceptionError
            The device answered with an exception code.
        ConnectorError
            No connection, or no answer within the timeout.
        """
        function = "read_holding_registers" if register == "holding" else "read_input_registers"

        async def send(client: AsyncModbusTcpClient) -> ModbusPDU:
            return await getattr(client, function)(address, count=count, device_id=unit_id)

        response = await self._request(f"reading {register} {address}+{count}", unit_id, send)
        return list(response.registers)

    async def write(self, address: int, values: list[int], *, unit_id: int) -> None:
        """Write holding registers (function code 16); raises like :meth:`read`."""

        async def send(client: AsyncModbusTcpClient) -> ModbusPDU:
            return await client.write_registers(address, values, device_id=unit_id)

        await self._request(f"writing holding {address}+{len(values)}", unit_id, send)

    def close(self) -> None:
        """Close the connection (no background task is left)."""
        client, self._client = self._client, None
        if client is not None:
            client.close()

    async def _request(
        self, what: str, unit_id: int, send: Callable[[AsyncModbusTcpClient], Awaitable[ModbusPDU]]
    ) -> ModbusPDU:
        """Connect if needed and send one request; the lock keeps one request in flight."""
        async with self._lock:
            client = await self._ensure_connected()
            try:
                response = await send(client)
            except ModbusException as err:
                self._failed()
                raise ConnectorError(f"{self.name} unit {unit_id}: no answer {what} ({type(err).__name__})") from err
        self.requests += 1
        if response.isError():
            code = int(getattr(response, "exception_code", 0))
            raise DeviceExceptionError(f"{self.name} unit {unit_id}: exception code {code} {what}", code=code)
        return response

    async def _ensure_connected(self) -> AsyncModbusTcpClient:
        if self._client is not None and self._client.connected:
            return self._client
        now = time.monotonic()
        if now < self._next_attempt:
            raise ConnectorError(f"{self.name}: not connected; next attempt in {self._next_attempt - now:.1f} s")
        self.close()
        client = AsyncModbusTcpClient(
            self.host, port=self.port, timeout=self.timeout_s, retries=self.retries, reconnect_delay=0
        )
        if not await client.connect():
            client.close()
            self._failed()
            raise ConnectorError(f"{self.name}: cannot connect (refused or unreachable)")
        self._client = client
        self._delay_s = 0.0
        self._next_attempt = 0.0
        return client

    def _failed(self) -> None:
        """Drop the connection and wait longer before the next attempt."""
        self.close()
        self._delay_s = min(max(2 * self._delay_s, self.reconnect_delay_s), self.reconnect_delay_max_s)
        self._next_attempt = time.monotonic() + self._delay_s


def plan_reads(register_map: RegisterMap, quantities: Iterable[str] | None = None) -> list[ReadRequest]:
    """Return the reads that cover some quantities of a map with few requests.

    Parameters
    ----------
    register_map : RegisterMap
        The device's map.
    quantities : iterable of str, optional
        Quantities to read (default all). Their SunSpec scale factors and model ids are added.

    Returns
    -------
    list of ReadRequest
        Points joined while the gap stays within ``max_gap`` and the read within
        ``max_registers_per_request``.
    """
    names = set()
    for name in quantities if quantities is not None else register_map.quantities:
        point = register_map.point_of(name)
        names.add(point.name)
        if point.sf_point is not None:
            names.add(point.sf_point)
        if register_map.kind == "sunspec":
            names.add(f"{point.name.split('.')[0]}.ID")
    points = sorted((register_map.points[name] for name in names), key=lambda p: (p.register, p.address))
    requests: list[ReadRequest] = []
    group: list[Point] = []
    for point in points:
        if group:
            first, last_end = group[0], max(p.address + p.size for p in group)
            if (
                point.register != first.register
                or point.address - last_end > register_map.max_gap
                or point.address + point.size - first.address > register_map.max_registers_per_request
            ):
                requests.append(_request(group))
                group = []
        group.append(point)
    if group:
        requests.append(_request(group))
    return requests


#: Quantities checked against a device's rating (:class:`DeviceReader` ``p_limit_kw``).
POWER_QUANTITIES: Final[frozenset[str]] = frozenset({"p_kw", "p_meter_kw"})
#: A device may exceed its rating by this factor before a reading counts as a lie
#: (inverters at a DC/AC ratio, heat pumps with their backup heater, meter tolerance).
RATING_MARGIN: Final[float] = 1.5


def power_limit_kw(p_rated_kw: float | None, p_peak_kw: float | None) -> float | None:
    """Largest plausible power of a device from its ratings (``RATING_MARGIN`` x the larger), or None."""
    ratings = [r for r in (p_rated_kw, p_peak_kw) if r is not None and r > 0]
    return RATING_MARGIN * max(ratings) if ratings else None


class DeviceReader:
    """Read one device's quantities through a (possibly shared) connection.

    Parameters
    ----------
    connection : ModbusConnection
        The connection; devices behind one gateway share it (one request in flight).
    register_map : RegisterMap
        The device's map.
    unit_id : int, optional
        Modbus unit id.
    name : str, optional
        Device name for readings and messages.
    quantities : iterable of str, optional
        Quantities to read (default all of the map).
    p_limit_kw : float, optional
        Largest plausible power of this device (from its rating): a power quantity
        (:data:`POWER_QUANTITIES`) beyond it either way is flagged invalid, like a value
        outside the map's ``valid_range``. [kW]
    """

    def __init__(
        self,
        connection: ModbusConnection,
        register_map: RegisterMap,
        *,
        unit_id: int = 1,
        name: str | None = None,
        quantities: Iterable[str] | None = None,
        p_limit_kw: float | None = None,
    ) -> None:
        self.connection = connection
        self.register_map = register_map
        self.unit_id = unit_id
        self.name = name or f"{register_map.name}@{connection.name}/{unit_id}"
        self.quantities = list(quantities if quantities is not None else register_map.quantities)
        self.requests = plan_reads(register_map, self.quantities)
        self.p_limit_kw = p_limit_kw
        self._map_as_given = register_map

    async def read(self) -> Reading:
        """Read every planned block and return flagged values (never raises for device faults).

        A SunSpec device whose models are not where the map expects them has its model chain
        walked once (:mod:`connectors.sunspec_chain`) and is read where it keeps them.
        """
        reading, wrong_models = await self._read_planned()
        if wrong_models and self.register_map.kind == "sunspec" and self.connection.connected:
            try:
                chain = await read_model_chain(self._read_holding, self.name)
                if not same_layout(self.register_map, chain):
                    self.register_map = relocate(self._map_as_given, chain, self.name)
                    self.requests = plan_reads(self.register_map, self.quantities)
                    reading, _ = await self._read_planned()
            except ConnectorError as err:
                reading = dataclasses.replace(reading, error="; ".join(filter(None, [reading.error, str(err)])))
        return reading

    async def _read_holding(self, address: int, count: int) -> list[int]:
        return await self.connection.read("holding", address, count, unit_id=self.unit_id)

    async def _read_planned(self) -> tuple[Reading, set[str]]:
        started = time.perf_counter()
        registers: dict[str, list[int]] = {}
        errors: list[str] = []
        for request in self.requests:
            try:
                regs = await self.connection.read(
                    request.register, request.address, request.count, unit_id=self.unit_id
                )
            except ConnectorError as err:
                errors.append(str(err))
                if not self.connection.connected:
                    break  # the other reads would fail the same way
                continue
            for name in request.points:
                point = self.register_map.points[name]
                offset = point.address - request.address
                registers[name] = regs[offset : offset + point.size]
        values: dict[str, float | None] = {}
        quality: dict[str, int] = {}
        decoded = point_values(self.register_map, registers)
        wrong_models = self._wrong_models(decoded)
        if wrong_models:
            errors.append(f"{self.name}: models {sorted(wrong_models)} not where the map expects them")
        for name in self.quantities:
            quantity = self.register_map.quantities[name]
            point = self.register_map.points[quantity.point]
            if point.name not in registers or (point.sf_point is not None and point.sf_point not in registers):
                values[name], quality[name] = None, _MISSING
                continue
            value = decode_quantity(quantity, decoded[point.name])
            values[name] = value
            wrong_model = point.name.split(".")[0] in wrong_models
            beyond_rating = (
                self.p_limit_kw is not None
                and value is not None
                and name in POWER_QUANTITIES
                and abs(value) > self.p_limit_kw
            )
            if wrong_model or value is None or not in_valid_range(quantity, value) or beyond_rating:
                quality[name] = _INVALID
            else:
                quality[name] = _OK
        error = "; ".join(errors) or None
        return Reading(self.name, values, quality, error, time.perf_counter() - started), wrong_models

    async def write(self, quantity: str, value: float) -> None:
        """Write a quantity to a writable point and return when the device accepted it.

        Parameters
        ----------
        quantity : str
            Quantity name, e.g. ``"p_setpoint_kw"``.
        value : float
            Value in the quantity's unit and the twin's load-positive convention.

        Raises
        ------
        ConnectorError
            The point is not writable, the value does not fit, or the device refused or did
            not answer (:class:`DeviceExceptionError` carries the exception code).
        """
        spec = self.register_map.quantities[quantity]
        point = self.register_map.points[spec.point]
        if not point.writable:
            raise ConnectorError(f"{self.name}: {quantity} is not writable")
        sf = 0
        if point.sf_point is not None:
            sf_point = self.register_map.points[point.sf_point]
            regs = await self.connection.read(sf_point.register, sf_point.address, 1, unit_id=self.unit_id)
            sf = int(point_values(self.register_map, {sf_point.name: regs})[sf_point.name] or 0)
        try:
            registers = encode_point(point, value / spec.factor, sf=sf, sunspec=self.register_map.kind == "sunspec")
        except ValueError as err:
            raise ConnectorError(f"{self.name}: {quantity} = {value}: {err}") from err
        await self.connection.write(point.address, registers, unit_id=self.unit_id)

    @staticmethod
    def _wrong_models(decoded: dict[str, float | str | None]) -> set[str]:
        """SunSpec models whose ID register does not hold the model id the map expects."""
        return {
            name.split(".")[0]
            for name, value in decoded.items()
            if name.endswith(".ID") and name != "end.ID" and value != float(name.split(".")[0])
        }


def _request(group: list[Point]) -> ReadRequest:
    first = group[0]
    end = max(point.address + point.size for point in group)
    return ReadRequest(first.register, first.address, end - first.address, tuple(point.name for point in group))
