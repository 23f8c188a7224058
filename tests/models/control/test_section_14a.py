"""Section 14a EnWG after BK6-22-300 (annex 1, "A1"): the numbers of the determination, and the fee modules."""

from __future__ import annotations

import math

import pytest

from models.control.section_14a import (
    GZF_BY_COUNT,
    ControllableDevice,
    GridFeeTariff,
    controllable_devices,
    device_minimum_kw,
    dimmed_limit_kw,
    grid_fee_eur,
    simultaneity_factor,
)
from twin.core.errors import ConfigError

HP = "heat_pump"
AC = "air_conditioning"


def dev(kind: str, p_kw: float) -> ControllableDevice:
    return ControllableDevice(kind, p_kw)


def test_one_dimmed_device_keeps_4_2_kw() -> None:
    # A1 4.5.1 sentence 1: 4.2 kW for any one device, whatever its rating up to 11 kW
    for device in (dev("wallbox", 11.0), dev("wallbox", 22.0), dev("battery", 8.0), dev(HP, 9.0), dev(HP, 11.0)):
        assert device_minimum_kw(device) == 4.2
        assert dimmed_limit_kw([device]) == pytest.approx(4.2)
        assert dimmed_limit_kw([device], control="direct") == pytest.approx(4.2)


def test_heat_pumps_and_air_conditioning_above_11_kw_keep_0_4_of_their_rating() -> None:
    # A1 4.5.1 sentences 2 and 3: 0.4 x rated power above 11 kW (a wallbox is not scaled)
    assert device_minimum_kw(dev(HP, 15.0)) == pytest.approx(6.0)
    assert device_minimum_kw(dev(AC, 20.0)) == pytest.approx(8.0)
    assert device_minimum_kw(dev("wallbox", 22.0)) == 4.2
    assert dimmed_limit_kw([dev(HP, 15.0)]) == pytest.approx(6.0)


def test_simultaneity_factor_by_number_of_devices() -> None:
    # A1 4.5.2: 0.8 for two devices, 0.05 less for each further one, 0.45 from nine on
    expected = {2: 0.8, 3: 0.75, 4: 0.7, 5: 0.65, 6: 0.6, 7: 0.55, 8: 0.5, 9: 0.45, 10: 0.45, 30: 0.45}
    assert {n: simultaneity_factor(n) for n in expected} == pytest.approx(expected)
    assert simultaneity_factor(1) == 1.0
    assert GZF_BY_COUNT[2] - GZF_BY_COUNT[9] == pytest.approx(7 * 0.05)
    with pytest.raises(ValueError, match="at least one"):
        simultaneity_factor(0)


def test_several_devices_behind_one_energy_management_system() -> None:
    # A1 4.5.2: P_min = 4.2 + (n - 1) * GZF(n) * 4.2
    wallbox, battery, heat_pump = dev("wallbox", 11.0), dev("battery", 5.0), dev(HP, 9.0)
    assert dimmed_limit_kw([wallbox, battery]) == pytest.approx(4.2 + 0.8 * 4.2)  # 7.56
    assert dimmed_limit_kw([wallbox, battery]) == pytest.approx(7.56)
    assert dimmed_limit_kw([wallbox, battery, heat_pump]) == pytest.approx(10.5)  # 4.2 + 2 * 0.75 * 4.2
    ten = [dev("wallbox", 11.0) for _ in range(10)]
    assert dimmed_limit_kw(ten) == pytest.approx(4.2 + 9 * 0.45 * 4.2)
    # direct control (A1 4.4 a): each device its own minimum
    assert dimmed_limit_kw([wallbox, battery, heat_pump], control="direct") == pytest.approx(3 * 4.2)


