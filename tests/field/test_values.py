"""The field's community battery runs on the battery code of the scenarios (models/battery.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.battery import BatteryParameters, BatteryUnit, self_consumption_dispatch
from twin.field.layout import DEFAULT_COMMUNITY_BATTERY
from twin.field.values import CommunityBatteryState

QUARTER_S = 900.0


def _follow(battery: BatteryUnit, setpoints_kw: np.ndarray, step_s: float) -> tuple[np.ndarray, np.ndarray]:
    state = CommunityBatteryState(battery)
    p_kw, soc = [], []
    for setpoint in setpoints_kw:
        state.setpoint_kw = float(setpoint)
        state.plan(step_s)
        state.integrate(step_s / 3600.0)
        p_kw.append(state.p_kw)
        soc.append(state.soc_frac)
    return np.asarray(p_kw), np.asarray(soc)


def test_setpoint_following_matches_the_scenarios_dispatch() -> None:
    """A setpoint s is what self-consumption does on a net load of -s: same limits, same energy."""
    battery = BatteryUnit(
        capacity_kwh=50.0,
        p_rated_kw=20.0,
        params=BatteryParameters(
            eta_charge_frac=0.96, eta_discharge_frac=0.92, soc_min_frac=0.1, soc_max_frac=0.9, soc_initial_frac=0.4
        ),
    )
    setpoints = np.random.default_rng(7).normal(0.0, 25.0, 400)
    p_kw, soc = _follow(battery, setpoints, QUARTER_S)
    index = pd.date_range("2025-06-21", periods=setpoints.size, freq="15min", tz="UTC")
    dispatch = self_consumption_dispatch(
        pd.DataFrame({"b": -setpoints}, index=index), [50.0], [20.0], params=battery.params
    )
    assert p_kw == pytest.approx(dispatch.p_kw["b"].to_numpy(), rel=1e-12, abs=1e-12)
    assert soc == pytest.approx(dispatch.soc_frac["b"].to_numpy(), rel=1e-12, abs=1e-12)
    assert soc.min() == pytest.approx(0.1) and soc.max() == pytest.approx(0.9)  # the window was reached


def test_field_battery_stays_in_its_window_and_rating() -> None:
    steps = 200
    p_kw, soc = _follow(DEFAULT_COMMUNITY_BATTERY, np.full(steps, 500.0), 30.0)
    assert p_kw.max() == 100.0  # rated power, not the 500 kW asked
    assert soc[-1] == pytest.approx(0.95, abs=1e-12) and p_kw[-1] == pytest.approx(0.0, abs=1e-9)
    p_kw, soc = _follow(DEFAULT_COMMUNITY_BATTERY, np.full(steps, -500.0), 30.0)
    assert p_kw.min() == -100.0
    assert soc[-1] == pytest.approx(0.05, abs=1e-12)
    # 0.95 each way: 30 s at 100 kW stores 100 * 0.95 / 120 kWh of 200 kWh
    p_kw, soc = _follow(DEFAULT_COMMUNITY_BATTERY, np.array([100.0]), 30.0)
    assert soc[0] == pytest.approx(0.5 + 100.0 * 0.95 / 120.0 / 200.0, rel=1e-12)
