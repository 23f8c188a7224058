"""A calibration file with its daily comparison and drift check, as ``twin calibrate`` writes them (small)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from twin.core.calibration_outputs import DISTRICT, DriftFile, DriftSystem, daily_path, drift_path
from twin.core.store import write_json_atomic

#: Per building: the meter's daily electricity [kWh] and its hidden factor (the model has 1).
BUILDINGS = {"b1": (20.0, 1.3), "b2": (12.0, 0.8)}
DAYS = 14


def write_calibration_sample(root: Path, *, drift: bool = True) -> Path:
    """``root/calibration.yaml`` with ``calibration.daily.csv`` and (``drift``) ``calibration.drift.json``."""
    path = root / "calibration.yaml"
    record = {
        "version": 1,
        "district": "Sample",
        "store": str(root / "live"),
        "period": {"from_utc": "2025-03-01T00:00:00Z", "to_utc": "2025-03-15T00:00:00Z"},
        "holdout": {"every_weeks": 2, "held_out_weeks": [1], "held_out_hours": 168},
        "buildings": {
            "b1": {
                "household_electricity": {"factor": 1.3, "se": 0.02, "source": "building_meter"},
                "space_heat": {"factor": 1.21, "se": 0.01, "source": "gas_meter"},
                "goodness_of_fit": {"cv_rmse_before_pct": 80.0, "cv_rmse_after_pct": 60.0, "nmbe_before_pct": 23.0,
                                    "nmbe_after_pct": 0.5},
            },
            "b2": {
                "household_electricity": {"factor": 0.8, "se": 0.03, "source": "building_meter"},
                "space_heat": {"factor": None, "reason": "not identifiable: heated by oil_boiler"},
            },
        },
        "pv": {"b1/pv0": {"factor": 0.98, "se": 0.01}, "b2/pv0": {"factor": 1.01, "se": 0.01}},
        "goodness_of_fit": {
            "substation": {"hours": 168, "mean_kwh": 1.3, "cv_rmse_before_pct": 9.5, "cv_rmse_after_pct": 4.2,
                           "nmbe_before_pct": 8.1, "nmbe_after_pct": 0.3, "target_met": True},
            "buildings": {"n": 2, "cv_rmse_before_pct": 70.0, "cv_rmse_after_pct": 55.0, "abs_nmbe_before_pct": 21.0,
                          "abs_nmbe_after_pct": 1.0},
        },
    }  # fmt: skip
    path.write_text(yaml.safe_dump(record, sort_keys=False), encoding="utf-8")
    days = pd.date_range("2025-03-01", periods=DAYS, freq="D").strftime("%Y-%m-%d")
    wave = 1.0 + 0.1 * np.sin(np.arange(DAYS))
    frames = []
    for building, (meter_kwh, factor) in BUILDINGS.items():
        meter = meter_kwh * wave
        frames.append(_rows(days, building, "electricity", meter, meter / factor, meter * 1.01))
    gas = 100.0 * wave
    frames.append(_rows(days, "b1", "gas", gas, gas / 1.2, gas))
    electric = [f for f in frames if f["quantity"].iloc[0] == "electricity"]
    total = sum(f[["meter_kwh", "model_kwh", "calibrated_kwh"]].to_numpy() for f in electric)
    frames.append(_rows(days, DISTRICT, "electricity", *np.asarray(total).T))
    pd.concat(frames, ignore_index=True).to_csv(daily_path(path), index=False, float_format="%.3f")
    if drift:
        record_drift = DriftFile(
            district="Sample",
            calibration=str(path),
            from_utc="2025-04-01T00:00:00Z",
            to_utc="2025-04-08T00:00:00Z",
            days=7,
            threshold_frac=0.1,
            systems=(DriftSystem("b1/pv0", 0.84, 0.01, True), DriftSystem("b2/pv0", 0.99, 0.01, False)),
        )
        write_json_atomic(drift_path(path), record_drift.to_json())
    return path


def _rows(days: pd.Index, building: str, quantity: str, meter, model, calibrated) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    return pd.DataFrame(
        {
            "day": days,
            "building": building,
            "quantity": quantity,
            "hours": 24,
            "meter_kwh": meter,
            "model_kwh": model,
            "calibrated_kwh": calibrated,
            "held_out": [7 <= d < 14 for d in range(len(days))],
        }
    )
