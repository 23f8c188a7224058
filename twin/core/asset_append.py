"""One asset appended to an assets dataset, each array copied once (scenario extras: solar park, community battery)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import xarray as xr

from twin.core.schema import Source, build_assets

__all__ = ["append_asset"]


def append_asset(
    assets: xr.Dataset,
    *,
    asset: str,
    kind: str,
    building: str,
    bus: str,
    p_kw: npt.ArrayLike,
    soc_frac: npt.ArrayLike | None = None,
    p_rated_kw: float = np.nan,
    p_peak_kw: float = np.nan,
    capacity_kwh: float = np.nan,
    source: Source = "scenario",
) -> xr.Dataset:
    """``assets`` with one electric asset appended (no fuel), each array copied once.

    Parameters
    ----------
    assets : xarray.Dataset
        An assets dataset (see :func:`build_assets`); its attributes are kept.
    asset, kind, building, bus : str
        The new asset's id, kind, building and bus.
    p_kw : array-like, shape (time,)
        Its active power, load-positive. [kW]
    soc_frac : array-like, shape (time,), optional
        Its state of charge (batteries). [1]
    p_rated_kw, p_peak_kw, capacity_kwh : float
        Its ratings; NaN where they do not apply. [kW], [kW], [kWh]
    source : {"measured", "simulated", "scenario"}
        Where the new dataset's numbers come from.

    Returns
    -------
    assets : xarray.Dataset
        Passes :func:`validate_assets`.
    """
    n = assets.sizes["asset"]

    def widened(name: str, column: npt.ArrayLike, fill: float) -> npt.NDArray[np.float32]:
        out = np.empty((assets.sizes["time"], n + 1), dtype=np.float32)
        out[:, :-1] = assets[name].transpose("time", "asset").values if name in assets else fill
        out[:, -1] = column
        return out

    soc = None
    if soc_frac is not None or "soc_frac" in assets:
        soc = widened("soc_frac", np.nan if soc_frac is None else soc_frac, np.nan)
    out = build_assets(
        assets["time"].values,
        asset=[*assets["asset"].values.tolist(), asset],
        kind=[*assets["kind"].values.tolist(), kind],
        building=[*assets["building"].values.tolist(), building],
        bus=[*assets["bus"].values.tolist(), bus],
        p_kw=widened("p_kw", p_kw, np.nan),
        p_fuel_kw=widened("p_fuel_kw", 0.0, 0.0),
        soc_frac=soc,
        p_rated_kw=[*assets["p_rated_kw"].values[:n], p_rated_kw],
        p_peak_kw=[*assets["p_peak_kw"].values[:n], p_peak_kw],
        capacity_kwh=[*assets["capacity_kwh"].values[:n], capacity_kwh],
        source=source,
        copy=False,
    )
    out.attrs = {**assets.attrs, **out.attrs}
    return out
