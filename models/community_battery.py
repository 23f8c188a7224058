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
from twin.core.schema import append_asset

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
    return append_asset(
        assets,
        asset=f"{COMMUNITY}/battery0",
        kind="battery",
        building=COMMUNITY,
        bus=bus,
        p_kw=p_battery,
        soc_frac=soc_battery,
        p_rated_kw=battery.p_rated_kw,
        capacity_kwh=battery.capacity_kwh,
    )
