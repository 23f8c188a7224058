from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models.weather import (
    WEATHER_COLUMNS,
    Site,
    annual_irradiation_kwh_m2,
    default_weather_path,
    read_try2010_dat,
    read_weather,
    resample_weather,
)
from twin.core.errors import ConfigError


def test_default_weather_path_is_try2010_region_4() -> None:
    path = default_weather_path()
    assert path.name == "TRY2010_04_Jahr.dat"
    assert path.exists()


def test_read_try2010_dat_hour_ending_mez_to_hour_start() -> None:
    hourly = read_try2010_dat(default_weather_path())
    assert len(hourly) == 8760
    # HH = 1 (MEZ hour ending 01:00) starts at 00:00 MEZ = 23:00 UTC of the previous day
    assert hourly.index[0] == pd.Timestamp("2009-12-31 23:00", tz="UTC")
    assert hourly["ghi_w_m2"].sum() / 1000 == pytest.approx(1074.5, abs=0.1)
    assert hourly["temp_air_degc"].mean() == pytest.approx(9.54, abs=0.01)


def test_read_weather_default_try2010_region_4(try2010_weather: pd.DataFrame) -> None:
    weather = try2010_weather
    assert list(weather.columns) == list(WEATHER_COLUMNS)
    assert str(weather.index.tz) == "UTC"
    assert weather.index[0] == pd.Timestamp("2023-01-01", tz="UTC")
    assert len(weather) == 35040
    assert annual_irradiation_kwh_m2(weather) == pytest.approx(1074.5, abs=0.1)
    assert weather["temp_air_degc"].mean() == pytest.approx(9.54, abs=0.02)


def test_read_weather_closure_and_no_light_at_night(try2010_weather: pd.DataFrame) -> None:
    weather = try2010_weather
    cos_zenith = np.cos(np.radians(weather["solar_zenith_deg"]))
    closure = weather["dhi_w_m2"] + weather["dni_w_m2"] * cos_zenith - weather["ghi_w_m2"]
    assert np.abs(closure).max() < 1e-9
    assert (weather["dhi_w_m2"] >= -1e-9).all()
    # only twilight diffuse light (hours whose sun stays below the horizon keep the file's value)
    night = weather.loc[weather["solar_zenith_deg"] > 95, "ghi_w_m2"]
    assert night.max() < 10
    assert night.sum() < 1e-3 * weather["ghi_w_m2"].sum()


def test_read_weather_solar_noon_in_utc(try2010_weather: pd.DataFrame) -> None:
    # local solar noon at 12.567 E is about 11:10 UTC (equation of time averages out)
    weather = try2010_weather
    hour_mid = weather.index.hour + (weather.index.minute + 7.5) / 60
    centroid_h = float((hour_mid * weather["ghi_w_m2"]).sum() / weather["ghi_w_m2"].sum())
    assert 10.9 < centroid_h < 11.5


def test_read_weather_epw_try2015_leipzig(epw_path: Path) -> None:
    weather = read_weather(epw_path, year=2023)
    assert annual_irradiation_kwh_m2(weather) == pytest.approx(1059.7, abs=0.1)
    assert weather["temp_air_degc"].mean() == pytest.approx(10.31, abs=0.02)


def test_read_weather_leap_year_repeats_february_28() -> None:
    weather = read_weather(None, year=2024, freq="1h")
    assert len(weather) == 8784
    feb28 = weather.loc["2024-02-28 06:00":"2024-02-28 18:00", "ghi_w_m2"].to_numpy()
    feb29 = weather.loc["2024-02-29 06:00":"2024-02-29 18:00", "ghi_w_m2"].to_numpy()
    assert np.allclose(feb28, feb29, rtol=0.05, atol=5.0)


def test_resample_weather_keeps_hourly_means() -> None:
    index = pd.date_range("2023-06-21", periods=24, freq="h", tz="UTC")
    ghi = np.clip(800 * np.sin(np.pi * (np.arange(24) - 3) / 17), 0, None)
    hourly = pd.DataFrame(
        {"ghi_w_m2": ghi, "dhi_w_m2": 0.4 * ghi, "temp_air_degc": np.arange(24.0), "wind_speed_m_s": 2.0},
        index=index,
    )
    fine = resample_weather(hourly, freq="15min")
    assert len(fine) == 96
    means = fine["ghi_w_m2"].to_numpy().reshape(24, 4).mean(axis=1)
    assert np.allclose(means, ghi)
    assert fine["temp_air_degc"].iloc[2] == pytest.approx(0.125)  # mid 00:37:30, between 0 at :30 and 1 at 1:30


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("missing.epw", None, "not found"),
        ("broken.dat", "no stars here\n", "not a DWD TRY2010 file"),
        ("weather.xyz", "", "unknown weather file type"),
        ("broken.epw", "LOCATION,x\n", "not a readable EPW file"),
    ],
)
def test_read_weather_bad_file_raises_config_error(tmp_path: Path, name: str, content: str | None, match: str) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError, match=match) as info:
        read_weather(path, year=2023)
    assert "\n" not in str(info.value)
    assert str(path) in str(info.value)


