"""The controllers over a period: each step acts on the state measured in the previous step.

The scenarios' year runs the same controllers as the live twin: the controller signal
(:class:`models.control.signal.SignalMachine`) advanced once per step with the grid state of
the step before (the last power flow: transformer and line loading, bus voltages, the exchange
at the substation; the surplus is the export, as the live twin reads it), never with the state
of the step itself. The first step sees no measurement (calm grid, no surplus).

What follows the signal, as pure functions on arrays (time x device):

- :func:`dim_devices`: section 14a EnWG - while the signal blocks for grid stress, the
  controllable devices of one connection draw together at most their dimmed limit
  (:func:`models.control.section_14a.dimmed_limit_kw`), each cut by the same share;
- :func:`block_devices`: SG-Ready block - the devices are off while the signal blocks;
- :func:`signal_setpoints_kw`: a battery following the signal - charge at rated power while
  the signal recommends or forces consumption, discharge while it blocks, hold otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import xarray as xr

from models.control.signal import SignalConfig, SignalMachine
from twin.core.signal import GridStress, SignalState

__all__ = [
    "MeasuredGrid",
    "SignalSeries",
    "block_devices",
    "control_mode",
    "dim_devices",
    "measured_grid",
    "row_max",
    "signal_series",
    "signal_setpoints_kw",
]

Series = npt.NDArray[np.float64]


@dataclass(frozen=True)
class MeasuredGrid:
    """The grid state per step the signal reads (NaN: not known).

    Parameters
    ----------
    trafo_loading_max_percent, line_loading_max_percent : numpy.ndarray
        Highest transformer and line loading per step. [%]
    vm_min_pu, vm_max_pu : numpy.ndarray
        Lowest and highest bus voltage per step. [p.u.]
    p_grid_kw : numpy.ndarray
        Exchange at the substation per step, import > 0. [kW]
    """

    trafo_loading_max_percent: Series
    line_loading_max_percent: Series
    vm_min_pu: Series
    vm_max_pu: Series
    p_grid_kw: Series

    def at(self, t: int) -> GridStress:
        """Return the grid stress measured in step ``t``."""
        p_grid = float(self.p_grid_kw[t])
        return GridStress(
            trafo_loading_max_percent=float(self.trafo_loading_max_percent[t]),
            line_loading_max_percent=float(self.line_loading_max_percent[t]),
            vm_min_pu=float(self.vm_min_pu[t]),
            vm_max_pu=float(self.vm_max_pu[t]),
            p_grid_kw=p_grid if math.isfinite(p_grid) else 0.0,
        )


@dataclass(frozen=True)
class SignalSeries:
    """The signal per step.

    Parameters
    ----------
    state : numpy.ndarray of int8
        SG-Ready state per step (:class:`twin.core.signal.SignalState` values).
    dimmed : numpy.ndarray of bool
        Section 14a dimming in force (the signal blocks for grid stress).
    """

    state: npt.NDArray[np.int8]
    dimmed: npt.NDArray[np.bool_]

    @property
    def mode(self) -> npt.NDArray[np.int8]:
        """Return the control mode of each step (:func:`control_mode`)."""
        block = self.state == int(SignalState.BLOCK)
        return np.where(block, np.where(self.dimmed, 1, 2), 0).astype(np.int8)

    def hours(self, step_h: float) -> dict[str, float]:
        """Return the hours of each signal state, by the state's lower-case name."""
        return {s.name.lower(): float(np.count_nonzero(self.state == int(s))) * step_h for s in SignalState}


def signal_series(
    measured: MeasuredGrid | Mapping[int, MeasuredGrid], step_s: float, config: SignalConfig | None = None
) -> SignalSeries:
    """Advance the signal through the period, each step on the grid state of the step before.

    Parameters
    ----------
    measured : MeasuredGrid or mapping of int to MeasuredGrid
        The grid state of every step (the power flow's result); or, by control mode
        (:func:`control_mode`), the grid state of every step with the controllers acting in that
        mode. The signal then reads, for step ``t - 1``, the grid state of the mode the signal
        set for ``t - 1``: the closed loop, exact as long as the controllers act on the step alone.
        A mode not given acts as mode 0 (the controllers do as in normal operation).
    step_s : float
        Step length. [s]
    config : SignalConfig, optional
        Thresholds; default the live twin's.

    Returns
    -------
    SignalSeries
    """
    by_mode = {0: measured} if isinstance(measured, MeasuredGrid) else dict(measured)
    machine = SignalMachine(config or SignalConfig())
    free_kw = machine.config.p_limit_free_kw
    n = len(by_mode[0].p_grid_kw)
    state = np.full(n, int(SignalState.NORMAL), dtype=np.int8)
    dimmed = np.zeros(n, dtype=bool)
    for t in range(n):
        if t == 0:
            stress, surplus = GridStress(), math.nan
        else:
            stress = by_mode.get(control_mode(int(state[t - 1]), bool(dimmed[t - 1])), by_mode[0]).at(t - 1)
            surplus = max(-stress.p_grid_kw, 0.0)
        step = machine.update(t * step_s, p_surplus_kw=surplus, stress=stress)
        state[t] = int(step.state)
        dimmed[t] = step.p_limit_14a_kw < free_kw
    return SignalSeries(state, dimmed)


