"""The community battery: one battery dispatched on the district's net load at the substation.

The battery is a :class:`models.battery.BatteryUnit` (ratings, efficiencies, state-of-charge
window); the control library dispatches it
(:func:`models.control.battery.community_battery_dispatch` with a strategy of its registry:
``self_consumption`` or ``peak_shaving`` in the scenarios). Battery power is load-positive
(charging > 0).
"""

from __future__ import annotations

from typing import Final

import numpy as np
import pandas as pd
import xarray as xr

from models.battery import BatteryUnit
from models.control.battery import BatteryStrategy, community_battery_dispatch
from twin.core.asset_append import append_asset

__all__ = ["COMMUNITY", "add_community_battery"]

#: Building id of the community battery's asset.
COMMUNITY: Final[str] = "community"


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
