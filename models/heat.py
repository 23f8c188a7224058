"""Space-heating and domestic-hot-water demand of buildings.

Space heating follows the BDEW/SigLinDe heat load profile (demandlib
``bdew.HeatBuilding``) driven by the weather's air temperature: one normalised
shape per profile type is computed on the Europe/Berlin wall clock (with Saxony's
holidays), looked up for every UTC step and scaled to each building's annual
space heat - demandlib costs ~28 ms a call, so never once per building. Domestic
hot water (DHW) has its own documented daily shape and annual energy per person or
per m2. Both are heat delivered to the building (useful energy), in kW, positive.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd
from demandlib import bdew

from models.load import saxony_holidays
from twin.core.errors import ConfigError, TwinWarning
from twin.core.vocabulary import DEFAULT_TIMEZONE

__all__ = [
    "DHW_DAILY_SHAPE",
    "DHW_KWH_PER_M2_A",
    "DHW_KWH_PER_PERSON_A",
    "HEAT_PROFILE_TYPES",
    "HeatDemand",
    "HeatProfileType",
    "dhw_shape",
    "heat_demand_kw",
    "space_heat_shapes",
]

#: BDEW gas/heat standard load profile types known to demandlib (EFH/MFH residential).
HEAT_PROFILE_TYPES = ("EFH", "MFH", "GMK", "GPD", "GHA", "GBD", "GKO", "GBH", "GGA", "GBA", "GWA", "GGB", "GMF", "GHD")

#: Hot water per person and year: 40 l/(person d) heated by 50 K (10 -> 60 degC),
#: 40 kg * 4.186 kJ/(kg K) * 50 K / 3600 = 2.33 kWh/d. 40 l is the middle of the
#: 30-50 l/(person d) planning range of VDI 2067-12 / DIN 4708 practice. [kW h]
DHW_KWH_PER_PERSON_A = 40.0 * 4.186 * 50.0 / 3600.0 * 365.0

#: Hot-water useful energy per m2 reference floor area and year, DIN V 18599-10
#: (residential use profiles): 12 for single-family, 16 for multi-family houses. [kW h m-2]
DHW_KWH_PER_M2_A = {"EFH": 12.0, "MFH": 16.0}

#: Hourly shares of a day's hot water on the local wall clock (hour 0 = 00:00-01:00).
#: Assumed double-peak household shape (morning showers, evening kitchen and baths),
#: shaped after the draw-off patterns of EN 16147 / EN 13203-2 tapping cycles; sums to 1.
_DHW_HOURLY_WEIGHTS = np.array(
    [1, 0.5, 0.5, 0.5, 1, 3, 9, 10, 7, 5, 4, 4, 5, 4, 3, 3, 4, 5, 7, 8, 7, 4, 3, 2], dtype=float
)
DHW_DAILY_SHAPE = _DHW_HOURLY_WEIGHTS / _DHW_HOURLY_WEIGHTS.sum()

#: Seasonal factor amplitude of hot water: colder mains water and more baths in winter
#: (cosine, maximum mid-January). Assumption. [1]
DHW_SEASONAL_AMPLITUDE = 0.1


@dataclass(frozen=True)
class HeatProfileType:
    """A BDEW heat load profile type.

    Parameters
    ----------
    shlp_type : str
        One of :data:`HEAT_PROFILE_TYPES`: ``"EFH"`` single-family, ``"MFH"``
        multi-family, ``"GHD"`` trade and services in general, ``"GBD"`` offices, ...
    building_class : int, default 0
        BDEW residential building class 1..11 (EFH/MFH); 0 for non-residential; 0 with
        EFH/MFH means class 1.
    wind_class : int, default 0
        0 for a sheltered, 1 for a windy location (Beucha: sheltered village).
    """

    shlp_type: str = "EFH"
    building_class: int = 0
    wind_class: int = 0

    def __post_init__(self) -> None:
        if self.shlp_type not in HEAT_PROFILE_TYPES:
            raise ConfigError(
                f"unknown BDEW heat profile type {self.shlp_type!r}",
                field="shlp_type",
                allowed=", ".join(HEAT_PROFILE_TYPES),
            )
        residential = self.shlp_type in ("EFH", "MFH")
        if not (0 <= self.building_class <= 11) or (not residential and self.building_class != 0):
            raise ConfigError(
                f"building_class {self.building_class} invalid for {self.shlp_type}",
                field="building_class",
                allowed="1..11 for EFH/MFH, 0 otherwise",
            )
        if self.wind_class not in (0, 1):
            raise ConfigError(f"wind_class {self.wind_class} invalid", field="wind_class", allowed="0, 1")

    @property
    def key(self) -> str:
        """Column name of this type's shape, e.g. ``"EFH-1-0"``."""
        return f"{self.shlp_type}-{self._class}-{self.wind_class}"

    @property
    def _class(self) -> int:
        return 1 if self.shlp_type in ("EFH", "MFH") and self.building_class == 0 else self.building_class


