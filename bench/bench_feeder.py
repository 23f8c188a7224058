"""Signals per feeder: what one step costs, and how close the sensitivities come to pandapower.

On the built-in Beucha grid (6 feeders, 106 buildings) and SimBench LV grids: the time to find
the feeders and to compute the sensitivities, the cost of one :meth:`FeederSignals.update` in a
calm step and in a step where every feeder blocks (limits from the sensitivities), and the worst
error of the sensitivities against pandapower's own power flow for every building moved up by
``--dp`` kW at the default operating point (80 % of the transformer's rating).

    .venv/bin/python bench/bench_feeder.py [--codes 1-LV-rural3--0-sw 1-LV-urban6--0-sw] [--dp 5]
"""

from __future__ import annotations

import argparse
import copy
import time
from typing import Any

import numpy as np
import pandapower as pp

from models.control.feeder import FeederMap, FeederSignals, sensitivities
from models.district import load_district
from models.grid_source import load_simbench_net


def _per_call_us(signals: FeederSignals, n: int, **grid: Any) -> float:
    signals.update(0.0, **grid)
    started = time.perf_counter()
    for t in range(1, n + 1):
        signals.update(900.0 * t, **grid)
    return (time.perf_counter() - started) / n * 1e6


def _against_pandapower(net: Any, building_bus: np.ndarray, dp_kw: float) -> dict[str, float]:
    """Largest relative error of trafo, line and voltage changes over every building bus."""
    net = copy.deepcopy(net)
    for table in ("load", "sgen", "storage"):
        net[table] = net[table].iloc[0:0]
    position = {int(b): i for i, b in enumerate(net.bus.index)}
    s_rated_kva = float(net.trafo["sn_mva"].sum() * 1000.0)
    p_kw = np.zeros(len(net.bus))
    np.add.at(p_kw, [position[int(b)] for b in building_bus], 0.8 * s_rated_kva * 0.95 / len(building_bus))
    q_kvar = p_kw * np.tan(np.arccos(0.95))
    sens = sensitivities(net, building_bus, p_bus_kw=p_kw, q_bus_kvar=q_kvar)
    loads = pp.create_loads(net, buses=net.bus.index, p_mw=p_kw / 1000.0, q_mvar=q_kvar / 1000.0)
    pp.runpp(net, numba=False)
    base = (
        net.res_trafo["loading_percent"].max(),
        net.res_line["loading_percent"].to_numpy(),
        net.res_bus["vm_pu"].to_numpy(),
    )
    worst = {"trafo": 0.0, "line": 0.0, "vm": 0.0}
    for b, bus in enumerate(building_bus):
        load = loads[position[int(bus)]]
        net.load.at[load, "p_mw"] += dp_kw / 1000.0
        pp.runpp(net, numba=False)
        net.load.at[load, "p_mw"] -= dp_kw / 1000.0
        d_trafo = net.res_trafo["loading_percent"].max() - base[0]
        d_line = net.res_line["loading_percent"].to_numpy() - base[1]
        d_vm = net.res_bus["vm_pu"].to_numpy() - base[2]
        worst["trafo"] = max(worst["trafo"], abs(dp_kw * sens.trafo_percent_per_kw[b] - d_trafo) / abs(d_trafo))
        worst["line"] = max(
            worst["line"], np.abs(dp_kw * sens.line_percent_per_kw[:, b] - d_line).max() / np.abs(d_line).max()
        )
        worst["vm"] = max(worst["vm"], np.abs(dp_kw * sens.vm_pu_per_kw[:, b] - d_vm).max() / np.abs(d_vm).max())
    return worst


def _grid(name: str, net: Any, building_bus: np.ndarray, dp_kw: float, n: int) -> None:
    started = time.perf_counter()
    fmap = FeederMap.from_net(net)
    map_ms = (time.perf_counter() - started) * 1000.0
    started = time.perf_counter()
    sens = sensitivities(net, building_bus)
    sens_s = time.perf_counter() - started
    signals = FeederSignals(fmap, building_bus, sens=sens)
    calm = {
        "trafo_loading_percent": 50.0,
        "line_loading_percent": np.full(len(net.line), 30.0),
        "vm_pu": np.full(len(net.bus), 0.99),
        "p_grid_kw": 300.0,
    }
    calm_us = _per_call_us(signals, n, **calm)
    stressed = calm | {"trafo_loading_percent": 99.0, "p_controllable_kw": np.full(len(building_bus), 9.0)}
    stressed_us = _per_call_us(FeederSignals(fmap, building_bus, sens=sens), n, **stressed)
    worst = _against_pandapower(net, building_bus, dp_kw)
    print(
        f"{name:22s} {len(net.bus):4d} buses {fmap.n_feeders:2d} feeders {len(building_bus):4d} buildings | "
        f"map {map_ms:6.1f} ms, sensitivities {sens_s:5.2f} s | update calm {calm_us:6.1f} us, "
        f"all blocked {stressed_us:7.1f} us | vs pandapower ({dp_kw:g} kW): trafo {worst['trafo']:.2%}, "
        f"lines {worst['line']:.2%}, voltages {worst['vm']:.2%}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--codes", nargs="*", default=["1-LV-rural1--0-sw", "1-LV-rural3--0-sw", "1-LV-urban6--0-sw"])
    parser.add_argument("--dp", type=float, default=5.0, help="kW each building is moved up by in pandapower")
    parser.add_argument("--calls", type=int, default=5000)
    args = parser.parse_args()
    beucha = load_district("beucha")
    index = dict(zip(beucha.net.bus["name"].astype(str), beucha.net.bus.index, strict=True))
    buses = np.array([index[b.bus] for b in beucha.district.buildings], dtype=np.int64)
    _grid("beucha", beucha.net, buses, args.dp, args.calls)
    for code in args.codes:
        net = load_simbench_net(code)
        _grid(code, net, np.asarray(sorted(net.load["bus"].unique()), dtype=np.int64), args.dp, args.calls)


if __name__ == "__main__":
    main()
