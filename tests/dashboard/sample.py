"""Small sample data for the dashboard tests: a live store and two scenario results.

The store has a snapshot of three buildings (one device failing), the 15-minute flows of
the substation and b1 for the first days of June, balance rows of the last day, and the
grid and controller keys of the snapshot. The results hold two days at 15 minutes on a
four-bus grid (net.json in pandapower's JSON layout).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from twin.core.store import MeanTable, write_json_atomic

SIM_TIME = pd.Timestamp("2025-06-03T10:00:00Z")
BUILDINGS = ("b1", "b2", "b3")
BUSES = {
    0: ("trafo hv", 12.50, 51.330),
    1: ("busbar", 12.50, 51.329),
    2: ("bus b1", 12.501, 51.328),
    3: ("bus b2", 12.499, 51.328),
}
BRANCHES = {"line 0": ("line", 1, 2), "line 1": ("line", 1, 3), "trafo 0": ("trafo", 0, 1)}
BUILDING_BUS = {"b1": 2, "b2": 3, "b3": 3}


#: The controller section's signals per feeder: feeder 1 blocks for the transformer, the busbar's building is free.
FEEDERS: list[dict[str, Any]] = [
    {
        "feeder_number": 1,
        "signal": "block",
        "signal_code": 1,
        "reasons": ["transformer"],
        "relief_kw": 12.5,
        "buildings": 7,
        "limited": 3,
        "limit_min_kw": 4.2,
    },
    {
        "feeder_number": 0,
        "signal": "normal",
        "signal_code": 2,
        "reasons": [],
        "relief_kw": 0.0,
        "buildings": 1,
        "limited": 0,
        "limit_min_kw": None,
    },
]


def snapshot(
    *,
    p_grid_kw: float = 12.5,
    trafo_percent: float = 40.0,
    vm_min_pu: float = 0.98,
    feeders: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A live snapshot as ``twin live`` writes it, with the ``grid`` and ``controller`` keys.

    ``feeders``: the controller section's signals per feeder (none without).
    """
    balance = {
        b: {
            "p_grid_kw": 2.0 + i,
            "p_pv_kw": -1.0,
            "p_battery_kw": 0.5,
            "p_heat_pump_kw": 1.0,
            "p_ev_kw": 0.0,
            "p_load_kw": 1.5 + i,
        }
        for i, b in enumerate(BUILDINGS)
    }
    balance["substation"] = {
        "p_grid_kw": p_grid_kw,
        "p_pv_kw": -8.0,
        "p_battery_kw": 1.5,  # as the live balance has it: the home batteries only (3 x 0.5)
        "p_community_battery_kw": -2.0,
        "p_heat_pump_kw": 3.0,
        "p_ev_kw": 4.0,
        "p_load_kw": 13.5,
        "p_loss_kw": 0.5,
        "quality": 0,
    }
    devices = {
        f"{b}/meter": {
            "kind": "building_meter",
            "building": b,
            "ok": True,
            "error": None,
            "values": {"p_meter_kw": 2.0, "energy_import_kwh": 1000.0},
            "quality": {"p_meter_kw": "ok"},
            "read_utc": "2025-06-03T09:59:59Z",
        }
        for b in BUILDINGS
    }
    devices["b2/pv0"] = {
        "kind": "pv_inverter",
        "building": "b2",
        "ok": False,
        "error": "timeout",
        "values": {"p_kw": None},
        "quality": {"p_kw": "stale"},
        "read_utc": "2025-06-03T09:40:00Z",
    }
    kpi = {"self_sufficiency_frac": 0.42, "self_consumption_frac": 0.87, "import_kwh": 50.0, "export_kwh": 5.0}
    return {
        "version": 2,
        "site": "sample site",
        "written_utc": pd.Timestamp.now(tz="UTC").isoformat(),
        "sim_time_utc": SIM_TIME.isoformat(),
        "devices_total": len(devices),
        "devices_ok": len(devices) - 1,
        "failing": ["b2/pv0"],
        "devices": devices,
        "balance": balance,
        "kpis": {
            "today": {"substation": kpi, "b1": kpi},
            "year": {"b1": {"energy_balance_kwh": 321.0, "fuel_kwh": 99.0}},
        },
        "grid": {
            "sim_time_utc": SIM_TIME.isoformat(),
            "converged": True,
            "p_loss_kw": 0.5,
            "trafo_loading_max_percent": trafo_percent,
            "line_loading_max_percent": 30.0,
            "vm_min_pu": vm_min_pu,
            "vm_max_pu": 1.02,
            "buses": {str(i): {"name": n, "vm_pu": 1.0 - 0.01 * i, "x": x, "y": y} for i, (n, x, y) in BUSES.items()},
            "branches": {
                k: {
                    "kind": kind,
                    "from_bus": f,
                    "to_bus": t,
                    "loading_percent": trafo_percent if kind == "trafo" else 30.0,
                }
                for k, (kind, f, t) in BRANCHES.items()
            },
        },
        "controller": {
            "signal": "surplus",
            "signal_code": 3,
            "since_utc": "2025-06-03T09:30:00Z",
            "reasons": ["PV surplus"],
            "limit_14a_kw": 4.2,
            "quality": "ok",
            "writes": [],
            **({"feeders": feeders} if feeders else {}),
        },
    }


