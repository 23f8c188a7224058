"""A simulated year of the Beucha field's state store: files, bytes, append and read times.

Writes ``--days`` of 1-minute rows (``--channels`` channels: devices' quantities and balance
terms, as ``twin live`` stores them) and of 15-minute rows (the same channels plus the energy
flows of 107 boundaries) through :class:`twin.core.store.MeanTable` - the append-and-commit path
``twin live`` uses. The year goes in batches of ``--batch-rows`` 1-minute rows and
``--batch-quarters`` 15-minute rows (twin live appends what ended since its last tick, 0.2 to 5 s
of wall time: 1 row at speed 60, hours at speeds in the thousands; a year at speed 60 would take
days); then one full 8-hour shard of single-row appends to the 1-minute table and a day of
single-row 15-minute appends (twin live up to speed 120) measure the append time where it
matters. Then it reads ``--read-days`` days spread over the year (every channel),
checks them against what was written, and prints the figures.

    .venv/bin/python bench/bench_store.py [--days 365] [--channels 3500] [--batch-rows 240] [--keep]
    .venv/bin/python bench/bench_store.py --layout legacy --days 2    # the layout before sharding

Values are a deterministic function of (row, channel): smooth daily profiles with full-precision
noise, a third of the channels at 0 (PV at night, idle EVs and batteries), so compression is not
flattered.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import zarr

from twin.core.store import MeanTable, StoreLock, read_table
from twin.core.store_layout import LEGACY_LAYOUT, TABLE_LAYOUTS, create_table_arrays

START_S = 1_735_689_600  # 2025-01-01T00:00:00Z
BOUNDARIES = 107
FLOWS = ("import_kwh", "export_kwh", "load_kwh", "generation_kwh", "fuel_kwh")


def channel_names(count: int) -> list[str]:
    """Balance terms of the boundaries, then device quantities, ``count`` in all."""
    boundaries = ["substation"] + [f"b{i:03d}" for i in range(1, BOUNDARIES)]
    names = [f"balance:{b}/{t}" for b in boundaries for t in ("p_grid_kw", "p_pv_kw", "p_load_kw", "p_heat_pump_kw")]
    quantities = ("p_kw", "energy_import_kwh", "energy_export_kwh", "v_l1_v", "frequency_hz", "soc_frac")
    device = 0
    while len(names) < count:
        names += [f"b{device % BOUNDARIES:03d}/dev{device}/{q}" for q in quantities]
        device += 1
    return names[:count]


def values_of(rows: np.ndarray, n_channels: int, resolution_s: int) -> np.ndarray:
    """Values of rows (global row indices) x channels: a function of (row, channel) only."""
    t = (rows * resolution_s)[:, None].astype(float)
    c = np.arange(n_channels)[None, :].astype(float)
    noise = np.modf(np.sin(t * 12.9898e-3 + c * 78.233) * 43758.5453)[0]
    value = (1 + c % 7) * np.sin(2 * np.pi * t / 86_400 + c) + 0.05 * noise
    value[:, ::3] = 0.0
    return value


def write(store: Path, name: str, n_rows: int, batch: int, channels: list[str], *, first_row: int = 0) -> list[float]:
    """Append rows ``first_row`` .. ``first_row + n_rows`` in batches; return the time of each append. [s]"""
    resolution_s = 60 if name == "1min" else 900
    table = MeanTable(store, name, writable=True)
    seconds = []
    for start in range(first_row, first_row + n_rows, batch):
        rows = np.arange(start, min(start + batch, first_row + n_rows))
        block = values_of(rows, len(channels), resolution_s)
        columns = {channel: block[:, i] for i, channel in enumerate(channels)}
        began = time.perf_counter()
        table.append(START_S + rows * resolution_s, columns)
        seconds.append(time.perf_counter() - began)
    return seconds


def files_and_bytes(path: Path) -> tuple[int, int]:
    files = [p for p in path.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def stats_ms(seconds: list[float]) -> str:
    ms = np.asarray(seconds) * 1e3
    return f"mean {ms.mean():.0f} ms, p95 {np.percentile(ms, 95):.0f} ms, max {ms.max():.0f} ms ({ms.size} appends)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--channels", type=int, default=3_500, help="1-minute channels (15-minute: + 535 flows)")
    parser.add_argument("--batch-rows", type=int, default=240, help="1-minute rows per append for the year")
    parser.add_argument("--batch-quarters", type=int, default=16, help="15-minute rows per append for the year")
    parser.add_argument("--read-days", type=int, default=12)
    parser.add_argument("--layout", choices=("sharded", "legacy"), default="sharded")
    parser.add_argument("--dir", type=Path, default=None, help="Where to build the store (default: a temp folder)")
    parser.add_argument("--keep", action="store_true", help="Keep the store afterwards")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="bench-store-", dir=args.dir))
    store = root / "live"
    minute_channels = channel_names(args.channels)
    quarter_channels = minute_channels + [f"flow:b{b:03d}/{f}" for b in range(BOUNDARIES) for f in FLOWS]
    try:
        if args.layout == "legacy":  # tables as the store made them before sharding
            for name in ("1min", "15min"):
                group = zarr.open_group(str(store / f"means_{name}.zarr"), mode="w", zarr_format=3)
                create_table_arrays(group, name, LEGACY_LAYOUT)
        minutes, quarters = args.days * 1440, args.days * 96
        print(
            f"{args.layout} layout, {args.days} days: 1-minute {minutes:,} rows x {len(minute_channels):,} channels"
            f" ({args.batch_rows} per append), 15-minute {quarters:,} rows x {len(quarter_channels):,}"
            f" ({args.batch_quarters} per append)"
        )
        began = time.perf_counter()
        with StoreLock(store, "bench_store"):
            year_1min = write(store, "1min", minutes, args.batch_rows, minute_channels)
            year_15min = write(store, "15min", quarters, args.batch_quarters, quarter_channels)
            wrote_s = time.perf_counter() - began
            single_1min = write(store, "1min", 480, 1, minute_channels, first_row=minutes)
            single_15min = write(store, "15min", 96, 1, quarter_channels, first_row=quarters)
        print(f"written in {wrote_s:.0f} s")
        print(f"  1-minute appends of {args.batch_rows} rows: {stats_ms(year_1min)}")
        print(f"  15-minute appends of {args.batch_quarters} rows: {stats_ms(year_15min)}")
        print(f"  1-minute appends of 1 row (a whole shard):  {stats_ms(single_1min)}")
        print(f"  15-minute appends of 1 row (a day):  {stats_ms(single_15min)}")
        total_files, total_bytes = files_and_bytes(store)
        for name in ("1min", "15min"):
            files, size = files_and_bytes(store / f"means_{name}.zarr")
            print(f"  {name}: {files:,} files, {size / 1e9:.2f} GB")
        print(f"store: {total_files:,} files, {total_bytes / 1e9:.2f} GB")
        if args.layout == "sharded":
            layout_year = TABLE_LAYOUTS["1min"].files_per_rows(525_600, len(minute_channels))
            layout_year += TABLE_LAYOUTS["15min"].files_per_rows(35_040, len(quarter_channels))
            print(f"  (a full year by the layout: {layout_year:,} data files)")
        else:
            print(f"  (a year at this rate: {total_files / args.days * 365:,.0f} files)")

        days = np.unique(np.linspace(0, args.days - 1, min(args.read_days, args.days)).astype(int))
        read_s = []
        for day in days:
            start = START_S + int(day) * 86_400 + 3_600 * int(day % 24)  # days starting at any hour
            began = time.perf_counter()
            ds = read_table(store, "1min", start_s=start, end_s=start + 86_400)
            read_s.append(time.perf_counter() - began)
            rows = (ds["time"].values.astype("datetime64[s]").astype(np.int64) - START_S) // 60
            expected_rows = np.arange((start - START_S) // 60, min((start - START_S) // 60 + 1440, minutes + 480))
            assert np.array_equal(rows, expected_rows), f"day {day}: rows differ"
            assert np.array_equal(ds["value"].values, values_of(rows, len(minute_channels), 60)), f"day {day}"
        print(
            f"read a day of the 1-minute table (1,440 rows x {len(minute_channels):,} channels), {len(days)} days: "
            f"mean {np.mean(read_s) * 1e3:.0f} ms, max {np.max(read_s) * 1e3:.0f} ms; values as written"
        )
        few = [minute_channels[0], minute_channels[-1]]
        began = time.perf_counter()
        ds = read_table(store, "15min", channels=few)
        print(f"read the whole 15-minute table, 2 channels: {(time.perf_counter() - began) * 1e3:.0f} ms")
        began = time.perf_counter()
        ds = read_table(store, "1min", channels=few, start_s=START_S + (args.days - 7) * 86_400)
        print(f"read the last 7 days of the 1-minute table, 2 channels: {(time.perf_counter() - began) * 1e3:.0f} ms")
    finally:
        if args.keep:
            print(f"store kept in {store}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
