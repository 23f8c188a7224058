"""Calibration against a known hidden reality: beucha's field perturbed, back-filled, calibrated.

The field of beucha gets the drawn perturbation of ``twin field --perturbation-seed`` (20
buildings' household electricity +-30 %, 10 gas- or heat-pump-heated buildings' space heat
+20 %, 5 PV systems -15 %), the PV loss from ``--soiled`` on. Its meter history from 1 January to
the start (``--start``, default 20 weeks) is imported into a new store with ``twin import``; then:

1. ``twin calibrate --to SOILED`` (the weeks before the soiling): every household-electricity and
   space-heat factor against the truth (band 10 %), every PV factor against 1 (band 5 %), the
   substation's hourly CV(RMSE) and NMBE on the held-out weeks before and after;
2. ``twin calibrate --drift --calibration`` the first file: the PV systems named;
3. ``twin calibrate --from SOILED``: the PV factors after the soiling against the truth (5 %);
4. ``twin scenario run`` of the year on the district as planned and as calibrated (the first file
   with the PV factors of the third): load, gas, PV and import of the year against the truth's.

Usage: ``.venv/bin/python bench/bench_calibration.py [--seed 19] [--start 2025-05-21T00:00Z]
[--soiled 2025-04-23T00:00Z] [--keep DIR]``. Exit 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from models.building_estimates import estimate_building
from models.calibration_file import CalibrationFile, load_calibration
from models.district import load_district
from twin.field import Field, FieldOptions
from twin.field.perturbation import Perturbation, draw_perturbation, dump_perturbation

TWIN = [sys.executable, "-m", "twin"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--start", default="2025-05-21T00:00:00Z")
    parser.add_argument("--soiled", default="2025-04-23T00:00:00Z")
    parser.add_argument("--keep", type=Path, default=None, help="Work folder to keep (default: a temporary one).")
    parser.add_argument("--reuse", action="store_true", help="Reuse the store of a kept work folder.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-calibration-") as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        return _run(work, args.seed, args.start, args.soiled, reuse=args.reuse)


def _run(work: Path, seed: int, start: str, soiled: str, *, reuse: bool = False) -> int:
    loaded = load_district("beucha")
    drawn = draw_perturbation(loaded.district, seed)
    hidden = Perturbation(drawn.factors, soiled)
    dump_perturbation(hidden, work / "perturbation.yaml")
    timings: dict[str, float] = {}
    store = work / "store"
    if not (reuse and store.is_dir()):
        started = time.monotonic()
        field = Field(loaded, FieldOptions(start_utc=start, perturbation=hidden, history_path=work / "history.csv"))
        try:
            field.start()
            field.write_site(work / "site.yaml")
        finally:
            field.stop()
        timings["field_history_s"] = time.monotonic() - started
        timings["import_s"], _ = _timed(
            ["import", "--store", store, "--site", work / "site.yaml", work / "history.csv"]
        )
    timings["calibrate_s"], _ = _timed(["calibrate", "--store", store, "--to", soiled, "--out", work / "winter.yaml"])
    timings["drift_s"], drift = _timed(
        ["calibrate", "--store", store, "--drift", "--calibration", work / "winter.yaml"]
    )
    _timed(["calibrate", "--store", store, "--from", soiled, "--out", work / "spring.yaml"])
    winter, spring = load_calibration(work / "winter.yaml"), load_calibration(work / "spring.yaml")
    failures = _judge(winter, spring, hidden)
    named = sorted(line.split()[1].rstrip(":") for line in drift.splitlines() if line.strip().startswith("DRIFT"))
    expected = sorted(hidden.factors.pv)
    print(f"drift alarm names {named}; degraded {expected}")
    if named != expected:
        failures.append("drift alarm")
    failures += _scenarios(work, loaded, winter, spring, hidden)
    print("timings", {k: round(v, 1) for k, v in timings.items()})
    print("FAILED: " + ", ".join(failures) if failures else "every target met")
    return 1 if failures else 0


def _timed(args: list[Any]) -> tuple[float, str]:
    """Run a twin command; its wall time [s] and what it printed (printed here too)."""
    started = time.monotonic()
    done = subprocess.run([*TWIN, *map(str, args)], capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"twin {' '.join(map(str, args))} failed: {done.stderr.strip()}")
    print(done.stdout.rstrip())
    return time.monotonic() - started, done.stdout


def _judge(winter: CalibrationFile, spring: CalibrationFile, hidden: Perturbation) -> list[str]:
    """Every factor against the truth: print the largest errors, return the missed targets."""
    truth = hidden.factors
    rows = []
    for building, entry in winter.buildings.items():
        for what, estimate, table in (
            ("household_electricity", entry.household_electricity, truth.household_electricity),
            ("space_heat", entry.space_heat, truth.space_heat),
        ):
            if estimate is not None and estimate.factor is not None:
                rows.append((what, building, estimate.factor, table.get(building, 1.0), estimate.se, 0.10))
            elif what == "space_heat" and building in table:
                rows.append((what, building, None, table[building], None, 0.10))
    rows += [("pv before", s, e.factor, 1.0, e.se, 0.05) for s, e in winter.pv.items()]
    rows += [("pv after", s, e.factor, truth.pv.get(s, 1.0), e.se, 0.05) for s, e in spring.pv.items()]
    failures = []
    for what in ("household_electricity", "space_heat", "pv before", "pv after"):
        mine = [r for r in rows if r[0] == what]
        fitted = [r for r in mine if r[2] is not None]
        errors = [abs(r[2] / r[3] - 1.0) for r in fitted]
        perturbed = [abs(r[2] / r[3] - 1.0) for r in fitted if r[3] != 1.0]
        missing = [r[1] for r in mine if r[2] is None]
        worst = max(errors, default=0.0)
        print(
            f"{what}: {len(fitted)} fitted, largest error {worst:.1%} (band {mine[0][5]:.0%}), perturbed "
            f"{len(perturbed)} largest {max(perturbed, default=0.0):.1%}, median se "
            f"{sorted(r[4] for r in fitted if r[4] is not None)[len(fitted) // 2]:.3f}, not identifiable {missing}"
        )
        if worst > mine[0][5] or missing:
            failures.append(what)
    station = (winter.goodness_of_fit or {})["substation"]
    print(f"substation, held-out weeks: {station}")
    if not station["target_met"]:
        failures.append("substation goodness of fit")
    return failures


def _scenarios(
    work: Path, loaded: Any, winter: CalibrationFile, spring: CalibrationFile, hidden: Perturbation
) -> list[str]:
    """The year on the district as planned and as calibrated; the change against the truth's."""
    merged = winter.model_dump(exclude_none=True)
    merged["pv"] = spring.model_dump(exclude_none=True)["pv"]
    (work / "merged-calibration.yaml").write_text(yaml.safe_dump(merged, sort_keys=False), encoding="utf-8")
    kpis = {}
    for name, extra in (("planned", {}), ("calibrated", {"calibration": str(work / "merged-calibration.yaml")})):
        scenario = work / f"{name}.yaml"
        scenario.write_text(yaml.safe_dump({"name": name, "district": "beucha", **extra}), encoding="utf-8")
        _timed(["scenario", "run", scenario, "--out", work / "results", "--level", "kpis"])
        kpis[name] = json.loads((work / "results" / name / "kpis.json").read_text())
    estimates = {b.id: estimate_building(b) for b in loaded.district.buildings}
    truth_load = sum(
        (f - 1.0) * estimates[b].electricity_kwh_per_a for b, f in hidden.factors.household_electricity.items()
    )
    failures = []
    for key in ("load_kwh", "fuel_kwh", "generation_kwh", "import_kwh", "self_sufficiency_frac"):
        a, b = kpis["planned"].get(key), kpis["calibrated"].get(key)
        if a is None or b is None:
            continue
        print(f"scenario year {key}: planned {a:,.1f}, calibrated {b:,.1f} ({(b / a - 1.0) if a else 0.0:+.2%})")
    change = kpis["calibrated"]["load_kwh"] - kpis["planned"]["load_kwh"]
    print(
        f"  household electricity of the year: calibrated - planned {change:+,.0f} kWh (truth {truth_load:+,.0f} kWh)"
    )
    if (change > 0) != (truth_load > 0):
        failures.append("scenario direction (load)")
    if kpis["calibrated"]["fuel_kwh"] <= kpis["planned"]["fuel_kwh"]:
        failures.append("scenario direction (gas)")
    if kpis["calibrated"]["generation_kwh"] >= kpis["planned"]["generation_kwh"]:
        failures.append("scenario direction (PV)")
    return failures


if __name__ == "__main__":
    raise SystemExit(main())
