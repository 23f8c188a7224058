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
is; only the signal advances there. Each step is :func:`models.control.plant.step`, the library's
single step (re-exported here with :class:`Plant` and :class:`PlantState`), which the simulated
field calls once per quarter hour.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

import numpy as np
import numpy.typing as npt

from models.control.ev import ChargeBacklog
from models.control.plant import Plant, PlantState, StepResult, grid_delta, step
from models.control.relief import Delta, GridState, Relief, quiet_steps
from models.control.signal import SignalConfig, SignalMachine
from models.control.thermal import ThermalStore
from models.control.year import row_max
from twin.core.signal import GridStress, SignalReason, SignalState

__all__ = [
    "Delta",
    "DistrictSource",
    "GridState",
    "LoopResult",
    "Plant",
    "PlantState",
    "Relief",
    "SignalSource",
    "StepResult",
    "grid_delta",
    "run_steps",
    "step",
]

Array = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
_BLOCK = int(SignalState.BLOCK)
_NORMAL = int(SignalState.NORMAL)


class SignalSource(Protocol):
    """What gives each building its signal state and section 14a limit from the grid state of the step before.

    A source may also tell, with ``calm() -> bool`` and ``quiet_steps() -> bool array (time,)``,
    when it is calm (every signal normal, nothing held, no limit) and which steps' grid state
    leaves it calm; :func:`run_steps` then passes over the calm steps in bulk. A source with state
    of its own in calm steps also has ``passed_over(t0, t1) -> int``: it takes steps ``t0`` to
    ``t1 - 1`` as calm ones and returns the first step it cannot pass over (``t1``: none).
    """

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
        self._line_max = row_max(g.line_percent)
        self._vm_min = -row_max(-g.vm_pu)
        self._vm_max = row_max(g.vm_pu)
        self._states = {int(s): np.full(self.n_building, int(s), dtype=np.int8) for s in SignalState}
        self._free = np.full(self.n_building, math.inf)
        self._dimmed = np.zeros(self.n_building)
        #: Rows of the grid state may change during the pass (:func:`run_steps`' ``reflow``).
        self._reflowed = False

    def calm(self) -> bool:
        """The machine in ``NORMAL`` with no condition held."""
        m = self.machine
        return m.state is SignalState.NORMAL and not m.reasons and m.since_s is not None

    def quiet_steps(self) -> npt.NDArray[np.bool_]:
        """The steps whose grid state leaves a calm machine calm (:func:`models.control.relief.quiet_steps`)."""
        return quiet_steps(self.grid, self.config)

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
            if delta is None and not self._reflowed:
                line, vm_min, vm_max = self._line_max[k], self._vm_min[k], self._vm_max[k]
            elif delta is None:  # rows solved again during the pass: read them as they are now
                line, vm_min, vm_max = _nanmax(g.line_percent[k]), -_nanmax(-g.vm_pu[k]), _nanmax(g.vm_pu[k])
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

    def record(self, t: int, done: StepResult, devices: PlantState) -> None:
        """Keep what an active step gave and the devices' state after it."""
        self.active[t] = True
        self.p_kw[t] = done.p_kw
        self.blocked_kwh[t] = done.blocked_kwh
        self.dimmed_kwh[t] = done.dimmed_kwh
        if devices.store is not None:
            self.dt_k[t] = devices.store.dt_k
        self.backlog_kwh[t] = devices.backlog.backlog_kwh

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
    reflow: Callable[[int, Array], None] | None = None,
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
    reflow : callable, optional
        ``reflow(k, p_kw)`` puts step ``k``'s power flow with the devices' power ``p_kw`` into the grid
        state the source and ``relief`` read (:class:`models.control.reflow.StepFlow`), where it differs
        from the iterate's; None: the iterate's grid state corrected by the linear sensitivities.

    Returns
    -------
    LoopResult
    """
    n = plant.base_kw.shape[0]
    devices = PlantState.initial(plant)
    store, backlog = devices.store, devices.backlog
    result = LoopResult.empty(plant, len(plant.index.hp), len(plant.index.ev))
    out = result.p_kw  # the devices' power, step by step
    t = start = _start(resume, result, devices, source)
    moved = (iterate_kw != plant.base_kw).any(axis=1)
    loud, calm, passed = _loud_from(source, moved), getattr(source, "calm", None), getattr(source, "passed_over", None)
    if reflow is not None and isinstance(source, DistrictSource):
        source._reflowed = True  # it reads the rows as they are, not its maxima of the pass's start
    while t < n:
        if t % CHECKPOINT_STEPS == 0:
            t, devices.held_kw = _checkpoint(t, start, resume, result, (store, backlog, source), devices.held_kw)
            if t >= n:
                break
        if loud is not None and calm is not None and t > 0 and not result.active[t - 1] and devices.resting and calm():
            # calm: stores at rest, signals normal, the steps read quiet: nothing acts until the next loud one
            until = _calm_until(t, n, loud, passed)
            if until > t:
                result.state[t:until], t = _NORMAL, until
                continue
        result.steps_run += 1
        delta = draw = None
        if t > 0:
            if result.active[t - 1] or moved[t - 1]:
                delta = _delta(t - 1, out[t - 1], iterate_kw[t - 1], devices.held_kw, (plant, sens, reflow))
            draw = plant.building_sum_kw(np.maximum(out[t - 1], 0.0)) if needs_draw else None
        st, limit = source.step(t * step_s, t - 1, delta, draw)
        result.state[t] = st
        done = step(plant, devices, t, st, limit, step_s, sg_ready=sg_ready, relief=relief, measured=t - 1, delta=delta)
        result.limited[t] = done.limited
        if not done.active:
            t += 1
            continue
        result.record(t, done, devices)
        t += 1
    return result


def _calm_until(t: int, n: int, loud: IntArray, passed: Any) -> int:
    """The end of the calm stretch from step ``t``: the next loud step, the next checkpoint, or the source's say."""
    until = min(int(loud[t - 1]) + 1, (t // CHECKPOINT_STEPS + 1) * CHECKPOINT_STEPS, n)
    return int(passed(t, until)) if passed is not None and until > t else until


def _delta(k: int, p_kw: Array, iterate_kw: Array, held_kw: Array, how: tuple[Plant, Any, Any]) -> Delta | None:
    """The change of step ``k``'s grid state from the iterate's, as the next step's controllers read it.

    The grid as it would be without the heat pumps held off (a block is not released by its own
    relief); with ``reflow`` the step is solved again where its power changed, else the change of
    load is estimated by the sensitivities.
    """
    plant, sens, reflow = how
    if reflow is not None and (p_kw != iterate_kw).any():
        reflow(k, p_kw)
        return grid_delta(held_kw, plant, sens)
    return grid_delta(p_kw + held_kw - iterate_kw, plant, sens)


def _loud_from(source: Any, moved: npt.NDArray[np.bool_]) -> IntArray | None:
    """For each step, the first step from it on that a calm source may not pass over; None: the source tells none.

    A source may tell its calm state (``calm()``) and the steps whose grid state leaves it calm
    (``quiet_steps()``); a step moved from the schedule in the iterate is never passed over.
    """
    if not (hasattr(source, "calm") and hasattr(source, "quiet_steps")):
        return None
    loud = ~np.asarray(source.quiet_steps(), dtype=bool) | moved
    n = len(loud)
    index = np.where(loud, np.arange(n), n)
    return np.minimum.accumulate(index[::-1])[::-1]


def _start(resume: Resume | None, result: LoopResult, devices: PlantState, source: Any) -> int:
    """Where a pass starts: step 0, or the previous pass's last checkpoint before its first changed step.

    Puts the devices (and what the block held off in the step before) and the source in that step's state.
    """
    if resume is None:
        devices.held_kw = np.zeros(result.p_kw.shape[1])
        return 0
    first = int(resume.changed[0]) if len(resume.changed) else result.p_kw.shape[0]
    start = max(c for c in resume.previous.checkpoints if c <= first)
    result.copy_from(resume.previous, slice(0, start))
    result.checkpoints = {c: v for c, v in resume.previous.checkpoints.items() if c <= start}
    devices.held_kw = _restore(resume.previous.checkpoints[start], devices.store, devices.backlog, source)
    return start


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


def _nanmax(values: Array) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.max()) if len(finite) else math.nan
