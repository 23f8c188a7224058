"""A simulated Modbus device: registers laid out by a device map, live values and faults.

:class:`SimulatedDevice` keeps the register image of one device (one unit id). The simulated
field sets its live values in the twin's units and sign (``p_kw`` load-positive, ``energy_*_kwh``
counters that only grow); the device encodes them into registers as its map says. Writable
points accept client writes after validation (range from the map, then an optional callback);
a rejected write answers with exception code 3 (illegal data value). Faults change what the
device answers until cleared: an exception code, no answer at all, not-implemented values, or
absurd values. Serving on TCP, refusing connections and restarts are :mod:`connectors.device_server`'s.

The image is guarded by a lock: values may be set from any thread (the simpy field) while the
server's event loop answers requests.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from pymodbus.constants import ExcCodes
from pymodbus.simulator import DataType, SimData, SimDevice

from connectors.codec import (
    decode_point,
    decode_quantity,
    encode_point,
    in_valid_range,
    not_implemented_registers,
    raw_limits,
)
from connectors.derived_points import V_PHASE_NOMINAL_V, DerivedInputs, derived_value
from connectors.maps import Point, RegisterMap, RegisterType

__all__ = ["Fault", "SimulatedDevice", "WriteCallback"]

logger = logging.getLogger(__name__)

#: Called for every accepted-so-far client write with (quantity or point name, value in the
#: quantity's unit, load-positive; or in the point's unit when no quantity uses the point).
#: Raise ``ValueError`` to reject the write with exception code 3.
WriteCallback = Callable[[str, float], None]

_READ_CODES: Final[dict[int, RegisterType]] = {3: "holding", 4: "input"}
_WRITE_CODES: Final[frozenset[int]] = frozenset({6, 16})
_MAX_ABSURD_SF_STEPS: Final[int] = 12
#: The quantities derived points follow (connectors.derived_points).
_DERIVE_INPUTS: Final[frozenset[str]] = frozenset({"p_kw", "p_meter_kw", "v_l1_v", "capacity_kwh"})


class Fault(StrEnum):
    """What a faulty device does instead of answering normally."""

    #: Answer every request with a Modbus exception code.
    EXCEPTION = "exception"
    #: Accept requests and never answer.
    HANG = "hang"
    #: Serve the map's "not implemented" values for its quantities.
    NOT_IMPLEMENTED = "not_implemented"
    #: Serve values far outside the quantities' physical range.
    ABSURD = "absurd"


@dataclass
class _Block:
    base: int
    regs: list[int]
    writable: set[int] = field(default_factory=set)


class SimulatedDevice:
    """The registers of one simulated device, its live values and its faults.

    Parameters
    ----------
    register_map : RegisterMap
        Layout and quantities (see :func:`connectors.maps.load_map`).
    unit_id : int, optional
        Modbus unit id (1-247) the device answers to.
    name : str, optional
        Device name used in logs and errors; the map name by default.
    static : mapping, optional
        Point values (point units) added to or replacing the map's ``static`` values, e.g. a
        serial number ``{"1.SN": "PV-0001"}``.
    on_write : WriteCallback, optional
        Validates and observes client writes.

    Notes
    -----
    Points that never get a value serve their not-implemented value (SunSpec sentinels, NaN).
    For SunSpec maps, set scale factors (static) before values: a value is encoded with the
    scale factor current at the time it is set.
    """

    def __init__(
        self,
        register_map: RegisterMap,
        *,
        unit_id: int = 1,
        name: str | None = None,
        static: Mapping[str, float | str] | None = None,
        on_write: WriteCallback | None = None,
    ) -> None:
        if not 0 < unit_id < 248:
            raise ValueError(f"unit id {unit_id} outside 1..247")
        self.register_map = register_map
        self.unit_id = unit_id
        self.name = name or register_map.name
        self.on_write = on_write
        self._sunspec = register_map.kind == "sunspec"
        self._lock = threading.RLock()
        self._blocks = self._build_blocks()
        self._overlay: dict[tuple[str, int], int] = {}
        self._exception: ExcCodes | None = None
        self._hang = False
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []
        self.requests_served = 0
        self._derive_inputs: dict[str, float] = {}
        self._derive_plan: list[tuple[str, Point, int, tuple[int, int], list[int]]] | None = None
        self._derive_v_dc_v: float | None = None
        for point in register_map.points.values():
            self._store(point, not_implemented_registers(point, sunspec=self._sunspec))
        self.set_points({**register_map.static, **(static or {})})

    # --- live values --------------------------------------------------------------------

    def set_quantities(self, values: Mapping[str, float]) -> None:
        """Set live values in the twin's units and sign, all at once.

        Parameters
        ----------
        values : mapping of str to float
            Quantity name -> value, e.g. ``{"p_kw": -3.2, "energy_export_kwh": 1234.5}``
            (``p_kw`` load-positive [kW]; counters [kWh]).

        Raises
        ------
        KeyError
            A name is not a quantity of the map.
        ValueError
            A counter would go down, or a value does not fit its register.
        """
        encoded: list[tuple[Point, list[int]]] = []
        with self._lock:
            for name, value in values.items():
                quantity = self.register_map.quantities[name]
                point = self.register_map.points[quantity.point]
                if quantity.counter:
                    current = decode_quantity(quantity, self._decode(point))
                    if (
                        current is not None
                        and value < current - self._counter_resolution(point, current, quantity.factor) / 2
                    ):
                        raise ValueError(f"{self.name}: counter {name} would go down from {current} to {value}")
                regs = encode_point(point, value / quantity.factor, sf=self._sf(point), sunspec=self._sunspec)
                encoded.append((point, regs))
            for point, regs in encoded:
                self._store(point, regs)
            self._derive(values)

    def add_energy(self, name: str, delta: float) -> float:
        """Advance an energy counter and return its new value.

        Parameters
        ----------
        name : str
            A counter quantity, e.g. ``"energy_import_kwh"``.
        delta : float
            Energy to add, >= 0, in the quantity's unit. [kWh]

        Returns
        -------
        float
            The counter after the step (as the registers carry it).

        Notes
        -----
        A SunSpec accumulator that reads 0 means "not implemented": start SunSpec counters
        at a meter reading above 0.
        """
        if delta < 0:
            raise ValueError(f"{self.name}: {name} may only grow (delta {delta})")
        quantity = self.register_map.quantities[name]
        if not quantity.counter:
            raise ValueError(f"{self.name}: {name} is not a counter")
        with self._lock:  # re-entrant: read and write as one step
            current = self.quantity(name) or 0.0
            self.set_quantities({name: current + delta})
            return self.quantity(name) or 0.0

    def set_points(self, values: Mapping[str, float | str]) -> None:
        """Set point values in the points' own units (names, status codes, scale factors).

        Parameters
        ----------
        values : mapping
            Point name -> value, e.g. ``{"1.SN": "0001", "103.W_SF": -1}``. Raw values
            are not checked against SunSpec's not-implemented sentinels.
        """
        points = [self.register_map.points[name] for name in values]
        with self._lock:
            # scale factors first, so the values that use them encode with the new ones
            for point in sorted(points, key=lambda point: point.data_type != "sunssf"):
                sf = 0 if point.data_type == "sunssf" else self._sf(point)
                self._store(point, encode_point(point, values[point.name], sf=sf))
            self._derive_plan = None  # scale factors may have changed
            self._derive()

    def quantity(self, name: str) -> float | None:
        """Return a quantity as the registers carry it now (faults not applied)."""
        quantity = self.register_map.quantities[name]
        with self._lock:
            return decode_quantity(quantity, self._decode(self.register_map.points[quantity.point]))

    def point(self, name: str) -> float | str | None:
        """Return a point's value in its unit as the registers carry it now."""
        with self._lock:
            return self._decode(self.register_map.points[name])

    # --- faults -------------------------------------------------------------------------

    @property
    def fault(self) -> Fault | None:
        """The fault in effect, if any."""
        if self._exception is not None:
            return Fault.EXCEPTION
        if self._hang:
            return Fault.HANG
        if self._overlay:
            return Fault.ABSURD if self._overlay_kind == Fault.ABSURD else Fault.NOT_IMPLEMENTED
        return None

    def inject(
        self,
        fault: Fault | str,
        *,
        exception_code: int = ExcCodes.DEVICE_FAILURE,
        quantities: Iterable[str] | None = None,
        values: Mapping[str, float] | None = None,
    ) -> None:
        """Start a fault; it lasts until :meth:`clear_fault`.

        Parameters
        ----------
        fault : Fault or str
            ``exception``, ``hang``, ``not_implemented`` or ``absurd``.
        exception_code : int, optional
            Modbus exception code for ``exception`` (default 4, server device failure).
        quantities : iterable of str, optional
            Quantities affected by ``not_implemented`` and ``absurd`` (default all with a
            physical range; all quantities for ``not_implemented``).
        values : mapping of str to float, optional
            Explicit absurd values in the quantities' units, instead of computed ones.
        """
        fault = Fault(fault)
        self.clear_fault()
        logger.info("device %s (unit %d): fault %s", self.name, self.unit_id, fault)
        if fault is Fault.EXCEPTION:
            self._exception = ExcCodes(exception_code)
        elif fault is Fault.HANG:
            self._hang = True
        elif fault is Fault.NOT_IMPLEMENTED:
            names = list(quantities or self.register_map.quantities)
            self._set_overlay(
                {
                    self.register_map.point_of(name): not_implemented_registers(
                        self.register_map.point_of(name), sunspec=self._sunspec
                    )
                    for name in names
                },
                Fault.NOT_IMPLEMENTED,
            )
        else:
            self._set_overlay(self._absurd_registers(quantities, values), Fault.ABSURD)

    def clear_fault(self) -> None:
        """End any fault: the device answers normally again (hung requests are released)."""
        self._exception = None
        self._hang = False
        with self._lock:
            self._overlay = {}
        self.release_hung()

    def release_hung(self) -> None:
        """Let requests that hang finish (they answer with exception code 4)."""
        waiters, self._waiters = self._waiters, []
        for loop, event in waiters:
            if not loop.is_closed():
                loop.call_soon_threadsafe(event.set)

    # --- the pymodbus side --------------------------------------------------------------

    def sim_device(self) -> SimDevice:
        """Return the pymodbus ``SimDevice`` that serves this device (build one per server start)."""
        no_bits = [SimData(0, values=[False] * 16, datatype=DataType.BITS)]
        tables = []
        for table in ("holding", "input"):
            block = self._blocks.get(table)
            tables.append(self._sim_data(block) if block else [SimData(0, datatype=DataType.INVALID)])
        return SimDevice(id=self.unit_id, simdata=(no_bits, list(no_bits), tables[0], tables[1]), action=self._action)

    async def _action(
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        """Pymodbus calls this for every request that passed its address checks."""
        if self._exception is not None:
            return self._exception
        if self._hang:
            event = asyncio.Event()
            self._waiters.append((asyncio.get_running_loop(), event))
            await event.wait()
            return ExcCodes.DEVICE_FAILURE
        if function_code in _WRITE_CODES and set_values is not None:
            return self._write(address, [int(value) for value in set_values])
        table = _READ_CODES.get(function_code)
        if table is None:
            return ExcCodes.ILLEGAL_FUNCTION
        block = self._blocks[table]
        offset = address - block.base
        with self._lock:
            chunk = block.regs[offset : offset + count]
            for index in range(count):
                raw = self._overlay.get((table, address + index))
                if raw is not None:
                    chunk[index] = raw
        registers[address - start_address : address - start_address + count] = chunk
        self.requests_served += 1
        return None

    # --- helpers ------------------------------------------------------------------------

    _overlay_kind: Fault = Fault.NOT_IMPLEMENTED

    def _derive(self, values: Mapping[str, float] | None = None) -> None:
        """Recompute the map's derived points from the power, voltage and capacity served now.

        ``values`` are the quantities just set; the others keep their last values.
        """
        if not self.register_map.derived:
            return
        if values:
            self._derive_inputs.update({k: v for k, v in values.items() if k in _DERIVE_INPUTS})
        if self._derive_plan is None:
            self._derive_plan = self._plan_derived()
        live = self._derive_inputs
        inputs = DerivedInputs(
            p_kw=live.get("p_kw", live.get("p_meter_kw", 0.0)),
            v_phase_v=live.get("v_l1_v") or V_PHASE_NOMINAL_V,
            v_dc_v=self._derive_v_dc_v,
            capacity_kwh=live.get("capacity_kwh"),
        )
        by_rule: dict[str, float | None] = {}
        for rule, point, sf, (low, high), absent in self._derive_plan:
            value = by_rule[rule] if rule in by_rule else by_rule.setdefault(rule, derived_value(rule, inputs))
            if value is None:
                self._store(point, absent)
            elif point.size == 1:  # 16-bit integer points: encoded here, the hot path of every field tick
                raw = round(value / 10.0**sf)
                self._store(point, [raw & 0xFFFF] if low <= raw <= high else absent)
            else:
                try:
                    self._store(point, encode_point(point, value, sf=sf, sunspec=True))
                except ValueError:  # beyond what the register can carry: served as not implemented
                    self._store(point, absent)

    def _plan_derived(self) -> list[tuple[str, Point, int, tuple[int, int], list[int]]]:
        """Each derived point with its (static) scale factor, raw limits and not-implemented registers."""
        points = self.register_map.points
        plan = []
        for name, rule in self.register_map.derived.items():
            point = points[name]
            limits = raw_limits(point, sunspec=True) if point.size == 1 else (0, 0)
            plan.append((rule, point, self._sf(point), limits, not_implemented_registers(point, sunspec=True)))
            if rule in ("dc_current_a", "charge_capacity_ah"):  # a battery bank's DC voltage: its model's "V"
                v_dc = self._decode(points[f"{name.split('.')[0]}.V"])
                self._derive_v_dc_v = float(v_dc) if isinstance(v_dc, float | int) else None
        return plan

    def _build_blocks(self) -> dict[str, _Block]:
        spans: dict[str, tuple[int, int]] = {}
        for point in self.register_map.points.values():
            low, high = spans.get(point.register, (point.address, point.address + point.size))
            spans[point.register] = (min(low, point.address), max(high, point.address + point.size))
        blocks = {table: _Block(low, [0] * (high - low)) for table, (low, high) in spans.items()}
        for point in self.register_map.points.values():
            if point.writable:
                blocks[point.register].writable.update(range(point.address, point.address + point.size))
        return blocks

    @staticmethod
    def _sim_data(block: _Block) -> list[SimData]:
        """Runs of registers with the same write access (readonly ones reject writes)."""
        runs: list[SimData] = []
        start = 0
        for index in range(1, len(block.regs) + 1):
            end = index == len(block.regs)
            if end or ((block.base + index) in block.writable) != ((block.base + start) in block.writable):
                runs.append(
                    SimData(
                        block.base + start,
                        values=block.regs[start:index],
                        datatype=DataType.REGISTERS,
                        readonly=(block.base + start) not in block.writable,
                    )
                )
                start = index
        return runs

    def _store(self, point: Point, regs: list[int]) -> None:
        block = self._blocks[point.register]
        offset = point.address - block.base
        block.regs[offset : offset + point.size] = regs

    def _registers(self, point: Point) -> list[int]:
        block = self._blocks[point.register]
        offset = point.address - block.base
        return block.regs[offset : offset + point.size]

    def _sf(self, point: Point) -> int:
        if point.sf_point is None:
            return 0
        value = decode_point(
            self.register_map.points[point.sf_point],
            self._registers(self.register_map.points[point.sf_point]),
            sunspec=True,
        )
        if value is None:
            raise ValueError(f"{self.name}: scale factor {point.sf_point} of {point.name} is not set")
        return int(value)

    def _decode(self, point: Point) -> float | str | None:
        sf: int | None = 0
        if point.sf_point is not None:
            raw_sf = decode_point(
                self.register_map.points[point.sf_point],
                self._registers(self.register_map.points[point.sf_point]),
                sunspec=True,
            )
            sf = None if raw_sf is None else int(raw_sf)
        return decode_point(point, self._registers(point), sf=sf, sunspec=self._sunspec)

    def _counter_resolution(self, point: Point, current: float, factor: float) -> float:
        """Smallest step the registers can show near ``current`` (in the quantity's unit)."""
        if point.data_type == "float32":
            return abs(current) * 2.0**-23
        if point.data_type == "float64":
            return abs(current) * 2.0**-52
        return abs(point.scale * 10.0 ** self._sf(point) * factor)

    def _set_overlay(self, registers: Mapping[Point, list[int]], kind: Fault) -> None:
        overlay: dict[tuple[str, int], int] = {
            (point.register, point.address + index): raw
            for point, regs in registers.items()
            for index, raw in enumerate(regs)
        }
        with self._lock:
            self._overlay = overlay
            self._overlay_kind = kind

    def _absurd_registers(
        self, quantities: Iterable[str] | None, values: Mapping[str, float] | None
    ) -> dict[Point, list[int]]:
        result: dict[Point, list[int]] = {}
        if values:
            for name, value in values.items():
                quantity = self.register_map.quantities[name]
                point = self.register_map.points[quantity.point]
                result[point] = encode_point(point, value / quantity.factor, sf=self._sf(point), sunspec=self._sunspec)
            return result
        names = quantities or [name for name, q in self.register_map.quantities.items() if q.valid_range is not None]
        for name in names:
            quantity = self.register_map.quantities[name]
            point = self.register_map.points[quantity.point]
            if point.data_type.startswith("float"):
                result[point] = encode_point(point, 1e30, sunspec=self._sunspec)
                continue
            low, high = raw_limits(point, sunspec=self._sunspec)
            sf = self._sf(point)
            for raw in (high, low):
                for step in range(_MAX_ABSURD_SF_STEPS):
                    absurd = decode_quantity(quantity, raw * point.scale * 10.0 ** (sf + step))
                    if absurd is not None and not in_valid_range(quantity, absurd):
                        result[point] = encode_point(point, raw * point.scale, sunspec=self._sunspec)
                        if step and point.sf_point is not None:
                            sf_point = self.register_map.points[point.sf_point]
                            result[sf_point] = encode_point(sf_point, sf + step, sunspec=True)
                        break
                else:
                    continue
                break
        return result

    def _write(self, address: int, values: list[int]) -> ExcCodes | None:
        """Validate a client write (function code 6 or 16) and apply it to the image."""
        block = self._blocks["holding"]
        offset = address - block.base
        touched = [
            point
            for point in self.register_map.points.values()
            if point.writable and point.address < address + len(values) and address < point.address + point.size
        ]
        with self._lock:
            merged = list(block.regs)
            merged[offset : offset + len(values)] = values
        decoded: list[tuple[Point, float]] = []
        for point in touched:
            start = point.address - block.base
            value = decode_point(point, merged[start : start + point.size], sunspec=self._sunspec)
            if not isinstance(value, float) or (
                point.write_range is not None and not point.write_range[0] <= value <= point.write_range[1]
            ):
                logger.info("device %s: rejected write %s = %s", self.name, point.name, value)
                return ExcCodes.ILLEGAL_VALUE
            decoded.append((point, value))
        try:
            for point, value in decoded:
                if self.on_write is not None:
                    self.on_write(*self._write_name_value(point, value))
        except ValueError as err:
            logger.info("device %s: write rejected by its callback: %s", self.name, err)
            return ExcCodes.ILLEGAL_VALUE
        with self._lock:
            block.regs[offset : offset + len(values)] = values
        self.requests_served += 1
        return None

    def _write_name_value(self, point: Point, value: float) -> tuple[str, float]:
        for name, quantity in self.register_map.quantities.items():
            if quantity.point == point.name:
                return name, value * quantity.factor + 0.0
        return point.name, value
