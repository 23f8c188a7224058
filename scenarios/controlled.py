"""A scenario's year with the controllers in the loop (the ``control:`` block).

Without a ``control:`` block the year is one batch power flow, as always. With one, the
controllers of :mod:`models.control` act on the state measured in the previous step: the
signal at step ``t`` follows the power flow of step ``t - 1``, which the controllers' own
actions at ``t - 1`` shaped. The stateless controllers (dimming, blocking) act on a step alone,
so the loop is solved exactly with one power flow per control mode: normal for every step, the
blocked modes for the steps after a stressed one (and any further step the signal puts in
them); :func:`models.control.year.signal_series` then reads, step by step, the grid of the mode
in force. A community battery following the signal carries its state of charge from step to
step: the loop is repeated with its new dispatch until the signal of every step stays the same
(after pass ``k`` at least the first ``k`` steps are final; it stops after :data:`MAX_PASSES`
and reports the steps still moving).

The controllers: section 14a dimming of each building's controllable devices to the limits of
BK6-22-300 (:func:`models.control.section_14a.dimmed_limit_kw`, per device or per building's
energy management system), SG-Ready blocking of heat
pumps, and the community battery following the signal. Blocked heat-pump energy is not
delivered later (no thermal store); it is a KPI.
"""

from __future__ import annotations

from typing import Any, Final, Literal

import numpy as np
import pandas as pd
import xarray as xr

from models.battery import BatteryUnit
from models.community_battery import COMMUNITY
from models.control.battery import battery_strategy
from models.control.section_14a import ControllableDevice, GridFeeTariff, dimmed_limit_kw, grid_fee_eur
from models.control.signal import SignalConfig
from models.control.year import (
    SignalSeries,
    block_devices,
    dim_devices,
    measured_grid,
    signal_series,
    signal_setpoints_kw,
)
from models.grid import run_power_flow
from scenarios.records import Control, GridFee
from twin.core.schema import step_hours

__all__ = ["MAX_PASSES", "run_controlled"]

#: Most batch power flows of a controlled year.
MAX_PASSES: Final[int] = 8
#: Asset kinds section 14a dims, and the controllable-device kind each stands for.
_KINDS_14A: Final[dict[str, str]] = {"heat_pump": "heat_pump", "ev": "wallbox", "battery": "battery"}


def run_controlled(
    control: Control | None,
    net: Any,
    assets: xr.Dataset,
    reactive: Any,
    flow: Any,
    battery: BatteryUnit | None = None,
) -> tuple[xr.Dataset, xr.Dataset, dict[str, Any]]:
    """Run the power flow with the controllers in the loop.

    Parameters
    ----------
    control : Control or None
        The scenario's ``control:`` block; None: one power flow, no control.
    net, reactive, flow
        The grid, the reactive-power rule and the prepared batch power flow.
    assets : xarray.Dataset
        The assets without control (dispatched as the scenario says).
    battery : BatteryUnit, optional
        The community battery, when it follows the signal.

    Returns
    -------
    assets : xarray.Dataset
        The controlled assets.
    grid : xarray.Dataset
        Their power flow.
    kpis : dict
        The control KPIs (empty without control).
    """
    grid = run_power_flow(net, assets, reactive, flow=flow)
    if control is None:
        return assets, grid, {}
    step_h = step_hours(pd.DatetimeIndex(assets["time"].values))
    base = assets["p_kw"].transpose("time", "asset").values.astype(np.float64)
    follows = control.battery == "signal" and battery is not None
    modes = [
        0,
        *([1] if _dims(control) or control.heat_pump == "sg_ready" else []),
        *([2] * (control.heat_pump == "sg_ready")),
    ]
    previous: SignalSeries | None = None
    soc: tuple[int, np.ndarray] | None = None
    passes, unsettled = 0, 0
    while True:
        p_by_mode = {m: _apply(control, assets, base, m) for m in modes}
        if passes > 0:
            grid = run_power_flow(net, _with_power(assets, p_by_mode[0], soc), reactive, flow=flow)
        grids, series = _closed_loop(net, assets, reactive, flow, p_by_mode, soc, grid, step_h * 3600.0)
        passes += 1
        changed = len(series.state) if previous is None else int(np.count_nonzero(series.state != previous.state))
        if not follows or changed == 0 or passes >= MAX_PASSES:
            unsettled = changed if follows else 0
            break
        assert battery is not None
        base, soc = _follow_signal(assets, base, series, battery)
        previous = series
    mode = np.where(np.isin(series.mode, list(p_by_mode)), series.mode, 0)
    p_kw = np.select([mode[:, None] == m for m in p_by_mode], list(p_by_mode.values()))
    controlled = _with_power(assets, p_kw, soc)
    kpis: dict[str, Any] = {f"signal_{name}_h": hours for name, hours in series.hours(step_h).items()}
    kpis.update(_held_back(control, assets, base, p_kw, series, step_h))
    if control.grid_fee is not None:
        kpis.update(_grid_fees(control.grid_fee, assets, p_kw, step_h))
    kpis["control_passes"] = passes
    kpis["control_steps_unsettled"] = unsettled
    return controlled, _by_mode(grids, mode), kpis


