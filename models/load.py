"""Household and business electricity from the BDEW standard load profiles.

demandlib supplies the BDEW profiles: the 1999 set (H0, G0..G6, L0..L2 and the
dynamised H0) through ``bdew.ElecSlp`` and the 2025 set (H25, G25, L25, P25, S25)
through ``bdew.H25`` etc. They follow the German wall clock, so each shape is built
on Europe/Berlin local time with Saxony's public holidays and then looked up for
every UTC step: the shapes are computed once per profile and period and scaled to
each building's annual energy. Seeded per-building variation (a time shift and
smooth multiplicative noise, :class:`LoadVariation`) keeps a hundred houses from
drawing one curve, and every building keeps its annual energy exactly.

Households are not smooth: one household's quarter hours jump between a few hundred
watts and several kilowatts (kettle, oven, washing machine). :func:`household_load_kw`
draws each household's appliance use as seeded random events whose expected rate
follows the standard profile (:class:`HouseholdEvents`), so a single household peaks at
several kilowatts while the sum of many still follows the BDEW shape and every building
keeps its annual energy.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import holidays
import numba
import numpy as np
import numpy.typing as npt
import pandas as pd
from demandlib import bdew

from twin.core.errors import ConfigError
from twin.core.vocabulary import DEFAULT_TIMEZONE, STEP_S

__all__ = [
    "BDEW_1999_PROFILES",
    "BDEW_2025_PROFILES",
    "HouseholdEvents",
    "LoadVariation",
    "bdew_shapes",
    "electricity_load_kw",
    "household_load_kw",
    "saxony_holidays",
]

#: Profiles of the 1999 BDEW set, from ``demandlib.bdew.ElecSlp``.
BDEW_1999_PROFILES = ("h0", "h0_dyn", "g0", "g1", "g2", "g3", "g4", "g5", "g6", "l0", "l1", "l2")
#: Profiles of the 2025 BDEW set, from ``demandlib.bdew.H25`` etc.
BDEW_2025_PROFILES = {"H25": bdew.H25, "G25": bdew.G25, "L25": bdew.L25, "P25": bdew.P25, "S25": bdew.S25}
#: BDEW profiles are given in quarter hours.
STEP = pd.Timedelta(seconds=STEP_S)


@dataclass(frozen=True)
class LoadVariation:
    """Seeded per-building variation of a standard load profile.

    Parameters
    ----------
    time_shift_sd_min : float, default 30
        Standard deviation of a building's constant time shift (normal, rounded to
        quarter hours, limited to +-3 sd): households get up and cook at different
        times. [min]
    noise_sd_frac : float, default 0.2
        Standard deviation of the log of a multiplicative noise factor (lognormal with
        mean 1). [1]
    noise_correlation_h : float, default 1
        Correlation time of that noise (AR(1) in quarter hours), so deviations last
        like appliance use rather than flicker. [h]

    Notes
    -----
    These are modelling assumptions chosen so that the diversity of 100 households
    shows (a single BDEW curve is the mean of many); they are not fitted to metered
    data. Set both to zero for the plain standard profile.
    """

    time_shift_sd_min: float = 30.0
    noise_sd_frac: float = 0.2
    noise_correlation_h: float = 1.0


@dataclass(frozen=True)
class HouseholdEvents:
    """Seeded appliance events of individual households on top of a smooth base load.

    Parameters
    ----------
    base_frac : float, default 0.4
        Share of the annual energy drawn smoothly along the standard profile (fridge,
        standby, lighting base). [1]
    event_kwh : float, default 0.25
        Mean energy of one appliance event (a cooking session, a wash cycle, a kettle run):
        an event of 0.25 kWh within a quarter hour is 1 kW. [kW h]
    event_shape : float, default 4
        Shape of the gamma distribution of one event's energy (1 would be exponential). [1]

    Notes
    -----
    Per household and quarter hour the number of events is Poisson with a mean
    proportional to the standard profile's value there, each event's energy gamma
    distributed; summed over a building's households (a sum of Poisson counts is Poisson)
    this stays one draw per building and step. The expected curve is the standard profile,
    so the aggregate of many households follows it. The parameters are assumptions, chosen
    so that the validation report's quantities (single-household peak, after-diversity
    maximum demand, self-sufficiency of a PV home) fall in their published ranges.
    """

    base_frac: float = 0.4
    event_kwh: float = 0.25
    event_shape: float = 4.0

    def __post_init__(self) -> None:
        if not (0.0 <= self.base_frac <= 1.0 and self.event_kwh > 0 and self.event_shape > 0):
            raise ConfigError("need 0 <= base_frac <= 1, event_kwh > 0 and event_shape > 0", field="household events")


def saxony_holidays(years: Iterable[int]) -> dict[object, str]:
    """Return the public holidays of Saxony.

    Parameters
    ----------
    years : iterable of int
        Calendar years.

    Returns
    -------
    holidays : dict
        ``{datetime.date: name}`` from ``holidays.country_holidays("DE", subdiv="SN")``.
    """
    return dict(holidays.country_holidays("DE", subdiv="SN", years=list(years)).items())


def bdew_shapes(profiles: Iterable[str], years: Iterable[int], *, timezone: str = DEFAULT_TIMEZONE) -> pd.DataFrame:
    """BDEW load profiles for whole UTC years, each normalised to 1 kWh per year.

    Parameters
    ----------
    profiles : iterable of str
        Names from :data:`BDEW_1999_PROFILES` or :data:`BDEW_2025_PROFILES`.
    years : iterable of int
        UTC calendar years to cover.
    timezone : str, optional
        IANA time zone of the wall clock the profiles follow (the district's).

    Returns
    -------
    shapes : pandas.DataFrame
        One column per profile on a 15-minute UTC index of interval starts covering the
        years; in each UTC year ``sum(shape) * 0.25 h == 1``: multiply by an annual
        energy in kWh to get mean power in kW. [kW (kW h)-1]

    Raises
    ------
    ConfigError
        For an unknown profile name.

    Notes
    -----
    The profile is evaluated on the local wall clock of each UTC step (``timezone``):
    on the spring-forward day the skipped local hour is dropped, on the fall-back day
    the repeated hour is drawn twice; the renormalisation absorbs both. Saxony's
    holidays count as Sundays.
    """
    names = list(dict.fromkeys(profiles))
    unknown = [p for p in names if p not in BDEW_1999_PROFILES and p not in BDEW_2025_PROFILES]
    if unknown:
        raise ConfigError(
            f"unknown BDEW load profile {unknown[0]!r}",
            field="profile",
            allowed=", ".join([*BDEW_1999_PROFILES, *BDEW_2025_PROFILES]),
        )
    utc_years = sorted(set(years))
    index = pd.date_range(f"{utc_years[0]}-01-01", f"{utc_years[-1] + 1}-01-01", freq=STEP, tz="UTC", inclusive="left")
    index.name = "time"
    wall = index.tz_convert(timezone).tz_localize(None)
    local_years = list(range(wall[0].year, wall[-1].year + 1))
    holiday_dates = saxony_holidays(local_years)
    shapes = {}
    for name in names:
        local = _local_profile(name, local_years, holiday_dates)
        shapes[name] = local.reindex(wall).to_numpy(dtype=float)
    frame = pd.DataFrame(shapes, index=index)
    _normalise_per_year(frame.to_numpy(), index)
    return frame


def electricity_load_kw(
    index: pd.DatetimeIndex,
    annual_energy_kwh: npt.ArrayLike,
    profile: str | Sequence[str],
    *,
    seed: int,
    variation: LoadVariation | None = None,
    names: list[str] | None = None,
    shapes: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Electric load of many buildings from BDEW profiles, load-positive.

    Parameters
    ----------
    index : pandas.DatetimeIndex
        UTC interval starts at a 15-minute step (a year, or part of one).
    annual_energy_kwh : array_like
        Annual electricity of each building (or household). [kW h]
    profile : str or sequence of str
        One BDEW profile for all, or one per building (e.g. ``"h0_dyn"``, ``"H25"``,
        ``"g1"``).
    seed : int
        Seed of ``numpy.random.default_rng`` for the per-building variation.
    variation : LoadVariation, optional
        Time shift and noise; default :class:`LoadVariation()`.
    names : list of str, optional
        Column names; default ``"load0", "load1", ...``.
    shapes : pandas.DataFrame, optional
        Shapes from :func:`bdew_shapes` covering the years of ``index`` (pass them to
        reuse them across calls).

    Returns
    -------
    p_kw : pandas.DataFrame
        (time x building) mean power over each interval, consumption > 0. [kW]

    Raises
    ------
    ConfigError
        For a bad index, a negative energy or an unknown profile.

    Notes
    -----
    Each building's curve is its profile's shape, shifted circularly by its time shift
    within the year(s) computed, times its noise, then renormalised so that every UTC
    calendar year holds exactly ``annual_energy_kwh``; ``index`` then selects the
    period.
    """
    variation = variation or LoadVariation()
    _check_index(index)
    energy = np.atleast_1d(np.asarray(annual_energy_kwh, dtype=float))
    if energy.ndim != 1 or (energy < 0).any() or not np.isfinite(energy).all():
        raise ConfigError("annual_energy_kwh must be one finite value >= 0 per building", field="annual_energy_kwh")
    kinds = [profile] * len(energy) if isinstance(profile, str) else list(profile)
    if len(kinds) != len(energy):
        raise ConfigError(f"{len(kinds)} profiles for {len(energy)} buildings", field="profile")
    years = range(index[0].year, index[-1].year + 1)
    if shapes is None or not set(kinds) <= set(shapes.columns) or not index.isin(shapes.index).all():
        shapes = bdew_shapes(kinds, years)
    full_index = shapes.index
    base = shapes[kinds].to_numpy(dtype=float).T  # (building, time): rows are contiguous
    curves = _varied_curves(base, np.random.default_rng(seed), variation).T
    n_buildings = curves.shape[1]
    _normalise_per_year(curves, full_index)
    rows = full_index.get_indexer(index)
    columns = names if names is not None else [f"load{i}" for i in range(n_buildings)]
    return pd.DataFrame(curves[rows] * energy[np.newaxis, :], index=index, columns=columns)


def household_load_kw(
    index: pd.DatetimeIndex,
    annual_energy_kwh: npt.ArrayLike,
    n_households: npt.ArrayLike,
    *,
    seed: int,
    profile: str = "h0_dyn",
    events: HouseholdEvents | None = None,
    names: list[str] | None = None,
    shapes: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Electric load of residential buildings as the sum of stochastic individual households.

    Parameters
    ----------
    index : pandas.DatetimeIndex
        UTC interval starts at a 15-minute step (a year, or part of one).
    annual_energy_kwh : array_like
        Annual household electricity of each building (all its households). [kW h]
    n_households : array_like
        Number of households in each building (>= 1).
    seed : int
        Seed of ``numpy.random.default_rng``: the same seed gives the same curves.
    profile : str, default "h0_dyn"
        The BDEW profile the households follow on average.
    events : HouseholdEvents, optional
        Base share and event sizes; default :class:`HouseholdEvents()`.
    names : list of str, optional
        Column names; default ``"load0", "load1", ...``.
    shapes : pandas.DataFrame, optional
        Shapes from :func:`bdew_shapes` covering the years of ``index``.

    Returns
    -------
    p_kw : pandas.DataFrame
        (time x building) mean power over each interval, consumption > 0; every UTC
        calendar year of the computed years holds exactly ``annual_energy_kwh``. [kW]

    Raises
    ------
    ConfigError
        For a bad index, a negative energy or a building without households.
    """
    events = events or HouseholdEvents()
    _check_index(index)
    energy = np.atleast_1d(np.asarray(annual_energy_kwh, dtype=float))
    count = np.atleast_1d(np.asarray(n_households, dtype=float))
    if energy.ndim != 1 or (energy < 0).any() or not np.isfinite(energy).all():
        raise ConfigError("annual_energy_kwh must be one finite value >= 0 per building", field="annual_energy_kwh")
    if count.shape != energy.shape or (count < 1).any():
        raise ConfigError("n_households must be one number >= 1 per building", field="n_households")
    years = range(index[0].year, index[-1].year + 1)
    if shapes is None or profile not in shapes.columns or not index.isin(shapes.index).all():
        shapes = bdew_shapes([profile], years)
    full_index = shapes.index
    shape = shapes[profile].to_numpy(dtype=float)  # kW per kWh/a: sum * 0.25 h = 1 per year
    dt_h = STEP / pd.Timedelta(hours=1)
    rng = np.random.default_rng(seed)
    # expected event energy per step and building: (1 - base) * E * shape * dt
    event_kwh_per_step = (1.0 - events.base_frac) * energy[:, np.newaxis] * shape[np.newaxis, :] * dt_h
    mean_events = event_kwh_per_step / events.event_kwh
    n_events = rng.poisson(mean_events)
    drawn_kwh = rng.gamma(n_events * events.event_shape, events.event_kwh / events.event_shape)
    curves = (events.base_frac * shape[np.newaxis, :] + drawn_kwh / dt_h / np.maximum(energy[:, np.newaxis], 1e-12)).T
    _normalise_per_year(curves, full_index)
    rows = full_index.get_indexer(index)
    columns = names if names is not None else [f"load{i}" for i in range(len(energy))]
    return pd.DataFrame(curves[rows] * energy[np.newaxis, :], index=index, columns=columns)


def _varied_curves(
    base: npt.NDArray[np.float64], rng: np.random.Generator, variation: LoadVariation
) -> npt.NDArray[np.float64]:
    """(building x time) shapes, each shifted circularly by its time shift, times its noise."""
    n_buildings, n_steps = base.shape
    shift_sd = variation.time_shift_sd_min / 15.0
    shifts = np.rint(np.clip(rng.normal(0.0, 1.0, n_buildings), -3.0, 3.0) * shift_sd).astype(int)
    curves = np.empty_like(base)
    for j, shift in enumerate(shifts):
        curves[j] = np.roll(base[j], shift)
    if variation.noise_sd_frac > 0:
        rho = float(np.exp(-0.25 / max(variation.noise_correlation_h, 1e-9)))
        white = rng.standard_normal((n_buildings, n_steps))
        ar1 = _ar1_filter(white, float(np.sqrt(1.0 - rho**2)), rho)
        sigma = variation.noise_sd_frac
        ar1 *= sigma
        ar1 -= 0.5 * sigma**2
        curves *= np.exp(ar1, out=ar1)
    return curves


@numba.njit(cache=True, nogil=True)
def _ar1_filter(white: npt.NDArray[np.float64], gain: float, rho: float) -> npt.NDArray[np.float64]:
    """AR(1) noise along each row: ``y[n] = gain * x[n] + rho * y[n-1]``, ``y[-1] = 0``.

    The same operations in the same order as ``scipy.signal.lfilter([gain], [1, -rho], white, axis=1)``
    (its transposed direct form: ``y = z + gain * x``, ``z = rho * y``), so the same numbers to the bit.
    """
    out = np.empty_like(white)
    for row in range(white.shape[0]):
        z = 0.0
        for n in range(white.shape[1]):
            y = z + gain * white[row, n]
            out[row, n] = y
            z = rho * y
    return out


def _local_profile(name: str, local_years: list[int], holiday_dates: dict[object, str]) -> pd.Series:
    """Return a profile on a naive local-time 15-minute index over whole local years."""
    parts = []
    for year in local_years:
        if name in BDEW_2025_PROFILES:
            local_index = pd.date_range(f"{year}-01-01", f"{year + 1}-01-01", freq=STEP, inclusive="left")
            parts.append(pd.Series(BDEW_2025_PROFILES[name](local_index, holidays=holiday_dates), index=local_index))
        else:
            # ElecSlp calls warnings.simplefilter("error") globally: keep that inside this block
            with warnings.catch_warnings():
                slp = bdew.ElecSlp(year, holidays=holiday_dates)
                parts.append(slp.get_profiles(name)[name])
    return pd.concat(parts)


def _normalise_per_year(values: npt.NDArray[np.float64], index: pd.DatetimeIndex) -> None:
    """Scale columns in place so each UTC calendar year sums to 1 kWh at 15 min."""
    dt_h = STEP / pd.Timedelta(hours=1)
    year_of_step = np.asarray(index.year)
    for year in np.unique(year_of_step):
        rows = year_of_step == year
        totals = values[rows].sum(axis=0) * dt_h
        values[rows] /= np.where(totals > 0, totals, 1.0)


def _check_index(index: pd.DatetimeIndex) -> None:
    """Raise unless ``index`` is a regular 15-minute UTC index."""
    if not isinstance(index, pd.DatetimeIndex) or index.tz is None or str(index.tz) != "UTC":
        raise ConfigError("time index must be a tz-aware UTC pandas.DatetimeIndex", field="index")
    if len(index) < 2 or not (np.diff(index.asi8) == STEP.value).all():
        raise ConfigError("time index must be regular at 15 min (the BDEW step)", field="index")