@dataclass(frozen=True)
class HeatDemand:
    """Heat demand of buildings, split by use.

    Parameters
    ----------
    space_kw : pandas.DataFrame
        (time x building) space-heating demand, mean over each interval. [kW]
    dhw_kw : pandas.DataFrame
        (time x building) domestic-hot-water demand. [kW]
    """

    space_kw: pd.DataFrame
    dhw_kw: pd.DataFrame

    @property
    def total_kw(self) -> pd.DataFrame:
        """Space heating plus hot water, in kW."""
        return self.space_kw + self.dhw_kw


def space_heat_shapes(
    temp_air_degc: pd.Series, types: Iterable[HeatProfileType], *, timezone: str = DEFAULT_TIMEZONE
) -> pd.DataFrame:
    """Normalised BDEW space-heating shapes on the weather's UTC index.

    Parameters
    ----------
    temp_air_degc : pandas.Series
        Air temperature on a regular UTC index of interval starts (step dividing an
        hour), e.g. ``weather["temp_air_degc"]``. [degC]
    types : iterable of HeatProfileType
        The profile types; each distinct one is computed once.
    timezone : str, optional
        IANA time zone of the local wall clock (the district's).

    Returns
    -------
    shapes : pandas.DataFrame
        One column per type (:attr:`HeatProfileType.key`) on the same index; within each
        UTC calendar year ``sum(shape) * dt_h == 1``. [kW (kW h)-1]

    Notes
    -----
    demandlib's SigLinDe profile takes hourly temperatures and the local hour of day
    (the geometric-series daily mean temperature sets the daily energy, the hour
    factors its distribution). The hourly UTC temperature means are laid on the local
    wall clock (the repeated autumn hour averaged, the skipped spring hour
    interpolated), the profile is evaluated there and read back for every UTC step.
    Hot water is excluded (``ww_incl=False``); see :func:`dhw_shape`. Pass whole UTC
    years of temperature and slice the result: a shorter series is normalised over
    itself and a :class:`~twin.core.errors.TwinWarning` says so.
    """
    index = _check_index(temp_air_degc.index)
    if not _whole_years(index):
        warnings.warn(
            "space_heat_shapes: temperature does not cover whole UTC years; the shape is normalised over the "
            "given period (pass the year's temperature and slice the result)",
            TwinWarning,
            stacklevel=2,
        )
    hourly_utc = temp_air_degc.resample("h").mean()
    wall_hourly = hourly_utc.index.tz_convert(timezone).tz_localize(None)
    temp_wall = pd.Series(hourly_utc.to_numpy(), index=wall_hourly).groupby(level=0).mean()
    local_index = pd.date_range(wall_hourly[0].floor("D"), wall_hourly[-1].floor("D") + pd.Timedelta(days=1), freq="h")
    local_index = local_index[:-1]
    temp_local = temp_wall.reindex(local_index).interpolate(limit_direction="both").clip(-20.0, 40.0)
    holiday_dates = saxony_holidays(range(local_index[0].year, local_index[-1].year + 1))
    wall_steps = index.tz_convert(timezone).tz_localize(None).floor("h")
    rows = local_index.get_indexer(wall_steps)
    holiday_items = tuple(sorted(holiday_dates.items(), key=lambda item: str(item[0])))
    shapes = {}
    for kind in dict.fromkeys(types):
        calendar = _bdew_calendar(int(local_index[0].value), len(local_index), holiday_items, kind)
        shapes[kind.key] = _normalized_bdew_profile(temp_local, calendar)[rows]
    frame = pd.DataFrame(shapes, index=index)
    _normalise_per_year(frame, index)
    return frame


@dataclass(frozen=True)
class _BdewCalendar:
    """What demandlib's SigLinDe profile takes from the calendar alone, for one type and local hourly index.

    ``hour_factors`` (hour, temperature interval 1..10) are demandlib's hour factors of each
    hour's weekday and hour of day, ``weekday_factors`` its weekday factor per hour, and
    ``sigmoid`` its parameters (a, b, c, d) of the type.
    """

    index: pd.DatetimeIndex
    hour_factors: npt.NDArray[np.float64]
    weekday_factors: npt.NDArray[np.float64]
    sigmoid: tuple[float, float, float, float]


#: demandlib's hour-factor columns, temperature intervals 1 (<= -15 degC) to 10 (> 25 degC).
_INTERVAL_COLUMNS: Final[tuple[str, ...]] = tuple(f"temp_intervall_{k:02d}" for k in range(1, 11))


