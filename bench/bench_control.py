"""A controlled year: heat pumps everywhere plus a car at half the homes, with and without the controllers.

The issue's planning question: does today's 630 kVA grid hold with section 14a dimming when
every boiler is a heat pump and half the homes charge a car? The same year runs without a
``control:`` block, with ``section_14a: true`` (per device, and per building's energy management
system), with thresholds below 100 % (the operator's margin), with SG-Ready blocking and the
heat pumps' thermal stores as well: one flat district-wide value (``signal: district``, every
heat pump off while it blocks), one district-wide signal relieving only as far as needed
(``district_needed``) and per feeder, and per feeder with pre-heating before a forecast peak
(``preheat``, with the operator's margin, the live twin's thresholds and 90/80 %). Each run is
timed warm (shared inputs prepared once, a short controlled run first; the fastest of
``--repeat`` runs, which must all give the same KPIs; CPU seconds too, as the machine is
shared); the grid KPIs, the quarter hours over 100 %, the dimmed and blocked energy, the
deferred heat, the comfort violations and the hours of each signal state are printed side by
side, then per feeder against the flat district-wide value, and last whether every controlled
configuration computed its year within the issue's 3 s (wall clock, the slowest one named with
its CPU seconds and the steps left unsettled).

    .venv/bin/python bench/bench_control.py [--days 365] [--only NAME ...] [--repeat 3]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
import pandas as pd

from scenarios.config import parse_scenario
from scenarios.runner import compute_scenario, prepare_shared

CHANGES = {
    "heat_pumps": {"share_frac": 1.0, "sizing": "design"},
    "evs": {"share_frac": 0.5, "charger_kw": 11.0},
}
#: The DSO acts on its measurement with a margin: block from 80 % (leave below 70 %), 0.95 p.u. (leave above 0.96).
MARGIN = {
    "loading_enter_percent": 80.0,
    "loading_leave_percent": 70.0,
    "vm_low_enter_pu": 0.95,
    "vm_low_leave_pu": 0.96,
}
CONTROLS: dict[str, dict[str, Any] | None] = {
    "none": None,
    "14a_direct": {"section_14a": True},
    "14a_ems": {"section_14a": True, "section_14a_control": "ems"},
    "14a_release": {"section_14a": True, "release_kw_per_h": 2.0},
    "14a_margin": {"section_14a": True, "thresholds": MARGIN},
    "14a_sg_margin": {"section_14a": True, "heat_pump": "sg_ready", "thresholds": MARGIN},
    "14a_sg_margin_2k": {"section_14a": True, "heat_pump": "sg_ready", "thresholds": MARGIN, "comfort_low_k": -2.0},
    "district_14a_sg_margin": {
        "section_14a": True,
        "heat_pump": "sg_ready",
        "thresholds": MARGIN,
        "signal": "district",
    },
    "feeder_14a_sg_margin": {
        "section_14a": True,
        "heat_pump": "sg_ready",
        "thresholds": MARGIN,
        "signal": "per_feeder",
    },
    "feeder_14a_sg_preheat_margin": {
        "section_14a": True,
        "heat_pump": "sg_ready",
        "thresholds": MARGIN,
        "signal": "per_feeder",
        "preheat": {},
    },
    "feeder_14a_margin": {"section_14a": True, "thresholds": MARGIN, "signal": "per_feeder"},
    "feeder_14a_ems_margin": {
        "section_14a": True,
        "section_14a_control": "ems",
        "thresholds": MARGIN,
        "signal": "per_feeder",
    },
    "feeder_14a_sg": {"section_14a": True, "heat_pump": "sg_ready", "signal": "per_feeder"},
    "feeder_14a_sg_preheat": {"section_14a": True, "heat_pump": "sg_ready", "signal": "per_feeder", "preheat": {}},
    "feeder_14a_sg_preheat_rebound": {
        "section_14a": True,
        "heat_pump": "sg_ready",
        "signal": "per_feeder",
        "preheat": {},
        "count_rebound": True,
    },
    "feeder_14a_sg_rebound": {
        "section_14a": True,
        "heat_pump": "sg_ready",
        "signal": "per_feeder",
        "count_rebound": True,
    },
    "feeder_14a_sg_preheat_90": {
        "section_14a": True,
        "heat_pump": "sg_ready",
        "signal": "per_feeder",
        "thresholds": {"loading_enter_percent": 90.0, "loading_leave_percent": 80.0},
        "preheat": {},
    },
}
SHOWN = (
    "cpu_s",
    "run_s",
    "trafo_loading_max_percent",
    "line_loading_max_percent",
    "trafo_over_100_qh",
    "line_over_100_qh",
    "vm_min_pu",
    "import_kwh",
    "control_dimmed_kwh",
    "control_hp_blocked_kwh",
    "control_heat_deferred_kwh",
    "control_ev_deferred_kwh",
    "control_comfort_violation_kh",
    "control_comfort_violation_h",
    "control_indoor_min_delta_k",
    "control_indoor_max_delta_k",
    "control_comfort_ok",
    "control_comfort_category",
    "control_comfort_coldest_degc",
    "control_comfort_coldest_below_bound_h",
    "control_comfort_below_bound_max_h",
    "signal_block_h",
    "signal_normal_h",
    "signal_recommended_on_h",
    "signal_forced_on_h",
    "control_passes",
    "control_steps_unsettled",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--only", nargs="*", choices=sorted(CONTROLS), help="run only these variants")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each variant; the fastest counts")
    args = parser.parse_args()
    shared = prepare_shared("beucha", None, 2025, threads=1)
    end = pd.Timestamp("2025-01-01") + pd.Timedelta(days=args.days)
    period = {"start": "2025-01-01", "end": str(end.date()) if args.days < 365 else None}
    warm_up = {"name": "warm", "start": "2025-01-01", "end": "2025-01-03", "changes": CHANGES}
    compute_scenario(parse_scenario({**warm_up, "control": CONTROLS["14a_sg_margin"]}, file="bench.yaml"), shared)
    rows: dict[str, dict[str, Any]] = {}
    for name, control in CONTROLS.items():
        if args.only and name not in args.only:
            continue
        data: dict[str, Any] = {"name": name, **period, "changes": CHANGES}
        if control is not None:
            data["control"] = control
        timing, result = _timed(data, shared, args.repeat)
        rows[name] = {**timing, **result.kpis, **_overloaded_qh(result.grid)}
    table = pd.DataFrame({name: {k: row.get(k) for k in SHOWN} for name, row in rows.items()})
    print(f"heat_pumps + ev_2030 on today's grid, {args.days} days")
    print(table.to_string(float_format=lambda v: f"{v:,.2f}"))
    _side_by_side(rows)
    _target_line(rows, args.days)


def _timed(data: dict[str, Any], shared: Any, repeat: int) -> tuple[dict[str, float], Any]:
    """The fastest of ``repeat`` runs (wall and CPU seconds) and its result; every run must give the same KPIs.

    The fastest run is the computation's own time: a slower one waited for the shared host.
    """
    best: dict[str, float] | None = None
    kpis: dict[str, Any] | None = None
    for _ in range(max(repeat, 1)):
        started, cpu = time.perf_counter(), time.process_time()
        result = compute_scenario(parse_scenario(data, file="bench.yaml"), shared)
        timing = {"cpu_s": time.process_time() - cpu, "run_s": time.perf_counter() - started}
        same = {k: v for k, v in result.kpis.items() if not k.endswith("_s")}
        if kpis is not None and same != kpis:
            raise SystemExit(f"{data['name']}: two runs of the same year gave different KPIs")
        kpis = same
        if best is None or timing["run_s"] < best["run_s"]:
            best = timing
    assert best is not None
    return best, result


#: The issue's target for a controlled year computed warm. [s]
TARGET_S = 3.0


def _target_line(rows: dict[str, dict[str, Any]], days: int) -> None:
    """How many controlled configurations computed their year within the target, those over it, and the slowest."""
    controlled = {name: row for name, row in rows.items() if CONTROLS[name] is not None}
    if not controlled:
        return
    slowest = max(controlled, key=lambda name: controlled[name]["run_s"])
    run_s, cpu_s = controlled[slowest]["run_s"], controlled[slowest]["cpu_s"]
    unsettled = sum(int(row.get("control_steps_unsettled", 0)) for row in controlled.values())
    over = [f"{name} {row['run_s']:.2f} s" for name, row in controlled.items() if row["run_s"] > TARGET_S]
    count = f"{len(controlled) - len(over)} of {len(controlled)}" if days >= 365 else f"not a year ({days} days)"
    print(
        f"\ncontrolled years <= {TARGET_S:g} s: {count}; over: {', '.join(over) or 'none'}; slowest {slowest}: "
        f"{run_s:.2f} s wall, {cpu_s:.2f} s CPU; unsettled steps in all controlled runs: {unsettled}"
    )


def _overloaded_qh(grid: Any) -> dict[str, int]:
    """Quarter hours with the transformer and with any line loaded above 100 %."""
    kinds = np.asarray(grid["branch_kind"].values).astype(str)
    over = grid["loading_percent"].transpose("time", "branch").values > 100.0
    return {
        "trafo_over_100_qh": int(over[:, kinds == "trafo"].any(axis=1).sum()),
        "line_over_100_qh": int(over[:, kinds == "line"].any(axis=1).sum()),
    }


def _side_by_side(rows: dict[str, dict[str, Any]]) -> None:
    """Per feeder against the flat district-wide value: grid relief and what it costs the devices."""
    feeder, district = rows.get("feeder_14a_sg_margin"), rows.get("district_14a_sg_margin")
    if feeder is None or district is None:
        return
    names = (
        "trafo_over_100_qh",
        "line_over_100_qh",
        "trafo_loading_max_percent",
        "line_loading_max_percent",
        "control_hp_blocked_kwh",
        "control_dimmed_kwh",
        "control_heat_deferred_kwh",
        "control_comfort_violation_kh",
    )
    pair = pd.DataFrame({"per feeder": {k: feeder[k] for k in names}, "district-wide": {k: district[k] for k in names}})
    print("\nper feeder against the flat district-wide value (section 14a, SG-Ready, thresholds)")
    print(pair.to_string(float_format=lambda v: f"{v:,.2f}"))
    same_relief = all(feeder[k] <= district[k] for k in names[:4])
    less = 1.0 - feeder["control_hp_blocked_kwh"] / max(district["control_hp_blocked_kwh"], 1e-9)
    print(f"same grid relief or better: {same_relief}; blocked heat-pump energy {less:.0%} less per feeder")


if __name__ == "__main__":
    main()
