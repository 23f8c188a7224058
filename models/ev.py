"""Electric cars charging at home: a simpy discrete-event model.

Each car is a simpy process that leaves home in the morning, drives its day's
distance and comes back; while it is parked at home it is plugged into its charger
and asks for the energy that brings it back to its target state of charge. The
module owns its ``simpy.Environment`` and simulates the whole period in one
``env.run(until=...)``. Each finished plug-in session is turned into a charging
schedule at the model step - uncontrolled (full power from arrival) or following a
PV surplus (with a top-up that still meets the departure target). Mobility
assumptions (:class:`EVParameters`) are seeded draws from documented distributions.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
import simpy

from twin.core.errors import ConfigError
from twin.core.vocabulary import DEFAULT_TIMEZONE

__all__ = ["ChargingMode", "EVParameters", "EVResult", "ev_charging_kw"]

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
        Seed of ``numpy.random.default_rng`` for the mobility draws.
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
    params = params or EVParameters()
    chargers, surplus = _checked_inputs(index, charger_kw, mode, surplus_kw)
    step_s = (index[1] - index[0]).total_seconds()
    period_s = step_s * len(index)
    plans = [_day_plans(index, params, np.random.default_rng([seed, car]), timezone) for car in range(len(chargers))]
    env = simpy.Environment()
    sessions: list[dict[str, float]] = []
    energy_kwh = np.zeros((len(index), len(chargers)))
    for car, (plan, charger) in enumerate(zip(plans, chargers, strict=True)):
        car_surplus = None if surplus is None else surplus[:, car]
        env.process(_car(env, car, plan, float(charger), params, step_s, period_s, energy_kwh, car_surplus, sessions))
    env.run(until=period_s)
    for car, charger in enumerate(chargers):  # cars still plugged in at the end of the period
        open_sessions = [s for s in sessions if s["car"] == car and np.isnan(s["departure_s"])]
        for session in open_sessions:
            session["departure_s"] = period_s
            _charge(session, float(charger), step_s, energy_kwh[:, car], None if surplus is None else surplus[:, car])
    table = pd.DataFrame(sessions)
    if len(table):
        table["arrival"] = index[0] + pd.to_timedelta(table.pop("arrival_s"), unit="s")
        table["departure"] = index[0] + pd.to_timedelta(table.pop("departure_s"), unit="s")
        table["car"] = [(names or [f"ev{i}" for i in range(len(chargers))])[int(c)] for c in table["car"]]
    columns = names if names is not None else [f"ev{i}" for i in range(len(chargers))]
    return EVResult(
        p_kw=pd.DataFrame(energy_kwh / (step_s / 3600.0), index=index, columns=columns),
        sessions=table,
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
    index: pd.DatetimeIndex, params: EVParameters, rng: np.random.Generator, timezone: str
) -> npt.NDArray[np.float64]:
    """Return rows (departure_s, arrival_s, distance_km) of one car's days of use."""
    start = index[0].tz_convert(timezone).normalize()
    end = (index[-1] + (index[1] - index[0])).tz_convert(timezone)
    days = pd.date_range(start, end, freq="D")
    weekend = np.asarray(days.dayofweek) >= 5
    n = len(days)
    use = rng.random(n) < np.where(weekend, params.use_probability_weekend_frac, params.use_probability_weekday_frac)
    dep_mean = np.where(weekend, params.departure_weekend_h[0], params.departure_weekday_h[0])
    dep_sd = np.where(weekend, params.departure_weekend_h[1], params.departure_weekday_h[1])
    away_mean = np.where(weekend, params.away_weekend_h[0], params.away_weekday_h[0])
    away_sd = np.where(weekend, params.away_weekend_h[1], params.away_weekday_h[1])
    departure_h = np.clip(rng.normal(dep_mean, dep_sd), 4.0, 14.0)
    away_h = np.clip(rng.normal(away_mean, away_sd), 0.5, 23.5 - departure_h)
    sigma = params.daily_distance_sigma
    distance_km = rng.lognormal(np.log(params.daily_distance_mean_km) - 0.5 * sigma**2, sigma, n)
    departures = days + pd.to_timedelta(departure_h, unit="h")
    arrivals = departures + pd.to_timedelta(away_h, unit="h")
    t0 = index[0]
    dep_s = np.asarray((departures - t0).total_seconds())
    arr_s = np.asarray((arrivals - t0).total_seconds())
    keep = use & (dep_s > 0)
    return np.column_stack([dep_s[keep], arr_s[keep], distance_km[keep]])


