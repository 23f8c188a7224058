"""Weather input: read test reference years and typical years into one UTC frame.

Every reader returns the file's hourly values on a tz-aware index that marks the
*start* of each hour in the file's own clock (DWD TRY2010 and the DWD EPW files
use MEZ = UTC+1 with hour-ending rows; pvlib's EPW and TMY3 readers and our TRY
reader shift those to hour start). :func:`read_weather` then maps the typical
year onto the requested calendar year in UTC, resamples it to the model step
and adds the solar position at mid-interval, giving the frame every other model
reads: columns ``ghi_w_m2``, ``dni_w_m2``, ``dhi_w_m2``, ``temp_air_degc``,
``wind_speed_m_s``, ``dni_extra_w_m2``, ``solar_zenith_deg``,
``solar_apparent_zenith_deg``, ``solar_azimuth_deg`` on a UTC index of interval
starts; the values are means over ``[t, t + dt)``.
"""

from __future__ import annotations

import calendar
import functools
import importlib.resources
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
import pvlib

from twin.core.errors import ConfigError
from twin.core.vocabulary import STEP_FREQ

__all__ = [
    "BEUCHA",
    "WEATHER_COLUMNS",
    "WEATHER_FORMATS",
    "Site",
    "annual_irradiation_kwh_m2",
    "default_weather_path",
    "read_epw",
    "read_pvgis_tmy",
    "read_tmy3",
    "read_try2010_dat",
    "read_weather",
    "resample_weather",
    "typical_year_weather",
]

#: Columns of the frame :func:`read_weather` returns.
WEATHER_COLUMNS = (
    "ghi_w_m2",
    "dni_w_m2",
    "dhi_w_m2",
    "temp_air_degc",
    "wind_speed_m_s",
    "dni_extra_w_m2",
    "solar_zenith_deg",
    "solar_apparent_zenith_deg",
    "solar_azimuth_deg",
)

#: Hourly columns every reader returns (interval means of the file's hour).
HOURLY_COLUMNS = ("ghi_w_m2", "dhi_w_m2", "temp_air_degc", "wind_speed_m_s")

#: Above this apparent zenith the beam is moved into the diffuse part, so that
#: ``dni = beam_horizontal / cos(zenith)`` cannot blow up at sunrise and sunset.
MAX_BEAM_ZENITH_DEG = 87.0

#: Files of the embedded default: DWD TRY2010 region 4 (Potsdam), shipped by demandlib.
DEFAULT_TRY_RESOURCE = ("demandlib.vdi", "resources_weather/TRY2010_04_Jahr.dat")

#: DWD test reference years are in MEZ, a fixed UTC+1 (no daylight saving).
MEZ = "Etc/GMT-1"

WeatherFormat = Literal["try2010", "epw", "tmy3", "pvgis_tmy"]


@dataclass(frozen=True)
class Site:
    """A location on the earth.

    Parameters
    ----------
    latitude_deg : float
        Latitude, north positive. [deg]
    longitude_deg : float
        Longitude, east positive. [deg]
    altitude_m : float
        Height above sea level. [m]
    name : str
        A name for messages and reports.
    """

    latitude_deg: float
    longitude_deg: float
    altitude_m: float
    name: str = ""


#: Beucha (Brandis, Landkreis Leipzig), DESIGN.md section 1.
BEUCHA = Site(latitude_deg=51.324, longitude_deg=12.567, altitude_m=129.0, name="Beucha")


def default_weather_path() -> Path:
    """Return the path of the embedded default weather file.

    Returns
    -------
    path : pathlib.Path
        demandlib's copy of the DWD test reference year 2010 for climate region 4
        (Nordostdeutsches Tiefland, station Potsdam), the region that holds Beucha.
    """
    package, resource = DEFAULT_TRY_RESOURCE
    return Path(str(importlib.resources.files(package).joinpath(resource)))


