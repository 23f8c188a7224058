"""The battery strategies' registry: each strategy by name, step by step as over a period."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.battery import BatteryParameters, BatteryUnit, advance_soc, follow_setpoint, self_consumption_dispatch
from models.control.battery import (
    BATTERY_STRATEGIES,
    FollowSetpoint,
    PeakShaving,
    SelfConsumption,
    battery_strategy,
)
from twin.core.errors import ConfigError

INDEX = pd.date_range("2025-06-10", periods=4 * 24 * 3, freq="15min", tz="UTC")
BATTERY = BatteryUnit(
    capacity_kwh=400.0,
    p_rated_kw=120.0,
    params=BatteryParameters(
        eta_charge_frac=0.96, eta_discharge_frac=0.93, soc_min_frac=0.1, soc_max_frac=0.9, soc_initial_frac=0.3
    ),
)


def _net_kw() -> np.ndarray:
    hour = INDEX.hour.to_numpy() + INDEX.minute.to_numpy() / 60
    return 150.0 - 600.0 * np.clip(np.sin(np.pi * (hour - 5) / 14), 0, None)


def _stepped(name: str, input_kw: np.ndarray, settings: dict[str, float] | None = None) -> tuple[np.ndarray, ...]:
    """The strategy step by step (the field's way), the state of charge advanced after each step."""
    strategy = battery_strategy(name, settings)
    soc_frac, p_kw, soc = BATTERY.params.soc_initial_frac, [], []
    for value in input_kw:
        p_kw.append(strategy.step(float(value), soc_frac, 0.25, BATTERY))
        soc_frac = advance_soc(BATTERY, soc_frac, p_kw[-1], 0.25)
        soc.append(soc_frac)
    return np.asarray(p_kw), np.asarray(soc)


def test_registry_names_every_strategy() -> None:
    assert dict(BATTERY_STRATEGIES) == {
        "self_consumption": SelfConsumption,
        "peak_shaving": PeakShaving,
        "follow_setpoint": FollowSetpoint,
    }
    assert all(BATTERY_STRATEGIES[name].name == name for name in BATTERY_STRATEGIES)


def test_unknown_strategy_names_the_allowed_ones() -> None:
    with pytest.raises(ConfigError) as raised:
        battery_strategy("peak_shavng")
    assert str(raised.value) == (
        "strategy: unknown battery strategy 'peak_shavng' (allowed: follow_setpoint, peak_shaving, self_consumption)"
    )


def test_settings_go_to_the_strategy_that_takes_them() -> None:
    settings = {"capacity_kwh": 1.0, "peak_limit_kw": 140.0, "export_limit_kw": None, "target_soc_frac": 0.4}
    assert battery_strategy("peak_shaving", settings) == PeakShaving(peak_limit_kw=140.0, target_soc_frac=0.4)
    assert battery_strategy("self_consumption", settings) == SelfConsumption()


def test_self_consumption_is_the_home_battery_dispatch() -> None:
    net = _net_kw()
    p_kw, soc = battery_strategy("self_consumption").dispatch(net, INDEX, BATTERY)
    expected = self_consumption_dispatch(
        pd.DataFrame({"b": net}, index=INDEX), [BATTERY.capacity_kwh], [BATTERY.p_rated_kw], params=BATTERY.params
    )
    np.testing.assert_array_equal(p_kw, expected.p_kw["b"].to_numpy())
    np.testing.assert_array_equal(soc, expected.soc_frac["b"].to_numpy())
    stepped_p, stepped_soc = _stepped("self_consumption", net)
    np.testing.assert_allclose(stepped_p, p_kw, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(stepped_soc, soc, rtol=1e-12, atol=1e-12)
    assert soc.max() == pytest.approx(0.9) and soc.min() == pytest.approx(0.1)  # the window was reached


def test_peak_shaving_step_by_step_is_its_dispatch() -> None:
    net = _net_kw()
    settings = {"peak_limit_kw": 140.0, "export_limit_kw": 200.0, "target_soc_frac": 0.4}
    p_kw, soc = battery_strategy("peak_shaving", settings).dispatch(net, INDEX, BATTERY)
    after = net + p_kw
    assert net.min() < -400.0 and after.min() < -200.0  # the battery is too small for every peak
    assert (np.abs(p_kw) <= 120.0 + 1e-9).all() and p_kw.max() > 0 and p_kw.min() < 0
    stepped_p, stepped_soc = _stepped("peak_shaving", net, settings)
    np.testing.assert_allclose(stepped_p, p_kw, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(stepped_soc, soc, rtol=1e-12, atol=1e-12)


def test_follow_setpoint_is_the_setpoint_within_the_limits() -> None:
    setpoints = np.random.default_rng(3).normal(0.0, 150.0, len(INDEX))
    p_kw, soc = battery_strategy("follow_setpoint").dispatch(setpoints, INDEX, BATTERY)
    assert np.abs(p_kw).max() == 120.0
    soc_frac = BATTERY.params.soc_initial_frac
    for t, setpoint in enumerate(setpoints):
        assert p_kw[t] == follow_setpoint(BATTERY, float(setpoint), soc_frac, 0.25)
        soc_frac = advance_soc(BATTERY, soc_frac, p_kw[t], 0.25)
        assert soc[t] == soc_frac
    # a setpoint s is self-consumption on a net load of -s
    mirrored, _ = battery_strategy("self_consumption").dispatch(-setpoints, INDEX, BATTERY)
    np.testing.assert_allclose(p_kw, mirrored, rtol=1e-12, atol=1e-9)


def test_the_scenarios_strategies_are_registered() -> None:
    from typing import get_args

    from scenarios.records import BatteryStrategy as ScenarioStrategy

    assert set(get_args(ScenarioStrategy)) <= set(BATTERY_STRATEGIES)
