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
from typing import Any, Final, Protocol

import numpy as np
import numpy.typing as npt

from models.control.ev import ChargeBacklog, charge_step, charge_want_kw
from models.control.relief import Delta, GridState, Relief
from models.control.signal import SignalConfig, SignalMachine
from models.control.thermal import ThermalParameters, ThermalStore, heat_pump_want_kw
from twin.core.signal import GridStress, SignalReason, SignalState

__all__ = ["Delta", "DistrictSource", "GridState", "LoopResult", "Plant", "Relief", "SignalSource", "run_steps"]

Array = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
_BLOCK = int(SignalState.BLOCK)


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

    def save(self) -> tuple[Array, ...]:
        """Return the source's state (arrays), to resume from."""
        ...

    def restore(self, saved: tuple[Array, ...]) -> None:
        """Put the source back to a saved state."""
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

    def save(self) -> tuple[Array, ...]:
        """Return the machine's state."""
        m = self.machine
        since = math.nan if m.since_s is None else m.since_s
        return (np.array([int(m.state), since, int(m.reasons)]),)

    def restore(self, saved: tuple[Array, ...]) -> None:
        """Put the machine back to a saved state."""
        state, since, reasons = saved[0]
        m = self.machine
        m.state, m.reasons = SignalState(int(state)), SignalReason(int(reasons))
        m.since_s = None if math.isnan(since) else float(since)

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
    """What a pass over the steps gives, per step.

    Attributes
    ----------
    p_kw : numpy.ndarray, shape (time, device)
        The devices' power. [kW]
    state : numpy.ndarray of int8, shape (time, building)
        Signal state per building.
    limited : numpy.ndarray of bool, shape (time, building)
        A section 14a limit in force.
    active : numpy.ndarray of bool, shape (time,)
        Steps in which a controller acted or a store was not at rest.
    dt_k : numpy.ndarray, shape (time, heat pump)
        Each store's indoor temperature against the set point after the step. [K]
    backlog_kwh : numpy.ndarray, shape (time, wallbox)
        Each wallbox's backlog after the step. [kWh]
    dimmed_kwh, blocked_kwh : numpy.ndarray, shape (time,)
        Energy the 14a limits and the SG-Ready block held back from the devices when they wanted it. [kWh]
    checkpoints : dict
        The loop's state at the start of every :data:`CHECKPOINT_STEPS`-th step (to resume a pass).
    """

    p_kw: Array
    state: npt.NDArray[np.int8]
    limited: npt.NDArray[np.bool_]
    active: npt.NDArray[np.bool_]
    dt_k: Array
    backlog_kwh: Array
    dimmed_kwh: Array
    blocked_kwh: Array
    checkpoints: dict[int, tuple[Any, ...]] = field(default_factory=dict)
    steps_run: int = 0

    @classmethod
    def empty(cls, plant: Plant, n_hp: int, n_ev: int) -> LoopResult:
        """Return the result of a pass with nothing acting (the schedule as it is)."""
        n = plant.base_kw.shape[0]
        return cls(
            plant.base_kw.copy(),
            np.empty((n, plant.n_building), dtype=np.int8),
            np.zeros((n, plant.n_building), dtype=bool),
            np.zeros(n, dtype=bool),
            np.zeros((n, n_hp)),
            np.zeros((n, n_ev)),
            np.zeros(n),
            np.zeros(n),
        )

    def copy_from(self, other: LoopResult, steps: slice) -> None:
        """Take ``other``'s steps ``steps``."""
        for name in ("p_kw", "state", "limited", "active", "dt_k", "backlog_kwh", "dimmed_kwh", "blocked_kwh"):
            getattr(self, name)[steps] = getattr(other, name)[steps]


#: Steps between the loop's checkpoints (a day of quarter hours).
CHECKPOINT_STEPS: Final[int] = 96