def read_try2010_dat(path: str | Path, *, year: int = 2010) -> pd.DataFrame:
    """Read a DWD TRY2010 ``.dat`` file (the format demandlib ships).

    Parameters
    ----------
    path : str or pathlib.Path
        The file, e.g. :func:`default_weather_path`.
    year : int, default 2010
        Nominal year of the index (a test reference year has none).

    Returns
    -------
    hourly : pandas.DataFrame
        8,760 rows on a tz-aware index in MEZ (UTC+1) marking the start of each hour
        (the file's ``HH`` is the MEZ hour *ending*), columns ``ghi_w_m2`` (B + D),
        ``dhi_w_m2`` (D), ``temp_air_degc`` (t) and ``wind_speed_m_s`` (WG).

    Raises
    ------
    ConfigError
        If the file is missing or not in the TRY2010 format.

    Notes
    -----
    The data rows follow the line ``***`` and hold 19 whitespace-separated columns
    ``RG IS MM DD HH N WR WG t p x RF W B D IK A E IL`` (DWD, "Testreferenzjahre von
    Deutschland für mittlere und extreme Witterungsverhältnisse", 2011).
    """
    text = _read_text(path, encoding="latin-1")
    lines = text.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == "***") + 1
        rows = np.array([line.split() for line in lines[start:] if line.strip()], dtype=float)
    except (StopIteration, ValueError) as err:
        raise ConfigError("not a DWD TRY2010 file (no '***' line before 19 numeric columns)", file=str(path)) from err
    if rows.ndim != 2 or rows.shape[1] != 19 or rows.shape[0] != 8760:
        raise ConfigError(f"not a DWD TRY2010 file: expected 8760 rows of 19 columns, got {rows.shape}", file=str(path))
    month, day, hour_ending = (rows[:, i].astype(int) for i in (2, 3, 4))
    dates = pd.to_datetime({"year": np.full(len(rows), year), "month": month, "day": day})
    index = pd.DatetimeIndex(dates + pd.to_timedelta(hour_ending - 1, unit="h")).tz_localize(MEZ)
    return pd.DataFrame(
        {
            "ghi_w_m2": rows[:, 13] + rows[:, 14],
            "dhi_w_m2": rows[:, 14],
            "temp_air_degc": rows[:, 8],
            "wind_speed_m_s": rows[:, 7],
        },
        index=index,
    )


def read_epw(path: str | Path, *, year: int | None = None) -> pd.DataFrame:
    """Read an EnergyPlus weather file (EPW) with pvlib.

    Parameters
    ----------
    path : str or pathlib.Path
        The file. DWD/BBSR files converted to EPW are cp1252, which is how it is read.
    year : int, optional
        Year to coerce the index to (``pvlib.iotools.read_epw(coerce_year=...)``).

    Returns
    -------
    hourly : pandas.DataFrame
        Hourly rows on the file's fixed-offset clock, labelled at hour start (pvlib
        shifts EPW's hour-ending rows), columns as :func:`read_try2010_dat`.

    Raises
    ------
    ConfigError
        If the file is missing or pvlib cannot parse it.
    """
    text = _read_text(path, encoding="cp1252")
    try:
        data, _meta = pvlib.iotools.read_epw(io.StringIO(text), coerce_year=year)
    except (ValueError, KeyError, IndexError, TypeError) as err:
        raise ConfigError(f"not a readable EPW file: {err}", file=str(path)) from err
    return _pvlib_columns(data, path)


def read_tmy3(path: str | Path, *, year: int = 2019) -> pd.DataFrame:
    """Read a TMY3 CSV file with pvlib.

    Parameters
    ----------
    path : str or pathlib.Path
        The file.
    year : int, default 2019
        Year to coerce the index to. A TMY's months come from different years; a
        non-leap year keeps the hour after 28 February 24:00 on 1 March.

    Returns
    -------
    hourly : pandas.DataFrame
        Hourly rows labelled at hour start (TMY3 rows are hour-ending in local
        standard time: pvlib labels them at the end, so they are shifted by -1 h).

    Raises
    ------
    ConfigError
        If the file is missing or pvlib cannot parse it.
    """
    _read_text(path, encoding="latin-1")
    try:
        data, _meta = pvlib.iotools.read_tmy3(str(path), coerce_year=year, map_variables=True, encoding="latin-1")
    except (ValueError, KeyError, IndexError, TypeError) as err:
        raise ConfigError(f"not a readable TMY3 file: {err}", file=str(path)) from err
    data.index = data.index - pd.Timedelta(hours=1)
    return _pvlib_columns(data, path)


