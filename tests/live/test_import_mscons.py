"""``twin import`` of MSCONS interchanges: several meters and directions, statuses, meter points, to the Wh."""

from __future__ import annotations

import datetime as dt
import hashlib
import subprocess
from pathlib import Path

import numpy as np
import pytest

from twin.core.errors import ConfigError
from twin.core.store import read_table
from twin.importing import METERS_FILE, import_meter_data

UTC = dt.UTC
MELO_1 = "DE0001234567890000000000000000001"
MELO_2 = "DE0001234567890000000000000000002"
MALO = "51238696781"
#: 26 October 2025: 00:00-01:00 UTC is the summer-time 02:00-03:00, 01:00-02:00 UTC the winter-time one.
START = dt.datetime(2025, 10, 26, 0, 0, tzinfo=UTC)


def _qty(start_utc: dt.datetime, value: str, qualifier: str = "220", minutes: int = 15) -> str:
    """A QTY with its interval in local time and offset (format 303), as metering point operators send it."""
    offset = 2 if start_utc < dt.datetime(2025, 10, 26, 1, tzinfo=UTC) else 1
    end_utc = start_utc + dt.timedelta(minutes=minutes)
    end_offset = 2 if end_utc <= dt.datetime(2025, 10, 26, 1, tzinfo=UTC) else 1
    start = (start_utc + dt.timedelta(hours=offset)).strftime("%Y%m%d%H%M")
    end = (end_utc + dt.timedelta(hours=end_offset)).strftime("%Y%m%d%H%M")
    return f"QTY+{qualifier}:{value}:KWH'DTM+163:{start}?+0{offset}:303'DTM+164:{end}?+0{end_offset}:303'\n"


def _line_item(number: int, obis: str, quarters: list[tuple[str, str]]) -> str:
    text = f"LIN+{number}'PIA+5+{obis.replace(':', '?:')}:SRW'\n"
    return text + "".join(_qty(START + dt.timedelta(minutes=15 * i), v, q) for i, (v, q) in enumerate(quarters))


def _interchange(messages: list[tuple[str, str]]) -> str:
    head = "UNA:+.? 'UNB+UNOC:3+9900000000001:500+9900000000002:500+251027:0600+REF1++TL'\n"
    body = "".join(
        f"UNH+{i + 1}+MSCONS:D:04B:UN:2.4c'BGM+7+DOC{i}+9'DTM+137:202510270600?+01:303'"
        f"UNS+D'NAD+DP'LOC+172+{location}'\n{items}UNT+99+{i + 1}'\n"
        for i, (location, items) in enumerate(messages)
    )
    return head + body + f"UNZ+{len(messages)}+REF1'\n"


def _store(tmp_path: Path) -> tuple[Path, Path]:
    store = tmp_path / "store"
    store.mkdir()
    (store / METERS_FILE).write_text('{"b01/meter": "b01", "b02/meter": "b02", "sub/meter": "substation"}')
    mapping = tmp_path / "meters.csv"
    mapping.write_text(
        f"meter_point,direction,meter\n{MELO_1},,b01/meter\n{MELO_2},1-1:1.29.0,b02/meter\n{MALO},,sub/meter\n"
    )
    return store, mapping


IMPORT_1 = [("0.125", "220"), ("0.250", "220"), ("1,5", "220"), ("0.375", "67")] + [("0.5", "220")] * 4
EXPORT_SUB = [("0.010", "220"), ("0.020", "201"), ("0.030", "220"), ("0.040", "220")]


