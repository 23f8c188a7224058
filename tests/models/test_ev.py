from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.ev import EVParameters, ev_charging_kw
from twin.core.errors import ConfigError

INDEX = pd.date_range("2023-03-01", periods=4 * 24 * 28, freq="15min", tz="UTC")


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
