"""Section 14a limits released step by step (models.control.release)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from models.control.release import ReleaseRamp

INF = math.inf


@dataclass
class _Scripted:
    """A source giving the limits of a script, one row per step."""

    limits: list[list[float]]
    k: int = 0
    calls: list[int] = field(default_factory=list)

    def save(self) -> tuple[np.ndarray, ...]:
        return (np.array([self.k], dtype=np.float64),)

    def restore(self, saved: tuple[np.ndarray, ...]) -> None:
        self.k = int(saved[0][0])

    def step(self, t_s: float, k: int, delta: Any, p: Any) -> tuple[np.ndarray, np.ndarray]:
        row = np.array(self.limits[self.k], dtype=np.float64)
        self.k += 1
        return np.where(np.isfinite(row), 1, 2).astype(np.int8), row


def test_a_limit_falls_at_once_and_rises_by_the_step_until_free() -> None:
    script = [[INF, INF], [4.2, 6.0], [INF, 5.0], [INF, INF], [INF, 3.0], [INF, INF], [INF, INF], [INF, INF]]
    ramp = ReleaseRamp(_Scripted(script), step_kw=2.0, free_kw=np.array([9.0, 100.0]))
    steps = [ramp.step(900.0 * i, i - 1, None, None) for i in range(len(script))]
    seen = [limit for _, limit in steps]
    first = [row[0] for row in seen]
    # building 0: dimmed to 4.2, then back by 2 kW per step, free (inf) once at its devices' 9 kW
    assert first == [INF, 4.2, 6.2, 8.2, INF, INF, INF, INF]
    # building 1: a lower limit of the inner source at once (5 below 8), a new block at once (3)
    assert [row[1] for row in seen][:6] == [INF, 6.0, 5.0, 7.0, 3.0, 5.0]
    # the states are the inner source's
    assert steps[1][0].tolist() == [1, 1] and steps[2][0].tolist() == [2, 1]


def test_save_and_restore_give_the_same_steps() -> None:
    script = [[4.2], [INF], [INF], [INF]]
    ramp = ReleaseRamp(_Scripted(script), step_kw=1.0, free_kw=np.array([50.0]))
    ramp.step(0.0, -1, None, None)
    saved = ramp.save()
    once = [float(ramp.step(0.0, 0, None, None)[1][0]) for _ in range(3)]
    ramp.restore(saved)
    again = [float(ramp.step(0.0, 0, None, None)[1][0]) for _ in range(3)]
    assert once == again == [5.2, 6.2, 7.2]
    assert not ramp.calm()  # a limit still being released


def test_a_zero_step_is_refused() -> None:
    with pytest.raises(ValueError, match="step_kw"):
        ReleaseRamp(_Scripted([[INF]]), step_kw=0.0, free_kw=np.array([1.0]))
