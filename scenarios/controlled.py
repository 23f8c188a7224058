"""A scenario's year with the controllers in the loop (the ``control:`` block).

Without a ``control:`` block the year is one batch power flow, as always. With one, the
controllers of :mod:`models.control` act on the state measured in the previous step: the
signal at step ``t`` follows the power flow of step ``t - 1``, which the controllers' own
actions at ``t - 1`` shaped. Heat pumps with their thermal store and wallboxes with their charge
backlog carry state from step to step, so the year is solved by passes
(:func:`models.control.loop.run_steps`): each pass goes through the steps on the previous pass's
batch power flow, corrected by the grid's linear sensitivities to each building's change of
load, then a batch power flow of the steps whose power changed follows; the passes stop when the
signal of every step stays the same (the reported grid is then the real power flow of the
controlled profile, and each step's signal that of the step before), or after
:data:`MAX_PASSES`, reporting the steps still moving.

The controllers: section 14a dimming of each building's controllable devices to the limits of
BK6-22-300 (:func:`models.control.section_14a.dimmed_limit_kw`, per device or per building's
energy management system), SG-Ready blocking of heat pumps, each heat pump serving its
building's thermal store (:mod:`models.control.thermal`: blocked or dimmed heat is delivered
later, the rebound), dimmed wallboxes charging later (:mod:`models.control.ev`), and the
community battery following the signal. ``signal: per_feeder`` gives each building the signal and
limit of its own feeder (:mod:`models.control.feeder`); ``district`` and ``district_needed`` one
for all (``district``: the flat value, every heat pump of the district off while it blocks;
``district_needed``: only as many as the grid needs by the buildings' mean effect).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
import xarray as xr

from models.battery import BatteryUnit
from models.community_battery import COMMUNITY
from models.control.battery import battery_strategy
from models.control.loop import GridState, Plant, Relief, Resume, SignalSource, run_steps
from models.control.reflow import StepFlow
from models.control.release import ReleaseRamp
from models.control.relief import quiet_steps
from models.control.section_14a import (
    P_LIMIT_14A_MIN_KW,
)
from models.control.signal import SignalConfig
from models.control.thermal import thermal_parameters
from models.control.year import signal_setpoints_kw
from models.grid import run_power_flow
from models.heating_curve import emitter_of
from scenarios.controlled_kpis import KINDS_14A, connection_limits, control_kpis, grid_fees, overloaded_h
from scenarios.records import Control
from twin.core.schema import step_hours
from twin.core.signal import SignalState
from twin.core.vocabulary import STEP_S

__all__ = [
    "MAX_PASSES",
    "HeatInputs",
    "build_plant",
    "feeder_signals",
    "grid_state",
    "preheat_boost_kw",
    "relief_for",
    "run_controlled",
    "signal_config",
    "signal_maker",
    "signal_sources",
]

#: Most passes of a controlled year.
MAX_PASSES: Final[int] = 8
#: COP where a heat pump draws nothing in the schedule (only used to bring a store back). [1]
_COP_IDLE: Final[float] = 3.0


@dataclass(frozen=True)
class HeatInputs:
    """What the heat pumps' stores need: each building's heat demand and record.

    Parameters
    ----------
    heat_kw : pandas.DataFrame
        Heat demand per building (space heat and hot water), the assets' steps. [kW]
    floor_area_m2, emitter : dict
        Each building's TABULA reference floor area [m2] and emitter (``radiator`` or ``floor``).
    """

    heat_kw: pd.DataFrame
    floor_area_m2: dict[str, float]
    emitter: dict[str, str]

    @classmethod
    def of(cls, heat_kw: pd.DataFrame, buildings: Any) -> HeatInputs:
        """Build from the profiles' heat and the district's buildings."""
        area = {b.id: float(b.floor_area_m2) for b in buildings}
        return cls(heat_kw, area, {b.id: emitter_of(b.construction_year) for b in buildings})


def run_controlled(
    control: Control | None,
    net: Any,
    assets: xr.Dataset,
    reactive: Any,
    flow: Any,
    battery: BatteryUnit | None = None,
    heat: HeatInputs | None = None,
) -> tuple[xr.Dataset, xr.Dataset, dict[str, Any], xr.DataArray | None]:
    """Run the power flow with the controllers in the loop.

    Parameters
    ----------
    control : Control or None
        The scenario's ``control:`` block; None: one power flow, no control.
    net, reactive, flow
        The grid, the reactive-power rule and the prepared batch power flow.
    assets : xarray.Dataset
        The assets without control (dispatched as the scenario says).
    battery : BatteryUnit, optional
        The community battery, when it follows the signal.
    heat : HeatInputs, optional
        The heat pumps' demand and buildings; without, heat pumps draw their schedule when free.

    Returns
    -------
    assets : xarray.Dataset
        The controlled assets.
    grid : xarray.Dataset
        Their power flow.
    kpis : dict
        The control KPIs (empty without control).
    signal_state : xarray.DataArray or None
        Each building's signal state (time, building) as its controllers read it (None without control).
    """
    grid = run_power_flow(net, assets, reactive, flow=flow)
    if control is None:
        return assets, grid, {}, None
    step_s = step_hours(pd.DatetimeIndex(assets["time"].values)) * 3600.0
    stored = assets["p_kw"].transpose("time", "asset").values
    devices, plant, buildings = build_plant(control, assets, stored, heat)
    follows = control.battery == "signal" and battery is not None
    # the battery and the grid fees read the devices' power unrounded; else it is kept as stored (float32)
    full = stored.astype(np.float64) if follows or control.grid_fee is not None else stored.copy()
    sens, make_source = signal_sources(control, net, flow, assets, buildings, plant)
    sg_ready, per_feeder = control.heat_pump == "sg_ready", control.signal == "per_feeder"
    iterate, basis = plant.base_kw, full
    rows = _Rows(grid, grid_state(grid, net))
    reflow = StepFlow(net, assets, reactive, flow, devices, rows.state)
    soc: tuple[int, np.ndarray] | None = None
    passes, resume = 0, None
    while True:
        relief = relief_for(control, rows.state, sens)
        options = {"sg_ready": sg_ready, "sens": sens, "relief": relief, "resume": resume, "needs_draw": per_feeder}
        reflow.basis = basis
        result = run_steps(plant, make_source(rows.state), iterate, step_s, reflow=reflow, **options)
        passes += 1
        moved = (result.p_kw != iterate).any(axis=1)
        p_kw = basis  # pass 1: the copy of the assets' power made above, ours to change
        p_kw[:, devices] = result.p_kw
        if follows:
            assert battery is not None
            p_kw, soc, battery_moved = _follow_signal(assets, p_kw, _district_state(result.state), battery)
            moved |= battery_moved
        unsettled = changed = np.flatnonzero(moved)
        if len(changed):
            unsettled = rows.insert(_changed_grid(reflow, assets, changed, p_kw, soc), changed, net)
        basis, iterate = p_kw, result.p_kw
        if not len(unsettled) or passes >= MAX_PASSES:
            break
        resume = Resume(result, changed)
    grid, step_h = rows.dataset(), step_s / 3600.0
    kpis = {**control_kpis(result, plant, step_h, buildings), **overloaded_h(grid, step_h)}
    if control.grid_fee is not None:
        kpis.update(grid_fees(control.grid_fee, assets, basis, step_h))
    kpis.update(control_passes=passes, control_steps_unsettled=len(unsettled))
    return _with_power(assets, basis, soc), grid, kpis, _signal_state(result.state, assets, buildings)


def _changed_grid(
    reflow: StepFlow, assets: xr.Dataset, changed: np.ndarray, p_kw: np.ndarray, soc: tuple[int, np.ndarray] | None
) -> xr.Dataset:
    """The power flow of the steps the pass changed: as the pass solved them, or (the battery moved after it) anew."""
    if soc is None:  # the steps the pass solved with their final power are taken as solved
        return reflow.grid(assets, changed, p_kw[changed].astype(np.float32))
    part = _with_power(assets.isel(time=changed), p_kw[changed], (soc[0], soc[1][changed]))
    return run_power_flow(reflow.net, part, reflow.reactive, flow=reflow.flow)


def _signal_state(state: np.ndarray, assets: xr.Dataset, buildings: list[str]) -> xr.DataArray:
    """Each building's signal state (time, building) as a named array on the assets' times."""
    coords = {"time": assets["time"].values, "building": buildings}
    return xr.DataArray(state, dims=("time", "building"), coords=coords, name="signal_state")


def _follow_signal(
    assets: xr.Dataset, p_kw: np.ndarray, state: np.ndarray, battery: BatteryUnit
) -> tuple[np.ndarray, tuple[int, np.ndarray], np.ndarray]:
    """The power with the community battery following the signal ``state`` (time,), its SOC and the steps it moved."""
    column = _community_column(assets)
    setpoints = signal_setpoints_kw(state, battery.p_rated_kw)
    index = pd.DatetimeIndex(assets["time"].values)
    p_battery, soc_frac = battery_strategy("follow_setpoint").dispatch(setpoints, index, battery)
    out = p_kw.copy()
    out[:, column] = p_battery
    return out, (column, soc_frac), out[:, column] != p_kw[:, column]


def _district_state(state: np.ndarray) -> np.ndarray:
    """One state per step for what sits at the busbar: any block, else any forced on, else the highest."""
    block, forced = int(SignalState.BLOCK), int(SignalState.FORCED_ON)
    most = state.max(axis=1)
    return np.where((state == block).any(axis=1), block, np.where((state == forced).any(axis=1), forced, most))


def signal_config(control: Control) -> SignalConfig:
    """The signal's thresholds: the live twin's, with the ``control.thresholds`` given."""
    return SignalConfig(**(control.thresholds.model_dump(exclude_none=True) if control.thresholds else {}))


def grid_state(grid: xr.Dataset, net: Any) -> GridState:
    """What the controllers read of a batch power flow: transformer, lines and buses (``net``'s order), exchange."""
    loading = grid["loading_percent"].transpose("time", "branch")
    kinds = np.asarray(grid["branch_kind"].values).astype(str)
    trafo = loading.values[:, kinds == "trafo"].astype(np.float64)
    # lines and buses as the power flow stores them (float32): the controllers compute in float64 from them
    lines = loading.sel(branch=[f"line {i}" for i in net.line.index]).values
    finite = np.isfinite(trafo)
    trafo_max = np.where(finite.any(axis=1), np.where(finite, trafo, -np.inf).max(axis=1, initial=-np.inf), np.nan)
    return GridState(
        trafo_percent=trafo_max,
        line_percent=lines,
        vm_pu=grid["vm_pu"].transpose("time", "bus").sel(bus=net.bus.index).values,
        p_grid_kw=grid["p_grid_kw"].values.astype(np.float64),
    )


class _Rows:
    """A year's power flow whose steps later passes replace: the arrays the controllers read, and the dataset's."""

    def __init__(self, grid: xr.Dataset, state: GridState) -> None:
        self.grid = grid
        self.state = state
        # the batch power flow's own arrays (no one else holds them), replaced step by step
        self.values = {
            str(name): var.transpose("time", ...).values for name, var in grid.data_vars.items() if "time" in var.dims
        }

    def insert(self, part: xr.Dataset, steps: np.ndarray, net: Any) -> np.ndarray:
        """Put the power flow ``part`` of the step numbers ``steps`` in.

        Returns the steps whose grid state differs from what the controllers of the next step
        read (the last step is read by none).
        """
        for name, values in self.values.items():
            values[steps] = part[name].transpose("time", ...).values
        new = grid_state(part, net)
        differs = np.zeros(len(steps), dtype=bool)
        for name in ("trafo_percent", "line_percent", "vm_pu", "p_grid_kw"):
            old, now = getattr(self.state, name), getattr(new, name)
            same = np.isclose(old[steps], now, rtol=0.0, atol=0.0, equal_nan=True)
            differs |= ~same if same.ndim == 1 else ~same.all(axis=1)
            old[steps] = now
        last = len(self.state.p_grid_kw) - 1
        return steps[differs & (steps != last)]

    def dataset(self) -> xr.Dataset:
        """The power flow with every step's latest result."""
        out = self.grid.copy()
        for name, values in self.values.items():
            var = self.grid[name]
            out[name] = var.copy(data=np.moveaxis(values, 0, var.dims.index("time")))
        return out


def _community_column(assets: xr.Dataset) -> int:
    """The community battery's asset column."""
    kinds = np.asarray(assets["kind"].values).astype(str)
    buildings = np.asarray(assets["building"].values).astype(str)
    return int(np.flatnonzero((kinds == "battery") & (buildings == COMMUNITY))[0])


def build_plant(
    control: Control, assets: xr.Dataset, full: np.ndarray, heat: HeatInputs | None
) -> tuple[np.ndarray, Plant, list[str]]:
    """Return the buildings' controllable devices as the ``control:`` block says.

    Parameters
    ----------
    control : Control
        The ``control:`` block (which devices section 14a dims, per device or per building).
    assets : xarray.Dataset
        The assets without control.
    full : numpy.ndarray, shape (time, asset)
        Their power. [kW]
    heat : HeatInputs or None
        The heat pumps' demand and buildings (their thermal stores); None: no stores.

    Returns
    -------
    columns : numpy.ndarray of int
        The devices' asset columns.
    plant : Plant
        The devices (:class:`models.control.plant.Plant`).
    buildings : list of str
        The buildings' names in the plant's (the signal's) order.
    """
    kinds = np.asarray(assets["kind"].values).astype(str)
    names = np.asarray(assets["building"].values).astype(str)
    columns = np.flatnonzero(np.isin(kinds, sorted(KINDS_14A)) & (names != COMMUNITY))
    kind, owner = kinds[columns], names[columns]
    buildings, building = np.unique(owner, return_inverse=True)
    dim_kinds = sorted(KINDS_14A) if control.section_14a else (["ev"] if control.ev == "dimmed" else [])
    dimmable = np.isin(kind, dim_kinds)
    group = np.zeros(len(columns), dtype=np.int64)
    group_min = np.zeros(0)
    base = full[:, columns].astype(np.float64)
    if dimmable.any():
        chosen = np.zeros(len(kinds), dtype=bool)
        chosen[columns[dimmable]] = True
        groups, group_min = connection_limits(assets, chosen, base[:, dimmable], control.section_14a_control)
        group[dimmable] = groups
    n_groups = len(group_min)
    group[~dimmable] = n_groups + np.arange(int((~dimmable).sum()))
    group_min = np.concatenate([group_min, np.full(int((~dimmable).sum()), np.inf)])
    hp = kind == "heat_pump"
    rated = np.asarray(assets["p_rated_kw"].values, dtype=np.float64)[columns]
    thermal, demand, cop = None, np.zeros((len(base), 0)), np.zeros((len(base), 0))
    if hp.any() and heat is not None:
        hp_names = list(owner[hp])
        demand = heat.heat_kw[hp_names].to_numpy(dtype=np.float64)
        p_hp = base[:, hp]
        cop = np.divide(demand, p_hp, out=np.full_like(demand, _COP_IDLE), where=p_hp > 1e-6)
        np.clip(cop, 1.0, 8.0, out=cop)
        thermal = thermal_parameters(
            np.where(np.isfinite(rated[hp]), rated[hp], 0.0),
            [heat.floor_area_m2[n] for n in hp_names],
            [heat.emitter[n] for n in hp_names],
            comfort_low_k=control.comfort_low_k,
            boost_k=control.preheat.boost_k if control.preheat is not None else 0.0,
        )
    plant = Plant(
        n_building=len(buildings),
        building=building.astype(np.int64),
        kind=kind,
        dimmable=dimmable,
        group=group,
        group_min_kw=group_min,
        base_kw=base,
        heat_demand_kw=demand,
        cop=cop,
        thermal=thermal,
        p_rated_kw=np.where(np.isfinite(rated), rated, np.nanmax(base, axis=0, initial=0.0)),
        p_max_kw=np.nanmax(base, axis=0, initial=0.0),
    )
    return columns, plant, list(buildings)


def relief_for(control: Control, state: GridState, sens: Any) -> Relief | None:
    """Return which heat pumps a block takes off: only as far as needed, or (None) every one of a blocked building.

    With ``heat_pump: sg_ready`` the block takes off only the heat pumps the grid needs off
    (:class:`models.control.relief.Relief`). ``signal: per_feeder`` knows each building's own
    effect and relieves each quantity to its enter threshold (the loading and voltage at which
    the signal would block): no heat pump is held off for a quantity the signal would not block
    for. ``district_needed`` knows only the buildings' mean effect and aims with a margin,
    half-way between the enter and leave thresholds. ``signal: district`` (the one flat value)
    and no SG-Ready give None.
    """
    if control.heat_pump != "sg_ready" or control.signal == "district":
        return None
    config = signal_config(control)
    if control.signal == "per_feeder":
        loading, vm = config.loading_enter_percent, config.vm_low_enter_pu
    else:
        loading = 0.5 * (config.loading_enter_percent + config.loading_leave_percent)
        vm = 0.5 * (config.vm_low_enter_pu + config.vm_low_leave_pu)
    rows = np.vstack([sens.trafo_percent_per_kw[None, :], sens.line_percent_per_kw, -sens.vm_pu_per_kw])
    n_line, n_bus = sens.line_percent_per_kw.shape[0], sens.vm_pu_per_kw.shape[0]
    targets = np.concatenate(([loading], np.full(n_line, loading), np.full(n_bus, -vm)))
    return Relief(state, rows, targets, located=control.signal == "per_feeder", rebound=control.count_rebound)


def signal_sources(
    control: Control, net: Any, flow: Any, assets: xr.Dataset, buildings: list[str], plant: Plant
) -> tuple[Any, Any]:
    """Return the grid's sensitivities to each building's load and a maker of a signal source.

    :class:`models.control.feeder.FeederSignals`: ``district`` and ``district_needed``, one signal
    for every building and each building's section 14a minimum while it blocks; ``per_feeder``,
    each feeder's own signal and each building's limit only as low as needed. The maker takes the
    grid state the source reads (:class:`models.control.relief.GridState`) and gives a
    :class:`models.control.loop.SignalSource` (:func:`signal_maker`).
    """
    from models.control.feeder import FeederMap, sensitivities

    names = np.asarray(assets["building"].values).astype(str)
    bus_of = dict(zip(names, np.asarray(assets["bus"].values).astype(str), strict=True))
    label = {str(name): int(i) for i, name in zip(net.bus.index, net.bus["name"], strict=True)}
    building_bus = np.array([label[bus_of[b]] for b in buildings], dtype=np.int64)
    sens = sensitivities(net, building_bus, flow=flow)
    finite = np.isfinite(plant.group_min_kw)
    gb = plant.group_building()
    p_min = np.bincount(gb[finite], plant.group_min_kw[finite], minlength=len(buildings))
    free_kw = plant.building_sum_kw(np.where(plant.dimmable, plant.p_max_kw, 0.0))
    hp = plant.index.hp
    frac = plant.thermal.recover_frac if plant.thermal is not None else 0.0
    boost_kw = preheat_boost_kw(plant.building[hp], plant.p_max_kw[hp], plant.n_building, frac)
    make = signal_maker(control, FeederMap.from_net(net), building_bus, sens, p_min, free_kw, boost_kw)
    return sens, make


def preheat_boost_kw(
    building: npt.NDArray[np.int64], p_max_kw: npt.NDArray[np.float64], n_building: int, recover_frac: float
) -> npt.NDArray[np.float64]:
    """Each building's extra draw when it starts pre-heating [kW].

    Twice the rebound's share of its heat pumps' highest electric draw
    (:attr:`models.control.thermal.ThermalParameters.recover_frac` times ``p_max_kw``: the extra
    heat at the rating's share over the COP of the coldest step; twice, as a store above its set
    point was giving that share back).
    """
    return np.bincount(building, 2.0 * recover_frac * p_max_kw, minlength=n_building).astype(np.float64)


def feeder_signals(control: Control, fmap: Any, building_bus: Any, sens: Any, p_min_kw: Any) -> Any:
    """The block's :class:`models.control.feeder.FeederSignals`: thresholds, per feeder or district-wide.

    ``p_min_kw`` is what each building's controllable devices keep while dimmed (at least
    4.2 kW); ``sens`` the grid's sensitivities (used with ``signal: per_feeder``). With SG-Ready a
    stressed transformer blocks every feeder (the heat pumps go off only as far as needed,
    :func:`relief_for`); without, only as many feeders as its relief needs.
    """
    from models.control.feeder import FeederSignals

    relief: Literal["all", "needed"] = "all" if control.heat_pump == "sg_ready" else "needed"
    per_feeder = control.signal == "per_feeder"
    return FeederSignals(
        fmap,
        building_bus,
        signal_config(control),
        sens if per_feeder else None,
        per_feeder,
        p_min_kw=np.maximum(np.asarray(p_min_kw, dtype=np.float64), P_LIMIT_14A_MIN_KW),
        transformer_relief=relief,
    )


def signal_maker(
    control: Control,
    fmap: Any,
    building_bus: Any,
    sens: Any,
    p_min_kw: Any,
    free_kw: npt.NDArray[np.float64],
    boost_kw: npt.NDArray[np.float64],
) -> Callable[..., SignalSource]:
    """A maker of the block's signal source on a grid state: the feeders' signals, released, pre-heating.

    ``make(state, step_s=STEP_S, signals=None)`` gives a :class:`models.control.loop.SignalSource`
    reading ``state`` (:class:`models.control.relief.GridState`): the signals of
    :func:`feeder_signals` (``signals``: ones made before, to go on with), with
    ``control.release_kw_per_h`` the limits released by at most that per hour (``step_s``: the
    simulated time of a step) and with ``control.preheat`` the buildings pre-heating
    (:func:`preheat_source`). ``free_kw``: what each building's dimmable devices can draw
    together; ``boost_kw``: each building's extra draw when it starts pre-heating
    (:func:`preheat_boost_kw`). [kW]
    """

    def make(state: GridState, step_s: float = float(STEP_S), signals: Any = None) -> SignalSource:
        chosen = signals if signals is not None else feeder_signals(control, fmap, building_bus, sens, p_min_kw)
        source: SignalSource = _FeederSource(chosen, state)
        if control.release_kw_per_h is not None:
            source = ReleaseRamp(source, control.release_kw_per_h * step_s / 3600.0, free_kw)
        return source if control.preheat is None else preheat_source(control, source, state, boost_kw, sens)

    return make


def preheat_source(
    control: Control, inner: SignalSource, state: GridState, boost_kw: npt.NDArray[np.float64], sens: Any
) -> SignalSource:
    """Return ``inner`` with the buildings pre-heating as ``control.preheat`` says (:mod:`models.control.preheat`).

    ``boost_kw`` is each building's extra draw when it starts boosting (:func:`preheat_boost_kw`).
    The fill levels: ``fill_to_percent`` for the transformer and every line, the signal's leave
    threshold for low voltage.
    """
    from models.control.preheat import PreheatConfig, PreheatSource

    p = control.preheat
    assert p is not None
    signal = signal_config(control)
    config = PreheatConfig(
        step_s=float(STEP_S),
        peak_percent=p.peak_percent if p.peak_percent is not None else signal.loading_enter_percent,
        lookahead_h=p.lookahead_h,
        forecast_days=p.forecast_days,
        fill_to_percent=p.fill_to_percent if p.fill_to_percent is not None else signal.loading_leave_percent,
    )
    rows = np.vstack([sens.trafo_percent_per_kw[None, :], sens.line_percent_per_kw, -sens.vm_pu_per_kw])
    n_line, n_bus = sens.line_percent_per_kw.shape[0], sens.vm_pu_per_kw.shape[0]
    fill = config.fill_to_percent
    targets = np.concatenate(([fill], np.full(n_line, fill), np.full(n_bus, -signal.vm_low_leave_pu)))
    headroom = Relief(state, rows, targets, located=True)
    return PreheatSource(inner, config, state.trafo_percent, np.asarray(boost_kw, dtype=np.float64), headroom)


@dataclass
class _FeederSource:
    """Per-feeder signals (:class:`models.control.feeder.FeederSignals`) reading a pass's grid state."""

    signals: Any
    grid: GridState

    def save(self) -> tuple[np.ndarray, ...]:
        """Return the signals' state."""
        f = self.signals
        return (f._state.copy(), f._since.copy(), f._reasons.copy(), f._limit.copy(), np.array([f._limited]))

    def restore(self, saved: tuple[np.ndarray, ...]) -> None:
        """Put the signals back to a saved state."""
        f = self.signals
        f._state, f._since, f._reasons, f._limit = (a.copy() for a in saved[:4])
        f._limited = bool(saved[4][0])

    def calm(self) -> bool:
        """Every signal in ``NORMAL`` with no condition held and no limit in force."""
        f = self.signals
        normal = int(SignalState.NORMAL)
        return not (f._limited or f._reasons.any() or (f._state != normal).any() or np.isnan(f._since).any())

    def quiet_steps(self) -> np.ndarray:
        """The steps whose grid state leaves calm signals calm (:func:`models.control.relief.quiet_steps`)."""
        return quiet_steps(self.grid, self.signals.config)

    def step(
        self, t_s: float, k: int, delta: Any, p_controllable_kw: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        g = self.grid
        if k < 0:
            n_line, n_bus = g.line_percent.shape[1], g.vm_pu.shape[1]
            out = self.signals.update(
                t_s,
                trafo_loading_percent=np.nan,
                line_loading_percent=np.full(n_line, np.nan),
                vm_pu=np.full(n_bus, np.nan),
                p_grid_kw=np.nan,
            )
        else:
            d = delta
            out = self.signals.update(
                t_s,
                trafo_loading_percent=float(g.trafo_percent[k]) + (d.trafo_percent if d else 0.0),
                line_loading_percent=g.line_percent[k] + (d.line_percent if d else 0.0),
                vm_pu=g.vm_pu[k] + (d.vm_pu if d else 0.0),
                p_grid_kw=float(g.p_grid_kw[k]) + (d.p_grid_kw if d else 0.0),
                p_controllable_kw=p_controllable_kw,
            )
        return out.state, out.p_limit_14a_kw


def _with_power(assets: xr.Dataset, p_kw: np.ndarray, soc: tuple[int, np.ndarray] | None) -> xr.Dataset:
    """The assets with the controlled power (time x asset) and the signal-following battery's SOC."""
    out = assets.copy()
    out["p_kw"] = assets["p_kw"].copy(data=np.asarray(p_kw, dtype=np.float32))
    if soc is not None and "soc_frac" in out:
        values = out["soc_frac"].values.copy()
        values[:, soc[0]] = soc[1]
        out["soc_frac"] = out["soc_frac"].copy(data=values)
    return out
