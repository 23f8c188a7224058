"""The store's layout: a bounded number of files per year, and tables of the old layout still work."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import zarr

from twin.core.store import MeanTable, StoreLock, read_table
from twin.core.store_layout import TABLE_LAYOUTS

CHANNELS = 3_500  # the Beucha field's 1-minute channel count (issue 23)
YEAR_FILE_LIMIT = 5_000


def _files(path: Path) -> int:
    return sum(1 for p in path.rglob("*") if p.is_file())


def _rows(times: np.ndarray, channels: list[str]) -> dict[str, np.ndarray]:
    """Values that identify their row and channel: minute index + channel index / 10,000."""
    base = (times // 60).astype(float)
    return {c: base + i / 10_000 for i, c in enumerate(channels)}


def test_a_day_of_the_field_takes_few_files_and_reads_back(tmp_path: Path) -> None:
    channels = [f"dev{i // 5:04d}/q{i % 5}_kw" for i in range(CHANNELS)]
    start = 1_750_000_020  # not on a day boundary: twin live starts any time
    growth = {}
    with StoreLock(tmp_path, "test"):
        minutes = MeanTable(tmp_path, "1min", writable=True)
        quarters = MeanTable(tmp_path, "15min", writable=True)
        for hour in range(26):  # a day and two hours, an hour per append (twin live at speed 60 appends a row)
            times = start + 60 * np.arange(hour * 60, (hour + 1) * 60, dtype=np.int64)
            minutes.append(times, _rows(times, channels))
            if hour == 1:
                growth["1min"] = -_files(tmp_path / "means_1min.zarr")
        growth["1min"] += _files(tmp_path / "means_1min.zarr")  # over 24 hours
        quarter_times = start + 900 * np.arange(96 * 12, dtype=np.int64)
        for day in range(12):
            rows = quarter_times[day * 96 : (day + 1) * 96]
            quarters.append(rows, _rows(rows, channels))
            if day == 1:
                growth["15min"] = -_files(tmp_path / "means_15min.zarr")
        growth["15min"] += _files(tmp_path / "means_15min.zarr")  # over 10 days
    per_year = growth["1min"] * 365 + growth["15min"] * 36.5
    assert per_year < YEAR_FILE_LIMIT, f"new files: {growth['1min']} a day (1min), {growth['15min']} in 10 days (15min)"
    layout = TABLE_LAYOUTS["1min"]
    assert layout.files_per_rows(525_600, CHANNELS) + TABLE_LAYOUTS["15min"].files_per_rows(35_040, 4_100) < 4_000
    ds = read_table(tmp_path, "1min", start_s=start + 3600, end_s=start + 3600 + 86_400)
    assert ds.sizes == {"time": 1440, "channel": CHANNELS}
    times = ds["time"].values.astype("datetime64[s]").astype(np.int64)
    np.testing.assert_array_equal(times, start + 3600 + 60 * np.arange(1440))
    expected = (times // 60)[:, None] + np.arange(CHANNELS)[None, :] / 10_000
    np.testing.assert_array_equal(ds["value"].values, expected)
    assert int(ds["quality"].max()) == 0
    some = read_table(tmp_path, "15min", channels=[channels[7], channels[3_333]], start_s=int(quarter_times[1000]))
    np.testing.assert_array_equal(
        some["value"].values[:, 1], (quarter_times[1000:] // 60).astype(float) + 3_333 / 10_000
    )


def _legacy_store(store: Path, name: str) -> None:
    """A table as the store wrote it before sharding: plain chunks of 96 rows x 256 channels."""
    group = zarr.open_group(str(store / f"means_{name}.zarr"), mode="w", zarr_format=3)
    resolution_s = 60 if name == "1min" else 900
    group.attrs.update({"resolution_s": resolution_s, "time_units": "seconds since 1970-01-01 00:00:00"})
    group.create_array("time", shape=(0,), chunks=(96,), dtype="int64", fill_value=0)
    group.create_array("value", shape=(0, 256), chunks=(96, 256), dtype="float64", fill_value=np.nan)
    group.create_array("quality", shape=(0, 256), chunks=(96, 256), dtype="int8", fill_value=2)
    times = 60 * np.arange(200, dtype=np.int64)
    channels = [f"c{i}" for i in range(300)]
    values = _rows(times, channels)
    group["time"].resize((200,))
    group["value"].resize((200, 300))
    group["quality"].resize((200, 300))
    group["time"][:] = times
    group["value"][:, :] = np.stack([values[c] for c in channels], axis=1)
    group["quality"][:, :] = 0
    (store / f"means_{name}.commit.json").write_text(json.dumps({"rows": 200, "channels": channels}))


def test_a_table_of_the_old_layout_reads_and_appends(tmp_path: Path) -> None:
    _legacy_store(tmp_path, "1min")
    ds = read_table(tmp_path, "1min")
    assert ds.sizes == {"time": 200, "channel": 300}
    assert ds["value"].sel(channel="c299").values[-1] == 199 + 299 / 10_000
    with StoreLock(tmp_path, "test"):
        table = MeanTable(tmp_path, "1min", writable=True)
        times = 60 * np.arange(200, 260, dtype=np.int64)
        table.append(times, _rows(times, [*table.channels, "c300"]))
    array = zarr.open_array(str(tmp_path / "means_1min.zarr" / "value"), mode="r")
    assert array.chunks == (96, 256) and array.shards is None  # the old table keeps its layout
    ds = read_table(tmp_path, "1min")
    assert ds.sizes == {"time": 260, "channel": 301}
    assert ds["value"].sel(channel="c300").values[199] != ds["value"].sel(channel="c300").values[199]  # NaN
    np.testing.assert_array_equal(ds["value"].sel(channel="c5").values, np.arange(260) + 5 / 10_000)
    np.testing.assert_array_equal(ds["value"].sel(channel="c300").values[200:], np.arange(200, 260) + 0.03)


def test_the_store_bench_runs_a_short_version(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.conftest import REPO_ROOT

    command = [sys.executable, "bench/bench_store.py", "--days", "1", "--channels", "300", "--read-days", "2"]
    result = subprocess.run(
        [*command, "--dir", str(tmp_path)], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "values as written" in result.stdout
    assert "(a full year by the layout: 2,321 data files)" in result.stdout
    assert not list(tmp_path.iterdir())  # the bench cleans up