def _closed_loop(
    net: Any,
    assets: xr.Dataset,
    reactive: Any,
    flow: Any,
    p_by_mode: dict[int, np.ndarray],
    soc: tuple[int, np.ndarray] | None,
    grid: xr.Dataset,
    step_s: float,
) -> tuple[dict[int, xr.Dataset], SignalSeries]:
    """The signal of the closed loop and the power flow of each control mode.

    A mode other than normal is solved only for the steps it can act in: those after a step
    whose normal grid state lies beyond a leave threshold (the controllers relieve the grid, so
    a block cannot follow a calmer step). Should the signal still put a step into a mode not
    solved there, that step is solved and the signal computed again, so the result is exact.
    """
    measured = measured_grid(grid)
    config = SignalConfig()
    stressed = (
        (measured.trafo_loading_max_percent > config.loading_leave_percent)
        | (measured.line_loading_max_percent > config.loading_leave_percent)
        | (measured.vm_min_pu < config.vm_low_leave_pu)
    )
    candidates = np.concatenate([[False], stressed[:-1]])
    grids = {m: grid for m in p_by_mode}
    solved = {m: np.zeros(len(candidates), dtype=bool) for m in p_by_mode if m}
    wanted = {m: candidates.copy() for m in solved}
    while True:
        for m, steps in wanted.items():
            new = np.flatnonzero(steps & ~solved[m])
            if len(new):
                part = _with_power(assets, p_by_mode[m], soc).isel(time=new)
                grids[m] = _insert(grids[m], run_power_flow(net, part, reactive, flow=flow), new)
                solved[m][new] = True
        series = signal_series({m: measured_grid(g) for m, g in grids.items()}, step_s)
        wanted = {m: (series.mode == m) & ~solved[m] for m in solved}
        if not any(steps.any() for steps in wanted.values()):
            return grids, series


def _insert(grid: xr.Dataset, part: xr.Dataset, steps: np.ndarray) -> xr.Dataset:
    """``grid`` with the power flow of ``part`` at the step numbers ``steps``."""
    out = grid.copy()
    for name, var in grid.data_vars.items():
        if "time" not in var.dims:
            continue
        values = var.transpose("time", ...).values.copy()
        values[steps] = part[name].transpose("time", ...).values
        out[name] = var.copy(data=np.moveaxis(values, 0, var.dims.index("time")))
    return out


def _dims(control: Control) -> bool:
    return control.section_14a or control.ev == "dimmed"


def _apply(control: Control, assets: xr.Dataset, base: np.ndarray, mode: int) -> np.ndarray:
    """The assets' power (time x asset) with the controllers acting in ``mode`` at every step."""
    if mode == 0:
        return base
    kinds = np.asarray(assets["kind"].values).astype(str)
    buildings = np.asarray(assets["building"].values).astype(str)
    every = np.ones(base.shape[0], dtype=bool)
    p_kw = base.copy()
    if control.heat_pump == "sg_ready":
        hp = kinds == "heat_pump"
        p_kw[:, hp] = block_devices(base[:, hp], every)
    if mode == 1 and _dims(control):
        chosen = np.isin(kinds, sorted(_KINDS_14A) if control.section_14a else ["ev"]) & (buildings != COMMUNITY)
        if chosen.any():
            groups, limits = _connection_limits(assets, chosen, base[:, chosen], control.section_14a_control)
            p_kw[:, chosen] = dim_devices(p_kw[:, chosen], groups, limits, every)
    return p_kw


