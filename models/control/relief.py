"""What the controllers read of a batch power flow, and SG-Ready blocking only as far as needed.

:class:`GridState` is a pass's power flow per step as the controllers read it, :class:`Delta` its
estimated change at one step from the linear sensitivities, and :class:`Relief` decides which
heat pumps of the blocked buildings go off (:mod:`models.control.loop`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, Final

import numba
import numpy as np
import numpy.typing as npt

__all__ = ["Delta", "GridState", "Relief", "quiet_steps"]

Array = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class GridState:
    """A batch power flow's result per step, as the controllers read it.

    Parameters
    ----------
    trafo_percent : numpy.ndarray, shape (time,)
        Highest transformer loading. [%]
    line_percent : numpy.ndarray, shape (time, line)
        Line loadings in the order of the grid's lines (float32, as a power flow stores them, or float64). [%]
    vm_pu : numpy.ndarray, shape (time, bus)
        Bus voltages in the order of the grid's buses (float32 or float64). [p.u.]
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


@dataclass(frozen=True)
class Relief:
    """SG-Ready blocking only as far as the grid needs: which heat pumps of the blocked buildings go off.

    While a building's signal blocks, its heat pump is a candidate. The grid state of the step
    before (estimated as the signal reads it) is compared with the targets (per feeder the
    signal's enter thresholds, district-wide half-way between enter and leave); the candidates
    with the most heat in store go off first (a store at its comfort bound is no candidate), until
    the excess of every quantity over its target is covered by their draw times its effect.
    ``located``: each heat pump's own effect on each quantity (the per-feeder operator knows where
    its buildings are); otherwise the mean effect of all buildings (a district-wide operator knows
    only how much, not where), which takes more heat pumps off for a stress in one feeder.

    Parameters
    ----------
    grid : GridState
        The iterate's grid state.
    rows : numpy.ndarray, shape (quantity, building)
        Rise of each quantity (transformer loading, each line's loading, each bus's voltage
        *drop*) per kW more load at each building. [%/kW], [p.u./kW]
    targets : numpy.ndarray, shape (quantity,)
        Each quantity's target (voltages negated). [%], [p.u.]
    located : bool
        Use each building's own effect.
    rebound : bool, optional
        Count the rebound: a heat pump held off in the step before comes back with what it wants
        now (its store has cooled meanwhile), more than the grid state read with it added back.
    """

    grid: GridState
    rows: Array
    targets: Array
    located: bool
    rebound: bool = False

    def excess(self, k: int, delta: Delta | None) -> Array:
        """Return each quantity's excess over its target at step ``k`` (the estimate; NaN: not known)."""
        g = self.grid
        if delta is None:
            d_trafo, d_line, d_vm = 0.0, _NO_DELTA, _NO_DELTA
        else:
            d_trafo = float(delta.trafo_percent)
            d_line = np.atleast_1d(np.asarray(delta.line_percent, dtype=np.float64))
            d_vm = np.atleast_1d(np.asarray(delta.vm_pu, dtype=np.float64))
        return _excess(
            float(g.trafo_percent[k]),
            g.line_percent[k],
            g.vm_pu[k],
            delta is not None,
            (d_trafo, d_line, d_vm),
            self.targets,
        )

    def effect(self, building: IntArray, quantities: npt.NDArray[np.bool_] | None = None) -> Array:
        """Return each quantity's rise per kW at each of the given buildings as the operator knows it.

        ``quantities``: only these rows (a mask over the quantities); default all.
        """
        if self.located:
            rows = self.rows if quantities is None else self.rows[quantities]
            return rows[:, building]
        mean = self._mean if quantities is None else self._mean[quantities]
        return np.broadcast_to(mean[:, None], (len(mean), len(building)))

    @cached_property
    def _mean(self) -> Array:
        """Each quantity's mean rise per kW over the buildings."""
        return self.rows.mean(axis=1)

    def choose(self, excess: Array, building: IntArray, p_kw: Array, stored_k: Array) -> npt.NDArray[np.bool_]:
        """Return which candidates (their building, draw [kW] and store [K]) go off."""
        over = np.isfinite(excess) & (excess > 0.0)
        off = np.zeros(len(p_kw), dtype=bool)
        if not over.any() or not len(p_kw):
            return off
        effect = np.ascontiguousarray(self.effect(building, over))
        return _choose(effect, excess[over], np.asarray(p_kw, dtype=np.float64), np.asarray(stored_k, dtype=np.float64))


