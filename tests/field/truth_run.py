"""Run ``twin field --truth`` and ``twin live`` (restarted once) as processes, for the truth check.

Shared by ``tests/field/test_truth.py`` (a short period) and ``bench/bench_truth.py`` (a day).
Every wait is bounded by a deadline; every process is stopped on the way out.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from connectors.site import dump_site, load_site

#: Wall time the field gets to compute its year and write the site file. [s]
FIELD_READY_S = 120.0
#: Whole quarters every run of the live twin reads after the one it started in (that one is read in part). [1]
MIN_QUARTERS = 1
#: A quarter hour. [s]
QUARTER_S = 900.0


@dataclass(frozen=True)
class TruthRun:
    """What a run left: the truth file, the store, the site's time zone, the live twin's output."""

    truth: Path
    store: Path
    timezone: str
    live_logs: list[str]
    field_log: str


def _twin() -> list[str]:
    return [sys.executable, "-m", "twin"]


def _wait(predicate: object, timeout_s: float, what: str, proc: subprocess.Popen[str] | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"{what}: the process ended ({proc.returncode})")
        time.sleep(0.05)
    raise AssertionError(f"{what}: not within {timeout_s:g} s")


def _sim_time_s(store: Path) -> float:
    try:
        return float(json.loads((store / "snapshot.json").read_text(encoding="utf-8"))["sim_time_s"])
    except (OSError, ValueError, KeyError, TypeError):
        return float("-inf")


def _rows(store: Path) -> int:
    """Rows of the 15-minute table the snapshot says are committed (0 before the first)."""
    try:
        snapshot = json.loads((store / "snapshot.json").read_text(encoding="utf-8"))
        return int(snapshot.get("store", {}).get("15min", 0))
    except (OSError, ValueError, TypeError):
        return 0


#: Wall time a process gets to stop after SIGTERM (the live twin flushes its store; slow on a loaded machine). [s]
STOP_S = 60.0


def _stop(proc: subprocess.Popen[str], log: Path, timeout_s: float = STOP_S) -> str:
    """Stop a process (SIGTERM, then kill after ``timeout_s``); return its output."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    return log.read_text(encoding="utf-8")


class _RunDone:
    """True once a run of the live twin reached its time and read whole quarters of its own (and stored them).

    A slow start must not end a run before that: the quarter it started in is read in part only.
    """

    def __init__(self, store: Path, until_s: float, rows: int, before_s: float) -> None:
        self.store, self.until_s, self.rows, self.before_s = store, until_s, rows, before_s
        self.began_s: float | None = None

    def __call__(self) -> bool:
        now_s = _sim_time_s(self.store)
        if self.began_s is None and now_s > self.before_s:
            self.began_s = now_s
        if self.began_s is None or now_s < self.until_s or _rows(self.store) <= self.rows:
            return False
        first_end_s = (self.began_s // QUARTER_S + 1) * QUARTER_S
        return now_s >= first_end_s + MIN_QUARTERS * QUARTER_S + QUARTER_S / 30


@contextlib.contextmanager
def _process(args: list[str], log: Path) -> Iterator[subprocess.Popen[str]]:
    """A process whose output goes to a file (a pipe nobody reads would block it)."""
    with log.open("w", encoding="utf-8") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, text=True)
        try:
            yield proc
        finally:
            _stop(proc, log)


def run_truth(
    workdir: Path,
    district: Path | str,
    *,
    start_utc: str,
    speed: float,
    sim_s: float,
    restart_after_s: float | None = None,
    faults: Path | None = None,
    interval_s: float = 0.2,
) -> TruthRun:
    """Run the field from ``start_utc`` for ``sim_s`` simulated seconds with the live twin on it.

    The live twin stops once ``restart_after_s`` simulated seconds after the start and starts again on
    the same store; the field runs on and writes its truth file.
    """
    site, store, truth = workdir / "site.yaml", workdir / "store", workdir / "truth.csv"
    field_args = [*_twin(), "field", "--district", str(district), "--site", str(site), "--speed", f"{speed:g}"]
    field_args += ["--start", start_utc, "--truth", str(truth)] + (["--faults", str(faults)] if faults else [])
    live_args = [*_twin(), "live", "--site", str(site), "--store", str(store), "--district", str(district)]
    live_args += ["--no-controllers", "--status-every", "2"]
    start_s = pd.Timestamp(start_utc).timestamp()
    logs: list[str] = []
    with _process(field_args, workdir / "field.log") as field:
        _wait(site.exists, FIELD_READY_S, "twin field writes its site file", field)
        described = load_site(site)
        # polled often, so the quarters' last readings are close to their ends at high speed
        defaults = described.defaults.model_copy(update={"interval_s": interval_s})
        dump_site(described.model_copy(update={"defaults": defaults}), site)
        phases = [restart_after_s, sim_s] if restart_after_s is not None else [sim_s]
        for run, until_s in enumerate(phases):
            log = workdir / f"live{run}.log"
            rows, before_s = _rows(store), _sim_time_s(store)
            with _process(live_args, log) as live:
                wall_s = 60.0 + (until_s - max(before_s - start_s, 0.0)) / speed * 3
                done = _RunDone(store, start_s + until_s, rows, before_s)
                _wait(done, wall_s, "the live twin runs", live)
            logs.append(log.read_text(encoding="utf-8"))
            assert live.returncode == 0, f"exit {live.returncode}: {logs[-1]}"
        end_s = _sim_time_s(store)
        last_quarter = pd.Timestamp(end_s // 900 * 900, unit="s", tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ")
        _wait(lambda: last_quarter in truth.read_text(encoding="utf-8"), 60.0, "the truth has the last quarter", field)
        field_log = _stop(field, workdir / "field.log")
    return TruthRun(truth, store, described.timezone, logs, field_log)
