"""A controlled year: heat pumps everywhere plus a car at half the homes, with and without the controllers.

The issue's planning question: does today's 630 kVA grid hold with section 14a dimming when
every boiler is a heat pump and half the homes charge a car? The same year runs without a
``control:`` block, with ``section_14a: true`` (per device, and per building's energy management
system), and with SG-Ready blocking as well; each run is
timed warm (shared inputs prepared once, a short controlled run first), and the grid KPIs, the dimmed
and blocked energy and the hours of each signal state are printed side by side.

    .venv/bin/python bench/bench_control.py [--days 365]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import pandas as pd

from scenarios.config import parse_scenario
from scenarios.runner import compute_scenario, prepare_shared

CHANGES = {
    "heat_pumps": {"share_frac": 1.0, "sizing": "design"},
    "evs": {"share_frac": 0.5, "charger_kw": 11.0},
}
CONTROLS: dict[str, dict[str, Any] | None] = {
    "none": None,
    "14a_direct": {"section_14a": True},
    "14a_ems": {"section_14a": True, "section_14a_control": "ems"},
    "14a_sg_ready": {"section_14a": True, "heat_pump": "sg_ready"},
}
SHOWN = (
    "run_s",
    "trafo_loading_max_percent",
    "line_loading_max_percent",
    "vm_min_pu",
    "import_kwh",
    "control_dimmed_kwh",
    "control_hp_blocked_kwh",
    "signal_block_h",
    "signal_normal_h",
    "signal_recommended_on_h",
    "signal_forced_on_h",
    "control_passes",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=365)
    args = parser.parse_args()
    shared = prepare_shared("beucha", None, 2025, threads=1)
    end = pd.Timestamp("2025-01-01") + pd.Timedelta(days=args.days)
    period = {"start": "2025-01-01", "end": str(end.date()) if args.days < 365 else None}
    warm_up = {"name": "warm", "start": "2025-01-01", "end": "2025-01-03", "changes": CHANGES}
    compute_scenario(parse_scenario({**warm_up, "control": CONTROLS["14a_sg_ready"]}, file="bench.yaml"), shared)
    rows: dict[str, dict[str, Any]] = {}
    for name, control in CONTROLS.items():
        data: dict[str, Any] = {"name": name, **period, "changes": CHANGES}
        if control is not None:
            data["control"] = control
        started = time.perf_counter()
        kpis = compute_scenario(parse_scenario(data, file="bench.yaml"), shared).kpis
        rows[name] = {"run_s": time.perf_counter() - started, **kpis}
    table = pd.DataFrame({name: {k: row.get(k) for k in SHOWN} for name, row in rows.items()})
    print(f"heat_pumps + ev_2030 on today's grid, {args.days} days")
    print(table.to_string(float_format=lambda v: f"{v:,.2f}"))


if __name__ == "__main__":
    main()
