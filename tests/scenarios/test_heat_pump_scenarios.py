"""The built-in scenarios with heat pumps, re-examined: SPF, backup heater, energy neutrality, the solar park."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from models.profiles import ProfileOptions, district_profiles
from scenarios.apply import apply_changes
from scenarios.config import load_scenario, parse_scenario
from scenarios.kpis import heat_pump_kpis
from scenarios.runner import SharedInputs, compute_scenario
from tests.scenarios.conftest import SHORT
from twin.core.errors import ConfigError


def _short(name: str, changes: dict[str, Any]):  # type: ignore[no-untyped-def]
    return parse_scenario({"name": name, **SHORT, "changes": changes}, file="t.yaml")


def test_heat_pumps_scenario_spf_in_field_range_and_little_backup(shared: SharedInputs) -> None:
    # the year's heat-pump figures of the built-in heat_pumps scenario (profiles only, no power flow)
    scenario = load_scenario("heat_pumps")
    applied = apply_changes(shared.loaded.district, scenario)
    profiles = district_profiles(applied.district, shared.inputs, ProfileOptions(year=scenario.year))
    kpis = heat_pump_kpis(profiles.heat_pumps)
    assert 2.8 <= kpis["hp_spf"] <= 3.6  # field: 3.1 (WPsmart im Bestand) to 3.4 (WP-QS), 2.8-3.4 after gas
    assert kpis["hp_backup_frac"] is not None and kpis["hp_backup_frac"] < 0.05
    assert kpis["hp_spf_existing_radiator"] is not None and kpis["hp_spf_existing_radiator"] < kpis["hp_spf"]
    dt_h = 0.25
    hp = profiles.assets["p_kw"].where(profiles.assets["kind"] == "heat_pump", 0).sum().item() * dt_h
    assert kpis["hp_electricity_kwh"] == pytest.approx(hp, rel=1e-5)
    assert kpis["hp_heat_kwh"] == pytest.approx(profiles.heat_kw[profiles.heat_pumps.index].sum().sum() * dt_h)


@pytest.mark.slow
def test_energy_neutral_is_energy_neutral_over_the_year(shared: SharedInputs) -> None:
    kpis = compute_scenario(load_scenario("energy_neutral"), shared).kpis
    assert kpis["energy_balance_kwh"] <= 0.0
    assert kpis["energy_neutral"] is True
    assert 2.8 <= kpis["hp_spf"] <= 3.8
    assert kpis["n_gas_boilers"] == 0
    # every carrier counts: no gas, heating oil or wood left, and the backup heater stays small
    assert kpis["fuel_kwh"] == kpis["fuel_oil_kwh"] == kpis["fuel_wood_kwh"] == 0.0
    assert kpis["hp_backup_frac"] < 0.05
    assert kpis["trafo_loading_max_percent"] < 100.0


def test_solar_park_feeds_the_mv_bus_and_counts(shared: SharedInputs) -> None:
    result = compute_scenario(_short("park", {"solar_park": {"p_peak_kw": 400.0}}), shared)
    assets = result.assets
    park = assets.sel(asset="community/pv0")
    hv_bus = str(result.net.bus.at[int(result.net.trafo["hv_bus"].iloc[0]), "name"])
    assert str(park["bus"].item()) == hv_bus and str(park["kind"].item()) == "pv"
    assert float(park["p_kw"].min()) < -100.0 and float(park["p_kw"].max()) <= 0.0
    base = compute_scenario(_short("base", {}), shared).kpis
    assert result.kpis["pv_kwp"] == pytest.approx(base["pv_kwp"] + 400.0)
    assert result.kpis["investment_eur"] == pytest.approx(base["investment_eur"] + 400.0 * 750.0)
    park_kwh = -float(park["p_kw"].sum()) * 0.25
    assert result.kpis["export_kwh"] - result.kpis["import_kwh"] == pytest.approx(
        base["export_kwh"] - base["import_kwh"] + park_kwh, rel=0.01
    )
    # on its own MV connection the park does not load the district's transformer
    assert result.kpis["trafo_loading_max_percent"] == pytest.approx(base["trafo_loading_max_percent"], rel=1e-3)
    with pytest.raises(ConfigError, match=r"changes\.solar_park\.bus"):
        compute_scenario(_short("bad", {"solar_park": {"p_peak_kw": 10.0, "bus": "nowhere"}}), shared)


def test_heat_pumps_can_replace_other_heating(shared: SharedInputs) -> None:
    district = shared.loaded.district
    n_gas = sum(b.heating.system == "gas_boiler" for b in district.buildings)
    others = ("oil_boiler", "wood_boiler", "other")
    n_other = sum(b.heating.system in others for b in district.buildings)
    assert n_other > 0
    both = apply_changes(district, _short("both", {"heat_pumps": {"replaces": ["gas_boiler", *others]}}))
    gas_only = apply_changes(district, _short("gas", {"heat_pumps": {}}))
    assert both.heat_pumps_added == n_gas + n_other and gas_only.heat_pumps_added == n_gas
    kpis = compute_scenario(_short("gas", {"heat_pumps": {}}), shared).kpis
    assert {"hp_heat_kwh", "hp_electricity_kwh", "hp_spf", "hp_backup_frac"} <= set(kpis)
    assert np.isfinite(kpis["hp_spf"])
