"""Soak: ``twin live`` on the Beucha field with a file size limit of 0 for a minute, then lifted.

Not part of the test suite. Starts, as child processes on 127.0.0.1,

* ``twin field --speed 60`` (the Beucha district, every device on its own port),
* ``twin live`` on its site file (state store, controller server on ports the OS picks),

waits until the live twin has stored minutes, lowers its file size limit to 0 (``prlimit``:
every file write fails with EFBIG, the snapshot's too), reads the controller port once a second
while the limit holds, lifts the limit and prints:

* controller reads during the failure: answered, and distinct simulated times served (polling
  and the controller server go on);
* the status lines that named the failing store, and the store's log lines;
* the time from lifting the limit to a snapshot with nothing kept in memory;
* resident memory of the live process before, at the end of the failure, and after;
* the tables afterwards: rows, rows written late, whether every minute and quarter from the
  first to the last is there exactly once (nothing lost, nothing twice), leftover temporary files.

Every wait is bounded; every process started is stopped at the end, also on errors.

Usage::

    .venv/bin/python bench/soak_store_failure.py [--fail-seconds 60] [--speed 60]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import psutil
from pymodbus.client import ModbusTcpClient

from connectors.controller_map import load_controller_map
from twin.core.store import read_table

HOST = "127.0.0.1"
READY_WITHIN_S = 300.0


class Child:
    """A child process of the twin's CLI whose stdout lines are collected in a thread."""

    def __init__(self, name: str, args: list[str]) -> None:
        self.name = name
        self.lines: list[str] = []
        #: stderr lines (a pipe, as a service manager's journal: a log file would hit the size limit too)
        self.log: list[str] = []
        self.process = subprocess.Popen(
            [str(Path(sys.executable).parent / "twin"), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        threading.Thread(target=self._read, args=(self.process.stdout, self.lines), daemon=True).start()
        threading.Thread(target=self._read, args=(self.process.stderr, self.log), daemon=True).start()

    @staticmethod
    def _read(stream: Any, into: list[str]) -> None:
        for line in stream:
            into.append(line.rstrip("\n"))

    def stop(self, timeout_s: float = 60.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return self.process.returncode


def _snapshot(store: Path) -> dict[str, Any]:
    with contextlib.suppress(FileNotFoundError, json.JSONDecodeError):
        data: dict[str, Any] = json.loads((store / "snapshot.json").read_text())
        return data
    return {}


def _wait(what: str, ready: Callable[[], Any], children: list[Child], within_s: float) -> Any:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        result = ready()
        if result:
            return result
        for child in children:
            if child.process.poll() is not None:
                raise SystemExit(f"{child.name} ended ({child.process.returncode}) while waiting for {what}")
        time.sleep(0.2)
    raise SystemExit(f"no {what} within {within_s:.0f} s")


def _rss_mb(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / 1e6


def _controller_read(client: ModbusTcpClient) -> tuple[int, float] | None:
    cmap = load_controller_map()
    time_point, grid_point = cmap.district_point("sim_time_s"), cmap.district_point("p_grid_kw")
    rr = client.read_holding_registers(time_point.offset, count=grid_point.offset + 2 - time_point.offset, device_id=1)
    if rr.isError():
        return None
    registers = rr.registers
    sim_s = int(client.convert_from_registers(registers[0:2], client.DATATYPE.UINT32, word_order="big"))  # type: ignore[arg-type]
    at = grid_point.offset - time_point.offset
    grid = client.convert_from_registers(registers[at : at + 2], client.DATATYPE.FLOAT32, word_order="big")
    return sim_s, float(grid)  # type: ignore[arg-type]


def _complete(times: np.ndarray, step_s: int) -> tuple[int, int, int]:
    """Rows, gaps and duplicates of a time axis from its first to its last row."""
    seconds = np.sort(times.astype("datetime64[s]").astype(np.int64))
    steps = np.diff(seconds)
    return seconds.size, int(np.sum(steps[steps > step_s] // step_s - 1)), int(np.sum(steps == 0))


def run(fail_s: float, speed: float, root: Path) -> None:
    site, store, certs = root / "site.yaml", root / "store", root / "certs"
    field = Child("twin field", ["field", "--site", str(site), "--speed", f"{speed:g}", "--host", HOST])
    children = [field]
    live: Child | None = None
    try:
        _wait("the field's site file", site.is_file, children, READY_WITHIN_S)
        live = Child(
            "twin live",
            [
                "live",
                "--site",
                str(site),
                "--store",
                str(store),
                "--controller-host",
                HOST,
                "--controller-port",
                "0",
                "--controller-tls-port",
                "0",
                "--certs",
                str(certs),
                "--status-every",
                "5",
            ],
        )
        children.append(live)
        ready = _wait(
            "stored minutes, most devices ok and the controller listeners",
            lambda: (
                (s := _snapshot(store)).get("store", {}).get("1min", 0) >= 2
                and s["devices_ok"] >= 0.9 * s["devices_total"]
                and s.get("controller", {}).get("listeners", {}).get("port")
                and s
            ),
            children,
            READY_WITHIN_S,
        )
        print(
            f"ready: {ready['devices_ok']}/{ready['devices_total']} devices ok, stored rows {ready['store']},"
            f" live RSS {_rss_mb(live.process.pid):.0f} MB"
        )
        client = ModbusTcpClient(HOST, port=ready["controller"]["listeners"]["port"], timeout=2, retries=0)
        client.connect()
        rss_before = _rss_mb(live.process.pid)
        shown = len(live.lines)
        resource.prlimit(live.process.pid, resource.RLIMIT_FSIZE, (0, resource.RLIM_INFINITY))
        failed_at = time.monotonic()
        reads: list[tuple[int, float] | None] = []
        try:
            while time.monotonic() - failed_at < fail_s:
                if live.process.poll() is not None:
                    raise SystemExit(f"twin live ended ({live.process.returncode}) under the file size limit")
                reads.append(_controller_read(client))
                time.sleep(1.0)
            rss_failing = _rss_mb(live.process.pid)
        finally:
            with contextlib.suppress(ProcessLookupError):
                resource.prlimit(live.process.pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY,) * 2)
        lifted_at = time.monotonic()
        during = [line for line in live.lines[shown:]]
        recovered = _wait(
            "a snapshot with the store writable again and nothing kept",
            lambda: (
                (s := _snapshot(store)).get("store_status", {}).get("ok") is True
                and s["store_status"]["failed_writes"] > 0
                and not any(s["store_status"]["pending_rows"].values())
                and s
            ),
            children,
            120.0,
        )
        resumed_s = time.monotonic() - lifted_at
        time.sleep(5.0)
        rss_after = _rss_mb(live.process.pid)
        client.close()
        live_rc = live.stop()
        field.stop()
        answered = [r for r in reads if r is not None]
        grid = [r[1] for r in answered] or [float("nan")]
        print(f"file size limit 0 for {fail_s:.0f} s:")
        print(
            f"  controller reads answered {len(answered)}/{len(reads)}, distinct simulated times served"
            f" {len({r[0] for r in answered})}, grid kW range {min(grid):.1f}..{max(grid):.1f}"
        )
        naming = [line for line in during if "STORE FAILING" in line]
        print(f"  status lines during the failure: {len(during)}, naming the failing store: {len(naming)}")
        if naming:
            print(f"    e.g. ...{naming[-1][-150:]}")
        log = live.log
        failed_lines = [line for line in log if "store write failed" in line]
        again = sum("writable again" in line for line in log)
        print(f"  log lines 'store write failed': {len(failed_lines)}; 'writable again': {again}")
        if failed_lines:
            print(f"    e.g. {failed_lines[-1][:200]}")
        print(f"  lifted -> nothing kept in memory: {resumed_s:.1f} s (retry back-off at most 10 s)")
        status = recovered["store_status"]
        print(
            f"  store_status after: failed writes {status['failed_writes']}, rows written late {status['late_rows']},"
            f" dropped {status['dropped_rows']}"
        )
        print(f"  live RSS: before {rss_before:.0f} MB, end of failure {rss_failing:.0f} MB, after {rss_after:.0f} MB")
        print(f"  twin live exit code after SIGTERM: {live_rc}")
        for name, step in (("1min", 60), ("15min", 900)):
            table = read_table(store, name)
            rows, gaps, twice = _complete(table["time"].values, step)
            print(f"  {name}: {rows} rows (committed {table.attrs['rows']}), missing intervals {gaps}, twice {twice}")
        leftovers = [str(p) for p in store.rglob("*") if p.name.endswith((".tmp", ".partial"))]
        print(f"  temporary files left in the store: {len(leftovers)}")
    finally:
        for child in reversed(children):
            child.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fail-seconds", type=float, default=60.0)
    parser.add_argument("--speed", type=float, default=60.0)
    parser.add_argument("--data-root", type=Path, default=None, help="keep the files here (default: a temp folder)")
    args = parser.parse_args()
    root = args.data_root or Path(tempfile.mkdtemp(prefix="soak-store-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        run(args.fail_seconds, args.speed, root)
    finally:
        if args.data_root is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
