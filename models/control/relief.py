"""What the controllers read of a batch power flow, and SG-Ready blocking only as far as needed.

:class:`GridState` is a pass's power flow per step as the controllers read it, :class:`Delta` its
estimated change at one step from the linear sensitivities, and :class:`Relief` decides which
heat pumps of the blocked buildings go off (:mod:`models.control.loop`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["Delta", "GridState", "Relief"]

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
        values = np.concatenate(([g.trafo_percent[k]], g.line_percent[k], -g.vm_pu[k]))
        if delta is not None:
            values = values + np.concatenate(
                (
                    [delta.trafo_percent],
                    np.broadcast_to(delta.line_percent, g.line_percent[k].shape),
                    -np.broadcast_to(delta.vm_pu, g.vm_pu[k].shape),
                )
            )
        return values - self.targets

    def effect(self, building: IntArray) -> Array:
        """Return each quantity's rise per kW at each of the given buildings as the operator knows it."""
        if self.located:
            return self.rows[:, building]
        return np.broadcast_to(self.rows.mean(axis=1)[:, None], (len(self.rows), len(building)))

    def choose(self, excess: Array, building: IntArray, p_kw: Array, stored_k: Array) -> npt.NDArray[np.bool_]:
        """Return which candidates (their building, draw [kW] and store [K]) go off."""
        over = np.isfinite(excess) & (excess > 0.0)
        off = np.zeros(len(p_kw), dtype=bool)
        if not over.any() or not len(p_kw):
            return off
        effect = self.effect(building)[over]
        order = np.lexsort((-effect.max(axis=0), -stored_k))
        covered = (np.cumsum(effect[:, order] * p_kw[order], axis=1) >= excess[over][:, None]).all(axis=0)
        n = int(np.argmax(covered)) + 1 if covered.any() else len(order)
        off[order[:n]] = True
        return off
