"""The car charging model written plainly: simpy, then numpy per session, one car after another.

The reference the tests hold :mod:`models.ev` to, bit for bit: every session is scheduled
with numpy (``cumsum``, ``sum``) as soon as its car departs, inside the car's simpy process.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd
import simpy

from models.ev import EVParameters

Array = npt.NDArray[np.float64]


def reference_charging(
    index: pd.DatetimeIndex,
    chargers: Sequence[float],
    entropy: Sequence[list[int]],
    params: Sequence[EVParameters],
    surplus_kw: Array | None,
    timezone: str = "Europe/Berlin",
) -> tuple[Array, pd.DataFrame]:
    """(time x car) energy per step (kWh) and the sessions (``car`` as its number), all cars in one Environment."""
    step_s = (index[1] - index[0]).total_seconds()
    period_s = step_s * len(index)
    surplus = None if surplus_kw is None else np.clip(surplus_kw, 0.0, None)
    env = simpy.Environment()
    sessions: list[dict[str, float]] = []
    energy_kwh = np.zeros((len(index), len(chargers)))
    for car, charger in enumerate(chargers):
        plan = _day_plans(index, params[car], np.random.default_rng(entropy[car]), timezone)
        car_surplus = None if surplus is None else surplus[:, car]
        process = _car(env, car, plan, charger, params[car], step_s, period_s, energy_kwh, car_surplus, sessions)
        env.process(process)
    env.run(until=period_s)
    for car, charger in enumerate(chargers):
        for session in [s for s in sessions if s["car"] == car and np.isnan(s["departure_s"])]:
            session["departure_s"] = period_s
            _charge(session, charger, step_s, energy_kwh[:, car], None if surplus is None else surplus[:, car])
    return energy_kwh, pd.DataFrame(sessions)


def _day_plans(index: pd.DatetimeIndex, params: EVParameters, rng: np.random.Generator, timezone: str) -> Array:
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
    dep_s = np.asarray((departures - index[0]).total_seconds())
    arr_s = np.asarray((arrivals - index[0]).total_seconds())
    keep = use & (dep_s > 0)
    return np.column_stack([dep_s[keep], arr_s[keep], distance_km[keep]])


def _car(
    env: simpy.Environment,
    car: int,
    plan: Array,
    charger_kw: float,
    params: EVParameters,
    step_s: float,
    period_s: float,
    energy_kwh: Array,
    surplus_kw: Array | None,
    sessions: list[dict[str, float]],
) -> Generator[simpy.events.Event, object, None]:
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
    return {
        "car": float(car),
        "arrival_s": arrival_s,
        "departure_s": float("nan"),
        "energy_requested_kwh": max(requested_kwh, 0.0),
        "energy_delivered_kwh": 0.0,
        "energy_possible_kwh": 0.0,
    }


def _charge(
    session: dict[str, float], charger_kw: float, step_s: float, energy_kwh: Array, surplus_kw: Array | None
) -> float:
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


def _fill(capacity_kwh: Array, need_kwh: float) -> Array:
    before = np.concatenate([[0.0], np.cumsum(capacity_kwh)[:-1]])
    return np.clip(np.minimum(capacity_kwh, max(need_kwh, 0.0) - before), 0.0, None)
