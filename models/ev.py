"""Electric cars charging at home: a simpy discrete-event model.

Each car is a simpy process that leaves home in the morning, drives its day's
distance and comes back; while it is parked at home it is plugged into its charger
and asks for the energy that brings it back to its target state of charge. The
module owns its ``simpy.Environment`` and simulates the whole period of all cars in
one ``env.run(until=...)``. Then a compiled kernel turns each car's plug-in sessions,
in time order, into a charging schedule at the model step - uncontrolled (full power
from arrival) or following a PV surplus (with a top-up that still meets the departure
target) - and carries the car's stored energy from one session to the next. Mobility
assumptions (:class:`EVParameters`) are seeded draws from documented distributions.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Literal

import numba
import numpy as np
import numpy.typing as npt
import pandas as pd
import simpy

from twin.core.errors import ConfigError
from twin.core.vocabulary import DEFAULT_TIMEZONE

__all__ = ["ChargingMode", "EVParameters", "EVResult", "ev_charging_kw", "ev_fleet_charging_kw"]

ChargingMode = Literal["uncontrolled", "pv_surplus"]


@dataclass(frozen=True)
class EVParameters:
    """Car, charger and mobility assumptions.

    Parameters
    ----------
    battery_kwh : float, default 60
        Usable battery of a typical compact battery-electric car. [kW h]
    consumption_kwh_per_km : float, default 0.18
        Energy from the socket per km, incl. charging losses (ADAC Ecotest range
        15-22 kWh/100 km for compact cars). [kW h km-1]
    target_soc_frac : float, default 0.9
        State of charge a car asks for at departure (many owners cap at 80-90 %). [1]
    use_probability_weekday_frac : float, default 0.8
        Chance the car is driven on a working day. [1]
    use_probability_weekend_frac : float, default 0.6
        Chance on Saturdays and Sundays. [1]
    daily_distance_mean_km : float, default 39
        Mean distance on a day of use: MiD 2017 ("Mobilität in Deutschland",
        infas/BMVI 2019) reports 39 km per person and day; used here per car-day of use
        (mileage ~ 11,000 km/a with the use probabilities, near the KBA mean). [km]
    daily_distance_sigma : float, default 0.8
        Shape of the lognormal daily distance (long right tail of MiD trip chains). [1]
    departure_weekday_h : tuple of float, default (7.5, 1.0)
        Mean and standard deviation of the local departure hour on working days
        (MiD 2017: the morning peak of trip starts is 7-8 h). [h]
    departure_weekend_h : tuple of float, default (10.5, 2.0)
        Same on weekends. [h]
    away_weekday_h : tuple of float, default (9.5, 1.5)
        Mean and standard deviation of the time away on working days (a working day
        plus commute; MiD 2017 afternoon return peak 16-18 h). [h]
    away_weekend_h : tuple of float, default (4.0, 2.0)
        Same on weekends. [h]

    Notes
    -----
    The shapes (normal times, lognormal distance) are modelling assumptions; the means
    are orientated on MiD 2017 as stated, not fitted to its microdata.
    """

    battery_kwh: float = 60.0
    consumption_kwh_per_km: float = 0.18
    target_soc_frac: float = 0.9
    use_probability_weekday_frac: float = 0.8
    use_probability_weekend_frac: float = 0.6
    daily_distance_mean_km: float = 39.0
    daily_distance_sigma: float = 0.8
    departure_weekday_h: tuple[float, float] = (7.5, 1.0)
    departure_weekend_h: tuple[float, float] = (10.5, 2.0)
    away_weekday_h: tuple[float, float] = (9.5, 1.5)
    away_weekend_h: tuple[float, float] = (4.0, 2.0)


@dataclass(frozen=True)
class EVResult:
    """Charging profiles and the sessions behind them.

    Parameters
    ----------
    p_kw : pandas.DataFrame
        (time x car) charging power at the home charger, load-positive. [kW]
    sessions : pandas.DataFrame
        One row per plug-in session: ``car``, ``arrival``, ``departure`` (UTC),
        ``energy_requested_kwh``, ``energy_delivered_kwh``, ``energy_possible_kwh``
        (charger power times plugged time within the period).
    """

    p_kw: pd.DataFrame
    sessions: pd.DataFrame


def ev_charging_kw(
    index: pd.DatetimeIndex,
    charger_kw: npt.ArrayLike,
    *,
    seed: int,
    mode: ChargingMode = "uncontrolled",
    surplus_kw: pd.DataFrame | None = None,
    params: EVParameters | None = None,
    names: list[str] | None = None,
    timezone: str = DEFAULT_TIMEZONE,
) -> EVResult:
    """Simulate home charging of cars over a period.

    Parameters
    ----------
    index : pandas.DatetimeIndex
        Regular UTC interval starts of the period.
    charger_kw : array_like
        Charger power per car (e.g. 11 kW wallbox, 3.7 kW socket). [kW]
    seed : int
        Seed of ``numpy.random.default_rng`` for the mobility draws (car ``i`` draws from
        ``default_rng([seed, i])``).
    mode : {"uncontrolled", "pv_surplus"}, default "uncontrolled"
        Uncontrolled: full power from arrival until the target is reached. PV surplus:
        charge with ``min(charger, surplus)``; if that would leave the car short at
        departure, add the missing energy as late as possible at full power.
    surplus_kw : pandas.DataFrame, optional
        (time x car) PV surplus available to each car (>= 0), needed for "pv_surplus". [kW]
    params : EVParameters, optional
        Car and mobility assumptions.
    names : list of str, optional
        Column names; default ``"ev0", "ev1", ...``.
    timezone : str, optional
        IANA time zone of the wall clock the mobility plans follow (the district's).

    Returns
    -------
    result : EVResult
        Charging power per car and the sessions.

    Raises
    ------
    ConfigError
        For a bad index, charger power, mode or surplus frame.

    Notes
    -----
    Each car starts the period at home at its target state of charge. The energy a car
    asks for at arrival is what its trips since the last full charge took; a session
    cut short by departure leaves the car lower, and the next session asks for more.
    """
    chargers, surplus = _checked_inputs(index, charger_kw, mode, surplus_kw)
    cars = range(len(chargers))
    entropy = [[seed, car] for car in cars]
    return _simulate(index, chargers, entropy, [params or EVParameters()] * len(chargers), surplus, names, timezone)


def ev_fleet_charging_kw(
    index: pd.DatetimeIndex,
    charger_kw: npt.ArrayLike,
    *,
    seeds: Sequence[int],
    params: Sequence[EVParameters],
    mode: ChargingMode = "uncontrolled",
    surplus_kw: pd.DataFrame | None = None,
    names: list[str] | None = None,
    timezone: str = DEFAULT_TIMEZONE,
) -> EVResult:
    """Simulate home charging of cars that each have their own seed and assumptions.

    All cars are processes of one simpy ``Environment``; car ``i`` charges exactly as it
    would alone in ``ev_charging_kw(index, [charger_kw[i]], seed=seeds[i], params=params[i])``
    (its draws come from ``numpy.random.default_rng([seeds[i], 0])``), bit for bit.

    Parameters
    ----------
    index : pandas.DatetimeIndex
        Regular UTC interval starts of the period.
    charger_kw : array_like
        Charger power per car. [kW]
    seeds : sequence of int
        One seed per car.
    params : sequence of EVParameters
        One set of car and mobility assumptions per car.
    mode : {"uncontrolled", "pv_surplus"}, default "uncontrolled"
        As in :func:`ev_charging_kw`.
    surplus_kw : pandas.DataFrame, optional
        (time x car) PV surplus available to each car (>= 0), needed for "pv_surplus". [kW]
    names : list of str, optional
        Column names; default ``"ev0", "ev1", ...``.
    timezone : str, optional
        IANA time zone of the wall clock the mobility plans follow (the district's).

    Returns
    -------
    result : EVResult
        Charging power per car and the sessions (in the order the cars plugged in).

    Raises
    ------
    ConfigError
        For a bad index, charger power, mode or surplus frame, or seeds and params that are
        not one per car.
    """
    chargers, surplus = _checked_inputs(index, charger_kw, mode, surplus_kw)
    if len(seeds) != len(chargers) or len(params) != len(chargers):
        raise ConfigError(f"seeds and params need one entry per car ({len(chargers)})", field="seeds")
    return _simulate(index, chargers, [[seed, 0] for seed in seeds], list(params), surplus, names, timezone)


def _simulate(
    index: pd.DatetimeIndex,
    chargers: npt.NDArray[np.float64],
    entropy: list[list[int]],
    params: list[EVParameters],
    surplus: npt.NDArray[np.float64] | None,
    names: list[str] | None,
    timezone: str,
) -> EVResult:
    """Run every car as a process of one simpy Environment, then charge the sessions they recorded."""
    step_s = (index[1] - index[0]).total_seconds()
    period_s = step_s * len(index)
    columns = names if names is not None else [f"ev{i}" for i in range(len(chargers))]
    env = simpy.Environment()
    sessions: list[list[float]] = []
    for car, plan in enumerate(_day_plans(index, params, entropy, timezone)):
        env.process(_car(env, car, plan, period_s, sessions))
    env.run(until=period_s)
    records = np.array(sessions, dtype=float).reshape(-1, 4)  # car, arrival_s, departure_s, distance_km
    records[np.isnan(records[:, 2]), 2] = period_s  # cars still plugged in at the end of the period
    order = np.argsort(records[:, 0], kind="stable")  # per car, in time
    energy_kwh = np.zeros((len(chargers), len(index)))  # car x time: each session writes one car's row
    charged = _charge_sessions(
        records[order],
        chargers,
        np.array([p.target_soc_frac * p.battery_kwh for p in params], dtype=float),
        np.array([p.consumption_kwh_per_km for p in params], dtype=float),
        step_s,
        np.zeros((0, 0)) if surplus is None else np.ascontiguousarray(surplus.T),
        surplus is not None,
        energy_kwh,
    )
    energies = np.empty((3, len(records)))
    energies[:, order] = charged
    return EVResult(
        p_kw=pd.DataFrame(energy_kwh.T / (step_s / 3600.0), index=index, columns=columns),
        sessions=_session_table(index, records, energies, columns),
    )


def _checked_inputs(
    index: pd.DatetimeIndex, charger_kw: npt.ArrayLike, mode: ChargingMode, surplus_kw: pd.DataFrame | None
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64] | None]:
    """Charger power per car and the surplus (>= 0, ``pv_surplus`` only), checked (kW)."""
    if not isinstance(index, pd.DatetimeIndex) or index.tz is None or str(index.tz) != "UTC" or len(index) < 2:
        raise ConfigError("time index must be a tz-aware UTC pandas.DatetimeIndex", field="index")
    chargers = np.atleast_1d(np.asarray(charger_kw, dtype=float))
    if (chargers <= 0).any():
        raise ConfigError("charger_kw must be > 0", field="charger_kw")
    if mode not in ("uncontrolled", "pv_surplus"):
        raise ConfigError(f"unknown charging mode {mode!r}", field="mode", allowed="uncontrolled, pv_surplus")
    surplus = None
    if mode == "pv_surplus":
        if surplus_kw is None or surplus_kw.shape != (len(index), len(chargers)):
            raise ConfigError("pv_surplus charging needs surplus_kw with one column per car", field="surplus_kw")
        surplus = np.clip(surplus_kw.to_numpy(dtype=float), 0.0, None)
    return chargers, surplus


def _day_plans(
    index: pd.DatetimeIndex, params: list[EVParameters], entropy: list[list[int]], timezone: str
) -> list[list[tuple[float, float, float]]]:
    """Return each car's days of use as rows (departure_s, arrival_s, distance_km)."""
    if not params:
        return []
    start = index[0].tz_convert(timezone).normalize()
    end = (index[-1] + (index[1] - index[0])).tz_convert(timezone)
    days = pd.date_range(start, end, freq="D")
    weekend = np.asarray(days.dayofweek) >= 5
    n = len(days)
    draws = [_day_draws(weekend, p, np.random.default_rng(e)) for p, e in zip(params, entropy, strict=True)]
    use, departure_h, away_h, distance_km = (np.concatenate(parts) for parts in zip(*draws, strict=True))
    departures = days[np.tile(np.arange(n), len(params))] + pd.to_timedelta(departure_h, unit="h")
    arrivals = departures + pd.to_timedelta(away_h, unit="h")
    t0 = index[0]
    dep_s = np.asarray((departures - t0).total_seconds())
    arr_s = np.asarray((arrivals - t0).total_seconds())
    keep = use & (dep_s > 0)
    rows = np.column_stack([dep_s, arr_s, distance_km])
    return [rows[car * n : (car + 1) * n][keep[car * n : (car + 1) * n]].tolist() for car in range(len(params))]


def _day_draws(
    weekend: npt.NDArray[np.bool_], params: EVParameters, rng: np.random.Generator
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """One car's draws per day: whether it is used, departure hour, hours away, distance (km)."""
    n = len(weekend)
    use = rng.random(n) < np.where(weekend, params.use_probability_weekend_frac, params.use_probability_weekday_frac)
    dep_mean = np.where(weekend, params.departure_weekend_h[0], params.departure_weekday_h[0])
    dep_sd = np.where(weekend, params.departure_weekend_h[1], params.departure_weekday_h[1])
    away_mean = np.where(weekend, params.away_weekend_h[0], params.away_weekday_h[0])
    away_sd = np.where(weekend, params.away_weekend_h[1], params.away_weekday_h[1])
    departure_h = np.clip(rng.normal(dep_mean, dep_sd), 4.0, 14.0)
    away_h = np.clip(rng.normal(away_mean, away_sd), 0.5, 23.5 - departure_h)
    sigma = params.daily_distance_sigma
    distance_km = rng.lognormal(np.log(params.daily_distance_mean_km) - 0.5 * sigma**2, sigma, n)
    return use, departure_h, away_h, distance_km


def _car(
    env: simpy.Environment,
    car: int,
    plan: list[tuple[float, float, float]],
    period_s: float,
    sessions: list[list[float]],
) -> Generator[simpy.events.Event, object, None]:
    """Simpy process of one car: park at home, leave, drive, come back, plug in.

    Appends each plug-in session to ``sessions`` as ``[car, arrival_s, departure_s,
    distance_km]``, with the distance of the trip that ends it (both NaN while plugged in).
    """
    session = [float(car), 0.0, np.nan, np.nan]
    sessions.append(session)
    for departure_s, arrival_s, distance_km in plan:
        if departure_s >= period_s:
            break
        yield env.timeout(departure_s - env.now)
        session[2], session[3] = env.now, distance_km
        yield env.timeout(min(arrival_s, period_s) - env.now)
        if env.now >= period_s:
            return
        session = [float(car), env.now, np.nan, np.nan]
        sessions.append(session)


def _session_table(
    index: pd.DatetimeIndex, records: npt.NDArray[np.float64], energies: npt.NDArray[np.float64], columns: list[str]
) -> pd.DataFrame:
    """One row per session: car name, requested/delivered/possible energy (kWh), arrival and departure (UTC)."""
    if not len(records):
        return pd.DataFrame([])
    table = pd.DataFrame(
        {
            "car": np.asarray(columns, dtype=object)[records[:, 0].astype(int)],
            "energy_requested_kwh": energies[0],
            "energy_delivered_kwh": energies[1],
            "energy_possible_kwh": energies[2],
        }
    )
    table["arrival"] = index[0] + pd.to_timedelta(records[:, 1], unit="s")
    table["departure"] = index[0] + pd.to_timedelta(records[:, 2], unit="s")
    return table


@numba.njit(cache=True)
def _charge_sessions(
    records: npt.NDArray[np.float64],
    chargers: npt.NDArray[np.float64],
    target_kwh: npt.NDArray[np.float64],
    consumption_kwh_per_km: npt.NDArray[np.float64],
    step_s: float,
    surplus_kw: npt.NDArray[np.float64],
    use_surplus: bool,
    energy_kwh: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]:
    """Charge the sessions into ``energy_kwh`` (car x time, in place), each car's in time order.

    ``records`` rows are (car, arrival_s, departure_s, distance_km) sorted by car, then time;
    ``surplus_kw`` is car x time (read only with ``use_surplus``).
    Returns rows requested, delivered and possible energy per session. [kW h]
    """
    energies = np.zeros((3, records.shape[0]))
    stored_kwh = 0.0
    for k in range(records.shape[0]):
        car = int(records[k, 0])
        if k == 0 or records[k - 1, 0] != records[k, 0]:  # the first session: home at the target
            stored_kwh = target_kwh[car]
            need_kwh = 0.0
        else:
            need_kwh = target_kwh[car] - stored_kwh
            need_kwh = 0.0 if need_kwh < 0.0 else need_kwh
        delivered, possible = _charge(
            records[k, 1], records[k, 2], need_kwh, chargers[car], step_s, surplus_kw, use_surplus, car, energy_kwh
        )
        energies[0, k], energies[1, k], energies[2, k] = need_kwh, delivered, possible
        stored_kwh = stored_kwh + delivered
        stored_kwh = stored_kwh - records[k, 3] * consumption_kwh_per_km[car]
        stored_kwh = 0.0 if stored_kwh < 0.0 else stored_kwh
    return energies


@numba.njit(cache=True)
def _charge(
    arrival_s: float,
    departure_s: float,
    need_kwh: float,
    charger_kw: float,
    step_s: float,
    surplus_kw: npt.NDArray[np.float64],
    use_surplus: bool,
    car: int,
    energy_kwh: npt.NDArray[np.float64],
) -> tuple[float, float]:
    """Schedule one session into row ``car`` of ``energy_kwh``; return kWh delivered and possible."""
    first = int(arrival_s // step_s)
    last = min(int(np.ceil(departure_s / step_s)), energy_kwh.shape[1])
    if last <= first:
        return 0.0, 0.0
    n = last - first
    plugged_s = np.empty(n)
    headroom = np.empty(n)
    for i in range(n):
        start = (first + i) * step_s
        span = min(start + step_s, departure_s) - max(start, arrival_s)
        plugged_s[i] = span if span > 0.0 else 0.0
        headroom[i] = charger_kw * plugged_s[i] / 3600.0
    if use_surplus:
        from_surplus = np.empty(n)
        for i in range(n):
            from_surplus[i] = min(headroom[i], surplus_kw[car, first + i] * plugged_s[i] / 3600.0)
        from_surplus = _fill(from_surplus, need_kwh, False)
        top_up = _fill(headroom - from_surplus, need_kwh - _pairwise_sum(from_surplus, 0, n), True)
        delivered = from_surplus + top_up
    else:
        delivered = _fill(headroom, need_kwh, False)
    for i in range(n):
        energy_kwh[car, first + i] += delivered[i]
    return _pairwise_sum(delivered, 0, n), _pairwise_sum(headroom, 0, n)


@numba.njit(cache=True)
def _fill(capacity_kwh: npt.NDArray[np.float64], need_kwh: float, backwards: bool) -> npt.NDArray[np.float64]:
    """Fill steps in order (from the last back if ``backwards``) up to their capacity until ``need_kwh`` is met."""
    n = capacity_kwh.shape[0]
    filled = np.empty(n)
    need = 0.0 if need_kwh < 0.0 else need_kwh
    before = 0.0
    for j in range(n):
        i = n - 1 - j if backwards else j
        left = need - before
        step = capacity_kwh[i] if capacity_kwh[i] < left else left
        filled[i] = step if step > 0.0 else 0.0
        before = before + capacity_kwh[i]
    return filled


@numba.njit(cache=True)
def _pairwise_sum(values: npt.NDArray[np.float64], lo: int, n: int) -> float:
    """Sum of ``values[lo:lo + n]`` in numpy's pairwise order, so equal to ``numpy.sum`` bit for bit.

    numpy halves a sum of more than 128 terms (at a multiple of 8) and adds the halves'
    sums; the halving runs here on an explicit stack (numba cannot cache a recursive kernel
    called from another one). A frame with ``n < 0`` adds the last two sums.
    """
    frames = np.empty((128, 2), dtype=np.int64)
    sums = np.empty(64)
    n_frames, n_sums = 1, 0
    frames[0, 0], frames[0, 1] = lo, n
    while n_frames:
        n_frames -= 1
        start, count = frames[n_frames, 0], frames[n_frames, 1]
        if count < 0:
            n_sums -= 1
            sums[n_sums - 1] = sums[n_sums - 1] + sums[n_sums]
        elif count <= 128:
            sums[n_sums] = _block_sum(values, start, count)
            n_sums += 1
        else:
            half = count // 2
            half -= half % 8
            frames[n_frames, 0], frames[n_frames, 1] = 0, -1
            frames[n_frames + 1, 0], frames[n_frames + 1, 1] = start + half, count - half
            frames[n_frames + 2, 0], frames[n_frames + 2, 1] = start, half
            n_frames += 3
    return sums[0]


@numba.njit(cache=True)
def _block_sum(values: npt.NDArray[np.float64], lo: int, n: int) -> float:
    """Sum of at most 128 terms as numpy adds them: eight running sums added pairwise, then the rest in order."""
    if n < 8:
        total = 0.0
        for i in range(n):
            total += values[lo + i]
        return total
    partial = values[lo : lo + 8].copy()
    i = 8
    while i < n - n % 8:
        for j in range(8):
            partial[j] += values[lo + i + j]
        i += 8
    total = ((partial[0] + partial[1]) + (partial[2] + partial[3])) + (
        (partial[4] + partial[5]) + (partial[6] + partial[7])
    )
    while i < n:
        total += values[lo + i]
        i += 1
    return total
