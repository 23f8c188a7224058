"""``twin store export``: values and quality of any period round-trip to CSV and NetCDF; ``twin store prune``."""

from __future__ import annotations

import csv
import subprocess
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from twin.core.schema import QUALITY_FLAGS
from twin.core.store import MeanTable, StoreLock, read_table

START_S = 1_748_736_000  # 2025-06-01T00:00:00Z
CHANNELS = ["b001/meter/p_meter_kw", "b001/meter/energy_import_kwh", "balance:b001/pv_kw", 'odd,"name"_kw']


def _store(store: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two days of 1-minute rows with awkward values and every quality flag; return times, values, flags."""
    rng = np.random.default_rng(5)
    times = START_S + 60 * np.arange(2 * 1440, dtype=np.int64)
    values = rng.normal(0, 1e3, (times.size, len(CHANNELS))) * 10.0 ** rng.integers(-12, 12, (times.size, 1))
    values[::7, 0] = np.nan
    values[5, 1] = 1e300
    values[6, 1] = -0.0
    values[8, 2] = 5e-324
    flags = rng.integers(0, 4, values.shape).astype(np.int8)
    flags[~np.isfinite(values)] = QUALITY_FLAGS["missing"]
    with StoreLock(store, "test"):
        table = MeanTable(store, "1min", writable=True)
        for start in range(0, times.size, 240):
            rows = slice(start, start + 240)
            table.append(
                times[rows],
                {c: values[rows, i] for i, c in enumerate(CHANNELS)},
                {c: flags[rows, i] for i, c in enumerate(CHANNELS)},
            )
    return times, values, flags


def _export(twin_exe: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [str(twin_exe), "store", "export", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def test_csv_export_round_trips_values_and_quality(tmp_path: Path, twin_exe: Path) -> None:
    _, values, flags = _store(tmp_path / "live")
    out = tmp_path / "day.csv"
    period = ("--from", "2025-06-01T18:00:00+02:00", "--to", "2025-06-02T16:00Z")  # spans a day boundary
    result = _export(twin_exe, "--store", str(tmp_path / "live"), "--table", "1min", *period, "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "exported 1440 row(s) x 4 channel(s)" in result.stdout
    with out.open(newline="", encoding="utf-8") as file:
        rows = list(csv.reader(file))
    header, body = rows[0], rows[1:]
    assert header[:3] == ["time_utc", CHANNELS[0], f"quality:{CHANNELS[0]}"]
    assert header[7:] == [CHANNELS[3], f"quality:{CHANNELS[3]}"]
    first = (16 * 3600) // 60
    assert [r[0] for r in body[:2]] == ["2025-06-01T16:00:00Z", "2025-06-01T16:01:00Z"]
    assert len(body) == 1440 and body[-1][0] == "2025-06-02T15:59:00Z"
    names = list(QUALITY_FLAGS)
    for k, row in enumerate(body):
        got = np.array([float(row[1 + 2 * i]) if row[1 + 2 * i] else np.nan for i in range(4)])
        np.testing.assert_array_equal(got, values[first + k])  # bit-exact, NaN where unknown
        assert np.array_equal(np.signbit(got), np.signbit(values[first + k]))
        assert [row[2 + 2 * i] for i in range(4)] == [names[f] for f in flags[first + k]]


def test_netcdf_export_round_trips_values_and_quality(tmp_path: Path, twin_exe: Path) -> None:
    times, values, flags = _store(tmp_path / "live")
    out = tmp_path / "all.nc"
    args = ("--store", str(tmp_path / "live"), "--table", "1min", "--from", "2025-05-01", "--to", "2025-07-01")
    result = _export(twin_exe, *args, "--out", str(out), "--channel", "b001/*")
    assert result.returncode == 0, result.stderr
    with xr.open_dataset(out) as ds:
        assert list(ds["channel"].values) == CHANNELS[:2]
        np.testing.assert_array_equal(ds["time"].values.astype("datetime64[s]").astype(np.int64), times)
        np.testing.assert_array_equal(ds["value"].values, values[:, :2])
        np.testing.assert_array_equal(ds["quality"].values, flags[:, :2])
        assert ds["quality"].attrs["flag_meanings"] == "ok stale missing invalid estimated"
        assert ds.attrs["table"] == "1min"
    assert read_table(tmp_path / "live", "1min")["time"].size == times.size  # the store is unchanged


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--table", "5min"), "--table: unknown table '5min'"),
        (("--from", "yesterday"), "--from: 'yesterday' is not an ISO 8601 time"),
        (("--to", "2025-05-01"), "--to: the period is empty"),
        (("--out", "x.xlsx"), "--out: unknown export format '.xlsx'"),
        (("--channel", "nope*"), "--channel: no channel of the table matches nope*"),
        (("--from", "0001-01-01"), "--from: '0001-01-01' is outside 1970 to 2200"),
    ],
)
def test_bad_export_arguments_exit_2_with_one_line(
    tmp_path: Path, twin_exe: Path, args: tuple[str, ...], message: str
) -> None:
    _store(tmp_path / "live")
    given = dict(zip(args[::2], args[1::2], strict=True))
    options = {"--table": "1min", "--from": "2025-06-01", "--to": "2025-06-02", "--out": str(tmp_path / "x.csv")}
    options.update({k: v if k != "--out" else str(tmp_path / v) for k, v in given.items()})
    flat = [item for pair in options.items() for item in pair]
    result = _export(twin_exe, "--store", str(tmp_path / "live"), *flat)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x.csv").exists() and not list(tmp_path.glob(".x.*"))


def test_prune_command_drops_old_minutes_and_keeps_quarters(tmp_path: Path, twin_exe: Path) -> None:
    times, _, _ = _store(tmp_path / "live")
    with StoreLock(tmp_path / "live", "test"):
        MeanTable(tmp_path / "live", "15min", writable=True).append(times[::15], {"q": np.ones(times.size // 15)})
    result = subprocess.run(
        [twin_exe, "store", "prune", "--store", str(tmp_path / "live"), "--keep-1min-days", "0.5"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "2160 row(s) dropped" in result.stdout
    kept = read_table(tmp_path / "live", "1min")["time"].values.astype("datetime64[s]").astype(np.int64)
    np.testing.assert_array_equal(kept, times[-720:])
    assert read_table(tmp_path / "live", "15min")["time"].size == times.size // 15
    bad = subprocess.run(
        [twin_exe, "store", "prune", "--store", str(tmp_path / "live"), "--keep-1min-days", "-1"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert bad.returncode == 2 and "--keep-1min-days: must be > 0" in bad.stderr


def test_live_rejects_a_negative_retention_period(tmp_path: Path, twin_exe: Path) -> None:
    result = subprocess.run(
        [twin_exe, "live", "--site", str(tmp_path / "s.yaml"), "--store", str(tmp_path), "--keep-1min-days", "-1"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2 and "--keep-1min-days: must be 0 (keep all) to 36500 days" in result.stderr
