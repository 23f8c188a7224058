"""Per feeder against district-wide in a closed loop on the power flow: heat pumps everywhere, a car at half the homes.

The scenario's uncontrolled profiles (``heat_pumps`` for every building, ``evs`` at half the
homes with 11 kW chargers) drive a step-by-step loop on Beucha's grid: at each quarter hour
the signals (:class:`models.control.feeder.FeederSignals`) read the power flow of the quarter
hour before; a building whose signal blocks has its heat pump off (SG-Ready block; the heat is
not delivered later, no thermal store here) and its remaining controllable draw (heat pump and
EV charging) cut to its section 14a limit; the step's power flow follows. Compared:

- ``none``: no control;
- ``district``: one district-wide signal, every building blocked and dimmed to 4.2 kW while it
  blocks for grid stress (``per_feeder=False``: the scenarios' year today);
- ``feeder_all``: a signal per feeder, a stressed transformer blocks every feeder, limits only
  as low as needed;
- ``feeder_needed``: the same, but a stressed transformer blocks only as many feeders as its
  relief needs (``transformer_relief="needed"``).

Reactive power: every bus draws ``p tan(arccos(load_cos_phi))`` where it draws (as the live
twin's power flow). Steps where no building is blocked or limited are taken from one batch
power flow of the uncontrolled profiles (the same solver, so the same numbers).

    .venv/bin/python bench/bench_feeder_loop.py [--start 2025-01-01 --end 2025-03-01]
"""

from __future__ import annotations

import argparse
import math
import time
from typing import Any

import numpy as np
import pandas as pd

from models.control.feeder import FeederSignals
from models.powerflow import BatchPowerFlow
from scenarios.config import parse_scenario
from scenarios.runner import compute_scenario, prepare_shared

CHANGES = {"heat_pumps": {"share_frac": 1.0, "sizing": "design"}, "evs": {"share_frac": 0.5, "charger_kw": 11.0}}
STEP_H = 0.25


