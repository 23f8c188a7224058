"""Time ``twin scenario run baseline`` from a cold shell: a fresh interpreter per run, as a planner starts it.

Issue 18: one scenario from a cold shell in at most 4 s wall on the project's 2-core
machine. First one run with an empty cache folder (``$TWIN_CACHE_DIR`` pointed at a new
temporary folder: the SimBench grid, the shared inputs and numba's compiled kernels are
built and stored), then ``--runs`` runs with that cache warm (default 5): median, min and
max of the wall time and of the child's CPU time (user + sys, which depends less on
what else the machine runs), and the load average before the runs. ``--no-cache`` passes
the same option to every run (the shared inputs prepared afresh each time) for comparison.

    .venv/bin/python bench/bench_cold_run.py [--runs 5] [--scenario baseline] [--no-cache] [--root DIR]

``--root DIR`` runs the twin of another checkout (``python -m twin`` there, with this
environment), e.g. a ``git worktree`` of an older commit, for a before/after comparison.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs with the cache warm")
    parser.add_argument("--scenario", default="baseline")
    parser.add_argument("--no-cache", action="store_true", help="pass --no-cache to every run")
    parser.add_argument("--root", type=Path, help="the checkout whose twin runs (default this one)")
    args = parser.parse_args()

    twin = ROOT / ".venv" / "bin" / "twin"
    root = args.root.resolve() if args.root else ROOT
    command = [str(twin)] if args.root is None and twin.exists() else [sys.executable, "-m", "twin"]
    with tempfile.TemporaryDirectory() as folder:
        env = {**os.environ, "TWIN_CACHE_DIR": str(Path(folder) / "cache")}
        env["NUMBA_CACHE_DIR"] = str(Path(folder) / "numba")
        if args.root is not None:
            env["PYTHONPATH"] = str(root)
        run = [*command, "scenario", "run", args.scenario, "--out", str(Path(folder) / "out")]
        run += ["--no-cache"] if args.no_cache else []
        print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        wall, cpu = _run(run, env, root)
        print(f"first run, empty cache folder: {wall:.2f} s wall, {cpu:.2f} s CPU")
        walls, cpus = [], []
        for _ in range(args.runs):
            wall, cpu = _run(run, env, root)
            walls.append(wall)
            cpus.append(cpu)
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    label = "no cache" if args.no_cache else "cache warm"
    print(f"{root}: {args.scenario}, {label}, {args.runs} runs:")
    print("  wall " + _stats(walls) + "; CPU (user+sys) " + _stats(cpus))
    print("target: median wall <= 4 s")


def _run(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """Wall and CPU (user + sys) seconds of one run in a new process."""
    before = os.times()
    start = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = os.times()
    if done.returncode != 0:
        sys.exit(f"run failed (exit {done.returncode}): {done.stderr.strip().splitlines()[-1:]}")
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return wall, cpu


def _stats(values: list[float]) -> str:
    return f"median {statistics.median(values):.2f} s (min {min(values):.2f}, max {max(values):.2f})"


if __name__ == "__main__":
    main()
