"""Pre-heating before a forecast peak: SG-Ready state 3 from the measured past.

A heat pump whose store is at its comfort bound when the transformer peaks cannot be blocked; one
whose store was raised above the set point before the peak can. :class:`PreheatSource` wraps a
signal source (:class:`models.control.loop.SignalSource`) and turns each building's NORMAL state
into RECOMMENDED_ON (SG-Ready state 3, "Einschaltempfehlung": the heat pump raises its set point,
:data:`BOOST_K`) while

- the **forecast** says a peak lies ahead: the transformer loading *measured* at the same time of
  day on each of the last ``forecast_days`` days (a persistence forecast, as a grid operator keeps
  it from its own measurement) exceeds ``peak_percent`` somewhere within the next ``lookahead_h``
  hours, and
- the grid measured in the step before leaves headroom below the fill levels (transformer and
  every line below ``fill_to_percent``, every voltage above the signal's leave threshold): the
  boosts fill the valley, not the peak, and only as many buildings start as their extra draw,
  times their effect on each quantity, fits in it (:class:`PreheatSource`).

The source reads only steps already measured: its ring holds the loading of the last
``forecast_days`` days, filled one step at a time as the signal reads the step before; the future
of the run is never read. The same source serves the scenario runner's year and the simulated
field (both through :func:`scenarios.controlled.signal_sources`); its state is part of the
source's :meth:`PreheatSource.save` (the field keeps it from quarter to quarter).

What the raised set point does to a store is :func:`models.control.plant.step`'s: the heat pump
brings the store up to ``boost_k`` with at most the rebound's share of its rating beyond the demand
(:data:`models.control.thermal.RECOVER_FRAC`); back on NORMAL the store above its set point serves
the demand first (the heat pump draws less until the store is back at the set point), and a block
finds it with ``boost_k - comfort_low_k`` kelvin to spend.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final

import numba
import numpy as np
import numpy.typing as npt

from models.control.relief import Relief
from twin.core.signal import SignalState

__all__ = ["BOOST_K", "PreheatConfig", "PreheatSource"]

Array = npt.NDArray[np.float64]
_NORMAL, _ON = int(SignalState.NORMAL), int(SignalState.RECOMMENDED_ON)
#: Raised set point while SG-Ready recommends running (state 3): 22 degC against the 20 degC the
#: heat demand assumes, inside the operative temperature range of EN 16798-1:2019 category II for
#: living spaces in the heating season (20-24 degC, table B.2). [K]
BOOST_K: Final[float] = 2.0
#: Steps ahead the forecast must stay below the fill level for boosts to start (an hour of quarters). [1]
_VALLEY_STEPS: Final[int] = 1


@dataclass(frozen=True)
class PreheatConfig:
    """When the heat pumps pre-heat (module docstring).

    Parameters
    ----------
    step_s : float
        Step length of the measured loading. [s]
    peak_percent : float
        Forecast transformer loading that counts as a peak to prepare for. [%]
    lookahead_h : float
        How far ahead the forecast looks (at most a day: the persistence forecast). [h]
    forecast_days : int
        Days of measured loading the forecast takes the maximum of at each time of day.
    fill_to_percent : float
        The boosts together raise the measured transformer loading at most to this. [%]
    """

    step_s: float
    peak_percent: float = 80.0
    lookahead_h: float = 12.0
    forecast_days: int = 2
    fill_to_percent: float = 80.0

    @property
    def steps_per_day(self) -> int:
        """Return the steps of a day."""
        return round(86400.0 / self.step_s)

    @property
    def lookahead_steps(self) -> int:
        """Return the steps the forecast looks ahead (at most a day)."""
        return min(round(self.lookahead_h * 3600.0 / self.step_s), self.steps_per_day)


@dataclass
class PreheatSource:
    """A signal source whose buildings pre-heat before the forecast peak (module docstring).

    Boosting every heat pump at once would itself make a peak, so boosts start only in the headroom
    below the fill levels: each step the source reads the headroom the step before left on the
    transformer, every line and every voltage (``headroom``: its excess over the fill levels,
    negated; the measurement already holds the boosts then running) and starts as many more
    buildings, in building order, as their extra draw ``boost_kw`` fits in on every quantity with
    each building's own effect, and only where the forecast for the
    next hour lies below ``fill_to_percent`` (a valley, not the ramp before a peak) and the
    building's signal was NORMAL in the step before too (during a block the measured loading is
    low by what the block holds off and what the stores give). A boost runs on while the forecast
    peak lies ahead and the building's signal stays NORMAL: ended early, its store would coast back
    to the set point (the heat pump off) before the peak, and every such store would come back at
    once. A block (the peak) ends it.

    Parameters
    ----------
    inner : SignalSource
        The source of the SG-Ready block and the 14a limits.
    config : PreheatConfig
        When to pre-heat.
    trafo_percent : numpy.ndarray, shape (time,)
        The transformer loading of the grid state the inner source reads (row ``k`` is the step
        measured at ``k``), before the estimated change.
    boost_kw : numpy.ndarray, shape (building,)
        Each building's extra draw when it starts boosting (0: no heat pump with a store). [kW]
    headroom : Relief
        The grid state the inner source reads against the fill levels (its targets) with each
        building's effect (:class:`models.control.relief.Relief`, ``located``).
    """

    inner: Any
    config: PreheatConfig
    trafo_percent: Array
    boost_kw: Array
    headroom: Relief

    def __post_init__(self) -> None:
        n = self.config.steps_per_day * self.config.forecast_days
        self._ring = np.full(n, math.nan)
        self._on = np.zeros(len(self.boost_kw), dtype=bool)
        self._normal = np.zeros(len(self.boost_kw), dtype=bool)
        self._offsets: dict[int, npt.NDArray[np.int64]] = {}

    def save(self) -> tuple[Array, ...]:
        """Return the inner source's state, the measured ring and which buildings boost."""
        return (*self.inner.save(), self._ring.copy(), np.concatenate([self._on, self._normal]).astype(np.float64))

    def restore(self, saved: tuple[Array, ...]) -> None:
        """Put the source back to a saved state."""
        self.inner.restore(saved[:-2])
        self._ring = saved[-2].copy()
        flags = saved[-1] > 0.5
        self._on, self._normal = flags[: len(self.boost_kw)], flags[len(self.boost_kw) :]

    def step(
        self, t_s: float, k: int, delta: Any, p_controllable_kw: Array | None
    ) -> tuple[npt.NDArray[np.int8], Array]:
        """The inner source's state and limit, NORMAL raised to RECOMMENDED_ON where pre-heating."""
        state, limit = self.inner.step(t_s, k, delta, p_controllable_kw)
        t = round(t_s / self.config.step_s)
        measured = math.nan
        if k >= 0:
            measured = float(self.trafo_percent[k]) + (delta.trafo_percent if delta is not None else 0.0)
            self._ring[(t - 1) % len(self._ring)] = measured
        normal = state == _NORMAL
        self._on = self.boosting(t, k, delta, normal)
        self._normal = normal
        if not self._on.any():
            return state, limit
        return np.where(self._on, _ON, state).astype(np.int8), limit

    def calm(self) -> bool:
        """The inner source calm and no building boosting (:func:`models.control.loop.run_steps`)."""
        inner = getattr(self.inner, "calm", None)
        return inner is not None and bool(inner()) and not self._on.any()

    def quiet_steps(self) -> npt.NDArray[np.bool_]:
        """The inner source's quiet steps."""
        return np.asarray(self.inner.quiet_steps(), dtype=bool)

    def passed_over(self, t0: int, t1: int) -> int:
        """Take steps ``t0`` .. ``t1 - 1`` as calm (as :meth:`step` with every state NORMAL, no change).

        Each measures its step before into the forecast; the first step whose forecast reads a peak
        (where a boost may run) is left to :meth:`step`, and returned.
        """
        c, n = self.config, len(self._ring)
        calm = (np.zeros(len(self.boost_kw), dtype=bool), np.ones(len(self.boost_kw), dtype=bool))
        measured = np.asarray(self.trafo_percent[t0 - 1 : t1 - 1], dtype=np.float64)
        highest = max(np.fmax.reduce(self._ring, initial=-math.inf), np.fmax.reduce(measured, initial=-math.inf))
        if t0 < t1 <= t0 + n and not highest > c.peak_percent:  # no forecast can read a peak: all at once
            self._ring[np.arange(t0 - 1, t1 - 1) % n] = measured
            self._on, self._normal = calm
            return t1
        for t in range(t0, t1):
            slot = (t - 1) % n
            before, self._ring[slot] = self._ring[slot], float(self.trafo_percent[t - 1])
            if self.forecast_percent(t) > c.peak_percent:
                self._ring[slot] = before
                return t
            self._on, self._normal = calm
        return t1

    def forecast_percent(self, t: int, steps: int | None = None) -> float:
        """Return the forecast's highest transformer loading in the ``steps`` from ``t`` [%] (NaN: none).

        ``steps`` defaults to the lookahead.
        """
        c = self.config
        count = c.lookahead_steps if steps is None else steps
        offsets = self._offsets.get(count)
        if offsets is None:  # the same rows relative to t at every step
            day = c.steps_per_day
            offsets = np.concatenate([np.arange(count) - d * day for d in range(1, c.forecast_days + 1)])
            self._offsets[count] = offsets
        return _ring_max(self._ring, t, offsets)  # NaN left out; all NaN: NaN

    def boosting(self, t: int, k: int, delta: Any, normal: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
        """Which buildings boost in step ``t`` (of the ``normal`` ones); the grid measured at ``k`` plus ``delta``."""
        c = self.config
        off = np.zeros(len(self.boost_kw), dtype=bool)
        if k < 0 or not self.forecast_percent(t) > c.peak_percent:
            return off
        candidate = normal & (self.boost_kw > 0.0)
        keep = candidate & self._on  # a boost runs on up to the peak: ended early, its store would coast
        if self.forecast_percent(t, _VALLEY_STEPS) > c.fill_to_percent:  # no valley now: start none
            return keep
        new = np.flatnonzero(candidate & ~self._on & self._normal)  # not right after a block
        if len(new):
            h = self.headroom
            effect = h.rows if h.located else h.effect(np.zeros(1, dtype=np.int64))
            _fits(effect, h.located, new, self.boost_kw, h.excess(k, delta), keep)
        return keep


@numba.njit(cache=True)
def _ring_max(ring: Array, t: int, offsets: npt.NDArray[np.int64]) -> float:  # pragma: no cover - compiled
    """``numpy.fmax.reduce(ring[(t + offsets) % len(ring)])``: the highest value, NaN left out (all NaN: NaN)."""
    n = ring.shape[0]
    out = np.nan
    for o in offsets:
        v = ring[(t + o) % n]
        if not np.isnan(v) and (np.isnan(out) or v > out):
            out = v
    return out


@numba.njit(cache=True)
def _fits(
    effect: Array,
    located: bool,
    new: npt.NDArray[np.int64],
    boost_kw: Array,
    excess: Array,
    keep: npt.NDArray[np.bool_],
) -> None:  # pragma: no cover - compiled
    """Start the boosts of ``new`` in order while all fit the headroom ``-excess`` (not finite: any); sets ``keep``.

    Each quantity's use adds, building by building, its effect (``effect[:, building]``, or the
    one column of a district-wide effect unless ``located``) times the boost.
    """
    used = np.zeros(excess.shape[0])
    for j in range(new.shape[0]):
        b = new[j]
        column = b if located else 0
        fits = True
        for q in range(excess.shape[0]):
            used[q] = used[q] + effect[q, column] * boost_kw[b]
            room = -excess[q]
            if not used[q] <= (room if np.isfinite(room) else np.inf):
                fits = False
        if not fits:
            return
        keep[b] = True
