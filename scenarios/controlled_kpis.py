"""A controlled run's KPIs and section 14a groups: hours per signal state, held-back energy, comfort, grid fees.

The KPIs of :func:`scenarios.controlled.run_controlled` (:func:`control_kpis`,
:func:`overloaded_h`), the yearly grid fees under a section 14a module (:func:`grid_fees`) and the
section 14a groups with their dimmed limits per connection (:func:`connection_limits`, after
BK6-22-300 through :func:`models.control.section_14a.dimmed_limit_kw`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final, Literal

import numpy as np
import pandas as pd
import xarray as xr

from models.community_battery import COMMUNITY
from models.control.comfort import comfort_kpis
from models.control.loop import LoopResult, Plant
from models.control.section_14a import ControllableDevice, GridFeeTariff, dimmed_limit_kw, grid_fee_eur
from scenarios.records import GridFee
from twin.core.signal import SignalState

__all__ = ["KINDS_14A", "connection_limits", "control_kpis", "grid_fees", "overloaded_h"]

#: Asset kinds section 14a controls, and the device kind it counts them as.
KINDS_14A: Final[dict[str, str]] = {"heat_pump": "heat_pump", "ev": "wallbox", "battery": "battery"}


def control_kpis(result: LoopResult, plant: Plant, step_h: float, buildings: Sequence[str]) -> dict[str, Any]:
    """The control KPIs of the last pass: signal hours, energy held back and moved, comfort and its verdict.

    ``buildings`` names the buildings in the signal's order (:func:`models.control.comfort.comfort_kpis`
    names the coldest).
    """
    n_building = max(result.state.shape[1], 1)
    kpis: dict[str, Any] = {
        f"signal_{s.name.lower()}_h": float(np.count_nonzero(result.state == int(s))) * step_h / n_building
        for s in SignalState
    }
    hp, ev = plant.kind == "heat_pump", plant.kind == "ev"
    kpis["control_dimmed_kwh"] = float(result.dimmed_kwh.sum())
    kpis["control_hp_blocked_kwh"] = float(result.blocked_kwh.sum())
    heat, short = 0.0, np.zeros(0)
    if plant.thermal is not None:
        on = result.active  # elsewhere the heat pumps run their schedule, which meets the demand
        delivered = result.p_kw[on][:, hp] * plant.cop[on]
        heat = float(np.clip(plant.heat_demand_kw[on] - delivered, 0.0, None).sum()) * step_h
        short = np.subtract(plant.thermal.comfort_low_k, result.dt_k)
        np.clip(short, 0.0, None, out=short)
        kpis["control_heat_owed_kwh"] = float(-(plant.thermal.c_kwh_per_k * result.dt_k[-1]).sum())
    else:
        kpis["control_heat_owed_kwh"] = 0.0
    kpis["control_heat_deferred_kwh"] = heat
    kpis["control_comfort_violation_kh"] = float(short.sum()) * step_h
    kpis["control_comfort_violation_h"] = float(np.count_nonzero(short)) * step_h
    kpis["control_indoor_min_delta_k"] = float(result.dt_k.min(initial=0.0))
    kpis["control_indoor_max_delta_k"] = float(result.dt_k.max(initial=0.0))
    short_ev = plant.base_kw[:, ev]
    np.subtract(short_ev, result.p_kw[:, ev], out=short_ev)
    kpis["control_ev_deferred_kwh"] = float(np.clip(short_ev, 0.0, None, out=short_ev).sum()) * step_h
    kpis["control_ev_owed_kwh"] = float(result.backlog_kwh[-1].sum()) if result.backlog_kwh.size else 0.0
    kpis["control_limited_building_h"] = float(np.count_nonzero(result.limited)) * step_h
    kpis["control_active_steps"] = int(np.count_nonzero(result.active))
    hp_buildings = [buildings[b] for b in plant.building[plant.kind == "heat_pump"]]
    kpis.update(comfort_kpis(result.dt_k, hp_buildings, step_h))
    return kpis


def overloaded_h(grid: xr.Dataset, step_h: float) -> dict[str, float]:
    """Hours with the transformer and with any line loaded above 100 % (the grid relief beside the energy held back)."""
    kinds = np.asarray(grid["branch_kind"].values).astype(str)
    over = grid["loading_percent"].transpose("time", "branch").values > 100.0
    return {
        f"control_{kind}_over_100_h": float(np.count_nonzero(over[:, kinds == kind].any(axis=1))) * step_h
        for kind in ("trafo", "line")
    }


def grid_fees(fee: GridFee, assets: xr.Dataset, p_kw: np.ndarray, step_h: float) -> dict[str, float]:
    """The yearly grid fee [EUR/a] of the buildings with a controllable device: plain and under the module.

    Energies are what the meters of a building see without netting its PV: the household load,
    and the controllable devices' draw (heat pumps, wallboxes, batteries charging).
    """
    kinds = np.asarray(assets["kind"].values).astype(str)
    buildings = np.asarray(assets["building"].values).astype(str)
    own = buildings != COMMUNITY
    devices = np.isin(kinds, sorted(KINDS_14A)) & own
    draw = np.clip(p_kw, 0.0, None)
    hour = pd.DatetimeIndex(assets["time"].values).hour
    low, high = np.isin(hour, fee.low_hours), np.isin(hour, fee.high_hours)
    years = p_kw.shape[0] * step_h / 8760.0
    tariff = GridFeeTariff(
        fee.energy_price_eur_per_kwh,
        fee.base_price_eur_per_year,
        fee.flat_reduction_eur_per_year,
        fee.module_2_reduction_frac,
        fee.low_price_eur_per_kwh,
        fee.high_price_eur_per_kwh,
    )
    plain = chosen = 0.0
    count = 0
    names = np.unique(buildings[devices])
    limits = connection_limits(assets, devices, p_kw[:, devices])[1] if devices.any() else np.zeros(0)
    for number, name in enumerate(names):
        if not np.isfinite(limits[number]):
            continue  # nothing above 4.2 kW: not controllable
        device = draw[:, devices & (buildings == name)].sum(axis=1)
        household = draw[:, (kinds == "load") & (buildings == name)].sum(axis=1)
        both = device + household
        usage = {"household_kwh": float(household.sum()) * step_h, "device_kwh": float(device.sum()) * step_h}
        windows = {"low_kwh": float(both[low].sum()) * step_h, "high_kwh": float(both[high].sum()) * step_h}
        plain += grid_fee_eur(0, tariff, **usage, years=years)
        chosen += grid_fee_eur(fee.module, tariff, **usage, **windows, years=years)
        count += 1
    return {
        "grid_fee_14a_buildings": float(count),
        "grid_fee_plain_eur_per_year": plain / years,
        "grid_fee_14a_eur_per_year": chosen / years,
    }


def connection_limits(
    assets: xr.Dataset, chosen: np.ndarray, p_kw: np.ndarray, control: Literal["ems", "direct"] = "ems"
) -> tuple[np.ndarray, np.ndarray]:
    """Each chosen device's group number and each group's dimmed limit [kW] (``inf``: not controllable).

    ``ems``: a group is a building, one limit for its devices (A1 4.5.2). ``direct``: a group is a
    building's heat pumps (summed, A1 2.4.2) or one other device, each its own minimum (A1 4.5.1).
    Groups are numbered in the sorted order of their building names (``ems``).
    """
    kinds = np.asarray(assets["kind"].values).astype(str)[chosen]
    buildings = np.asarray(assets["building"].values).astype(str)[chosen]
    rated = np.asarray(assets["p_rated_kw"].values, dtype=np.float64)[chosen]
    peak = np.nanmax(np.clip(p_kw, 0.0, None), axis=0, initial=0.0)
    # A heat pump's p_rated_kw is its thermal rating; section 14a counts the electric draw from the
    # grid, backup heater included (A1 2.4.1): its largest draw in the period.
    rated = np.where((kinds != "heat_pump") & np.isfinite(rated) & (rated > 0), rated, peak)
    if control == "ems":
        keys = buildings
    else:
        keys = np.array(
            [f"{b}/{k if k == 'heat_pump' else i}" for i, (b, k) in enumerate(zip(buildings, kinds, strict=True))]
        )
    names, groups = np.unique(keys, return_inverse=True)
    devices = [ControllableDevice(KINDS_14A[k], float(r)) for k, r in zip(kinds, rated, strict=True)]
    limits = np.array(
        [
            dimmed_limit_kw((d for d, g in zip(devices, groups, strict=True) if g == i), control=control)
            for i in range(len(names))
        ]
    )
    return groups, limits