def test_interchange_with_several_meters_imports_to_the_wh(tmp_path: Path) -> None:
    store, mapping = _store(tmp_path)
    quarters = IMPORT_1  # 8 quarters: 02:00A .. 02:45A and 02:00B .. 02:45B local
    text = _interchange(
        [
            (MELO_1, _line_item(1, "1-1:1.29.0", quarters)),
            (MALO, _line_item(1, "1-1:1.29.0", quarters[:4]) + _line_item(2, "1-1:2.29.0", EXPORT_SUB)),
            (MELO_2, _line_item(1, "1-1:1.29.0", [("0.2", "220"), ("9.9", "20")])),
        ]
    )
    path = tmp_path / "load.edi"
    path.write_text(text, encoding="latin-1")
    summary = import_meter_data([path], store, meter_map=mapping)
    assert summary.startswith("imported 8 quarter-hours from 1 file(s)"), summary
    assert "values with status 2 substitute, 1 proposed, 1 unusable" in summary
    ds = read_table(store, "15min")
    times = ds["time"].values.astype("datetime64[s]").astype(np.int64)
    assert times.tolist() == [int((START + dt.timedelta(minutes=15 * i)).timestamp()) for i in range(8)]

    def wh(channel: str) -> int:
        return round(float(np.nansum(ds["value"].sel(channel=channel).values)) * 1000)

    assert wh("flow:b01/import_kwh") == 125 + 250 + 1500 + 375 + 4 * 500
    assert wh("flow:substation/import_kwh") == 125 + 250 + 1500 + 375
    assert wh("flow:substation/export_kwh") == 10 + 20 + 30 + 40
    assert wh("flow:b02/import_kwh") == 200  # the unusable 9.9 kWh is not counted
    b02 = ds["quality"].sel(channel="flow:b02/import_kwh").values.tolist()
    assert b02[:2] == [0, 2]  # ok, missing (unusable)
    assert ds["quality"].sel(channel="flow:b01/import_kwh").values.tolist()[3] == 4  # substitute: estimated
    assert ds["quality"].sel(channel="flow:substation/export_kwh").values.tolist()[1] == 4  # proposed: estimated
    again = import_meter_data([path], store, meter_map=mapping)
    assert again.startswith("imported 0 quarter-hours") and "differ" not in again  # idempotent


def _tree(store: Path) -> dict[str, str]:
    return {
        str(p.relative_to(store)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(store.rglob("*"))
        if p.is_file() and p.name != "writer.lock"
    }


def test_unmapped_meter_point_names_the_segment_and_the_store_stays(tmp_path: Path, twin_exe: Path) -> None:
    store, mapping = _store(tmp_path)
    good = tmp_path / "good.edi"
    good.write_text(_interchange([(MELO_1, _line_item(1, "1-1:1.29.0", IMPORT_1))]), encoding="latin-1")
    import_meter_data([good], store, meter_map=mapping)
    before = _tree(store)
    unknown = "DE0009999999990000000000000000009"
    bad = tmp_path / "bad.edi"
    bad.write_text(
        _interchange(
            [
                (MELO_1, _line_item(1, "1-1:1.29.0", [("7", "220")])),
                (unknown, _line_item(1, "1-1:1.29.0", [("1", "220")])),
            ]
        ),
        encoding="latin-1",
    )
    done = subprocess.run(
        [str(twin_exe), "import", str(bad), "--store", str(store), "--meter-map", str(mapping)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    message = done.stderr.strip()
    assert "\n" not in message and "Traceback" not in message
    assert f"{bad}: segment 22 (QTY): meter point '{unknown}' (import) is not mapped" in message, message
    assert _tree(store) == before  # the first message's value is not stored either


@pytest.mark.parametrize(
    ("items", "match"),
    [
        (
            _line_item(1, "1-1:1.6.0", [("1", "220")]),
            r"segment \d+ \(QTY\): product '1-1:1.6.0:SRW' .* neither import nor export",
        ),
        (
            "LIN+1'PIA+5+1-1?:1.29.0:SRW'\n" + _qty(START, "1", minutes=60),
            r"segment \d+ \(QTY\): interval .* not a quarter-hour",
        ),
    ],
)
def test_unsupported_line_items_are_refused(tmp_path: Path, items: str, match: str) -> None:
    store, mapping = _store(tmp_path)
    path = tmp_path / "odd.edi"
    path.write_text(_interchange([(MELO_1, items)]), encoding="latin-1")
    with pytest.raises(ConfigError, match=match):
        import_meter_data([path], store, meter_map=mapping)
