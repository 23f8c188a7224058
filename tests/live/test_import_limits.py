"""Meter data import: limits checked before anything is stored (exit 2 with file and line), and
memory that follows the channels an import touches, not the width of the table."""

from __future__ import annotations

import re
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from twin import importing
from twin.cli import main
from twin.core.store import MeanTable, StoreLock, read_json, read_table
from twin.importing import METERS_FILE, import_meter_data

HEADER = "meter,time,import_kwh,export_kwh,kind\n"
FIRST = "b01/meter,2025-06-01T00:00:00Z,0.25,0,interval\n"


@pytest.fixture
def store(tmp_path: Path) -> Path:
    folder = tmp_path / "store"
    folder.mkdir()
    (folder / METERS_FILE).write_text('{"b01/meter": "b01", "sub/meter": "substation"}')
    return folder


def _import(capsys: pytest.CaptureFixture[str], store: Path, *files: Path) -> tuple[int, str]:
    with pytest.raises(SystemExit) as info:
        main(["import", *(str(f) for f in files), "--store", str(store)])
    captured = capsys.readouterr()
    code = int(info.value.code or 0)
    return code, (captured.err if code else captured.out).strip()


BAD_ROWS = [
    ("b01/meter,2025-06-01T00:15:00Z,1," + "9" * 140000 + ",interval", r"line 3: not a CSV row: field larger"),
    ("b01/meter,0001-01-01T00:00:00Z,1,0,interval", r"line 3: column time: .*outside the years"),
    ("b01/meter,0001-01-01T00:00:00+01:00,1,0,interval", r"line 3: column time: .*outside the years"),
    ("b01/meter,9999-12-31T23:45:00-01:00,1,0,interval", r"line 3: column time: .*outside the years"),
    ("b01/meter,2200-01-01T00:00:00Z,1,0,interval", r"line 3: column time: .*outside the years"),
    ("b01/meter,2025-06-01T00:15:00Z,1e300,0,interval", r"line 3: column import_kwh: 1e300 kWh is implausible"),
    ("b01/meter,2025-06-01T00:15:00Z,0.1,5000,interval", r"line 3: column export_kwh: 5000 kWh is implausible"),
    ("sub/meter,2025-01-01T00:00:00Z,1e12,0,reading", r"line 3: column import_kwh: .* implausible for a counter"),
]
BAD_ROW_IDS = ["long_field", "year_1", "year_1_offset", "year_9999", "year_2200", "1e300", "export_5k", "counter_1e12"]


@pytest.mark.parametrize(("row", "match"), BAD_ROWS, ids=BAD_ROW_IDS)
def test_bad_rows_exit_2_with_file_and_line(
    tmp_path: Path, store: Path, capsys: pytest.CaptureFixture[str], row: str, match: str
) -> None:
    data = tmp_path / "m.csv"
    data.write_text(HEADER + FIRST + row + "\n", encoding="utf-8")
    code, message = _import(capsys, store, data)
    assert code == 2, message
    assert message.startswith(f"twin: {data}: ") and "\n" not in message and len(message) < 400
    assert re.search(match, message), message
    assert read_table(store, "15min").sizes["time"] == 0  # nothing stored


def test_falling_counter_is_refused_in_a_file_and_against_the_store(
    tmp_path: Path, store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "r.csv"
    data.write_text(
        HEADER + "sub/meter,2025-01-01T00:00:00Z,1000,10,reading\nsub/meter,2025-02-01T00:00:00Z,900,20,reading\n"
    )
    code, message = _import(capsys, store, data)
    assert code == 2
    assert f"{data}: line 3: column import_kwh: counter of meter 'sub/meter' falls from 1000.0" in message
    data.write_text(HEADER + "sub/meter,2025-01-01T00:00:00Z,1000,10,reading\n")
    assert _import(capsys, store, data)[0] == 0
    later = tmp_path / "later.csv"
    later.write_text(HEADER + "sub/meter,2025-03-01T00:00:00Z,1200,5,reading\n")
    code, message = _import(capsys, store, later)
    assert code == 2
    assert f"{later}: line 2: column export_kwh: counter of meter 'sub/meter' falls from 10.0" in message
    assert "the store" in message
    replaced = tmp_path / "replaced.csv"  # a reading at the stored time replaces it
    replaced.write_text(HEADER + "sub/meter,2025-01-01T00:00:00Z,1000,4,reading\n")
    assert _import(capsys, store, replaced)[0] == 0
    assert _import(capsys, store, later)[0] == 0
    assert [r["energy_export_kwh"] for r in read_json(store / "readings.json")["sub/meter"]] == [4.0, 5.0]


def test_header_only_file_exits_2(tmp_path: Path, store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "h.csv"
    data.write_text("# exported 2025-06-02\n" + HEADER)
    code, message = _import(capsys, store, data)
    assert code == 2 and message.startswith(f"twin: {data}: no rows"), message


@pytest.mark.parametrize(
    ("name", "content"),
    [
        (METERS_FILE, "{garbage"),
        (METERS_FILE, '["b01/meter"]'),
        (METERS_FILE, '{"b01/meter": 7}'),
        ("readings.json", "\x00\x01"),
        ("readings.json", '{"sub/meter": [{"time_s": "soon"}]}'),
    ],
)
def test_damaged_store_json_exits_2_naming_the_file(
    tmp_path: Path, store: Path, capsys: pytest.CaptureFixture[str], name: str, content: str
) -> None:
    (store / name).write_text(content)
    data = tmp_path / "d.csv"
    data.write_text(HEADER + FIRST)
    code, message = _import(capsys, store, data)
    assert code == 2, message
    assert message.startswith(f"twin: {store / name}: "), message


def test_import_memory_follows_touched_channels(tmp_path: Path, store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A table 3,173 channels wide: importing 20 days of one meter stays within a few MB."""
    names = [f"b{i:03d}/dev{j}/p_kw" for i in range(100) for j in range(32)][:3171]
    names += ["flow:b01/import_kwh", "flow:b01/export_kwh"]
    rng = np.random.default_rng(0)
    start_s = 1748736000  # 2025-06-01
    with StoreLock(store, "live"):
        MeanTable(store, "15min", writable=True).append(
            start_s + 900 * np.arange(96), {name: rng.random(96) for name in names}
        )
    data = tmp_path / "days.csv"
    rows = [f"b01/meter,{np.datetime64(start_s + 900 * k, 's')}Z,0.25,0.01,interval" for k in range(20 * 96)]
    data.write_text(HEADER + "\n".join(rows) + "\n")
    monkeypatch.setattr(importing, "APPEND_BLOCK_BYTES", 2 * 1024 * 1024, raising=False)
    tracemalloc.start()
    try:
        summary = import_meter_data([data], store)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert summary.startswith("imported 1824 quarter-hours")  # the first day was stored already
    assert peak < 20 * 1024 * 1024, f"peak {peak / 2**20:.0f} MB"  # all channels x 1,920 rows: 52 MB
    ds = read_table(store, "15min", channels=["flow:b01/import_kwh"])
    assert ds.sizes["time"] == 20 * 96 and np.isfinite(ds["value"].values).all()
