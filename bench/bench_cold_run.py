"""Time ``twin scenario run baseline`` from a cold shell: a fresh interpreter per run, as a planner starts it.

Issue 18: one scenario from a cold shell in at most 4 s wall on the project's 2-core
machine. First one run with an empty cache folder (``$TWIN_CACHE_DIR`` pointed at a new
temporary folder: the SimBench grid, the shared inputs and numba's compiled kernels are
built and stored), then ``--runs`` runs with that cache warm (default 5): median, spread
(min-max) of the wall time and of the child's CPU time (user + sys, which depends much
less on what else the machine runs: the figure to trust on a shared machine), the load
average before and after, and where the CPU goes per stage (median over the runs):

- start-up: the interpreter, the command line, the scenario file and the imports up to
  the shared inputs;
- cached inputs: reading (or, on the first run, preparing) the shared inputs;
- profiles, power flow, rest of the year (dispatch, KPIs, costs): the year itself, with
  the imports its first use triggers;
- writing: the result files (``result.nc``, ``net.json``, report, KPIs);
- exit: the rest (the table, the interpreter's shutdown).

Each run is ``python -c HOOK scenario run ...``: the hook runs the ``twin`` command in the
interpreter (as ``python -m twin``) and wraps those stages' functions to record the process
CPU time (all threads) around them; the modules named in :data:`NOT_NEEDED` that the
run imported are listed too.

    .venv/bin/python bench/bench_cold_run.py [--runs 5] [--scenario baseline] [--no-cache] [--root DIR]

``--root DIR`` runs the twin of another checkout (its ``python -m twin``, with this
environment), e.g. a ``git worktree`` of an older commit, for a before/after comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: Modules a run on cached inputs has no use for.
NOT_NEEDED = ("pandapower", "dask", "distributed", "networkx", "plotly", "scipy.signal", "hplib")
STAGES = ("start-up", "cached inputs", "profiles", "power flow", "rest of the year", "writing", "exit")

#: Runs ``twin`` in this interpreter; records CPU seconds per stage into $BENCH_STAGES at exit.
HOOK = r"""
import atexit, functools, importlib.abc, importlib.util, json, os, runpy, sys, time
marks = {}
WRAP = {
    "scenarios.parallel": [("cached_shared", "cached inputs")],
    "scenarios.runner": [("district_profiles", "profiles"), ("run_controlled", "power flow"),
                         ("compute_scenario", "year")],
    "scenarios.writer": [("write_results", "writing")],
}
def timed(function, stage):
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        marks.setdefault(stage + " start", time.process_time())
        try:
            return function(*args, **kwargs)
        finally:
            marks[stage] = marks.get(stage, 0.0) + time.process_time() - marks[stage + " start"]
    return wrapper
class Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name not in WRAP:
            return None
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        run = spec.loader.exec_module
        def exec_module(module):
            run(module)
            for attribute, stage in WRAP[name]:
                setattr(module, attribute, timed(getattr(module, attribute), stage))
        spec.loader.exec_module = exec_module
        return spec
sys.meta_path.insert(0, Finder())
def dump():
    marks["total"] = time.process_time()
    marks["modules"] = [m for m in NOT_NEEDED if sys.modules.get(m) is not None]
    with open(os.environ["BENCH_STAGES"], "w") as file:
        json.dump(marks, file)
atexit.register(dump)
sys.argv = ["twin", *sys.argv[1:]]
runpy.run_module("twin", run_name="__main__")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs with the cache warm")
    parser.add_argument("--scenario", default="baseline")
    parser.add_argument("--no-cache", action="store_true", help="pass --no-cache to every run")
    parser.add_argument("--root", type=Path, help="the checkout whose twin runs (default this one)")
    args = parser.parse_args()

    root = args.root.resolve() if args.root else ROOT
    hook = f"NOT_NEEDED = {NOT_NEEDED!r}\n" + HOOK
    with tempfile.TemporaryDirectory() as folder:
        env = {**os.environ, "TWIN_CACHE_DIR": str(Path(folder) / "cache")}
        env["NUMBA_CACHE_DIR"] = str(Path(folder) / "numba")
        env["BENCH_STAGES"] = str(Path(folder) / "stages.json")
        env["PYTHONPATH"] = str(root)
        run = [sys.executable, "-c", hook, "scenario", "run", args.scenario, "--out", str(Path(folder) / "out")]
        run += ["--no-cache"] if args.no_cache else []
        print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        wall, cpu, stages = _run(run, env, root)
        print(f"first run, empty cache folder: {wall:.2f} s wall, {cpu:.2f} s CPU")
        walls, cpus, breakdowns = [], [], []
        for _ in range(args.runs):
            wall, cpu, stages = _run(run, env, root)
            walls.append(wall)
            cpus.append(cpu)
            breakdowns.append(stages)
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    label = "no cache" if args.no_cache else "cache warm"
    print(f"{root}: {args.scenario}, {label}, {args.runs} runs:")
    print("  wall " + _stats(walls))
    print("  CPU (user+sys of the child) " + _stats(cpus))
    print("  CPU per stage, median [s]: " + ", ".join(f"{s} {_median(breakdowns, s):.2f}" for s in STAGES))
    imported = sorted({m for b in breakdowns for m in b["modules"]})
    print(f"  imported of {', '.join(NOT_NEEDED)}: {', '.join(imported) or 'none'}")
    print("target: median wall <= 4 s")


def _run(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, dict[str, object]]:
    """Wall and CPU (user + sys) seconds of one run in a new process, and its CPU per stage."""
    before = os.times()
    start = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = os.times()
    if done.returncode != 0:
        sys.exit(f"run failed (exit {done.returncode}): {done.stderr.strip().splitlines()[-1:]}")
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    marks = json.loads(Path(env["BENCH_STAGES"]).read_text(encoding="utf-8"))
    return wall, cpu, _stages(marks, cpu)


def _stages(marks: dict[str, float], cpu: float) -> dict[str, object]:
    """CPU seconds per stage from the hook's marks (process CPU at each stage's start and its duration)."""
    year = marks.get("year", 0.0)
    rest = year - marks.get("profiles", 0.0) - marks.get("power flow", 0.0)
    stages: dict[str, object] = {
        "start-up": marks.get("cached inputs start", marks.get("year start", 0.0)),
        "cached inputs": marks.get("cached inputs", 0.0),
        "profiles": marks.get("profiles", 0.0),
        "power flow": marks.get("power flow", 0.0),
        "rest of the year": rest,
        "writing": marks.get("writing", 0.0),
        "modules": marks.get("modules", []),
    }
    counted = sum(float(v) for k, v in stages.items() if k != "modules")  # type: ignore[arg-type]
    # the hook measures from the interpreter's start; the child's own figure includes all of it
    stages["exit"] = max(cpu - counted, 0.0)
    return stages


def _median(breakdowns: list[dict[str, object]], stage: str) -> float:
    return statistics.median(float(b[stage]) for b in breakdowns)  # type: ignore[arg-type]


def _stats(values: list[float]) -> str:
    return f"median {statistics.median(values):.2f} s (min {min(values):.2f}, max {max(values):.2f})"


if __name__ == "__main__":
    main()