@functools.lru_cache(maxsize=32)
def _bdew_calendar(
    first_ns: int, hours: int, holiday_items: tuple[tuple[object, str], ...], kind: HeatProfileType
) -> _BdewCalendar:
    """The calendar part of demandlib's profile of ``kind`` on ``hours`` local hours from ``first_ns`` (cached).

    demandlib's own tables and calendar (``HeatBuilding``); the hour factors are its
    ``get_sf_values`` table before it picks one temperature interval per hour.
    """
    index = pd.date_range(pd.Timestamp(first_ns), periods=hours, freq="h")
    building = bdew.HeatBuilding(
        index,
        temperature=pd.Series(0.0, index=index),
        shlp_type=kind.shlp_type,
        building_class=kind._class,
        wind_class=kind.wind_class,
        ww_incl=False,
        holidays=dict(holiday_items),
        annual_heat_demand=1.0,
    )
    table = pd.read_csv(Path(building.datapath) / "shlp_hour_factors.csv", index_col=0)
    table = table[(table["building_class"] == building.building_class) & (table["shlp_type"] == building.shlp_type)]
    keys = ["hour"] + (["weekday"] if building.building_class == 0 else [])
    merged = pd.DataFrame.merge(table, building.df, left_on=["hour_of_day", *keys[1:]], right_on=keys, how="outer")
    merged.index = pd.to_datetime(merged["date"]) + pd.to_timedelta(merged["hour_of_day"] - 1, unit="h")
    merged.sort_index(inplace=True)
    hour_factors = merged[list(_INTERVAL_COLUMNS)].to_numpy(dtype=float)[:hours]
    weekday_factors = np.asarray(building.get_weekday_parameters(), dtype=float)
    hour_factors.setflags(write=False)
    weekday_factors.setflags(write=False)
    a, b, c, d = building.get_sigmoid_parameters()
    return _BdewCalendar(index, hour_factors, weekday_factors, (a, b, c, d))