def read_pvgis_tmy(path: str | Path, *, year: int | None = None) -> pd.DataFrame:
    """Read a PVGIS typical meteorological year (json, csv or basic) with pvlib.

    Parameters
    ----------
    path : str or pathlib.Path
        The file downloaded from PVGIS.
    year : int, optional
        Year to set on the index (PVGIS TMY months come from different years).

    Returns
    -------
    hourly : pandas.DataFrame
        Hourly rows on a UTC index; PVGIS labels hourly values at the start of the
        hour in UTC, which is kept.

    Raises
    ------
    ConfigError
        If the file is missing or pvlib cannot parse it.
    """
    _read_text(path, encoding="utf-8")
    try:
        data, *_rest = pvlib.iotools.read_pvgis_tmy(str(path), map_variables=True)
    except (ValueError, KeyError, IndexError, TypeError) as err:
        raise ConfigError(f"not a readable PVGIS TMY file: {err}", file=str(path)) from err
    if year is not None:
        data.index = pd.DatetimeIndex([t.replace(year=year) for t in data.index])
    return _pvlib_columns(data, path)


#: Readers by name; :func:`read_weather` picks one by file suffix unless told.
WEATHER_FORMATS: dict[str, Callable[..., pd.DataFrame]] = {
    "try2010": read_try2010_dat,
    "epw": read_epw,
    "tmy3": read_tmy3,
    "pvgis_tmy": read_pvgis_tmy,
}

_FORMAT_BY_SUFFIX = {".dat": "try2010", ".epw": "epw", ".csv": "tmy3", ".json": "pvgis_tmy"}


def read_weather(
    path: str | Path | None,
    *,
    year: int,
    freq: str = STEP_FREQ,
    site: Site = BEUCHA,
    weather_format: WeatherFormat | None = None,
) -> pd.DataFrame:
    """Read a weather file and return a calendar year of it at the model step in UTC.

    Parameters
    ----------
    path : str, pathlib.Path or None
        The weather file; ``None`` is the embedded default (DWD TRY2010 region 4).
    year : int
        Calendar year of the result: ``[year-01-01 00:00 UTC, (year+1)-01-01 00:00 UTC)``.
    freq : str, default "15min"
        Model step; must divide an hour.
    site : Site, default BEUCHA
        Where the solar position is computed.
    weather_format : {"try2010", "epw", "tmy3", "pvgis_tmy"}, optional
        Overrides the choice by suffix (``.dat``, ``.epw``, ``.csv``, ``.json``).

    Returns
    -------
    weather : pandas.DataFrame
        Columns :data:`WEATHER_COLUMNS` on a UTC index of interval starts.

    Raises
    ------
    ConfigError
        For a missing, unreadable or unknown file, or a step that does not divide an hour.

    Notes
    -----
    A typical year is mapped onto ``year`` by month, day and hour of the file's clock
    (29 February repeats 28 February when the file has none), so the UTC year is
    complete even though the file's first hours belong to the previous UTC year
    (they wrap to its end). See :func:`resample_weather` for the resampling.
    """
    file = default_weather_path() if path is None else Path(path)
    name = weather_format or _FORMAT_BY_SUFFIX.get(file.suffix.lower())
    if name not in WEATHER_FORMATS:
        raise ConfigError(
            f"unknown weather file type {file.suffix!r}",
            file=str(file),
            allowed=".dat (DWD TRY2010), .epw, .csv (TMY3), .json (PVGIS TMY)",
        )
    hourly = WEATHER_FORMATS[name](file)
    return resample_weather(_hourly_to_year(hourly, year, file), freq=freq, site=site)


def typical_year_weather(
    hourly: pd.DataFrame, *, year: int, freq: str = STEP_FREQ, site: Site = BEUCHA, source: str = "weather"
) -> pd.DataFrame:
    """A typical year already read (as a reader returns it) laid on a calendar year, as :func:`read_weather` does.

    ``source`` names the year in messages.
    """
    return resample_weather(_hourly_to_year(hourly, year, Path(source)), freq=freq, site=site)


