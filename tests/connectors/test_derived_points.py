"""Derived SunSpec points: values of a balanced three-phase connection, served consistently."""

from __future__ import annotations

import math

import pytest

from connectors.derived_points import DERIVED_RULES, DerivedInputs, derived_value
from connectors.maps import load_map
from connectors.simdevice import SimulatedDevice


def test_rules_follow_power_and_voltage() -> None:
    inputs = DerivedInputs(p_kw=-6.9, v_phase_v=230.0, v_dc_v=400.0, capacity_kwh=10.0)
    assert derived_value("ac_current_a", inputs) == pytest.approx(30.0)
    assert derived_value("phase_current_a", inputs) == pytest.approx(10.0)
    assert derived_value("line_voltage_v", inputs) == pytest.approx(230.0 * math.sqrt(3))
    assert derived_value("dc_power_w", inputs) == pytest.approx(6900.0)  # discharging: positive (SunSpec 802)
    assert derived_value("dc_current_a", inputs) == pytest.approx(17.25)
    assert derived_value("charge_capacity_ah", inputs) == pytest.approx(25.0)
    assert derived_value("operating_state", inputs) == 4
    assert derived_value("operating_state", DerivedInputs(p_kw=0.0)) == 8
    assert derived_value("dc_current_a", DerivedInputs(p_kw=1.0)) is None  # no DC voltage: not derivable
    with pytest.raises(ValueError, match="unknown derived-point rule 'x'"):
        derived_value("x", inputs)
    assert "phase_voltage_v" in DERIVED_RULES


def test_device_updates_derived_points_with_its_quantities() -> None:
    device = SimulatedDevice(load_map("sunspec_meter"))
    device.set_quantities({"p_meter_kw": -13.8, "v_l1_v": 230.0})
    assert device.point("203.AphA") == pytest.approx(20.0)
    assert device.point("203.PhVphAB") == pytest.approx(398.4, abs=0.1)
    device.set_quantities({"p_meter_kw": 27.6, "v_l1_v": 240.0})
    assert device.point("203.A") == pytest.approx(115.0)
    assert device.point("203.PhVphC") == pytest.approx(240.0)


def test_a_current_beyond_its_register_is_served_as_not_implemented() -> None:
    device = SimulatedDevice(load_map("sunspec_meter_substation"))
    device.set_quantities({"p_meter_kw": 3000.0})  # 13 kA: beyond int16 at A_SF -1
    assert device.point("203.A") is None
    assert device.quantity("p_meter_kw") == pytest.approx(3000.0)