def _normalized_bdew_profile(temp_local: pd.Series, calendar: _BdewCalendar) -> npt.NDArray[np.float64]:
    """The profile of demandlib's ``HeatBuilding.get_normalized_bdew_profile()`` without hot water, in its operations.

    The geometric-series daily mean temperature picks each hour's temperature interval
    (demandlib's table: the ceiling of the temperature, <= -15 degC -> 1, then 5 K per
    interval, > 25 degC -> 10) and sets the SigLinDe value ``h``; the profile is
    ``kw * h * weekday factor * hour factor`` with ``kw`` normalising ``h * weekday factor``.
    """
    temperature = pd.Series(temp_local.to_numpy(), index=calendar.index)
    daily = temperature.resample("D").mean().reindex(calendar.index).ffill().bfill()
    temp_geo = (daily + 0.5 * np.roll(daily, 24) + 0.25 * np.roll(daily, 48) + 0.125 * np.roll(daily, 72)) / 1.875
    ceiling = np.ceil(temp_geo.to_numpy()).astype(np.int64)
    interval = np.clip((ceiling + 14) // 5 + 2, 1, 10)
    hour_factors = calendar.hour_factors[np.arange(len(interval)), interval - 1]
    a, b, c, d = calendar.sigmoid
    f = calendar.weekday_factors
    h = a / (1 + (b / (temp_geo - 40)) ** c) + d
    kw = 1.0 / (sum(h * f) / 24)
    return np.asarray(kw * h * f * hour_factors, dtype=float)


def dhw_shape(index: pd.DatetimeIndex, *, timezone: str = DEFAULT_TIMEZONE) -> pd.Series:
    """Normalised domestic-hot-water shape on a UTC index.

    Parameters
    ----------
    index : pandas.DatetimeIndex
        Regular UTC interval starts (step dividing an hour).
    timezone : str, optional
        IANA time zone of the local wall clock (the district's).

    Returns
    -------
    shape : pandas.Series
        :data:`DHW_DAILY_SHAPE` on the local wall clock times a seasonal factor
        ``1 + 0.1 cos(2 pi (day_of_year - 15) / 365)``, normalised so that each whole UTC
        year sums to 1 kWh (a shorter index gets its share of the year). [kW (kW h)-1]
    """
    _check_index(index)
    step = index[1] - index[0]
    full = pd.date_range(
        f"{index[0].year}-01-01", f"{index[-1].year + 1}-01-01", freq=step, tz="UTC", inclusive="left", name="time"
    )
    local = full.tz_convert(timezone)
    seasonal = 1.0 + DHW_SEASONAL_AMPLITUDE * np.cos(2 * np.pi * (np.asarray(local.dayofyear) - 15) / 365.0)
    values = DHW_DAILY_SHAPE[np.asarray(local.hour)] * seasonal
    frame = pd.DataFrame({"dhw": values}, index=full)
    _normalise_per_year(frame, full)
    return frame["dhw"].reindex(index)


def heat_demand_kw(
    temp_air_degc: pd.Series,
    annual_space_heat_kwh: npt.ArrayLike,
    profile_type: HeatProfileType | Sequence[HeatProfileType],
    annual_dhw_kwh: npt.ArrayLike,
    *,
    names: list[str] | None = None,
    shapes: pd.DataFrame | None = None,
    timezone: str = DEFAULT_TIMEZONE,
) -> HeatDemand:
    """Space-heating and hot-water demand of many buildings.

    Parameters
    ----------
    temp_air_degc : pandas.Series
        Air temperature on the model's UTC index. [degC]
    annual_space_heat_kwh : array_like
        Space heat per building and year (useful energy, e.g. TABULA kWh/m2a times the
        reference area). [kW h]
    profile_type : HeatProfileType or sequence of HeatProfileType
        One type for all buildings or one per building.
    annual_dhw_kwh : array_like
        Hot water per building and year, e.g. ``persons * DHW_KWH_PER_PERSON_A``. [kW h]
    names : list of str, optional
        Column names; default ``"heat0", "heat1", ...``.
    shapes : pandas.DataFrame, optional
        Precomputed :func:`space_heat_shapes` on the same index, to reuse.
    timezone : str, optional
        IANA time zone of the local wall clock (the district's).

    Returns
    -------
    demand : HeatDemand
        Space heating and hot water, each (time x building), >= 0. [kW]

    Raises
    ------
    ConfigError
        For negative energies or mismatched lengths.
    """
    space = np.atleast_1d(np.asarray(annual_space_heat_kwh, dtype=float))
    dhw = np.broadcast_to(np.asarray(annual_dhw_kwh, dtype=float), space.shape)
    if space.ndim != 1 or (space < 0).any() or (dhw < 0).any():
        raise ConfigError("annual heat energies must be >= 0, one per building", field="annual_space_heat_kwh")
    kinds = [profile_type] * len(space) if isinstance(profile_type, HeatProfileType) else list(profile_type)
    if len(kinds) != len(space):
        raise ConfigError(f"{len(kinds)} heat profile types for {len(space)} buildings", field="profile_type")
    keys = [kind.key for kind in kinds]
    if shapes is None or not set(keys) <= set(shapes.columns):
        shapes = space_heat_shapes(temp_air_degc, kinds, timezone=timezone)
    index = temp_air_degc.index
    columns = names if names is not None else [f"heat{i}" for i in range(len(space))]
    space_kw = shapes[keys].to_numpy() * space[np.newaxis, :]
    dhw_kw = dhw_shape(index, timezone=timezone).to_numpy()[:, np.newaxis] * dhw[np.newaxis, :]
    return HeatDemand(
        space_kw=pd.DataFrame(space_kw, index=index, columns=columns),
        dhw_kw=pd.DataFrame(dhw_kw, index=index, columns=columns),
    )


def _check_index(index: pd.Index) -> pd.DatetimeIndex:
    """Return ``index`` if it is a regular UTC index whose step divides an hour."""
    if not isinstance(index, pd.DatetimeIndex) or index.tz is None or str(index.tz) != "UTC" or len(index) < 2:
        raise ConfigError("time index must be a tz-aware UTC pandas.DatetimeIndex", field="index")
    step = np.diff(index.asi8)
    if not (step == step[0]).all() or (3600 * 10**9) % int(step[0]) != 0:
        raise ConfigError("time index must be regular with a step dividing an hour", field="index")
    return index


def _whole_years(index: pd.DatetimeIndex) -> bool:
    """Return whether ``index`` runs from a UTC 1 January 00:00 to the last step of a year."""
    end = index[-1] + (index[1] - index[0])
    return bool(
        index[0] == index[0].normalize().replace(month=1, day=1) and end == end.normalize().replace(month=1, day=1)
    )


def _normalise_per_year(frame: pd.DataFrame, index: pd.DatetimeIndex) -> None:
    """Scale each column in place so each UTC calendar year sums to 1 kWh."""
    dt_h = (index[1] - index[0]) / pd.Timedelta(hours=1)
    years = np.asarray(index.year)
    for year in np.unique(years):
        rows = years == year
        totals = frame.loc[rows].sum().to_numpy() * dt_h
        frame.loc[rows] = frame.loc[rows].to_numpy() / np.where(totals > 0, totals, 1.0)
