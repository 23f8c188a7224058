"""Measured against modelled, per day: the table ``twin calibrate --out`` writes beside its file.

:func:`daily_comparison` sums the hours of the calibration period to UTC days, per building and
for the district (the sum of the buildings), for the building meters (import minus export) and
the gas meters: the meter's energy and the model's before (the district file) and after
calibration, each over the hours the meter measured that day (so that a gap in the meter is no
residual). The columns are :data:`twin.core.calibration_outputs.DAILY_COLUMNS`;
:func:`write_daily` writes it as CSV (:func:`twin.core.calibration_outputs.daily_path`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from twin.calibrate_data import Measured
from twin.core.calibration_outputs import DAILY_COLUMNS, DISTRICT, daily_path

__all__ = ["daily_comparison", "write_daily"]

FloatArray = npt.NDArray[np.float64]


def daily_comparison(
    measured: Measured,
    buildings: list[str],
    electricity: tuple[FloatArray, FloatArray],
    gas: tuple[list[str], FloatArray, FloatArray] | None,
    held: npt.NDArray[np.bool_],
) -> pd.DataFrame:
    """The daily comparison (see the module docstring).

    Parameters
    ----------
    measured : Measured
        The meters' hourly energies over the period.
    buildings : list of str
        The buildings in the columns' order.
    electricity : tuple of numpy.ndarray
        The model's building meters before and after calibration, (hour x building) [kW h].
    gas : tuple, optional
        The gas-heated buildings and the model's gas before and after, (hour x gas building) [kW h].
    held : numpy.ndarray
        Per hour: in a held-out week.
    """
    day = measured.period.day()
    n_days = int(day.max()) + 1 if day.size else 0
    first = pd.Timestamp(measured.period.start_s, unit="s").normalize()
    dates = [(first + pd.Timedelta(days=d)).strftime("%Y-%m-%d") for d in range(n_days)]
    held_day = np.bincount(day, weights=held.astype(float), minlength=n_days) > 0
    frames = [_daily(dates, day, held_day, "electricity", buildings, measured.net_kwh, *electricity)]
    if gas is not None and gas[0]:
        ids, before, after = gas
        columns = [buildings.index(b) for b in ids]
        frames.append(_daily(dates, day, held_day, "gas", ids, measured.gas_kwh[:, columns], before, after))
    frame = pd.concat(frames, ignore_index=True)
    return frame.loc[frame["hours"] > 0, list(DAILY_COLUMNS)].reset_index(drop=True)


def write_daily(frame: pd.DataFrame, calibration_file: str | Path) -> Path:
    """Write the daily comparison beside the calibration file (atomically); return its path."""
    out = daily_path(calibration_file)
    tmp = out.with_name(f".{out.name}.tmp")
    frame.to_csv(tmp, index=False, float_format="%.3f")
    tmp.replace(out)
    return out


def _daily(
    dates: list[str],
    day: npt.NDArray[np.int64],
    held_day: npt.NDArray[np.bool_],
    quantity: str,
    names: list[str],
    meter: FloatArray,
    before: FloatArray,
    after: FloatArray,
) -> pd.DataFrame:
    """Per day and column, plus the district's sum over the hours every column measured."""
    n_days = len(dates)
    measured = np.isfinite(meter)
    every = np.asarray(measured.all(axis=1), dtype=bool)
    columns: dict[str, tuple[npt.NDArray[np.bool_], FloatArray, FloatArray, FloatArray]] = {
        name: (measured[:, j], meter[:, j], before[:, j], after[:, j])
        for j, name in enumerate(names)
        if measured[:, j].any()
    }
    columns[DISTRICT] = (every, meter.sum(axis=1), before.sum(axis=1), after.sum(axis=1))
    parts = []
    for name, (ok, y, y0, y1) in columns.items():

        def total(values: FloatArray, ok: npt.NDArray[np.bool_] = ok) -> FloatArray:
            return np.asarray(np.bincount(day[ok], weights=values[ok], minlength=n_days), dtype=np.float64)

        parts.append(
            pd.DataFrame(
                {
                    "day": dates,
                    "building": name,
                    "quantity": quantity,
                    "hours": np.bincount(day[ok], minlength=n_days),
                    "meter_kwh": total(y),
                    "model_kwh": total(y0),
                    "calibrated_kwh": total(y1),
                    "held_out": held_day,
                }
            )
        )
    return pd.concat(parts, ignore_index=True)
