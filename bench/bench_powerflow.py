"""Time the year-long batch power flow against pandapower's run_timeseries, in one run.

Both run warm on the same net - the Beucha district's grid with an element per
asset - and the same profiles (a year of the district's assets at 15 minutes):
the batch solver for the whole year (35,040 steps), pandapower's
``run_timeseries(..., lightsim2grid=False)`` for a few hundred steps from the
start of January, extrapolated to the year. Prints both times, the ratio, the
largest voltage difference on the compared steps and the peak resident memory.

    .venv/bin/python bench/bench_powerflow.py [--steps 300] [--threads 1] [--electrified]

``--electrified`` gives every building a heat pump and an 11 kW wallbox with a car.
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

from models.district import Charger, ElectricVehicle, Heating, load_district
from models.grid import bus_injections, district_net, reactive_power_kvar
from models.powerflow import BatchPowerFlow, PowerFlowOptions
from models.profiles import ProfileOptions, district_profiles, prepare_inputs


def _electrify(district):  # type: ignore[no-untyped-def]
    buildings = [
        b.model_copy(
            update={
                "heating": Heating(system="heat_pump"),
                "evs": (*b.evs, ElectricVehicle(capacity_kwh=60, distance_km_per_a=15_000)),
                "chargers": b.chargers or (Charger(p_rated_kw=11.0),),
            }
        )
        for b in district.buildings
    ]
    return district.model_copy(update={"buildings": tuple(buildings)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="steps for run_timeseries (extrapolated)")
    parser.add_argument("--threads", type=int, default=1, help="batch solver threads")
    parser.add_argument("--electrified", action="store_true", help="heat pump and EV in every building")
    args = parser.parse_args()

    loaded = load_district("beucha")
    district = _electrify(loaded.district) if args.electrified else loaded.district
    assets = district_profiles(district, prepare_inputs(district, year=2025), ProfileOptions(year=2025)).assets
    net = district_net(loaded.net, assets)
    p_bus, q_bus = bus_injections(assets, net, district.reactive_power)
    n_year = len(p_bus)

    flow = BatchPowerFlow(net, PowerFlowOptions(threads=args.threads))
    flow.run(p_bus.index[:96], p_bus.iloc[:96], q_bus.iloc[:96])  # warm
    start = time.perf_counter()
    result = flow.run(p_bus.index, p_bus, q_bus)
    batch_s = time.perf_counter() - start

    steps = args.steps
    ts_net = copy.deepcopy(net)
    p = pd.DataFrame(assets["p_kw"].values[:steps].astype(float), columns=assets["asset"].values) / 1000.0
    q_kvar = reactive_power_kvar(assets, district.reactive_power)
    q = pd.DataFrame(q_kvar.values[:steps], columns=assets["asset"].values) / 1000.0
    for table, sign in (("load", 1.0), ("sgen", -1.0), ("storage", 1.0)):
        names = list(ts_net[table]["name"])
        if not names:
            continue
        for variable, frame in (("p_mw", p), ("q_mvar", q)):
            ConstControl(
                ts_net,
                table,
                variable,
                element_index=ts_net[table].index,
                profile_name=names,
                data_source=DFData(sign * frame[names]),
            )
    writer = OutputWriter(ts_net, time_steps=range(steps), output_path=None, log_variables=[("res_bus", "vm_pu")])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pp.runpp(ts_net, lightsim2grid=False)  # warm (numba)
        start = time.perf_counter()
        run_timeseries(ts_net, time_steps=range(steps), lightsim2grid=False, verbose=False)
    ts_s = (time.perf_counter() - start) / steps * n_year
    vm_ts = writer.output["res_bus.vm_pu"].to_numpy()
    vm_batch = result["vm_pu"].isel(time=slice(0, steps)).sel(bus=ts_net.res_bus.index).to_numpy()
    dv = float(np.abs(vm_ts - vm_batch).max())
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print(
        f"net: beucha on 1-LV-semiurb5--0-sw, {len(net.bus)} buses, {len(net.line)} lines, "
        f"{len(net.load)} loads, {len(net.sgen)} PV, {len(net.storage)} batteries; {n_year} steps"
        + (" (heat pump and EV in every building)" if args.electrified else "")
    )
    path = "fixed-point path" if flow._prepared.zbus is not None else f"lightsim2grid, {args.threads} thread(s)"
    print(f"batch power flow ({path}): {batch_s:.2f} s per year (the stored voltages are float32)")
    print(f"pandapower run_timeseries (lightsim2grid=False): {ts_s:.0f} s per year (from {steps} steps)")
    print(f"speed-up: {ts_s / batch_s:.0f}x")
    print(f"max |dV| on the {steps} compared steps: {dv:.1e} p.u.")
    print(f"max transformer loading {float(result['loading_percent'].sel(branch='trafo 0').max()):.0f} %")
    print(f"peak resident memory: {peak_mib:.0f} MiB")


if __name__ == "__main__":
    main()
