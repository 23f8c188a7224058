"""A grid exported to CIM/CGMES and imported again: the same power flow for a year of steps.

The Beucha district's grid (SimBench ``1-LV-semiurb5--0-sw`` at the district's location) is
written by ``models.cgmes_writer.write_cgmes`` (EQ, SSH, TP, SV, GL in a zip) and read back by
``models.cgmes_reader.load_cgmes`` (pandapower's ``cim2pp``). Both nets are solved by the twin's
batch power flow for the district's year of 15-minute steps (its own assets' profiles, summed
per bus by bus name, as a scenario does); voltages are compared bus by bus (matched by name,
as the converter numbers buses its own way) and branch loadings line by line. ``--codes``
adds other SimBench grids, each with a year of random hourly demand and PV feed-in per load bus.
Prints the largest deviations and the export and import times; exits 1 if a voltage deviates
by more than ``--tol`` p.u.

    .venv/bin/python bench/bench_cgmes_roundtrip.py [--codes 1-LV-rural1--0-sw 1-LV-urban6--0-sw] [--tol 1e-6]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from models.cgmes_reader import load_cgmes
from models.cgmes_writer import write_cgmes
from models.district import load_district
from models.grid import bus_injections
from models.grid_source import load_simbench_net
from models.powerflow import BatchPowerFlow
from models.profiles import ProfileOptions, district_profiles, prepare_inputs


def _round_trip(net: Any, folder: Path, name: str) -> tuple[Any, float, float]:
    start = time.perf_counter()
    write_cgmes(net, folder / f"{name}.zip", model_name=name)
    written = time.perf_counter()
    imported = load_cgmes(folder / f"{name}.zip")
    return imported, written - start, time.perf_counter() - written


def _solve(net: Any, time_index: pd.DatetimeIndex, p: pd.DataFrame, q: pd.DataFrame) -> tuple[pd.DataFrame, ...]:
    """Voltages by bus name and loadings by branch name, (time x name)."""
    grid = BatchPowerFlow(net).run(time_index, p, q)
    buses = [str(net.bus.at[int(b), "name"]) for b in grid["bus"].values]
    names = [str(n) for n in net.line["name"]] + [str(n) for n in net.trafo["name"]]
    vm = pd.DataFrame(grid["vm_pu"].to_numpy().astype(float), columns=buses)
    loading = pd.DataFrame(grid["loading_percent"].to_numpy().astype(float), columns=names)
    return vm, loading


def _compare(label: str, net: Any, imported: Any, by_name: tuple[pd.DataFrame, pd.DataFrame], tol: float) -> bool:
    time_index = by_name[0].index
    p = by_name[0].rename(columns={str(n): int(i) for i, n in net.bus["name"].items()})
    q = by_name[1].rename(columns={str(n): int(i) for i, n in net.bus["name"].items()})
    p2 = by_name[0].rename(columns={str(n): int(i) for i, n in imported.bus["name"].items()})
    q2 = by_name[1].rename(columns={str(n): int(i) for i, n in imported.bus["name"].items()})
    start = time.perf_counter()
    vm, loading = _solve(net, pd.DatetimeIndex(time_index), p, q)
    vm2, loading2 = _solve(imported, pd.DatetimeIndex(time_index), p2, q2)
    solve_s = time.perf_counter() - start
    dv = float((vm2[vm.columns] - vm).abs().max().max())
    dl = float((loading2[loading.columns] - loading).abs().max().max())
    print(
        f"{label}: {len(net.bus)} buses, {len(net.line)} lines, {len(time_index)} steps; "
        f"max |dV| {dv:.1e} p.u. (min V {float(vm.min().min()):.4f}, max V {float(vm.max().max()):.4f}), "
        f"max |d loading| {dl:.1e} %-points; both power flows {solve_s:.1f} s"
    )
    return dv <= tol


def _random_year(net: Any, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hourly demand 0-8 kW per load bus, PV down to -15 kW by day at the generator buses, cos phi 0.95."""
    rng = np.random.default_rng(seed)
    time_index = pd.date_range("2025-01-01", periods=8760, freq="h", tz="UTC")
    loads = sorted({str(net.bus.at[b, "name"]) for b in net.load.bus})
    p = pd.DataFrame(rng.uniform(0.0, 8.0, (len(time_index), len(loads))), index=time_index, columns=loads)
    pv = sorted({str(net.bus.at[b, "name"]) for b in net.sgen.bus})
    sun = np.clip(np.sin((time_index.hour.to_numpy() - 6) / 12 * np.pi), 0.0, None)[:, None]
    for name in pv:
        p[name] = p.get(name, 0.0) - 15.0 * sun[:, 0] * rng.uniform(0.5, 1.0, len(time_index))
    return p, p * np.tan(np.arccos(0.95))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--codes", nargs="*", default=[], help="further SimBench grids (random hourly steps)")
    parser.add_argument("--tol", type=float, default=1e-6, help="largest voltage deviation allowed [p.u.]")
    parser.add_argument("--year", type=int, default=2025, help="calendar year of the district's profiles")
    args = parser.parse_args()

    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        loaded = load_district("beucha")
        district = loaded.district
        imported, write_s, read_s = _round_trip(loaded.net, folder, "beucha")
        size_kib = (folder / "beucha.zip").stat().st_size / 1024
        print(f"beucha: CGMES zip {size_kib:.0f} KiB, written in {write_s:.1f} s, read in {read_s:.1f} s")
        inputs = prepare_inputs(district, year=args.year)
        assets = district_profiles(district, inputs, ProfileOptions(year=args.year)).assets
        p_bus, q_bus = bus_injections(assets, loaded.net, district.reactive_power)
        names = {int(i): str(n) for i, n in loaded.net.bus["name"].items()}
        ok &= _compare(
            "beucha, its year of 15-minute steps",
            loaded.net,
            imported,
            (p_bus.rename(columns=names), q_bus.rename(columns=names)),
            args.tol,
        )
        for seed, code in enumerate(args.codes):
            net = load_simbench_net(code)
            imported, write_s, read_s = _round_trip(net, folder, code)
            print(f"{code}: written in {write_s:.1f} s, read in {read_s:.1f} s")
            ok &= _compare(f"{code}, a random year of hourly steps", net, imported, _random_year(net, seed), args.tol)
    print("round trip within tolerance" if ok else f"VOLTAGES DEVIATE BY MORE THAN {args.tol:g} p.u.")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
