from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.gas import BOILER_EFFICIENCY_FRAC, gas_boiler_fuel_kw
from models.heatpump import (
    HeatPumpParameters,
    cop_carnot,
    cop_hplib_generic,
    design_heat_load_kw,
    heat_pump_power_kw,
    heating_curve_flow_temp_degc,
)
from twin.core.errors import ConfigError


@pytest.mark.parametrize(("temp_air_degc", "cop"), [(-10.0, 2.44), (-7.0, 2.90), (2.0, 4.29), (7.0, 5.06)])
def test_cop_hplib_generic_at_35_flow_matches_field_notes(temp_air_degc: float, cop: float) -> None:
    assert cop_hplib_generic(np.array([temp_air_degc]), np.array([35.0]))[0] == pytest.approx(cop, abs=0.01)


def test_cop_falls_with_flow_temperature_and_cold() -> None:
    temp = np.array([-7.0, 2.0, 7.0])
    assert (cop_hplib_generic(temp, np.full(3, 45.0)) < cop_hplib_generic(temp, np.full(3, 35.0))).all()
    assert np.all(np.diff(cop_carnot(temp, np.full(3, 35.0))) > 0)
    assert cop_carnot(np.array([2.0]), np.array([35.0]))[0] == pytest.approx(4.2, abs=0.05)


@pytest.mark.parametrize(("design", "expected_at_norm"), [(55.0, 55.0), (45.0, 45.0), (35.0, 35.0)])
def test_heating_curve_endpoints(design: float, expected_at_norm: float) -> None:
    flow = heating_curve_flow_temp_degc(np.array([-20.0, -14.0, 0.5, 15.0, 25.0]), design)
    assert flow[0] == flow[1] == pytest.approx(expected_at_norm)
    assert flow[2] == pytest.approx((expected_at_norm + 20.0) / 2)
    assert flow[3] == flow[4] == pytest.approx(20.0)


def _small_case() -> tuple[pd.Series, pd.DataFrame, pd.DataFrame]:
    index = pd.date_range("2023-01-01", periods=8, freq="15min", tz="UTC")
    temp = pd.Series([-18.0, -14.0, -10.0, -5.0, 0.0, 5.0, 10.0, 16.0], index=index)
    space = pd.DataFrame({"a": [9.0, 8.0, 7.0, 6.0, 5.0, 3.0, 1.5, 0.0], "b": [4.0, 3.5, 3, 2.5, 2, 1.5, 1, 0]}, index)
    dhw = pd.DataFrame({"a": [0.5] * 8, "b": [2.0] * 8}, index=index)
    return temp, space, dhw


@pytest.mark.parametrize("cop_model", ["hplib_generic", "carnot"])
def test_heat_pump_energy_conservation(cop_model: str) -> None:
    temp, space, dhw = _small_case()
    params = HeatPumpParameters(cop_model=cop_model)
    result = heat_pump_power_kw(
        temp, space, dhw, ["existing", "advanced_refurbishment"], p_design_kw=8.0, params=params
    )
    assert np.allclose(result.heat_unit_kw + result.p_backup_kw, space + dhw)
    assert np.allclose(result.p_kw, result.p_compressor_kw + result.p_backup_kw)
    assert (result.p_kw.to_numpy() >= 0).all()
    # the unit never exceeds its rating; below the norm temperature the backup helps
    assert (result.heat_unit_kw.to_numpy() <= 8.0 + 1e-12).all()
    assert result.p_backup_kw.iloc[0, 0] > 0
    # compressor power is heat / COP (all heat from the unit at 10 degC for the 35 degC building)
    assert result.p_compressor_kw["b"].iloc[6] < (space["b"].iloc[6] + dhw["b"].iloc[6]) / 2


@pytest.mark.parametrize(("cop_model", "cop_fn"), [("hplib_generic", cop_hplib_generic), ("carnot", cop_carnot)])
def test_heat_pump_heat_equals_el_times_cop_plus_backup(cop_model: str, cop_fn: object) -> None:
    temp, space, dhw = _small_case()
    dhw[:] = 0.0
    result = heat_pump_power_kw(
        temp, space, dhw, [55.0, 35.0], p_design_kw=8.0, params=HeatPumpParameters(cop_model=cop_model)
    )
    t = temp.to_numpy()
    cop = np.column_stack([cop_fn(t, heating_curve_flow_temp_degc(t, flow)) for flow in (55.0, 35.0)])  # type: ignore[operator]
    usable = cop > 1.0
    heat_from_el = np.where(usable, result.p_compressor_kw.to_numpy() * cop, 0.0)
    assert np.allclose(heat_from_el, result.heat_unit_kw.to_numpy())
    assert np.allclose(heat_from_el + result.p_backup_kw.to_numpy(), space.to_numpy())


def test_heat_pump_default_sizing_covers_norm_temperature() -> None:
    index = pd.date_range("2023-01-01", periods=4 * 24 * 365, freq="15min", tz="UTC")
    temp = pd.Series(5.0 - 10.0 * np.cos(2 * np.pi * np.arange(len(index)) / len(index)), index=index)
    design = design_heat_load_kw(temp, [10000.0])
    load = 10000.0 * np.clip(15.0 - temp, 0, None) / (np.clip(15.0 - temp, 0, None).sum() * 0.25)
    assert load.max() <= design[0] + 1e-9
    space = pd.DataFrame({"a": load})
    dhw = pd.DataFrame({"a": np.zeros(len(index))}, index=index)
    space.index = index
    result = heat_pump_power_kw(temp, space, dhw, "advanced_refurbishment")
    assert result.p_backup_kw.to_numpy().sum() == pytest.approx(0.0, abs=1e-9)
    assert result.p_design_kw["a"] == pytest.approx(design[0])


def test_heat_pump_bad_retrofit_state() -> None:
    temp, space, dhw = _small_case()
    with pytest.raises(ConfigError, match="unknown retrofit state"):
        heat_pump_power_kw(temp, space, dhw, "brand_new")
    with pytest.raises(ConfigError, match="unknown COP model"):
        heat_pump_power_kw(temp, space, dhw, "existing", params=HeatPumpParameters(cop_model="magic"))


def test_gas_boiler_fuel_is_heat_over_efficiency() -> None:
    heat = pd.DataFrame({"a": [0.0, 9.2, 4.6], "b": [1.0, 0.85, 0.0]})
    fuel = gas_boiler_fuel_kw(heat, ["condensing", "old"])
    assert np.allclose(fuel["a"], heat["a"] / BOILER_EFFICIENCY_FRAC["condensing"])
    assert np.allclose(fuel["b"], [1.0 / 0.85, 1.0, 0.0])
    assert np.allclose(gas_boiler_fuel_kw(heat, 0.9), heat / 0.9)
    with pytest.raises(ConfigError, match="unknown boiler type"):
        gas_boiler_fuel_kw(heat, "coal")
