"""Time every dashboard callback on a year of 15-minute data for the whole district (DESIGN.md section 8).

Builds, in a temporary data root (or ``--keep DIR``):

* a state store like ``twin live`` leaves after a year: the 15-minute table with every channel
  of the Beucha field (107 boundaries x balance and flow terms, ~480 devices x their quantities:
  ~3,200 channels x 35,040 rows) and a week of the 1-minute table (all balance channels);
* a snapshot of 107 boundaries and ~480 devices with the ``grid`` and ``controller`` keys;
* three year-long scenario results at output level ``grid`` (111 buses, 110 branches,
  35,040 steps, ``result.nc`` float32 and zlib like the runner's) with a ``net.json``;
  or pass ``--results DIR`` to use real ones (``twin scenario run ... --out DIR``).

Then each callback's function is timed cold (first call: file reads) and warm (median of
``--repeat`` calls, cache hits where the data did not change), and through the server
(``POST /_dash-update-component`` with the login: JSON and compression included). With
Debian's chromium, each page is also loaded in headless Chromium until its main figure is drawn.

    .venv/bin/python bench/bench_dashboard.py [--repeat 5] [--results DIR] [--no-browser]
"""

from __future__ import annotations

import argparse
import base64
import json
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from dashboard import create_app
from dashboard.data import DashboardConfig, DataCache
from dashboard.pages import buildings, grid, live, scenarios, year
from twin.core.store import MeanTable, read_table, write_json_atomic

USERS = {"bench": "bench"}
YEAR = 2025
N_BUILDINGS = 106
N_DEVICES = 480
N_BUSES = 111
BALANCE = ("p_grid_kw", "p_pv_kw", "p_battery_kw", "p_heat_pump_kw", "p_ev_kw", "p_load_kw")
FLOWS = ("import_kwh", "export_kwh", "load_kwh", "generation_kwh", "fuel_kwh")
QUANTITIES = ("p_kw", "energy_import_kwh", "energy_export_kwh", "v_l1_v", "frequency_hz")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--results", type=Path, help="Folder of real scenario results to use.")
    parser.add_argument("--keep", type=Path, help="Build the data here and keep it.")
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-dashboard-"))
    try:
        t0 = time.perf_counter()
        store = build_store(root / "live")
        results = args.results or build_results(root / "scenarios")
        print(f"data: store and results built in {time.perf_counter() - t0:.1f} s under {root}")
        run(root, store, results, repeat=args.repeat, browser=not args.no_browser)
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


def run(root: Path, store: Path, results: Path, *, repeat: int, browser: bool) -> None:
    config = DashboardConfig(root, store, results)
    names = sorted(p.parent.name for p in results.glob("*/kpis.json"))
    worst = names[0]
    cases: dict[str, Callable[[DataCache], Any]] = {
        "live": lambda c: live.live_view(config, c),
        "buildings (b001)": lambda c: buildings.building_view("b001", config, c),
        "buildings options": lambda c: buildings.building_options(config, c),
        "year": lambda c: year.year_view(config, c),
        "grid live": lambda c: grid.grid_view(grid.LIVE, 0, config, c),
        f"grid {worst} step": lambda c: grid.grid_view(worst, 20_000, config, c),
        f"grid {worst} highest loading": lambda c: grid.special_step("loading", worst, config, c),
        f"scenarios compare {len(names)}": lambda c: scenarios.comparison_view(names, config, c),
    }
    print(f"\ncallback functions (year of 15-min data, {len(names)} results); target < 200 ms warm")
    print(f"{'callback':<34} {'cold [ms]':>10} {'warm [ms]':>10}")
    cache = DataCache()
    for label, case in cases.items():
        cold = _ms(lambda case=case: case(cache))
        warm = statistics.median(_ms(lambda case=case: case(cache)) for _ in range(repeat))
        print(f"{label:<34} {cold:>10.0f} {warm:>10.0f}")
    print("\nafter the live twin committed a new quarter-hour and minute (the readers read only new rows)")
    for label in ("live", "buildings (b001)", "year"):
        _append_rows(store)
        print(f"{label:<34} {_ms(lambda label=label: cases[label](cache)):>10.0f} ms")
    app = create_app(root, store_dir=store, results_dir=results, credentials=USERS)
    client = app.server.test_client()
    headers = {"Authorization": "Basic " + base64.b64encode(b"bench:bench").decode(), "Accept-Encoding": "gzip, br"}
    print("\nthrough the server (POST /_dash-update-component, login, JSON, compression); warm median")
    print(f"{'callback':<34} {'time [ms]':>10} {'response [kB]':>14}")
    for label, body in _requests(names).items():
        client.post("/_dash-update-component", json=body, headers=headers)
        times, size = [], 0
        for _ in range(repeat):
            start = time.perf_counter()
            response = client.post("/_dash-update-component", json=body, headers=headers)
            times.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200, (label, response.status_code, response.get_data(as_text=True)[:300])
            size = len(response.data)
        print(f"{label:<34} {statistics.median(times):>10.0f} {size / 1024:>14.0f}")
    if browser and Path("/usr/bin/chromium").exists():
        _browser_page_loads(app)


