"""The simulated field's values: year tables, what each device measures, counters, community battery.

:class:`ValueModel` computes the calendar year of a simulated time with the same models as
the scenarios (:func:`models.profiles.district_profiles` and the power flow of
:func:`models.grid.run_power_flow`) as a value table (time x source, see
:mod:`twin.field.layout`), maps sources to devices with a weight matrix, and integrates
the devices' energy counters as simulated time advances. Power **holds** the profile's
value over its quarter hour (profile values are means over ``[t, t + 15 min)``), so the
counters integrate to exactly the profiles' energy; a step that crosses a quarter
boundary is integrated piece by piece. Voltages come from the power flow at the device's
bus. The weather station shows the year's weather at the same step (:mod:`twin.field.station`).
When simulated time enters the next year, that year is computed.

The community battery follows the setpoint written to it within its rated power and
its SOC window with the ``follow_setpoint`` strategy of :mod:`models.control.battery` and
:func:`models.battery.advance_soc` (one :class:`models.battery.BatteryUnit` record).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd
import xarray as xr
from scipy import sparse

from models.battery import BatteryUnit, advance_soc
from models.control.battery import battery_strategy
from models.control.year import MeasuredGrid, measured_grid
from models.district import District, LoadedDistrict
from models.grid import run_power_flow
from models.powerflow import PowerFlowOptions
from models.profiles import ProfileOptions, district_profiles, prepare_inputs
from twin.core.vocabulary import STEP_S
from twin.field.control import FieldControl, GridStep
from twin.field.layout import COMMUNITY, COMMUNITY_BATTERY_ID, GRID, AssetFuel, AssetPower, DeviceSpec, Source
from twin.field.station import STATION_KIND, STATION_QUANTITIES, station_table

__all__ = [
    "BASE_READING_KWH",
    "STEP_S",
    "V_PHASE_NOMINAL_V",
    "CommunityBatteryState",
    "ValueModel",
    "YearTable",
]

logger = logging.getLogger(__name__)

#: Every energy counter reads this much more than the energy of its year so far. [kW h]
BASE_READING_KWH: Final[float] = 1.0
#: Phase-to-neutral voltage at 1 p.u. of a 400 V grid. [V]
V_PHASE_NOMINAL_V: Final[float] = 400.0 / 3.0**0.5
#: Rows of the value table integrated at once when the counters start. [1]
_CHUNK_STEPS: Final[int] = 4096


@dataclass
class YearTable:
    """The value table of one calendar year: sources (time x source), SOC, voltage and the weather station's values."""

    year: int
    start_s: float  # UNIX time of 1 January 00:00 UTC
    sources: npt.NDArray[np.float32]
    soc: npt.NDArray[np.float32]
    vm_pu: npt.NDArray[np.float32]
    weather: npt.NDArray[np.float32] = field(
        default_factory=lambda: np.zeros((0, len(STATION_QUANTITIES)), dtype=np.float32)
    )
    #: What the signal reads of the year's power flow per step (:func:`models.control.year.measured_grid`).
    measured: MeasuredGrid | None = None
    #: One step of the assets (``p_kw`` and its coordinates) for a quarter's power flow under control.
    template: xr.Dataset | None = None
    #: Line loadings per step in the grid's line order (the per-feeder signal reads them). [%]
    line_percent: npt.NDArray[np.float32] = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))
    #: The year's heat demand per building (the heat pumps' stores). [kW]
    heat_kw: pd.DataFrame | None = None
    #: The year's power flow as the controllers read it (loadings, voltages, exchange).
    grid: xr.Dataset | None = None
    times: npt.NDArray[np.datetime64] = field(default_factory=lambda: np.zeros(0, dtype="datetime64[ns]"))

    @property
    def n_steps(self) -> int:
        """Quarter hours in the year."""
        return int(self.sources.shape[0])


@dataclass(frozen=True)
class _Columns:
    """Where a source, a battery's SOC and a bus's voltage are in every year's table."""

    source: dict[Source, int]
    battery: dict[str, int]
    bus: dict[str, int]


