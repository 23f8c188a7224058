"""The simulated field at run time: the value model, the servers and the faults on one simulated clock.

:class:`Field` composes :class:`twin.field.values.ValueModel` (the district's year, the
devices' values and counters, the community battery), :class:`twin.field.servers.
FieldServers` (the devices of :func:`twin.field.layout.field_layout` on Modbus TCP and the
field clock) and :class:`twin.field.faults.FaultPlayer`, and advances simulated time with a
simpy ``RealtimeEnvironment(factor=1/speed, strict=False)``.

Time and values
    Simulated time starts at ``start_utc`` (default: now, UTC, floored to the minute) and
    runs ``speed`` simulated seconds per wall second. Two simpy processes share the
    environment: the clock (every :data:`CLOCK_PERIOD_WALL_S` wall seconds, i.e. steps of
    ``speed x 0.1`` simulated seconds) publishes ``sim_time_s`` on the clock device, and
    the devices (every :data:`DEVICE_PERIOD_WALL_S` wall seconds, but never in steps below
    one simulated second: at speed 1 one step per simulated second, at speed 60 steps of
    30 simulated seconds) take their values from the 15-minute profiles
    (:mod:`twin.field.values`). Voltages come from the power flow at the device's bus, the
    frequency is 50 Hz.
Counters
    Import/export counters (meters, batteries), generation (inverters) and gas (gas meters)
    start at the energy of the calendar year up to the start plus
    :data:`twin.field.values.BASE_READING_KWH` (a SunSpec accumulator at 0 would mean "not
    implemented"), and only grow. Their last values live in the device objects, so they
    survive server restarts and keep counting while a server is down.
Year change
    The profiles are for the calendar year of the simulated time; when simulated time enters
    the next year, that year is computed (the simulation pauses for a few seconds and then
    catches up, as ``strict=False`` allows).
Community battery
    It follows the setpoint written to its ``p_setpoint`` register (load-positive in the
    twin, discharge-positive on the wire), limited to its rated power and, step by step,
    to what its SOC window allows (the strategy ``follow_setpoint`` of
    :mod:`models.control.battery`); its power shows in the substation meter. Its effect on
    grid losses is neglected (it is not in the power flow).
Buildings' devices
    Heat pumps, wallboxes and home batteries act on the controller signal as the ``control:``
    block says (:mod:`twin.field.control`), on the field's own signal or on the live twin's
    controller registers (:meth:`Field.follow_controller`); an external controller takes a
    wallbox over through its registers. The meter history before the start is uncontrolled.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self

import numpy as np
import pandas as pd
import simpy
import simpy.rt
import xarray as xr

from connectors.device_server import DEFAULT_HOST
from connectors.site import Site, dump_site
from models.battery import BatteryUnit
from models.district import LoadedDistrict
from models.district_factors import DistrictFactors, apply_factors
from models.grid import lv_busbar
from scenarios.records import Control
from twin.core.errors import ConfigError, ConnectorError
from twin.core.times import parse_start_utc as parse_utc_start
from twin.field.control import FieldControl, SignalSource
from twin.field.faults import FaultPlayer
from twin.field.history import HISTORY_METER_KINDS, History, history_end_s, write_history
from twin.field.layout import COMMUNITY_BATTERY_ID, DEFAULT_COMMUNITY_BATTERY, DeviceSpec, field_layout
from twin.field.perturbation import Perturbation
from twin.field.plan import FaultPlan
from twin.field.servers import FieldServers, ServedDevice
from twin.field.signal_client import SignalClient
from twin.field.station import STATION_KIND, station_history_path, write_station_history
from twin.field.truth import TruthWriter
from twin.field.values import BASE_READING_KWH, ValueModel

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


def default_start_utc() -> pd.Timestamp:
    """Now in UTC, floored to the minute (the default simulated start)."""
    return pd.Timestamp.now(tz="UTC").floor("min")


def parse_start_utc(text: str | None) -> pd.Timestamp | None:
    """Parse a simulated start (ISO 8601; without an offset UTC; :func:`twin.core.times.parse_start_utc`).

    None stays None.

    Raises
    ------
    ConfigError
        The text is not a time of the years 1990 to 2099.
    """
    if text is None:
        return None
    return pd.Timestamp(parse_utc_start(text))


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
    community_battery : models.battery.BatteryUnit or None
        The community battery at the LV busbar; None for none. Default
        :data:`twin.field.layout.DEFAULT_COMMUNITY_BATTERY`.
    fault_plan : FaultPlan, optional
        Faults to play while the field runs.
    truth_path : str or pathlib.Path, optional
        Truth file to write while the field runs (:mod:`twin.field.truth`): the true energy
        of every device and boundary per quarter hour.
    history_path : str or pathlib.Path, optional
        Meter history file that :meth:`Field.start` writes before the clock runs
        (:mod:`twin.field.history`): 15-minute data of the meters from 1 January to the start.
    hold_clock : bool
        Hold simulated time at the start until a client first reads the clock device (the
        live twin then sees the field from its start on, and nothing is lost between a
        back-filled history and the first live quarter).
    perturbation : Perturbation, optional
        The field's hidden reality (:mod:`twin.field.perturbation`): the devices, their
        counters, the truth and the meter history follow the district with its factors (the
        PV factors from its ``pv_from_utc`` on); the site file keeps the district's ratings.
    weather_station : bool
        Whether the field has a weather station (:mod:`twin.field.station`).
    control : scenarios.records.Control, optional
        What the buildings' heat pumps, wallboxes and home batteries do with the signal (the
        scenarios' ``control:`` block); default: nothing (they follow their profiles; a wallbox
        can still be taken over).
    signal : {"direct", "twin"}
        ``direct``: the field computes the signal itself; ``twin``: it reads the live twin's
        controller registers (:meth:`Field.follow_controller`; ``twin`` whenever ``controller`` is given).
    controller : tuple of (str, int), optional
        The live twin's controller server to follow from the start (``signal="twin"``).
    """

    speed: float = 1.0
    start_utc: str | pd.Timestamp | None = None
    host: str = DEFAULT_HOST
    seed: int = 0
    weather: str | Path | None = None
    community_battery: BatteryUnit | None = DEFAULT_COMMUNITY_BATTERY
    fault_plan: FaultPlan | None = None
    truth_path: str | Path | None = None
    history_path: str | Path | None = None
    hold_clock: bool = False
    perturbation: Perturbation | None = None
    weather_station: bool = True
    control: Control | None = None
    signal: SignalSource = "direct"
    controller: tuple[str, int] | None = None


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
        self.site: Site | None = None
        perturbation = self.options.perturbation
        self.values = ValueModel(
            _perturbed(loaded, perturbation.factors if perturbation else None),
            start_s=self.start_s,
            weather=self.options.weather,
            seed=self.options.seed,
            community_battery=self.options.community_battery,
        )
        if perturbation is not None and perturbation.pv_from_utc is not None and perturbation.factors.pv:
            early = DistrictFactors(perturbation.factors.household_electricity, perturbation.factors.space_heat)
            self.values.until = (perturbation.pv_from_s() or 0.0, _perturbed(loaded, early).district)
        self.servers = FieldServers(host=self.options.host, start_s=self.start_s, speed=self.speed)
        self._stop = threading.Event()
        self._faults = FaultPlayer(self.servers, self._stop)
        self._sim_thread: threading.Thread | None = None
        self.truth: TruthWriter | None = None
        self.control: FieldControl | None = None
        self._signal_client: SignalClient | None = None

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
        started = time.perf_counter()
        specs = self._build()
        district = self.loaded.district
        if self.options.history_path is not None:
            history = self.write_history(self.options.history_path)
            logger.info("meter history %s (%.1f s)", history.describe(), time.perf_counter() - started)
        if self.options.truth_path is not None:
            self.truth = TruthWriter(self.options.truth_path, specs)
            self.values.on_quarter = self.truth.quarter
            if self.control is not None:
                self.truth.signal_states = self.control.quarter_states
                self.truth.trafo_loading = self.control.quarter_trafo_loading_percent
        if self.options.fault_plan is not None:
            self.options.fault_plan.check_devices(frozenset(self.servers.devices))
        self.values.start_counters(DEVICE_PERIOD_WALL_S * self.speed)
        self.servers.publish(self.values.values())
        self.servers.serve()
        if self.options.controller is not None:
            self.follow_controller(*self.options.controller)
        self.site = self.servers.site(
            name=f"{district.name} (simulated field)",
            start_utc=self.start_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
            timezone=district.location.timezone,
        )
        logger.info(
            "field of %s: %d devices on %d ports ready in %.1f s (start %s, speed %g)",
            district.name,
            len(specs),
            self.servers.n_ports,
            time.perf_counter() - started,
            self.start_utc.isoformat(),
            self.speed,
        )
        return self.site

    def _build(self) -> list[DeviceSpec]:
        """Compute the start's year, build every device (not served yet) and index their values."""
        if self.servers.devices:
            return [served.spec for served in self.servers.devices.values()]
        perturbation = self.options.perturbation
        year_assets = self.values.first_year()
        assets = _nominal_ratings(year_assets, perturbation.factors if perturbation else None)
        busbar = str(self.loaded.net.bus.at[lv_busbar(self.loaded.net), "name"])
        specs = field_layout(
            self.loaded.district,
            assets,
            lv_busbar=busbar,
            community_battery=self.options.community_battery,
            weather_station=self.options.weather_station,
        )
        first = self.values.step_of(self.start_s)[0]
        self.control = FieldControl(
            self.options.control,
            year_assets,
            first.heat_kw,
            self.loaded.district,
            self.loaded.net,
            self.loaded.district.reactive_power,
            source="twin" if self.options.controller is not None else self.options.signal,
        )
        self.values.control = self.control
        if first.grid is not None:
            self.control.shape_grid = first.grid.isel(time=[0])
        served = [self.servers.add(spec, self._on_write(spec)) for spec in specs]
        self.values.index(specs, [s.quantities for s in served])
        for spec, device in zip(specs, served, strict=True):
            if "control_mode" in device.quantities:
                self.control.add_charger(spec.id, self.values.asset_columns(spec), _wallbox_rating_kw(spec))
        return specs

    def _on_write(self, spec: DeviceSpec) -> Callable[[str, float], None] | None:
        if spec.id == COMMUNITY_BATTERY_ID:
            return self._on_setpoint
        if spec.kind != "ev_charger_meter":
            return None
        control = self.control
        assert control is not None
        return lambda name, value: control.on_wallbox_write(spec.id, name, value)

    def follow_controller(self, host: str, port: int) -> None:
        """Follow the live twin's signal from its controller server (``host``:``port``) from now on.

        The buildings' devices then act on each building's ``sg_ready_state`` and
        ``p_limit_14a_kw`` register instead of the field's own signal.
        """
        if self.control is None:
            raise ConnectorError("the field is not started: call start() first")
        if self._signal_client is not None:
            self._signal_client.stop()
        self.control.source = "twin"
        self._signal_client = SignalClient(self.control, host, port)
        self._signal_client.start()

    def run(self) -> None:
        """Advance simulated time in real time until :meth:`stop` (blocks; call after :meth:`start`)."""
        if self.site is None:
            raise ConnectorError("the field is not started: call start() first")
        while self.options.hold_clock and not self.servers.clock_read and not self._stop.is_set():
            self._stop.wait(CLOCK_PERIOD_WALL_S / 2)
        if self._stop.is_set():
            return
        env = simpy.rt.RealtimeEnvironment(initial_time=0.0, factor=1.0 / self.speed, strict=False)
        done = env.event()
        env.process(self._clock_process(env, done))
        env.process(self._device_process(env))
        for entry in self.options.fault_plan.faults if self.options.fault_plan else ():
            env.process(self._faults.process(env, entry, self.speed))
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
        self._faults.cancel_timers()
        if self._signal_client is not None:
            self._signal_client.stop()
        if self._sim_thread is not None and self._sim_thread is not threading.current_thread():
            self._sim_thread.join(10.0)
        self.servers.stop()
        if self.truth is not None:
            self.truth.close()
        logger.info("field stopped")

    def __enter__(self) -> Self:
        self.start_background()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def write_history(self, path: str | Path) -> History:
        """Write the meter history from 1 January (UTC) to the start (:mod:`twin.field.history`).

        The building meters', the substation meter's and the gas meters' 15-minute energy as
        ``twin import`` takes it, and their readings at the end (the start floored to the quarter hour).
        A field with a weather station writes what it measured in those quarters beside it
        (:func:`twin.field.station.station_history_path`). Computes the start's year first if
        :meth:`start` has not; serves nothing.
        """
        self._build()
        ids = list(self.servers.devices)
        meters = [i for i, d in self.servers.devices.items() if d.spec.kind in HISTORY_METER_KINDS]
        end_s = history_end_s(self.start_s)
        starts_s, import_kwh, export_kwh = self.values.quarter_energies([ids.index(m) for m in meters], end_s)
        stations = [i for i, d in self.servers.devices.items() if d.spec.kind == STATION_KIND]
        for station in stations:
            quarters, table = self.values.station_quarters(end_s)
            written = write_station_history(station_history_path(path), device=station, starts_s=quarters, table=table)
            logger.info("weather station history: %d quarter-hours in %s", quarters.size, written)
        return write_history(
            path,
            meters=meters,
            starts_s=starts_s,
            import_kwh=import_kwh,
            export_kwh=export_kwh,
            end_s=end_s,
            base_kwh=BASE_READING_KWH,
            gas=frozenset(m for m in meters if self.servers.devices[m].spec.kind == "gas_meter"),
        )

    def write_site(self, path: str | Path) -> Path:
        """Write the site file (atomically) and return its path."""
        if self.site is None:
            raise ConnectorError("the field is not started: call start() first")
        return dump_site(self.site, path)

    # --- what the field shows -----------------------------------------------------------

    @property
    def devices(self) -> dict[str, ServedDevice]:
        """The served devices by id, in site-file order."""
        return self.servers.devices

    @property
    def sim_time_s(self) -> float:
        """Simulated time of the devices' values as UNIX time [s]."""
        return self.start_s + self.values.now_s

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
        return self.values.expected(list(self.servers.devices).index(device_id), sim_time_s)

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

        Raises
        ------
        ConfigError
            The field has no such device.
        """
        self._faults.inject(device_id, fault, duration_s=duration_s, exception_code=exception_code)

    def clear_fault(self, device_id: str) -> None:
        """End a device's fault: it answers normally again (a stopped server starts again)."""
        self._faults.clear(device_id)

    def restart(self, device_id: str, *, down_s: float = 2.0) -> None:
        """Restart a device's server on the same port after ``down_s`` wall seconds."""
        self.inject(device_id, "restart", duration_s=down_s)

    @property
    def faults(self) -> dict[str, str]:
        """Devices with a fault in effect and the fault."""
        return self._faults.faults

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
            self.servers.publish_clock(self.start_s + float(env.now))
        done.succeed()

    def _device_process(self, env: simpy.rt.RealtimeEnvironment) -> Generator[simpy.Event, Any, None]:
        step_s = max(1.0, DEVICE_PERIOD_WALL_S * self.speed)
        while True:
            yield env.timeout(step_s)
            self.values.advance(float(env.now), step_s)
            self.servers.publish(self.values.values())

    def _on_setpoint(self, name: str, value: float) -> None:
        battery = self.values.battery
        if name == "p_setpoint_kw" and battery is not None:
            battery.setpoint_kw = value
            logger.info("community battery: setpoint %.1f kW (load-positive)", value)


def _wallbox_rating_kw(spec: DeviceSpec) -> float:
    """A charging point's rated power [kW]: its own, else 11 kW (a socket's charger)."""
    return spec.p_rated_kw if spec.p_rated_kw is not None and spec.p_rated_kw > 0 else 11.0


def _perturbed(loaded: LoadedDistrict, factors: DistrictFactors | None) -> LoadedDistrict:
    """The district the devices follow: with the perturbation's factors applied, if any."""
    if factors is None or factors.is_empty():
        return loaded
    district = apply_factors(loaded.district, factors, file="perturbation")
    return LoadedDistrict(district=district, net=loaded.net, source=loaded.source)


def _nominal_ratings(assets: xr.Dataset, factors: DistrictFactors | None) -> xr.Dataset:
    """The assets with the district file's PV peak powers (a perturbed PV system keeps its rating)."""
    if factors is None or not factors.pv:
        return assets
    names = [str(name) for name in assets["asset"].values]
    peak = assets["p_peak_kw"].to_numpy().astype(np.float64)
    divisor = np.array([factors.pv.get(name, 1.0) for name in names])
    return assets.assign_coords(p_peak_kw=("asset", peak / divisor))
