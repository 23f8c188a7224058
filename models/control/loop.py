"""The year step by step: controllers with state on the grid state of the step before.

Heat pumps with a thermal store (:mod:`models.control.thermal`) and wallboxes with a charge
backlog (:mod:`models.control.ev`) carry state from step to step, so the year is one pass over
its steps, vectorised over buildings (:func:`run_steps`). At step ``t`` the signal reads the grid
state of step ``t - 1`` as the previous pass's batch power flow (the *iterate*) saw it, corrected by
the linear sensitivities of the grid to the change of each building's load at ``t - 1`` from the
iterate; the controllers then act on that signal. The caller runs a batch power flow of the new
profile and repeats until the signal no longer changes (:mod:`scenarios.controlled`); at that
point every step's signal is that of the real power flow of the step before. No step reads a
later step.

Steps in which nothing is blocked or dimmed and every store is at rest keep the schedule as it
is; only the signal advances there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from models.control.ev import ChargeBacklog, charge_step, charge_want_kw
from models.control.signal import SignalConfig, SignalMachine
from models.control.thermal import ThermalParameters, ThermalStore, heat_pump_want_kw
from twin.core.signal import GridStress, SignalState

__all__ = ["DistrictSource", "GridState", "LoopResult", "Plant", "SignalSource", "run_steps"]

Array = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
_BLOCK = int(SignalState.BLOCK)


@dataclass(frozen=True)
class GridState:
    """A batch power flow's result per step, as the controllers read it.

    Parameters
    ----------
    trafo_percent : numpy.ndarray, shape (time,)
        Highest transformer loading. [%]
    line_percent : numpy.ndarray, shape (time, line)
        Line loadings in the order of the grid's lines. [%]
    vm_pu : numpy.ndarray, shape (time, bus)
        Bus voltages in the order of the grid's buses. [p.u.]
    p_grid_kw : numpy.ndarray, shape (time,)
        Exchange at the substation, import > 0. [kW]
    """

    trafo_percent: Array
    line_percent: Array
    vm_pu: Array
    p_grid_kw: Array


@dataclass(frozen=True)
class Delta:
    """The estimated change of the grid state at one step from the iterate's (linear sensitivities)."""

    trafo_percent: float
    line_percent: Array | float
    vm_pu: Array | float
    p_grid_kw: float


class SignalSource(Protocol):
    """What gives each building its signal state and section 14a limit from the grid state of the step before."""

    def step(
        self, t_s: float, k: int, delta: Delta | None, p_controllable_kw: Array | None
    ) -> tuple[npt.NDArray[np.int8], Array]:
        """Return the state (int8) and the 14a limit [kW] (``inf``: free) per building for step ``k + 1``.

        ``k`` is the step measured (-1: nothing measured yet), ``delta`` the estimated change from
        the iterate at ``k``, ``p_controllable_kw`` what each building's controllable devices drew then.
        """
        ...


@dataclass
class DistrictSource:
    """One district-wide signal (:class:`models.control.signal.SignalMachine`) for every building.

    While it blocks for grid stress every building is dimmed to its section 14a minimum
    (limit 0 here: the plant never cuts below each group's minimum).
    """

    grid: GridState
    n_building: int
    config: SignalConfig = field(default_factory=SignalConfig)

    def __post_init__(self) -> None:
        self.machine = SignalMachine(self.config)
        g = self.grid
        self._line_max = _row_max(g.line_percent)
        self._vm_min = -_row_max(-g.vm_pu)
        self._vm_max = _row_max(g.vm_pu)
        self._states = {int(s): np.full(self.n_building, int(s), dtype=np.int8) for s in SignalState}
        self._free = np.full(self.n_building, math.inf)
        self._dimmed = np.zeros(self.n_building)

    def step(
        self, t_s: float, k: int, delta: Delta | None, p_controllable_kw: Array | None
    ) -> tuple[npt.NDArray[np.int8], Array]:
        """Advance the machine on the (estimated) grid state of step ``k``."""
        if k < 0:
            stress, surplus = GridStress(), math.nan
        else:
            g = self.grid
            if delta is None:
                line, vm_min, vm_max = self._line_max[k], self._vm_min[k], self._vm_max[k]
            else:
                lines = g.line_percent[k] + delta.line_percent
                vms = g.vm_pu[k] + delta.vm_pu
                line, vm_min, vm_max = _nanmax(lines), -_nanmax(-vms), _nanmax(vms)
            d_trafo, d_grid = (0.0, 0.0) if delta is None else (delta.trafo_percent, delta.p_grid_kw)
            p_grid = float(g.p_grid_kw[k]) + d_grid
            p_grid = p_grid if math.isfinite(p_grid) else 0.0
            stress = GridStress(
                trafo_loading_max_percent=float(g.trafo_percent[k]) + d_trafo,
                line_loading_max_percent=float(line),
                vm_min_pu=float(vm_min),
                vm_max_pu=float(vm_max),
                p_grid_kw=p_grid,
            )
            surplus = max(-p_grid, 0.0)
        out = self.machine.update(t_s, p_surplus_kw=surplus, stress=stress)
        dimmed = out.p_limit_14a_kw < self.config.p_limit_free_kw
        return self._states[int(out.state)], self._dimmed if dimmed else self._free


