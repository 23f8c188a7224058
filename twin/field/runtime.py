"""The simulated field at run time: devices on Modbus TCP, driven by the district's profiles.

:class:`Field` computes the year of the simulated start with the same models as the
scenarios (:func:`models.profiles.district_profiles` and the power flow of
:func:`models.grid.run_power_flow`), builds the devices of :func:`twin.field.layout.
field_layout` as :class:`connectors.SimulatedDevice` objects, serves them on 127.0.0.1
(one port per device; the household meters of a building behind one gateway port) in a
:class:`connectors.ServerLoopThread`, and advances simulated time with a simpy
``RealtimeEnvironment(factor=1/speed, strict=False)``.

Time and values
    Simulated time starts at ``start_utc`` (default: now, UTC, floored to the minute) and
    runs ``speed`` simulated seconds per wall second. Two simpy processes share the
    environment: the clock (every :data:`CLOCK_PERIOD_WALL_S` wall seconds, i.e. steps of
    ``speed x 0.1`` simulated seconds) publishes ``sim_time_s`` on the clock device, and
    the devices (every :data:`DEVICE_PERIOD_WALL_S` wall seconds, but never in steps below
    one simulated second: at speed 1 one step per simulated second, at speed 60 steps of
    30 simulated seconds) take their values from the 15-minute profiles. Power **holds**
    the profile's value over its quarter hour (profile values are means over
    ``[t, t + 15 min)``), so the energy counters integrate to exactly the profiles' energy;
    a step that crosses a quarter boundary is integrated piece by piece. Voltages come from
    the power flow at the device's bus, the frequency is 50 Hz.
Counters
    Import/export counters (meters, batteries), generation (inverters) and gas (gas meters)
    start at the energy of the calendar year up to the start plus :data:`BASE_READING_KWH`
    (a SunSpec accumulator at 0 would mean "not implemented"), and only grow. They live in
    the device objects, so they survive server restarts and keep counting while a server
    is down.
Year change
    The profiles are for the calendar year of the simulated time; when simulated time enters
    the next year, that year is computed (the simulation pauses for a few seconds and then
    catches up, as ``strict=False`` allows).
Community battery
    It follows the setpoint written to its ``p_setpoint`` register (load-positive in the
    twin, discharge-positive on the wire), limited to its rated power and, step by step,
    to what its SOC window allows; its power shows in the substation meter. Its effect
    on grid losses is neglected (it is not in the power flow).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self

import numpy as np
import numpy.typing as npt
import pandas as pd
import simpy
import simpy.rt
from pymodbus.constants import ExcCodes
from scipy import sparse

from connectors.device_server import DEFAULT_HOST, DeviceServer, ServerLoopThread
from connectors.maps import load_map
from connectors.simdevice import Fault, SimulatedDevice
from connectors.site import FieldClock, Site, SiteDevice, dump_site
from models.district import LoadedDistrict
from models.grid import lv_busbar, run_power_flow
from models.powerflow import PowerFlowOptions
from models.profiles import ProfileOptions, district_profiles, prepare_inputs
from twin.core.errors import ConfigError, ConnectorError
from twin.core.vocabulary import STEP_S
from twin.field.layout import COMMUNITY_BATTERY_ID, CommunityBattery, DeviceSpec, field_layout
from twin.field.plan import FaultEntry, FaultPlan

__all__ = [
    "BASE_READING_KWH",
    "CLOCK_PERIOD_WALL_S",
    "DEVICE_PERIOD_WALL_S",
    "Field",
    "FieldOptions",
    "default_start_utc",
    "parse_start_utc",
]

logger = logging.getLogger(__name__)

#: Wall time between two clock updates. [s]
CLOCK_PERIOD_WALL_S: Final[float] = 0.1
#: Wall time between two updates of the devices' values (steps are at least 1 simulated s). [s]
DEVICE_PERIOD_WALL_S: Final[float] = 0.5
#: Every energy counter reads this much more than the energy of its year so far. [kW h]
BASE_READING_KWH: Final[float] = 1.0
#: Phase-to-neutral voltage at 1 p.u. of a 400 V grid. [V]
V_PHASE_NOMINAL_V: Final[float] = 400.0 / 3.0**0.5
#: The community battery of a field unless told otherwise: 200 kWh, 100 kW at the LV busbar.
DEFAULT_COMMUNITY_BATTERY: Final[CommunityBattery] = CommunityBattery()


def default_start_utc() -> pd.Timestamp:
    """Now in UTC, floored to the minute (the default simulated start)."""
    return pd.Timestamp.now(tz="UTC").floor("min")


def parse_start_utc(text: str | None) -> pd.Timestamp | None:
    """Parse a simulated start (ISO 8601; naive times are UTC); None stays None.

    Raises
    ------
    ConfigError
        The text is not a time.
    """
    if text is None:
        return None
    try:
        stamp = pd.Timestamp(text)
    except (ValueError, TypeError) as err:
        raise ConfigError(f"{text!r} is not an ISO 8601 time, e.g. 2026-06-21T10:00:00Z", field="--start") from err
    if stamp is pd.NaT:
        raise ConfigError(f"{text!r} is not a time", field="--start")
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


@dataclass(frozen=True)
class FieldOptions:
    """How the field runs.

    Parameters
    ----------
    speed : float
        Simulated seconds per wall second (0 < speed <= 10000).
    start_utc : str or pandas.Timestamp, optional
        Simulated start; default :func:`default_start_utc`. Naive times are UTC.
    host : str
        Interface every server binds.
    seed : int
        Seed of the profiles (load variation, EV mobility).
    weather : str or pathlib.Path, optional
        Weather file; default the embedded DWD TRY2010 region 4.
    community_battery : CommunityBattery or None
        The community battery at the LV busbar; None for none.
    fault_plan : FaultPlan, optional
        Faults to play while the field runs.
    """

    speed: float = 1.0
    start_utc: str | pd.Timestamp | None = None
    host: str = DEFAULT_HOST
    seed: int = 0
    weather: str | Path | None = None
    community_battery: CommunityBattery | None = DEFAULT_COMMUNITY_BATTERY
    fault_plan: FaultPlan | None = None


@dataclass
class _Year:
    """The value table of one calendar year: sources (time x source), SOC and voltage."""

    year: int
    start_s: float  # UNIX time of 1 January 00:00 UTC
    sources: npt.NDArray[np.float32]
    soc: npt.NDArray[np.float32]
    vm_pu: npt.NDArray[np.float32]

    @property
    def n_steps(self) -> int:
        return int(self.sources.shape[0])


@dataclass
class _Live:
    """A served device: its spec, its registers, what its map has, and its server."""

    spec: DeviceSpec
    device: SimulatedDevice
    server: DeviceServer | None = None
    has_import: bool = False
    has_export: bool = False
    has_fuel: bool = False
    has_voltage: bool = False


class Field:
    """The simulated field of a district.

    Parameters
    ----------
    loaded : LoadedDistrict
        The district and its grid (:func:`models.district.load_district`).
    options : FieldOptions, optional
        Speed, start, host, seed, weather, community battery, fault plan.

    Examples
    --------
    >>> with Field(load_district("beucha"), FieldOptions(speed=60)) as field:  # doctest: +SKIP
    ...     field.write_site("site.yaml")
    ...     field.wait()
    """

    def __init__(self, loaded: LoadedDistrict, options: FieldOptions | None = None) -> None:
        self.loaded = loaded
        self.options = options or FieldOptions()
        if not 0 < self.options.speed <= 10000:
            raise ConfigError(f"speed {self.options.speed} is out of range (allowed: > 0 and <= 10000)", field="speed")
        start = pd.Timestamp(self.options.start_utc) if self.options.start_utc is not None else default_start_utc()
        self.start_utc = start.tz_localize("UTC") if start.tzinfo is None else start.tz_convert("UTC")
        self.start_s = self.start_utc.timestamp()
        self.speed = float(self.options.speed)
        self.devices: dict[str, _Live] = {}
        self.site: Site | None = None
        self._years: dict[int, _Year] = {}
        self._sources: list[str] = []
        self._weights: sparse.csr_array | None = None
        self._dense_weights: npt.NDArray[np.float64] | None = None
        self._soc_rows: list[tuple[int, int]] = []
        self._bus_of_device: npt.NDArray[np.int64] | None = None
        self._community_col = -1
        self._energy_import = np.zeros(0)
        self._energy_export = np.zeros(0)
        self._loop: ServerLoopThread | None = None
        self._servers: list[DeviceServer] = []
        self._clock: SimulatedDevice | None = None
        self._clock_server: DeviceServer | None = None
        self._sim_now_s = 0.0
        self._stop = threading.Event()
        self._sim_thread: threading.Thread | None = None
        self._timers: list[threading.Timer] = []
        self._faults: dict[str, str] = {}
        self._lock = threading.RLock()
        battery = self.options.community_battery
        self._cb = battery
        self._cb_setpoint_kw = 0.0
        self._cb_p_kw = 0.0
        self._cb_soc = battery.soc_start_frac if battery else 0.0

    # --- life cycle ---------------------------------------------------------------------

    def start(self) -> Site:
        """Compute the start's year, build and serve every device; return the site description.

        The simulated clock does not run yet: see :meth:`run` and :meth:`start_background`.

        Raises
        ------
        ConfigError
            A fault plan names a device the field does not have.
        ConnectorError
            A server cannot bind its port.
        """
        year = self.start_utc.year
        started = time.perf_counter()
        table, assets = self._compute_year(year)
        district = self.loaded.district
        busbar = str(self.loaded.net.bus.at[lv_busbar(self.loaded.net), "name"])
        specs = field_layout(district, assets, lv_busbar=busbar, community_battery=self._cb)
        self._index(specs, assets, table)
        self._years[year] = table
        if self.options.fault_plan is not None:
            self.options.fault_plan.check_devices(frozenset(self.devices))
        self._initial_values(table)
        self._serve()
        self.site = self._site()
        logger.info(
            "field of %s: %d devices on %d ports ready in %.1f s (start %s, speed %g)",
            district.name,
            len(self.devices),
            len(self._servers),
            time.perf_counter() - started,
            self.start_utc.isoformat(),
            self.speed,
        )
        return self.site

    def run(self) -> None:
        """Advance simulated time in real time until :meth:`stop` (blocks; call after :meth:`start`)."""
        if self.site is None:
            raise ConnectorError("the field is not started: call start() first")
        env = simpy.rt.RealtimeEnvironment(initial_time=0.0, factor=1.0 / self.speed, strict=False)
        done = env.event()
        env.process(self._clock_process(env, done))
        env.process(self._device_process(env))
        for entry in self.options.fault_plan.faults if self.options.fault_plan else ():
            env.process(self._fault_process(env, entry))
        env.run(until=done)

    def start_background(self) -> Site:
        """:meth:`start`, then :meth:`run` in a background thread."""
        site = self.start()
        self._sim_thread = threading.Thread(target=self._run_logged, name="twin-field-sim", daemon=True)
        self._sim_thread.start()
        return site

    def wait(self, timeout_s: float | None = None) -> bool:
        """Wait until the field stops (e.g. :meth:`stop` from a signal handler); True if it did."""
        return self._stop.wait(timeout_s)

    def stop(self) -> None:
        """Stop the simulated clock, the fault timers and every server; ports are free afterwards."""
        self._stop.set()
        with self._lock:
            timers, self._timers = self._timers, []
        for timer in timers:
            timer.cancel()
        if self._sim_thread is not None and self._sim_thread is not threading.current_thread():
            self._sim_thread.join(10.0)
        loop, self._loop = self._loop, None
        if loop is not None:
            servers = [*self._servers, *([self._clock_server] if self._clock_server else [])]
            try:
                loop.run(_stop_all(servers))
            finally:
                loop.stop()
        logger.info("field stopped")

    def __enter__(self) -> Self:
        self.start_background()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def write_site(self, path: str | Path) -> Path:
        """Write the site file (atomically) and return its path."""
        if self.site is None:
            raise ConnectorError("the field is not started: call start() first")
        return dump_site(self.site, path)

    # --- what the field shows -----------------------------------------------------------

    @property
    def sim_time_s(self) -> float:
        """Simulated time of the devices' values as UNIX time [s]."""
        return self.start_s + self._sim_now_s

    def expected(self, device_id: str, sim_time_s: float) -> dict[str, float]:
        """The values a device shows at a simulated time (without counters), for tests and checks.

        Parameters
        ----------
        device_id : str
            A device id of the site file.
        sim_time_s : float
            UNIX time within a computed year. [s]

        Returns
        -------
        values : dict
            The power quantity (twin sign), ``soc_frac`` and ``v_l1_v`` where the device has them.
        """
        live = self.devices[device_id]
        index = list(self.devices).index(device_id)
        table, step = self._step_of(sim_time_s)
        power = self._power(table, step, self._cb_p_kw)
        values: dict[str, float] = {}
        if live.spec.power_quantity is not None:
            values[live.spec.power_quantity] = float(power[index])
        for dev, col in self._soc_rows:
            if dev == index:
                values["soc_frac"] = float(table.soc[step, col])
        if live.has_voltage and self._bus_of_device is not None:
            values["v_l1_v"] = float(table.vm_pu[step, self._bus_of_device[index]]) * V_PHASE_NOMINAL_V
        return values

    # --- faults -------------------------------------------------------------------------

    def inject(
        self, device_id: str, fault: str, *, duration_s: float | None = None, exception_code: int | None = None
    ) -> None:
        """Start a fault on a device now (thread-safe).

        Parameters
        ----------
        device_id : str
            A device id of the site file.
        fault : str
            ``stop``, ``hang``, ``exception``, ``not_implemented``, ``absurd`` or ``restart``
            (:mod:`twin.field.plan`).
        duration_s : float, optional
            Wall seconds until it ends by itself (restart: time down, default 2 s); none:
            until :meth:`clear_fault`.
        exception_code : int, optional
            Modbus exception code of ``exception`` (default 4).
        """
        if device_id not in self.devices:
            raise ConfigError(f"no device {device_id!r} in the field", field="device")
        entry = FaultEntry(device=device_id, fault=fault, duration_s=duration_s, exception_code=exception_code)  # type: ignore[arg-type]
        self._begin(entry)
        down_s = entry.down_s
        if down_s is not None:
            timer = threading.Timer(down_s, self._end, args=(entry,))
            timer.daemon = True
            with self._lock:
                self._timers.append(timer)
            timer.start()

    def clear_fault(self, device_id: str) -> None:
        """End a device's fault: it answers normally again (a stopped server starts again)."""
        fault = self._faults.get(device_id)
        if fault is not None:
            self._end(FaultEntry(device=device_id, fault=fault))  # type: ignore[arg-type]

    def restart(self, device_id: str, *, down_s: float = 2.0) -> None:
        """Restart a device's server on the same port after ``down_s`` wall seconds."""
        self.inject(device_id, "restart", duration_s=down_s)

    @property
    def faults(self) -> dict[str, str]:
        """Devices with a fault in effect and the fault."""
        return dict(self._faults)

    # --- building -----------------------------------------------------------------------

    def _compute_year(self, year: int) -> tuple[_Year, Any]:
        """Profiles and power flow of a calendar year, as a value table."""
        district = self.loaded.district
        started = time.perf_counter()
        inputs = prepare_inputs(district, weather=self.options.weather, year=year)
        profiles = district_profiles(district, inputs, ProfileOptions(year=year, seed=self.options.seed))
        assets = profiles.assets
        logger.info("profiles of %d ready in %.1f s", year, time.perf_counter() - started)
        # both cores: at the start nothing else runs yet, and at a year change the clock waits for it
        threads = max(1, min(2, os.cpu_count() or 1))
        grid = run_power_flow(
            self.loaded.net, assets, district.reactive_power, options=PowerFlowOptions(threads=threads)
        )
        logger.info("power flow of %d ready in %.1f s", year, time.perf_counter() - started)
        kinds = assets["kind"].to_numpy().astype(str)
        p_kw = assets["p_kw"].to_numpy()
        gas = np.flatnonzero(kinds == "gas_boiler")
        n_steps = p_kw.shape[0]
        sources = np.zeros((n_steps, p_kw.shape[1] + gas.size + 2), dtype=np.float32)
        sources[:, : p_kw.shape[1]] = p_kw
        sources[:, p_kw.shape[1] : p_kw.shape[1] + gas.size] = assets["p_fuel_kw"].to_numpy()[:, gas]
        sources[:, -2] = grid["p_grid_kw"].to_numpy()
        batteries = np.flatnonzero(kinds == "battery")
        soc = np.nan_to_num(assets["soc_frac"].to_numpy()[:, batteries])
        if not self._sources:
            names = [str(name) for name in assets["asset"].values]
            self._sources = [
                *(f"p:{name}" for name in names),
                *(f"fuel:{names[i]}" for i in gas),
                "grid",
                "community",
            ]
            self._battery_cols = {names[i]: col for col, i in enumerate(batteries)}
            self._bus_cols = {str(name): col for col, name in enumerate(grid["bus_name"].values)}
        start_s = pd.Timestamp(year=year, month=1, day=1, tz="UTC").timestamp()
        vm_pu = grid["vm_pu"].to_numpy().astype(np.float32)
        return _Year(year, start_s, sources, soc.astype(np.float32), vm_pu), assets

    def _index(self, specs: list[DeviceSpec], assets: Any, table: _Year) -> None:
        """Devices, the weight matrix sources -> devices, and the other per-device lookups."""
        column = {name: index for index, name in enumerate(self._sources)}
        self._community_col = column["community"]
        rows, cols, weights = [], [], []
        bus_of_device = []
        for index, spec in enumerate(specs):
            for source, weight in spec.power:
                rows.append(column[source])
                cols.append(index)
                weights.append(weight)
            if spec.soc_asset is not None:
                self._soc_rows.append((index, self._battery_cols[spec.soc_asset]))
            bus_of_device.append(self._bus_cols.get(spec.bus or "", 0))
            self.devices[spec.id] = self._live(spec)
        shape = (len(self._sources), len(specs))
        self._weights = sparse.csr_array((weights, (rows, cols)), shape=shape)
        self._dense_weights = self._weights.toarray()
        self._bus_of_device = np.asarray(bus_of_device, dtype=np.int64)

    def _live(self, spec: DeviceSpec) -> _Live:
        register_map = load_map(spec.map_name)
        quantities = register_map.quantities
        on_write = self._on_setpoint if spec.id == COMMUNITY_BATTERY_ID else None
        device = SimulatedDevice(
            register_map, unit_id=spec.unit_id, name=spec.id, static=spec.static, on_write=on_write
        )
        if "frequency_hz" in quantities:
            device.set_quantities({"frequency_hz": 50.0})
        if "capacity_kwh" in quantities and spec.capacity_kwh is not None:
            device.set_quantities({"capacity_kwh": spec.capacity_kwh})
        return _Live(
            spec,
            device,
            has_import="energy_import_kwh" in quantities,
            has_export="energy_export_kwh" in quantities,
            has_fuel="energy_fuel_kwh" in quantities,
            has_voltage="v_l1_v" in quantities,
        )

    def _initial_values(self, table: _Year) -> None:
        """Counters at the start: the year's energy so far plus the base reading."""
        assert self._weights is not None
        n = len(self.devices)
        self._energy_import = np.full(n, BASE_READING_KWH)
        self._energy_export = np.full(n, BASE_READING_KWH)
        offset_s = self.start_s - table.start_s
        whole = int(offset_s // STEP_S)
        dt_h = STEP_S / 3600.0
        transposed = self._weights.T.tocsr()
        for first in range(0, whole, 4096):
            chunk = table.sources[first : min(whole, first + 4096)].astype(np.float64)
            chunk[:, self._community_col] = 0.0
            power = (transposed @ chunk.T).T
            self._energy_import += np.clip(power, 0.0, None).sum(axis=0) * dt_h
            self._energy_export += np.clip(-power, 0.0, None).sum(axis=0) * dt_h
        if offset_s > whole * STEP_S:
            self._integrate(table, whole, (offset_s - whole * STEP_S) / 3600.0, 0.0)
        self._sim_now_s = 0.0
        self._cb_p_kw = self._community_power(DEVICE_PERIOD_WALL_S * self.speed)
        self._publish()

    def _serve(self) -> None:
        """Start the servers: one per device, one per gateway, one for the clock."""
        host = self.options.host
        groups: dict[str, list[_Live]] = {}
        for live in self.devices.values():
            groups.setdefault(live.spec.gateway or live.spec.id, []).append(live)
        self._servers = []
        for key, members in groups.items():
            server = DeviceServer([m.device for m in members], host=host, name=key)
            for member in members:
                member.server = server
            self._servers.append(server)
        self._clock = SimulatedDevice(load_map("field_clock"), name="field clock")
        self._clock.set_quantities({"sim_start_s": self.start_s, "speed_factor": self.speed})
        self._publish_clock()
        self._clock_server = DeviceServer([self._clock], host=host, name="field clock")
        self._loop = ServerLoopThread(name="twin-device-servers-field")
        self._loop.start()
        try:
            self._loop.run(_start_all([*self._servers, self._clock_server]), timeout_s=60.0)
        except BaseException:
            self.stop()
            raise

    def _site(self) -> Site:
        assert self._clock_server is not None
        devices = []
        for live in self.devices.values():
            spec, server = live.spec, live.server
            assert server is not None
            devices.append(
                SiteDevice(
                    id=spec.id,
                    kind=spec.kind,  # type: ignore[arg-type]
                    building=spec.building,
                    bus=spec.bus,
                    host=server.host,
                    port=server.port,
                    unit_id=spec.unit_id,
                    map=spec.map_name,
                    capacity_kwh=spec.capacity_kwh,
                    p_rated_kw=spec.p_rated_kw,
                    p_peak_kw=spec.p_peak_kw,
                )
            )
        return Site(
            name=f"{self.loaded.district.name} (simulated field)",
            start_utc=self.start_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
            speed=self.speed,
            timezone=self.loaded.district.location.timezone,
            clock=FieldClock(host=self._clock_server.host, port=self._clock_server.port),
            devices=tuple(devices),
        )

    # --- simulation ---------------------------------------------------------------------

    def _run_logged(self) -> None:
        try:
            self.run()
        except Exception:
            logger.exception("the field's simulation stopped with an error")
            self._stop.set()

    def _clock_process(self, env: simpy.rt.RealtimeEnvironment, done: simpy.Event) -> Generator[simpy.Event, Any, None]:
        step_s = CLOCK_PERIOD_WALL_S * self.speed
        while not self._stop.is_set():
            yield env.timeout(step_s)
            self._publish_clock(float(env.now))
        done.succeed()

    def _device_process(self, env: simpy.rt.RealtimeEnvironment) -> Generator[simpy.Event, Any, None]:
        step_s = max(1.0, DEVICE_PERIOD_WALL_S * self.speed)
        while True:
            yield env.timeout(step_s)
            self._advance(float(env.now))

    def _fault_process(self, env: simpy.rt.RealtimeEnvironment, entry: FaultEntry) -> Generator[simpy.Event, Any, None]:
        scale = 1.0 if entry.clock == "simulated" else self.speed
        yield env.timeout(entry.at_s * scale)
        self._begin(entry)
        if entry.down_s is not None:
            yield env.timeout(entry.down_s * scale)
            self._end(entry)

    def _advance(self, now_s: float) -> None:
        """Integrate the counters from the last step to ``now_s`` and publish the values."""
        t = self._sim_now_s
        while t < now_s:
            table, step = self._step_of(self.start_s + t)
            boundary_s = table.start_s + (step + 1) * STEP_S - self.start_s
            until = min(now_s, boundary_s)
            self._integrate(table, step, (until - t) / 3600.0, self._cb_p_kw)
            t = until
        self._sim_now_s = now_s
        self._cb_p_kw = self._community_power(max(1.0, DEVICE_PERIOD_WALL_S * self.speed))
        self._publish()

    def _integrate(self, table: _Year, step: int, dt_h: float, p_cb_kw: float) -> None:
        power = self._power(table, step, p_cb_kw)
        self._energy_import += np.clip(power, 0.0, None) * dt_h
        self._energy_export += np.clip(-power, 0.0, None) * dt_h
        if self._cb is not None and p_cb_kw:
            cb = self._cb
            charge, discharge = max(p_cb_kw, 0.0), max(-p_cb_kw, 0.0)
            self._cb_soc += (charge * cb.efficiency_frac - discharge / cb.efficiency_frac) * dt_h / cb.capacity_kwh
            self._cb_soc = min(max(self._cb_soc, 0.0), 1.0)

    def _power(self, table: _Year, step: int, p_cb_kw: float) -> npt.NDArray[np.float64]:
        assert self._dense_weights is not None
        row = table.sources[step].astype(np.float64)
        row[self._community_col] = p_cb_kw
        return row @ self._dense_weights

    def _community_power(self, step_s: float) -> float:
        """The community battery's power for the next step: setpoint within power and SOC limits."""
        cb = self._cb
        if cb is None:
            return 0.0
        p_kw = min(max(self._cb_setpoint_kw, -cb.p_rated_kw), cb.p_rated_kw)
        dt_h = step_s / 3600.0
        if p_kw > 0:
            room_kwh = max(cb.soc_max_frac - self._cb_soc, 0.0) * cb.capacity_kwh
            p_kw = min(p_kw, room_kwh / cb.efficiency_frac / dt_h)
        elif p_kw < 0:
            stored_kwh = max(self._cb_soc - cb.soc_min_frac, 0.0) * cb.capacity_kwh
            p_kw = max(p_kw, -stored_kwh * cb.efficiency_frac / dt_h)
        return p_kw

    def _on_setpoint(self, name: str, value: float) -> None:
        if name == "p_setpoint_kw":
            self._cb_setpoint_kw = value
            logger.info("community battery: setpoint %.1f kW (load-positive)", value)

    def _step_of(self, sim_time_s: float) -> tuple[_Year, int]:
        """The value table and the quarter-hour step that hold a simulated time."""
        year = pd.Timestamp(sim_time_s, unit="s", tz="UTC").year
        table = self._years.get(year)
        if table is None:
            logger.info("simulated time entered %d: computing its profiles", year)
            table, _ = self._compute_year(year)
            self._years = {year: table}
        step = int((sim_time_s - table.start_s) // STEP_S)
        return table, min(max(step, 0), table.n_steps - 1)

    def _publish(self) -> None:
        """Set every device's values at the current simulated time."""
        table, step = self._step_of(self.start_s + self._sim_now_s)
        power = self._power(table, step, self._cb_p_kw)
        soc = dict(self._soc_rows)
        assert self._bus_of_device is not None
        voltage = table.vm_pu[step, self._bus_of_device].astype(np.float64) * V_PHASE_NOMINAL_V
        for index, live in enumerate(self.devices.values()):
            values: dict[str, float] = {}
            if live.spec.power_quantity is not None:
                values[live.spec.power_quantity] = float(power[index])
            if live.has_import:
                values["energy_import_kwh"] = float(self._energy_import[index])
            if live.has_export:
                values["energy_export_kwh"] = float(self._energy_export[index])
            if live.has_fuel:
                values["energy_fuel_kwh"] = float(self._energy_import[index])
            if live.has_voltage:
                values["v_l1_v"] = float(voltage[index])
            if index in soc:
                values["soc_frac"] = float(table.soc[step, soc[index]])
            if live.spec.id == COMMUNITY_BATTERY_ID:
                values["soc_frac"] = self._cb_soc
            live.device.set_quantities(values)

    def _publish_clock(self, now_s: float = 0.0) -> None:
        if self._clock is not None:
            self._clock.set_quantities({"sim_time_s": self.start_s + now_s})

    # --- faults -------------------------------------------------------------------------

    def _begin(self, entry: FaultEntry) -> None:
        live = self.devices[entry.device]
        fault = entry.fault
        logger.info("fault %s on %s", fault, entry.device)
        with self._lock:
            self._faults[entry.device] = fault
        if live.spec.gateway is not None and fault in ("stop", "hang", "restart"):
            # a gateway answers for a silent unit behind it
            live.device.inject(Fault.EXCEPTION, exception_code=ExcCodes.GATEWAY_NO_RESPONSE)
        elif fault in ("stop", "restart"):
            self._server_call(live, "stop")
        elif fault == "exception":
            live.device.inject(Fault.EXCEPTION, exception_code=entry.exception_code or ExcCodes.DEVICE_FAILURE)
        else:
            live.device.inject(Fault(fault))

    def _end(self, entry: FaultEntry) -> None:
        live = self.devices[entry.device]
        with self._lock:
            if self._faults.get(entry.device) != entry.fault:
                return
            del self._faults[entry.device]
        logger.info("fault %s on %s ends", entry.fault, entry.device)
        if entry.fault in ("stop", "restart") and live.spec.gateway is None:
            self._server_call(live, "start")
        else:
            live.device.clear_fault()

    def _server_call(self, live: _Live, action: str) -> None:
        if self._loop is None or live.server is None or self._stop.is_set():
            return
        server = live.server
        self._loop.run(server.stop() if action == "stop" else _start_quietly(server))


async def _start_all(servers: list[DeviceServer]) -> None:
    await asyncio.gather(*(server.start() for server in servers))


async def _stop_all(servers: list[DeviceServer]) -> None:
    await asyncio.gather(*(server.stop() for server in servers), return_exceptions=True)


async def _start_quietly(server: DeviceServer) -> None:
    try:
        await server.start()
    except ConnectorError as err:
        logger.warning("%s", err)