@dataclass(frozen=True)
class Resume:
    """Resume a pass from the previous one: its result and the steps whose power flow changed (sorted)."""

    previous: LoopResult
    changed: IntArray


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
    relief: Relief | None = None,
    resume: Resume | None = None,
    needs_draw: bool = True,
) -> LoopResult:
    """One pass over the period's steps with the controllers acting on the previous step's grid.

    Parameters
    ----------
    plant, source : Plant, SignalSource
        The controllable devices; the signal, reading the iterate's grid state.
    iterate_kw : numpy.ndarray, shape (time, device)
        The devices' power in the iterate (the profile whose power flow the source reads). [kW]
    step_s : float
        Step length. [s]
    sg_ready : bool
        Heat pumps are off while their building's signal blocks.
    sens : Sensitivities, optional
        Per building (:mod:`models.control.feeder`); None: the iterate's grid state as it is.
    relief : Relief, optional
        Block only the heat pumps the grid needs off; None: every heat pump of a blocked building.
    resume : Resume, optional
        The previous pass and the steps whose power flow changed since: where the loop's state at
        a checkpoint equals the previous pass's, its steps up to the next changed one are taken.
    needs_draw : bool, optional
        The source reads each building's controllable draw of the step before.

    Returns
    -------
    LoopResult
    """
    ix = _index(plant)
    n = plant.base_kw.shape[0]
    step_h = step_s / 3600.0
    store = ThermalStore(plant.thermal) if plant.thermal is not None else None
    backlog = ChargeBacklog(plant.p_rated_kw[ix.ev])
    result = LoopResult.empty(plant, len(ix.hp), len(ix.ev))
    out = result.p_kw
    start, held = _start(resume, result, store, backlog, source)
    zeros = np.zeros(len(plant.building))
    moved = (iterate_kw != plant.base_kw).any(axis=1)
    t = start
    while t < n:
        if t % CHECKPOINT_STEPS == 0:
            t, held = _checkpoint(t, start, resume, result, (store, backlog, source), held)
            if t >= n:
                break
        result.steps_run += 1
        delta = draw = None
        if t > 0:
            # the grid as it would be without the heat pumps held off: a block is not released by its own relief
            if result.active[t - 1] or moved[t - 1]:
                delta = _delta(out[t - 1] + held - iterate_kw[t - 1], plant, sens)
            draw = _sum_by(plant.building, np.clip(out[t - 1], 0.0, None), plant.n_building) if needs_draw else None
        st, limit = source.step(t * step_s, t - 1, delta, draw)
        result.state[t] = st
        finite = np.isfinite(limit) & ix.has_dim
        result.limited[t] = finite
        blocked = (st == _BLOCK) & ix.has_hp if sg_ready else None
        held = zeros
        if _resting(store, backlog) and not finite.any() and (blocked is None or not blocked.any()):
            t += 1
            continue
        result.active[t] = True
        if blocked is not None and relief is not None and blocked.any() and store is not None:
            excess = relief.excess(t - 1, delta) if t else None
            blocked = _needed(relief, excess, blocked, plant, ix, store, t, step_h)
        out[t], held = _act(plant, ix, t, limit, finite, blocked, (store, backlog), result, step_h)
        if store is not None:
            result.dt_k[t] = store.dt_k
        result.backlog_kwh[t] = backlog.backlog_kwh
        t += 1
    return result


def _start(
    resume: Resume | None, result: LoopResult, store: ThermalStore | None, backlog: ChargeBacklog, source: Any
) -> tuple[int, Array]:
    """Where a pass starts: step 0, or the previous pass's last checkpoint before its first changed step."""
    if resume is None:
        return 0, np.zeros(result.p_kw.shape[1])
    first = int(resume.changed[0]) if len(resume.changed) else result.p_kw.shape[0]
    start = max(c for c in resume.previous.checkpoints if c <= first)
    result.copy_from(resume.previous, slice(0, start))
    result.checkpoints = {c: v for c, v in resume.previous.checkpoints.items() if c <= start}
    return start, _restore(resume.previous.checkpoints[start], store, backlog, source)


def _checkpoint(
    t: int, start: int, resume: Resume | None, result: LoopResult, devices: tuple[Any, Any, Any], held: Array
) -> tuple[int, Array]:
    """Save the loop's state at step ``t``; where it equals the previous pass's, skip to the next changed step.

    A step reads only the step before, so with the same state the previous pass's steps hold up to
    the next step whose power flow changed; the loop goes on from the last checkpoint before it
    (with the previous pass's state there), or ends when no step changed after ``t``.
    """
    store, backlog, source = devices
    saved = _save(store, backlog, held, source)
    n = result.p_kw.shape[0]
    if resume is None or t == start or not _same(saved, resume, t, result.p_kw):
        result.checkpoints[t] = saved
        return t, held
    later = resume.changed[resume.changed >= t]
    until = n if not len(later) else int(later[0]) // CHECKPOINT_STEPS * CHECKPOINT_STEPS
    if until <= t:
        result.checkpoints[t] = saved
        return t, held
    result.copy_from(resume.previous, slice(t, until))
    result.checkpoints.update({c: v for c, v in resume.previous.checkpoints.items() if t <= c <= until})
    if until >= n:
        return n, held
    return until, _restore(resume.previous.checkpoints[until], store, backlog, source)


def _save(store: ThermalStore | None, backlog: ChargeBacklog, held: Array, source: Any) -> tuple[Any, ...]:
    """The loop's state at the start of a step."""
    dt = store.dt_k.copy() if store is not None else None
    return (dt, backlog.backlog_kwh.copy(), held.copy(), source.save())


def _restore(saved: tuple[Any, ...], store: ThermalStore | None, backlog: ChargeBacklog, source: Any) -> Array:
    """Put the loop's state back to a checkpoint; return the heat pumps held off in the step before."""
    dt, backlog_kwh, held, signal = saved
    if store is not None:
        store.dt_k = dt.copy()
    backlog.backlog_kwh = backlog_kwh.copy()
    source.restore(signal)
    return np.asarray(held).copy()


