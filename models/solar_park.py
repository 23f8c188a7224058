"""A ground-mounted PV park of the district on its own grid connection.

Villages that aim at energy neutrality build a PV park on open land beside the
rooftop systems: it is cheaper per kWp, faces south at a low tilt and is
open-rack mounted. :func:`add_solar_park` adds it as one PV asset ``community/pv0``
at a bus of the grid (by default the high-voltage side of the substation
transformer: a park of some hundred kWp gets its own medium-voltage connection and
does not load the district's transformer).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from models.community_battery import COMMUNITY
from models.pv import pv_power_kw
from twin.core.schema import append_asset

__all__ = ["add_solar_park"]


def add_solar_park(
    assets: xr.Dataset,
    weather: pd.DataFrame,
    p_peak_kw: float,
    bus: str,
    *,
    tilt_deg: float = 20.0,
    azimuth_deg: float = 180.0,
) -> xr.Dataset:
    """The assets plus a PV park ``community/pv0`` at ``bus``.

    Parameters
    ----------
    assets : xarray.Dataset
        The district's assets on a period of ``weather``'s index.
    weather : pandas.DataFrame
        :func:`models.weather.read_weather` frame covering the assets' period.
    p_peak_kw : float
        DC peak power of the park. [kW]
    bus : str
        Name of the bus it feeds.
    tilt_deg, azimuth_deg : float
        Orientation of its rows. [deg]

    Returns
    -------
    assets : xarray.Dataset
        The assets with the park appended (``kind`` ``pv``, ``building`` ``community``).
    """
    time_index = pd.DatetimeIndex(assets["time"].values)
    if time_index.tz is None:
        time_index = time_index.tz_localize("UTC")
    frame = weather.loc[weather.index.isin(time_index)]
    p_park = pv_power_kw(frame, [tilt_deg], [azimuth_deg], [p_peak_kw]).to_numpy()[:, 0].astype(np.float32)
    return append_asset(
        assets, asset=f"{COMMUNITY}/pv0", kind="pv", building=COMMUNITY, bus=bus, p_kw=p_park, p_peak_kw=p_peak_kw
    )
