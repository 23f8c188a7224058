"""Compare the controlled years of ``bench/bench_control.py`` with a reference run, to the bit.

Each configuration's year (heat pumps everywhere plus a car at half the homes, Beucha, 630 kVA)
is reduced to its KPIs (timings aside) and digests of its arrays: the assets' power, the bus
voltages, the branch loadings and each building's signal state. ``--write`` stores them;
``--against`` recomputes and names every KPI or array that differs (exit code 1), so a change
meant to leave the controllers' numbers alone (a faster kernel, a refactoring) can show that it
does, bit for bit.

    .venv/bin/python bench/compare_control.py --write control-ref.json [--days 365]
    .venv/bin/python bench/compare_control.py --against control-ref.json [--only NAME ...]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_control import CHANGES, CONTROLS

from scenarios.config import parse_scenario
from scenarios.runner import compute_scenario, prepare_shared


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", type=Path, help="store the reference here")
    mode.add_argument("--against", type=Path, help="compare with this reference")
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--only", nargs="*", choices=sorted(CONTROLS), help="only these configurations")
    args = parser.parse_args()
    reference = json.loads(args.against.read_text()) if args.against else None
    days = reference["days"] if reference else args.days
    shared = prepare_shared("beucha", None, 2025, threads=1)
    end = None if days >= 365 else str((pd.Timestamp("2025-01-01") + pd.Timedelta(days=days)).date())
    runs: dict[str, dict[str, Any]] = {}
    for name, control in CONTROLS.items():
        if args.only and name not in args.only:
            continue
        data: dict[str, Any] = {"name": name, "start": "2025-01-01", "end": end, "changes": CHANGES}
        if control is not None:
            data["control"] = control
        runs[name] = _digest(compute_scenario(parse_scenario(data, file="bench.yaml"), shared))
        print(f"{name}: {runs[name]['#p_kw']}", flush=True)
    if args.write:
        args.write.write_text(json.dumps({"days": days, "runs": runs}, indent=1, sort_keys=True))
        print(f"wrote {len(runs)} configurations to {args.write}")
        return
    assert reference is not None
    differences = [
        f"{name} {key}: {value!r} -> {runs[name].get(key)!r}"
        for name, run in reference["runs"].items()
        if name in runs
        for key, value in run.items()
        if runs[name].get(key) != value
    ]
    print("\n".join(differences) or "every configuration bit-identical to the reference")
    sys.exit(1 if differences else 0)


def _digest(result: Any) -> dict[str, Any]:
    """A year's KPIs (timings and hashes of inputs aside) and digests of its arrays."""
    kpis = {
        key: value
        for key, value in result.kpis.items()
        if not key.endswith("_s") and key != "input_hash" and isinstance(value, int | float | str | bool | None)
    }
    arrays = {
        "#p_kw": result.assets["p_kw"].values,
        "#vm_pu": result.grid["vm_pu"].values,
        "#loading_percent": result.grid["loading_percent"].values,
        "#signal_state": None if result.signal_state is None else result.signal_state.values,
    }
    return {**kpis, **{key: _sha(values) for key, values in arrays.items()}}


def _sha(values: np.ndarray | None) -> str | None:
    return None if values is None else hashlib.sha256(np.ascontiguousarray(values).tobytes()).hexdigest()[:20]


if __name__ == "__main__":
    main()
