"""A year of the Beucha district's asset profiles: the adapter between district file and physics."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from models.building_estimates import estimate_building
from models.building_heat import dhw_kwh_per_a, dhw_loss_kw
from models.district import District, load_district
from models.profiles import DistrictProfiles, ProfileOptions, district_profiles, prepare_inputs
from twin.core.errors import ConfigError
from twin.core.units import check_units

DT_H = 0.25


@pytest.fixture(scope="module")
def district() -> District:
    return load_district("beucha").district


@pytest.fixture(scope="module")
def inputs(district: District) -> Any:
    return prepare_inputs(district, year=2025)


@pytest.fixture(scope="module")
def year(district: District, inputs: Any) -> DistrictProfiles:
    return district_profiles(district, inputs, ProfileOptions(year=2025, seed=3))


def _energy_kwh(values: xr.DataArray) -> xr.DataArray:
    return values.astype(np.float64).sum("time") * DT_H


def test_one_asset_per_load_pv_heating_ev_battery(district: District, year: DistrictProfiles) -> None:
    kinds = year.assets["kind"].to_series().value_counts().to_dict()
    buildings = district.buildings
    assert kinds["load"] == len(buildings)
    assert kinds["pv"] == sum(len(b.pv) for b in buildings)
    assert kinds["heat_pump"] == sum(b.heating.system == "heat_pump" for b in buildings)
    assert kinds["gas_boiler"] == sum(b.heating.system == "gas_boiler" for b in buildings)
    assert kinds["ev"] == sum(len(b.evs) for b in buildings)
    assert kinds["battery"] == sum(len(b.batteries) for b in buildings)
    assert year.assets.sizes["time"] == 35_040
    assert check_units(year.assets) == []
    # every asset sits on its building's bus
    bus_of = {b.id: b.bus for b in buildings}
    assert all(
        bus_of[b] == bus for b, bus in zip(year.assets["building"].values, year.assets["bus"].values, strict=True)
    )


def test_signs(year: DistrictProfiles) -> None:
    p = year.assets["p_kw"]
    kind = year.assets["kind"]
    assert float(p.where(kind == "pv").max()) <= 0.0
    assert float(p.where(kind.isin(["load", "heat_pump", "ev"])).min()) >= 0.0
    assert float(p.where(kind == "gas_boiler").max()) == 0.0
    assert float(year.assets["p_fuel_kw"].where(kind == "gas_boiler").min()) >= 0.0


def test_load_energy_equals_each_buildings_estimate(district: District, year: DistrictProfiles) -> None:
    loads = year.assets.isel(asset=(year.assets["kind"] == "load").values)
    energy = _energy_kwh(loads["p_kw"]).to_series()
    for building in district.buildings:
        expected = estimate_building(building).electricity_kwh_per_a
        assert energy[f"{building.id}/load"] == pytest.approx(expected, rel=1e-4)


def test_heat_equals_each_buildings_annual_demand(district: District, year: DistrictProfiles) -> None:
    # the annual estimate (space heat + hot-water need) plus the hot-water store and circulation losses
    heat_kwh = year.heat_kw.sum() * DT_H
    for building in district.buildings:
        estimate = estimate_building(building).heat_kwh_per_a
        losses_kwh = dhw_loss_kw(building, dhw_kwh_per_a(building, estimate)) * 8760.0
        assert heat_kwh[building.id] == pytest.approx(estimate + losses_kwh, rel=1e-3)


def test_gas_drawn_is_heat_over_efficiency(district: District, year: DistrictProfiles) -> None:
    boilers = year.assets.isel(asset=(year.assets["kind"] == "gas_boiler").values)
    fuel = boilers["p_fuel_kw"].to_pandas()
    for column in fuel.columns[:10]:
        building = column.split("/")[0]
        np.testing.assert_allclose(
            fuel[column].to_numpy(), year.heat_kw[building].to_numpy() / 0.92, rtol=1e-5, atol=1e-6
        )


def test_pv_yield_in_the_leipzig_range(year: DistrictProfiles) -> None:
    pv = year.assets.isel(asset=(year.assets["kind"] == "pv").values)
    specific = -_energy_kwh(pv["p_kw"]) / pv["p_peak_kw"]
    # mixed orientations: east/west near 780-840, south near 990 kWh/kWp (FIELD-NOTES)
    assert float(specific.min()) > 700
    assert float(specific.max()) < 1_060
    assert 850 < float(-_energy_kwh(pv["p_kw"]).sum() / pv["p_peak_kw"].sum()) < 1_000


def test_battery_energy_conserved_with_losses(year: DistrictProfiles) -> None:
    batteries = year.assets.isel(asset=(year.assets["kind"] == "battery").values)
    p = batteries["p_kw"].astype(np.float64)
    charged = (p.clip(min=0).sum("time") * DT_H).values
    discharged = (-p.clip(max=0).sum("time") * DT_H).values
    assert (charged > 0).all()
    assert (discharged < charged).all()  # losses
    soc = batteries["soc_frac"]
    assert float(soc.min()) >= 0.0 and float(soc.max()) <= 1.0


def test_meters_are_the_sum_of_each_buildings_assets(year: DistrictProfiles) -> None:
    p = year.assets["p_kw"].astype(np.float64).groupby("building").sum("asset")
    meters = year.meters["p_meter_kw"]
    for building in ["sfh01", "ab01", "school", "th05"]:
        np.testing.assert_allclose(meters.sel(meter=building), p.sel(building=building), rtol=1e-5, atol=1e-4)
    district = meters.drop_sel(meter="substation").astype(np.float64).sum("meter")
    np.testing.assert_allclose(meters.sel(meter="substation"), district, rtol=1e-5, atol=1e-2)


def test_a_day_is_the_same_day_as_in_the_year(district: District, inputs: Any, year: DistrictProfiles) -> None:
    day = district_profiles(district, inputs, ProfileOptions(year=2025, seed=3, start="2025-01-15", end="2025-01-16"))
    assert day.assets.sizes["time"] == 96
    assert day.assets["time"].values[0] == np.datetime64("2025-01-15T00:00")
    expected = year.assets["p_kw"].sel(time=slice("2025-01-15 00:00", "2025-01-15 23:45"))
    xr.testing.assert_equal(day.assets["p_kw"], expected)
    xr.testing.assert_equal(day.assets["p_fuel_kw"], year.assets["p_fuel_kw"].sel(time=expected["time"]))


def test_seed_varies_loads_but_not_energy(district: District, inputs: Any, year: DistrictProfiles) -> None:
    other = district_profiles(district, inputs, ProfileOptions(year=2025, seed=4, start="2025-01-01", end="2025-01-08"))
    a = year.assets["p_kw"].sel(time=other.assets["time"], asset="sfh01/load").values
    b = other.assets["p_kw"].sel(asset="sfh01/load").values
    assert not np.allclose(a, b)


def test_pv_surplus_charging_moves_ev_energy_into_sun_hours(district: District, inputs: Any) -> None:
    period = {"start": "2025-06-01", "end": "2025-06-15"}
    plain = district_profiles(district, inputs, ProfileOptions(year=2025, **period))
    solar = district_profiles(district, inputs, ProfileOptions(year=2025, ev_charging="pv_surplus", **period))

    with_pv = [b.id for b in district.buildings if b.pv and b.evs]
    assert with_pv

    def share_from_own_surplus(profiles: DistrictProfiles) -> float:
        assets = profiles.assets
        p = assets["p_kw"].astype(np.float64)
        charged = covered = 0.0
        for building in with_pv:
            mine = assets["building"] == building
            ev = p.where(mine & (assets["kind"] == "ev"), 0).sum("asset")
            others = p.where(mine & assets["kind"].isin(["load", "pv", "heat_pump"]), 0).sum("asset")
            covered += float(np.minimum(ev, (-others).clip(min=0)).sum())
            charged += float(ev.sum())
        return covered / charged

    # cars at buildings with PV take far more of their energy from their own building's surplus
    assert share_from_own_surplus(solar) > 2 * share_from_own_surplus(plain)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"start": "2025-03-02", "end": "2025-03-01"}, "is empty or outside 2025"),
        ({"start": "2024-12-31", "end": "2025-01-02"}, "is empty or outside 2025"),
        ({"year": 2024}, "inputs are for 2025, options ask for 2024"),
    ],
)
def test_bad_period(district: District, inputs: Any, options: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        district_profiles(district, inputs, ProfileOptions(**{"year": 2025, **options}))


def test_meter_time_is_utc_interval_start(year: DistrictProfiles) -> None:
    index = pd.DatetimeIndex(year.assets["time"].values)
    assert index[0] == pd.Timestamp("2025-01-01 00:00")
    assert index[-1] == pd.Timestamp("2025-12-31 23:45")


def test_profiles_follow_the_districts_time_zone(district: District, inputs: Any) -> None:
    location = district.location.model_copy(update={"timezone": "Europe/London"})
    london = district.model_copy(update={"location": location})
    shifted = prepare_inputs(london, year=2025)
    berlin_load = inputs.load_shapes.to_numpy()
    london_load = shifted.load_shapes.to_numpy()
    assert not np.allclose(london_load, berlin_load)
    # the same wall-clock profile, an hour (four steps) later in UTC
    assert min(np.corrcoef(london_load[4:, i], berlin_load[:-4, i])[0, 1] for i in range(berlin_load.shape[1])) > 0.99
    options = ProfileOptions(year=2025, seed=3, start="2025-01-15", end="2025-01-16")
    day_london = district_profiles(london, shifted, options)
    day_berlin = district_profiles(district, inputs, options)
    assert not np.allclose(day_london.assets["p_fuel_kw"].values, day_berlin.assets["p_fuel_kw"].values)
    ev = [a for a in day_berlin.assets["asset"].values.tolist() if str(a).endswith("/ev0")]
    assert ev and not np.allclose(
        day_london.assets["p_kw"].sel(asset=ev).values, day_berlin.assets["p_kw"].sel(asset=ev).values
    )
