from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from twin.core import schema
from twin.core.asset_append import append_asset
from twin.core.errors import ConfigError

TIME = pd.date_range("2025-01-01 00:00", periods=3, freq="15min", tz="Europe/Berlin")


def _assets(**overrides: object) -> xr.Dataset:
    kwargs: dict[str, object] = {
        "asset": ["pv1", "hh1", "gas1"],
        "kind": ["pv", "load", "gas_boiler"],
        "building": ["b1", "b1", "b2"],
        "bus": ["LV1", "LV1", "LV2"],
        "p_kw": [[-2.0, 1.0, 0.0], [-1.0, 1.0, 0.0], [0.0, 2.0, 0.0]],
        "p_fuel_kw": [[0, 0, 3.0], [0, 0, 2.0], [0, 0, 1.0]],
    }
    kwargs.update(overrides)
    return schema.build_assets(TIME, **kwargs)  # type: ignore[arg-type]


def test_build_assets_layout() -> None:
    ds = _assets()
    assert ds["p_kw"].dims == ("time", "asset")
    assert ds["p_kw"].dtype == np.float32
    assert ds["p_kw"].attrs["sign_convention"] == "load_positive"
    assert ds.attrs["source"] == "simulated"
    assert list(ds["kind"].values) == ["pv", "load", "gas_boiler"]
    assert ds["time"].encoding["units"].startswith("seconds since 1970-01-01")


def test_append_asset_equals_building_all_columns_and_leaves_the_input() -> None:
    ds = _assets()
    before = ds["p_kw"].values.copy()
    out = append_asset(
        ds,
        asset="bat1",
        kind="battery",
        building="c",
        bus="LV2",
        p_kw=[1.0, -1.0, 0.5],
        soc_frac=[0.2, 0.1, 0.15],
        capacity_kwh=10.0,
    )
    full = _assets(
        asset=["pv1", "hh1", "gas1", "bat1"],
        kind=["pv", "load", "gas_boiler", "battery"],
        building=["b1", "b1", "b2", "c"],
        bus=["LV1", "LV1", "LV2", "LV2"],
        p_kw=[[-2.0, 1.0, 0.0, 1.0], [-1.0, 1.0, 0.0, -1.0], [0.0, 2.0, 0.0, 0.5]],
        p_fuel_kw=[[0, 0, 3.0, 0], [0, 0, 2.0, 0], [0, 0, 1.0, 0]],
        soc_frac=[[np.nan, np.nan, np.nan, 0.2], [np.nan, np.nan, np.nan, 0.1], [np.nan, np.nan, np.nan, 0.15]],
        capacity_kwh=[np.nan, np.nan, np.nan, 10.0],
    )
    xr.testing.assert_identical(out.drop_attrs(), full.drop_attrs())
    out["p_kw"].values[:] = 99.0
    np.testing.assert_array_equal(ds["p_kw"].values, before)


def test_build_assets_copies_unless_handed_over() -> None:
    p_kw = np.zeros((3, 3), dtype=np.float32)
    kept = _assets(p_kw=p_kw)
    taken = _assets(p_kw=p_kw, copy=False)
    assert not np.shares_memory(kept["p_kw"].values, p_kw)
    assert np.shares_memory(taken["p_kw"].values, p_kw)


def test_build_assets_time_is_utc_naive() -> None:
    ds = _assets()
    # 01:00 Europe/Berlin in winter is 00:00 UTC
    assert ds.indexes["time"].tz is None
    assert ds["time"].values[0] == np.datetime64("2024-12-31T23:00")


def test_as_utc_time_takes_naive_as_utc() -> None:
    index = schema.as_utc_time(["2025-07-01 12:00"])
    assert index[0] == pd.Timestamp("2025-07-01 12:00")


