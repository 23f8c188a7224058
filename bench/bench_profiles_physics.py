"""Time a year of 15-minute profiles for ~110 buildings with the physics of models/.

Run: .venv/bin/python bench/bench_profiles_physics.py

Warm process: every step runs once to import and compile, then the best of three
runs is reported. The weather file is parsed once outside the timed steps (DESIGN.md
section 8 allows reusing parsed weather). "shapes" rows time the BDEW shapes that a
sweep computes once; "scale" rows reuse them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import numpy as np
import pandas as pd

from models.battery import self_consumption_dispatch
from models.ev import ev_charging_kw
from models.gas import gas_boiler_fuel_kw
from models.heat import HeatProfileType, heat_demand_kw, space_heat_shapes
from models.heatpump import heat_pump_power_kw
from models.load import bdew_shapes, electricity_load_kw
from models.pv import pv_power_kw
from models.weather import read_weather

T = TypeVar("T")

N_BUILDINGS = 110
YEAR = 2023


def best_of(fn: Callable[[], T], repeat: int = 3) -> tuple[float, T]:
    result = fn()
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    weather = read_weather(None, year=YEAR)
    print(f"read_weather (TRY2010 region 4, parse + resample, not in the total): {time.perf_counter() - start:.3f} s")
    index = weather.index
    temp = weather["temp_air_degc"]

    n_pv = 60
    orientations = np.array([[30, 180], [35, 90], [35, 270], [45, 180], [10, 180], [30, 135]], dtype=float)
    pick = rng.integers(0, len(orientations), n_pv)
    kwp = rng.uniform(4.0, 15.0, n_pv)
    annual_el = rng.uniform(1500.0, 5000.0, N_BUILDINGS)
    el_profiles = ["h0_dyn"] * 100 + ["G25"] * 6 + ["g1"] * 4
    types = [HeatProfileType("EFH")] * 80 + [HeatProfileType("MFH")] * 22 + [HeatProfileType("GHD")] * 8
    space_kwh = rng.uniform(8000.0, 40000.0, N_BUILDINGS)
    dhw_kwh = rng.uniform(800.0, 4000.0, N_BUILDINGS)
    n_hp, n_ev, n_bat = 30, 20, 20

    rows: list[tuple[str, float]] = []

    def timed(label: str, fn: Callable[[], T]) -> T:
        seconds, result = best_of(fn)
        rows.append((label, seconds))
        return result

    timed(
        f"pv: {n_pv} systems, {len(orientations)} orientations",
        lambda: pv_power_kw(weather, orientations[pick, 0], orientations[pick, 1], kwp),
    )
    shapes = timed("load shapes: h0_dyn, G25, g1 (BDEW, once per sweep)", lambda: bdew_shapes(set(el_profiles), [YEAR]))
    timed(
        f"load scale: {N_BUILDINGS} buildings with variation",
        lambda: electricity_load_kw(
            index,
            annual_el,
            el_profiles,
            seed=1,
            shapes=shapes,
        ),
    )
    heat_shapes = timed(
        "heat shapes: EFH, MFH, GHD (demandlib, once per sweep)", lambda: space_heat_shapes(temp, types)
    )
    demand = timed(
        f"heat scale: {N_BUILDINGS} buildings + hot water",
        lambda: heat_demand_kw(
            temp,
            space_kwh,
            types,
            dhw_kwh,
            shapes=heat_shapes,
        ),
    )
    space = demand.space_kw
    dhw = demand.dhw_kw
    states = ["existing", "usual_refurbishment", "advanced_refurbishment"] * (n_hp // 3)
    timed(
        f"heat pumps: {n_hp} (datasheet-fit COP)",
        lambda: heat_pump_power_kw(temp, space.iloc[:, :n_hp], dhw.iloc[:, :n_hp], states),
    )
    timed(
        f"gas boilers: {N_BUILDINGS - n_hp}",
        lambda: gas_boiler_fuel_kw(space.iloc[:, n_hp:] + dhw.iloc[:, n_hp:], "condensing"),
    )
    timed(f"ev: {n_ev} cars, uncontrolled (simpy)", lambda: ev_charging_kw(index, np.full(n_ev, 11.0), seed=2))
    net = pd.DataFrame(rng.uniform(-3.0, 3.0, (len(index), n_bat)), index=index)
    timed(f"batteries: {n_bat} self-consumption", lambda: self_consumption_dispatch(net, 8.0, 4.0))

    width = max(len(label) for label, _ in rows)
    for label, seconds in rows:
        print(f"{label:<{width}}  {seconds * 1000:8.1f} ms")
    total = sum(seconds for _, seconds in rows)
    once = sum(seconds for label, seconds in rows if "shapes" in label)
    print(f"{'total (all rows)':<{width}}  {total * 1000:8.1f} ms")
    print(f"{'total with shapes reused':<{width}}  {(total - once) * 1000:8.1f} ms")


if __name__ == "__main__":
    main()