@dataclass(frozen=True)
class _Output:
    """What a device publishes besides its power: from its register map and its spec."""

    power_quantity: str | None
    has_import: bool
    has_export: bool
    has_fuel: bool
    has_voltage: bool
    soc_col: int | None
    community: bool
    station: bool = False
    wallbox: bool = False
    building: int = -1


class CommunityBatteryState:
    """The community battery while the field runs: its setpoint, its power and its SOC.

    Parameters
    ----------
    battery : BatteryUnit
        Ratings and parameters (the SOC starts at ``params.soc_initial_frac``).
    """

    def __init__(self, battery: BatteryUnit) -> None:
        self.battery = battery
        self.strategy = battery_strategy("follow_setpoint")
        self.setpoint_kw = 0.0
        self.p_kw = 0.0
        self.soc_frac = battery.params.soc_initial_frac

    def plan(self, step_s: float) -> None:
        """Set the power for the next ``step_s`` simulated seconds: the setpoint within the limits."""
        self.p_kw = self.strategy.step(self.setpoint_kw, self.soc_frac, step_s / 3600.0, self.battery)

    def integrate(self, dt_h: float) -> None:
        """Hold the planned power for ``dt_h`` hours."""
        if self.p_kw:
            self.soc_frac = advance_soc(self.battery, self.soc_frac, self.p_kw, dt_h)


