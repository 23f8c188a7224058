"""The Calibration page's cost: reading a calibration file and its daily comparison, and the view.

Times :func:`dashboard.pages.calibration.calibration_view` for the district and for a building,
the first time (the files parsed) and again (the dashboard's cache), and the size of the daily
comparison. Give the calibration file of ``bench/bench_calibration.py --keep DIR``
(``DIR/winter.yaml``: beucha, 16 weeks) or none: a synthetic one of beucha's size (106 buildings,
93 gas meters, 23 PV systems, 112 days) is written to a temporary folder.

Usage: ``.venv/bin/python bench/bench_calibration_page.py [--calibration FILE] [--repeat 20]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dashboard.data import DashboardConfig, DataCache
from dashboard.pages.calibration import calibration_view
from twin.core.calibration_outputs import DAILY_COLUMNS, DISTRICT, daily_path


def _synthetic(folder: Path, buildings: int = 106, gas: int = 93, pv: int = 23, days: int = 112) -> Path:
    """A calibration file and daily comparison of beucha's size (random numbers)."""
    rng = np.random.default_rng(0)
    names = [f"b{i:03d}" for i in range(buildings)]
    record = {
        "version": 1,
        "district": "Synthetic",
        "period": {"from_utc": "2025-01-01T00:00:00Z", "to_utc": "2025-04-23T00:00:00Z"},
        "buildings": {b: {"household_electricity": {"factor": 1.0, "se": 0.02}} for b in names},
        "pv": {f"{b}/pv0": {"factor": 1.0, "se": 0.01} for b in names[:pv]},
    }
    path = folder / "calibration.yaml"
    path.write_text(yaml.safe_dump(record), encoding="utf-8")
    day = pd.date_range("2025-01-01", periods=days, freq="D").strftime("%Y-%m-%d")
    frames = []
    for quantity, columns in (("electricity", [*names, DISTRICT]), ("gas", [*names[:gas], DISTRICT])):
        for building in columns:
            meter = rng.uniform(5, 50, days)
            frames.append(
                pd.DataFrame(
                    {
                        "day": day,
                        "building": building,
                        "quantity": quantity,
                        "hours": 24,
                        "meter_kwh": meter,
                        "model_kwh": meter * 0.9,
                        "calibrated_kwh": meter * 1.01,
                        "held_out": False,
                    }
                )[list(DAILY_COLUMNS)]
            )
    pd.concat(frames).to_csv(daily_path(path), index=False, float_format="%.3f")
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calibration", type=Path, default=None)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.calibration or _synthetic(Path(tmp))
        config = DashboardConfig(path.parent, path.parent / "live", path.parent / "scenarios", calibration_file=path)
        daily = daily_path(path)
        rows = len(pd.read_csv(daily))
        print(f"{path}: daily comparison {daily.stat().st_size / 1e6:.2f} MB, {rows} rows")
        building = sorted(yaml.safe_load(path.read_text(encoding="utf-8"))["buildings"])[0]
        for label, kwargs in (("district", {}), (f"building {building}", {"building": building})):
            started = time.perf_counter()
            calibration_view(config, DataCache(), lang="en", **kwargs)
            cold_s = time.perf_counter() - started
            cache = DataCache()
            calibration_view(config, cache, lang="en", **kwargs)
            warm = []
            for _ in range(args.repeat):
                started = time.perf_counter()
                calibration_view(config, cache, lang="en", **kwargs)
                warm.append(time.perf_counter() - started)
            print(
                f"{label}: first view {cold_s * 1000:.0f} ms (files read), "
                f"then median {statistics.median(warm) * 1000:.0f} ms (cached; {args.repeat} views)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
