from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.gas import BOILER_EFFICIENCY_FRAC, gas_boiler_fuel_kw
from models.heating_curve import EMITTERS, emitter_of, heating_curve_flow_temp_degc
from models.heatpump import (
    HeatPumpParameters,
    cop_carnot,
    cop_hplib_generic,
    design_heat_load_kw,
    heat_pump_power_kw,
)
from models.heatpump_cop import DATASHEET_POINTS, EN14511_RH_FRAC, cop, defrost_factor
from twin.core.errors import ConfigError

#: Tolerance of the COP model against the mean of the two datasheet units. [1]
COP_RTOL = 0.08


@pytest.mark.parametrize(("temp_air_degc", "cop_value"), [(-10.0, 2.44), (-7.0, 2.90), (2.0, 4.29), (7.0, 5.06)])
def test_cop_hplib_generic_at_35_flow_matches_field_notes(temp_air_degc: float, cop_value: float) -> None:
    assert cop_hplib_generic(np.array([temp_air_degc]), np.array([35.0]))[0] == pytest.approx(cop_value, abs=0.01)


@pytest.mark.parametrize(("point", "datasheet"), list(DATASHEET_POINTS.items()))
def test_cop_matches_en14511_datasheet_points(point: tuple[float, float], datasheet: tuple[float, float]) -> None:
    # EN 14511: the A2 test runs in humid air (wet bulb 1 degC) with defrost; A7 and A-7 do not frost
    temp, flow = point
    rh = EN14511_RH_FRAC if temp == 2.0 else 0.5
    assert float(cop(temp, flow, rh_frac=rh)) == pytest.approx(np.mean(datasheet), rel=COP_RTOL)


def test_cold_cop_holds_down_to_the_operating_limit() -> None:
    # hplib's generic fit reaches COP 1.00 at A-10/W55; real units keep ~1.8-2.2 (A-7/W55 datasheets 2.05/1.82)
    a10_w55 = float(cop(-10.0, 55.0))
    assert 1.7 <= a10_w55 <= 2.1
    assert a10_w55 < float(cop(-7.0, 55.0))
    assert float(cop(-20.0, 55.0)) > 1.4
    assert cop_hplib_generic(np.array([-10.0]), np.array([55.0]))[0] < 1.2


def test_cop_falls_with_flow_temperature_and_cold() -> None:
    temp = np.array([-15.0, -7.0, 7.0, 12.0])
    assert (cop(temp, 45.0, rh_frac=0.5) < cop(temp, 35.0, rh_frac=0.5)).all()
    assert np.all(np.diff(cop(temp, 55.0, rh_frac=0.5)) > 0)
    assert float(cop(20.0, 25.0)) < 8.0  # the lift floor keeps mild-weather COPs at datasheet levels
    assert np.all(np.diff(cop_carnot(temp, np.full(4, 35.0))) > 0)


def test_defrost_only_around_zero_in_humid_air() -> None:
    factor = defrost_factor(np.array([-10.0, -3.0, 1.0, 4.0, 8.0]), 0.9)
    assert factor[0] == factor[4] == 1.0
    assert factor[2] == pytest.approx(0.9)
    assert 0.9 < factor[1] < 1.0 and 0.9 < factor[3] < 1.0
    assert float(defrost_factor(1.0, 0.5)) == 1.0


@pytest.mark.parametrize(("emitter", "design"), [("radiator", 55.0), ("radiator", 45.0), ("floor", 35.0)])
def test_heating_curve_design_point_and_minimum_flow(emitter: str, design: float) -> None:
    temp = np.array([-20.0, -14.0, -5.0, 2.0, 10.0, 15.0, 25.0])
    flow = heating_curve_flow_temp_degc(temp, design, emitter=emitter)
    assert flow[0] == flow[1] == pytest.approx(design)
    assert np.all(np.diff(flow) <= 0)
    assert flow[-1] == flow[-2] == EMITTERS[emitter].min_flow_degc
    assert flow.min() >= EMITTERS[emitter].min_flow_degc


def test_radiator_curve_is_above_a_straight_line_at_mild_weather() -> None:
    # radiators give off heat ~ dT^1.3: half the load needs more than half the excess temperature;
    # a straight line to 20 degC flow at 15 degC outside gives 35.7 degC here
    flow = heating_curve_flow_temp_degc(np.array([2.0]), 55.0)[0]
    straight = 20.0 + (55.0 - 20.0) * (15.0 - 2.0) / (15.0 + 14.0)
    assert 39.0 < flow < 43.0 and flow > straight + 3.0
    assert EMITTERS["radiator"].min_flow_degc == 30.0 and EMITTERS["floor"].min_flow_degc == 25.0
    assert emitter_of(1975) == "radiator" and emitter_of(2005) == "floor"


