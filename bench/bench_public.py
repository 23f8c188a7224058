"""Time the public page in headless Chromium on a year of 15-minute data (target: drawn in under 1.5 s).

A store with a year of the substation's 15-minute flows (and 200 other channels), the sample
snapshot, 316 households; the dashboard served by werkzeug on a free port. Each load opens
``/public/`` in a fresh browser context (empty cache, no login) and reads the page's own
``performance.now()`` once the year chart is drawn. The first load includes the server's first
read of the year.

    .venv/bin/python bench/bench_public.py [--loads 10]
"""

from __future__ import annotations

import argparse
import tempfile
import threading
from pathlib import Path

import numpy as np
import pandas as pd
from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

from dashboard import create_app
from tests.dashboard.sample import snapshot
from twin.core.store import MeanTable, write_json_atomic

FLOWS = ("import_kwh", "export_kwh", "load_kwh", "generation_kwh", "fuel_kwh")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loads", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        store = root / "live"
        store.mkdir()
        times = pd.date_range("2025-01-01", "2026-01-01", freq="15min", inclusive="left", tz="UTC")
        t_s = (times.asi8 // 10**9).astype(np.int64)
        rng = np.random.default_rng(0)
        values = {f"flow:substation/{term}": rng.random(t_s.size) for term in FLOWS}
        values.update({f"flow:b{i:03d}/import_kwh": rng.random(t_s.size) for i in range(200)})
        for start in range(0, t_s.size, 96 * 30):
            chunk = slice(start, start + 96 * 30)
            MeanTable(store, "15min", writable=True).append(t_s[chunk], {k: v[chunk] for k, v in values.items()})
        data = snapshot()
        data["sim_time_utc"] = "2025-12-31T12:00:00+00:00"
        write_json_atomic(store / "snapshot.json", data)
        households = {f"b{i:03d}": 3 for i in range(106)}
        app = create_app(root, credentials={"bench": "bench"}, households=households)
        server = make_server("127.0.0.1", 0, app.server, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_port}/public/"
        drawn_ms = []
        with sync_playwright() as playwright:
            chromium = "/usr/bin/chromium"
            browser = playwright.chromium.launch(executable_path=chromium, args=["--headless", "--no-sandbox"])
            for _ in range(args.loads):
                context = browser.new_context(locale="de-DE")
                tab = context.new_page()
                tab.goto(url, wait_until="commit")
                tab.locator("#public-year polyline").first.wait_for(state="visible")
                drawn_ms.append(float(tab.evaluate("performance.now()")))
                context.close()
            browser.close()
        server.shutdown()
        rest = np.array(drawn_ms[1:]) if len(drawn_ms) > 1 else np.array(drawn_ms)
        print(f"public page, first load (cold server): {drawn_ms[0]:6.0f} ms")
        print(f"public page, later loads: median {np.median(rest):6.0f} ms, p95 {np.percentile(rest, 95):6.0f} ms")


if __name__ == "__main__":
    main()