def resample_weather(hourly: pd.DataFrame, *, freq: str = STEP_FREQ, site: Site = BEUCHA) -> pd.DataFrame:
    """Resample hourly UTC weather to the model step and add the solar position.

    Parameters
    ----------
    hourly : pandas.DataFrame
        Columns ``ghi_w_m2``, ``dhi_w_m2``, ``temp_air_degc``, ``wind_speed_m_s`` on a
        regular hourly UTC index of hour starts (hourly means).
    freq : str, default "15min"
        Target step; must divide an hour.
    site : Site, default BEUCHA
        Location of the solar position.

    Returns
    -------
    weather : pandas.DataFrame
        Columns :data:`WEATHER_COLUMNS` on a UTC index of interval starts.

    Notes
    -----
    Method (documented choice, exact in energy):

    - the solar position is computed at each sub-interval's midpoint;
    - hourly GHI and beam-horizontal irradiance ``B = GHI - DHI`` are split over the
      sub-intervals in proportion to the extraterrestrial horizontal irradiance
      ``E0 cos(zenith)`` there, so each hour's mean is kept exactly and no light falls
      before sunrise; an hour whose sun stays below the horizon keeps a constant value;
    - ``DNI = B / cos(zenith)``, limited to the extraterrestrial DNI; above an apparent
      zenith of 87 deg, or beyond that limit, the beam is counted as diffuse, so
      ``GHI = DHI + DNI cos(zenith)`` holds at every step;
    - air temperature is read as the value at each hour's midpoint and linearly
      interpolated to the sub-interval midpoints; wind speed is held for the hour.
    """
    step = pd.Timedelta(freq)
    if step <= pd.Timedelta(0) or pd.Timedelta(hours=1) % step != pd.Timedelta(0):
        raise ConfigError(f"weather step {freq!r} does not divide an hour", field="freq", allowed="15min, 30min, 1h")
    k = int(pd.Timedelta(hours=1) / step)
    index = pd.date_range(hourly.index[0], periods=len(hourly) * k, freq=step, tz="UTC", name="time")
    mid = index + step / 2
    zenith, app_zenith, sun_azimuth, dni_extra = _solar_geometry(int(mid[0].value), len(mid), int(step.value), site)
    cos_zenith = np.cos(np.radians(zenith))
    e0h = (dni_extra * np.clip(cos_zenith, 0.0, None)).reshape(-1, k)
    e0h_mean = e0h.mean(axis=1, keepdims=True)
    weight = np.where(e0h_mean > 0.0, e0h / np.where(e0h_mean > 0.0, e0h_mean, 1.0), 1.0).ravel()

    ghi_h = hourly["ghi_w_m2"].to_numpy(dtype=float)
    beam_h = np.clip(ghi_h - hourly["dhi_w_m2"].to_numpy(dtype=float), 0.0, None)
    ghi = np.repeat(ghi_h, k) * weight
    beam = np.repeat(beam_h, k) * weight
    ok = (app_zenith < MAX_BEAM_ZENITH_DEG) & (cos_zenith > 0.0)
    beam = np.where(ok, np.minimum(beam, dni_extra * np.clip(cos_zenith, 0.0, None)), 0.0)
    dni = np.where(ok, beam / np.where(ok, cos_zenith, 1.0), 0.0)

    hours_s = (hourly.index + pd.Timedelta(minutes=30)).asi8 / 1e9
    temp = np.interp(mid.asi8 / 1e9, hours_s, hourly["temp_air_degc"].to_numpy(dtype=float))
    return pd.DataFrame(
        {
            "ghi_w_m2": ghi,
            "dni_w_m2": dni,
            "dhi_w_m2": ghi - beam,
            "temp_air_degc": temp,
            "wind_speed_m_s": np.repeat(hourly["wind_speed_m_s"].to_numpy(dtype=float), k),
            "dni_extra_w_m2": dni_extra,
            "solar_zenith_deg": zenith,
            "solar_apparent_zenith_deg": app_zenith,
            "solar_azimuth_deg": sun_azimuth,
        },
        index=index,
        copy=True,
    )