def _small_case() -> tuple[pd.Series, pd.DataFrame, pd.DataFrame]:
    index = pd.date_range("2023-01-01", periods=8, freq="15min", tz="UTC")
    temp = pd.Series([-22.0, -14.0, -10.0, -5.0, 0.0, 5.0, 10.0, 16.0], index=index)
    space = pd.DataFrame({"a": [9.0, 8.0, 7.0, 6.0, 5.0, 3.0, 1.5, 0.0], "b": [4.0, 3.5, 3, 2.5, 2, 1.5, 1, 0]}, index)
    dhw = pd.DataFrame({"a": [0.5] * 8, "b": [2.0] * 8}, index=index)
    return temp, space, dhw


@pytest.mark.parametrize("cop_model", ["datasheet_fit", "hplib_generic", "carnot"])
def test_heat_pump_energy_conservation(cop_model: str) -> None:
    temp, space, dhw = _small_case()
    params = HeatPumpParameters(cop_model=cop_model)
    result = heat_pump_power_kw(
        temp, space, dhw, ["existing", "advanced_refurbishment"], p_design_kw=8.0, params=params
    )
    assert np.allclose(result.heat_unit_kw + result.p_backup_kw, space + dhw)
    assert np.allclose(result.heat_kw, space + dhw)
    assert np.allclose(result.p_kw, result.p_compressor_kw + result.p_backup_kw)
    assert (result.p_compressor_kw.to_numpy() >= params.standby_kw - 1e-12).all()
    assert (result.heat_unit_kw.to_numpy() <= 8.0 + 1e-12).all()


def test_backup_only_below_the_operating_limit_or_above_the_rating() -> None:
    temp, space, dhw = _small_case()
    result = heat_pump_power_kw(temp, space, dhw, "existing", p_design_kw=[8.0, 8.0])
    backup = result.p_backup_kw
    # -22 degC is below the -20 degC limit: the backup heater carries everything
    assert backup.iloc[0].to_numpy() == pytest.approx((space + dhw).iloc[0].to_numpy())
    # a at -14 degC: 8.5 kW demand on an 8 kW unit: 0.5 kW backup; everything else from the unit
    assert backup["a"].iloc[1] == pytest.approx(0.5)
    assert backup.iloc[2:].to_numpy() == pytest.approx(0.0)
    assert backup["b"].iloc[1] == pytest.approx(0.0)


def test_unit_electricity_is_standby_plus_heat_over_cop_with_cycling() -> None:
    temp, space, dhw = _small_case()
    dhw[:] = 0.0
    params = HeatPumpParameters(standby_kw=0.02)
    rating = 10.0
    result = heat_pump_power_kw(temp, space, dhw, [55.0, 35.0], emitter=["radiator", "floor"], p_design_kw=rating)
    t = temp.to_numpy()
    curves = [("radiator", 55.0), ("floor", 35.0)]
    cop_space = np.column_stack([cop(t, heating_curve_flow_temp_degc(t, f, emitter=e)) for e, f in curves])
    unit = result.heat_unit_kw.to_numpy()
    ratio = np.clip(unit / (params.min_modulation_frac * rating), 0.0, 1.0)
    plf = np.where(ratio > 0, ratio / (params.cycling_cd_frac * ratio + 1 - params.cycling_cd_frac), 1.0)
    expected = params.standby_kw + unit / (cop_space * plf)
    assert np.allclose(result.p_compressor_kw.to_numpy()[1:], expected[1:])
    # 1 kW at 10 degC is below the 3 kW lowest modulation: cycling costs efficiency
    assert plf[6, 1] < 0.95
    assert result.p_compressor_kw["b"].iloc[7] == pytest.approx(params.standby_kw)


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


def test_heat_pump_bad_inputs() -> None:
    temp, space, dhw = _small_case()
    with pytest.raises(ConfigError, match="unknown retrofit state"):
        heat_pump_power_kw(temp, space, dhw, "brand_new")
    with pytest.raises(ConfigError, match="unknown COP model"):
        heat_pump_power_kw(temp, space, dhw, "existing", params=HeatPumpParameters(cop_model="magic"))
    with pytest.raises(ConfigError, match="unknown emitter"):
        heat_pump_power_kw(temp, space, dhw, "existing", emitter="fan_coil")
    with pytest.raises(ConfigError, match="2 heat pumps"):
        heat_pump_power_kw(temp, space, dhw, "existing", emitter=["floor"])


def test_gas_boiler_fuel_is_heat_over_efficiency() -> None:
    heat = pd.DataFrame({"a": [0.0, 9.2, 4.6], "b": [1.0, 0.85, 0.0]})
    fuel = gas_boiler_fuel_kw(heat, ["condensing", "old"])
    assert np.allclose(fuel["a"], heat["a"] / BOILER_EFFICIENCY_FRAC["condensing"])
    assert np.allclose(fuel["b"], [1.0 / 0.85, 1.0, 0.0])
    assert np.allclose(gas_boiler_fuel_kw(heat, 0.9), heat / 0.9)
    with pytest.raises(ConfigError, match="unknown boiler type"):
        gas_boiler_fuel_kw(heat, "coal")
