"""Time a year of 15-minute profiles for the whole Beucha district in a warm process.

DESIGN.md section 8: at most 1 s for a year of profiles of the whole district,
reusing the parsed weather and the BDEW shapes (``prepare_inputs``, shared by
every scenario of a sweep), computing every asset's profile, the battery
dispatch and the building meters. Prints the best of several warm runs, the
stage times of one run, and the time of the shared inputs beside it.

    .venv/bin/python bench/bench_profiles.py [--repeat 5] [--district beucha]
"""

from __future__ import annotations

import argparse
import time

from models.district import load_district
from models.profiles import ProfileOptions, district_profiles, prepare_inputs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--district", default="beucha")
    parser.add_argument("--year", type=int, default=2025)
    args = parser.parse_args()

    district = load_district(args.district).district
    start = time.perf_counter()
    inputs = prepare_inputs(district, year=args.year)
    prepare_s = time.perf_counter() - start
    options = ProfileOptions(year=args.year)
    start = time.perf_counter()
    district_profiles(district, inputs, options)  # cold: numba compiles the battery loop
    cold_s = time.perf_counter() - start

    stages: dict[str, float] = {}
    last = [time.perf_counter(), ""]

    def stage(label: str) -> None:
        now = time.perf_counter()
        if last[1]:
            stages[str(last[1])] = now - float(last[0])
        last[:] = [now, label]

    best = float("inf")
    for run in range(args.repeat):
        start = time.perf_counter()
        profiles = district_profiles(district, inputs, options, progress=stage if run == 0 else None)
        if run == 0:
            stage("")
        best = min(best, time.perf_counter() - start)

    assets = profiles.assets
    print(f"district {args.district}: {assets.sizes['asset']} assets, {assets.sizes['time']} steps, year {args.year}")
    print(f"shared inputs (weather, BDEW load and heat shapes): {prepare_s:.2f} s, once per sweep")
    print(f"first run (numba compiles): {cold_s:.2f} s")
    for label, seconds in stages.items():
        print(f"  {label:<36} {seconds * 1000:7.0f} ms")
    print(f"a year of profiles, warm, best of {args.repeat}: {best:.2f} s (target <= 1 s)")


if __name__ == "__main__":
    main()