def test_a_large_heat_pump_group_replaces_the_first_4_2_kw() -> None:
    # A1 4.5.2: base = max(0.4 * sum heat pumps, 0.4 * sum air conditioning) with a group above 11 kW
    devices = [dev(HP, 8.0), dev(HP, 7.0), dev("wallbox", 11.0)]  # heat pumps summed: one 15 kW device
    assert dimmed_limit_kw(devices) == pytest.approx(0.4 * 15.0 + 1 * 0.8 * 4.2)
    with_ac = [*devices, dev(AC, 25.0)]
    assert dimmed_limit_kw(with_ac) == pytest.approx(0.4 * 25.0 + 2 * 0.75 * 4.2)


def test_which_devices_count() -> None:
    # A1 2.4.1: above 4.2 kW; A1 2.4.2: heat pumps summed per connection, so are air conditioners
    small = [dev(HP, 3.0), dev(HP, 3.0), dev("wallbox", 3.7), dev("battery", 4.2), dev(AC, 2.0)]
    units = controllable_devices(small)
    assert units == [dev(HP, 6.0)]
    assert dimmed_limit_kw(small) == pytest.approx(4.2)
    assert dimmed_limit_kw([dev("wallbox", 3.7)]) == math.inf  # nothing controllable, nothing dimmed
    assert dimmed_limit_kw([]) == math.inf


def test_bad_devices_and_options_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="unknown controllable device kind 'sauna'"):
        dev("sauna", 9.0)
    with pytest.raises(ConfigError, match="p_rated_kw"):
        dev(HP, -1.0)
    with pytest.raises(ConfigError, match="unknown section 14a control"):
        dimmed_limit_kw([dev(HP, 9.0)], control="remote")  # type: ignore[arg-type]


TARIFF = GridFeeTariff(
    energy_price_eur_per_kwh=0.0862,
    base_price_eur_per_year=60.0,
    flat_reduction_eur_per_year=131.88,
    low_price_eur_per_kwh=0.0345,
    high_price_eur_per_kwh=0.1084,
)


def test_grid_fee_modules() -> None:
    usage = {"household_kwh": 3000.0, "device_kwh": 4000.0}
    plain = grid_fee_eur(0, TARIFF, **usage)
    assert plain == pytest.approx(7000 * 0.0862 + 60.0)
    # module 1: the flat reduction per connection
    assert grid_fee_eur(1, TARIFF, **usage) == pytest.approx(plain - 131.88)
    # module 2: the devices' energy price reduced by 60 %, no base price for their meter
    assert grid_fee_eur(2, TARIFF, **usage) == pytest.approx(3000 * 0.0862 + 60.0 + 4000 * 0.0862 * 0.4)
    # module 3 (with module 1): the low and the high rate in their windows
    m3 = grid_fee_eur(3, TARIFF, **usage, low_kwh=1000.0, high_kwh=500.0)
    assert m3 == pytest.approx(5500 * 0.0862 + 1000 * 0.0345 + 500 * 0.1084 + 60.0 - 131.88)
    assert grid_fee_eur(3, TARIFF, **usage) == pytest.approx(grid_fee_eur(1, TARIFF, **usage))
    # never below zero; yearly prices scale with the period
    assert grid_fee_eur(1, TARIFF, household_kwh=0.0, device_kwh=100.0) == 0.0
    assert grid_fee_eur(0, TARIFF, household_kwh=0.0, device_kwh=0.0, years=0.5) == pytest.approx(30.0)


def test_grid_fee_bad_input() -> None:
    with pytest.raises(ConfigError, match="module 3 needs"):
        grid_fee_eur(3, GridFeeTariff(0.08), household_kwh=1.0, device_kwh=1.0)
    with pytest.raises(ConfigError, match="must lie within"):
        grid_fee_eur(3, TARIFF, household_kwh=1.0, device_kwh=1.0, low_kwh=3.0)
    with pytest.raises(ConfigError, match="unknown section 14a module"):
        grid_fee_eur(4, TARIFF, household_kwh=1.0, device_kwh=1.0)  # type: ignore[arg-type]
