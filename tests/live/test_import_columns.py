"""Large meter data files are read column-wise: the same records, gaps and errors as row by row, in seconds."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from connectors import meter_import
from connectors.meter_import import read_meter_files
from twin.core.errors import ConfigError
from twin.core.store import read_table
from twin.importing import METERS_FILE, import_meter_data

METERS = [f"b{i:02d}/meter" for i in range(20)] + ["sub/meter"]
START_S = 1_735_689_600  # 2025-01-01T00:00:00Z


def _write(path: Path, quarters: int, extra: str = "") -> Path:
    rng = np.random.default_rng(1)
    times = [
        time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(START_S + 900 * q)) for q in range(quarters) if q != 7
    ]  # one quarter missing per meter
    lines = ["meter,time,import_kwh,export_kwh,kind"]
    for meter in METERS:
        values = rng.random((len(times), 2)).round(4)
        lines += [f"{meter},{t},{a:.4f},{b:.4f},interval" for t, (a, b) in zip(times, values, strict=True)]
    lines += [f"{meter},2025-01-01T00:00:00Z,{100 + i}.5,,reading" for i, meter in enumerate(METERS)]
    path.write_text("\n".join(lines) + "\n" + extra, encoding="utf-8")
    return path


def test_columns_and_rows_read_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = _write(tmp_path / "m.csv", 600)
    fast = read_meter_files([data])
    assert fast.blocks and fast.blocks[0].time_s.size == 599 * len(METERS)
    monkeypatch.setattr(meter_import, "FAST_MIN_ROWS", 10**9)
    slow = read_meter_files([data])
    assert not slow.blocks
    assert sorted(map(_row, fast.records)) == sorted(map(_row, slow.records))
    assert len(fast.records) == 599 * len(METERS) + len(METERS)
    assert fast.gaps() == slow.gaps() == dict.fromkeys(sorted(METERS), 1)


@pytest.mark.parametrize(
    ("row", "match"),
    [
        ("b01/meter,2025-01-02T00:05:00Z,1,0,interval", r"line 12602: column time: .*quarter-hour"),
        ("b01/meter,2025-01-02T00:00:00Z,nan,0,interval", r"line 12602: column import_kwh: must be a finite"),
        ("b01/meter,2025-01-02T00:00:00Z,1,0,interval", r"line 12602: column import_kwh: duplicate interval"),
        ("b01/meter,2025-01-02T00:15:00Z,1,0", r"line 12602: 4 values for 5 columns"),
    ],
)
def test_a_bad_row_in_a_large_file_is_named_as_row_by_row(tmp_path: Path, row: str, match: str) -> None:
    data = _write(tmp_path / "bad.csv", 600, row + "\n")
    with pytest.raises(ConfigError, match=match):
        read_meter_files([data])


def test_import_of_a_large_file(tmp_path: Path) -> None:
    store = tmp_path / "store"
    store.mkdir()
    (store / METERS_FILE).write_text(
        '{"sub/meter": "substation", ' + ", ".join(f'"{m}": "{m[:3]}"' for m in METERS[:-1]) + "}"
    )
    data = _write(tmp_path / "m.csv", 3000)
    started = time.perf_counter()
    summary = import_meter_data([data], store)
    assert time.perf_counter() - started < 20.0
    assert "imported 2999 quarter-hours" in summary and "21 quarter-hour(s) missing" in summary
    table = read_table(store, "15min")
    assert table.sizes["time"] == 2999
    again = import_meter_data([data], store)  # everything stored already: kept, nothing appended
    assert "imported 0 quarter-hours" in again and f"{2999 * 2 * len(METERS)} value(s) already" in again


def _row(record: meter_import.MeterRecord) -> tuple[object, ...]:
    """A record as a tuple that compares equal when the values are (NaN: unknown export as None)."""
    export = None if np.isnan(record.export_kwh) else record.export_kwh
    return record.meter, record.time_s, record.kind, record.import_kwh, export, record.file, record.line
