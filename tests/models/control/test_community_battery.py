from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.battery import BatteryParameters, BatteryUnit
from models.community_battery import COMMUNITY, add_community_battery
from models.control.battery import battery_strategy, community_battery_dispatch
from twin.core.schema import build_assets

INDEX = pd.date_range("2025-06-10", periods=4 * 24 * 2, freq="15min", tz="UTC")


def _net_kw() -> np.ndarray:
    hour = INDEX.hour.to_numpy() + INDEX.minute.to_numpy() / 60
    return 150.0 - 600.0 * np.clip(np.sin(np.pi * (hour - 5) / 14), 0, None)


def test_peak_shaving_holds_export_and_import_limits() -> None:
    net = _net_kw()
    battery = BatteryUnit(capacity_kwh=4000.0, p_rated_kw=300.0)
    strategy = battery_strategy(
        "peak_shaving", {"peak_limit_kw": 140.0, "export_limit_kw": 200.0, "target_soc_frac": 0.4}
    )
    p, soc = community_battery_dispatch(net, INDEX, battery, strategy)
    after = net + p
    assert net.min() < -400.0 and after.min() >= -200.0 - 1e-9
    assert after.max() <= max(140.0, net.max() - 300.0) + 1e-9
    assert (np.abs(p) <= 300.0 + 1e-9).all()
    params = BatteryParameters()
    assert soc.min() >= params.soc_min_frac - 1e-12 and soc.max() <= params.soc_max_frac + 1e-12
    charged = np.clip(p, 0, None).sum() * 0.25 * params.eta_charge_frac
    discharged = np.clip(-p, 0, None).sum() * 0.25 / params.eta_discharge_frac
    assert charged - discharged == pytest.approx((soc[-1] - params.soc_initial_frac) * 4000.0)


def test_self_consumption_only_moves_surplus() -> None:
    net = _net_kw()
    battery = BatteryUnit(capacity_kwh=500.0, p_rated_kw=200.0)
    p, soc = community_battery_dispatch(net, INDEX, battery, battery_strategy("self_consumption"))
    assert (p[net > 0] <= 1e-9).all() and (p[net < 0] >= -1e-9).all()
    assert ((net + p)[net < 0] <= 1e-9).all() and ((net + p)[net > 0] >= -1e-9).all()
    assert p.max() > 0 and p.min() < 0 and soc.shape == net.shape


def test_add_community_battery_appends_one_asset() -> None:
    net = _net_kw()
    assets = build_assets(
        INDEX,
        asset=["h/load", "h/pv0"],
        kind=["load", "pv"],
        building=["h", "h"],
        bus=["b1", "b1"],
        p_kw=np.column_stack([np.full(len(INDEX), 150.0), net - 150.0]),
        p_peak_kw=[np.nan, 600.0],
        source="scenario",
    )
    battery = BatteryUnit(capacity_kwh=800.0, p_rated_kw=250.0)
    strategy = battery_strategy("self_consumption")
    out = add_community_battery(assets, battery, strategy, "busbar")
    assert out["asset"].values.tolist() == ["h/load", "h/pv0", f"{COMMUNITY}/battery0"]
    added = out.sel(asset=f"{COMMUNITY}/battery0")
    assert (added["kind"].item(), added["building"].item(), added["bus"].item()) == ("battery", COMMUNITY, "busbar")
    assert added["capacity_kwh"].item() == 800.0 and added["p_rated_kw"].item() == 250.0
    p, soc = community_battery_dispatch(assets["p_kw"].values.sum(axis=1, dtype=np.float64), INDEX, battery, strategy)
    np.testing.assert_allclose(added["p_kw"].values, p.astype(np.float32))
    np.testing.assert_allclose(added["soc_frac"].values, soc.astype(np.float32))
    np.testing.assert_array_equal(out["p_kw"].values[:, :2], assets["p_kw"].values)