def quiet_steps(grid: GridState, config: Any) -> npt.NDArray[np.bool_]:
    """Return the steps whose grid state starts no signal condition (each below its enter threshold).

    A signal in ``NORMAL`` with no condition held stays so on such a step, whichever part of the
    grid it reads (:class:`models.control.signal.SignalMachine`'s rule; NaN starts nothing).

    Parameters
    ----------
    grid : GridState
        The grid state per step.
    config : SignalConfig
        The thresholds.
    """
    c = config
    quiet = ~(-grid.p_grid_kw >= c.surplus_enter_kw)  # NaN: no exchange, no surplus
    quiet &= ~(grid.trafo_percent >= c.loading_enter_percent)
    if grid.line_percent.shape[1]:
        quiet &= ~(np.fmax.reduce(grid.line_percent, axis=1) >= c.loading_enter_percent)
    if grid.vm_pu.shape[1]:
        quiet &= ~(np.fmax.reduce(grid.vm_pu, axis=1) >= c.vm_high_enter_pu)
        quiet &= ~(np.fmin.reduce(grid.vm_pu, axis=1) <= c.vm_low_enter_pu)
    return quiet


@numba.njit(cache=True)
def _choose(effect: Array, excess: Array, p_kw: Array, stored_k: Array) -> npt.NDArray[np.bool_]:  # pragma: no cover
    """:meth:`Relief.choose` for the quantities over their target: the same order, sums and stop."""
    n_q, n_c = effect.shape
    strongest = np.empty(n_c)
    for c in range(n_c):
        m = effect[0, c]
        for q in range(1, n_q):
            if effect[q, c] > m or effect[q, c] != effect[q, c]:
                m = effect[q, c]
        strongest[c] = -m
    # numpy.lexsort((-strongest, -stored)): most heat in store first, then the largest effect, then the index
    by_effect = np.argsort(strongest, kind="mergesort")
    order = by_effect[np.argsort(-stored_k[by_effect], kind="mergesort")]
    off = np.zeros(n_c, dtype=np.bool_)
    total = np.zeros(n_q)
    n = n_c
    for j in range(n_c):
        c = order[j]
        covered = True
        for q in range(n_q):
            total[q] += effect[q, c] * p_kw[c]
            if not total[q] >= excess[q]:
                covered = False
        if covered:
            n = j + 1
            break
    for j in range(n):
        off[order[j]] = True
    return off


_NO_DELTA: Final[Array] = np.zeros(1)


@numba.njit(cache=True)
def _excess(
    trafo: float,
    line: npt.NDArray[np.floating[Any]],
    vm: npt.NDArray[np.floating[Any]],
    with_delta: bool,
    delta: tuple[float, Array, Array],
    targets: Array,
) -> Array:  # pragma: no cover - compiled
    """:meth:`Relief.excess`: the transformer, the lines and the buses' voltage drops (plus ``delta``) minus targets.

    A ``delta`` array of length 1 counts for every line or bus (a scalar change). The same
    operations in the same order as numpy (values in float64, voltages negated).
    """
    d_trafo, d_line, d_vm = delta
    n_line = line.shape[0]
    out = np.empty(1 + n_line + vm.shape[0])
    value = trafo
    if with_delta:
        value = value + d_trafo
    out[0] = value - targets[0]
    for i in range(n_line):
        value = np.float64(line[i])
        if with_delta:
            value = value + d_line[i if d_line.shape[0] > 1 else 0]
        out[1 + i] = value - targets[1 + i]
    for i in range(vm.shape[0]):
        value = np.float64(-vm[i])
        if with_delta:
            value = value + -d_vm[i if d_vm.shape[0] > 1 else 0]
        out[1 + n_line + i] = value - targets[1 + n_line + i]
    return out