@dataclass(frozen=True)
class Plant:
    """The buildings' controllable devices (arrays over devices unless stated).

    Parameters
    ----------
    n_building : int
        Number of buildings (the signal's order).
    building : numpy.ndarray of int
        Building of each device.
    kind : numpy.ndarray of str
        ``heat_pump``, ``ev`` or ``battery``.
    dimmable : numpy.ndarray of bool
        Section 14a dims the device.
    group : numpy.ndarray of int
        Section 14a group of each device (a building under one energy management system, or one
        device, or a building's heat pumps together).
    group_min_kw : numpy.ndarray
        What each group keeps while dimmed (BK6-22-300); ``inf``: never dimmed. [kW]
    base_kw : numpy.ndarray, shape (time, device)
        Each device's schedule without control. [kW]
    heat_demand_kw, cop : numpy.ndarray, shape (time, heat pump)
        The heat pumps' heat demand [kW] and COP [1], in the order of the heat-pump devices.
    thermal : ThermalParameters or None
        The heat-pump buildings' stores (None without heat pumps).
    p_rated_kw : numpy.ndarray
        Rated power of each device (the wallboxes'). [kW]
    p_max_kw : numpy.ndarray
        Most electric power each device draws (a heat pump's unit and backup heater together). [kW]
    """

    n_building: int
    building: IntArray
    kind: npt.NDArray[np.str_]
    dimmable: npt.NDArray[np.bool_]
    group: IntArray
    group_min_kw: Array
    base_kw: Array
    heat_demand_kw: Array
    cop: Array
    thermal: ThermalParameters | None
    p_rated_kw: Array
    p_max_kw: Array

    def group_building(self) -> IntArray:
        """Return the building of each group."""
        out = np.zeros(len(self.group_min_kw), dtype=np.int64)
        out[self.group] = self.building
        return out


@dataclass
class LoopResult:
    """What a pass over the steps gives.

    Attributes
    ----------
    p_kw : numpy.ndarray, shape (time, device)
        The devices' power. [kW]
    state : numpy.ndarray of int8, shape (time, building)
        Signal state per building.
    limited : numpy.ndarray of bool, shape (time, building)
        A section 14a limit in force.
    store : ThermalStore or None
    backlog : ChargeBacklog
    dimmed_kwh, blocked_kwh : float
        Energy the 14a limits and the SG-Ready block held back from the devices when they wanted it. [kWh]
    min_dt_k : float
        Lowest indoor temperature against the set point over the period. [K]
    active : numpy.ndarray of bool, shape (time,)
        Steps in which a controller acted or a store was not at rest.
    """

    p_kw: Array
    state: npt.NDArray[np.int8]
    limited: npt.NDArray[np.bool_]
    store: ThermalStore | None
    backlog: ChargeBacklog
    dimmed_kwh: float = 0.0
    blocked_kwh: float = 0.0
    min_dt_k: float = 0.0
    active: npt.NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, dtype=bool))


@dataclass(frozen=True)
class _Index:
    hp: IntArray
    ev: IntArray
    hp_building: IntArray
    group_building: IntArray
    m_building: Array
    has_hp: npt.NDArray[np.bool_]
    has_dim: npt.NDArray[np.bool_]


def _index(plant: Plant) -> _Index:
    hp = np.flatnonzero(plant.kind == "heat_pump")
    gb = plant.group_building()
    finite = np.isfinite(plant.group_min_kw)
    m = _sum_by(gb[finite], plant.group_min_kw[finite], plant.n_building)
    has_dim = np.zeros(plant.n_building, dtype=bool)
    has_dim[plant.building[plant.dimmable]] = True
    has_hp = np.zeros(plant.n_building, dtype=bool)
    has_hp[plant.building[hp]] = True
    return _Index(hp, np.flatnonzero(plant.kind == "ev"), plant.building[hp], gb, m, has_hp, has_dim)


