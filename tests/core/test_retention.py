"""Retention of the 1-minute table: old rows dropped, recent rows kept, 15-minute rows untouched, kill -9 safe."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REPO_ROOT
from tests.core.test_store_layout import _legacy_store
from twin.core.errors import ConfigError
from twin.core.retention import drop_old_rows
from twin.core.store import MeanTable, StoreLock, read_table
from twin.core.store_layout import first_kept_row

KILL_TRIALS = int(os.environ.get("TWIN_KILL_TRIALS", "3"))  # bench: TWIN_KILL_TRIALS=30
DAY_S = 86_400


def _digest(store: Path) -> dict[str, str]:
    """Every file of the 15-minute table and its commit, by content."""
    files = [*sorted((store / "means_15min.zarr").rglob("*")), store / "means_15min.commit.json"]
    return {str(p.relative_to(store)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files if p.is_file()}


def _data_files(table: Path) -> int:
    return sum(1 for p in table.rglob("*") if p.is_file() and p.name not in ("zarr.json", "retention.json"))


def _write_days(store: Path, days: int, channels: int = 40) -> np.ndarray:
    """``days`` of 1-minute rows (an hour per append) and of 15-minute rows; value = minute index."""
    names = [f"c{i}" for i in range(channels)]
    times = 60 * np.arange(days * 1440, dtype=np.int64)
    with StoreLock(store, "test"):
        minutes = MeanTable(store, "1min", writable=True)
        for start in range(0, times.size, 60):
            block = times[start : start + 60]
            minutes.append(block, {c: block / 60.0 + i / 1000 for i, c in enumerate(names)})
        quarters = MeanTable(store, "15min", writable=True)
        quarter_times = times[::15]
        quarters.append(quarter_times, {c: quarter_times / 60.0 for c in names})
    return times


def test_old_minutes_are_dropped_recent_kept_quarters_untouched(tmp_path: Path) -> None:
    times = _write_days(tmp_path, 5)
    quarters = _digest(tmp_path)
    before = _data_files(tmp_path / "means_1min.zarr")
    cut = 2 * DAY_S + 7 * 60  # not on a file boundary
    with StoreLock(tmp_path, "test"):
        first = drop_old_rows(tmp_path, cut)
    assert (first.first_row, first.rows_dropped, first.files_deleted) == (cut // 60, cut // 60, 0)
    ds = read_table(tmp_path, "1min")
    kept = ds["time"].values.astype("datetime64[s]").astype(np.int64)
    np.testing.assert_array_equal(kept, times[times >= cut])  # no 1970 row, nothing recent lost
    np.testing.assert_array_equal(ds["value"].sel(channel="c3").values, kept / 60 + 0.003)
    assert ds.attrs["rows"] == times.size  # the commit record is untouched
    assert read_table(tmp_path, "1min", start_row=0)["time"].size == kept.size
    with StoreLock(tmp_path, "test"):  # the next run deletes the files of the rows dropped before
        second = drop_old_rows(tmp_path, cut)
    assert second.rows_dropped == 0 and second.files_deleted > 0 and second.bytes_freed > 0
    assert _data_files(tmp_path / "means_1min.zarr") == before - second.files_deleted
    ds = read_table(tmp_path, "1min", start_s=cut - DAY_S, end_s=cut + 3600)
    np.testing.assert_array_equal(ds["time"].values.astype("datetime64[s]").astype(np.int64), times[cut // 60 :][:60])
    assert _digest(tmp_path) == quarters  # not one byte of the 15-minute table changed
    assert read_table(tmp_path, "15min")["time"].size == 5 * 96
    with StoreLock(tmp_path, "test"):  # the writer goes on after the drop
        table = MeanTable(tmp_path, "1min", writable=True)
        table.append([times[-1] + 60], {"c3": [1.0]})
    assert read_table(tmp_path, "1min")["time"].size == kept.size + 1


def test_retention_of_an_old_layout_table(tmp_path: Path) -> None:
    _legacy_store(tmp_path, "1min")  # 200 rows in chunks of 96
    with StoreLock(tmp_path, "test"):
        drop_old_rows(tmp_path, 100 * 60)
        done = drop_old_rows(tmp_path, 100 * 60)
    assert done.first_row == 100 and done.files_deleted == 2 * 2 + 1  # rows 0-95: value, quality (2 x 2), time
    ds = read_table(tmp_path, "1min")
    np.testing.assert_array_equal(ds["value"].sel(channel="c2").values, np.arange(100, 200) + 0.0002)


def test_the_15_minute_table_has_no_retention(tmp_path: Path) -> None:
    _write_days(tmp_path, 1)
    quarters = _digest(tmp_path)
    with pytest.raises(ConfigError, match="kept forever"):
        drop_old_rows(tmp_path, 10**10, table="15min")
    with StoreLock(tmp_path, "test"):
        drop_old_rows(tmp_path, 10**10)  # every 1-minute row is old
        drop_old_rows(tmp_path, 10**10)
    assert read_table(tmp_path, "1min")["time"].size == 0
    assert _digest(tmp_path) == quarters


def test_a_garbage_retention_marker_is_bad_input_naming_the_file(tmp_path: Path) -> None:
    _write_days(tmp_path, 1)
    (tmp_path / "means_1min.zarr" / "retention.json").write_text("{not json")
    with pytest.raises(ConfigError, match=r"means_1min\.zarr/retention\.json.*not a retention marker"):
        read_table(tmp_path, "1min")


def test_retention_survives_kill_9(tmp_path: Path) -> None:
    rng = np.random.default_rng(23)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    keep = 500
    with StoreLock(tmp_path, "test"):
        MeanTable(tmp_path, "15min", writable=True).append(900 * np.arange(96), {"q": np.arange(96.0)})
    quarters = _digest(tmp_path)
    committed = 0
    for trial in range(KILL_TRIALS):
        writer = subprocess.Popen(
            [sys.executable, "-m", "tests.core.retention_writer", str(tmp_path), str(keep)],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert writer.stdout is not None
            ready = writer.stdout.readline().split()
            assert ready and ready[0] == "ready", f"trial {trial}: writer did not start"
            assert int(ready[1]) >= committed
            time.sleep(float(rng.uniform(0.3, 0.9)))
        finally:
            writer.send_signal(signal.SIGKILL)
            writer.wait(5)
            writer.stdout.close()  # type: ignore[union-attr]
        ds = read_table(tmp_path, "1min", channels=["c000", "c299"])  # right after the kill, without repair
        rows = ds.attrs["rows"]
        assert rows > committed, f"trial {trial}: no progress"
        minutes = ds["time"].values.astype("datetime64[s]").astype(np.int64) // 60
        first = first_kept_row(tmp_path / "means_1min.zarr")  # 0 until the first drop
        np.testing.assert_array_equal(minutes, np.arange(first, rows), f"trial {trial}")
        assert minutes.size <= keep + 30  # old rows go (a kill between append and drop leaves one batch more)
        values = ds["value"].values
        finite = np.isfinite(values[:, 1])
        np.testing.assert_array_equal(values[:, 0], minutes)
        np.testing.assert_array_equal(values[finite, 1], minutes[finite] + 0.299)
        committed = rows
    assert _digest(tmp_path) == quarters


def test_a_table_made_anew_does_not_inherit_the_old_marker(tmp_path: Path) -> None:
    import shutil

    _write_days(tmp_path, 2)
    with StoreLock(tmp_path, "test"):
        drop_old_rows(tmp_path, DAY_S)
    shutil.rmtree(tmp_path / "means_1min.zarr")  # e.g. the user removed the table with its commit record
    (tmp_path / "means_1min.commit.json").unlink()
    with StoreLock(tmp_path, "test"):
        MeanTable(tmp_path, "1min", writable=True).append(60 * np.arange(10), {"a": np.arange(10.0)})
    assert read_table(tmp_path, "1min")["value"].values[:, 0].tolist() == list(range(10))


def test_a_marker_beyond_the_committed_rows_is_refused_naming_the_file(tmp_path: Path) -> None:
    _write_days(tmp_path, 1)
    with StoreLock(tmp_path, "test"):
        drop_old_rows(tmp_path, 3600)
    (tmp_path / "means_1min.commit.json").write_text('{"rows": 30, "channels": ["c0"]}')  # an old commit record
    with pytest.raises(ConfigError, match=r"retention\.json: the retention marker starts at row 60, beyond the 30"):
        read_table(tmp_path, "1min")
    with StoreLock(tmp_path, "test"), pytest.raises(ConfigError, match="beyond the 30 committed rows"):
        drop_old_rows(tmp_path, 7200)