def write_store(store: Path, snap: dict[str, Any] | None = None) -> Path:
    """A store with the snapshot, 15-minute flows (1 to 3 June) and 1-minute balance rows (last 2 h)."""
    store.mkdir(parents=True, exist_ok=True)
    write_json_atomic(store / "snapshot.json", snap or snapshot())
    start = pd.Timestamp("2025-05-31T22:00:00Z")  # 1 June 00:00 in Berlin
    times = pd.date_range(start, SIM_TIME, freq="15min", inclusive="left")
    t_s = (times.asi8 // 10**9).astype(np.int64)
    n = t_s.size
    values: dict[str, np.ndarray] = {}
    for boundary in ("substation", "b1"):
        values[f"flow:{boundary}/import_kwh"] = np.full(n, 2.0)
        values[f"flow:{boundary}/export_kwh"] = np.full(n, 0.5)
        values[f"flow:{boundary}/load_kwh"] = np.full(n, 3.0)
        values[f"flow:{boundary}/generation_kwh"] = np.full(n, 1.5)
        values[f"flow:{boundary}/fuel_kwh"] = np.full(n, 1.0)
        values[f"balance:{boundary}/p_grid_kw"] = np.full(n, 6.0)
        values[f"balance:{boundary}/p_pv_kw"] = -np.linspace(0, 5, n)
        values[f"balance:{boundary}/p_load_kw"] = np.full(n, 8.0)
    MeanTable(store, "15min", writable=True).append(t_s, values)
    minutes = pd.date_range(SIM_TIME - pd.Timedelta(hours=2), SIM_TIME, freq="1min", inclusive="left")
    m_s = (minutes.asi8 // 10**9).astype(np.int64)
    MeanTable(store, "1min", writable=True).append(
        m_s,
        {
            "balance:substation/p_grid_kw": np.full(m_s.size, 5.0),
            "balance:substation/p_pv_kw": np.full(m_s.size, -4.0),
            "balance:substation/p_load_kw": np.full(m_s.size, 9.0),
            "balance:substation/p_battery_kw": np.where(np.arange(m_s.size) % 2, 1.0, -1.0),
        },
    )
    return store


def write_result(
    results: Path, name: str, *, scale: float = 1.0, trafo_peak_step: int = 40, start: str = "2025-01-01"
) -> Path:
    """A result folder: result.nc (two days at 15 min, 4 buses, 3 branches), kpis.json, net.json."""
    folder = results / name
    folder.mkdir(parents=True, exist_ok=True)
    time = pd.date_range(start, periods=192, freq="15min")
    rng = np.random.default_rng(7)
    p_grid = scale * (20.0 * np.sin(np.arange(192) / 96 * 2 * np.pi) + rng.normal(0, 2, 192))
    vm = 1.0 + 0.01 * rng.standard_normal((192, 4))
    vm[10, 3] = 0.93  # the lowest voltage
    vm[20, 2] = 1.07  # the highest
    loading = 30.0 + rng.random((192, 3)) * 10
    loading[trafo_peak_step, 2] = 105.0
    ds = xr.Dataset(
        {
            "p_grid_kw": ("time", p_grid.astype("float32"), {"units": "kW"}),
            "p_loss_kw": ("time", np.full(192, 0.3, dtype="float32"), {"units": "kW"}),
            "vm_pu": (("time", "bus"), vm.astype("float32"), {"units": "1"}),
            "loading_percent": (("time", "branch"), loading.astype("float32"), {"units": "%"}),
        },
        coords={"time": time, "bus": list(BUSES), "branch": list(BRANCHES)},
        attrs={"source": "scenario", "scenario": name},
    )
    ds.to_netcdf(folder / "result.nc")
    kpis = {
        "scenario": name,
        "description": f"sample {name}",
        "import_kwh": 1000.0 * scale,
        "export_kwh": 100.0,
        "fuel_kwh": 480.0,
        "energy_balance_kwh": 1380.0 * scale,
        "self_sufficiency_frac": 0.3,
        "trafo_loading_max_percent": 105.0,
        "vm_min_pu": 0.93,
    }
    (folder / "kpis.json").write_text(json.dumps(kpis), encoding="utf-8")
    (folder / "net.json").write_text(json.dumps(net_json()), encoding="utf-8")
    return folder


def net_json() -> dict[str, Any]:
    """A pandapower-style JSON net: tables as split-oriented frames inside ``_object`` strings."""

    def table(columns: list[str], index: list[int], data: list[list[Any]]) -> dict[str, Any]:
        body = json.dumps({"columns": columns, "index": index, "data": data})
        return {"_module": "pandas.core.frame", "_class": "DataFrame", "_object": body, "orient": "split"}

    bus = table(
        ["name", "vn_kv", "geo"],
        list(BUSES),
        [[n, 0.4, json.dumps({"type": "Point", "coordinates": [x, y]})] for n, x, y in BUSES.values()],
    )
    lines = {k: v for k, v in BRANCHES.items() if v[0] == "line"}
    line = table(
        ["name", "from_bus", "to_bus"],
        [int(k.split()[1]) for k in lines],
        [[k, f, t] for k, (_, f, t) in lines.items()],
    )
    trafo = table(["name", "hv_bus", "lv_bus"], [0], [["trafo", 0, 1]])
    load = table(["name", "bus", "p_mw"], [0, 1, 2], [[f"{b}/load", bus_i, 0.0] for b, bus_i in BUILDING_BUS.items()])
    return {
        "_module": "pandapower.auxiliary",
        "_class": "pandapowerNet",
        "_object": {"bus": bus, "line": line, "trafo": trafo, "load": load},
    }


def write_all(root: Path) -> tuple[Path, Path]:
    """Store under ``root/live`` and results ``baseline`` and ``more_pv`` under ``root/scenarios``."""
    store = write_store(root / "live")
    write_result(root / "scenarios", "baseline")
    write_result(root / "scenarios", "more_pv", scale=-0.5, trafo_peak_step=60)
    return store, root / "scenarios"
