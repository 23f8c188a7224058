"""Soak run of the demo's parts: field with a random fault plan, live (killed once), dashboard.

Not part of the test suite. Starts, as child processes on 127.0.0.1 and free ports,

* ``twin field --speed 60 --faults PLAN`` with a seeded random fault plan (stop, hang,
  exception, absurd, not_implemented, restart on random devices, spread over the run),
* ``twin live`` (state store, controller server plain + TLS), SIGKILLed once mid-run and
  restarted on the same store,
* ``twin dashboard --workers 1``,

drives controllers against the live twin (plain reads, TLS writes in and out of range, plain
writes that must be refused), and prints: exit codes, resident memory (incl. children) at
minute 2 and at the end with the growth, the store's consistency, the controller outcomes and
which faults live flagged (snapshot ``failing``). Every loop is bounded; every process started
is stopped at the end, also on errors.

Usage::

    .venv/bin/python bench/soak_demo.py [--minutes 10] [--seed 11] [--data-root DIR]
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import functools
import itertools
import json
import logging
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from connectors.certs import client_ssl_context  # noqa: E402
from connectors.controller_map import load_controller_map  # noqa: E402
from twin.core.store import read_table  # noqa: E402

HOST = "127.0.0.1"
SPEED = 60.0
FLUSH_1MIN_S = 60  # simulated seconds between two rows of means_1min
FLUSH_15MIN_S = 900
KINDS = ("stop", "hang", "exception", "absurd", "not_implemented", "restart")
STOP_GRACE_S = 20.0


def say(text: str) -> None:
    print(text, flush=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


@dataclass
class Part:
    name: str
    args: list[str]
    log: Path
    process: subprocess.Popen[bytes] | None = None
    exits: list[int] = field(default_factory=list)

    def start(self, root: Path, env: dict[str, str]) -> None:
        command = [sys.executable, "-m", "twin", "--data-root", str(root), *self.args]
        with self.log.open("ab") as handle:
            self.process = subprocess.Popen(
                command,
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=env,
            )

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def rss_mb(self) -> float | None:
        if not self.alive():
            return None
        assert self.process is not None
        try:
            proc = psutil.Process(self.process.pid)
            total = proc.memory_info().rss
            for child in proc.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    total += child.memory_info().rss
        except psutil.Error:
            return None
        return total / 2**20

    def stop(self, sig: int = signal.SIGINT) -> int | None:
        """Signal the child alone, wait (bounded), then kill its session; return the exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(sig)
            try:
                self.process.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                say(f"  {self.name} did not stop within {STOP_GRACE_S:.0f} s: SIGKILL")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)  # leftovers of its session (workers)
        code = self.process.returncode
        self.exits.append(code)
        return code


