"""Named test reference years, resampled years of whole days, and the model parameters an ensemble varies."""

from __future__ import annotations

import numpy as np
import pytest

from models.heatpump_cop import cop
from models.variation import ModelVariation, ScaledCop
from models.weather import annual_irradiation_kwh_m2
from models.weather_years import (
    REFERENCE_YEARS,
    read_reference_year,
    reference_year_path,
    resample_days,
    resampled_weather,
)
from twin.core.errors import ConfigError


def _days(frame):  # (day, hour, column) and the month of each day, in calendar order
    index = frame.index
    keep = ~((index.month == 2) & (index.day == 29))
    values = frame[keep].to_numpy(dtype=float).reshape(365, 24, -1)
    return values, index[keep].month.to_numpy().reshape(365, 24)[:, 0]


def test_named_years_are_the_dwd_files() -> None:
    """TRY2015 and TRY2045 Leipzig carry the annual irradiation their provenance states."""
    assert set(REFERENCE_YEARS) == {"try2010", "try2015", "try2045"}
    assert reference_year_path("try2015").is_file() and reference_year_path("try2045").is_file()
    ghi = {name: read_reference_year(name)["ghi_w_m2"].sum() / 1000 for name in ("try2015", "try2045")}
    assert ghi["try2015"] == pytest.approx(1059.7, abs=0.1)
    assert ghi["try2045"] == pytest.approx(1159.9, abs=0.1)
    with pytest.raises(ConfigError, match="unknown weather year 'try1999'"):
        reference_year_path("try1999")


def test_resampled_days_stay_whole_and_in_their_month() -> None:
    """Every day of a resampled year is one source day, all hours and columns together, of the same month."""
    sources = [read_reference_year("try2010"), read_reference_year("try2015")]
    year = resample_days(sources, seed=11)
    assert len(year) == 8760 and year.index.is_monotonic_increasing
    out, months = _days(year)
    pools = [_days(frame) for frame in sources]
    used_sources = set()
    for day in range(365):
        matches = [
            (s, d)
            for s, (values, source_months) in enumerate(pools)
            for d in np.flatnonzero(source_months == months[day])
            if np.array_equal(values[d], out[day])
        ]
        assert matches, f"day {day} is not a whole day of its month in any source"
        used_sources.update(s for s, _ in matches)
    assert used_sources == {0, 1}
    same = resample_days(sources, seed=11)
    assert same.equals(year)
    assert not resample_days(sources, seed=12).equals(year)


def test_resampled_weather_keeps_the_season() -> None:
    """A resampled year at the model step: its monthly temperatures lie within the sources' range."""
    weather, source = resampled_weather(["try2010", "try2015"], seed=3, year=2025)
    assert source == "resampled from try2010+try2015, seed 3" and len(weather) == 365 * 96
    monthly = weather["temp_air_degc"].groupby(weather.index.month).mean()
    references = [resampled_weather([name], seed=None, year=2025)[0] for name in ("try2010", "try2015")]
    low = np.minimum(*[r["temp_air_degc"].groupby(r.index.month).mean() for r in references])
    high = np.maximum(*[r["temp_air_degc"].groupby(r.index.month).mean() for r in references])
    assert ((monthly > low - 2.5) & (monthly < high + 2.5)).all()
    assert monthly[7] - monthly[1] > 12  # summer stays summer
    assert 950 < annual_irradiation_kwh_m2(weather) < 1200


def test_model_variation_defaults_and_draws() -> None:
    """The neutral variation is the models' defaults; a draw sets exactly what it names."""
    neutral = ModelVariation()
    assert neutral.pv_parameters() is None and neutral.heat_pump_parameters() is None
    assert neutral.battery_parameters().eta_charge_frac == 0.935
    pv = ModelVariation(pv_losses_percent=18.0).pv_parameters()
    assert pv is not None and pv.losses.total_percent == pytest.approx(18.0, abs=1e-9)
    battery = ModelVariation(battery_round_trip_frac=0.81).battery_parameters()
    assert battery.eta_charge_frac * battery.eta_discharge_frac == pytest.approx(0.81)
    temp, flow = np.array([-7.0, 2.0, 7.0]), np.array([55.0, 35.0, 35.0])
    assert np.allclose(ScaledCop(0.9)(temp, flow), 0.9 * cop(temp, flow))
    with pytest.raises(ConfigError, match="pv_losses_percent"):
        ModelVariation(pv_losses_percent=5.0)
