from __future__ import annotations

import pytest

from models.building_estimates import pv_potential_kwp
from scenarios.apply import apply_changes, grid_changes
from scenarios.config import parse_scenario
from scenarios.runner import SharedInputs
from twin.core.errors import ConfigError


def _scenario(changes: dict, seed: int = 0):  # type: ignore[no-untyped-def]
    return parse_scenario({"name": "t", "seed": seed, "changes": changes}, file="t.yaml")


def test_apply_changes_heat_pumps_share_is_seeded_and_nested(shared: SharedInputs) -> None:
    district = shared.loaded.district
    half = apply_changes(district, _scenario({"heat_pumps": {"share_frac": 0.5}}))
    again = apply_changes(district, _scenario({"heat_pumps": {"share_frac": 0.5}}))
    full = apply_changes(district, _scenario({"heat_pumps": {"share_frac": 1.0}}))
    other_seed = apply_changes(district, _scenario({"heat_pumps": {"share_frac": 0.5}}, seed=7))
    gas = [b.id for b in district.buildings if b.heating.system == "gas_boiler"]
    hp_half = {b.id for b in half.district.buildings if b.heating.system == "heat_pump" and b.id in gas}
    assert hp_half == {b.id for b in again.district.buildings if b.heating.system == "heat_pump" and b.id in gas}
    assert half.heat_pumps_added == round(0.5 * len(gas)) == len(hp_half)
    assert full.heat_pumps_added == len(gas)
    assert not any(b.heating.system == "gas_boiler" for b in full.district.buildings)
    assert hp_half != {b.id for b in other_seed.district.buildings if b.heating.system == "heat_pump" and b.id in gas}


def test_apply_changes_pv_sized_from_roofs(shared: SharedInputs) -> None:
    district = shared.loaded.district
    applied = apply_changes(district, _scenario({"pv": {"share_frac": 1.0, "min_kwp": 0.0}}))
    today = sum(s.p_peak_kw for b in district.buildings for s in b.pv)
    total = sum(s.p_peak_kw for b in applied.district.buildings for s in b.pv)
    potential = sum(pv_potential_kwp(b.roofs) for b in district.buildings)
    assert total == pytest.approx(today + applied.pv_added_kwp, abs=0.1)
    # new systems fill the faces that carry no PV today; existing systems keep their size
    assert potential * 0.9 < total < potential + today
    for building in applied.district.buildings:
        assert len({s.roof for s in building.pv}) == len(building.pv)


def test_apply_changes_batteries_evs_and_grid(shared: SharedInputs) -> None:
    district = shared.loaded.district
    scenario = _scenario(
        {
            "pv": {"buildings": ["school"]},
            "home_batteries": {"kwh_per_kwp": 2.0},
            "evs": {"count": 5, "charger_kw": 7.4},
            "grid": {"transformer_s_rated_kva": 800.0},
        }
    )
    applied = apply_changes(district, scenario)
    school = next(b for b in applied.district.buildings if b.id == "school")
    assert school.batteries[0].capacity_kwh == pytest.approx(2.0 * sum(s.p_peak_kw for s in school.pv))
    assert applied.evs_added == 5
    assert sum(len(b.evs) for b in applied.district.buildings) == sum(len(b.evs) for b in district.buildings) + 5
    changes = grid_changes(scenario)
    assert changes is not None and changes.transformer_s_rated_kva == 800.0
    assert grid_changes(_scenario({})) is None


def test_apply_changes_unknown_building(shared: SharedInputs) -> None:
    with pytest.raises(ConfigError, match="unknown building"):
        apply_changes(shared.loaded.district, _scenario({"pv": {"buildings": ["nope"]}}))
