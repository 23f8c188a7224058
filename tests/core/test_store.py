"""The state store: commits, repair after kill -9, readers see committed rows, one writer, means."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REPO_ROOT
from twin.core.errors import ConfigError
from twin.core.store import (
    MeanAccumulator,
    MeanTable,
    StoreLock,
    read_json,
    read_table,
    write_json_atomic,
)
from twin.core.store_check import check_store

KILL_TRIALS = int(os.environ.get("TWIN_KILL_TRIALS", "3"))  # bench: TWIN_KILL_TRIALS=30


def test_append_commit_and_read_back(tmp_path: Path) -> None:
    with StoreLock(tmp_path, "test"):
        table = MeanTable(tmp_path, "15min", writable=True)
        table.append([1800, 900], {"a": [2.0, 1.0]})
        table.append([2700], {"b": [5.0]}, {"b": [1]})
    ds = read_table(tmp_path, "15min")
    assert list(ds["channel"].values) == ["a", "b"]
    assert ds["time"].values.astype("datetime64[s]").astype(int).tolist() == [900, 1800, 2700]
    np.testing.assert_array_equal(ds["value"].sel(channel="a").values, [1.0, 2.0, np.nan])
    assert ds["quality"].sel(channel="b").values.tolist() == [2, 2, 1]
    assert ds["quality"].attrs["flag_meanings"] == "ok stale missing invalid estimated"


def test_rows_of_one_time_merge_first_value_wins(tmp_path: Path) -> None:
    with StoreLock(tmp_path, "test"):
        table = MeanTable(tmp_path, "15min", writable=True)
        table.append([0, 900], {"a": [1.0, np.nan]})
        table.append([900, 0], {"a": [9.0, 7.0], "b": [3.0, 4.0]})
    ds = read_table(tmp_path, "15min")
    assert ds["value"].sel(channel="a").values.tolist() == [1.0, 9.0]
    assert ds["value"].sel(channel="b").values.tolist() == [4.0, 3.0]


def test_uncommitted_rows_are_trimmed_on_open(tmp_path: Path) -> None:
    with StoreLock(tmp_path, "test"):
        table = MeanTable(tmp_path, "1min", writable=True)
        table.append([0, 60], {"a": [1.0, 2.0]})
        commit = table.commit_path.read_text()
        table.append([120, 180, 240], {"a": [3.0, 4.0, 5.0]})
        table.commit_path.write_text(commit)  # as if the writer died before committing
        assert len(read_table(tmp_path, "1min")["time"]) == 2  # readers see committed rows only
        reopened = MeanTable(tmp_path, "1min", writable=True)
        assert reopened.rows == 2
        reopened.append([120], {"a": [30.0]})
    assert read_table(tmp_path, "1min")["value"].values[:, 0].tolist() == [1.0, 2.0, 30.0]


def test_store_survives_kill_9_during_appends(tmp_path: Path) -> None:
    rng = np.random.default_rng(8)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    committed = 0
    for trial in range(KILL_TRIALS):
        writer = subprocess.Popen(
            [sys.executable, "-m", "tests.core.store_writer", str(tmp_path)],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert writer.stdout is not None
            ready = writer.stdout.readline().split()
            assert ready and ready[0] == "ready", f"trial {trial}: writer did not start"
            assert int(ready[1]) >= committed  # the reopened store kept every committed row
            time.sleep(float(rng.uniform(0.2, 0.6)))
        finally:
            writer.send_signal(signal.SIGKILL)
            writer.wait(5)
            writer.stdout.close()  # type: ignore[union-attr]
        ds = read_table(tmp_path, "1min")  # readable right after the kill, without repair
        rows = ds["time"].size
        assert rows >= committed + 7, f"trial {trial}: no progress"
        values = ds["value"].values
        assert np.array_equal(ds["time"].values.astype("datetime64[s]").astype(int), np.arange(rows) * 60)
        for column in range(values.shape[1]):
            finite = np.isfinite(values[:, column])
            assert np.array_equal(values[finite, column], np.flatnonzero(finite)), f"trial {trial}: torn data"
        committed = rows
    with StoreLock(tmp_path, "check"):  # the dead writer's lock is gone; repair on open keeps all rows
        assert MeanTable(tmp_path, "1min", writable=True).rows == committed
    assert [check.lines() for check in check_store(tmp_path) if not check.ok] == []  # a kill is never damage


def test_second_writer_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    with StoreLock(tmp_path, "twin live --site x.yaml"):
        with pytest.raises(ConfigError, match=r"locked by another writer \(pid \d+: twin live --site x.yaml\)") as err:
            StoreLock(tmp_path, "twin import").acquire()
        assert err.value.exit_code == 2
    with StoreLock(tmp_path, "after"):
        pass


def test_snapshot_file_is_replaced_atomically(tmp_path: Path) -> None:
    target = tmp_path / "snapshot.json"
    write_json_atomic(target, {"a": float("nan"), "b": np.float32(1.5), "c": [np.int64(2)]})
    assert read_json(target) == {"a": None, "b": 1.5, "c": [2]}
    assert [p.name for p in tmp_path.iterdir()] == ["snapshot.json"]


def test_mean_accumulator_means_and_counters() -> None:
    acc = MeanAccumulator(60)
    acc.add(0.0, {"p_kw": 1.0, "energy_import_kwh": 10.0}, {"p_kw": 0})
    acc.add(30.0, {"p_kw": 3.0, "energy_import_kwh": 11.0}, {"p_kw": 1})
    acc.add(61.0, {"p_kw": None, "energy_import_kwh": 12.0}, {})
    times, values, flags = acc.pop_complete(90.0)
    assert times.tolist() == [0]
    assert values["p_kw"].tolist() == [2.0] and values["energy_import_kwh"].tolist() == [11.0]
    assert flags["p_kw"].tolist() == [1]
    times, values, flags = acc.pop_complete()
    assert times.tolist() == [60] and np.isnan(values["p_kw"][0]) and flags["p_kw"].tolist() == [2]


def test_mean_accumulator_interval_without_samples_is_a_missing_row() -> None:
    acc = MeanAccumulator(60)
    acc.add(10.0, {"p_kw": 1.0}, {"p_kw": 0})
    assert acc.pop_complete(60.0)[0].tolist() == [0]
    # the process stalls for more than a minute: nothing is added between 60 and 180
    acc.add(185.0, {"p_kw": 2.0}, {"p_kw": 0})
    acc.add(250.0, {"p_kw": 4.0}, {"p_kw": 0})
    times, values, flags = acc.pop_complete(300.0)
    assert times.tolist() == [60, 120, 180, 240]
    assert np.isnan(values["p_kw"][:2]).all() and flags["p_kw"].tolist() == [2, 2, 0, 0]
    assert values["p_kw"][2:].tolist() == [2.0, 4.0]


@pytest.mark.parametrize("wanted", [["c"], ["a", "c"], ["c", "a", "nope"], [f"x{i}" for i in range(0, 300, 7)]])
def test_read_table_reads_chosen_channels_and_rows(tmp_path: Path, wanted: list[str]) -> None:
    names = ["a", "b", "c"] + [f"x{i}" for i in range(300)]
    table = MeanTable(tmp_path, "15min", writable=True)
    times = np.arange(10) * 900
    table.append(times, {name: np.arange(10.0) + k for k, name in enumerate(names)})
    table.append(times[:2], {"a": [-1.0, -2.0]})  # back-fill rows repeat a time: the first value wins
    ds = read_table(tmp_path, "15min", start_s=900, end_s=4 * 900, channels=wanted)
    present = [name for name in wanted if name in names]
    assert list(ds.channel.values) == present
    assert ds.sizes["time"] == 3
    for name in present:
        np.testing.assert_array_equal(ds["value"].sel(channel=name).values, np.arange(1.0, 4.0) + names.index(name))


def test_read_table_from_a_row_on(tmp_path: Path) -> None:
    table = MeanTable(tmp_path, "15min", writable=True)
    table.append([0, 900], {"a": [1.0, 2.0]})
    first = read_table(tmp_path, "15min")
    table.append([1800, 900], {"a": [3.0, 9.0]})
    since = read_table(tmp_path, "15min", start_row=first.attrs["rows"])
    assert first.attrs["rows"] == 2 and since.attrs["rows"] == 4
    assert since["time"].values.astype("datetime64[s]").astype(int).tolist() == [900, 1800]
    assert since["value"].sel(channel="a").values.tolist() == [9.0, 3.0]
    assert read_table(tmp_path, "15min", start_row=99).sizes["time"] == 0
