from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.battery import BatteryParameters, BatteryUnit, advance_soc, follow_setpoint, self_consumption_dispatch
from twin.core.errors import ConfigError


def _net_load(seed: int, n_steps: int = 4 * 24 * 3, n_batteries: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    index = pd.date_range("2023-06-01", periods=n_steps, freq="15min", tz="UTC")
    hour = index.hour.to_numpy() + index.minute.to_numpy() / 60
    pv = -6.0 * np.clip(np.sin(np.pi * (hour - 4) / 16), 0, None)
    load = 0.4 + rng.gamma(2.0, 0.3, (n_steps, n_batteries))
    return pd.DataFrame(load + pv[:, np.newaxis], index=index, columns=["a", "b", "c"][:n_batteries])


def test_battery_energy_conserved_with_losses() -> None:
    net = _net_load(1)
    params = BatteryParameters(eta_charge_frac=0.96, eta_discharge_frac=0.94, soc_initial_frac=0.3)
    capacity = np.array([5.0, 10.0, 2.0])
    result = self_consumption_dispatch(net, capacity, [3.0, 5.0, 1.0], params=params)
    p = result.p_kw.to_numpy()
    charge = np.clip(p, 0, None).sum(axis=0) * 0.25
    discharge = np.clip(-p, 0, None).sum(axis=0) * 0.25
    stored_change = (result.soc_frac.to_numpy()[-1] - 0.3) * capacity
    assert np.allclose(charge * 0.96 - discharge / 0.94, stored_change)
    assert charge.min() > 0 and discharge.min() > 0


def test_battery_limits_and_signs() -> None:
    net = _net_load(2)
    params = BatteryParameters(soc_min_frac=0.1, soc_max_frac=0.9, soc_initial_frac=0.5)
    result = self_consumption_dispatch(net, 5.0, 2.0, params=params)
    p, soc, n = result.p_kw.to_numpy(), result.soc_frac.to_numpy(), net.to_numpy()
    assert (np.abs(p) <= 2.0 + 1e-12).all()
    assert (soc >= 0.1 - 1e-12).all() and (soc <= 0.9 + 1e-12).all()
    # charges only from surplus, discharges only to cover load, never exports or imports for itself
    assert (p[n >= 0] <= 1e-12).all() and (p[n <= 0] >= -1e-12).all()
    assert (np.abs(p) <= np.abs(n) + 1e-12).all()
    assert soc.max() == pytest.approx(0.9)


def test_battery_bad_parameters() -> None:
    with pytest.raises(ConfigError, match="efficiencies"):
        BatteryParameters(eta_charge_frac=1.2)
    with pytest.raises(ConfigError, match="soc_min_frac"):
        BatteryParameters(soc_min_frac=0.6, soc_initial_frac=0.5)
    with pytest.raises(ConfigError, match="capacity_kwh"):
        self_consumption_dispatch(_net_load(0), 0.0, 1.0)


def test_follow_setpoint_within_rating_and_soc_window() -> None:
    unit = BatteryUnit(
        capacity_kwh=10.0, p_rated_kw=4.0, params=BatteryParameters(eta_charge_frac=0.95, eta_discharge_frac=0.95)
    )
    assert follow_setpoint(unit, 9.0, 0.5, 0.25) == 4.0
    assert follow_setpoint(unit, -9.0, 0.5, 0.25) == -4.0
    # 0.5 kWh of room above 0.95: at most 0.5 / 0.95 kWh drawn in the quarter hour
    assert follow_setpoint(unit, 4.0, 0.95, 0.25) == pytest.approx(0.5 / 0.95 / 0.25)
    assert follow_setpoint(unit, 4.0, 1.0, 0.25) == 0.0
    assert follow_setpoint(unit, -4.0, 0.05, 0.25) == 0.0
    assert advance_soc(unit, 0.5, 4.0, 0.25) == pytest.approx(0.5 + 4.0 * 0.95 * 0.25 / 10.0)
    assert advance_soc(unit, 0.5, -4.0, 0.25) == pytest.approx(0.5 - 4.0 / 0.95 * 0.25 / 10.0)
    with pytest.raises(ConfigError, match="capacity_kwh"):
        BatteryUnit(capacity_kwh=0.0, p_rated_kw=4.0)
