"""German meter data CSV: the dialects portals and metering point operators export, both DST days, to the Wh.

Each dialect renders the same two local days (30 March 2025: 23 hours, 26 October 2025: 25
hours) of one meter point; every dialect must import to the same UTC quarter-hours and the
same energy, to the Wh. Bad files are refused with one line naming the file, line and column,
and leave the store as it was.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from connectors.german_csv import CsvOptions, read_german_csv
from twin.core.errors import ConfigError
from twin.core.store import read_table
from twin.core.vocabulary import DEFAULT_TIMEZONE
from twin.importing import METERS_FILE, import_meter_data

ZONE = ZoneInfo(DEFAULT_TIMEZONE)
MELO = "DE0001234567890000000000000000001"
MALO = "51238696781"  # check digit 1
DAYS = ((2025, 3, 30), (2025, 10, 26))


def _quarters(year: int, month: int, day: int) -> list[int]:
    """UTC starts (s) of the quarter-hours of a local day."""
    start = datetime(year, month, day, tzinfo=ZONE).astimezone(UTC)
    end = (datetime(year, month, day, tzinfo=ZONE) + timedelta(days=1)).astimezone(UTC)
    return list(range(int(start.timestamp()), int(end.timestamp()), 900))


def _series() -> dict[int, float]:
    """Quarter start -> energy [kWh, 3 decimals]: both DST days; one value above 1,000 kWh."""
    starts = [t for day in DAYS for t in _quarters(*day)]
    values = {t: round(0.125 + 0.001 * (i % 97), 3) for i, t in enumerate(starts)}
    values[starts[5]] = 1234.567
    return values


def _wall(t: int) -> tuple[datetime, str]:
    """Local wall time of a UTC second and its A/B marker on the repeated hour ('' elsewhere)."""
    local = datetime.fromtimestamp(t, ZONE)
    other = local.replace(fold=1 - local.fold)
    return local, ("B" if local.fold else "A") if other.utcoffset() != local.utcoffset() else ""


def _comma(value: float, thousands: bool = True) -> str:
    text = f"{value:,.3f}" if thousands else f"{value:.3f}"
    return text.replace(",", "_").replace(".", ",").replace("_", ".")


def portal(series: dict[int, float]) -> tuple[str, str]:
    """BOM, preamble, date and time columns, decimal comma with thousands dots, repeated hour by order."""
    lines = ["Kunde;Muster GmbH", f"Zählpunkt;{MELO}", "OBIS-Kennzahl;1-1:1.29.0", "Einheit;kWh", ""]
    lines.append("Datum;Uhrzeit;Wert;Status")
    for t, v in series.items():
        local, _ = _wall(t)
        lines.append(f"{local:%d.%m.%Y};{local:%H:%M};{_comma(v)};W")
    lines.append("Summe;;;")
    return "\ufeff" + "\r\n".join(lines) + "\r\n", "utf-8"


def from_to_ab(series: dict[int, float]) -> tuple[str, str]:
    """From/to columns, two-digit years, A/B markers on the repeated hour, unit in the header."""
    lines = [f"Messlokation: {MELO}", "Datum;von;bis;Verbrauch [kWh]"]
    for t, v in series.items():
        local, marker = _wall(t)
        end, end_marker = _wall(t + 900)
        lines.append(f"{local:%d.%m.%y};{local:%H:%M}{marker};{end:%H:%M}{end_marker};{_comma(v, False)}")
    return "\n".join(lines) + "\n", "utf-8"


def end_labels(series: dict[int, float]) -> tuple[str, str]:
    """One time column labelling the interval's end (24:00), the MaLo in a column, Windows-1252."""
    lines = ["Marktlokation;Zeitstempel;Bezug (kWh);Bemerkung"]
    for t, v in series.items():
        end, _ = _wall(t + 900)
        stamp = (
            f"{end - timedelta(days=1):%d.%m.%Y} 24:00" if (end.hour, end.minute) == (0, 0) else f"{end:%d.%m.%Y %H:%M}"
        )
        lines.append(f"{MALO};{stamp};{_comma(v)};geprüft")
    return "\n".join(lines) + "\n", "cp1252"


