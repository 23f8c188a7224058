"""The weather that happened: a weather station's measurements from the state store, as a weather frame.

:func:`measured_weather` reads what a weather station measured in a period (the store's
15-minute table, channels ``STATION/ghi_w_m2``, ``STATION/temp_air_degc``,
``STATION/wind_speed_m_s``; the live twin and ``twin import`` write them) and returns the frame
:func:`models.weather.read_weather` returns, so that every model can run on it:

- ``ghi_w_m2``, ``temp_air_degc``, ``wind_speed_m_s``: the station's quarter-hour means;
- ``dni_w_m2``, ``dhi_w_m2``: a station measures global irradiance only, so the beam and
  diffuse parts come from the Erbs decomposition (``pvlib.irradiance.erbs``, by the clearness
  index at the quarter's mid-point); above an apparent zenith of
  :data:`models.weather.MAX_BEAM_ZENITH_DEG` all light counts as diffuse, as in
  :func:`models.weather.resample_weather`, so ``GHI = DHI + DNI cos(zenith)`` holds at every step;
- the solar position and extraterrestrial DNI at each quarter's mid-point.

Quarters without a good measurement (missing, invalid or stale in the store) are NaN and counted
(:attr:`MeasuredWeather.missing_quarters`). A store without a station takes a weather file for
the period instead (:func:`models.weather.read_weather` of each calendar year in it), and says so
in :attr:`MeasuredWeather.source`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd
import pvlib

from models.weather import BEUCHA, MAX_BEAM_ZENITH_DEG, WEATHER_COLUMNS, Site, read_weather
from twin.core.errors import ConfigError
from twin.core.store import MeanTable
from twin.core.vocabulary import QUALITY_FLAGS, STEP_FREQ, STEP_S

__all__ = ["STATION_CHANNELS", "MeasuredWeather", "measured_weather", "weather_stations"]

#: The quantities of a station the weather frame needs (the channel is ``STATION/QUANTITY``).
STATION_CHANNELS: Final[tuple[str, ...]] = ("ghi_w_m2", "temp_air_degc", "wind_speed_m_s")


@dataclass(frozen=True)
class MeasuredWeather:
    """The weather of a period and where it comes from.

    Attributes
    ----------
    weather : pandas.DataFrame
        Columns :data:`models.weather.WEATHER_COLUMNS` on a UTC index of quarter starts.
    source : str
        ``weather station ID (store DIR)`` or ``weather file PATH (no weather station in the store)``.
    station : str or None
        The station's device id; None when a weather file stood in.
    missing_quarters : int
        Quarters of the period without a good measurement (NaN rows).
    """

    weather: pd.DataFrame
    source: str
    station: str | None
    missing_quarters: int


def weather_stations(store_dir: str | Path) -> list[str]:
    """The devices of a store's 15-minute table that measure global irradiance, sorted."""
    table = MeanTable(_store(store_dir), "15min")
    suffix = "/" + STATION_CHANNELS[0]
    return sorted(c[: -len(suffix)] for c in table.channels if c.endswith(suffix) and not c.startswith("flow:"))


def measured_weather(
    store_dir: str | Path,
    start_utc: str | pd.Timestamp,
    end_utc: str | pd.Timestamp,
    *,
    site: Site = BEUCHA,
    station: str | None = None,
    weather_file: str | Path | None = None,
) -> MeasuredWeather:
    """The weather a store's station measured in ``[start_utc, end_utc)``, or a weather file's.

    Parameters
    ----------
    store_dir : str or Path
        The state store.
    start_utc, end_utc : str or pandas.Timestamp
        The period (naive times are UTC), floored to quarter hours.
    site : models.weather.Site
        Where the solar position is computed (the district's location).
    station : str, optional
        The station's device id; default the store's first (:func:`weather_stations`).
    weather_file : str or Path, optional
        Stands in when the store has no station (any format :func:`models.weather.read_weather` reads).

    Returns
    -------
    MeasuredWeather

    Raises
    ------
    ConfigError
        No store, an empty period, an unknown station, a station without a measurement in the
        period, or no station and no weather file.
    """
    start, end = _utc(start_utc).floor(STEP_FREQ), _utc(end_utc).floor(STEP_FREQ)
    if end <= start:
        raise ConfigError(f"the period {start} to {end} holds no quarter hour", field="--from/--to")
    index = pd.date_range(start, end, freq=STEP_FREQ, inclusive="left", name="time")
    stations = weather_stations(store_dir)
    if station is not None and station not in stations:
        raise ConfigError(
            f"no weather station {station!r} in the store", file=str(store_dir), allowed=", ".join(stations) or "none"
        )
    chosen = station or (stations[0] if stations else None)
    if chosen is None:
        if weather_file is None:
            raise ConfigError(
                "the store has no weather station: give a weather file for the period", file=str(store_dir)
            )
        frame = pd.concat([read_weather(weather_file, year=y, site=site) for y in range(start.year, end.year + 1)])
        return MeasuredWeather(
            frame.reindex(index), f"weather file {weather_file} (no weather station in the store)", None, 0
        )
    measured = _station_values(store_dir, chosen, index)
    good = measured.notna().all(axis=1)
    if not good.any():
        raise ConfigError(f"weather station {chosen!r} measured nothing from {start} to {end}", file=str(store_dir))
    return MeasuredWeather(
        _weather_frame(measured, site), f"weather station {chosen} (store {store_dir})", chosen, int((~good).sum())
    )


