"""The controllers' plant and their one step: the single-step API of the control library.

:class:`Plant` holds the buildings' controllable devices (heat pumps with their thermal stores,
wallboxes, batteries; section 14a groups), :class:`PlantState` what they carry from step to step
(the stores, the charge backlogs, what the block held off), and :func:`step` advances them by one
step on the signal: SG-Ready blocking (only as far as needed with a :class:`Relief`), section 14a
dimming, heat pumps serving their stores and dimmed wallboxes charging later. The scenario
runner's year (:func:`models.control.loop.run_steps`) and the simulated field
(:mod:`twin.field.control`) call the same :func:`step`.
"""

from __future__ import annotations

import copy
import math
import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from models.control.ev import ChargeBacklog, charge_step
from models.control.plant_kernel import dim_kernel, free_want_kernel, raised_kernel, settle_kernel, want_kernel
from models.control.relief import Delta, Relief
from models.control.thermal import ThermalParameters, ThermalStore
from twin.core.signal import SignalState

__all__ = ["Plant", "PlantState", "StepResult", "grid_delta", "step"]

Array = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
_BLOCK = int(SignalState.BLOCK)
_ON = int(SignalState.RECOMMENDED_ON)
#: Each living plant's index (:meth:`Plant.index`), by the plant's id.
_INDEXES: dict[int, tuple[weakref.ReferenceType[Any], Any]] = {}


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

    @property
    def index(self) -> _Index:
        """The devices by kind and the buildings' section 14a minima (computed once per plant)."""
        key = id(self)
        hit = _INDEXES.get(key)
        if hit is not None and hit[0]() is self:
            return hit[1]
        ix = _index(self)
        _INDEXES[key] = (weakref.ref(self, lambda _ref: _INDEXES.pop(key, None)), ix)
        return ix

    def building_sum_kw(self, p_kw: Array) -> Array:
        """Return the devices' power ``p_kw`` [kW] (device,) summed per building."""
        return _sum_by(self.building, p_kw, self.n_building)

    def cap_kw(self, device: int, limit_kw: float) -> float:
        """Return what the section 14a group of ``device`` may draw while its building's limit is ``limit_kw`` [kW].

        The group's minimum, raised in proportion where the limit allows more (as :func:`step`
        dims); ``inf`` for a device section 14a does not dim.
        """
        if not self.dimmable[device]:
            return math.inf
        m_kw = float(self.index.m_building[self.building[device]])
        raise_by = max(1.0, limit_kw / m_kw) if m_kw > 0 else 1.0
        return float(self.group_min_kw[self.group[device]]) * raise_by


@dataclass
class PlantState:
    """What the devices carry from step to step: the heat pumps' stores, the wallboxes' backlogs.

    Attributes
    ----------
    store : ThermalStore or None
        The heat-pump buildings' thermal stores (None without heat pumps with a store).
    backlog : ChargeBacklog
        The wallboxes' charge backlogs.
    held_kw : numpy.ndarray, shape (device,)
        What the SG-Ready block held off in the step before (the signal reads the grid without
        it: a block is not released by its own relief). [kW]
    """

    store: ThermalStore | None
    backlog: ChargeBacklog
    held_kw: Array

    @classmethod
    def initial(cls, plant: Plant) -> PlantState:
        """Return the state at the start: every store at its set point, no backlog, nothing held off."""
        store = ThermalStore(plant.thermal) if plant.thermal is not None else None
        return cls(store, ChargeBacklog(plant.p_rated_kw[plant.index.ev]), np.zeros(len(plant.building)))

    def copy(self) -> PlantState:
        """Return an independent copy (to try a step and keep it or not)."""
        return copy.deepcopy(self)

    @property
    def resting(self) -> bool:
        """Every store at its set point and no wallbox owing energy."""
        return _resting(self.store, self.backlog)


@dataclass(frozen=True)
class StepResult:
    """What one step of the controllers gives.

    Attributes
    ----------
    active : bool
        A controller acted or a store was not at rest (otherwise ``p_kw`` is the schedule).
    p_kw : numpy.ndarray, shape (device,)
        The devices' power (read only: inactive steps give a view of the schedule). [kW]
    limited : numpy.ndarray of bool, shape (building,)
        A section 14a limit in force.
    blocked_kwh, dimmed_kwh : float
        Energy the SG-Ready block and the 14a limits held back from the devices when they wanted it. [kWh]
    """

    active: bool
    p_kw: Array
    limited: npt.NDArray[np.bool_]
    blocked_kwh: float = 0.0
    dimmed_kwh: float = 0.0