@pytest.mark.parametrize(
    ("overrides", "field", "match"),
    [
        ({"kind": ["pv", "wind", "gas_boiler"]}, "kind", "unknown asset kind 'wind'"),
        ({"asset": ["a", "a", "b"]}, "asset", "duplicate id 'a'"),
        ({"p_fuel_kw": [[1.0, 0, 3.0]] * 3}, "p_fuel_kw", "only gas boilers draw fuel"),
        ({"p_kw": [[-2.0, 1.0, 0.5]] * 3}, "p_kw", "gas boilers draw no electric power"),
        ({"p_fuel_kw": [[0, 0, -1.0]] * 3}, "p_fuel_kw", "must be >= 0"),
        ({"p_kw": [[1.0, 2.0]] * 3}, "p_kw", r"has shape \(3, 2\), expected \(3, 3\)"),
        ({"soc_frac": [[np.nan, np.nan, 1.5]] * 3}, "soc_frac", "outside 0-1"),
    ],
)
def test_build_assets_rejects(overrides: dict[str, object], field: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match) as info:
        _assets(**overrides)
    assert info.value.field == field
    assert "\n" not in str(info.value)


def test_validate_assets_rejects_missing_variable() -> None:
    ds = _assets().drop_vars("p_fuel_kw")
    with pytest.raises(ConfigError, match="assets dataset lacks 'p_fuel_kw'"):
        schema.validate_assets(ds)


def test_validate_assets_rejects_wrong_units() -> None:
    ds = _assets()
    ds["p_kw"].attrs["units"] = "W"
    with pytest.raises(ConfigError, match="p_kw: units 'W' do not match"):
        schema.validate_assets(ds)


def test_validate_rejects_unknown_source() -> None:
    ds = _assets()
    ds.attrs["source"] = "guessed"
    with pytest.raises(ConfigError, match="source attribute is 'guessed'"):
        schema.validate_assets(ds)


def test_quality_variable_cf_flags() -> None:
    var = schema.quality_variable([["ok", "stale"], ["missing", "invalid"]], ("time", "asset"))
    assert var.dtype == np.int8
    assert var.values.tolist() == [[0, 1], [2, 3]]
    assert var.attrs["flag_meanings"] == "ok stale missing invalid estimated"
    assert var.attrs["flag_values"].tolist() == [0, 1, 2, 3, 4]
    with pytest.raises(ConfigError, match="unknown quality flag 'bad'"):
        schema.quality_variable(["bad"], ("time",))


def test_meters_from_assets_tree() -> None:
    assets = _assets()
    meters = schema.meters_from_assets(assets, p_loss_kw=[0.1, 0.1, 0.2])
    assert list(meters["meter"].values) == ["b1", "b2", "substation"]
    p = meters["p_meter_kw"].values
    np.testing.assert_allclose(p[:, 0], [-1.0, 0.0, 2.0])  # b1: PV + household
    np.testing.assert_allclose(p[:, 1], [0.0, 0.0, 0.0])  # b2: gas only, no electricity
    np.testing.assert_allclose(p[:, 2], p[:, 0] + p[:, 1] + [0.1, 0.1, 0.2], rtol=1e-6)
    # counters integrate import and export separately, 15-minute steps
    np.testing.assert_allclose(meters["energy_export_kwh"].sel(meter="b1").values, [0.25, 0.25, 0.25])
    np.testing.assert_allclose(meters["energy_import_kwh"].sel(meter="b1").values, [0.0, 0.0, 0.5])


def test_build_meters_rejects_decreasing_counter() -> None:
    with pytest.raises(ConfigError, match="energy counter of meter 'm2' decreases"):
        schema.build_meters(
            TIME,
            meter=["m1", "m2"],
            boundary=["b1", "b2"],
            p_meter_kw=np.zeros((3, 2)),
            energy_import_kwh=[[0, 5], [1, 4], [2, 6]],
            energy_export_kwh=np.zeros((3, 2)),
        )


def test_build_grid_results_rejects_collapsed_voltage() -> None:
    with pytest.raises(ConfigError, match="non-converged step"):
        schema.build_grid_results(
            TIME,
            bus=[0, 1],
            branch=["trafo 0"],
            vm_pu=[[1.0, 0.0]] * 3,
            loading_percent=[[10.0]] * 3,
            p_bus_kw=np.zeros((3, 2)),
            q_bus_kvar=np.zeros((3, 2)),
            p_loss_kw=np.zeros(3),
            p_grid_kw=np.zeros(3),
        )


def test_step_hours() -> None:
    assert schema.step_hours(TIME) == 0.25
    with pytest.raises(ConfigError, match="time steps must be equal"):
        schema.step_hours(pd.DatetimeIndex(["2025-01-01 00:00", "2025-01-01 00:15", "2025-01-01 01:00"]))
