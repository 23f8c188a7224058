"""Oil and wood in the all-carrier KPIs, with the GEG 2024 factors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from twin.core.errors import ConfigError
from twin.core.kpi import GEG_2024, add_fuel_carriers, energy_kpis, flows_from_power


def _kpis() -> xr.Dataset:
    time = pd.date_range("2025-01-01", periods=4, freq="15min", tz="UTC").tz_localize(None)
    p = xr.DataArray(np.array([4.0, 4.0, -4.0, 0.0]), dims="time", coords={"time": time})
    flows = flows_from_power(p, load_kw=4.0, fuel_kw=8.0)
    return energy_kpis(flows)


def test_oil_and_wood_count_in_balance_co2_and_primary_energy():
    before = _kpis()
    after = add_fuel_carriers(before, {"oil": 100.0, "wood": 50.0})
    assert float(after["energy_balance_kwh"]) == pytest.approx(float(before["energy_balance_kwh"]) + 150.0)
    assert float(after["fuel_oil_kwh"]) == 100.0 and float(after["fuel_wood_kwh"]) == 50.0
    assert float(after["fuel_kwh"]) == float(before["fuel_kwh"])  # gas unchanged
    co2_kg = (100.0 * 310.0 + 50.0 * 20.0) / 1000.0
    assert float(after["co2_kg"]) == pytest.approx(float(before["co2_kg"]) + co2_kg)
    assert float(after["primary_energy_kwh"]) == pytest.approx(float(before["primary_energy_kwh"]) + 110.0 + 10.0)
    assert GEG_2024.primary_energy_factor_wood == 0.2 and GEG_2024.co2_oil_g_per_kwh == 310.0
    assert not bool(after["energy_neutral"])


def test_unknown_carrier_or_negative_fuel_is_bad_input():
    with pytest.raises(ConfigError):
        add_fuel_carriers(_kpis(), {"coal": 1.0})
    with pytest.raises(ConfigError):
        add_fuel_carriers(_kpis(), {"oil": -1.0})
