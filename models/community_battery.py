"""The community battery: one battery dispatched on the district's net load at the substation.

The battery is a :class:`models.battery.BatteryUnit` (ratings, efficiencies, state-of-charge
window); its strategy comes from the registry of :mod:`models.battery_control`
(``self_consumption`` or ``peak_shaving`` in the scenarios). Battery power is load-positive
(charging > 0).
"""

from __future__ import annotations

from typing import Final

import numpy as np
import pandas as pd
import xarray as xr

from models.battery import BatteryUnit
from models.battery_control import BatteryStrategy
from twin.core.schema import build_assets

__all__ = ["COMMUNITY", "add_community_battery", "community_battery_dispatch"]

#: Building id of the community battery's asset.
COMMUNITY: Final[str] = "community"


def community_battery_dispatch(
    net_kw: np.ndarray, time_index: pd.DatetimeIndex, battery: BatteryUnit, strategy: BatteryStrategy
) -> tuple[np.ndarray, np.ndarray]:
    """Dispatch the battery on the district's net load.

    Parameters
    ----------
    net_kw : numpy.ndarray
        The district's net load at the substation per step, import-positive. [kW]
    time_index : pandas.DatetimeIndex
        The steps (regular).
    battery : BatteryUnit
        Ratings and parameters.
    strategy : BatteryStrategy
        From :func:`models.battery_control.battery_strategy`.

    Returns
    -------
    p_kw : numpy.ndarray
        Battery power, load-positive. [kW]
    soc_frac : numpy.ndarray
        State of charge at the end of each step. [1]
    """
    return strategy.dispatch(net_kw, time_index, battery)


def add_community_battery(assets: xr.Dataset, battery: BatteryUnit, strategy: BatteryStrategy, bus: str) -> xr.Dataset:
    """The assets plus the community battery ``community/battery0`` at ``bus``, dispatched on their net load."""
    net_kw = assets["p_kw"].values.sum(axis=1, dtype=np.float64)
    time_index = pd.DatetimeIndex(assets["time"].values)
    p_battery, soc_battery = community_battery_dispatch(net_kw, time_index, battery, strategy)
    n = assets.sizes["asset"]
    soc = assets["soc_frac"].values if "soc_frac" in assets else np.full(assets["p_kw"].shape, np.nan, np.float32)
    out = build_assets(
        assets["time"].values,
        asset=[*assets["asset"].values.tolist(), f"{COMMUNITY}/battery0"],
        kind=[*assets["kind"].values.tolist(), "battery"],
        building=[*assets["building"].values.tolist(), COMMUNITY],
        bus=[*assets["bus"].values.tolist(), bus],
        p_kw=np.column_stack([assets["p_kw"].values, p_battery]),
        p_fuel_kw=np.column_stack([assets["p_fuel_kw"].values, np.zeros(len(time_index))]),
        soc_frac=np.column_stack([soc, soc_battery]),
        p_rated_kw=[*assets["p_rated_kw"].values[:n], battery.p_rated_kw],
        p_peak_kw=[*assets["p_peak_kw"].values[:n], np.nan],
        capacity_kwh=[*assets["capacity_kwh"].values[:n], battery.capacity_kwh],
        source="scenario",
    )
    out.attrs = {**assets.attrs, **out.attrs}
    return out