class ValueModel:
    """The values of every device of a field from its district's year.

    Parameters
    ----------
    loaded : LoadedDistrict
        The district and its grid.
    start_s : float
        Simulated start as UNIX time. [s]
    weather : str or pathlib.Path, optional
        Weather file; default the embedded one.
    seed : int
        Seed of the profiles.
    community_battery : BatteryUnit or None
        The community battery, if the field has one.
    """

    def __init__(
        self,
        loaded: LoadedDistrict,
        *,
        start_s: float,
        weather: str | Path | None,
        seed: int,
        community_battery: BatteryUnit | None,
    ) -> None:
        self.loaded = loaded
        self.start_s = start_s
        self.now_s = 0.0  # simulated seconds since the start
        self.battery = CommunityBatteryState(community_battery) if community_battery else None
        self._weather = weather
        self._seed = seed
        self._years: dict[int, YearTable] = {}
        self._columns: _Columns | None = None
        self._weights: sparse.csr_array | None = None
        self._dense_weights = np.zeros((0, 0))
        self._outputs: list[_Output] = []
        self._bus_of_device = np.zeros(0, dtype=np.int64)
        self.device_ids: list[str] = []
        self.energy_import_kwh = np.zeros(0)
        self.energy_export_kwh = np.zeros(0)
        #: Called with (quarter start [s], simulated seconds of it, import, export per device [kWh])
        #: when simulated time leaves a quarter hour (:mod:`twin.field.truth`).
        self.on_quarter: Callable[[float, float, npt.NDArray[np.float64], npt.NDArray[np.float64]], None] | None = None
        self._quarter_import_kwh = np.zeros(0)
        self._quarter_export_kwh = np.zeros(0)
        self._quarter_from_s = 0.0
        #: (time [s], district): before that time the devices follow this district instead (a
        #: perturbation whose PV factors hold from a time on, :mod:`twin.field.perturbation`).
        self.until: tuple[float, District] | None = None
        #: The controllers of the buildings' devices (:mod:`twin.field.control`), set by the field.
        self.control: FieldControl | None = None
        self._n_assets = 0

    @property
    def community_p_kw(self) -> float:
        """The community battery's power now [kW] (0 without one), load-positive."""
        return self.battery.p_kw if self.battery is not None else 0.0

    def first_year(self) -> xr.Dataset:
        """Compute the start's year; return its assets (for :func:`twin.field.layout.field_layout`)."""
        year = pd.Timestamp(self.start_s, unit="s", tz="UTC").year
        table, assets = self._compute_year(year)
        self._years[year] = table
        return assets

    def index(self, specs: Sequence[DeviceSpec], quantities: Sequence[frozenset[str]]) -> None:
        """Set up the weight matrix sources -> devices and what each device publishes.

        Parameters
        ----------
        specs : sequence of DeviceSpec
            The devices, in the order of every per-device array.
        quantities : sequence of frozenset of str
            The quantities of each device's register map.
        """
        assert self._columns is not None, "first_year() comes first"
        columns = self._columns
        rows, cols, weights = [], [], []
        for index, spec in enumerate(specs):
            for term in spec.power:
                rows.append(columns.source[term.source])
                cols.append(index)
                weights.append(term.weight)
        number = {b.id: i for i, b in enumerate(self.loaded.district.buildings)}
        self._outputs = [
            _output(spec, names, columns, number.get(spec.building or "", -1))
            for spec, names in zip(specs, quantities, strict=True)
        ]
        shape = (len(columns.source), len(specs))
        self._weights = sparse.csr_array((weights, (rows, cols)), shape=shape)
        self._dense_weights = self._weights.toarray()
        self._bus_of_device = np.asarray([columns.bus.get(spec.bus or "", 0) for spec in specs], dtype=np.int64)
        self.device_ids = [spec.id for spec in specs]

    def asset_columns(self, spec: DeviceSpec) -> list[int]:
        """The asset columns a device measures (its :class:`AssetPower` terms)."""
        assert self._columns is not None
        return [self._columns.source[t.source] for t in spec.power if isinstance(t.source, AssetPower)]

    def start_counters(self, first_step_s: float) -> None:
        """Counters at the start: the year's energy so far plus the base reading; plan the battery."""
        assert self._weights is not None, "index() comes first"
        table, _ = self.step_of(self.start_s)
        community = self._columns.source[COMMUNITY] if self._columns else -1
        n = len(self._outputs)
        self.energy_import_kwh = np.full(n, BASE_READING_KWH)
        self.energy_export_kwh = np.full(n, BASE_READING_KWH)
        offset_s = self.start_s - table.start_s
        whole = int(offset_s // STEP_S)
        dt_h = STEP_S / 3600.0
        transposed = self._weights.T.tocsr()
        for first in range(0, whole, _CHUNK_STEPS):
            chunk = table.sources[first : min(whole, first + _CHUNK_STEPS)].astype(np.float64)
            chunk[:, community] = 0.0
            power = (transposed @ chunk.T).T
            self.energy_import_kwh += np.clip(power, 0.0, None).sum(axis=0) * dt_h
            self.energy_export_kwh += np.clip(-power, 0.0, None).sum(axis=0) * dt_h
        if offset_s > whole * STEP_S:
            self._integrate(table, whole, (offset_s - whole * STEP_S) / 3600.0, 0.0)
        self.now_s = 0.0
        self._quarter_import_kwh = np.zeros(n)
        self._quarter_export_kwh = np.zeros(n)
        self._quarter_from_s = self.start_s
        if self.battery is not None:
            self.battery.plan(first_step_s)
        if self.control is not None and self.control.source == "direct":
            self.control.direct_update(self.start_s, None)

    def quarter_energies(
        self, indices: Sequence[int], end_s: float
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Devices' energy per quarter hour from 1 January (UTC) of the start's year to ``end_s``.

        What the devices' counters count for the quarters before the start (the community
        battery idle, as :meth:`start_counters` counts them).

        Parameters
        ----------
        indices : sequence of int
            The devices (positions in device order).
        end_s : float
            UNIX time on a quarter-hour boundary in the start's year, at most the start. [s]

        Returns
        -------
        starts_s, import_kwh, export_kwh
            Quarter starts (UNIX time [s]) and the energy with positive / negative power per
            quarter and device (quarters x devices). [kW h]
        """
        assert self._weights is not None and self._columns is not None, "index() comes first"
        table, _ = self.step_of(self.start_s)
        n = max(int((end_s - table.start_s) // STEP_S), 0)
        weights = self._dense_weights[:, list(indices)]
        community = self._columns.source[COMMUNITY]
        dt_h = STEP_S / 3600.0
        import_kwh = np.empty((n, weights.shape[1]))
        export_kwh = np.empty((n, weights.shape[1]))
        for first in range(0, n, _CHUNK_STEPS):
            last = min(n, first + _CHUNK_STEPS)
            chunk = table.sources[first:last].astype(np.float64)
            chunk[:, community] = 0.0
            power = chunk @ weights
            import_kwh[first:last] = np.clip(power, 0.0, None) * dt_h
            export_kwh[first:last] = np.clip(-power, 0.0, None) * dt_h
        starts_s = int(table.start_s) + np.arange(n, dtype=np.int64) * STEP_S
        return starts_s, import_kwh, export_kwh

    def station_quarters(self, end_s: float) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        """The weather station's values per quarter hour from 1 January (UTC) of the start's year to ``end_s``.

        Returns
        -------
        starts_s, table
            Quarter starts (UNIX time [s]) and quarters x :data:`twin.field.station.STATION_QUANTITIES`.
        """
        table, _ = self.step_of(self.start_s)
        n = min(max(int((end_s - table.start_s) // STEP_S), 0), table.n_steps)
        starts_s = int(table.start_s) + np.arange(n, dtype=np.int64) * STEP_S
        return starts_s, table.weather[:n]

    def advance(self, now_s: float, next_step_s: float) -> None:
        """Integrate the counters up to ``now_s`` (since the start) and plan the battery's next step."""
        t = self.now_s
        p_cb_kw = self.community_p_kw
        if self.control is not None:
            self.control.expire()
        while t < now_s:
            table, step = self.step_of(self.start_s + t)
            boundary_s = table.start_s + (step + 1) * STEP_S - self.start_s
            until = min(now_s, boundary_s)
            dt_h = (until - t) / 3600.0
            self._integrate(table, step, dt_h, p_cb_kw, quarter=True)
            if self.battery is not None:
                self.battery.integrate(dt_h)
            if self.control is not None:
                self.control.dwell(until - t)
            t = until
            if until == boundary_s:
                ended = self._quarter_grid(table, step)
                self._end_quarter(float(round(self.start_s + boundary_s)))
                if self.control is not None and self.control.source == "direct":
                    self.control.direct_update(self.start_s + boundary_s, ended)
        self.now_s = now_s
        if self.battery is not None:
            self.battery.plan(next_step_s)

    def values(self) -> list[dict[str, float]]:
        """Every device's values at the current simulated time, in device order."""
        table, step = self.step_of(self.start_s + self.now_s)
        power = self._power(table, step, self.community_p_kw)
        voltage = self._vm_pu(table, step)[self._bus_of_device].astype(np.float64) * V_PHASE_NOMINAL_V
        control = self.control
        out = []
        for index, output in enumerate(self._outputs):
            values: dict[str, float] = {}
            if output.power_quantity is not None:
                values[output.power_quantity] = float(power[index])
            if output.has_import:
                values["energy_import_kwh"] = float(self.energy_import_kwh[index])
            if output.has_export:
                values["energy_export_kwh"] = float(self.energy_export_kwh[index])
            if output.has_fuel:
                values["energy_fuel_kwh"] = float(self.energy_import_kwh[index])
            if output.has_voltage:
                values["v_l1_v"] = float(voltage[index])
            if output.soc_col is not None:
                values["soc_frac"] = float(table.soc[step, output.soc_col])
            if output.community and self.battery is not None:
                values["soc_frac"] = self.battery.soc_frac
            if output.station:
                values.update(zip(STATION_QUANTITIES, table.weather[step].tolist(), strict=True))
            if output.wallbox and control is not None and output.building >= 0:
                values.update(control.wallbox_values(self.device_ids[index], output.building))
            out.append(values)
        return out

    def expected(self, index: int, sim_time_s: float) -> dict[str, float]:
        """A device's power, ``soc_frac``, ``v_l1_v`` and weather at a simulated time (without counters)."""
        output = self._outputs[index]
        table, step = self.step_of(sim_time_s)
        power = self._power(table, step, self.community_p_kw)
        values: dict[str, float] = {}
        if output.power_quantity is not None:
            values[output.power_quantity] = float(power[index])
        if output.soc_col is not None:
            values["soc_frac"] = float(table.soc[step, output.soc_col])
        if output.has_voltage:
            values["v_l1_v"] = float(self._vm_pu(table, step)[self._bus_of_device[index]]) * V_PHASE_NOMINAL_V
        if output.station:
            values.update(zip(STATION_QUANTITIES, table.weather[step].tolist(), strict=True))
        return values

    def step_of(self, sim_time_s: float) -> tuple[YearTable, int]:
        """The value table and the quarter-hour step that hold a simulated time (UNIX time, s)."""
        year = pd.Timestamp(sim_time_s, unit="s", tz="UTC").year
        table = self._years.get(year)
        if table is None:
            logger.info("simulated time entered %d: computing its profiles", year)
            table, _ = self._compute_year(year)
            self._years = {year: table}
        step = int((sim_time_s - table.start_s) // STEP_S)
        return table, min(max(step, 0), table.n_steps - 1)

    def _integrate(self, table: YearTable, step: int, dt_h: float, p_cb_kw: float, *, quarter: bool = False) -> None:
        power = self._power(table, step, p_cb_kw)
        imported, exported = np.clip(power, 0.0, None) * dt_h, np.clip(-power, 0.0, None) * dt_h
        self.energy_import_kwh += imported
        self.energy_export_kwh += exported
        if quarter:
            self._quarter_import_kwh += imported
            self._quarter_export_kwh += exported

    def _end_quarter(self, end_s: float) -> None:
        """Hand the ended quarter's energies to :attr:`on_quarter` and start the next quarter."""
        start_s = end_s - STEP_S
        if self.on_quarter is not None:
            seconds = end_s - max(start_s, self._quarter_from_s)
            self.on_quarter(start_s, seconds, self._quarter_import_kwh.copy(), self._quarter_export_kwh.copy())
        self._quarter_import_kwh[:] = 0.0
        self._quarter_export_kwh[:] = 0.0
        self._quarter_from_s = end_s

    def _power(self, table: YearTable, step: int, p_cb_kw: float) -> npt.NDArray[np.float64]:
        assert self._columns is not None
        row = table.sources[step].astype(np.float64)
        if self.control is not None:
            controlled = self.grid_step(table, step)
            row[: self._n_assets] = controlled.p_kw
            row[self._columns.source[GRID]] = controlled.p_grid_kw
        row[self._columns.source[COMMUNITY]] = p_cb_kw
        return row @ self._dense_weights

    def _vm_pu(self, table: YearTable, step: int) -> npt.NDArray[np.float32]:
        """The bus voltages of a step, with the controllers acting now."""
        if self.control is None:
            return table.vm_pu[step]
        return self.grid_step(table, step).vm_pu

    def grid_step(self, table: YearTable, step: int) -> GridStep:
        """A quarter's assets' power, exchange, voltages and grid state with the controllers as they act now."""
        assert self._columns is not None and table.measured is not None
        profile = GridStep(
            p_kw=table.sources[step, : self._n_assets].astype(np.float64),
            p_grid_kw=float(table.measured.p_grid_kw[step]),
            vm_pu=table.vm_pu[step],
            stress=table.measured.at(step),
            line_percent=table.line_percent[step],
            grid_ref=(table.grid, step) if table.grid is not None else None,
        )
        if self.control is None or table.template is None:
            return profile
        return self.control.step(table.template, table.times[step], (table.year, step), profile)

    def _quarter_grid(self, table: YearTable, step: int) -> GridStep | None:
        """The grid of a quarter as the devices ran it (for the truth file and the direct signal)."""
        if self.control is None or table.measured is None:
            return None
        ended = self.grid_step(table, step)
        self.control.last_quarter = ended
        self.control.commit((table.year, step))
        return ended

    def _compute_year(self, year: int) -> tuple[YearTable, xr.Dataset]:
        """Profiles and power flow of a calendar year, as a value table."""
        district = self.loaded.district
        started = time.perf_counter()
        inputs = prepare_inputs(district, weather=self._weather, year=year)
        profiles = district_profiles(district, inputs, ProfileOptions(year=year, seed=self._seed))
        assets = profiles.assets
        if self.until is not None:
            earlier = district_profiles(self.until[1], inputs, ProfileOptions(year=year, seed=self._seed)).assets
            assets = _spliced(earlier, assets, self.until[0])
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
        n_assets = p_kw.shape[1]
        sources = np.zeros((p_kw.shape[0], n_assets + gas.size + 2), dtype=np.float32)
        sources[:, :n_assets] = p_kw
        if gas.size:
            sources[:, n_assets : n_assets + gas.size] = assets["p_fuel_kw"].to_numpy()[:, gas]
        sources[:, -2] = grid["p_grid_kw"].to_numpy()
        batteries = np.flatnonzero(kinds == "battery")
        # a district without home batteries has no SOC in its assets
        soc = (
            np.nan_to_num(assets["soc_frac"].to_numpy()[:, batteries])
            if batteries.size
            else np.zeros((p_kw.shape[0], 0))
        )
        if self._columns is None:
            names = [str(name) for name in assets["asset"].values]
            source: dict[Source, int] = {AssetPower(name): col for col, name in enumerate(names)}
            source.update({AssetFuel(names[i]): n_assets + col for col, i in enumerate(gas)})
            source[GRID] = sources.shape[1] - 2
            source[COMMUNITY] = sources.shape[1] - 1
            self._columns = _Columns(
                source=source,
                battery={names[i]: col for col, i in enumerate(batteries)},
                bus={str(name): col for col, name in enumerate(grid["bus_name"].values)},
            )
        start_s = pd.Timestamp(year=year, month=1, day=1, tz="UTC").timestamp()
        vm_pu = grid["vm_pu"].to_numpy().astype(np.float32)
        weather = station_table(inputs.weather)
        self._n_assets = n_assets
        table = YearTable(year, start_s, sources, soc.astype(np.float32), vm_pu, weather)
        table.measured = measured_grid(grid)
        table.template = assets[["p_kw"]].isel(time=[0])
        table.times = np.asarray(assets["time"].values)
        kinds = np.asarray(grid["branch_kind"].values).astype(str)
        table.line_percent = grid["loading_percent"].transpose("time", "branch").values[:, kinds == "line"]
        table.heat_kw = profiles.heat_kw
        table.grid = grid[["loading_percent", "vm_pu", "p_grid_kw"]]
        if self.control is not None:
            self.control.new_year(assets, profiles.heat_kw)
        return table, assets


def _output(spec: DeviceSpec, quantities: frozenset[str], columns: _Columns, building: int) -> _Output:
    return _Output(
        power_quantity=spec.power_quantity,
        has_import="energy_import_kwh" in quantities,
        has_export="energy_export_kwh" in quantities,
        has_fuel="energy_fuel_kwh" in quantities,
        has_voltage="v_l1_v" in quantities,
        soc_col=columns.battery[spec.soc_asset] if spec.soc_asset is not None else None,
        community=spec.id == COMMUNITY_BATTERY_ID,
        station=spec.kind == STATION_KIND,
        wallbox="control_mode" in quantities,
        building=building,
    )


def _spliced(earlier: xr.Dataset, later: xr.Dataset, at_s: float) -> xr.Dataset:
    """The assets of ``earlier`` before ``at_s`` (UNIX time) and of ``later`` from then on."""
    before = pd.DatetimeIndex(later["time"].values).tz_localize("UTC").asi8 // 10**9 < at_s
    out = later.copy()
    for name in ("p_kw", "p_fuel_kw", "soc_frac"):
        if name in later:
            values = later[name].to_numpy().copy()
            values[before] = earlier[name].to_numpy()[before]
            out[name] = later[name].copy(data=values)
    return out