def wait_for(what: str, ready: Any, parts: list[Part], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if ready():
            return
        for part in parts:
            if part.process is not None and part.process.poll() is not None:
                raise RuntimeError(f"{part.name} exited ({part.process.returncode}) waiting for {what}; {part.log}")
        time.sleep(0.2)
    raise RuntimeError(f"{what} not ready within {timeout_s:.0f} s")


def device_ids(root: Path, env: dict[str, str], parts: list[Part]) -> list[str]:
    """Start the field once without faults to learn its device ids from the site file."""
    site = root / "probe-site.yaml"
    probe = Part(
        "field-probe", ["field", "--site", str(site), "--speed", str(SPEED), "--host", HOST], root / "probe.log"
    )
    parts.append(probe)
    probe.start(root, env)
    try:
        wait_for("the probe field's site file", site.is_file, [probe], 120)
        return [d["id"] for d in yaml.safe_load(site.read_text())["devices"]]
    finally:
        probe.stop()
        parts.remove(probe)


def make_plan(ids: list[str], run_s: float, rng: random.Random, per_kind: int) -> list[dict[str, Any]]:
    faults: list[dict[str, Any]] = []
    first, last = 40.0, max(60.0, run_s - 75.0)
    devices = rng.sample([d for d in ids if d != "community_battery"], per_kind * len(KINDS))
    for index, kind in enumerate(KINDS * per_kind):
        entry: dict[str, Any] = {"device": devices[index], "fault": kind, "at_s": round(rng.uniform(first, last), 1)}
        if kind == "restart":
            entry["duration_s"] = round(rng.uniform(2, 10), 1)
        elif kind == "stop" and index == 0:
            pass  # one device dies for good
        else:
            entry["duration_s"] = round(rng.uniform(15, 60), 1)
        if kind == "exception":
            entry["exception_code"] = rng.choice([4, 6])
        faults.append(entry)
    return sorted(faults, key=lambda e: e["at_s"])


class Controllers(threading.Thread):
    """Controller traffic: plain reads, TLS writes (good and out of range), plain writes (refused)."""

    def __init__(self, port: int, tls_port: int, certs: Path, seed: int, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.port, self.tls_port, self.certs, self.stop_event = port, tls_port, certs, stop
        self.rng = random.Random(seed)
        self.counts: collections.Counter[str] = collections.Counter()
        self.cmap = load_controller_map()

    def run(self) -> None:
        from pymodbus.client import ModbusTcpClient, ModbusTlsClient

        f32 = ModbusTcpClient.DATATYPE.FLOAT32
        setpoint = self.cmap.district_point("battery_setpoint_kw").offset
        grid_kw = self.cmap.district_point("p_grid_kw").offset
        while not self.stop_event.wait(1.0):
            # plain read
            client = ModbusTcpClient(HOST, port=self.port, timeout=2, retries=0)
            try:
                if not client.connect():
                    self.counts["read: connect failed"] += 1
                else:
                    rr = client.read_holding_registers(grid_kw, count=2, device_id=1)
                    self.counts["read: ok" if not rr.isError() else f"read: error {rr}"] += 1
                    value = self.rng.uniform(-100, 100)
                    rr = client.write_registers(setpoint, client.convert_to_registers(value, f32), device_id=1)
                    code = getattr(rr, "exception_code", None)
                    self.counts[
                        f"plain write: refused (exception {code})" if rr.isError() else "plain write: ACCEPTED"
                    ] += 1
            except Exception as err:  # noqa: BLE001 - counted, the soak goes on
                self.counts[f"read/plain write: {type(err).__name__}"] += 1
            finally:
                client.close()
            # TLS writes
            try:
                ctx = client_ssl_context(
                    self.certs / "writer-ca.pem", self.certs / "writer.pem", self.certs / "writer.key"
                )
                ctx.check_hostname = False
            except Exception as err:  # noqa: BLE001
                self.counts[f"tls: no context ({type(err).__name__})"] += 1
                continue
            tls = ModbusTlsClient(HOST, port=self.tls_port, sslctx=ctx, timeout=2, retries=0)
            try:
                if not tls.connect():
                    self.counts["tls: connect failed"] += 1
                    continue
                good = round(self.rng.uniform(-90, 90), 1)
                rr = tls.write_registers(setpoint, tls.convert_to_registers(good, f32), device_id=1)
                self.counts["tls good write: ok" if not rr.isError() else f"tls good write: error {rr}"] += 1
                bad = self.rng.choice([400.0, -900.0, 1e6])
                rr = tls.write_registers(setpoint, tls.convert_to_registers(bad, f32), device_id=1)
                code = getattr(rr, "exception_code", None)
                self.counts[
                    f"tls bad write: refused (exception {code})" if rr.isError() else "tls bad write: ACCEPTED"
                ] += 1
            except Exception as err:  # noqa: BLE001
                self.counts[f"tls: {type(err).__name__}"] += 1
            finally:
                tls.close()


def read_snapshot(store: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads((store / "snapshot.json").read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return data


def snapshot_changed(store: Path, old_written: str | None) -> bool:
    return read_snapshot(store).get("written_utc") not in (None, old_written)


def table_times(store: Path, name: str) -> np.ndarray:
    ds = read_table(store, name)
    return ds["time"].values.astype("datetime64[s]").astype(np.int64)


def check_table(store: Path, name: str, step: int, pre_kill: np.ndarray, kill_sim: tuple[float, float] | None) -> bool:
    try:
        ds = read_table(store, name)
    except Exception as err:  # noqa: BLE001
        say(f"  {name}: UNREADABLE ({type(err).__name__}: {err})")
        return False
    times = ds["time"].values.astype("datetime64[s]").astype(np.int64)
    rows = int(ds.attrs.get("rows", -1))
    commit = json.loads((store / f"means_{name}.commit.json").read_text())
    increasing = bool(np.all(np.diff(times) > 0))
    gaps = [(int(a), int(b)) for a, b in itertools.pairwise(times.tolist()) if b - a > step]
    unexplained, at_start = [], []
    for a, b in gaps:
        around_kill = kill_sim is not None and a <= kill_sim[1] + step and b >= kill_sim[0] - step
        if around_kill:
            continue
        if a - times[0] <= 5 * step and name == "1min":  # right after live's first row
            at_start.append((a, b))
        else:
            unexplained.append((a, b))
    lost = np.setdiff1d(pre_kill, times)
    ok = increasing and not unexplained and not at_start and lost.size == 0 and rows == commit["rows"]
    say(
        f"  {name}: committed rows {rows} (commit file {commit['rows']}), distinct times {times.size}, "
        f"{len(ds['channel'])} channels, strictly increasing {increasing}, gaps > {step} s: "
        + (
            ", ".join(
                f"{(b - a) // 60} min"
                + (" (kill)" if (a, b) not in unexplained + at_start else "")
                + (" (right after live's start)" if (a, b) in at_start else "")
                for a, b in gaps
            )
            or "none"
        )
        + f"; rows committed before the kill missing after: {lost.size} -> {'OK' if ok else 'PROBLEM'}"
    )
    return ok


def main() -> int:
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)  # the live twin's outage is counted, not logged
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--per-kind", type=int, default=3, help="faults of each kind")
    parser.add_argument("--data-root", type=Path, default=None)
    args = parser.parse_args()

    run_s = args.minutes * 60.0
    rng = random.Random(args.seed)
    root = (args.data_root or Path(tempfile.mkdtemp(prefix="twin-soak-"))).resolve()
    root.mkdir(parents=True, exist_ok=True)
    store, certs, site, results = root / "live", root / "certs", root / "site.yaml", root / "scenarios"
    plan_file = root / "faults.yaml"
    env = {**os.environ, "TWIN_DASHBOARD_USER": "soak", "TWIN_DASHBOARD_PASSWORD": "soak-" + str(args.seed)}
    port, tls_port, dash_port = free_port(), free_port(), free_port()
    say(f"soak: {args.minutes:g} min at speed {SPEED:g}, seed {args.seed}, data root {root}")
    say(f"  ports: controller {port}, controller TLS {tls_port}, dashboard {dash_port} on {HOST}")

    parts: list[Part] = []
    stop_traffic = threading.Event()
    traffic: Controllers | None = None
    try:
        ids = device_ids(root, env, parts)
        plan = make_plan(ids, run_s, rng, args.per_kind)
        plan_file.write_text(yaml.safe_dump({"faults": plan}, sort_keys=False))
        say(f"  fault plan: {len(plan)} faults on {len(ids)} devices ({plan_file})")
        kill_at = round(rng.uniform(0.4, 0.6) * run_s, 1)

        fieldp = Part(
            "field",
            ["field", "--site", str(site), "--speed", str(SPEED), "--host", HOST, "--faults", str(plan_file)],
            root / "field.log",
        )
        live = Part(
            "live",
            [
                "live",
                "--site",
                str(site),
                "--store",
                str(store),
                "--controller-host",
                HOST,
                "--controller-port",
                str(port),
                "--controller-tls-port",
                str(tls_port),
                "--certs",
                str(certs),
            ],
            root / "live.log",
        )
        dash = Part(
            "dashboard",
            [
                "dashboard",
                "--host",
                HOST,
                "--port",
                str(dash_port),
                "--store",
                str(store),
                "--results",
                str(results),
                "--workers",
                "1",
            ],
            root / "dashboard.log",
        )
        parts.extend([fieldp, live, dash])
        fieldp.start(root, env)
        wait_for("the field's site file", site.is_file, parts[:1], 120)
        t0 = time.monotonic()  # the fault plan's clock: the field serves from about here
        live.start(root, env)
        wait_for(
            "live's controller listeners",
            lambda: bool(read_snapshot(store).get("controller", {}).get("listeners", {}).get("tls_port")),
            parts[:2],
            120,
        )
        dash.start(root, env)
        traffic = Controllers(port, tls_port, certs, args.seed, stop_traffic)
        traffic.start()
        say(f"  all parts up after {time.monotonic() - t0:.0f} s; live will be SIGKILLed at {kill_at:.0f} s")

        mem_at = {"min2": min(120.0, run_s * 0.5), "end": run_s - 5.0}
        memory: dict[str, dict[str, float | None]] = {}
        failing_seen: dict[str, list[float]] = collections.defaultdict(list)
        quality_seen: dict[str, list[float]] = collections.defaultdict(list)
        planned = {entry["device"] for entry in plan}
        series: dict[int, dict[str, float | None]] = {}
        pre_kill: dict[str, np.ndarray] = {"1min": np.array([], np.int64), "15min": np.array([], np.int64)}
        kill_sim: tuple[float, float] | None = None
        restart_rss: dict[str, float | None] = {}
        crashed: list[str] = []
        killed = False
        deadline = t0 + run_s + 60  # bounded even if something stalls
        while time.monotonic() < min(t0 + run_s, deadline):
            elapsed = time.monotonic() - t0
            snap = read_snapshot(store)
            for device in snap.get("failing", []):
                failing_seen[device].append(elapsed)
            for device in planned:
                quality = snap.get("devices", {}).get(device, {}).get("quality", {})
                if any(flag != "ok" for flag in quality.values()):
                    quality_seen[device].append(elapsed)
            minute = int(elapsed // 60)
            if minute not in series:
                series[minute] = {p.name: p.rss_mb() for p in parts}
            for label, at in mem_at.items():
                if label not in memory and elapsed >= at:
                    memory[label] = {p.name: p.rss_mb() for p in parts}
                    say(
                        f"  [{elapsed:5.0f} s] RSS {label}: "
                        + ", ".join(f"{k} {v or 0:.0f} MB" for k, v in memory[label].items())
                    )
            if live.alive() and not killed and elapsed >= kill_at:
                for name in pre_kill:
                    pre_kill[name] = table_times(store, name)
                before = float(snap.get("sim_time_s") or 0.0)
                assert live.process is not None
                os.kill(live.process.pid, signal.SIGKILL)
                live.process.wait(timeout=10)
                live.exits.append(live.process.returncode)
                old_written = read_snapshot(store).get("written_utc")  # the dead process's last
                killed = True
                say(
                    f"  [{elapsed:5.0f} s] live SIGKILLed (exit {live.process.returncode}); "
                    "restarting on the same store"
                )
                live.start(root, env)
                restart_t = time.monotonic()
                wait_for(
                    "live after the restart",
                    functools.partial(snapshot_changed, store, old_written),
                    [live],
                    120,
                )
                after = float(read_snapshot(store).get("sim_time_s") or 0.0)
                kill_sim = (before, after)
                say(
                    f"  [{time.monotonic() - t0:5.0f} s] live back after {time.monotonic() - restart_t:.1f} s "
                    f"(simulated gap {(after - before) / 60:.1f} min)"
                )
            if killed and "restart+60" not in restart_rss and time.monotonic() - restart_t >= 60:
                restart_rss["restart+60"] = live.rss_mb()
            for part in parts:
                if not part.alive() and part.name not in crashed:
                    crashed.append(part.name)
                    say(
                        f"  [{elapsed:5.0f} s] {part.name} DIED on its own "
                        f"(exit {part.process.returncode if part.process else None})"
                    )
            time.sleep(1.0)
        elapsed = time.monotonic() - t0
        if "end" not in memory:
            memory["end"] = {p.name: p.rss_mb() for p in parts}
        alive_at_end = {p.name: p.alive() for p in parts}
        last_snap = read_snapshot(store)
        stop_traffic.set()
        traffic.join(timeout=15)

        say("\n== processes")
        exits = {}
        for part in reversed(parts):
            exits[part.name] = part.stop(signal.SIGINT)
        for part in parts:
            say(
                f"  {part.name}: alive at the end {alive_at_end[part.name]}, "
                f"exit codes {part.exits} (SIGINT at the stop)"
            )
        say(f"  crashes besides the planned kill: {crashed or 'none'}")

        say("\n== resident memory (RSS incl. children), MB")
        for part in parts:
            a, b = memory["min2"].get(part.name), memory["end"].get(part.name)
            growth = f"{(b - a) / a * 100:+.1f} %" if a and b else "n/a"
            say(
                f"  {part.name:9s} at {mem_at['min2'] / 60:.0f} min {a or 0:7.1f}  "
                f"at {elapsed / 60:.1f} min {b or 0:7.1f}  growth {growth}"
            )
        for part in parts:
            values = " ".join(f"{v or 0:.0f}" for _, v in sorted((m, s[part.name]) for m, s in series.items()))
            say(f"  {part.name:9s} per minute: {values}")
        if restart_rss.get("restart+60") and memory["end"].get("live"):
            a, b = restart_rss["restart+60"], memory["end"]["live"]
            say(f"  live after the restart: +60 s {a:.1f} -> end {b:.1f} ({(b - a) / a * 100:+.1f} %)")

        say("\n== store")
        store_ok = all(
            [
                check_table(store, name, step, pre_kill[name], kill_sim)
                for name, step in (("1min", FLUSH_1MIN_S), ("15min", FLUSH_15MIN_S))
            ]
        )
        if kill_sim is not None and pre_kill["1min"].size:
            lag = (kill_sim[0] - pre_kill["1min"][-1]) / 60
            say(f"  at the kill the last committed 1min row started {lag:.1f} simulated min before live's sim time")
        final = table_times(store, "1min")
        end_sim = float(read_snapshot(store).get("sim_time_s") or last_snap.get("sim_time_s") or 0)
        if final.size:
            say(
                f"  last 1min row starts {(end_sim - final[-1]) / 60:.1f} simulated min "
                "before live's last sim time (<= 2 expected)"
            )
        say(f"  store consistent: {store_ok}")

        say("\n== controllers")
        for key, count in sorted(traffic.counts.items()):
            say(f"  {key}: {count}")
        writes = last_snap.get("controller", {}).get("writes", [])
        results_seen = collections.Counter(str(w.get("result")) for w in writes)
        say(f"  live's kept writes (since the restart): {dict(results_seen)}")

        say("\n== faults (plan wall clock ~ field start)")
        flagged = 0
        for entry in plan:
            start = entry["at_s"]
            end = start + entry.get("duration_s", run_s) + 5.0
            hits = [t for t in failing_seen.get(entry["device"], []) if start - 2 <= t <= end]
            bad_quality = [t for t in quality_seen.get(entry["device"], []) if start - 2 <= t <= end]
            flagged += bool(hits)
            dur = f"{entry['duration_s']:.0f} s" if "duration_s" in entry else "to the end"
            first = f"failing after {hits[0] - start:.0f} s, {len(hits)} samples" if hits else "NOT in failing"
            first += f"; non-ok quality in {len(bad_quality)} samples"
            say(f"  {start:5.0f} s {entry['fault']:15s} {dur:>10s} {entry['device']:28s} {first}")
        say(f"  flagged {flagged}/{len(plan)}; failing at the end: {last_snap.get('failing')}")
        return 0 if not crashed and store_ok else 1
    finally:
        stop_traffic.set()
        for part in reversed(parts):
            if part.alive():
                part.stop(signal.SIGINT)
            elif part.process is not None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(part.process.pid, signal.SIGKILL)


if __name__ == "__main__":
    sys.exit(main())
