from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.heat import (
    DHW_DAILY_SHAPE,
    DHW_KWH_PER_PERSON_A,
    HeatDemand,
    HeatProfileType,
    dhw_shape,
    heat_demand_kw,
    space_heat_shapes,
)
from twin.core.errors import ConfigError, TwinWarning


@pytest.fixture(scope="module")
def demand(try2010_weather: pd.DataFrame) -> HeatDemand:
    types = [HeatProfileType("EFH"), HeatProfileType("MFH", building_class=5), HeatProfileType("GHD")]
    return heat_demand_kw(try2010_weather["temp_air_degc"], [12000.0, 60000.0, 25000.0], types, [2500.0, 9000.0, 500.0])


def test_heat_demand_annual_energy_equals_demand(demand: HeatDemand) -> None:
    assert np.allclose(demand.space_kw.sum() * 0.25, [12000.0, 60000.0, 25000.0])
    assert np.allclose(demand.dhw_kw.sum() * 0.25, [2500.0, 9000.0, 500.0])
    assert np.allclose(demand.total_kw.sum() * 0.25, [14500.0, 69000.0, 25500.0])
    assert (demand.space_kw.to_numpy() >= 0).all()


def test_heat_demand_more_in_january_than_july(demand: HeatDemand) -> None:
    monthly = demand.space_kw.groupby(demand.space_kw.index.month).sum() * 0.25
    assert (monthly.loc[1] > 5 * monthly.loc[7]).all()
    dhw_monthly = demand.dhw_kw.groupby(demand.dhw_kw.index.month).sum() * 0.25
    assert (dhw_monthly.loc[1] > dhw_monthly.loc[7]).all()


def test_space_heat_follows_cold_days(try2010_weather: pd.DataFrame) -> None:
    shapes = space_heat_shapes(try2010_weather["temp_air_degc"], [HeatProfileType("EFH")])
    daily = shapes["EFH-1-0"].resample("D").sum()
    temp = try2010_weather["temp_air_degc"].resample("D").mean()
    assert np.corrcoef(daily, temp)[0, 1] < -0.9


def test_dhw_shape_daily_pattern_on_local_clock() -> None:
    index = pd.date_range("2023-07-01", periods=96 * 7, freq="15min", tz="UTC")
    shape = dhw_shape(index)
    local = shape.tz_convert("Europe/Berlin")
    hourly = local.groupby(local.index.hour).mean()
    assert hourly.idxmax() == int(np.argmax(DHW_DAILY_SHAPE)) == 7
    assert DHW_DAILY_SHAPE.sum() == pytest.approx(1.0)


def test_dhw_per_person_is_40_litres_at_50_kelvin() -> None:
    assert abs(DHW_KWH_PER_PERSON_A - 850) < 2


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"shlp_type": "XYZ"}, "unknown BDEW heat profile type"),
        ({"shlp_type": "GHD", "building_class": 3}, "building_class"),
        ({"wind_class": 2}, "wind_class"),
    ],
)
def test_heat_profile_type_rejects_bad_values(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        HeatProfileType(**kwargs)  # type: ignore[arg-type]


def test_heat_demand_rejects_negative_energy(try2010_weather: pd.DataFrame) -> None:
    with pytest.raises(ConfigError, match=">= 0"):
        heat_demand_kw(try2010_weather["temp_air_degc"], [-1.0], HeatProfileType(), 0.0)


def test_dhw_shape_short_period_gets_its_share_of_the_year() -> None:
    week = pd.date_range("2023-03-06", periods=96 * 7, freq="15min", tz="UTC")
    energy = dhw_shape(week).sum() * 0.25
    assert energy == pytest.approx(7 / 365, rel=0.1)


def test_space_heat_shapes_warn_on_partial_year(try2010_weather: pd.DataFrame) -> None:
    with pytest.warns(TwinWarning, match="whole UTC years"):
        space_heat_shapes(try2010_weather["temp_air_degc"].iloc[: 96 * 30], [HeatProfileType("EFH")])


@pytest.mark.parametrize(
    "kind",
    [HeatProfileType("EFH"), HeatProfileType("MFH", building_class=3, wind_class=1), HeatProfileType("GBD")],
    ids=lambda k: k.key,
)
def test_space_heat_profile_equals_demandlib_exactly(kind: HeatProfileType) -> None:
    from demandlib import bdew

    from models.heat import _bdew_calendar, _normalized_bdew_profile
    from models.load import saxony_holidays

    index = pd.date_range("2024-12-31 23:00", "2025-12-31 22:00", freq="h")
    holidays = saxony_holidays([2024, 2025])
    calendar = _bdew_calendar(int(index[0].value), len(index), tuple(sorted(holidays.items(), key=str)), kind)
    rng = np.random.default_rng(7)
    ramp = np.linspace(-25.0, 45.0, len(index))  # every temperature interval, and beyond the clip
    for values in (ramp, rng.normal(8.0, 12.0, len(index)), ramp[::-1]):
        temperature = pd.Series(values, index=index).clip(-20.0, 40.0)
        building = bdew.HeatBuilding(
            index,
            temperature=temperature,
            shlp_type=kind.shlp_type,
            building_class=kind._class,
            wind_class=kind.wind_class,
            ww_incl=False,
            holidays=holidays,
            annual_heat_demand=1.0,
        )
        expected = np.asarray(building.get_normalized_bdew_profile(), dtype=float)
        assert np.array_equal(_normalized_bdew_profile(temperature, calendar), expected)
    assert not calendar.hour_factors.flags.writeable