def run_steps(
    plant: Plant,
    source: SignalSource,
    iterate_kw: Array,
    step_s: float,
    *,
    sg_ready: bool,
    sens: Any | None = None,
) -> LoopResult:
    """One pass over the period's steps with the controllers acting on the previous step's grid.

    Parameters
    ----------
    plant : Plant
        The controllable devices.
    source : SignalSource
        The signal, reading the iterate's grid state.
    iterate_kw : numpy.ndarray, shape (time, device)
        The devices' power in the iterate (the profile whose power flow the source reads). [kW]
    step_s : float
        Step length. [s]
    sg_ready : bool
        Heat pumps are off while their building's signal blocks.
    sens : Sensitivities, optional
        Linear sensitivities per building (:mod:`models.control.feeder`); None: the iterate's
        grid state is read as it is.

    Returns
    -------
    LoopResult
    """
    ix = _index(plant)
    n = plant.base_kw.shape[0]
    step_h = step_s / 3600.0
    out = plant.base_kw.copy()
    state = np.empty((n, plant.n_building), dtype=np.int8)
    limited = np.zeros((n, plant.n_building), dtype=bool)
    active = np.zeros(n, dtype=bool)
    store = ThermalStore(plant.thermal) if plant.thermal is not None else None
    backlog = ChargeBacklog(plant.p_rated_kw[ix.ev])
    result = LoopResult(out, state, limited, store, backlog, active=active)
    draw = None
    for t in range(n):
        delta = None
        if t > 0:
            diff = out[t - 1] - iterate_kw[t - 1]
            if diff.any():
                delta = _delta(_sum_by(plant.building, diff, plant.n_building), sens)
            draw = _sum_by(plant.building, np.clip(out[t - 1], 0.0, None), plant.n_building)
        st, limit = source.step(t * step_s, t - 1, delta, draw)
        state[t] = st
        finite = np.isfinite(limit) & ix.has_dim
        limited[t] = finite
        blocked = (st == _BLOCK) & ix.has_hp if sg_ready else None
        resting = (store is None or store.at_rest) and backlog.empty
        if resting and not finite.any() and (blocked is None or not blocked.any()):
            continue
        active[t] = True
        out[t] = _act(plant, ix, t, limit, finite, blocked, result, step_h)
    return result


def _act(
    plant: Plant,
    ix: _Index,
    t: int,
    limit: Array,
    finite: npt.NDArray[np.bool_],
    blocked: npt.NDArray[np.bool_] | None,
    result: LoopResult,
    step_h: float,
) -> Array:
    """The devices' power at an active step; advances the stores and backlogs and accounts what was held back."""
    store, backlog = result.store, result.backlog
    p = plant.base_kw[t].copy()
    off = np.zeros(len(ix.hp), dtype=bool) if blocked is None else blocked[ix.hp_building]
    if store is not None:
        # a blocked heat pump whose store is at its comfort bound overrides the block to hold the bound
        held = off & (store.dt_k <= store.params.comfort_low_k)
        off &= ~held
        target = np.where(held, store.params.comfort_low_k, 0.0)
        want = heat_pump_want_kw(store, plant.heat_demand_kw[t], plant.cop[t], step_h, target)
        rest = (store.dt_k == 0.0) & ~held
        p[ix.hp] = np.where(rest, p[ix.hp], np.minimum(want, plant.p_max_kw[ix.hp]))
    p[ix.ev] = charge_want_kw(backlog, plant.base_kw[t, ix.ev], step_h)
    result.blocked_kwh += float(p[ix.hp][off].sum()) * step_h
    p[ix.hp[off]] = 0.0
    if finite.any():
        wanted = p.copy()
        p = _dim(plant, ix, p, limit, finite)
        result.dimmed_kwh += float((wanted - p).sum()) * step_h
    if store is not None:
        store.advance(p[ix.hp] * plant.cop[t], plant.heat_demand_kw[t], step_h)
        result.min_dt_k = min(result.min_dt_k, float(store.dt_k.min(initial=0.0)))
    charge_step(backlog, plant.base_kw[t, ix.ev], p[ix.ev], step_h)
    return p


def _dim(plant: Plant, ix: _Index, p: Array, limit: Array, finite: npt.NDArray[np.bool_]) -> Array:
    """Cut each section 14a group's draw to its cap.

    The cap is the group's minimum, raised in proportion where the building's limit allows more.
    """
    gb = ix.group_building
    draw = _sum_by(plant.group, np.where(plant.dimmable, np.clip(p, 0.0, None), 0.0), len(gb))
    with np.errstate(divide="ignore", invalid="ignore"):
        raise_by = np.where(ix.m_building[gb] > 0, np.maximum(1.0, limit[gb] / ix.m_building[gb]), 1.0)
        cap = plant.group_min_kw * raise_by
        share = np.where(finite[gb] & (draw > cap), cap / draw, 1.0)
    return np.where(plant.dimmable & (p > 0.0), p * share[plant.group], p)


def _delta(dp_building_kw: Array, sens: Any | None) -> Delta:
    """The grid state's estimated change for a change of the buildings' load (kW)."""
    total = float(dp_building_kw.sum())
    if sens is None:
        return Delta(0.0, 0.0, 0.0, total)
    return Delta(
        float(sens.trafo_percent_per_kw @ dp_building_kw),
        sens.line_percent_per_kw @ dp_building_kw,
        sens.vm_pu_per_kw @ dp_building_kw,
        total,
    )


def _sum_by(index: IntArray, values: Array, n: int) -> Array:
    """Sum ``values`` by ``index`` into ``n`` bins."""
    return np.bincount(index, values, minlength=n).astype(np.float64)


def _nanmax(values: Array) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.max()) if len(finite) else math.nan


def _row_max(values: Array) -> Array:
    """Per-row maximum ignoring NaN; NaN where a row has no value."""
    if values.shape[1] == 0:
        return np.full(values.shape[0], np.nan)
    finite = np.isfinite(values)
    out = np.where(finite, values, -np.inf).max(axis=1)
    return np.where(finite.any(axis=1), out, np.nan)