def _car(
    env: simpy.Environment,
    car: int,
    plan: npt.NDArray[np.float64],
    charger_kw: float,
    params: EVParameters,
    step_s: float,
    period_s: float,
    energy_kwh: npt.NDArray[np.float64],
    surplus_kw: npt.NDArray[np.float64] | None,
    sessions: list[dict[str, float]],
) -> Generator[simpy.events.Event, object, None]:
    """Simpy process of one car: park at home, leave, drive, come back, plug in."""
    target_kwh = params.target_soc_frac * params.battery_kwh
    stored_kwh = target_kwh
    session = _session(car, 0.0, 0.0)
    sessions.append(session)
    for departure_s, arrival_s, distance_km in plan:
        if departure_s >= period_s:
            break
        yield env.timeout(departure_s - env.now)
        session["departure_s"] = env.now
        stored_kwh += _charge(session, charger_kw, step_s, energy_kwh[:, car], surplus_kw)
        stored_kwh = max(stored_kwh - distance_km * params.consumption_kwh_per_km, 0.0)
        yield env.timeout(min(arrival_s, period_s) - env.now)
        if env.now >= period_s:
            return
        session = _session(car, env.now, target_kwh - stored_kwh)
        sessions.append(session)


def _session(car: int, arrival_s: float, requested_kwh: float) -> dict[str, float]:
    """Return a new open session record."""
    return {
        "car": float(car),
        "arrival_s": arrival_s,
        "departure_s": float("nan"),
        "energy_requested_kwh": max(requested_kwh, 0.0),
        "energy_delivered_kwh": 0.0,
        "energy_possible_kwh": 0.0,
    }


def _charge(
    session: dict[str, float],
    charger_kw: float,
    step_s: float,
    energy_kwh: npt.NDArray[np.float64],
    surplus_kw: npt.NDArray[np.float64] | None,
) -> float:
    """Schedule one finished session into ``energy_kwh`` (in place); return kWh delivered."""
    arrival_s, departure_s, need = session["arrival_s"], session["departure_s"], session["energy_requested_kwh"]
    first = int(arrival_s // step_s)
    last = min(int(np.ceil(departure_s / step_s)), len(energy_kwh))
    if last <= first:
        return 0.0
    starts = np.arange(first, last) * step_s
    plugged_s = np.clip(np.minimum(starts + step_s, departure_s) - np.maximum(starts, arrival_s), 0.0, None)
    headroom = charger_kw * plugged_s / 3600.0
    session["energy_possible_kwh"] = float(headroom.sum())
    if surplus_kw is None:
        delivered = _fill(headroom, need)
    else:
        from_surplus = _fill(np.minimum(headroom, surplus_kw[first:last] * plugged_s / 3600.0), need)
        top_up = _fill((headroom - from_surplus)[::-1], need - from_surplus.sum())[::-1]
        delivered = from_surplus + top_up
    energy_kwh[first:last] += delivered
    session["energy_delivered_kwh"] = float(delivered.sum())
    return float(delivered.sum())


def _fill(capacity_kwh: npt.NDArray[np.float64], need_kwh: float) -> npt.NDArray[np.float64]:
    """Fill steps in order up to their capacity until ``need_kwh`` is reached."""
    before = np.concatenate([[0.0], np.cumsum(capacity_kwh)[:-1]])
    return np.clip(np.minimum(capacity_kwh, max(need_kwh, 0.0) - before), 0.0, None)