def _profiles(res: Any) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Per building: the base (everything not controllable), the heat pumps and the EV charging. [kW]"""
    assets = res.assets
    kinds = assets["kind"].values.astype(str)
    building_of = assets["building"].values.astype(str)
    buildings = list(dict.fromkeys(building_of))
    p = assets["p_kw"].values.astype(np.float64)
    out = {name: np.zeros((p.shape[0], len(buildings))) for name in ("base", "hp", "ev")}
    column = {b: i for i, b in enumerate(buildings)}
    for a, kind in enumerate(kinds):
        target = "hp" if kind == "heat_pump" else "ev" if kind == "ev" else "base"
        if kind == "gas_boiler":
            continue
        out[target][:, column[building_of[a]]] += p[:, a]
    bus_of = dict(zip(building_of, assets["bus"].values.astype(str), strict=False))
    return buildings, out["base"], out["hp"], out["ev"], [bus_of[b] for b in buildings]


def _run(variant: str, ctx: dict[str, Any]) -> dict[str, float]:
    flow, columns, n_line = ctx["flow"], ctx["columns"], ctx["n_line"]
    base, hp, ev, tan_phi = ctx["base"], ctx["hp"], ctx["ev"], ctx["tan_phi"]
    n_steps, n_b = hp.shape
    signals = None
    if variant != "none":
        signals = FeederSignals(
            ctx["fmap"],
            ctx["building_bus"],
            sens=None if variant == "district" else ctx["sens"],
            per_feeder=variant != "district",
            transformer_relief="needed" if variant == "feeder_needed" else "all",
        )
    loading, vm = ctx["loading"], ctx["vm"]
    trafo_seen, line_seen, vm_seen = [], [], []
    blocked_kwh = dimmed_kwh = block_building_h = 0.0
    state = np.full(n_b, 2, dtype=np.int8)
    limit = np.full(n_b, np.inf)
    last: tuple[np.ndarray, np.ndarray, float] | None = None
    started = time.perf_counter()
    for t in range(n_steps):
        blocked = state == 1
        hp_t = np.where(blocked, 0.0, hp[t])
        ctrl = np.clip(hp_t, 0, None) + np.clip(ev[t], 0, None)
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(ctrl > limit, limit / ctrl, 1.0)
        drawn = ctrl * share
        blocked_kwh += float(np.clip(hp[t], 0, None)[blocked].sum()) * STEP_H
        dimmed_kwh += float((ctrl - drawn).sum()) * STEP_H
        block_building_h += float(blocked.sum()) * STEP_H
        if blocked.any() or np.isfinite(limit).any():
            p = np.zeros(len(flow.bus_index))
            np.add.at(p, columns, base[t] + drawn + np.minimum(hp_t, 0) + np.minimum(ev[t], 0))
            grid = flow.run([ctx["time"][t]], p[None, :], np.clip(p, 0, None)[None, :] * tan_phi)
            step_loading = grid["loading_percent"].values[0].astype(float)
            step_vm = grid["vm_pu"].values[0].astype(float)
            p_grid = float(grid["p_grid_kw"].values[0])
        else:
            step_loading, step_vm, p_grid = loading[t], vm[t], float(ctx["p_grid"][t])
        trafo_seen.append(float(np.nanmax(step_loading[n_line:])))
        line_seen.append(float(np.nanmax(step_loading[:n_line])))
        vm_seen.append(float(np.nanmin(step_vm)))
        last = (step_loading, step_vm, p_grid)
        if signals is not None:
            step = signals.update(
                (t + 1) * 900.0,
                trafo_loading_percent=trafo_seen[-1],
                line_loading_percent=last[0][:n_line],
                vm_pu=last[1][ctx["bus_order"]],
                p_grid_kw=last[2],
                p_controllable_kw=drawn,
            )
            state, limit = step.state, step.p_limit_14a_kw
    return {
        "run_s": time.perf_counter() - started,
        "trafo_max_percent": max(trafo_seen),
        "line_max_percent": max(line_seen),
        "vm_min_pu": min(vm_seen),
        "hp_blocked_kwh": blocked_kwh,
        "dimmed_kwh": dimmed_kwh,
        "blocked_building_h": block_building_h,
        "steps_trafo_over_100": float(np.sum(np.array(trafo_seen) > 100.0)),
        "steps_line_over_100": float(np.sum(np.array(line_seen) > 100.0)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start", default="2025-01-01")
    parser.add_argument("--end", default="2025-03-01")
    args = parser.parse_args()
    shared = prepare_shared("beucha", None, 2025, threads=1)
    scenario = parse_scenario({"name": "loop", "start": args.start, "end": args.end, "changes": CHANGES}, file="b.yaml")
    res = compute_scenario(scenario, shared)
    buildings, base, hp, ev, bus_names = _profiles(res)
    net = res.net
    flow = BatchPowerFlow(net)
    index = dict(zip(net.bus["name"].astype(str), net.bus.index, strict=True))
    building_bus = np.array([index[b] for b in bus_names], dtype=np.int64)
    position = {int(b): i for i, b in enumerate(flow.bus_index)}
    columns = np.array([position[int(b)] for b in building_bus])
    tan_phi = math.tan(math.acos(0.93))
    p_all = np.zeros((len(hp), len(flow.bus_index)))
    for j, col in enumerate(columns):
        p_all[:, col] += base[:, j] + hp[:, j] + ev[:, j]
    time_index = pd.DatetimeIndex(res.assets["time"].values)
    batch = flow.run(time_index, p_all, np.clip(p_all, 0, None) * tan_phi)
    signals = FeederSignals.from_net(net, building_bus, q_per_p=tan_phi, flow=flow)
    ctx = {
        "flow": flow,
        "columns": columns,
        "n_line": len(net.line),
        "base": base,
        "hp": hp,
        "ev": ev,
        "tan_phi": tan_phi,
        "fmap": signals.fmap,
        "sens": signals.sens,
        "building_bus": building_bus,
        "loading": batch["loading_percent"].values.astype(float),
        "vm": batch["vm_pu"].values.astype(float),
        "p_grid": batch["p_grid_kw"].values.astype(float),
        "time": time_index,
        "bus_order": np.searchsorted(np.asarray(flow.bus_index), np.asarray(net.bus.index, dtype=np.int64)),
    }
    rows = {variant: _run(variant, ctx) for variant in ("none", "district", "feeder_all", "feeder_needed")}
    print(f"heat_pumps + ev_2030 on today's grid, {args.start} .. {args.end}, {len(buildings)} buildings")
    print(pd.DataFrame(rows).to_string(float_format=lambda v: f"{v:,.2f}"))


if __name__ == "__main__":
    main()
