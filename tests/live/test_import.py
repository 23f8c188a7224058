"""Meter data import: the CSV format, duplicates, gaps, bad rows, back-fill into the store, readings."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.meter_import import read_meter_files
from twin.core.errors import ConfigError
from twin.core.store import MeanTable, StoreLock, read_json, read_table
from twin.importing import METERS_FILE, import_meter_data

HEADER = "meter,time,import_kwh,export_kwh,kind\n"


def _write(path: Path, rows: str, header: str = HEADER) -> Path:
    path.write_text(header + rows, encoding="utf-8")
    return path


def test_read_meter_files_drops_equal_duplicates_and_counts_gaps(tmp_path: Path) -> None:
    a = _write(
        tmp_path / "a.csv",
        "b01/meter,2025-06-01T00:00:00Z,0.25,0,interval\n"
        "# a comment\n"
        "b01/meter,2025-06-01T02:15:00+02:00,0.5,,\n"  # = 00:15Z, kind defaults to interval
        "b01/meter,2025-06-01T01:00:00Z,0.75,0.1,interval\n",
    )
    b = _write(tmp_path / "b.csv", "b01/meter,2025-06-01T00:00:00Z,0.25,0.0,interval\n")
    data = read_meter_files([a, b])
    assert data.duplicates == 1
    assert [r.time_s % 86400 for r in data.records] == [0, 900, 3600]
    assert data.gaps() == {"b01/meter": 2}


@pytest.mark.parametrize(
    ("row", "match"),
    [
        ("b01/meter,2025-06-01T00:00:00,1,0,interval", r"bad.csv: line 3: column time: .*no UTC offset"),
        ("b01/meter,2025-06-01T00:05:00Z,1,0,interval", r"bad.csv: line 3: column time: .*quarter-hour"),
        ("b01/meter,2025-06-01T00:15:00Z,abc,0,interval", r"bad.csv: line 3: column import_kwh: not a number"),
        ("b01/meter,2025-06-01T00:15:00Z,-1,0,interval", r"bad.csv: line 3: column import_kwh: must be"),
        ("b01/meter,2025-06-01T00:15:00Z,1,0,monthly", r"bad.csv: line 3: column kind: unknown kind"),
        ("b01/meter,2025-06-01T00:00:00Z,9,0,interval", r"bad.csv: line 3: column import_kwh: duplicate"),
        ("b01/meter,2025-06-01T00:15:00Z,1", r"bad.csv: line 3: 3 values for 5 columns"),
    ],
)
def test_bad_rows_name_file_line_and_column(tmp_path: Path, row: str, match: str) -> None:
    bad = _write(tmp_path / "bad.csv", "b01/meter,2025-06-01T00:00:00Z,0.25,0,interval\n" + row + "\n")
    with pytest.raises(ConfigError, match=match) as err:
        read_meter_files([bad])
    assert "\n" not in str(err.value)


def test_unknown_column_is_refused(tmp_path: Path) -> None:
    bad = _write(tmp_path / "bad.csv", "x,2025-06-01T00:00:00Z,1\n", header="meter,zeit,import_kwh\n")
    with pytest.raises(ConfigError, match=r"bad.csv: line 1: unknown column 'zeit'"):
        read_meter_files([bad])


def test_import_back_fills_gaps_only_and_keeps_readings(tmp_path: Path) -> None:
    store = tmp_path / "store"
    store.mkdir()
    (store / METERS_FILE).write_text('{"b01/meter": "b01", "sub/meter": "substation"}')
    with StoreLock(store, "live"):  # what the live twin stored: the quarter at 00:15
        MeanTable(store, "15min", writable=True).append([1748736900], {"flow:b01/import_kwh": [9.0]})
    data = _write(
        tmp_path / "data.csv",
        "b01/meter,2025-06-01T00:00:00Z,0.25,0,interval\n"
        "b01/meter,2025-06-01T00:15:00Z,0.5,0,interval\n"
        "b01/meter,2025-06-01T00:15:00Z,0.5,0,interval\n"
        "b01/meter,2025-06-01T01:00:00Z,0.75,0.1,interval\n"
        "sub/meter,2025-01-01T00:00:00+01:00,18234.5,2311,reading\n",
    )
    summary = import_meter_data([data], store)
    assert "1 duplicate row(s) dropped" in summary and "2 quarter-hour(s) missing" in summary
    ds = read_table(store, "15min")
    imported = ds["value"].sel(channel="flow:b01/import_kwh").values.tolist()
    assert imported == [0.25, 9.0, 0.75]  # the live value of 00:15 stays
    assert ds["value"].sel(channel="flow:b01/export_kwh").values.tolist() == [0.0, 0.0, 0.1]  # back-filled
    assert read_json(store / "readings.json") == {
        "sub/meter": [{"time_s": 1735686000, "energy_import_kwh": 18234.5, "energy_export_kwh": 2311.0}]
    }
    again = import_meter_data([data], store)  # idempotent
    assert again.startswith("imported 0 quarter-hours")


def test_import_refuses_unknown_meters_and_a_locked_store(tmp_path: Path) -> None:
    store = tmp_path / "store"
    store.mkdir()
    (store / METERS_FILE).write_text('{"b01/meter": "b01"}')
    data = _write(tmp_path / "d.csv", "b09/meter,2025-06-01T00:00:00Z,0.25,0,interval\n")
    with pytest.raises(ConfigError, match=r"d.csv: line 2: column meter: meter 'b09/meter' is not a building"):
        import_meter_data([data], store)
    good = _write(tmp_path / "g.csv", "b01/meter,2025-06-01T00:00:00Z,0.25,0,interval\n")
    with StoreLock(store, "twin store repair"), pytest.raises(ConfigError, match="locked by another writer"):
        import_meter_data([good], store)  # a writer other than twin live: no inbox
