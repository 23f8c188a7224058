"""Time the typed live state on a snapshot of the whole district (480 devices, 107 boundaries, grid).

The snapshot is the one ``bench/bench_dashboard.py`` writes (the size of the Beucha field). Timed,
as the median of ``--repeat`` runs: ``json.loads`` alone, ``json.loads`` + ``LiveSnapshot.from_json``
(what a reader pays per new file), ``to_json`` + ``json.dumps`` (what the live twin pays per tick
beyond building the records), and the dashboard's ``load_snapshot`` of an unchanged file.

    .venv/bin/python bench/bench_live_state.py [--repeat 20]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from bench_dashboard import N_BUILDINGS, _snapshot

from dashboard.data import load_snapshot
from twin.core.live_state import LiveSnapshot
from twin.core.store import write_json_atomic


def _median_ms(work: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000.0


def main() -> None:
    """Print the timings, one line each."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    boundaries = [f"b{i:03d}" for i in range(1, N_BUILDINGS + 1)] + ["substation"]
    data = json.loads(json.dumps(_snapshot(boundaries, 1_750_000_000)))
    text = json.dumps(data)
    snapshot = LiveSnapshot.from_json(data)
    with tempfile.TemporaryDirectory() as folder:
        store = Path(folder)
        write_json_atomic(store / "snapshot.json", data)
        load_snapshot(store)
        rows = {
            "json.loads": _median_ms(lambda: json.loads(text), args.repeat),
            "json.loads + from_json": _median_ms(lambda: LiveSnapshot.from_json(json.loads(text)), args.repeat),
            "to_json + json.dumps": _median_ms(lambda: json.dumps(snapshot.to_json()), args.repeat),
            "load_snapshot, unchanged file": _median_ms(lambda: load_snapshot(store), args.repeat),
        }
    print(f"snapshot: {len(text):,} bytes, {len(snapshot.devices)} devices, {len(snapshot.balance)} boundaries")
    for name, ms in rows.items():
        print(f"{name:32s} {ms:8.2f} ms")


if __name__ == "__main__":
    main()
