from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from twin.core import kpi, schema
from twin.core.units import UNIT_SUFFIXES, check_units, unit_for

TIME = pd.date_range("2025-06-01", periods=4, freq="15min", tz="UTC")


@pytest.mark.parametrize(
    ("name", "units"),
    [
        ("p_kw", "kW"),
        ("s_rated_kva", "kVA"),
        ("q_bus_kvar", "kvar"),
        ("energy_import_kwh", "kW h"),
        ("dt_h", "h"),
        ("vm_pu", "1"),
        ("soc_frac", "1"),
        ("loading_percent", "%"),
        ("temp_air_degc", "degC"),
        ("ghi_w_m2", "W m-2"),
        ("cost_eur", "EUR"),
        ("co2_grid_g_per_kwh", "g kW-1 h-1"),
        ("kind", None),
        ("power", None),
    ],
)
def test_unit_for(name: str, units: str | None) -> None:
    assert unit_for(name) == units


def test_unit_suffixes_design_table() -> None:
    design = {
        "_kw": "kW",
        "_kva": "kVA",
        "_kvar": "kvar",
        "_kwh": "kW h",
        "_h": "h",
        "_pu": "1",
        "_frac": "1",
        "_percent": "%",
        "_degc": "degC",
        "_w_m2": "W m-2",
        "_eur": "EUR",
    }
    assert design.items() <= UNIT_SUFFIXES.items()


def _all_datasets() -> dict[str, xr.Dataset]:
    assets = schema.build_assets(
        TIME,
        asset=["pv1", "hh1", "bat1", "gas1"],
        kind=["pv", "load", "battery", "gas_boiler"],
        building=["b1", "b1", "b1", "b2"],
        bus=["LV1", "LV1", "LV1", "LV2"],
        p_kw=[[-3.0, 1.0, 1.0, 0.0]] * 4,
        p_fuel_kw=[[0, 0, 0, 4.0]] * 4,
        soc_frac=[[np.nan, np.nan, 0.5, np.nan]] * 4,
        p_peak_kw=[5.0, np.nan, np.nan, np.nan],
        capacity_kwh=[np.nan, np.nan, 10.0, np.nan],
        quality="ok",
    )
    meters = schema.meters_from_assets(assets, p_loss_kw=np.full(4, 0.1))
    grid = schema.build_grid_results(
        TIME,
        bus=[0, 1],
        branch=["trafo 0", "line 0"],
        vm_pu=[[1.0, 0.99]] * 4,
        loading_percent=[[10.0, 20.0]] * 4,
        p_bus_kw=[[0.0, -1.0]] * 4,
        q_bus_kvar=[[0.0, 0.1]] * 4,
        p_loss_kw=np.full(4, 0.01),
        p_grid_kw=np.full(4, -0.99),
        vn_kv=[0.4, 0.4],
        s_rated_kva=[630.0, np.nan],
        i_rated_ka=[np.nan, 0.27],
    )
    flows = kpi.boundary_flows(assets)
    energy = kpi.energy_kpis(flows, p_peak_kw=5.0).drop_vars(["energy_neutral", "electricity_neutral"])
    grid_kpis = kpi.grid_kpis(grid["vm_pu"], grid["loading_percent"], reference_bus=0)
    return {"assets": assets, "meters": meters, "grid": grid, "energy kpis": energy, "grid kpis": grid_kpis}


@pytest.mark.parametrize("which", ["assets", "meters", "grid", "energy kpis", "grid kpis"])
def test_check_units_every_variable_agrees(which: str) -> None:
    ds = _all_datasets()[which]
    assert check_units(ds) == []
    # and every quantity of the dataset really has a units attribute
    for name in ds.variables:
        if unit_for(name) is not None:
            assert ds[name].attrs["units"] == unit_for(name)


def test_check_units_finds_drift() -> None:
    ds = xr.Dataset({"sn_mva": ("x", [1.0]), "p_kw": ("x", [1.0]), "power": ("x", [1.0])})
    ds["sn_mva"].attrs["units"] = "kVA"  # pandapower's documented drift
    ds["p_kw"].attrs["units"] = "W"
    problems = check_units(ds)
    assert any(p.startswith("sn_mva: no unit suffix") for p in problems)
    assert any(p.startswith("p_kw: units 'W'") for p in problems)
    assert any(p.startswith("power: no unit suffix") for p in problems)
