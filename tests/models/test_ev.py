from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.ev import EVParameters, _pairwise_sum, ev_charging_kw, ev_fleet_charging_kw
from tests.models.ev_reference import reference_charging
from twin.core.errors import ConfigError

INDEX = pd.date_range("2023-03-01", periods=4 * 24 * 28, freq="15min", tz="UTC")
#: Different cars: a weak charger and long trips leave cars short, so sessions run over days.
FLEET_PARAMS = [
    EVParameters(),
    EVParameters(battery_kwh=40.0, consumption_kwh_per_km=0.2, daily_distance_mean_km=60.0),
    EVParameters(battery_kwh=77.0, daily_distance_mean_km=25.0, use_probability_weekday_frac=0.3),
    EVParameters(daily_distance_mean_km=200.0, daily_distance_sigma=0.1),
]
FLEET_CHARGERS = [11.0, 3.7, 22.0, 0.5]


def test_ev_energy_delivered_equals_requested_where_charger_allows() -> None:
    result = ev_charging_kw(INDEX, [11.0, 3.7, 11.0, 2.3, 7.4], seed=5)
    sessions = result.sessions
    assert len(sessions) > 5 * 15
    possible = sessions["energy_possible_kwh"] >= sessions["energy_requested_kwh"]
    assert possible.mean() > 0.9
    assert np.allclose(
        sessions.loc[possible, "energy_delivered_kwh"], sessions.loc[possible, "energy_requested_kwh"], atol=1e-9
    )
    assert (sessions["energy_delivered_kwh"] <= sessions["energy_requested_kwh"] + 1e-9).all()
    assert result.p_kw.to_numpy().sum() * 0.25 == pytest.approx(sessions["energy_delivered_kwh"].sum())
    # never above the charger, never negative
    assert (result.p_kw.to_numpy() <= np.array([11.0, 3.7, 11.0, 2.3, 7.4]) + 1e-9).all()
    assert (result.p_kw.to_numpy() >= 0).all()


def test_ev_weak_charger_leaves_car_short_and_next_session_asks_more() -> None:
    params = EVParameters(daily_distance_mean_km=200.0, daily_distance_sigma=0.1, use_probability_weekend_frac=0.8)
    result = ev_charging_kw(INDEX, [0.5], seed=2, params=params)
    sessions = result.sessions
    short = sessions["energy_possible_kwh"] < sessions["energy_requested_kwh"]
    assert short.any()
    assert np.allclose(sessions.loc[short, "energy_delivered_kwh"], sessions.loc[short, "energy_possible_kwh"])


def test_ev_seeded_and_arrivals_in_local_evening() -> None:
    first = ev_charging_kw(INDEX, [11.0] * 10, seed=9)
    again = ev_charging_kw(INDEX, [11.0] * 10, seed=9)
    pd.testing.assert_frame_equal(first.p_kw, again.p_kw)
    arrival_h = first.sessions["arrival"].dt.tz_convert("Europe/Berlin").dt.hour
    assert 14 <= arrival_h[arrival_h > 0].median() <= 19


def test_ev_pv_surplus_with_ample_surplus_equals_uncontrolled() -> None:
    surplus = pd.DataFrame(np.full((len(INDEX), 2), 11.0), index=INDEX)
    controlled = ev_charging_kw(INDEX, [11.0, 11.0], seed=3, mode="pv_surplus", surplus_kw=surplus)
    plain = ev_charging_kw(INDEX, [11.0, 11.0], seed=3)
    assert np.allclose(controlled.p_kw, plain.p_kw)


def test_ev_pv_surplus_follows_surplus_and_tops_up_late() -> None:
    hour = INDEX.hour.to_numpy()
    midday = ((hour >= 10) & (hour < 14)).astype(float) * 2.0
    surplus = pd.DataFrame({"a": midday, "b": np.zeros(len(INDEX))}, index=INDEX)
    result = ev_charging_kw(INDEX, [11.0, 11.0], seed=4, mode="pv_surplus", surplus_kw=surplus)
    sessions = result.sessions
    possible = sessions["energy_possible_kwh"] >= sessions["energy_requested_kwh"]
    assert np.allclose(
        sessions.loc[possible, "energy_delivered_kwh"], sessions.loc[possible, "energy_requested_kwh"], atol=1e-9
    )
    # without surplus all charging is top-up, packed against departure (morning, local)
    b = result.p_kw["ev1"].tz_convert("Europe/Berlin")
    charging_hours = b[b > 0].index.hour
    assert np.median(charging_hours) < 10


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"charger_kw": [0.0]}, "charger_kw must be > 0"),
        ({"mode": "smart"}, "unknown charging mode"),
        ({"mode": "pv_surplus"}, "needs surplus_kw"),
        ({"index": INDEX.tz_localize(None)}, "UTC"),
    ],
)
def test_ev_bad_input(kwargs: dict[str, object], match: str) -> None:
    args: dict[str, object] = {"index": INDEX, "charger_kw": [11.0]}
    args.update(kwargs)
    with pytest.raises(ConfigError, match=match):
        ev_charging_kw(**args, seed=0)  # type: ignore[arg-type]