def _append_rows(store: Path) -> None:
    """One more row in each table, as ``twin live`` appends them."""
    for name, step in (("15min", 900), ("1min", 60)):
        table = MeanTable(store, name, writable=True)
        last = int(
            np.asarray(
                read_table(store, name, start_row=table.rows - 1)["time"]
                .values.astype("datetime64[s]")
                .astype(np.int64)
            )[-1]
        )
        channels = [
            c for c in table.channels if c.startswith(("balance:substation", "flow:substation", "balance:b001"))
        ]
        table.append([last + step], {c: [1.0] for c in channels})


def build_store(store: Path) -> Path:
    """A year of the 15-minute table with the field's channel count, a week of 1-minute rows, a snapshot."""
    boundaries = ["substation"] + [f"b{i:03d}" for i in range(1, N_BUILDINGS + 1)]
    channels = [f"balance:{b}/{t}" for b in boundaries for t in BALANCE]
    channels += [f"flow:{b}/{f}" for b in boundaries for f in FLOWS]
    channels += [f"b{i % N_BUILDINGS + 1:03d}/dev{i}/{q}" for i in range(N_DEVICES) for q in QUANTITIES]
    times = pd.date_range(f"{YEAR}-01-01", f"{YEAR + 1}-01-01", freq="15min", inclusive="left", tz="Europe/Berlin")
    t_s = times.tz_convert("UTC").asi8 // 10**9
    hours = np.asarray(times.hour + times.minute / 60.0)
    doy = np.asarray(times.dayofyear)
    sun = np.clip(np.sin((hours - 6) / 12 * np.pi), 0, None) * (0.6 + 0.4 * np.sin((doy - 80) / 365 * 2 * np.pi))
    heat = 1.0 + 0.8 * np.cos((doy - 15) / 365 * 2 * np.pi)
    rng = np.random.default_rng(0)
    table = MeanTable(store, "15min", writable=True)
    day = 96 * 7
    for start in range(0, t_s.size, day):
        rows = slice(start, min(start + day, t_s.size))
        n = rows.stop - rows.start
        values: dict[str, np.ndarray] = {}
        for b in boundaries:
            scale = 100.0 if b == "substation" else 1.0
            pv = -4.0 * scale * sun[rows]
            load = scale * (0.6 + 0.3 * rng.random(n)) * heat[rows]
            p_grid_kw = load + pv
            values.update(
                {
                    f"balance:{b}/p_grid_kw": p_grid_kw,
                    f"balance:{b}/p_pv_kw": pv,
                    f"balance:{b}/p_load_kw": load,
                    f"balance:{b}/p_heat_pump_kw": 0.2 * scale * heat[rows],
                    f"balance:{b}/p_ev_kw": np.zeros(n),
                    f"balance:{b}/p_battery_kw": np.zeros(n),
                    f"flow:{b}/import_kwh": np.clip(p_grid_kw, 0, None) / 4,
                    f"flow:{b}/export_kwh": np.clip(-p_grid_kw, 0, None) / 4,
                    f"flow:{b}/load_kwh": load / 4,
                    f"flow:{b}/generation_kwh": -pv / 4,
                    f"flow:{b}/fuel_kwh": 3.0 * scale * heat[rows] / 4,
                }
            )
        for channel in channels[len(values) :]:
            values[channel] = np.round(rng.random(n) * 10, 2)
        table.append(t_s[rows], values)
    end = t_s[-1] + 900
    minutes = np.arange(end - 7 * 86400, end, 60)
    balance = [c for c in channels if c.startswith("balance:")]
    minute_table = MeanTable(store, "1min", writable=True)
    for start in range(0, minutes.size, 1440):
        block = minutes[start : start + 1440]
        minute_table.append(block, {c: np.round(rng.random(block.size) * 10, 2) for c in balance})
    write_json_atomic(store / "snapshot.json", _snapshot(boundaries, end))
    return store