def step(
    plant: Plant,
    devices: PlantState,
    t: int,
    signal_state: npt.NDArray[np.int8],
    limit_kw: Array,
    step_s: float,
    *,
    sg_ready: bool,
    relief: Relief | None = None,
    measured: int = -1,
    delta: Delta | None = None,
) -> StepResult:
    """One step of the controllers on the signal: the devices' power; advances ``devices`` in place.

    The one step of the control library: the scenario runner's year (:func:`run_steps`) and the
    simulated field (:mod:`twin.field.control`, one call per quarter hour) both call it.

    Parameters
    ----------
    plant : Plant
        The controllable devices.
    devices : PlantState
        Their stores and backlogs before the step; advanced to after it.
    t : int
        The step of the plant's schedule.
    signal_state : numpy.ndarray of int8, shape (building,)
        Each building's SG-Ready state.
    limit_kw : numpy.ndarray, shape (building,)
        Each building's section 14a limit; ``inf``: not dimmed. [kW]
    step_s : float
        Step length. [s]
    sg_ready : bool
        Heat pumps are off while their building's signal blocks.
    relief : Relief, optional
        Block only the heat pumps the grid needs off; None: every heat pump of a blocked building.
    measured, delta : int, Delta or None, optional
        The row of ``relief``'s grid state measured before the step (-1: none; then every heat pump
        of a blocked building goes off) and its estimated change.

    Returns
    -------
    StepResult
    """
    ix = plant.index
    finite = np.isfinite(limit_kw) & ix.has_dim
    blocked = (signal_state == _BLOCK) & ix.has_hp if sg_ready else None
    store, backlog = devices.store, devices.backlog
    raised = _raised_k(store, signal_state, ix) if sg_ready else None
    if devices.resting and not finite.any() and (blocked is None or not blocked.any()) and raised is None:
        devices.held_kw = np.zeros(len(plant.building))
        return StepResult(False, plant.base_kw[t], finite)
    step_h = step_s / 3600.0
    if blocked is not None and relief is not None and blocked.any() and store is not None:
        excess = relief.excess(measured, delta) if measured >= 0 else None
        blocked = _needed(relief, excess, blocked, plant, ix, store, t, step_h, raised, devices.held_kw)
    p, devices.held_kw, blocked_kwh, dimmed_kwh = _act(
        plant, ix, t, limit_kw, finite, blocked, (store, backlog), step_h, raised
    )
    return StepResult(True, p, finite, blocked_kwh, dimmed_kwh)


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


def _act(
    plant: Plant,
    ix: _Index,
    t: int,
    limit: Array,
    finite: npt.NDArray[np.bool_],
    blocked: npt.NDArray[np.bool_] | None,
    devices: tuple[ThermalStore | None, ChargeBacklog],
    step_h: float,
    raised_k: Array | None = None,
) -> tuple[Array, Array, float, float]:
    """The devices' power at an active step, what the block held off and the energy blocked and dimmed [kWh].

    Advances the stores and backlogs.
    """
    store, backlog = devices
    p = plant.base_kw[t].copy()
    held = np.zeros(len(p))
    off = np.zeros(len(ix.hp), dtype=bool) if blocked is None else blocked[ix.hp_building]
    if store is not None:
        sp = store.params
        stores = (store.dt_k, sp.c_kwh_per_k, sp.h_kw_per_k, sp.q_max_kw)
        limits = (sp.comfort_low_k, sp.recover_frac, step_h)
    else:
        stores, limits = _NO_STORE, (0.0, 0.0, step_h)
    raised = _NOT_RAISED if raised_k is None else raised_k
    heat = (plant.heat_demand_kw[t], plant.cop[t])
    want_kernel(
        p,
        held,
        off,
        ix.hp,
        ix.ev,
        stores,
        raised,
        heat,
        limits,
        plant.p_max_kw,
        backlog.p_rated_kw,
        backlog.backlog_kwh,
    )
    blocked_kwh = float(held[ix.hp][off].sum()) * step_h
    dimmed_kwh = 0.0
    if finite.any():
        wanted = p.copy()
        p = _dim(plant, ix, p, limit, finite)
        dimmed_kwh = float((wanted - p).sum()) * step_h
    if store is not None:  # the stores take the heat, the wallboxes account what they drew (one compiled call)
        sp = store.params
        sums = (
            store.delivered_kwh,
            store.demand_kwh,
            store.loss_kwh,
            store.deferred_kwh,
            store.violation_kh,
            store.violation_h,
        )
        store.dt_k, backlog.backlog_kwh = settle_kernel(
            p,
            ix.hp,
            ix.ev,
            heat,
            step_h,
            (store.dt_k, sp.c_kwh_per_k, sp.h_kw_per_k),
            sp.comfort_low_k,
            sums,
            plant.base_kw[t],
            (backlog.backlog_kwh, backlog.deferred_kwh),
        )
    else:
        charge_step(backlog, plant.base_kw[t, ix.ev], p[ix.ev], step_h)
    return p, held, blocked_kwh, dimmed_kwh