def _surplus(index: pd.DatetimeIndex, n_cars: int, seed: int) -> pd.DataFrame:
    """A noisy midday PV surplus per car, with some negative values (the model clips them)."""
    hour = index.hour.to_numpy() + index.minute.to_numpy() / 60.0
    bell = np.clip(np.cos((hour - 12.0) / 12.0 * np.pi), 0.0, None)[:, None] * 9.0
    noise = np.random.default_rng(seed).normal(0.0, 1.5, (len(index), n_cars))
    return pd.DataFrame(bell + noise, index=index)


def _expected_sessions(index: pd.DatetimeIndex, sessions: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """The reference's session records as the model's table (car names, UTC times)."""
    table = sessions.copy()
    table["arrival"] = index[0] + pd.to_timedelta(table.pop("arrival_s"), unit="s")
    table["departure"] = index[0] + pd.to_timedelta(table.pop("departure_s"), unit="s")
    table["car"] = [names[int(c)] for c in table["car"]]
    return table


@pytest.mark.parametrize("mode", ["uncontrolled", "pv_surplus"])
@pytest.mark.parametrize("freq", ["15min", "1h"])
def test_ev_charging_bit_identical_to_the_plain_reference(mode: str, freq: str) -> None:
    index = pd.date_range("2025-03-17", "2025-04-07", freq=freq, tz="UTC", inclusive="left")  # over the DST change
    surplus = _surplus(index, 4, seed=1) if mode == "pv_surplus" else None
    result = ev_charging_kw(index, FLEET_CHARGERS, seed=5, mode=mode, surplus_kw=surplus)  # type: ignore[arg-type]
    entropy = [[5, car] for car in range(4)]
    reference = None if surplus is None else surplus.to_numpy()
    energy_kwh, sessions = reference_charging(index, FLEET_CHARGERS, entropy, [EVParameters()] * 4, reference)
    dt_h = (index[1] - index[0]).total_seconds() / 3600.0
    assert np.array_equal(result.p_kw.to_numpy(), energy_kwh / dt_h)
    assert result.p_kw.to_numpy().sum() > 0
    pd.testing.assert_frame_equal(result.sessions, _expected_sessions(index, sessions, ["ev0", "ev1", "ev2", "ev3"]))


@pytest.mark.parametrize("mode", ["uncontrolled", "pv_surplus"])
def test_ev_fleet_charges_each_car_as_alone_bit_for_bit(mode: str) -> None:
    index = pd.date_range("2025-10-13", periods=4 * 24 * 21, freq="15min", tz="UTC")
    surplus = _surplus(index, 4, seed=2) if mode == "pv_surplus" else None
    seeds = [17 + 7919 * (number + 1) for number in range(4)]
    names = ["b1/ev0", "b1/ev1", "b2/ev0", "b3/ev0"]
    fleet = ev_fleet_charging_kw(
        index,
        FLEET_CHARGERS,
        seeds=seeds,
        params=FLEET_PARAMS,
        mode=mode,
        surplus_kw=surplus,
        names=names,  # type: ignore[arg-type]
    )
    assert list(fleet.p_kw.columns) == names
    short = fleet.sessions["energy_possible_kwh"] < fleet.sessions["energy_requested_kwh"]
    assert short.any() and (~short).any()
    for car, name in enumerate(names):
        alone = None if surplus is None else surplus.to_numpy()[:, [car]]
        energy_kwh, sessions = reference_charging(
            index, [FLEET_CHARGERS[car]], [[seeds[car], 0]], [FLEET_PARAMS[car]], alone
        )
        assert np.array_equal(fleet.p_kw[name].to_numpy(), energy_kwh[:, 0] / 0.25)
        mine = fleet.sessions[fleet.sessions["car"] == name].reset_index(drop=True)
        pd.testing.assert_frame_equal(mine, _expected_sessions(index, sessions, [name]))


def test_ev_fleet_needs_a_seed_and_params_per_car() -> None:
    with pytest.raises(ConfigError, match="one entry per car"):
        ev_fleet_charging_kw(INDEX, [11.0, 11.0], seeds=[1], params=[EVParameters()] * 2)


def test_ev_session_sums_are_numpy_sums_bit_for_bit() -> None:
    rng = np.random.default_rng(0)
    for n in [*range(300), 1000, 1027, 5000, 35_040]:
        values = rng.random(n + 3) * 10.0 ** rng.integers(-4, 4, n + 3)
        assert _pairwise_sum(values, 3, n) == values[3:].sum()
