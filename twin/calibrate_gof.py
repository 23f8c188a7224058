"""Goodness of fit by ASHRAE Guideline 14: CV(RMSE) and NMBE of modelled against measured energy.

ASHRAE Guideline 14-2014 "Measurement of Energy, Demand, and Water Savings" judges a calibrated
simulation by two statistics of the measured values ``y_i`` (mean ``y_bar``) and the modelled
``y_hat_i`` over ``n`` intervals, with ``p`` parameters of the model:

* CV(RMSE) = 100 x sqrt(sum((y_i - y_hat_i)^2) / (n - p)) / y_bar  [%]
* NMBE = 100 x sum(y_i - y_hat_i) / ((n - p) x y_bar)  [%] (positive: the model is low)

and calls a whole-building model calibrated when, on hourly data, CV(RMSE) <= 30 % and
|NMBE| <= 10 %, on monthly data CV(RMSE) <= 15 % and |NMBE| <= 5 %
(:data:`G14_HOURLY_CV_RMSE_PCT`, ...). The twin computes them on hours the fit did not use
(held-out weeks) with ``p`` = 1 and holds the substation to stricter targets, hourly
CV(RMSE) <= 15 % and |NMBE| <= 5 % (:data:`SUBSTATION_CV_RMSE_PCT`, :data:`SUBSTATION_NMBE_PCT`).
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = [
    "G14_HOURLY_CV_RMSE_PCT",
    "G14_HOURLY_NMBE_PCT",
    "G14_MONTHLY_CV_RMSE_PCT",
    "G14_MONTHLY_NMBE_PCT",
    "SUBSTATION_CV_RMSE_PCT",
    "SUBSTATION_NMBE_PCT",
    "cv_rmse_pct",
    "fit_statistics",
    "nmbe_pct",
]

#: ASHRAE Guideline 14-2014, calibrated simulation, hourly data: CV(RMSE) and |NMBE| limits. [%]
G14_HOURLY_CV_RMSE_PCT: Final[float] = 30.0
G14_HOURLY_NMBE_PCT: Final[float] = 10.0
#: ASHRAE Guideline 14-2014, calibrated simulation, monthly data: CV(RMSE) and |NMBE| limits. [%]
G14_MONTHLY_CV_RMSE_PCT: Final[float] = 15.0
G14_MONTHLY_NMBE_PCT: Final[float] = 5.0
#: The twin's targets at the substation, hourly, after calibration. [%]
SUBSTATION_CV_RMSE_PCT: Final[float] = 15.0
SUBSTATION_NMBE_PCT: Final[float] = 5.0
#: Model parameters ``p`` in the statistics' ``n - p``.
N_PARAMETERS: Final[int] = 1


def cv_rmse_pct(measured: npt.ArrayLike, modelled: npt.ArrayLike, *, p: int = N_PARAMETERS) -> float:
    """CV(RMSE) by ASHRAE Guideline 14 (see the module docstring); NaN without data or mean [%]."""
    y, y_hat = _pairs(measured, modelled)
    if y.size <= p or y.mean() == 0.0:
        return float("nan")
    return float(100.0 * np.sqrt(np.sum((y - y_hat) ** 2) / (y.size - p)) / y.mean())


def nmbe_pct(measured: npt.ArrayLike, modelled: npt.ArrayLike, *, p: int = N_PARAMETERS) -> float:
    """NMBE by ASHRAE Guideline 14 (see the module docstring), positive when the model is low [%]."""
    y, y_hat = _pairs(measured, modelled)
    if y.size <= p or y.mean() == 0.0:
        return float("nan")
    return float(100.0 * np.sum(y - y_hat) / ((y.size - p) * y.mean()))


def fit_statistics(measured: npt.ArrayLike, before: npt.ArrayLike, after: npt.ArrayLike) -> dict[str, float | int]:
    """CV(RMSE) and NMBE of the model before and after calibration against the same measurements.

    Returns
    -------
    statistics : dict
        ``hours``, ``mean_kwh`` (of the measurements), ``cv_rmse_before_pct``, ``nmbe_before_pct``,
        ``cv_rmse_after_pct``, ``nmbe_after_pct`` (rounded to 0.01).
    """
    y, _ = _pairs(measured, before)
    out: dict[str, float | int] = {"hours": int(y.size), "mean_kwh": round(float(y.mean()) if y.size else 0.0, 4)}
    for label, modelled in (("before", before), ("after", after)):
        out[f"cv_rmse_{label}_pct"] = round(cv_rmse_pct(measured, modelled), 2)
        out[f"nmbe_{label}_pct"] = round(nmbe_pct(measured, modelled), 2)
    return out


def _pairs(measured: npt.ArrayLike, modelled: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """The intervals where both are finite."""
    y = np.asarray(measured, dtype=np.float64)
    y_hat = np.asarray(modelled, dtype=np.float64)
    keep = np.isfinite(y) & np.isfinite(y_hat)
    return y[keep], y_hat[keep]
