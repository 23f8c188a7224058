"""The test reference years a scenario may name, and more plausible years resampled from them.

Named years: ``try2010`` (DWD TRY2010 region 4, Potsdam, embedded), ``try2015`` (DWD/BBSR
TRY2015 Leipzig, the mean year of 1995-2012) and ``try2045`` (DWD/BBSR TRY2045 Leipzig, a
projected mean year); the Leipzig files and their provenance are in ``models/data/weather/``.

A **resampled year** (:func:`resample_days`) takes each calendar day of the year whole - all 24
hours of irradiance, diffuse share, temperature and wind together - from a day of the *same
month* of a randomly chosen source year. So it keeps:

- the seasonal structure: every day comes from its own month, so the sun's height, the month's
  temperature level and its spread of sunny and overcast days are those of the sources;
- the within-day structure and the cross-variable structure: a clear cold January day stays
  clear and cold, with its own daily course of temperature and wind;

and it loses the **day-to-day persistence**: runs of cold or dull days (a week-long winter
high, a grey spell) are broken up at random, so cold spells and multi-day shortfalls of PV are
rarer and shorter than in real years and the spread of the heat demand and of the
long-duration balance is underestimated; at midnight the temperature may jump between days.
The draws are those of ``numpy.random.default_rng(seed)``: the same sources and seed give the
same year.
"""

from __future__ import annotations

import functools
import importlib.resources
from collections.abc import Sequence
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from models.weather import (
    BEUCHA,
    HOURLY_COLUMNS,
    Site,
    default_weather_path,
    read_epw,
    read_try2010_dat,
    read_weather,
    typical_year_weather,
)
from twin.core.errors import ConfigError

__all__ = [
    "REFERENCE_YEARS",
    "heating_degree_days",
    "read_reference_year",
    "reference_year_path",
    "resample_days",
    "resample_plan",
    "resampled_weather",
]

#: The named test reference years: name -> description.
REFERENCE_YEARS: Final[dict[str, str]] = {
    "try2010": "DWD TRY2010 region 4 (Potsdam), embedded",
    "try2015": "DWD/BBSR TRY2015 Leipzig, mean year of 1995-2012",
    "try2045": "DWD/BBSR TRY2045 Leipzig, projected mean year",
}
_FILES: Final[dict[str, str]] = {"try2015": "TRY2015_Leipzig_Jahr.epw", "try2045": "TRY2045_Leipzig_Jahr.epw"}
_DAYS: Final[int] = 365


def reference_year_path(name: str, *, field: str = "weather") -> Path:
    """The file of a named test reference year.

    Raises
    ------
    ConfigError
        For a name not in :data:`REFERENCE_YEARS`, naming ``field``.
    """
    if name not in REFERENCE_YEARS:
        raise ConfigError(f"unknown weather year {name!r}", field=field, allowed=", ".join(REFERENCE_YEARS))
    if name == "try2010":
        return default_weather_path()
    return Path(str(importlib.resources.files("models.data").joinpath("weather", _FILES[name])))


@functools.lru_cache(maxsize=8)
def read_reference_year(name: str) -> pd.DataFrame:
    """The hourly values of a named year on its own clock (MEZ, hour starts), as its reader returns them."""
    path = reference_year_path(name)
    return read_try2010_dat(path) if name == "try2010" else read_epw(path)


def resample_plan(n_sources: int, months: npt.ArrayLike, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Which source and which day of it each day of the year takes.

    Parameters
    ----------
    n_sources : int
        Number of source years.
    months : array_like
        Month (1-12) of each day of the year, in order.
    seed : int
        Seed of :func:`numpy.random.default_rng`.

    Returns
    -------
    source, day : numpy.ndarray
        Per day of the year: the index of its source year and the day (0-based, of the year)
        it is copied from, always a day of the same month.
    """
    months = np.asarray(months)
    rng = np.random.default_rng(seed)
    source = rng.integers(n_sources, size=len(months))
    day = np.empty(len(months), dtype=np.int64)
    for month in np.unique(months):
        days = np.flatnonzero(months == month)
        day[days] = days[rng.integers(len(days), size=len(days))]
    return source, day


def resample_days(sources: Sequence[pd.DataFrame], *, seed: int) -> pd.DataFrame:
    """A year of whole days, each drawn from the same month of one of the source years.

    Parameters
    ----------
    sources : sequence of pandas.DataFrame
        Hourly typical years as the readers return them (:data:`models.weather.HOURLY_COLUMNS`
        on their own clock); 29 February, where present, is left out.
    seed : int
        Seed of the draws (:func:`resample_plan`).

    Returns
    -------
    hourly : pandas.DataFrame
        8,760 rows on the first source's clock, in calendar order.
    """
    if not sources:
        raise ConfigError("a resampled year needs at least one source year", field="weather")
    days = [_by_day(frame) for frame in sources]
    index = days[0][0]
    months = index.month.to_numpy().reshape(_DAYS, 24)[:, 0]
    source, day = resample_plan(len(days), months, seed=seed)
    stacked = np.stack([values for _, values in days])
    values = stacked[source, day].reshape(_DAYS * 24, len(HOURLY_COLUMNS))
    return pd.DataFrame(values, index=index, columns=list(HOURLY_COLUMNS))


def resampled_weather(
    names: Sequence[str], *, seed: int | None, year: int, site: Site = BEUCHA
) -> tuple[pd.DataFrame, str]:
    """The model-step weather of a named year (``seed`` None) or of a year resampled from ``names``.

    Returns
    -------
    weather : pandas.DataFrame
        As :func:`models.weather.read_weather` returns it.
    source : str
        What it is, e.g. ``"try2015"`` or ``"resampled from try2010+try2015, seed 7"``.
    """
    if seed is None:
        if len(names) != 1:
            raise ConfigError("a named weather year is exactly one name", field="weather")
        return read_weather(reference_year_path(names[0]), year=year, site=site), names[0]
    hourly = resample_days([read_reference_year(name) for name in names], seed=seed)
    source = f"resampled from {'+'.join(names)}, seed {seed}"
    return typical_year_weather(hourly, year=year, site=site, source=source), source


def heating_degree_days(temp_air_degc: pd.Series, *, room_degc: float = 20.0, limit_degc: float = 15.0) -> float:
    """Heating degree days G20/15 (VDI 3807-1): the sum of ``room - daily mean`` over days below the limit.

    Parameters
    ----------
    temp_air_degc : pandas.Series
        Air temperature on a regular time index (days are its calendar days). [degC]
    room_degc, limit_degc : float
        Room temperature and heating limit. [degC]

    Returns
    -------
    degree_days : float
        [K d]
    """
    daily = temp_air_degc.groupby(temp_air_degc.index.floor("D")).mean().to_numpy()
    return float(np.sum(np.where(daily < limit_degc, room_degc - daily, 0.0)))


def _by_day(frame: pd.DataFrame) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """A typical year's hours in calendar order without 29 February, as (index, (day, hour, column))."""
    index = pd.DatetimeIndex(frame.index)
    keep = ~((index.month == 2) & (index.day == 29))
    index, values = index[keep], frame.loc[keep, list(HOURLY_COLUMNS)].to_numpy(dtype=float)
    order = np.argsort(index.month * 10000 + index.day * 100 + index.hour, kind="stable")
    index, values = index[order], values[order]
    if len(index) != _DAYS * 24 or not (index.hour.to_numpy().reshape(_DAYS, 24) == np.arange(24)).all():
        raise ConfigError("a source year must hold 24 hours of each of 365 days", field="weather")
    return index, values.reshape(_DAYS, 24, len(HOURLY_COLUMNS))