@functools.lru_cache(maxsize=8)
def _solar_geometry(first_ns: int, periods: int, step_ns: int, site: Site) -> tuple[npt.NDArray[np.float64], ...]:
    """Solar zenith, apparent zenith, azimuth and extraterrestrial DNI at ``periods`` instants (read-only, cached).

    The instants start at ``first_ns`` (UTC, ns since the epoch) every ``step_ns``; they depend
    on the calendar and the site only, so the weather years of one site and year share them.
    [deg], [deg], [deg], [W m-2]
    """
    mid = pd.date_range(pd.Timestamp(first_ns, tz="UTC"), periods=periods, freq=pd.Timedelta(step_ns), name="time")
    solpos = pvlib.solarposition.get_solarposition(mid, site.latitude_deg, site.longitude_deg, site.altitude_m)
    arrays = (
        solpos["zenith"].to_numpy(dtype=float),
        solpos["apparent_zenith"].to_numpy(dtype=float),
        solpos["azimuth"].to_numpy(dtype=float),
        pvlib.irradiance.get_extra_radiation(mid).to_numpy(dtype=float),
    )
    for array in arrays:
        array.setflags(write=False)
    return arrays


def annual_irradiation_kwh_m2(weather: pd.DataFrame, column: str = "ghi_w_m2") -> float:
    """Return the irradiation of a weather frame's period.

    Parameters
    ----------
    weather : pandas.DataFrame
        A frame from :func:`read_weather` (regular index).
    column : str, default "ghi_w_m2"
        Irradiance column. [W m-2]

    Returns
    -------
    irradiation : float
        Sum of irradiance times step over the frame. [kW h m-2]
    """
    dt_h = (weather.index[1] - weather.index[0]) / pd.Timedelta(hours=1)
    return float(weather[column].sum() * dt_h / 1000.0)


def _read_text(path: str | Path, *, encoding: str) -> str:
    """Return a file's text or raise a one-line ConfigError."""
    try:
        return Path(path).read_text(encoding=encoding)
    except FileNotFoundError as err:
        raise ConfigError("weather file not found", file=str(path)) from err
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"cannot read weather file: {err}", file=str(path)) from err


def _pvlib_columns(data: pd.DataFrame, path: str | Path) -> pd.DataFrame:
    """Pick and rename the columns of a pvlib iotools frame."""
    missing = [c for c in ("ghi", "dhi", "temp_air", "wind_speed") if c not in data.columns]
    if missing:
        raise ConfigError(f"weather file lacks columns {missing}", file=str(path))
    frame = data[["ghi", "dhi", "temp_air", "wind_speed"]].astype(float)
    frame.columns = pd.Index(list(HOURLY_COLUMNS))
    return frame


def _hourly_to_year(hourly: pd.DataFrame, year: int, file: Path) -> pd.DataFrame:
    """Map a typical year (tz-aware hour starts) onto the UTC calendar ``year``."""
    if not isinstance(hourly.index, pd.DatetimeIndex) or hourly.index.tz is None:
        raise ConfigError("weather file has no time zone; cannot place it in UTC", file=str(file))
    source = hourly.index
    source_key = source.month * 10000 + source.day * 100 + source.hour
    n_hours = (366 if calendar.isleap(year) else 365) * 24
    target = pd.date_range(f"{year}-01-01", periods=n_hours, freq="h", tz="UTC", name="time")
    local = target.tz_convert(source.tz)
    has_leap_day = bool(((source.month == 2) & (source.day == 29)).any())
    day = np.where((local.month == 2) & (local.day == 29) & (not has_leap_day), 28, local.day)
    target_key = local.month * 10000 + day * 100 + local.hour
    lookup = pd.Index(source_key)
    if lookup.has_duplicates:
        lookup = lookup.drop_duplicates(keep="first")
        hourly = hourly[~pd.Index(source_key).duplicated(keep="first")]
    position = lookup.get_indexer(target_key)
    if (position < 0).any():
        raise ConfigError(
            f"weather file misses {int((position < 0).sum())} hours of a typical year (need a whole year, hourly)",
            file=str(file),
        )
    result = hourly.iloc[position]
    result.index = target
    return result
