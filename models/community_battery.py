"""The community battery: one battery dispatched on the district's net load at the substation.

Two strategies. ``self_consumption``: charge from the district's surplus, discharge into
its import (:func:`models.battery.self_consumption_dispatch`). ``peak_shaving``:
discharge what the import exceeds ``peak_limit_kw`` by, charge what the export exceeds
``export_limit_kw`` by, and between peaks drift back to ``target_soc_frac`` without
pushing the exchange past either limit (one compiled loop over time). Efficiencies and
the state-of-charge window are those of :class:`models.battery.BatteryParameters`.
Battery power is load-positive (charging > 0).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

import numba
import numpy as np
import pandas as pd
import xarray as xr

from models.battery import BatteryParameters, self_consumption_dispatch
from twin.core.schema import build_assets, step_hours

__all__ = ["COMMUNITY", "CommunityBatteryParameters", "add_community_battery", "community_battery_dispatch"]

#: Building id of the community battery's asset.
COMMUNITY: Final[str] = "community"


@dataclass(frozen=True)
class CommunityBatteryParameters:
    """Size and strategy of a community battery.

    Parameters
    ----------
    capacity_kwh : float
        Usable capacity. [kW h]
    p_rated_kw : float
        Charge and discharge power limit. [kW]
    strategy : {"self_consumption", "peak_shaving"}
    peak_limit_kw : float, optional
        peak_shaving: import held below this (None: no limit). [kW]
    export_limit_kw : float, optional
        peak_shaving: export held below this (None: no limit). [kW]
    target_soc_frac : float, default 0.5
        peak_shaving: state of charge kept between peaks. [1]
    """

    capacity_kwh: float
    p_rated_kw: float
    strategy: Literal["self_consumption", "peak_shaving"] = "self_consumption"
    peak_limit_kw: float | None = None
    export_limit_kw: float | None = None
    target_soc_frac: float = 0.5


def community_battery_dispatch(
    net_kw: np.ndarray, time_index: pd.DatetimeIndex, battery: CommunityBatteryParameters
) -> tuple[np.ndarray, np.ndarray]:
    """Dispatch the battery on the district's net load.

    Parameters
    ----------
    net_kw : numpy.ndarray
        The district's net load at the substation per step, import-positive. [kW]
    time_index : pandas.DatetimeIndex
        The steps (regular).
    battery : CommunityBatteryParameters

    Returns
    -------
    p_kw : numpy.ndarray
        Battery power, load-positive. [kW]
    soc_frac : numpy.ndarray
        State of charge at the end of each step. [1]
    """
    capacity_kwh, p_rated_kw = battery.capacity_kwh, battery.p_rated_kw
    if battery.strategy == "self_consumption":
        # the plant's auxiliary supply is metered on its own: no standby draw on the dispatch
        dispatch = self_consumption_dispatch(
            pd.DataFrame({"b": net_kw}, index=time_index),
            [capacity_kwh],
            [p_rated_kw],
            params=BatteryParameters(standby_kw=0.0),
        )
        return dispatch.p_kw.to_numpy()[:, 0], dispatch.soc_frac.to_numpy()[:, 0]
    params = BatteryParameters()
    return _peak_shaving(
        net_kw,
        capacity_kwh,
        p_rated_kw,
        np.inf if battery.peak_limit_kw is None else battery.peak_limit_kw,
        np.inf if battery.export_limit_kw is None else battery.export_limit_kw,
        battery.target_soc_frac,
        step_hours(time_index),
        params.eta_charge_frac,
        params.eta_discharge_frac,
        params.soc_min_frac,
        params.soc_max_frac,
        params.soc_initial_frac,
    )


def add_community_battery(assets: xr.Dataset, battery: CommunityBatteryParameters, bus: str) -> xr.Dataset:
    """The assets plus the community battery ``community/battery0`` at ``bus``, dispatched on their net load."""
    net_kw = assets["p_kw"].values.sum(axis=1, dtype=np.float64)
    time_index = pd.DatetimeIndex(assets["time"].values)
    p_battery, soc_battery = community_battery_dispatch(net_kw, time_index, battery)
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


@numba.njit(cache=True)
def _peak_shaving(
    net: np.ndarray,
    capacity: float,
    p_max: float,
    import_limit: float,
    export_limit: float,
    target: float,
    dt_h: float,
    eta_c: float,
    eta_d: float,
    soc_min: float,
    soc_max: float,
    soc_initial: float,
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """Peak-shaving loop: battery power (load-positive) and state of charge at the end of each step."""
    n = net.shape[0]
    p_kw = np.zeros(n)
    soc = np.zeros(n)
    energy = soc_initial * capacity
    for t in range(n):
        room = max((soc_max * capacity - energy) / (eta_c * dt_h), 0.0)
        available = max((energy - soc_min * capacity) * eta_d / dt_h, 0.0)
        if net[t] > import_limit:
            p = -min(net[t] - import_limit, p_max, available)
        elif -net[t] > export_limit:
            p = min(-net[t] - export_limit, p_max, room)
        elif energy > target * capacity:
            # discharge towards the target, never exporting more than the export limit
            excess = (energy - target * capacity) * eta_d / dt_h
            p = -min(excess, p_max, available, max(net[t] + export_limit, 0.0))
        else:
            # charge towards the target, never importing more than the import limit
            missing = (target * capacity - energy) / (eta_c * dt_h)
            p = min(missing, p_max, room, max(import_limit - net[t], 0.0))
        energy += p * eta_c * dt_h if p > 0 else p / eta_d * dt_h
        p_kw[t] = p
        soc[t] = energy / capacity
    return p_kw, soc