def test_resample_weather_rejects_step_not_dividing_hour(try2010_weather: pd.DataFrame) -> None:
    hourly = try2010_weather.iloc[:8:4][["ghi_w_m2", "dhi_w_m2", "temp_air_degc", "wind_speed_m_s"]]
    with pytest.raises(ConfigError, match="does not divide an hour"):
        resample_weather(hourly, freq="7min")


def test_read_weather_tmy3_from_pvlib_sample() -> None:
    pvlib = pytest.importorskip("pvlib")
    path = Path(pvlib.__file__).parent / "data" / "723170TYA.CSV"
    site = Site(latitude_deg=36.1, longitude_deg=-79.95, altitude_m=273.0, name="Greensboro")
    weather = read_weather(path, year=2023, site=site)
    raw, _meta = pvlib.iotools.read_tmy3(str(path), map_variables=True)
    assert annual_irradiation_kwh_m2(weather) == pytest.approx(raw["ghi"].sum() / 1000)
    # hour-ending local standard time (UTC-5): solar noon at 79.95 W is about 17:20 UTC
    hour_mid = weather.index.hour + (weather.index.minute + 7.5) / 60
    assert float((hour_mid * weather["ghi_w_m2"]).sum() / weather["ghi_w_m2"].sum()) == pytest.approx(17.33, abs=0.2)


def test_read_weather_pvgis_tmy_json(tmp_path: Path) -> None:
    # a minimal PVGIS TMY JSON: hourly UTC rows labelled at hour start, months from different years
    hours = pd.date_range("2019-01-01", periods=8760, freq="h", tz="UTC")
    years = np.where(hours.month <= 6, 2011, 2015)
    times = [f"{y}{t:%m%d:%H%M}" for y, t in zip(years, hours, strict=True)]
    ghi = np.clip(600 * np.sin(np.pi * (hours.hour.to_numpy() - 5) / 14), 0, None)
    rows = [
        {
            "time(UTC)": s,
            "T2m": 10.0,
            "RH": 80.0,
            "G(h)": g,
            "Gb(n)": 0.0,
            "Gd(h)": g / 2,
            "IR(h)": 300.0,
            "WS10m": 3.0,
            "WD10m": 180.0,
            "SP": 100000.0,
        }
        for s, g in zip(times, ghi, strict=True)
    ]
    document = {
        "inputs": {"location": {"latitude": 51.3, "longitude": 12.6, "elevation": 129.0}},
        "outputs": {"months_selected": [{"month": m, "year": 2011} for m in range(1, 13)], "tmy_hourly": rows},
        "meta": {"inputs": {}},
    }
    path = tmp_path / "tmy.json"
    path.write_text(json.dumps(document))
    weather = read_weather(path, year=2023)
    assert annual_irradiation_kwh_m2(weather) == pytest.approx(ghi.sum() / 1000)
    assert weather["temp_air_degc"].mean() == pytest.approx(10.0)


def test_resample_weather_shares_the_solar_position_without_aliasing() -> None:
    from models.weather import _solar_geometry

    index = pd.date_range("2025-03-01", periods=48, freq="h", tz="UTC")
    hourly = pd.DataFrame(
        {"ghi_w_m2": 100.0, "dhi_w_m2": 50.0, "temp_air_degc": 5.0, "wind_speed_m_s": 2.0}, index=index
    )
    site = Site(51.3, 12.6, 130.0)
    first = resample_weather(hourly, site=site)
    first["solar_zenith_deg"] *= 2.0  # a caller changing its frame leaves the next one alone
    second = resample_weather(hourly, site=site)
    assert _solar_geometry.cache_info().hits >= 1
    again = resample_weather(hourly, site=site)
    assert again.equals(second)
    assert not np.array_equal(first["solar_zenith_deg"], second["solar_zenith_deg"])
    other = resample_weather(hourly, site=Site(48.0, 11.0, 500.0))
    assert not np.array_equal(other["solar_zenith_deg"], second["solar_zenith_deg"])
