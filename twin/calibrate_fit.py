"""The numerics of the calibration: instrumental-variable Gauss-Newton steps and a bootstrap over days.

A building's meter is ``y = g(theta) + e`` with ``g`` the district model (:mod:`twin.calibrate_model`)
and ``e`` what it cannot know: above all its households' random peaks. Ordinary least squares
on the model's own (randomly drawn) load would shrink the household factor towards 0 (errors in
the regressor); instead each step solves the moment conditions ``Z' (y - g(theta)) = 0`` with
instruments ``Z`` that carry no randomness of their own - the expected load (BDEW shape), the
PV model, the heat pump's response to its space heat - linearised in ``theta``
(Gauss-Newton): ``theta += (Z' J)^-1 Z' r``. The standard error comes from a bootstrap over
days of the last linearisation (the days are the independent units; hours within a day are
not), and the gas meters' space-heat factor from a least-squares fit of daily energies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = ["BOOTSTRAP_REPS", "FitResult", "bootstrap_se", "daily_scale_fit", "iv_step"]

#: Bootstrap replicates of the standard errors.
BOOTSTRAP_REPS: Final[int] = 200

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class FitResult:
    """Factors and their standard errors of one fit.

    Attributes
    ----------
    factor, se : numpy.ndarray
        Per parameter. [1]
    """

    factor: FloatArray
    se: FloatArray


def iv_step(z: FloatArray, x: FloatArray, r: FloatArray) -> FloatArray | None:
    """One instrumental-variable Gauss-Newton step: ``(Z' X)^-1 Z' r``; None when singular.

    Parameters
    ----------
    z, x : numpy.ndarray
        Instruments and Jacobian, (rows x parameters).
    r : numpy.ndarray
        Residuals, measured minus modelled, (rows,).
    """
    a = z.T @ x
    if not np.all(np.isfinite(a)) or np.linalg.cond(a) > 1e12:
        return None
    return np.asarray(np.linalg.solve(a, z.T @ r), dtype=np.float64)


def bootstrap_se(
    z: FloatArray, x: FloatArray, r: FloatArray, day: npt.NDArray[np.int64], *, seed: int = 0
) -> FloatArray:
    """Standard errors of an IV fit by resampling whole days (:data:`BOOTSTRAP_REPS` replicates).

    Parameters
    ----------
    z, x : numpy.ndarray
        Instruments and Jacobian at the solution, (rows x parameters).
    r : numpy.ndarray
        Residuals at the solution, (rows,).
    day : numpy.ndarray
        Day number of each row (0..n_days-1).
    seed : int
        Seed of the resampling.

    Returns
    -------
    se : numpy.ndarray
        Per parameter; NaN with fewer than two days. [1]
    """
    n_days = int(day.max()) + 1 if day.size else 0
    k = z.shape[1]
    if n_days < 2:
        return np.full(k, np.nan)
    zx = np.zeros((n_days, k, k))
    zr = np.zeros((n_days, k))
    np.add.at(zx, day, z[:, :, np.newaxis] * x[:, np.newaxis, :])
    np.add.at(zr, day, z * r[:, np.newaxis])
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(BOOTSTRAP_REPS):
        pick = rng.integers(0, n_days, n_days)
        a, b = zx[pick].sum(axis=0), zr[pick].sum(axis=0)
        if np.linalg.cond(a) < 1e12:
            draws.append(np.linalg.solve(a, b))
    if len(draws) < 2:
        return np.full(k, np.nan)
    return np.asarray(np.std(np.array(draws), axis=0, ddof=1), dtype=np.float64)


def daily_scale_fit(x: FloatArray, y: FloatArray, *, seed: int = 0) -> tuple[float, float]:
    """Least-squares factor ``f`` of ``y = f x`` over days, with its bootstrap standard error.

    Parameters
    ----------
    x, y : numpy.ndarray
        Per day: modelled energy the factor scales, and the measured energy less the modelled
        part it does not scale. [kW h]

    Returns
    -------
    factor, se : float
        NaN when ``x`` holds no energy.
    """
    sxx = float(x @ x)
    if sxx <= 0.0:
        return float("nan"), float("nan")
    factor = float(x @ y) / sxx
    se = bootstrap_se(x[:, np.newaxis], x[:, np.newaxis], y - factor * x, np.arange(x.size), seed=seed)
    return factor, float(se[0])
