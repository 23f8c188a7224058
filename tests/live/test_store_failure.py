"""The live twin when its store fails: polling, the snapshot and alerts go on; nothing held is lost.

A small simulated field on 127.0.0.1 runs at 900 simulated seconds per second; the live twin
writes a real store whose tables are made unwritable (``chattr +i`` as root, read-only
permissions otherwise) for a while, then writable again.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from connectors.device_server import ServerLoopThread
from dashboard import create_app
from dashboard.pages.live import alerts
from tests.live.running import read_snapshot, run_twin, start_field, wait_for
from twin.core.live_state import LiveSnapshot
from twin.core.store import MeanTable, read_table
from twin.live import LiveTwin
from twin.live_store import StoreWriter


def _table_paths(store: Path) -> list[Path]:
    return sorted([*store.glob("means_*.zarr"), *store.glob("means_*.commit.json")])


@contextmanager
def _unwritable(paths: list[Path]) -> Iterator[None]:
    """Make files and folders unwritable for this process (also as root), and writable again after."""
    everything = [p for path in paths for p in (path, *(path.rglob("*") if path.is_dir() else ()))]
    if os.geteuid() == 0:
        if shutil.which("chattr") is None:
            pytest.skip("chattr is needed to make files read-only for root")
        done = subprocess.run(["chattr", "+i", *map(str, everything)], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            subprocess.run(["chattr", "-i", *map(str, everything)], capture_output=True, check=False)
            pytest.skip(f"chattr +i is not supported here: {done.stderr.strip()}")
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", *map(str, everything)], check=True)
    else:
        modes = {p: p.stat().st_mode for p in everything}
        for p in sorted(everything, key=lambda q: len(q.parts), reverse=True):
            p.chmod(modes[p] & ~0o222)
        try:
            yield
        finally:
            for p in sorted(everything, key=lambda q: len(q.parts)):
                p.chmod(modes[p])


def _leftovers(store: Path) -> list[str]:
    return [str(p) for p in store.rglob("*") if p.name.endswith((".tmp", ".partial"))]


def _contiguous(times: np.ndarray, step_s: int) -> bool:
    seconds = times.astype("datetime64[s]").astype(np.int64)
    return bool(seconds.size > 1 and np.all(np.diff(seconds) == step_s))


@pytest.mark.asyncio
async def test_failed_store_writes_are_kept_retried_and_reported(server_loop: ServerLoopThread, tmp_path: Path) -> None:
    running = start_field(server_loop)
    site = running.field.site(clock_port=running.clock_port, interval_s=0.1, timeout_s=0.3)
    store = tmp_path / "store"
    twin = LiveTwin(site, store, retry_first_s=0.1, retry_max_s=0.4)
    stop, task = run_twin(twin, running)
    try:
        await wait_for("minutes stored", lambda: read_snapshot(store).get("store", {}).get("1min", 0) >= 3, task=task)
        before = read_table(store, "1min")["time"].size
        with _unwritable(_table_paths(store)):
            failing = await wait_for(
                "a snapshot that reports the failing store with minutes kept",
                lambda: (
                    (s := read_snapshot(store)).get("store_status", {}).get("ok") is False
                    and s["store_status"]["pending_rows"]["1min"] >= 10
                    and s["store_status"]["pending_rows"]["15min"] >= 1
                    and s
                ),
                task=task,
            )
            assert failing["store_status"]["error"], failing["store_status"]
            assert any(
                "store writes fail" in text for level, text in alerts(LiveSnapshot.from_json(failing)) if level == "bad"
            )
            health = create_app(tmp_path, store_dir=store, credentials={"u": "p"}).server.test_client().get("/healthz")
            assert health.status_code == 200
            assert health.json["status"] == "degraded" and health.json["store_error"], health.json
            assert health.json["store_pending_rows"]["1min"] >= 10
            # polling and the snapshot go on: a new substation power shows while the store fails
            running.field.devices["substation/meter"].set_quantities({"p_meter_kw": 77.0})
            await wait_for(
                "the new substation power in the snapshot",
                lambda: read_snapshot(store).get("balance", {}).get("substation", {}).get("p_grid_kw") == 77.0,
                task=task,
            )
            assert read_table(store, "1min")["time"].size <= before + 1  # nothing committed meanwhile
            assert not _leftovers(store), _leftovers(store)
        recovered = await wait_for(
            "a snapshot with the store writable again and nothing kept",
            lambda: (
                (s := read_snapshot(store)).get("store_status", {}).get("ok") is True
                and s["store_status"]["pending_rows"] == {"1min": 0, "15min": 0}
                and s["store"]["15min"] >= 3
                and s
            ),
            task=task,
        )
        assert recovered["store_status"]["late_rows"]["1min"] >= 10
        assert recovered["store_status"]["late_rows"]["15min"] >= 1
        assert recovered["store_status"]["dropped_rows"] == {"1min": 0, "15min": 0}
        assert not recovered["alerts"]
        healthy = create_app(tmp_path, store_dir=store, credentials={"u": "p"}).server.test_client().get("/healthz")
        assert healthy.json["status"] == "ok" and "store_error" not in healthy.json
    finally:
        stop.set()
        await task
    minutes, quarters = read_table(store, "1min"), read_table(store, "15min")
    # every minute from the first to the last is there, once: the ones the store refused came late
    assert _contiguous(minutes["time"].values, 60), minutes["time"].values
    assert minutes["time"].size == minutes.attrs["rows"] and minutes["time"].size > before + 10
    assert _contiguous(quarters["time"].values, 900), quarters["time"].values
    assert not _leftovers(store), _leftovers(store)


def test_rows_kept_in_memory_are_bounded_and_the_loss_is_reported(tmp_path: Path) -> None:
    store = tmp_path / "store"
    store.mkdir()
    writer = StoreWriter(
        store, {"1min": MeanTable(store, "1min", writable=True)}, max_pending_rows={"1min": 5}, retry_first_s=0.0
    )
    with _unwritable(_table_paths(store)):
        for minute in range(8):
            writer.append("1min", np.array([minute * 60]), {"c": np.array([float(minute)])}, {})
        assert writer.pending_rows() == {"1min": 5} and writer.dropped_rows == {"1min": 3}
        assert writer.status()["ok"] is False
        assert any("rows lost" in alert["text"] for alert in writer.alerts())
    assert writer.flush(force=True)
    table = read_table(store, "1min")
    assert table["value"].sel(channel="c").values.tolist() == [3.0, 4.0, 5.0, 6.0, 7.0]
    assert not _leftovers(store)


@pytest.mark.asyncio
async def test_stop_while_the_store_fails_names_the_rows_not_written(
    server_loop: ServerLoopThread, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    running = start_field(server_loop, buildings=1)
    site = running.field.site(clock_port=running.clock_port, interval_s=0.1, timeout_s=0.3)
    store = tmp_path / "store"
    twin = LiveTwin(site, store, retry_first_s=0.1, retry_max_s=0.4)
    stop, task = run_twin(twin, running)
    try:
        await wait_for("minutes stored", lambda: read_snapshot(store).get("store", {}).get("1min", 0) >= 2, task=task)
        with _unwritable(_table_paths(store)):
            await wait_for("minutes kept in memory", lambda: twin.store.pending_rows()["1min"] >= 3, task=task)
            stop.set()
            await task
    finally:
        stop.set()
        await task
    assert twin.store.pending_rows()["1min"] >= 3 and twin.store.error
    stopped = [r.getMessage() for r in caplog.records if "could not be written before the stop" in r.getMessage()]
    assert len(stopped) == 1 and "1min" in stopped[0], stopped
    assert not _leftovers(store)
