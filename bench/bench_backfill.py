"""The demo's back-fill for a start late in the year: field history, ``twin import``, ``twin live``, Year page.

Runs what ``twin demo`` runs before the dashboard, each as the real command: ``twin field
--start S --history FILE --hold-clock`` (the year's profiles, the meters' history from
1 January, the servers; time until the site file), ``twin import`` of the history into a new
store, ``twin live`` on it (time until its first snapshot), and then reads the Year page's
view of the store (measured months, tiles). Prints the times (wall and CPU of the children),
the file's size and rows, and the quarters the first snapshot's year KPIs count.

    .venv/bin/python bench/bench_backfill.py [--start 2026-11-25T10:00Z] [--district beucha]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psutil

from dashboard.data import DashboardConfig, daily_flows
from dashboard.pages.year import year_view

TWIN = [sys.executable, "-m", "twin"]


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _process_cpu_s(process: subprocess.Popen[bytes]) -> float:
    """CPU time of a running child and its children so far. [s]"""
    parent = psutil.Process(process.pid)
    total = 0.0
    for each in [parent, *parent.children(recursive=True)]:
        times = each.cpu_times()
        total += times.user + times.system
    return total


def _wait(condition: object, process: subprocess.Popen[bytes], what: str, timeout_s: float = 600.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not (callable(condition) and condition()):
        if process.poll() is not None:
            raise SystemExit(f"{what}: the process stopped (exit {process.returncode})")
        if time.monotonic() > deadline:
            raise SystemExit(f"{what}: not within {timeout_s:.0f} s")
        time.sleep(0.1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start", default="2026-11-25T10:00Z")
    parser.add_argument("--district", default="beucha")
    parser.add_argument("--speed", default="60")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-backfill-") as folder:
        work = Path(folder)
        site, history, store = work / "site.yaml", work / "meter-history.csv", work / "live"
        field_log = (work / "field.log").open("wb")
        started, cpu = time.monotonic(), _cpu_s()
        field_cmd = [*TWIN, "-v", "field", "--district", args.district, "--start", args.start, "--speed", args.speed]
        field = subprocess.Popen(
            [*field_cmd, "--site", str(site), "--history", str(history), "--hold-clock"],
            stdout=field_log,
            stderr=subprocess.STDOUT,
        )
        live: subprocess.Popen[bytes] | None = None
        try:
            _wait(site.is_file, field, "the field's site file")
            t_field, cpu_field = time.monotonic() - started, _process_cpu_s(field)
            rows = sum(1 for _ in history.open(encoding="utf-8")) - 1
            size_mb = history.stat().st_size / 1e6
            started, cpu = time.monotonic(), _cpu_s()
            imported = subprocess.run(
                [*TWIN, "import", "--store", str(store), "--site", str(site), str(history)],
                capture_output=True,
                text=True,
                check=False,
            )
            t_import, cpu_import = time.monotonic() - started, _cpu_s() - cpu
            if imported.returncode:
                raise SystemExit(f"twin import failed: {imported.stderr.strip()}")
            started = time.monotonic()
            live = subprocess.Popen(
                [*TWIN, "live", "--site", str(site), "--store", str(store), "--no-controllers"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            _wait((store / "snapshot.json").is_file, live, "the live twin's first snapshot")
            t_live, cpu_live = time.monotonic() - started, _process_cpu_s(live)
            snapshot = json.loads((store / "snapshot.json").read_text(encoding="utf-8"))
        finally:
            for process in (live, field):
                if process is not None and process.poll() is None:
                    process.send_signal(signal.SIGINT)
                    process.wait(timeout=60)
            field_log.close()
        history_line = next(
            (line for line in (work / "field.log").read_text().splitlines() if "meter history of" in line), ""
        )
        print(f"start {args.start}, district {args.district}; load average {os.getloadavg()[0]:.1f}")
        print(f"history: {rows:,} rows, {size_mb:.0f} MB; field log: {history_line.split('INFO')[-1].strip()}")
        print(f"twin field until its site file (year, history, servers): {t_field:.1f} s wall, {cpu_field:.1f} s CPU")
        print(f"twin import: {t_import:.1f} s wall, {cpu_import:.1f} s CPU ({imported.stdout.strip()})")
        print(f"twin live until its first snapshot: {t_live:.1f} s wall, {cpu_live:.1f} s CPU")
        print(
            f"back-fill in all (field + import + live): {t_field + t_import + t_live:.1f} s wall, "
            f"{cpu_field + cpu_import + cpu_live:.1f} s CPU"
        )
        year = snapshot["kpis"]["year"]["substation"]
        print(
            f"first snapshot at {snapshot['sim_time_utc']}: timeline from {snapshot.get('timeline_start_utc')}, "
            f"year import {year['import_kwh'] / 1000:.1f} MWh over {year['quarters']:.0f} quarters"
        )
        view = year_view(DashboardConfig(data_root=work, store_dir=store, results_dir=work / "scenarios"))
        daily = daily_flows(store, "substation", int(args.start[:4]), tz=snapshot["timezone"])
        months = sorted(set(daily.index.month))
        print(f"Year page: {len(daily)} days with data in months {months}; tiles: {len(view['tiles'])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