def _follow_signal(
    assets: xr.Dataset, base: np.ndarray, series: SignalSeries, battery: BatteryUnit
) -> tuple[np.ndarray, tuple[int, np.ndarray]]:
    """The base power with the community battery following the signal, and that battery's SOC."""
    kinds = np.asarray(assets["kind"].values).astype(str)
    buildings = np.asarray(assets["building"].values).astype(str)
    column = int(np.flatnonzero((kinds == "battery") & (buildings == COMMUNITY))[0])
    setpoints = signal_setpoints_kw(series.state, battery.p_rated_kw)
    index = pd.DatetimeIndex(assets["time"].values)
    p_battery, soc_frac = battery_strategy("follow_setpoint").dispatch(setpoints, index, battery)
    out = base.copy()
    out[:, column] = p_battery
    return out, (column, soc_frac)


def _held_back(
    control: Control, assets: xr.Dataset, base: np.ndarray, p_kw: np.ndarray, series: SignalSeries, step_h: float
) -> dict[str, float]:
    """Energy [kWh] the SG-Ready block and the section 14a dimming held back from the buildings' devices."""
    kinds = np.asarray(assets["kind"].values).astype(str)
    buildings = np.asarray(assets["building"].values).astype(str)
    own = buildings != COMMUNITY
    total = float((base[:, own] - p_kw[:, own]).sum()) * step_h
    blocked = 0.0
    if control.heat_pump == "sg_ready":
        hp = kinds == "heat_pump"
        blocked = float(np.clip(base[:, hp], 0.0, None)[series.mode > 0].sum()) * step_h
    return {"control_dimmed_kwh": total - blocked, "control_hp_blocked_kwh": blocked}


def _grid_fees(fee: GridFee, assets: xr.Dataset, p_kw: np.ndarray, step_h: float) -> dict[str, float]:
    """The yearly grid fee [EUR/a] of the buildings with a controllable device: plain and under the module.

    Energies are what the meters of a building see without netting its PV: the household load,
    and the controllable devices' draw (heat pumps, wallboxes, batteries charging).
    """
    kinds = np.asarray(assets["kind"].values).astype(str)
    buildings = np.asarray(assets["building"].values).astype(str)
    own = buildings != COMMUNITY
    devices = np.isin(kinds, sorted(_KINDS_14A)) & own
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
    limits = _connection_limits(assets, devices, p_kw[:, devices])[1] if devices.any() else np.zeros(0)
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


def _by_mode(grids: dict[int, xr.Dataset], mode: np.ndarray) -> xr.Dataset:
    """One power-flow result: each step from the run of the mode the controllers acted in."""
    out = grids[0].copy()
    for name, var in out.data_vars.items():
        if "time" not in var.dims or len(grids) == 1:
            continue
        axis = var.dims.index("time")
        shape = [1] * var.ndim
        shape[axis] = len(mode)
        values = var.values.copy()
        for m, g in grids.items():
            if m != 0:
                values = np.where(mode.reshape(shape) == m, g[name].transpose(*var.dims).values, values)
        out[name] = var.copy(data=values)
    return out


def _connection_limits(
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
    rated = np.where(np.isfinite(rated) & (rated > 0), rated, peak)
    if control == "ems":
        keys = buildings
    else:
        keys = np.array(
            [f"{b}/{k if k == 'heat_pump' else i}" for i, (b, k) in enumerate(zip(buildings, kinds, strict=True))]
        )
    names, groups = np.unique(keys, return_inverse=True)
    devices = [ControllableDevice(_KINDS_14A[k], float(r)) for k, r in zip(kinds, rated, strict=True)]
    limits = np.array(
        [
            dimmed_limit_kw((d for d, g in zip(devices, groups, strict=True) if g == i), control=control)
            for i in range(len(names))
        ]
    )
    return groups, limits


def _with_power(assets: xr.Dataset, p_kw: np.ndarray, soc: tuple[int, np.ndarray] | None) -> xr.Dataset:
    """The assets with the controlled power (time x asset) and the signal-following battery's SOC."""
    out = assets.copy()
    out["p_kw"] = assets["p_kw"].copy(data=p_kw.astype(np.float32))
    if soc is not None and "soc_frac" in out:
        values = out["soc_frac"].values.copy()
        values[:, soc[0]] = soc[1]
        out["soc_frac"] = out["soc_frac"].copy(data=values)
    return out
