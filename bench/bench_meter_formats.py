"""Time of ``twin import`` for the metering point operator's formats: German CSV and MSCONS.

Writes a year of 15-minute values (local time, both DST days) for ``--meters`` meter points as
German CSV files (one per meter point, the portal dialect: BOM, preamble, decimal comma) and the
same year as one MSCONS interchange (one message per meter point), then imports each into a new
store (in this process, as ``twin import`` does) and prints the wall time, the values per second
and the energy check (the stored sum against the written one, in Wh).

    .venv/bin/python bench/bench_meter_formats.py [--meters 4] [--days 365]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from twin.core.store import read_table
from twin.core.vocabulary import DEFAULT_TIMEZONE
from twin.importing import METERS_FILE, import_meter_data

ZONE = ZoneInfo(DEFAULT_TIMEZONE)


def _series(days: int) -> list[int]:
    start = datetime(2025, 1, 1, tzinfo=ZONE).astimezone(UTC)
    end = (datetime(2025, 1, 1, tzinfo=ZONE) + timedelta(days=days)).astimezone(UTC)
    return list(range(int(start.timestamp()), int(end.timestamp()), 900))


def _melo(index: int) -> str:
    return f"DE000123456789000000000000000{index:04d}"


def write_csv(folder: Path, meters: int, starts: list[int], values: np.ndarray) -> list[Path]:
    """One portal-style German CSV per meter point."""
    files = []
    for m in range(meters):
        lines = ["Kunde;Bench", f"Zählpunkt;{_melo(m)}", "OBIS-Kennzahl;1-1:1.29.0", "Einheit;kWh", ""]
        lines.append("Datum;Uhrzeit;Wert;Status")
        for t, v in zip(starts, values[m], strict=True):
            local = datetime.fromtimestamp(t, ZONE)
            lines.append(f"{local:%d.%m.%Y};{local:%H:%M};" + f"{v:.3f}".replace(".", ",") + ";W")
        path = folder / f"lastgang-{m}.csv"
        path.write_text("\ufeff" + "\n".join(lines) + "\n", encoding="utf-8")
        files.append(path)
    return files


def write_mscons(path: Path, meters: int, starts: list[int], values: np.ndarray) -> None:
    """One interchange, one message per meter point, times in UTC (format 303, offset +00)."""
    parts = ["UNA:+.? 'UNB+UNOC:3+9900000000001:500+9900000000002:500+260101:0600+B1++TL'\n"]
    for m in range(meters):
        parts.append(f"UNH+{m + 1}+MSCONS:D:04B:UN:2.4c'BGM+7+D{m}+9'UNS+D'NAD+DP'LOC+172+{_melo(m)}'")
        parts.append("LIN+1'PIA+5+1-1?:1.29.0:SRW'\n")
        for t, v in zip(starts, values[m], strict=True):
            a = datetime.fromtimestamp(t, UTC).strftime("%Y%m%d%H%M")
            b = datetime.fromtimestamp(t + 900, UTC).strftime("%Y%m%d%H%M")
            parts.append(f"QTY+220:{v:.3f}:KWH'DTM+163:{a}?+00:303'DTM+164:{b}?+00:303'\n")
        parts.append(f"UNT+9+{m + 1}'\n")
    parts.append(f"UNZ+{meters}+B1'\n")
    path.write_text("".join(parts), encoding="latin-1")


def _run(name: str, files: list[Path], folder: Path, meters: int, expected_wh: int) -> None:
    store = folder / f"store-{name}"
    store.mkdir()
    (store / METERS_FILE).write_text(json.dumps({f"b{m:02d}/meter": f"b{m:02d}" for m in range(meters)}))
    meter_map = folder / "meters.csv"
    rows = "".join(f"{_melo(m)};;b{m:02d}/meter\n" for m in range(meters))
    meter_map.write_text("meter_point;direction;meter\n" + rows)
    started = time.perf_counter()
    summary = import_meter_data(list(files), store, meter_map=meter_map)
    wall_s = time.perf_counter() - started
    ds = read_table(store, "15min")
    stored_wh = round(float(np.nansum(ds["value"].values)) * 1000)
    count = int(summary.split()[1]) * meters
    print(
        f"{name:7s} {count:9,d} values in {wall_s:6.2f} s ({count / wall_s:8,.0f} values/s); "
        f"energy stored {stored_wh:,d} Wh, written {expected_wh:,d} Wh"
    )


def main() -> None:
    """Write the files, import them, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=4)
    parser.add_argument("--days", type=int, default=365)
    args = parser.parse_args()
    starts = _series(args.days)
    rng = np.random.default_rng(0)
    values = np.round(rng.uniform(0.05, 2.0, (args.meters, len(starts))), 3)
    expected_wh = round(float(values.sum()) * 1000)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        csv_files = write_csv(folder, args.meters, starts, values)
        mscons = folder / "load.edi"
        write_mscons(mscons, args.meters, starts, values)
        print(f"{args.meters} meter point(s) x {len(starts):,d} quarter-hours ({args.days} local days)")
        _run("csv", csv_files, folder, args.meters, expected_wh)
        _run("mscons", [mscons], folder, args.meters, expected_wh)


if __name__ == "__main__":
    main()
