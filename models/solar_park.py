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
from twin.core.schema import build_assets

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
    n = assets.sizes["asset"]
    columns = {name: assets[name].values[:n] for name in ("p_rated_kw", "p_peak_kw", "capacity_kwh")}
    soc = assets["soc_frac"].values if "soc_frac" in assets else None
    out = build_assets(
        assets["time"].values,
        asset=[*assets["asset"].values.tolist(), f"{COMMUNITY}/pv0"],
        kind=[*assets["kind"].values.tolist(), "pv"],
        building=[*assets["building"].values.tolist(), COMMUNITY],
        bus=[*assets["bus"].values.tolist(), bus],
        p_kw=_append(assets["p_kw"].values, p_park),
        p_fuel_kw=_append(assets["p_fuel_kw"].values, np.zeros_like(p_park)),
        soc_frac=None if soc is None else _append(soc, np.full_like(p_park, np.nan)),
        p_rated_kw=[*columns["p_rated_kw"], np.nan],
        p_peak_kw=[*columns["p_peak_kw"], p_peak_kw],
        capacity_kwh=[*columns["capacity_kwh"], np.nan],
        source="scenario",
    )
    out.attrs = {**assets.attrs, **out.attrs}
    return out


def _append(block: np.ndarray, column: np.ndarray) -> np.ndarray:
    """``block`` (time x asset) with ``column`` appended, float32 (one copy, no float64 detour)."""
    out = np.empty((block.shape[0], block.shape[1] + 1), dtype=np.float32)
    out[:, :-1] = block
    out[:, -1] = column
    return out
