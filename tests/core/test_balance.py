"""The live balance: household load derived per building, the district beside the sum of the buildings."""

from __future__ import annotations

import pytest

from twin.core.balance import MeteredPower, live_balance

OK, STALE, MISSING, INVALID = 0, 1, 2, 3


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
    assert balance["a"].quality == quality and balance["substation"].quality == quality
    assert (balance["a"].p_load_kw is not None) is usable
    assert balance["substation"].p_loss_kw == pytest.approx(0.1)  # meters alone give the losses


def test_live_balance_building_without_meter_has_no_load() -> None:
    balance = live_balance([_p("a/pv", "pv_inverter", "a", -1.0), _p("sub", "substation_meter", None, 0.0)])
    assert balance["a"].p_load_kw is None and balance["substation"].p_buildings_kw is None
