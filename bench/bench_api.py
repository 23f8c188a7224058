"""Time the REST API's history reads (targets: p95 under 50 ms for a day, under 500 ms for a year).

A store with a year of 15-minute values of 200 channels (a district's flows and balances), the
dashboard's Flask app with its login, and N requests of one boundary's import for a day and for
the whole year (15-minute and daily resolution), through Flask's test client (no network).

    .venv/bin/python bench/bench_api.py [--requests 50]
"""

from __future__ import annotations

import argparse
import base64
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from dashboard import create_app
from twin.core.store import MeanTable

USER, PASSWORD = "manager", "bench-password"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        store = root / "live"
        times = pd.date_range("2025-01-01", "2026-01-01", freq="15min", inclusive="left", tz="UTC")
        t_s = (times.asi8 // 10**9).astype(np.int64)
        rng = np.random.default_rng(0)
        values = {f"flow:b{i:03d}/import_kwh": rng.random(t_s.size) for i in range(100)}
        values.update({f"balance:b{i:03d}/p_grid_kw": rng.random(t_s.size) for i in range(100)})
        values["flow:substation/import_kwh"] = rng.random(t_s.size)
        store.mkdir(parents=True)
        for start in range(0, t_s.size, 96 * 30):  # a month per append, as a back-fill writes it
            chunk = slice(start, start + 96 * 30)
            MeanTable(store, "15min", writable=True).append(t_s[chunk], {k: v[chunk] for k, v in values.items()})
        client = create_app(root, credentials={USER: PASSWORD}).server.test_client()
        headers = {"Authorization": "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()}
        cases = {
            "a day, 15 min": {"from": "2025-06-01T00:00Z", "to": "2025-06-02T00:00Z", "resolution": "15min"},
            "a year, 15 min": {"from": "2025-01-01T00:00Z", "to": "2026-01-01T00:00Z", "resolution": "15min"},
            "a year, daily": {"from": "2025-01-01T00:00Z", "to": "2026-01-01T00:00Z", "resolution": "1d"},
        }
        for name, query in cases.items():
            seconds = []
            for _ in range(args.requests):
                start_time = time.perf_counter()
                response = client.get(
                    "/api/v1/history", query_string={**query, "channel": "flow:substation/import_kwh"}, headers=headers
                )
                seconds.append(time.perf_counter() - start_time)
                assert response.status_code == 200, response.get_data(as_text=True)
            ms = np.array(seconds) * 1000
            median, p95 = np.median(ms), np.percentile(ms, 95)
            print(f"{name:<16} median {median:6.1f} ms, p95 {p95:6.1f} ms ({args.requests} requests)")


if __name__ == "__main__":
    main()