def _same(saved: tuple[Any, ...], resume: Resume, t: int, out: Array) -> bool:
    """The loop's state at step ``t`` and the step before's power equal the previous pass's."""
    other = resume.previous.checkpoints.get(t)
    if other is None or not np.array_equal(out[t - 1], resume.previous.p_kw[t - 1]):
        return False
    for mine, theirs in zip(saved, other, strict=True):
        if isinstance(mine, tuple):
            if not all(np.array_equal(a, b, equal_nan=True) for a, b in zip(mine, theirs, strict=True)):
                return False
        elif not (mine is None or np.array_equal(mine, theirs)):
            return False
    return True


def _act(
    plant: Plant,
    ix: _Index,
    t: int,
    limit: Array,
    finite: npt.NDArray[np.bool_],
    blocked: npt.NDArray[np.bool_] | None,
    devices: tuple[ThermalStore | None, ChargeBacklog],
    result: LoopResult,
    step_h: float,
) -> tuple[Array, Array]:
    """The devices' power at an active step and what the block held off; advances the stores and backlogs."""
    store, backlog = devices
    p = plant.base_kw[t].copy()
    held = np.zeros(len(p))
    off = np.zeros(len(ix.hp), dtype=bool) if blocked is None else blocked[ix.hp_building]
    if store is not None:
        # a blocked heat pump whose store is at its comfort bound overrides the block to hold the bound
        at_bound = off & (store.dt_k <= store.params.comfort_low_k)
        off &= ~at_bound
        target = np.where(at_bound, store.params.comfort_low_k, 0.0)
        want = heat_pump_want_kw(store, plant.heat_demand_kw[t], plant.cop[t], step_h, target)
        rest = (store.dt_k == 0.0) & ~at_bound
        p[ix.hp] = np.where(rest, p[ix.hp], np.minimum(want, plant.p_max_kw[ix.hp]))
    p[ix.ev] = charge_want_kw(backlog, plant.base_kw[t, ix.ev], step_h)
    result.blocked_kwh[t] = float(p[ix.hp][off].sum()) * step_h
    held[ix.hp[off]] = p[ix.hp[off]]
    p[ix.hp[off]] = 0.0
    if finite.any():
        wanted = p.copy()
        p = _dim(plant, ix, p, limit, finite)
        result.dimmed_kwh[t] = float((wanted - p).sum()) * step_h
    if store is not None:
        store.advance(p[ix.hp] * plant.cop[t], plant.heat_demand_kw[t], step_h)
    charge_step(backlog, plant.base_kw[t, ix.ev], p[ix.ev], step_h)
    return p, held


def _needed(
    relief: Relief,
    excess: Array | None,
    blocked: npt.NDArray[np.bool_],
    plant: Plant,
    ix: _Index,
    store: ThermalStore,
    t: int,
    step_h: float,
) -> npt.NDArray[np.bool_]:
    """The buildings whose heat pump goes off: of the blocked ones, only those the grid needs (:class:`Relief`)."""
    if excess is None:
        return blocked
    candidate = blocked[ix.hp_building] & (store.dt_k > store.params.comfort_low_k)
    want = heat_pump_want_kw(store, plant.heat_demand_kw[t], plant.cop[t], step_h)
    want = np.where(store.dt_k == 0.0, plant.base_kw[t, ix.hp], np.minimum(want, plant.p_max_kw[ix.hp]))
    c = np.flatnonzero(candidate)
    off = relief.choose(excess, ix.hp_building[c], want[c], store.dt_k[c])
    needed = np.zeros(plant.n_building, dtype=bool)
    needed[ix.hp_building[c[off]]] = True
    # buildings at their comfort bound stay "blocked": they hold the bound (_act)
    needed |= blocked & _at_bound(store, ix, plant.n_building)
    return needed


def _at_bound(store: ThermalStore, ix: _Index, n_building: int) -> npt.NDArray[np.bool_]:
    out = np.zeros(n_building, dtype=bool)
    out[ix.hp_building[store.dt_k <= store.params.comfort_low_k]] = True
    return out


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


def _delta(diff_kw: Array, plant: Plant, sens: Any | None) -> Delta | None:
    """The grid state's estimated change for a change of the devices' load ``diff_kw`` (None: none)."""
    if not diff_kw.any():
        return None
    dp_building_kw = _sum_by(plant.building, diff_kw, plant.n_building)
    total = float(dp_building_kw.sum())
    if sens is None:
        return Delta(0.0, 0.0, 0.0, total)
    return Delta(
        float(sens.trafo_percent_per_kw @ dp_building_kw),
        sens.line_percent_per_kw @ dp_building_kw,
        sens.vm_pu_per_kw @ dp_building_kw,
        total,
    )


def _resting(store: ThermalStore | None, backlog: ChargeBacklog) -> bool:
    """Every store at its set point and no wallbox owing energy."""
    return (store is None or store.at_rest) and backlog.empty


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