def build_results(results: Path) -> Path:
    """Three year-long results at output level ``grid`` (111 buses, 110 branches)."""
    time_index = pd.date_range(f"{YEAR}-01-01", periods=35_040, freq="15min")
    rng = np.random.default_rng(1)
    branches = [f"line {i}" for i in range(N_BUSES - 2)] + ["trafo 0"]
    for k, name in enumerate(("baseline", "pv_all_roofs", "energy_neutral")):
        folder = results / name
        folder.mkdir(parents=True, exist_ok=True)
        p_grid = 80 + 60 * np.sin(np.arange(35_040) / 96 * 2 * np.pi) - 100 * k * rng.random(35_040)
        vm = (1.0 + 0.02 * rng.standard_normal((35_040, N_BUSES))).astype("float32")
        loading = (40 * rng.random((35_040, len(branches)))).astype("float32")
        ds = xr.Dataset(
            {
                "p_grid_kw": ("time", p_grid.astype("float32"), {"units": "kW"}),
                "p_loss_kw": ("time", np.full(35_040, 2.0, dtype="float32"), {"units": "kW"}),
                "vm_pu": (("time", "bus"), vm, {"units": "1"}),
                "loading_percent": (("time", "branch"), loading, {"units": "%"}),
                "p_bus_kw": (("time", "bus"), vm * 3, {"units": "kW"}),
            },
            coords={"time": time_index, "bus": np.arange(N_BUSES), "branch": branches},
        )
        encoding = {v: {"zlib": True, "complevel": 4, "shuffle": True} for v in ds.data_vars}
        ds.to_netcdf(folder / "result.nc", engine="netcdf4", encoding=encoding)
        kpis = {"scenario": name, "description": f"bench {name}", "fuel_kwh": 3.3e6 / (k + 1), "import_kwh": 7e5}
        (folder / "kpis.json").write_text(json.dumps(kpis), encoding="utf-8")
        (folder / "net.json").write_text(json.dumps(_net_json()), encoding="utf-8")
    return results


def _snapshot(boundaries: list[str], end_s: int) -> dict[str, Any]:
    now = pd.Timestamp(end_s - 60, unit="s", tz="UTC").isoformat()
    devices = {
        f"b{i % N_BUILDINGS + 1:03d}/dev{i}": {
            "kind": "building_meter",
            "building": f"b{i % N_BUILDINGS + 1:03d}",
            "ok": i % 97 != 0,
            "error": None if i % 97 else "timeout",
            "values": {q: 1.0 for q in QUANTITIES},
            "quality": {q: "ok" for q in QUANTITIES},
            "read_utc": now,
        }
        for i in range(N_DEVICES)
    }
    kpi = {"self_sufficiency_frac": 0.4, "self_consumption_frac": 0.9, "import_kwh": 100.0, "export_kwh": 10.0}
    bus_xy = _bus_xy()
    return {
        "version": 2,
        "site": "bench",
        "written_utc": pd.Timestamp.now(tz="UTC").isoformat(),
        "sim_time_utc": now,
        "devices_total": N_DEVICES,
        "devices_ok": sum(d["ok"] for d in devices.values()),
        "failing": [name for name, d in devices.items() if not d["ok"]],
        "devices": devices,
        "balance": {b: {t: 1.0 for t in BALANCE} for b in boundaries},
        "kpis": {"today": {b: kpi for b in boundaries}, "year": {b: kpi for b in boundaries}},
        "grid": {
            "sim_time_utc": now,
            "converged": True,
            "trafo_loading_max_percent": 50.0,
            "vm_min_pu": 0.98,
            "vm_max_pu": 1.03,
            "buses": {str(i): {"name": f"bus {i}", "vm_pu": 1.0, "x": x, "y": y} for i, (x, y) in enumerate(bus_xy)},
            "branches": {
                f"line {i}": {"kind": "line", "from_bus": i + 1, "to_bus": i + 2, "loading_percent": 30.0}
                for i in range(N_BUSES - 2)
            }
            | {"trafo 0": {"kind": "trafo", "from_bus": 0, "to_bus": 1, "loading_percent": 50.0}},
        },
        "controller": {"signal": "normal", "since_utc": now},
    }