def measured_grid(grid: xr.Dataset) -> MeasuredGrid:
    """Return what the signal reads of a power-flow result (:func:`models.grid.run_power_flow`).

    The highest transformer and line loading, the lowest and highest bus voltage (all buses)
    and the exchange at the substation, per step, as the live twin reads its power flow.
    """
    loading = grid["loading_percent"].transpose("time", "branch").values.astype(np.float64)
    kinds = np.asarray(grid["branch_kind"].values).astype(str)
    vm = grid["vm_pu"].transpose("time", "bus").values.astype(np.float64)
    return MeasuredGrid(
        trafo_loading_max_percent=row_max(loading[:, kinds == "trafo"]),
        line_loading_max_percent=row_max(loading[:, kinds == "line"]),
        vm_min_pu=-row_max(-vm),
        vm_max_pu=row_max(vm),
        p_grid_kw=grid["p_grid_kw"].values.astype(np.float64),
    )


def row_max(values: Series) -> Series:
    """Per-step maximum ignoring NaN; NaN where a step has no value."""
    if values.shape[1] == 0:
        return np.full(values.shape[0], np.nan)
    finite = np.isfinite(values)
    out = np.where(finite, values, -np.inf).max(axis=1)
    return np.where(finite.any(axis=1), out, np.nan)


def control_mode(state: int, dimmed: bool) -> int:
    """Return how the stateless controllers act on a step: 0 normal, 1 blocked and dimmed, 2 blocked only."""
    if state != int(SignalState.BLOCK):
        return 0
    return 1 if dimmed else 2


def dim_devices(p_kw: Series, groups: npt.ArrayLike, limit_kw: npt.ArrayLike, dimmed: npt.ArrayLike) -> Series:
    """Cut the devices' draw to their connection's limit while dimming is in force.

    Parameters
    ----------
    p_kw : numpy.ndarray, shape (time, device)
        Device power, load-positive. [kW]
    groups : array-like of int, shape (device,)
        The connection (building) of each device, ``0 .. n_groups - 1``.
    limit_kw : array-like, shape (n_groups,)
        What each connection's devices may draw together while dimmed (``inf``: no limit). [kW]
    dimmed : array-like of bool, shape (time,)
        Dimming in force.

    Returns
    -------
    numpy.ndarray
        The power after dimming; feed-in (negative) is never changed. [kW]
    """
    p = np.asarray(p_kw, dtype=np.float64)
    groups = np.asarray(groups, dtype=np.int64)
    limit = np.asarray(limit_kw, dtype=np.float64)
    draw = np.clip(p, 0.0, None)
    total = np.zeros((p.shape[0], len(limit)))
    np.add.at(total.T, groups, draw.T)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(total > limit, limit / total, 1.0)
    share[~np.asarray(dimmed, dtype=bool)] = 1.0
    return np.where(p > 0.0, p * share[:, groups], p)


def block_devices(p_kw: Series, blocked: npt.ArrayLike) -> Series:
    """Return the devices' power [kW] with their draw at 0 while ``blocked`` (time,) holds."""
    p = np.asarray(p_kw, dtype=np.float64)
    off = np.asarray(blocked, dtype=bool)[:, None] & (p > 0.0)
    return np.where(off, 0.0, p)


def signal_setpoints_kw(state: npt.ArrayLike, p_rated_kw: float) -> Series:
    """Return a battery's setpoint [kW] per step from the signal (load-positive, charging > 0)."""
    s = np.asarray(state)
    on = (s == int(SignalState.RECOMMENDED_ON)) | (s == int(SignalState.FORCED_ON))
    return np.where(on, p_rated_kw, np.where(s == int(SignalState.BLOCK), -p_rated_kw, 0.0))