def _needed(
    relief: Relief,
    excess: Array | None,
    blocked: npt.NDArray[np.bool_],
    plant: Plant,
    ix: _Index,
    store: ThermalStore,
    t: int,
    step_h: float,
    raised_k: Array | None = None,
    held_kw: Array | None = None,
) -> npt.NDArray[np.bool_]:
    """The buildings whose heat pump goes off: of the blocked ones, only those the grid needs (:class:`Relief`).

    With :attr:`Relief.rebound` the excess adds what the heat pumps held off in the step before
    (``held_kw``, per device) want now beyond what they wanted then.
    """
    if excess is None:
        return blocked
    candidate = blocked[ix.hp_building] & (store.dt_k > store.params.comfort_low_k)
    sp = store.params
    want = free_want_kernel(
        (store.dt_k, sp.c_kwh_per_k, sp.h_kw_per_k, sp.q_max_kw),
        _NOT_RAISED if raised_k is None else raised_k,
        (plant.heat_demand_kw[t], plant.cop[t]),
        (sp.recover_frac, step_h),
        ix.hp,
        plant.p_max_kw,
        plant.base_kw[t],
    )
    if relief.rebound and held_kw is not None:
        back = np.flatnonzero(held_kw[ix.hp] > 0.0)
        grow = np.clip(want[back] - held_kw[ix.hp][back], 0.0, None)
        excess = excess + (relief.effect(ix.hp_building[back]) * grow).sum(axis=1)
    c = np.flatnonzero(candidate)
    off = relief.choose(excess, ix.hp_building[c], want[c], store.dt_k[c])
    needed = np.zeros(plant.n_building, dtype=bool)
    needed[ix.hp_building[c[off]]] = True
    # buildings at their comfort bound stay "blocked": they hold the bound (_act)
    needed |= blocked & _at_bound(store, ix, plant.n_building)
    return needed


def _raised_k(store: ThermalStore | None, signal_state: npt.NDArray[np.int8], ix: _Index) -> Array | None:
    """Each heat pump's set point against the demand's where raised [K] (NaN: not; None: none raised).

    Where the building's signal recommends running (SG-Ready state 3) the store's raised set point
    (:attr:`ThermalParameters.boost_k`, :mod:`models.control.preheat`); where it blocks and the
    heat pump is not switched off, a store above its set point holds what it has (it is kept for
    the block's later steps instead of spent at once).
    """
    if store is None or store.params.boost_k <= 0.0:
        return None
    raised = np.empty(len(ix.hp_building))
    any_raised = raised_kernel(signal_state, ix.hp_building, store.dt_k, store.params.boost_k, raised)
    return raised if any_raised else None


def _at_bound(store: ThermalStore, ix: _Index, n_building: int) -> npt.NDArray[np.bool_]:
    out = np.zeros(n_building, dtype=bool)
    out[ix.hp_building[store.dt_k <= store.params.comfort_low_k]] = True
    return out


def _dim(plant: Plant, ix: _Index, p: Array, limit: Array, finite: npt.NDArray[np.bool_]) -> Array:
    """Cut each section 14a group's draw to its cap.

    The cap is the group's minimum, raised in proportion where the building's limit allows more.
    """
    return dim_kernel(
        p, limit, finite, plant.group, plant.dimmable, plant.group_min_kw, ix.group_building, ix.m_building
    )


_NO_STORE = (np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0))
_NOT_RAISED = np.zeros(0)


def grid_delta(diff_kw: Array, plant: Plant, sens: Any | None) -> Delta | None:
    """Return the grid state's estimated change for a change of the devices' load ``diff_kw`` (None: none).

    Parameters
    ----------
    diff_kw : numpy.ndarray, shape (device,)
        Change of each device's load. [kW]
    plant : Plant
        The devices (their buildings).
    sens : Sensitivities or None
        The grid's sensitivities per building (:func:`models.control.feeder.sensitivities`);
        None: only the exchange changes.
    """
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
