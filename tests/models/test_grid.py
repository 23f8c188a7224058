"""The district's net and a period of power flow on it, re-checked with pandapower."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pandapower as pp
import pytest
import xarray as xr

from models.district import Charger, ElectricVehicle, Heating, LoadedDistrict, load_district
from models.grid import (
    GridChanges,
    apply_grid_changes,
    bus_injections,
    district_net,
    grid_kpis_of,
    reactive_power_kvar,
    run_power_flow,
    set_step,
    write_net_json,
)
from models.profiles import DistrictProfiles, ProfileOptions, district_profiles, prepare_inputs
from twin.core.errors import ConfigError

WINTER_DAYS = {"start": "2025-01-13", "end": "2025-01-15"}  # Monday and Tuesday, cold


@pytest.fixture(scope="module")
def beucha() -> LoadedDistrict:
    return load_district("beucha")


@pytest.fixture(scope="module")
def electrified(beucha: LoadedDistrict) -> Any:
    """Heat pumps and an 11 kW wallbox with a car in every building, no reinforcement."""
    buildings = [
        b.model_copy(
            update={
                "heating": Heating(system="heat_pump"),
                "evs": (*b.evs, ElectricVehicle(capacity_kwh=60, distance_km_per_a=15_000)),
                "chargers": b.chargers or (Charger(p_rated_kw=11.0),),
            }
        )
        for b in beucha.district.buildings
    ]
    return beucha.district.model_copy(update={"buildings": tuple(buildings)})


@pytest.fixture(scope="module")
def heavy(electrified: Any) -> DistrictProfiles:
    inputs = prepare_inputs(electrified, year=2025)
    return district_profiles(electrified, inputs, ProfileOptions(year=2025, **WINTER_DAYS))


@pytest.fixture(scope="module")
def heavy_grid(beucha: LoadedDistrict, electrified: Any, heavy: DistrictProfiles) -> xr.Dataset:
    return run_power_flow(beucha.net, heavy.assets, electrified.reactive_power)


def test_net_has_an_element_per_electric_asset(beucha: LoadedDistrict, heavy: DistrictProfiles) -> None:
    net = district_net(beucha.net, heavy.assets)
    kinds = heavy.assets["kind"].to_series().value_counts()
    assert len(net.load) == kinds["load"] + kinds["heat_pump"] + kinds["ev"]
    assert len(net.sgen) == kinds["pv"]
    assert len(net.storage) == kinds["battery"]
    assert set(net.load["name"]) <= set(heavy.assets["asset"].values)
    assert len(net.bus) == len(beucha.net.bus)


def test_heavy_case_agrees_with_pandapower_on_sampled_steps(
    beucha: LoadedDistrict, electrified: Any, heavy: DistrictProfiles, heavy_grid: xr.Dataset
) -> None:
    assert bool(heavy_grid["converged"].all())
    net = district_net(beucha.net, heavy.assets)
    q_kvar = reactive_power_kvar(heavy.assets, electrified.reactive_power)
    worst = int(heavy_grid["vm_pu"].min("bus").argmin("time"))
    peak = int(heavy_grid["p_grid_kw"].argmax("time"))
    for step in sorted({0, 40, 75, worst, peak}):
        set_step(net, heavy.assets, q_kvar, step)
        pp.runpp(net, lightsim2grid=False, tolerance_mva=1e-10)
        vm = heavy_grid["vm_pu"].isel(time=step).sel(bus=net.res_bus.index).to_numpy()
        np.testing.assert_allclose(vm, net.res_bus["vm_pu"].to_numpy(), atol=1e-6, rtol=0)
        p_grid_kw = float(net.res_ext_grid["p_mw"].sum() * 1000.0)
        assert float(heavy_grid["p_grid_kw"][step]) == pytest.approx(p_grid_kw, abs=0.1)
    # heavily loaded indeed: the 630 kVA transformer is overloaded in the evening peak
    assert float(heavy_grid["loading_percent"].sel(branch="trafo 0").max()) > 100.0


def test_conservation_at_every_step(heavy_grid: xr.Dataset) -> None:
    demand = heavy_grid["p_bus_kw"].astype(np.float64).sum("bus")
    np.testing.assert_allclose(demand + heavy_grid["p_loss_kw"], heavy_grid["p_grid_kw"], atol=0.05)


def test_bus_demand_is_the_sum_of_the_assets(heavy: DistrictProfiles, heavy_grid: xr.Dataset) -> None:
    electric = heavy.assets["p_kw"].astype(np.float64).sum("asset")
    np.testing.assert_allclose(heavy_grid["p_bus_kw"].astype(np.float64).sum("bus"), electric, rtol=1e-5, atol=0.05)


def test_bus_injections_sum_each_assets_reactive_power(beucha: LoadedDistrict) -> None:
    """The one-pass per-bus sums equal the per-asset reactive power summed by bus."""
    inputs = prepare_inputs(beucha.district, year=2025)
    summer = district_profiles(beucha.district, inputs, ProfileOptions(year=2025, start="2025-06-21", end="2025-06-22"))
    reactive = beucha.district.reactive_power
    p_bus, q_bus = bus_injections(summer.assets, beucha.net, reactive)
    q = reactive_power_kvar(summer.assets, reactive)
    name_to_bus = dict(zip(beucha.net.bus["name"].astype(str), beucha.net.bus.index, strict=True))
    bus = [name_to_bus[str(b)] for b in summer.assets["bus"].values]
    electric = (summer.assets["kind"] != "gas_boiler").values
    expected_q = q.to_pandas().T.groupby(bus).sum().T
    expected_p = summer.assets["p_kw"].where(electric, 0).astype(np.float64).to_pandas().T.groupby(bus).sum().T
    assert float(expected_q.to_numpy().max()) > 1.0  # PV under cos phi(P) and loads both draw Q
    np.testing.assert_allclose(q_bus[expected_q.columns].to_numpy(), expected_q.to_numpy(), atol=1e-6)
    np.testing.assert_allclose(p_bus[expected_p.columns].to_numpy(), expected_p.to_numpy(), atol=1e-4)
    assert float(abs(p_bus.drop(columns=expected_p.columns)).to_numpy().max(initial=0.0)) == 0.0


def test_pv_absorbs_reactive_power_when_it_feeds_in(beucha: LoadedDistrict) -> None:
    inputs = prepare_inputs(beucha.district, year=2025)
    summer = district_profiles(beucha.district, inputs, ProfileOptions(year=2025, start="2025-06-21", end="2025-06-22"))
    q = reactive_power_kvar(summer.assets, beucha.district.reactive_power)
    pv = summer.assets["kind"] == "pv"
    p_pv = summer.assets["p_kw"].where(pv)
    q_pv = q.where(pv)
    assert float(q_pv.min()) >= 0.0
    p_frac = -p_pv / summer.assets["p_peak_kw"]
    # beucha: cos phi 1 up to half the rated power, falling to 0.95 at full power
    assert int((p_frac > 0.55).sum()) > 0
    assert bool((q_pv.where(p_frac > 0.55) > 0).sum() == (p_frac > 0.55).sum())
    assert float(abs(q_pv.where(p_frac < 0.5)).max()) == 0.0
    load = summer.assets["kind"] == "load"
    tan_phi = np.tan(np.arccos(beucha.district.reactive_power.load_cos_phi))
    np.testing.assert_allclose(q.where(load, 0), (summer.assets["p_kw"].where(load, 0) * tan_phi), rtol=1e-5, atol=1e-6)


def test_grid_kpis_of_result(beucha: LoadedDistrict, heavy_grid: xr.Dataset) -> None:
    kpis = grid_kpis_of(heavy_grid, beucha.net)
    assert float(kpis["trafo_loading_max_percent"]) > 100.0
    assert float(kpis["vm_min_pu"]) < float(kpis["vm_max_pu"])
    assert kpis.attrs["steps_not_converged"] == 0


def test_a_bigger_transformer_relieves_the_overload(
    beucha: LoadedDistrict, electrified: Any, heavy: DistrictProfiles, heavy_grid: xr.Dataset
) -> None:
    reinforced = apply_grid_changes(beucha.net, GridChanges(transformer_s_rated_kva=1000.0, parallel_cables=2))
    grid = run_power_flow(reinforced, heavy.assets, electrified.reactive_power)
    before = float(heavy_grid["loading_percent"].sel(branch="trafo 0").max())
    after = float(grid["loading_percent"].sel(branch="trafo 0").max())
    assert after == pytest.approx(before * 630 / 1000, rel=0.05)
    assert float(grid["vm_pu"].min()) > float(heavy_grid["vm_pu"].min())
    assert float(grid["p_loss_kw"].sum()) < float(heavy_grid["p_loss_kw"].sum())
    # parallel cables and the new transformer are solved as pandapower solves them
    changes = GridChanges(transformer_s_rated_kva=1000.0, parallel_cables=2)
    net = district_net(beucha.net, heavy.assets, changes)
    step = int(grid["vm_pu"].min("bus").argmin("time"))
    set_step(net, heavy.assets, reactive_power_kvar(heavy.assets, electrified.reactive_power), step)
    pp.runpp(net, lightsim2grid=False, tolerance_mva=1e-10)
    vm = grid["vm_pu"].isel(time=step).sel(bus=net.res_bus.index).to_numpy()
    np.testing.assert_allclose(vm, net.res_bus["vm_pu"].to_numpy(), atol=1e-6, rtol=0)
    n_line = len(net.line)
    loading = grid["loading_percent"].isel(time=step).to_numpy()
    np.testing.assert_allclose(loading[:n_line], net.res_line["loading_percent"], atol=1e-3)
    np.testing.assert_allclose(loading[n_line:], net.res_trafo["loading_percent"], atol=1e-3)


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        (GridChanges(line_std_type="NAYY 4x999"), "line_std_type: unknown cable type 'NAYY 4x999'"),
        (GridChanges(parallel_cables=2, lines=("no such line",)), "lines: line 'no such line' is not in the grid"),
        (GridChanges(transformer_s_rated_kva=0.0), "transformer_s_rated_kva: must be > 0"),
    ],
)
def test_bad_grid_changes(beucha: LoadedDistrict, changes: GridChanges, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        apply_grid_changes(beucha.net, changes)


def test_net_json_round_trip_keeps_bus_index(beucha: LoadedDistrict, heavy: DistrictProfiles, tmp_path: Any) -> None:
    net = district_net(beucha.net, heavy.assets)
    path = write_net_json(net, tmp_path / "net.json")
    again = pp.from_json(str(path))
    assert list(again.bus.index) == list(net.bus.index)
    assert "profiles" not in again
    assert len(again.load) == len(net.load)


def test_net_json_leaves_the_callers_net_as_it_is(beucha: LoadedDistrict, tmp_path: Any) -> None:
    net = copy.deepcopy(beucha.net)
    net["profiles"] = {"load.p_mw": net.load[["p_mw"]].T}
    write_net_json(net, tmp_path / "with.json")
    assert "profiles" in net
    assert "profiles" not in pp.from_json(str(tmp_path / "with.json"))
    del net["profiles"]
    write_net_json(net, tmp_path / "without.json")
    assert (tmp_path / "with.json").read_bytes() == (tmp_path / "without.json").read_bytes()


def test_unknown_bus_of_an_asset(beucha: LoadedDistrict, heavy: DistrictProfiles) -> None:
    assets = heavy.assets.assign_coords(bus=("asset", ["nowhere"] * heavy.assets.sizes["asset"]))
    with pytest.raises(KeyError):
        district_net(copy.deepcopy(beucha.net), assets)
