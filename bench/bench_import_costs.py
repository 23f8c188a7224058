"""What importing one module of the packages costs: wall time and the heavy libraries it pulls in.

Each module is imported ``--runs`` times in a fresh interpreter; the median wall time of
``python -c "import <module>"`` is printed with the heavy third-party libraries (xarray,
pandas, numpy, pandapower, pymodbus, dask, dash, plotly, zarr) found in ``sys.modules``
afterwards, and the cost of the bare interpreter for comparison.

    .venv/bin/python bench/bench_import_costs.py [--runs 5] [module ...]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("xarray", "pandas", "numpy", "pandapower", "pymodbus", "dask", "dash", "plotly", "zarr")
DEFAULT_MODULES = (
    "connectors.maps",
    "connectors.controller_map",
    "connectors.site",
    "models.district",
    "scenarios.config",
    "twin.core.config_loader",
    "twin.core.units",
)


def measure(module: str, runs: int) -> tuple[float, list[str]]:
    """Median wall time [s] of importing ``module`` in a fresh interpreter, and the heavy libraries it loads."""
    code = f"import {module}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))" if module else "pass"
    times: list[float] = []
    loaded: set[str] = set()
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
        times.append(time.perf_counter() - started)
        if module:
            loaded = set(json.loads(done.stdout.splitlines()[-1]))
    return statistics.median(times), [name for name in HEAVY if name in loaded]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", default=list(DEFAULT_MODULES))
    parser.add_argument("--runs", type=int, default=5, help="imports per module (the median is printed)")
    args = parser.parse_args()
    bare, _ = measure("", args.runs)
    print(f"{'(bare interpreter)':32s} {bare:6.2f} s")
    for module in args.modules:
        seconds, heavy = measure(module, args.runs)
        print(f"{module:32s} {seconds:6.2f} s  {', '.join(heavy) or '-'}")


if __name__ == "__main__":
    main()
