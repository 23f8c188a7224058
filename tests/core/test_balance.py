"""The live balance: household load derived per building, the district beside the sum of the buildings."""

from __future__ import annotations

import pytest

from twin.core.balance import MeteredPower, live_balance

OK, STALE, MISSING, INVALID, PARTIAL = 0, 1, 2, 3, 5


def _p(device: str, kind: str, building: str | None, p_kw: float | None, quality: int = OK) -> MeteredPower:
    return MeteredPower(device, kind, building, p_kw, quality)


def test_live_balance_household_load_and_losses() -> None:
    records = [
        _p("a/meter", "building_meter", "a", 4.5),
        _p("a/pv", "pv_inverter", "a", -3.0),
        _p("a/bat", "battery", "a", 0.5),
        _p("a/hp", "heat_pump_meter", "a", 2.0),
        _p("a/ev", "ev_charger_meter", "a", 3.5),
        _p("b/meter", "building_meter", "b", -1.0),
        _p("b/pv", "pv_inverter", "b", -2.0),
        _p("cb", "community_battery", None, 10.0),
        _p("sub", "substation_meter", None, 13.9),
    ]
    balance = live_balance(records)
    assert list(balance) == ["a", "b", "substation"]
    assert balance["a"].p_load_kw == pytest.approx(1.5)
    assert balance["b"].p_load_kw == pytest.approx(1.0)
    district = balance["substation"]
    assert district.p_buildings_kw == pytest.approx(3.5)
    assert district.p_loss_kw == pytest.approx(0.4)
    # the home batteries; the community battery is its own term (a chart stacking both counts it once)
    assert district.p_battery_kw == pytest.approx(0.5)
    assert district.p_community_battery_kw == pytest.approx(10.0)
    assert district.p_load_kw == pytest.approx(2.5)
    assert district.as_dict()["p_grid_kw"] == pytest.approx(13.9)
    assert "p_loss_kw" not in balance["a"].as_dict()


@pytest.mark.parametrize(("quality", "usable"), [(STALE, True), (MISSING, False), (INVALID, False)])
def test_live_balance_unusable_input_poisons_derived_values(quality: int, usable: bool) -> None:
    records = [
        _p("a/meter", "building_meter", "a", 2.0),
        _p("a/pv", "pv_inverter", "a", -1.0, quality),
        _p("sub", "substation_meter", None, 2.1),
    ]
    balance = live_balance(records)
    district = balance["substation"]
    assert balance["a"].quality == quality
    # the district's sums over the buildings are partial, not invalid: the substation meter is good
    assert district.quality == PARTIAL and district.inputs_missing == 1
    assert district.flag("p_pv_kw") == (PARTIAL if usable else quality)  # the only PV: nothing known
    assert district.flag("p_grid_kw") == OK
    assert (balance["a"].p_load_kw is not None) is usable
    assert balance["substation"].p_loss_kw == pytest.approx(0.1)  # meters alone give the losses


def test_live_balance_building_without_meter_has_no_load() -> None:
    balance = live_balance([_p("a/pv", "pv_inverter", "a", -1.0), _p("sub", "substation_meter", None, 0.0)])
    assert balance["a"].p_load_kw is None and balance["substation"].p_buildings_kw is None


def test_live_balance_district_partial_sums_count_the_missing_meters() -> None:
    records = [
        _p("a/meter", "building_meter", "a", 2.0),
        _p("a/pv", "pv_inverter", "a", -1.0),
        _p("b/meter", "building_meter", "b", None, MISSING),
        _p("c/meter", "building_meter", "c", 1.5, INVALID),
        _p("cb", "community_battery", None, 3.0),
        _p("sub", "substation_meter", None, 7.0),
    ]
    district = live_balance(records)["substation"]
    assert district.quality == PARTIAL and district.inputs_missing == 2
    assert district.p_grid_kw == pytest.approx(7.0) and district.flag("p_grid_kw") == OK
    assert district.p_buildings_kw == pytest.approx(2.0) and district.flag("p_buildings_kw") == PARTIAL
    assert district.p_load_kw == pytest.approx(3.0) and district.flag("p_load_kw") == PARTIAL
    assert district.p_community_battery_kw == pytest.approx(3.0) and district.flag("p_community_battery_kw") == OK
    assert not district.p_battery_kw  # no home batteries: the community battery is not in the sum
    assert district.p_loss_kw is None and district.flag("p_loss_kw") == INVALID  # losses need every meter
    assert district.as_dict()["inputs_missing"] == 2


@pytest.mark.parametrize("quality", [STALE, MISSING, INVALID])
def test_live_balance_district_without_its_substation_meter_is_not_partial(quality: int) -> None:
    records = [
        _p("a/meter", "building_meter", "a", 2.0),
        _p("b/meter", "building_meter", "b", None, MISSING),
        _p("sub", "substation_meter", None, None if quality == MISSING else 9.0, quality),
    ]
    district = live_balance(records)["substation"]
    assert district.quality == quality and district.inputs_missing is None
    assert district.flag("p_grid_kw") == quality
    assert (district.p_grid_kw is not None) is (quality == STALE)  # a silent meter's held value


def test_live_balance_complete_district_names_no_missing_inputs() -> None:
    records = [_p("a/meter", "building_meter", "a", 2.0), _p("sub", "substation_meter", None, 2.1)]
    district = live_balance(records)["substation"]
    assert district.quality == OK and district.inputs_missing is None
    assert "inputs_missing" not in district.as_dict()
