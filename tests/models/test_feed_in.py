from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.feed_in import limit_feed_in
from twin.core.errors import ConfigError
from twin.core.schema import build_assets


def _assets(p_kw: np.ndarray) -> object:
    time = pd.date_range("2025-06-10", periods=p_kw.shape[0], freq="15min", tz="UTC")
    return build_assets(
        time,
        asset=["a/pv0", "a/load", "b/pv0", "b/pv1", "b/load"],
        kind=["pv", "load", "pv", "pv", "load"],
        building=["a", "a", "b", "b", "b"],
        bus=["x"] * 5,
        p_kw=p_kw,
        p_peak_kw=[10.0, np.nan, 4.0, 6.0, np.nan],
        source="scenario",
    )


P_KW = np.array(
    [
        [-8.0, 1.0, -3.0, -5.0, 0.5],  # a exports 7 > 6, b exports 7.5 > 6
        [-2.0, 1.0, -1.0, -1.0, 0.5],  # nobody beyond the limit
        [0.0, 2.0, 0.0, 0.0, 1.0],  # night
    ]
)


def test_each_building_exports_at_most_its_share() -> None:
    limited, curtailed = limit_feed_in(_assets(P_KW), 0.6, per_building=True)
    a, b = limited[:, :2].sum(axis=1), limited[:, 2:].sum(axis=1)
    assert a[0] == pytest.approx(-6.0) and b[0] == pytest.approx(-6.0)
    # b's excess of 1.5 kW is taken off its two PV systems in proportion to their output (3:5)
    assert limited[0, 2] == pytest.approx(-3.0 + 1.5 * 3 / 8) and limited[0, 3] == pytest.approx(-5.0 + 1.5 * 5 / 8)
    np.testing.assert_array_equal(limited[1:], P_KW[1:])
    np.testing.assert_array_equal(limited[:, [1, 4]], P_KW[:, [1, 4]])
    np.testing.assert_allclose(curtailed, [1.0 + 1.5, 0.0, 0.0])


def test_district_limit_nets_buildings() -> None:
    limited, curtailed = limit_feed_in(_assets(P_KW), 0.6, per_building=False)
    # the district exports 14.5 kW against 0.6 x 20 kWp = 12 kW
    assert limited[0].sum() == pytest.approx(-12.0)
    assert curtailed[0] == pytest.approx(2.5) and curtailed[1:].sum() == 0.0


def test_without_pv_nothing_changes() -> None:
    ds = _assets(P_KW)
    ds["kind"] = ds["kind"].copy(data=np.array(["load"] * 5, dtype=object))
    limited, curtailed = limit_feed_in(ds, 0.0, per_building=True)
    np.testing.assert_array_equal(limited, P_KW)
    assert curtailed.shape == (3,) and not curtailed.any()


def test_boundary_export_is_clipped_at_the_limit() -> None:
    """One building, a 1 kW load and 10 kWp of PV: at 60 % its exchange never falls below -6 kW."""
    time = pd.date_range("2025-06-10", periods=3, freq="15min", tz="UTC")
    assets = build_assets(
        time,
        asset=["a/load", "a/pv0"],
        kind=["load", "pv"],
        building=["a", "a"],
        bus=["x", "x"],
        p_kw=np.array([[1.0, 0.0], [1.0, -4.0], [1.0, -9.0]]),
        p_peak_kw=[np.nan, 10.0],
        source="scenario",
    )
    limited, curtailed = limit_feed_in(assets, 0.6, per_building=True)
    np.testing.assert_allclose(limited.sum(axis=1), [1.0, -3.0, -6.0])
    np.testing.assert_allclose(curtailed, [0.0, 0.0, 2.0])
    with pytest.raises(ConfigError, match="frac: feed-in limit must be >= 0"):
        limit_feed_in(assets, -1.0, per_building=True)
