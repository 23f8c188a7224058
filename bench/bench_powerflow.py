"""Time the year-long batch power flow against pandapower's run_timeseries, in one run.

Both run warm on the same net and the same profiles: the batch solver for the
whole year (35,040 steps at 15 minutes), pandapower's
``run_timeseries(..., lightsim2grid=False)`` for a few hundred steps,
extrapolated to the year. Prints both times, the ratio, the largest voltage
difference on the compared steps and the peak resident memory.

    .venv/bin/python bench/bench_powerflow.py [--steps 300] [--threads 1]
"""

from __future__ import annotations

import argparse
import copy
import resource
import time
import warnings

import numpy as np
import pandapower as pp
import pandas as pd
from pandapower.control import ConstControl
from pandapower.timeseries import DFData, OutputWriter, run_timeseries

from models.powerflow import BatchPowerFlow, PowerFlowOptions

YEAR_STEPS = 35_040


def _profiles(net, steps: int, seed: int = 7) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    hour = (np.arange(steps) % 96) / 4
    load_kw = 0.5 + 3.0 * rng.random((steps, len(net.load))) + np.where((hour >= 17) & (hour < 21), 4.0, 0.0)[:, None]
    pv = np.clip(np.sin((hour - 6) / 12 * np.pi), 0, None)[:, None]
    sgen_kw = pv * net.sgen["p_mw"].to_numpy()[None, :] * 1000.0
    return load_kw, load_kw * 0.33, sgen_kw


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="steps for run_timeseries (extrapolated)")
    parser.add_argument("--threads", type=int, default=1, help="batch solver threads")
    args = parser.parse_args()

    import simbench

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = simbench.get_simbench_net("1-LV-semiurb5--0-sw")
    net.profiles = {}
    load_kw, load_q_kvar, sgen_kw = _profiles(net, YEAR_STEPS)

    flow = BatchPowerFlow(net, PowerFlowOptions(threads=args.threads))
    p_bus = pd.DataFrame(0.0, index=range(YEAR_STEPS), columns=flow.bus_index)
    q_bus = p_bus.copy()
    for j, bus in enumerate(net.load["bus"]):
        p_bus[bus] += load_kw[:, j]
        q_bus[bus] += load_q_kvar[:, j]
    for j, bus in enumerate(net.sgen["bus"]):
        p_bus[bus] -= sgen_kw[:, j]
    index = pd.date_range("2025-01-01", periods=YEAR_STEPS, freq="15min")
    flow.run(index[:96], p_bus.iloc[:96], q_bus.iloc[:96])  # warm
    start = time.perf_counter()
    result = flow.run(index, p_bus, q_bus)
    batch_s = time.perf_counter() - start

    steps = args.steps
    ts_net = copy.deepcopy(net)
    ConstControl(
        ts_net,
        "load",
        "p_mw",
        element_index=ts_net.load.index,
        profile_name=list(range(len(net.load))),
        data_source=DFData(pd.DataFrame(load_kw[:steps] / 1000.0)),
    )
    ConstControl(
        ts_net,
        "load",
        "q_mvar",
        element_index=ts_net.load.index,
        profile_name=list(range(len(net.load))),
        data_source=DFData(pd.DataFrame(load_q_kvar[:steps] / 1000.0)),
    )
    ConstControl(
        ts_net,
        "sgen",
        "p_mw",
        element_index=ts_net.sgen.index,
        profile_name=list(range(len(net.sgen))),
        data_source=DFData(pd.DataFrame(sgen_kw[:steps] / 1000.0)),
    )
    writer = OutputWriter(ts_net, time_steps=range(steps), output_path=None, log_variables=[("res_bus", "vm_pu")])
    pp.runpp(ts_net, lightsim2grid=False)  # warm (numba)
    start = time.perf_counter()
    run_timeseries(ts_net, time_steps=range(steps), lightsim2grid=False, verbose=False)
    ts_s = (time.perf_counter() - start) / steps * YEAR_STEPS
    vm_ts = writer.output["res_bus.vm_pu"].to_numpy()
    vm_batch = result["vm_pu"].isel(time=slice(0, steps)).sel(bus=ts_net.res_bus.index).to_numpy()
    dv = float(np.abs(vm_ts - vm_batch).max())
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print(f"net: 1-LV-semiurb5--0-sw, {len(net.bus)} buses, {len(net.line)} lines, {YEAR_STEPS} steps")
    print(f"batch power flow (lightsim2grid, {args.threads} thread(s)): {batch_s:.2f} s per year")
    print(f"pandapower run_timeseries (lightsim2grid=False): {ts_s:.0f} s per year (from {steps} steps)")
    print(f"speed-up: {ts_s / batch_s:.0f}x")
    print(f"max |dV| on the {steps} compared steps: {dv:.1e} p.u.")
    print(f"peak resident memory: {peak_mib:.0f} MiB")


if __name__ == "__main__":
    main()
