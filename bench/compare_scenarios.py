"""Compare the year KPIs of built-in scenarios with a reference run (a JSON written by ``--write``).

Every numeric KPI (timings ``*_s`` and ``input_hash`` aside) is compared; the maximum
relative difference is printed and the exit code is 1 when it exceeds ``--rtol`` or a
KPI is missing on either side.

    .venv/bin/python bench/compare_scenarios.py --write ref.json
    .venv/bin/python bench/compare_scenarios.py --against ref.json [--rtol 1e-9] [--cached]

``--cached`` takes the shared inputs from their disk cache (:mod:`scenarios.shared_cache`),
written by the first such run and read by the next, as ``twin scenario run`` does.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from scenarios.config import Scenario, load_scenario, parse_scenario
from scenarios.runner import compute_scenario, prepare_shared
from scenarios.shared_cache import cached_shared

DEFAULT_SCENARIOS = [
    "baseline",
    "energy_neutral",
    "community_battery",
    "pv_all_roofs",
    "heat_pumps",
    "ev_2030",
    "peak_shaving",
    "district_limit",
]
#: Variants of built-in scenarios that reach the code paths the built-ins leave out.
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "peak_shaving": (
        "community_battery",
        {
            "community_battery": {
                "capacity_kwh": 1000.0,
                "p_rated_kw": 400.0,
                "strategy": "peak_shaving",
                "export_limit_kw": 300.0,
                "peak_limit_kw": 250.0,
            }
        },
    ),
    "district_limit": ("pv_all_roofs", {"feed_in_limit": {"frac_of_kwp": 0.3, "at": "district"}}),
}


def year_kpis(names: list[str], *, cached: bool = False) -> dict[str, dict[str, Any]]:
    """The KPIs of each scenario, timings left out (shared inputs from the disk cache if ``cached``)."""
    shared = None
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        scenario = variant(name) if name in VARIANTS else load_scenario(name)
        key = (scenario.district, scenario.weather, scenario.year)
        if shared is None or shared.key != key:
            shared = cached_shared(*key, threads=2) if cached else prepare_shared(*key, threads=2)
        kpis = compute_scenario(scenario, shared).kpis
        out[name] = {k: v for k, v in kpis.items() if not k.endswith("_s") and k != "input_hash"}
        print(f"{name}: {len(out[name])} KPIs", file=sys.stderr)
    return out


def variant(name: str) -> Scenario:
    """A built-in scenario with changes replaced (:data:`VARIANTS`)."""
    base, changes = VARIANTS[name]
    data = load_scenario(base).model_dump(mode="json")
    data["name"] = name
    data["changes"].update(changes)
    return parse_scenario(data, file=name)


def compare(reference: dict[str, dict[str, Any]], current: dict[str, dict[str, Any]]) -> tuple[float, list[str]]:
    """The maximum relative difference over numeric KPIs, and what differs otherwise."""
    worst, problems = 0.0, []
    for name, ref in reference.items():
        now = current.get(name)
        if now is None:
            problems.append(f"{name}: not run")
            continue
        for key in sorted(set(ref) | set(now)):
            if key not in ref or key not in now:
                problems.append(f"{name}.{key}: only in {'the reference' if key in ref else 'this run'}")
                continue
            a, b = ref[key], now[key]
            if isinstance(a, bool) or isinstance(b, bool) or not isinstance(a, int | float):
                if a != b:
                    problems.append(f"{name}.{key}: {a!r} != {b!r}")
                continue
            if not isinstance(b, int | float):
                problems.append(f"{name}.{key}: {a!r} != {b!r}")
                continue
            if math.isnan(a) and math.isnan(b):
                continue
            scale = max(abs(a), abs(b))
            rel = 0.0 if scale == 0 else abs(a - b) / scale
            worst = max(worst, rel)
    return worst, problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", nargs="*", default=DEFAULT_SCENARIOS)
    parser.add_argument("--write", type=Path, help="write the KPIs of this run as the reference")
    parser.add_argument("--against", type=Path, help="compare this run with a reference JSON")
    parser.add_argument("--rtol", type=float, default=1e-9)
    parser.add_argument("--cached", action="store_true", help="shared inputs from the disk cache")
    args = parser.parse_args()
    current = year_kpis(args.scenarios, cached=args.cached)
    if args.write:
        args.write.write_text(json.dumps(current, indent=1, sort_keys=True), encoding="utf-8")
        print(f"wrote {args.write}: {len(current)} scenarios")
    if args.against:
        reference = json.loads(args.against.read_text(encoding="utf-8"))
        worst, problems = compare({k: v for k, v in reference.items() if k in current}, current)
        n = sum(len(v) for k, v in reference.items() if k in current)
        print(f"{len(current)} scenarios, {n} KPIs: max relative difference {worst:.3g} (rtol {args.rtol:g})")
        for problem in problems:
            print("  " + problem)
        if problems or worst > args.rtol:
            sys.exit(1)


if __name__ == "__main__":
    main()