def _bus_xy() -> list[tuple[float, float]]:
    return [(12.56 + 0.0004 * (i % 12), 51.32 + 0.0003 * (i // 12)) for i in range(N_BUSES)]


def _net_json() -> dict[str, Any]:
    def table(columns: list[str], rows: list[list[Any]]) -> dict[str, Any]:
        body = json.dumps({"columns": columns, "index": list(range(len(rows))), "data": rows})
        return {"_module": "pandas.core.frame", "_class": "DataFrame", "_object": body, "orient": "split"}

    geo = [json.dumps({"type": "Point", "coordinates": [x, y]}) for x, y in _bus_xy()]
    return {
        "_object": {
            "bus": table(["name", "geo"], [[f"bus {i}", g] for i, g in enumerate(geo)]),
            "line": table(["from_bus", "to_bus"], [[i + 1, i + 2] for i in range(N_BUSES - 2)]),
            "trafo": table(["hv_bus", "lv_bus"], [[0, 1]]),
            "load": table(
                ["name", "bus"], [[f"b{i:03d}/load", 2 + i % (N_BUSES - 2)] for i in range(1, N_BUILDINGS + 1)]
            ),
        }
    }


def _requests(names: list[str]) -> dict[str, dict[str, Any]]:
    def body(outputs: list[tuple[str, str]], inputs: list[tuple[str, str, Any]], state=()) -> dict[str, Any]:
        return {
            "output": ".." + "...".join(f"{i}.{p}" for i, p in outputs) + ".."
            if len(outputs) > 1
            else "{}.{}".format(*outputs[0]),
            "outputs": [{"id": i, "property": p} for i, p in outputs]
            if len(outputs) > 1
            else {"id": outputs[0][0], "property": outputs[0][1]},
            "inputs": [{"id": i, "property": p, "value": v} for i, p, v in inputs],
            "changedPropIds": [f"{inputs[0][0]}.{inputs[0][1]}"],
            "state": [{"id": i, "property": p, "value": v} for i, p, v in state],
        }

    return {
        **{
            f"live, {period}": body(
                [("live-status", "children"), ("live-alerts", "children"), ("live-tiles", "children"),
                 ("live-health", "children"), ("live-sankey", "figure"), ("live-history", "figure"),
                 ("live-downloads", "children")],
                [("live-interval", "n_intervals", 1), ("live-period", "value", period), ("live-until", "date", None)],
            )
            for period in ("day", "year")
        },
        **{
            f"buildings, {period}": body(
                [("building-tiles", "children"), ("building-devices", "children"), ("building-balance", "figure"),
                 ("building-map", "figure"), ("building-history", "figure"), ("building-downloads", "children")],
                [("building-select", "value", "b001"), ("building-interval", "n_intervals", 1),
                 ("building-period", "value", period), ("building-until", "date", None)],
            )
            for period in ("day", "year")
        },
        "year": body(
            [("year-tiles", "children"), ("year-cumulative", "figure"), ("year-monthly", "figure")],
            [("year-interval", "n_intervals", 1)],
        ),
        f"grid {names[0]} step": body(
            [("grid-map", "figure"), ("grid-summary", "children")],
            [("grid-source", "value", names[0]), ("grid-step", "value", 20_000), ("grid-interval", "n_intervals", 1)],
        ),
        "scenarios compare": body(
            [("scenario-kpis", "children"), ("scenario-monthly", "figure"), ("scenario-duration", "figure"),
             ("scenario-downloads", "children")],
            [("scenario-select", "value", names)],
        ),
    }  # fmt: skip


def _browser_page_loads(app: Any) -> None:
    import logging

    from playwright.sync_api import sync_playwright
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = make_server("127.0.0.1", 0, app.server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    pages = {"/": "#live-history", "/buildings": "#building-map", "/year": "#year-cumulative", "/grid": "#grid-map",
             "/scenarios": "#scenario-duration"}  # fmt: skip
    print("\npage load in headless Chromium until the main figure is drawn (second load; first in brackets)")
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path="/usr/bin/chromium", args=["--headless", "--no-sandbox", "--disable-gpu"]
            )
            context = browser.new_context(http_credentials={"username": "bench", "password": "bench"})
            page = context.new_page()
            for path, selector in pages.items():
                loads = []
                for _ in range(2):
                    start = time.perf_counter()
                    page.goto(base + path)
                    page.wait_for_selector(f"{selector} .main-svg .trace, {selector} .main-svg .scatterlayer .trace",
                                           timeout=30_000)  # fmt: skip
                    loads.append((time.perf_counter() - start) * 1000)
                print(f"  {path:<12} {loads[1]:>6.0f} ms  ({loads[0]:.0f} ms)")
            browser.close()
    finally:
        server.shutdown()
        thread.join(5)


def _ms(function: Callable[[], Any]) -> float:
    start = time.perf_counter()
    function()
    return (time.perf_counter() - start) * 1000


if __name__ == "__main__":
    main()
