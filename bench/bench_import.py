"""Peak memory and time of ``twin import`` of one meter's year into a store of thousands of channels.

The store is made the way ``twin live`` leaves it for the Beucha field: a 15-minute table of
``--channels`` channels (3,173 by default) holding ``--stored-days`` days of rows, and the
meters file. Then ``twin import`` runs as a subprocess on a CSV of one building meter's year
(35,040 quarter-hours) and its peak resident memory (``ru_maxrss`` of the child) and wall time
are printed. Memory should follow the channels the import touches, not the table's width.

    .venv/bin/python bench/bench_import.py [--channels 3173] [--stored-days 1] [--days 365]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from twin.core.store import MeanTable, StoreLock, write_json_atomic
from twin.importing import METERS_FILE

YEAR_START_S = int(datetime(2025, 1, 1, tzinfo=UTC).timestamp())


def make_store(store: Path, *, channels: int, stored_days: int) -> None:
    """A 15-minute table of ``channels`` channels with ``stored_days`` days of rows, and the meters file."""
    buildings = [f"b{i:03d}" for i in range(1, 101)]
    names = [f"flow:{b}/{flow}" for b in buildings for flow in ("import_kwh", "export_kwh")]
    names += [f"{b}/dev{j}/p_kw" for b in buildings for j in range(40)][: max(channels - len(names), 0)]
    rng = np.random.default_rng(0)
    times = YEAR_START_S + 900 * np.arange(stored_days * 96, dtype=np.int64)
    with StoreLock(store, "bench_import"):
        table = MeanTable(store, "15min", writable=True)
        for first in range(0, times.size, 96):
            block = times[first : first + 96]
            table.append(block, {name: rng.random(block.size) for name in names})
    write_json_atomic(store / METERS_FILE, {f"{b}/meter": b for b in buildings})


def write_year(path: Path, *, days: int) -> None:
    """One building meter's quarter-hours from 1 January 2025 (the stored days among them)."""
    rng = np.random.default_rng(1)
    lines = ["meter,time,import_kwh,export_kwh,kind"]
    for row in range(days * 96):
        stamp = datetime.fromtimestamp(YEAR_START_S + 900 * row, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        lines.append(f"b001/meter,{stamp},{rng.random() * 0.5:.3f},{rng.random() * 0.2:.3f},interval")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, default=3173, help="channels of the 15-minute table")
    parser.add_argument("--stored-days", type=int, default=1, help="days of rows the table holds before")
    parser.add_argument("--days", type=int, default=365, help="days of quarter-hours imported")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        store, data = Path(folder) / "store", Path(folder) / "year.csv"
        make_store(store, channels=args.channels, stored_days=args.stored_days)
        write_year(data, days=args.days)
        twin = Path(sys.executable).parent / "twin"
        baseline = _run([str(twin), "--help"])
        started = time.perf_counter()
        done = _run([str(twin), "import", str(data), "--store", str(store)])
        elapsed = time.perf_counter() - started
        print(done[1].strip() or done[2].strip())
        print(
            f"{args.channels} channels, {args.stored_days} day(s) stored, {args.days * 96} quarter-hours imported: "
            f"peak RSS {done[0] / 1024:.0f} MB (twin --help: {baseline[0] / 1024:.0f} MB), {elapsed:.1f} s"
        )


def _run(command: list[str]) -> tuple[int, str, str]:
    """Run a command in a child that reports the peak RSS of its own child. [kB]"""
    code = (
        "import resource, subprocess, sys; "
        "p = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); "
        "print(p.stdout, end=''); print(p.stderr, file=sys.stderr, end='')"
    )
    done = subprocess.run([sys.executable, "-c", code, *command], capture_output=True, text=True, check=False)
    first, _, rest = done.stdout.partition("\n")
    return int(first), rest, done.stderr


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    main()
