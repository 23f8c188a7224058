"""KPIs against small hand-computed cases (1-hour steps unless said)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from twin.core import kpi, schema
from twin.core.errors import ConfigError, TwinWarning

HOURS = pd.date_range("2025-03-01", periods=2, freq="1h", tz="UTC")


def _assets(table: dict[str, tuple[str, str, list[float]]], fuel: dict[str, list[float]] | None = None) -> xr.Dataset:
    """Assets from {id: (kind, building, p_kw per step)}."""
    ids = list(table)
    p = np.array([table[i][2] for i in ids]).T
    p_fuel = np.array([(fuel or {}).get(i, [0.0] * len(HOURS)) for i in ids]).T
    return schema.build_assets(
        HOURS,
        asset=ids,
        kind=[table[i][0] for i in ids],
        building=[table[i][1] for i in ids],
        bus=["LV1"] * len(ids),
        p_kw=p,
        p_fuel_kw=p_fuel,
    )


def test_one_building_imports_while_another_exports_netted_at_district_only() -> None:
    assets = _assets(
        {
            "a_load": ("load", "A", [3.0, 3.0]),
            "b_load": ("load", "B", [1.0, 1.0]),
            "b_pv": ("pv", "B", [-5.0, -5.0]),
        }
    )
    district = kpi.energy_kpis(kpi.boundary_flows(assets))
    a = kpi.energy_kpis(kpi.boundary_flows(assets, "A"))
    b = kpi.energy_kpis(kpi.boundary_flows(assets, "B"))
    # building A imports 3 kWh per hour, B exports 4 kWh per hour
    assert float(a["import_kwh"]) == pytest.approx(6.0)
    assert float(b["export_kwh"]) == pytest.approx(8.0)
    # at the substation they net within the step: 3 + 1 - 5 = -1 kW, export only
    assert float(district["import_kwh"]) == pytest.approx(0.0)
    assert float(district["export_kwh"]) == pytest.approx(2.0)
    assert float(district["self_sufficiency_frac"]) == pytest.approx(1.0)
    assert float(district["self_consumption_frac"]) == pytest.approx(1 - 2.0 / 10.0)
    assert float(a["self_sufficiency_frac"]) == pytest.approx(0.0)
    assert float(b["self_sufficiency_frac"]) == pytest.approx(1.0)
    assert float(b["self_consumption_frac"]) == pytest.approx(1 - 8.0 / 10.0)


def test_import_and_export_in_different_steps_are_never_netted() -> None:
    assets = _assets({"load": ("load", "A", [2.0, 1.0]), "pv": ("pv", "A", [0.0, -3.0])})
    k = kpi.energy_kpis(kpi.boundary_flows(assets))
    assert float(k["import_kwh"]) == pytest.approx(2.0)
    assert float(k["export_kwh"]) == pytest.approx(2.0)
    assert float(k["electricity_balance_kwh"]) == pytest.approx(0.0)
    assert bool(k["electricity_neutral"])
    # E_load = 3: self-sufficiency 1 - 2/3, not 1 as a netted year would claim
    assert float(k["self_sufficiency_frac"]) == pytest.approx(1 / 3)
    assert float(k["net_zero_degree_frac"]) == pytest.approx(1.0)
    assert float(k["self_consumption_frac"]) == pytest.approx(1 - 2.0 / 3.0)
    assert float(k["peak_import_kw"]) == pytest.approx(2.0)
    assert float(k["peak_export_kw"]) == pytest.approx(2.0)


def test_battery_losses_show_in_the_balance() -> None:
    # hour 1: PV 10 kW, load 2 kW, battery charges 8 kW; hour 2: load 8 kW, battery gives 7.2 kW (90 %)
    assets = _assets(
        {
            "load": ("load", "A", [2.0, 8.0]),
            "pv": ("pv", "A", [-10.0, 0.0]),
            "battery": ("battery", "A", [8.0, -7.2]),
        }
    )
    k = kpi.energy_kpis(kpi.boundary_flows(assets), p_peak_kw=12.5)
    assert float(k["load_kwh"]) == pytest.approx(10.0)  # the battery is neither load ...
    assert float(k["generation_kwh"]) == pytest.approx(10.0)  # ... nor generation
    assert float(k["import_kwh"]) == pytest.approx(0.8)
    assert float(k["export_kwh"]) == pytest.approx(0.0)
    # generation equals load, yet the balance is 0.8 kWh: the battery's losses
    assert float(k["electricity_balance_kwh"]) == pytest.approx(0.8)
    assert float(k["self_sufficiency_frac"]) == pytest.approx(0.92)
    # load cover counts only the hour-by-hour match of PV and load: min(2, 10) + min(8, 0)
    assert float(k["load_cover_frac"]) == pytest.approx(0.2)
    assert float(k["supply_cover_frac"]) == pytest.approx(0.2)
    assert float(k["full_load_hours_h"]) == pytest.approx(10.0 / 12.5)


def test_gas_counts_in_energy_neutral_balance_and_co2() -> None:
    assets = _assets(
        {
            "load": ("load", "A", [1.0, 1.0]),
            "pv": ("pv", "A", [-5.0, -5.0]),
            "boiler": ("gas_boiler", "A", [0.0, 0.0]),
        },
        fuel={"boiler": [5.0, 5.0]},
    )
    factors = kpi.CarrierFactors(co2_grid_g_per_kwh=400.0, co2_gas_g_per_kwh=240.0)
    k = kpi.energy_kpis(kpi.boundary_flows(assets), factors=factors)
    assert float(k["export_kwh"]) == pytest.approx(8.0)
    assert float(k["fuel_kwh"]) == pytest.approx(10.0)
    assert float(k["electricity_balance_kwh"]) == pytest.approx(-8.0)
    assert bool(k["electricity_neutral"])
    # all carriers: 0 import + 10 gas - 8 export = +2 kWh: not energy-neutral
    assert float(k["energy_balance_kwh"]) == pytest.approx(2.0)
    assert not bool(k["energy_neutral"])
    assert float(k["co2_kg"]) == pytest.approx(10.0 * 0.240)
    assert float(k["co2_avoided_kg"]) == pytest.approx(8.0 * 0.400)  # reported, not subtracted
    assert float(k["primary_energy_kwh"]) == pytest.approx(10.0 * 1.1)


def test_grid_losses_count_at_the_substation_only() -> None:
    assets = _assets({"load": ("load", "A", [4.0, 4.0])})
    losses = xr.DataArray([0.5, 0.5], coords={"time": assets["time"]}, dims="time")
    district = kpi.energy_kpis(kpi.boundary_flows(assets, p_loss_kw=losses))
    building = kpi.energy_kpis(kpi.boundary_flows(assets, "A", p_loss_kw=losses))
    assert float(district["import_kwh"]) == pytest.approx(9.0)
    assert float(building["import_kwh"]) == pytest.approx(8.0)
    # losses are used inside the district: self-sufficiency 0, not below
    assert float(district["load_kwh"]) == pytest.approx(9.0)
    assert float(district["self_sufficiency_frac"]) == pytest.approx(0.0)


def test_kpis_keep_other_dimensions() -> None:
    p = xr.DataArray(
        [[1.0, -1.0], [2.0, -2.0]], coords={"time": HOURS, "scenario": ["s1", "s2"]}, dims=("time", "scenario")
    )
    k = kpi.energy_kpis(kpi.flows_from_power(p, load_kw=3.0))
    assert k["import_kwh"].dims == ("scenario",)
    np.testing.assert_allclose(k["import_kwh"].values, [3.0, 0.0])
    np.testing.assert_allclose(k["self_sufficiency_frac"].values, [0.5, 1.0])


def test_ratio_without_denominator_is_nan() -> None:
    p = xr.DataArray([1.0, 1.0], coords={"time": HOURS}, dims="time")
    k = kpi.energy_kpis(kpi.flows_from_power(p))
    assert np.isnan(float(k["self_sufficiency_frac"]))
    assert np.isnan(float(k["self_consumption_frac"]))


def test_flows_reject_wrong_sign() -> None:
    p = xr.DataArray([1.0, 1.0], coords={"time": HOURS}, dims="time")
    with pytest.raises(ConfigError, match="generation_kwh: energy flows must be >= 0"):
        kpi.flows_from_power(p, generation_kw=-2.0)


def test_boundary_flows_unknown_building() -> None:
    assets = _assets({"load": ("load", "A", [1.0, 1.0])})
    with pytest.raises(ConfigError, match=r"unknown boundary 'Z'.*allowed: substation or a building id \(A\)"):
        kpi.boundary_flows(assets, "Z")


def test_live_counters_give_the_same_kpis_as_power() -> None:
    # a meter reads 0.5 kWh import then 0.3 kWh export per 15 minutes (mixed within no step)
    time = pd.date_range("2025-03-01", periods=4, freq="15min", tz="UTC")
    p = xr.DataArray([2.0, -1.2, 2.0, -1.2], coords={"time": schema.as_utc_time(time)}, dims="time")
    from_power = kpi.energy_kpis(
        kpi.flows_from_power(p, load_kw=2.0, generation_kw=xr.DataArray([0, 1.2, 0, 1.2], coords=p.coords))
    )
    meters = schema.build_meters(time, meter=["m"], boundary=["substation"], p_meter_kw=p.values[:, None])
    imp = kpi.energy_from_counters(meters["energy_import_kwh"].sel(meter="m"), initial_kwh=0.0)
    exp = kpi.energy_from_counters(meters["energy_export_kwh"].sel(meter="m"), initial_kwh=0.0)
    flows = xr.Dataset(
        {
            "import_kwh": imp,
            "export_kwh": exp,
            "load_kwh": xr.full_like(imp, 0.5),
            "generation_kwh": xr.DataArray([0, 0.3, 0, 0.3], coords=imp.coords),
            "fuel_kwh": xr.zeros_like(imp),
        },
        attrs={"dt_h": 0.25},
    )
    from_counters = kpi.energy_kpis(flows)
    for name in ("import_kwh", "export_kwh", "self_sufficiency_frac", "self_consumption_frac", "peak_import_kw"):
        assert float(from_counters[name]) == pytest.approx(float(from_power[name]), rel=1e-6, abs=1e-6)


def test_energy_from_counters_reset_is_left_out() -> None:
    counter = xr.DataArray([10.0, 11.0, 2.0, 3.0], dims="time")
    with pytest.warns(TwinWarning, match="went backwards"):
        energy = kpi.energy_from_counters(counter)
    assert np.isnan(energy.values[0])  # no reading before the first step
    assert np.isnan(energy.values[2])  # the reset
    np.testing.assert_allclose(energy.values[[1, 3]], [1.0, 1.0])


def test_grid_kpis_hand_computed() -> None:
    time = pd.date_range("2025-06-01", periods=4, freq="15min")
    vm = xr.DataArray(
        [[1.02, 1.01, 1.00], [1.02, 1.06, 1.11], [1.02, 0.95, 0.89], [1.02, 1.03, 1.04]],
        coords={"time": time, "bus": [5, 6, 7]},
        dims=("time", "bus"),
    )
    loading = xr.DataArray(
        [[50.0, 20.0, 10.0], [80.0, 90.0, 30.0], [120.0, 40.0, 60.0], [30.0, 10.0, 5.0]],
        coords={
            "time": time,
            "branch": ["trafo 0", "line 0", "line 1"],
            "branch_kind": ("branch", ["trafo", "line", "line"]),
        },
        dims=("time", "branch"),
    )
    k = kpi.grid_kpis(vm, loading, reference_bus=5)
    assert float(k["trafo_loading_max_percent"]) == pytest.approx(120.0)
    assert float(k["line_loading_max_percent"]) == pytest.approx(90.0)
    assert float(k["trafo_utilisation_frac"]) == pytest.approx((50 + 80 + 120 + 30) / 4 / 100)
    assert float(k["vm_min_pu"]) == pytest.approx(0.89)
    assert float(k["vm_max_pu"]) == pytest.approx(1.11)
    assert float(k["outside_band_h"]) == pytest.approx(0.5)  # steps 2 and 3
    assert float(k["voltage_rise_max_pu"]) == pytest.approx(0.09)
    assert float(k["rise_above_limit_h"]) == pytest.approx(0.25)  # only step 2 (step 4: +0.02)
    p99 = np.quantile([50.0, 80.0, 120.0, 30.0], 0.99)
    assert float(k["trafo_loading_p99_percent"]) == pytest.approx(p99)


def test_grid_kpis_unknown_reference_bus() -> None:
    vm = xr.DataArray([[1.0], [1.0]], coords={"time": HOURS.tz_localize(None), "bus": [0]}, dims=("time", "bus"))
    loading = xr.DataArray(
        [[1.0], [1.0]],
        coords={"time": vm["time"], "branch": ["l"], "branch_kind": ("branch", ["line"])},
        dims=("time", "branch"),
    )
    with pytest.raises(ConfigError, match="reference bus 9"):
        kpi.grid_kpis(vm, loading, reference_bus=9)


def test_carrier_factors_validated() -> None:
    with pytest.raises(ConfigError, match="co2_gas_g_per_kwh: must be a finite number >= 0"):
        kpi.CarrierFactors(co2_gas_g_per_kwh=-1.0)
