"""The KPIs of a scenario's assets: the district's flows at the substation and what is installed.

:func:`substation_assets` replaces every asset by four pseudo-assets whose flows at the
substation equal those of all assets, exactly, so :func:`twin.core.kpi.boundary_flows`
works on four columns instead of hundreds.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
import pandas as pd
import xarray as xr

from models.community_battery import COMMUNITY
from models.heatpump_district import by_class
from twin.core.kpi import LOAD_KINDS
from twin.core.schema import build_assets

__all__ = ["heat_pump_kpis", "installed", "plain", "substation_assets"]


def plain(value: xr.DataArray) -> Any:
    """A scalar KPI as a plain Python value (bool, float; None for NaN and infinities)."""
    item = value.values.item()
    if isinstance(item, bool | np.bool_):
        return bool(item)
    number = float(item)
    return None if not np.isfinite(number) else number


def installed(assets: xr.Dataset) -> dict[str, float]:
    """PV peak power, home and community battery capacity and the number of heat pumps, boilers and EVs."""
    kind = assets["kind"].values
    building = assets["building"].values
    home = (kind == "battery") & (building != COMMUNITY)
    return {
        "pv_kwp": float(np.nansum(assets["p_peak_kw"].values[kind == "pv"])),
        "home_battery_kwh": float(np.nansum(assets["capacity_kwh"].values[home])),
        "community_battery_kwh": float(np.nansum(assets["capacity_kwh"].values[building == COMMUNITY])),
        "n_heat_pumps": int((kind == "heat_pump").sum()),
        "n_gas_boilers": int((kind == "gas_boiler").sum()),
        "n_evs": int((kind == "ev").sum()),
    }


def heat_pump_kpis(summary: pd.DataFrame | None) -> dict[str, float | None]:
    """Heat delivered, electricity, backup heat and SPF of all heat pumps, and the SPF per building class.

    ``summary`` is :attr:`models.profiles.DistrictProfiles.heat_pumps` (None without heat
    pumps). Keys: ``hp_heat_kwh``, ``hp_electricity_kwh``, ``hp_backup_kwh``,
    ``hp_backup_frac`` (backup heat / all heat), ``hp_spf`` (all heat / all electricity,
    backup included) and ``hp_spf_<retrofit>_<emitter>`` per class
    (:func:`models.heatpump_district.building_class`); None where there is no heat.
    """
    if summary is None or summary.empty:
        none: dict[str, float | None] = {"hp_heat_kwh": 0.0, "hp_electricity_kwh": 0.0, "hp_backup_kwh": 0.0}
        return {**none, "hp_backup_frac": None, "hp_spf": None}
    classes = by_class(summary)
    total = classes.loc["all"]
    heat = float(total["heat_kwh"])
    kpis: dict[str, float | None] = {
        "hp_heat_kwh": heat,
        "hp_electricity_kwh": float(total["electricity_kwh"]),
        "hp_backup_kwh": float(total["backup_kwh"]),
        "hp_backup_frac": float(total["backup_kwh"]) / heat if heat > 0 else None,
    }
    for name, row in classes.iterrows():
        key = "hp_spf" if name == "all" else "hp_spf_" + str(name).replace("/", "_")
        kpis[key] = float(row["spf"]) if np.isfinite(row["spf"]) else None
    return kpis


def substation_assets(assets: xr.Dataset) -> xr.Dataset:
    """Four pseudo-assets whose flows at the substation equal those of all assets, exactly.

    :func:`twin.core.kpi.boundary_flows` clips each asset before summing (load = positive
    part of loads, heat pumps, EVs and PV; generation = negative part of PV); summing the
    clipped parts first gives the same totals and saves the (time x asset) xarray work.
    """
    kind = assets["kind"].values
    code = np.zeros(len(kind), dtype=np.int64)
    code[np.isin(kind, LOAD_KINDS)] = 1
    code[kind == "pv"] = 2
    p_kw = assets["p_kw"].values
    parts = _substation_sums(np.ascontiguousarray(p_kw), code)
    fuel = assets["p_fuel_kw"].values.sum(axis=1, dtype=np.float64)
    return build_assets(
        assets["time"].values,
        asset=["consumption", "generation", "rest", "fuel"],
        kind=["load", "pv", "battery", "gas_boiler"],
        building=["district"] * 4,
        bus=["substation"] * 4,
        p_kw=np.column_stack([parts, np.zeros_like(fuel)]),
        p_fuel_kw=np.column_stack([np.zeros((len(fuel), 3)), fuel]),
        source="scenario",
    )


@numba.njit(cache=True)
def _substation_sums(p_kw: np.ndarray, code: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    """Sum the assets' power into (time x 3) columns: consumption, generation, the rest.

    Consumption: positive part of loads and PV; generation: negative part of PV; the rest:
    negative part of loads, batteries and all else.
    """
    n_steps, n_assets = p_kw.shape
    out = np.zeros((n_steps, 3))
    for t in range(n_steps):
        for a in range(n_assets):
            p = float(p_kw[t, a])
            if code[a] == 0:
                out[t, 2] += p
            elif p > 0.0:
                out[t, 0] += p
            elif code[a] == 2:
                out[t, 1] += p
            else:
                out[t, 2] += p
    return out
