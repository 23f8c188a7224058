"""Time the electric cars' charging profiles of a controlled Beucha year in a warm process.

The controlled scenario year of bench/bench_control.py (heat pumps everywhere, a car at half
the homes) must compute within 3 s warm; this prints the share of the cars' charging
(``models.profiles._ev_columns``, the "EV charging" stage of ``district_profiles``) for both
charging modes, best of several warm runs, next to the whole year of profiles.

    .venv/bin/python bench/bench_ev.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import time

from models.profiles import ProfileOptions, district_profiles
from scenarios.apply import apply_changes
from scenarios.config import parse_scenario
from scenarios.runner import prepare_shared

CHANGES = {
    "heat_pumps": {"share_frac": 1.0, "sizing": "design"},
    "evs": {"share_frac": 0.5, "charger_kw": 11.0},
}
#: The stage's share of the controlled year's 3 s. [s]
TARGET_S = 0.25


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    shared = prepare_shared("beucha", None, 2025, threads=1)
    scenario = parse_scenario({"name": "evs", "changes": CHANGES}, file="bench.yaml")
    district = apply_changes(shared.loaded.district, scenario).district
    n_cars = sum(len(b.evs) for b in district.buildings)
    for mode in ("uncontrolled", "pv_surplus"):
        options = ProfileOptions(year=2025, ev_charging=mode)
        district_profiles(district, shared.inputs, options)  # cold: numba compiles
        best_ev, best_all = float("inf"), float("inf")
        for _ in range(args.repeat):
            stages: dict[str, float] = {}
            last = [time.perf_counter(), ""]

            def stage(label: str, stages: dict[str, float] = stages, last: list = last) -> None:
                now = time.perf_counter()
                if last[1]:
                    stages[str(last[1])] = now - float(last[0])
                last[:] = [now, label]

            start = time.perf_counter()
            district_profiles(district, shared.inputs, options, progress=stage)
            stage("")
            best_all = min(best_all, time.perf_counter() - start)
            best_ev = min(best_ev, stages["EV charging"])
        print(
            f"{mode:<13} {n_cars} cars: EV charging {best_ev * 1000:6.0f} ms (target <= {TARGET_S * 1000:.0f} ms), "
            f"year of profiles {best_all:.2f} s, best of {args.repeat} warm runs"
        )


if __name__ == "__main__":
    main()