def _station_values(store_dir: str | Path, station: str, index: pd.DatetimeIndex) -> pd.DataFrame:
    """The station's good quarter means on ``index`` (NaN where none)."""
    start_s = int(index[0].timestamp())
    table = MeanTable(_store(store_dir), "15min")
    channels = [f"{station}/{q}" for q in STATION_CHANNELS]
    ds = table.read(start_s=start_s, end_s=start_s + index.size * STEP_S, channels=channels)
    times = pd.DatetimeIndex(ds["time"].values).tz_localize("UTC")
    held = [str(c) for c in ds["channel"].values]
    frame = pd.DataFrame(np.nan, index=index, columns=list(STATION_CHANNELS))
    values, quality = ds["value"].values, ds["quality"].values
    for column, quantity in enumerate(STATION_CHANNELS):
        channel = f"{station}/{quantity}"
        if channel not in held:
            continue
        at = held.index(channel)
        ok = np.isfinite(values[:, at]) & (quality[:, at] == QUALITY_FLAGS["ok"])
        series = pd.Series(np.where(ok, values[:, at], np.nan), index=times)
        frame.iloc[:, column] = series.reindex(index).to_numpy()
    return frame


def _weather_frame(measured: pd.DataFrame, site: Site) -> pd.DataFrame:
    """Measured GHI, air temperature and wind speed as a weather frame (Erbs for DNI and DHI)."""
    index = measured.index
    mid = index + pd.Timedelta(seconds=STEP_S / 2)
    solpos = pvlib.solarposition.get_solarposition(mid, site.latitude_deg, site.longitude_deg, site.altitude_m)
    zenith = solpos["zenith"].to_numpy()
    app_zenith = solpos["apparent_zenith"].to_numpy()
    dni_extra = pvlib.irradiance.get_extra_radiation(mid).to_numpy()
    ghi = np.clip(measured["ghi_w_m2"].to_numpy(dtype=float), 0.0, None)
    split = pvlib.irradiance.erbs(np.nan_to_num(ghi), zenith, mid.dayofyear.to_numpy())
    cos_zenith = np.cos(np.radians(zenith))
    ok = (app_zenith < MAX_BEAM_ZENITH_DEG) & (cos_zenith > 0.0)
    beam = np.where(ok, np.clip(ghi - np.asarray(split["dhi"], dtype=float), 0.0, None), 0.0)
    beam = np.minimum(beam, dni_extra * np.clip(cos_zenith, 0.0, None))
    dni = np.where(ok, beam / np.where(ok, cos_zenith, 1.0), 0.0)
    frame = pd.DataFrame(
        {
            "ghi_w_m2": ghi,
            "dni_w_m2": np.where(np.isfinite(ghi), dni, np.nan),
            "dhi_w_m2": ghi - beam,
            "temp_air_degc": measured["temp_air_degc"].to_numpy(dtype=float),
            "wind_speed_m_s": measured["wind_speed_m_s"].to_numpy(dtype=float),
            "dni_extra_w_m2": dni_extra,
            "solar_zenith_deg": zenith,
            "solar_apparent_zenith_deg": app_zenith,
            "solar_azimuth_deg": solpos["azimuth"].to_numpy(),
        },
        index=index,
    )
    return frame[list(WEATHER_COLUMNS)]


def _utc(value: str | pd.Timestamp) -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise ConfigError(f"{value!r} is not a time", field="--from/--to", allowed="ISO 8601, UTC") from None
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _store(store_dir: str | Path) -> Path:
    path = Path(store_dir)
    if not path.is_dir():
        raise ConfigError("no state store here", file=str(path))
    return path
