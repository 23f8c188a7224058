"""Section 14a limits released step by step: the dimmed devices come back as far as the grid allows.

When the signal no longer blocks, every limit it held falls away at once, and the heat pumps
refilling their stores and the cars charging their backlog come back together: a rebound that
can be the day's peak (with the live twin's 95/85 % thresholds on the year of
``bench/bench_control.py`` 134.8 % against 121.6 % without control). BK6-22-300 lets the grid
operator dim only as far and as long as the grid needs it (A1 4.2); releasing gradually keeps
the dimming to what the returning load needs. :class:`ReleaseRamp` wraps a signal source
(:class:`models.control.loop.SignalSource`): a building's limit may fall at once, but rises by at
most ``step_kw`` per step, and is free (``inf``) once it reaches what the building's
controllable devices can draw. The signal states are the inner source's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["ReleaseRamp"]

Array = npt.NDArray[np.float64]


@dataclass
class ReleaseRamp:
    """A signal source whose section 14a limits rise back by at most ``step_kw`` per step.

    Parameters
    ----------
    inner : SignalSource
        The source of the states and the limits.
    step_kw : float
        How far a building's limit may rise per step, > 0. [kW]
    free_kw : numpy.ndarray, shape (building,)
        What each building's controllable devices can draw together: a limit at or above it is
        free (``inf``). [kW]
    """

    inner: Any
    step_kw: float
    free_kw: Array

    def __post_init__(self) -> None:
        if not self.step_kw > 0.0:
            raise ValueError(f"step_kw = {self.step_kw}; must be > 0")
        self._limit = np.full(len(self.free_kw), math.inf)

    def save(self) -> tuple[Array, ...]:
        """Return the inner source's state and the limits in force."""
        return (*self.inner.save(), self._limit.copy())

    def restore(self, saved: tuple[Array, ...]) -> None:
        """Put the source back to a saved state."""
        self.inner.restore(saved[:-1])
        self._limit = np.asarray(saved[-1], dtype=np.float64).copy()

    def step(
        self, t_s: float, k: int, delta: Any, p_controllable_kw: Array | None
    ) -> tuple[npt.NDArray[np.int8], Array]:
        """The inner source's state, and its limit where lower, else the last limit raised by ``step_kw``."""
        state, limit = self.inner.step(t_s, k, delta, p_controllable_kw)
        held = np.minimum(np.asarray(limit, dtype=np.float64), self._limit + self.step_kw)
        self._limit = np.where(held >= self.free_kw, math.inf, held)
        return state, self._limit.copy()

    def calm(self) -> bool:
        """The inner source calm and no limit still being released."""
        inner = getattr(self.inner, "calm", None)
        return inner is not None and bool(inner()) and not np.isfinite(self._limit).any()

    def quiet_steps(self) -> npt.NDArray[np.bool_]:
        """The inner source's quiet steps."""
        return np.asarray(self.inner.quiet_steps(), dtype=bool)

    def passed_over(self, t0: int, t1: int) -> int:
        """Take steps ``t0`` .. ``t1 - 1`` as calm: the inner source's (no limit is held while calm)."""
        inner = getattr(self.inner, "passed_over", None)
        return t1 if inner is None else int(inner(t0, t1))
