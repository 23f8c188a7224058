"""The truth check over a whole simulated day: ``twin live`` against the field's truth file.

Runs ``twin field --truth`` on a district (default: the small district of the field tests)
from the evening before a local day to the morning after, with ``twin live`` on it, stopped
and started again once at noon, and compares every day's energies per boundary and the
KPIs of the last snapshot with the truth (:mod:`twin.field.truth_check`). Prints the daily
figures of the substation, the largest differences of every flow over all boundaries, the
KPI differences and the failures against the targets (1 % or 0.1 kWh; 0.5 points).

Ratios pass within 0.5 points or within their sampling bound for one device update plus one poll
(``--interval``) of simulated time, whichever is larger (:func:`twin.field.truth_check.sampling_points`).

    .venv/bin/python bench/bench_truth.py [--day 2025-06-21] [--speed 300] [--district FILE]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.field.conftest import SMALL_DISTRICT
from tests.field.truth_run import run_truth
from twin.field.runtime import DEVICE_PERIOD_WALL_S
from twin.field.truth_check import KPI_POINTS, check_truth


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--day", default="2025-06-21", help="The local day (Europe/Berlin) to check.")
    parser.add_argument("--speed", type=float, default=300.0)
    parser.add_argument("--interval", type=float, default=0.2, help="Polling interval of the live twin. [s]")
    parser.add_argument("--district", help="District file (default: the field tests' small district).")
    args = parser.parse_args()
    pd.set_option("display.width", 200)
    with tempfile.TemporaryDirectory(prefix="bench-truth-") as folder:
        workdir = Path(folder)
        district = Path(args.district) if args.district else workdir / "small.yaml"
        if not args.district:
            district.write_text(yaml.safe_dump(SMALL_DISTRICT, sort_keys=False), encoding="utf-8")
        day = pd.Timestamp(args.day, tz="Europe/Berlin")
        start = (day - pd.Timedelta(minutes=30)).tz_convert("UTC")
        sim_s = 26 * 3600.0
        plan = workdir / "faults.yaml"
        fault = "{device: sfh4/meter, fault: stop, at_s: 30000, duration_s: 1200, clock: simulated}"
        plan.write_text(f"faults:\n  - {fault}\n", encoding="utf-8")
        started = time.perf_counter()
        run = run_truth(
            workdir,
            district,
            start_utc=start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            speed=args.speed,
            sim_s=sim_s,
            restart_after_s=13 * 3600.0,
            faults=plan if not args.district else None,
            interval_s=args.interval,
        )
        wall_s = time.perf_counter() - started
        timing_s = args.speed * (DEVICE_PERIOD_WALL_S + args.interval)
        check = check_truth(run.truth, run.store, run.timezone, timing_s=timing_s)
        daily = check.daily[check.daily["day"] == day.date().isoformat()]
        print(f"truth check of {day.date()} at speed {args.speed:g} (timing {timing_s:g} s): {wall_s:.0f} s wall")
        print(daily[daily["boundary"] == "substation"].round(3).to_string(index=False))
        worst = daily.assign(rel=daily["diff_kwh"].abs() / daily["truth_kwh"].abs().clip(lower=1e-9))
        print(worst.sort_values("rel").groupby("flow").tail(1).round(4).to_string(index=False))
        largest = daily.loc[daily.groupby("flow")["diff_kwh"].apply(lambda d: d.abs().idxmax())]
        print("largest daily difference per flow (any boundary):")
        print(largest.round(4).to_string(index=False))
        ratios = check.kpis[check.kpis["kpi"].str.endswith("_frac")]
        print(ratios.assign(diff_points=ratios["diff"]).round(3).to_string(index=False))
        strict = ratios[ratios["bound"] <= KPI_POINTS]
        largest_points = strict["diff"].abs().max() if len(strict) else float("nan")
        judged = f"{len(strict)} of {len(ratios)}, largest difference {largest_points:.3f} points"
        print(f"ratios judged at {KPI_POINTS:g} points: {judged}")
        failures = [f for f in check.failures if f.startswith(day.date().isoformat()) or "frac" in f]
        print(f"{len(failures)} failure(s) against the targets")
        for failure in failures:
            print("  " + failure)
        return 0 if not failures else 1


if __name__ == "__main__":
    raise SystemExit(main())
