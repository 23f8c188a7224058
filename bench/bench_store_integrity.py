"""Cost of the store's integrity checks: appends, a writer's open, reads, ``twin store check``.

python bench/bench_store_integrity.py [--days 30] [--channels 3500]

Writes a 1-minute table of DAYS days (one append per minute, as ``twin live`` does, CHANNELS
channels) and a 15-minute table of a year (appends of a day), then times a writer's open, a
day's read of a few channels and of all channels, and the full check.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from twin.core.store import MeanTable, StoreLock, read_table

START_S = 1735689600  # 2025-01-01T00:00Z


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--channels", type=int, default=3500)
    args = parser.parse_args()
    names = [f"b{i // 10:03d}/dev{i % 10}/p_kw" for i in range(args.channels)]
    rng = np.random.default_rng(1)
    with tempfile.TemporaryDirectory() as tmp, StoreLock(tmp, "bench"):
        store = Path(tmp)
        table = MeanTable(store, "1min", writable=True)
        row = rng.normal(size=args.channels)
        append_s = []
        minutes = args.days * 1440
        for minute in range(minutes):
            t0 = time.perf_counter()
            table.append([START_S + 60 * minute], {name: row[i : i + 1] for i, name in enumerate(names)})
            append_s.append(time.perf_counter() - t0)
        quarters = MeanTable(store, "15min", writable=True)
        for day in range(365):
            times = START_S + 86400 * day + 900 * np.arange(96)
            quarters.append(times, {name: rng.normal(size=96) for name in names[:200]})
        print(
            f"1-min appends ({args.channels} channels): median {np.median(append_s) * 1e3:.1f} ms, "
            f"p99 {np.percentile(append_s, 99) * 1e3:.1f} ms over {minutes}"
        )
        for name, label in (("1min", f"{args.days} days"), ("15min", "a year")):
            t0 = time.perf_counter()
            MeanTable(store, name, writable=True)
            print(f"writer open of the {name} table ({label}): {time.perf_counter() - t0:.2f} s")
        day = START_S + 86400 * (args.days // 2)
        for wanted, label in ((names[:5], "5 channels"), (None, "all channels")):
            t0 = time.perf_counter()
            ds = read_table(store, "1min", start_s=day, end_s=day + 86400, channels=wanted)
            print(f"read a day of the 1-min table, {label}: {time.perf_counter() - t0:.2f} s ({ds.sizes['time']} rows)")
        t0 = time.perf_counter()
        ds = read_table(store, "15min", channels=names[:20])
        print(f"read the 15-min year, 20 channels: {time.perf_counter() - t0:.2f} s ({ds.sizes['time']} rows)")
        try:
            from twin.core.store_check import check_store
        except ImportError:
            return
        t0 = time.perf_counter()
        checks = check_store(store, decode=False)
        print(f"twin store check --quick: {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        checks = check_store(store)
        print(
            f"twin store check (decodes every chunk): {time.perf_counter() - t0:.1f} s, "
            f"{'consistent' if all(c.ok for c in checks) else 'DAMAGED'}"
        )


if __name__ == "__main__":
    main()