def end_at_midnight(series: dict[int, float]) -> tuple[str, str]:
    """Times label the interval's end, the day's last one 00:00 of the next date (detected: 00:15 ... 00:00)."""
    lines = [f"Zählpunkt;{MELO}", "Datum;Zeit;Wert [kWh]"]
    for t, v in series.items():
        end, _ = _wall(t + 900)
        lines.append(f"{end:%d.%m.%Y};{end:%H:%M};{_comma(v)}")
    return "\n".join(lines) + "\n", "utf-8"


def offsets_in_kw(series: dict[int, float]) -> tuple[str, str]:
    """ISO dates, an offset column, mean power in kW with a decimal point, tab-separated."""
    lines = [f"Zählpunkt\t{MELO}", "Zeitpunkt\tUTC-Offset\tLeistung (kW)"]
    for t, v in series.items():
        local, _ = _wall(t)
        offset = int(local.utcoffset().total_seconds() // 3600)  # type: ignore[union-attr]
        lines.append(f"{local:%Y-%m-%d %H:%M}\t+0{offset}:00\t{v * 4:.3f}")
    return "\n".join(lines) + "\n", "utf-8"


DIALECTS: list[Callable[[dict[int, float]], tuple[str, str]]] = [
    portal,
    from_to_ab,
    end_labels,
    end_at_midnight,
    offsets_in_kw,
]


def _store(tmp_path: Path) -> Path:
    store = tmp_path / "store"
    store.mkdir()
    (store / METERS_FILE).write_text('{"b01/meter": "b01", "b02/meter": "b02", "sub/meter": "substation"}')
    return store


def _map(tmp_path: Path) -> Path:
    path = tmp_path / "meters.csv"
    path.write_text(f"meter_point;direction;meter\n{MELO};;b01/meter\n{MALO};import;b01/meter\n", encoding="utf-8")
    return path


def _tree(store: Path) -> dict[str, str]:
    return {
        str(p.relative_to(store)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(store.rglob("*"))
        if p.is_file() and p.name != "writer.lock"
    }


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.__name__)
def test_both_dst_days_import_to_the_wh(tmp_path: Path, dialect: Callable[[dict[int, float]], tuple[str, str]]) -> None:
    series = _series()
    assert len(series) == 92 + 100  # the 23-hour and the 25-hour day
    text, encoding = dialect(series)
    path = tmp_path / f"{dialect.__name__}.csv"
    path.write_bytes(text.encode(encoding))
    store = _store(tmp_path)
    summary = import_meter_data([path], store, meter_map=_map(tmp_path))
    assert summary.startswith("imported 192 quarter-hours"), summary
    ds = read_table(store, "15min")
    times = ds["time"].values.astype("datetime64[s]").astype(np.int64)
    values = ds["value"].sel(channel="flow:b01/import_kwh").values
    assert times.tolist() == sorted(series)
    assert round(float(values.sum()) * 1000) == round(sum(series.values()) * 1000)  # to the Wh
    assert np.allclose(values, [series[t] for t in times.tolist()], atol=5e-4)
    assert (
        "flow:b01/export_kwh" not in ds["channel"].values.tolist()
        or np.isnan(ds["value"].sel(channel="flow:b01/export_kwh").values).all()
    )  # nothing invented for the direction the file lacks


def test_import_and_export_columns_statuses_and_wh(tmp_path: Path) -> None:
    path = tmp_path / "two.csv"
    path.write_text(
        f"Zählpunkt;{MELO}\n"
        "Datum;Uhrzeit;Bezug [Wh];Einspeisung [Wh];Status\n"
        "01.06.2025;00:00;1.250;0;W\n"
        "01.06.2025;00:15;250;125;E\n"
        "01.06.2025;00:30;999;1;F\n",
        encoding="utf-8",
    )
    store = _store(tmp_path)
    summary = import_meter_data([path], store, meter_map=_map(tmp_path))
    assert "values with status 2 substitute, 2 unusable" in summary, summary
    ds = read_table(store, "15min")
    imported = ds["value"].sel(channel="flow:b01/import_kwh").values
    exported = ds["value"].sel(channel="flow:b01/export_kwh").values
    quality = ds["quality"].sel(channel="flow:b01/import_kwh").values.tolist()
    assert imported.tolist() == [1.25, 0.25] and exported.tolist() == [0.0, 0.125]  # unusable: stays missing
    assert quality == [0, 4]  # ok, estimated (substitute)


@pytest.mark.parametrize(
    ("body", "options", "match"),
    [
        (
            "Datum;Uhrzeit;Wert [kWh]\n30.03.2025;02:15;0,5\n",
            {},
            r"line 3: column Uhrzeit: local time 30.03.2025 02:15 does not exist",
        ),
        ("Datum;Uhrzeit;Wert [kWh]\n01.06.2025;00:05;0,5\n", {}, r"line 3: column Uhrzeit: .*not on a quarter-hour"),
        ("Datum;Uhrzeit;Wert [kWh]\n01.06.2025;00:15;abc\n", {}, r"line 3: column Wert \[kWh\]: not a number"),
        ("Datum;Uhrzeit;Wert [kWh]\n01.06.2025;00:15;1.5,0\n", {}, r"line 3: column Wert \[kWh\]: not a number"),
        ("Datum;Uhrzeit;Wert\n01.06.2025;00:15;0,5\n", {}, r"line 3: column Wert: the unit .* not given .*--unit"),
        (
            "Datum\tUhrzeit\tWert [kWh]\n01.06.2025\t00:15\t1.250\n",
            {},
            r"column Wert \[kWh\]: the decimal mark is ambiguous",
        ),
        ("Datum;Uhrzeit;Wert [kWh];Status\n01.06.2025;00:15;0,5;X\n", {}, r"line 3: column Status: unknown status"),
        ("Datum;Uhrzeit;Wert [kWh]\n31.06.2025;00:15;0,5\n", {}, r"line 3: column Uhrzeit: not a date and time"),
        ("Datum;Kommentar\n01.06.2025;x\n", {}, r"no table header found"),
        (
            "Datum;Uhrzeit;Wert [kWh]\n01.06.2025;00:00;1\n01.06.2025;01:00;1\n",
            {},
            r"line 3: column Wert \[kWh\]: the import values of DE\d+ are 60 minutes apart, not quarter-hours",
        ),
    ],
)
def test_bad_german_files_name_file_line_and_column(
    tmp_path: Path, body: str, options: dict[str, str], match: str
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(f"Zählpunkt;{MELO}\n" + body, encoding="utf-8")
    with pytest.raises(ConfigError, match=match) as info:
        read_german_csv(path, CsvOptions(**options))  # type: ignore[arg-type]
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_options_settle_what_the_file_leaves_open(tmp_path: Path) -> None:
    path = tmp_path / "plain.csv"
    path.write_text("Datum;Uhrzeit;Wert\n01.06.2025;00:15;1.250\n01.06.2025;00:30;2.000\n", encoding="utf-8")
    values = read_german_csv(path, CsvOptions(unit="Wh", decimal="comma", meter_point=MELO, direction="export"))
    assert [(v.meter_point, v.direction, round(v.energy_kwh, 6)) for v in values] == [
        (MELO, "export", 1.25),
        (MELO, "export", 2.0),
    ]
    point = read_german_csv(path, CsvOptions(unit="kWh", decimal="point", meter_point=MELO, time_label="end"))
    assert [v.energy_kwh for v in point] == [1.25, 2.0]
    assert point[0].start_s == int(datetime(2025, 5, 31, 22, 0, tzinfo=UTC).timestamp())  # 00:15 CEST ends it


def test_unmapped_meter_point_is_refused_or_skipped_and_the_store_stays(tmp_path: Path, twin_exe: Path) -> None:
    store = _store(tmp_path)
    good = tmp_path / "good.csv"
    good.write_text(f"Zählpunkt;{MELO}\nDatum;Uhrzeit;Wert [kWh]\n01.06.2025;00:00;0,5\n", encoding="utf-8")
    other = tmp_path / "other.csv"
    other.write_text("Zählpunkt;DE0009999999990000000000000000009\nDatum;Uhrzeit;Wert [kWh]\n01.06.2025;00:15;0,75\n")
    import_meter_data([good], store, meter_map=_map(tmp_path))
    before = _tree(store)
    done = subprocess.run(
        [str(twin_exe), "import", str(good), str(other), "--store", str(store), "--meter-map", str(_map(tmp_path))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    message = done.stderr.strip()
    assert "\n" not in message and "Traceback" not in message
    assert f"{other}: line 3: column Wert [kWh]: meter point 'DE0009999999990000000000000000009'" in message
    assert "--skip-unmapped" in message
    assert _tree(store) == before  # all or nothing: the good file of the same import is not stored either
    summary = import_meter_data([good, other], store, meter_map=_map(tmp_path), skip_unmapped=True)
    assert "1 value(s) of 1 unmapped meter point(s) skipped: DE0009999999990000000000000000009" in summary


def test_duplicates_in_files_and_against_the_store_are_reported(tmp_path: Path) -> None:
    store = _store(tmp_path)
    first = tmp_path / "first.csv"
    first.write_text(f"Zählpunkt;{MELO}\nDatum;Uhrzeit;Wert [kWh]\n01.06.2025;00:00;0,5\n01.06.2025;00:00;0,5\n")
    assert "1 duplicate row(s) dropped" in import_meter_data([first], store, meter_map=_map(tmp_path))
    again = tmp_path / "again.csv"
    again.write_text(f"Zählpunkt;{MELO}\nDatum;Uhrzeit;Wert [kWh]\n01.06.2025;00:00;0,625\n01.06.2025;00:15;1\n")
    summary = import_meter_data([again], store, meter_map=_map(tmp_path))
    assert "1 value(s) already in the store kept" in summary
    assert (
        (
            "1 value(s) differ from the store's (the store's kept: b01/meter import_kwh 2025-05-31T22:00:00Z:"
            " 0.5 in the store, 0.625 in the file)"
        )
        in summary
        in summary
    )
    conflict = tmp_path / "conflict.csv"
    conflict.write_text(f"Zählpunkt;{MELO}\nDatum;Uhrzeit;Wert [kWh]\n01.06.2025;01:00;0,5\n01.06.2025;01:00;0,7\n")
    with pytest.raises(
        ConfigError, match=r"conflict.csv: line 4: column Wert \[kWh\]: import of meter b01/meter .* given twice"
    ):
        import_meter_data([conflict], store, meter_map=_map(tmp_path))


def test_meter_map_checks_ids_directions_and_meters(tmp_path: Path) -> None:
    store = _store(tmp_path)
    data = tmp_path / "d.csv"
    data.write_text(f"Zählpunkt;{MELO}\nDatum;Uhrzeit;Wert [kWh]\n01.06.2025;00:00;0,5\n")
    for row, match in [
        (
            "51238696782;;b01/meter",
            r"line 2: column meter_point: not a MeLo or MaLo id: '51238696782' \(wrong check digit\)",
        ),
        (f"{MELO};sideways;b01/meter", r"line 2: column direction: unknown direction 'sideways'"),
        (f"{MELO};1-1:2.29.0;b09/meter", r"line 2: column meter: meter 'b09/meter' is not a meter of the site"),
    ]:
        bad = tmp_path / "map.csv"
        bad.write_text(f"meter_point;direction;meter\n{row}\n")
        with pytest.raises(ConfigError, match=match):
            import_meter_data([data], store, meter_map=bad)


def test_local_times_follow_the_time_zone_the_live_twin_recorded(tmp_path: Path) -> None:
    store = _store(tmp_path)
    (store / "snapshot.json").write_text('{"timezone": "UTC", "sim_time_s": 0}')
    path = tmp_path / "utc.csv"
    path.write_text(f"Zählpunkt;{MELO}\nDatum;Uhrzeit;Wert [kWh]\n01.06.2025;00:00;0,5\n", encoding="utf-8")
    import_meter_data([path], store, meter_map=_map(tmp_path))
    times = read_table(store, "15min")["time"].values.astype("datetime64[s]").astype(np.int64)
    assert times.tolist() == [int(datetime(2025, 6, 1, tzinfo=UTC).timestamp())]  # not 22:00Z the day before
