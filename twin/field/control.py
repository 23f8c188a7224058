"""The field's devices obey the controller signal: heat pumps, wallboxes and home batteries.

With a ``control:`` block (:class:`scenarios.records.Control`, the scenarios' own) the field's
heat pumps, charging points and home batteries act on the controller signal with the control
library, as the scenario runner's controlled year does (:mod:`scenarios.controlled`):

- SG-Ready block (``heat_pump: sg_ready``): a building's heat pumps are off while its signal
  blocks (:func:`models.control.year.block_devices`);
- section 14a EnWG (``section_14a: true``, or ``ev: dimmed`` for the cars only): while the signal
  blocks for grid stress, a building's controllable devices draw together at most their
  dimmed limit (:func:`models.control.section_14a.dimmed_limit_kw`, per device or per energy
  management system as ``section_14a_control`` says), each cut by the same share
  (:func:`models.control.year.dim_devices`).

Where the signal comes from
    ``direct``: the field computes it itself with the same machine
    (:class:`models.control.signal.SignalMachine`), once per quarter hour on the grid state
    of the quarter before, as the runner's year does. ``twin``: the field reads each building's
    ``sg_ready_state`` and ``p_limit_14a_kw`` from the live twin's controller server over Modbus
    TCP, as an external controller would (:mod:`twin.field.signal_client`); while it has no
    fresh reading every building follows ``NORMAL``.
Grid and meters
    Whenever the devices' power differs from the year's profiles, the quarter's power flow is
    solved again with the controlled power (the batch solver of :mod:`models.powerflow`, the one
    the scenarios use, within 1e-9 p.u. of pandapower's Newton-Raphson): the substation meter,
    the bus voltages and the grid state the direct signal reads then follow the devices; the
    building meters sum their devices' power.
External takeover
    A controller takes a wallbox over through its registers (``connectors/maps/wallbox.yaml``:
    ``control_mode`` 1 and ``p_setpoint``): it then draws the setpoint within 0 and its rated
    power, whatever the signal says, until ``control_mode`` 0 or until no write came for
    ``watchdog`` wall seconds. The wallbox's car takes what it is given (it is plugged in and
    never full while taken over); a charging point without a car of the district draws nothing.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt
import xarray as xr

from models.control.section_14a import ControllableDevice, dimmed_limit_kw
from models.control.signal import SignalConfig, SignalMachine
from models.control.year import block_devices, control_mode, dim_devices, measured_grid
from models.grid import run_power_flow
from models.powerflow import BatchPowerFlow
from scenarios.records import Control
from twin.core.signal import GridStress, SignalState

__all__ = ["KINDS_14A", "FieldControl", "GridStep", "SignalSource", "Takeover"]

#: Asset kinds section 14a dims, and the controllable-device kind each stands for (as the runner's).
KINDS_14A: Final[dict[str, str]] = {"heat_pump": "heat_pump", "ev": "wallbox", "battery": "battery"}
#: Default wall time without a write after which a taken-over wallbox returns to the signal. [s]
WATCHDOG_S: Final[float] = 60.0
_NORMAL: Final[int] = int(SignalState.NORMAL)
_BLOCK: Final[int] = int(SignalState.BLOCK)

SignalSource = Literal["direct", "twin"]


@dataclass(frozen=True)
class GridStep:
    """One quarter's controlled grid: the assets' power, the exchange, the voltages and what the signal reads."""

    p_kw: npt.NDArray[np.float64]  # (asset,)
    p_grid_kw: float
    vm_pu: npt.NDArray[np.float32]  # (bus,) in the year table's bus order
    stress: GridStress


@dataclass
class Takeover:
    """An external controller's hold on a wallbox."""

    mode: int = 0
    setpoint_kw: float = 0.0
    watchdog_s: float = WATCHDOG_S
    written_at: float = field(default_factory=time.monotonic)


class FieldControl:
    """The controllers of the field's buildings, and the signal they follow.

    Parameters
    ----------
    control : Control
        The ``control:`` block.
    assets : xarray.Dataset
        The year's assets (coordinates ``kind``, ``building``, ``p_rated_kw``; ``p_kw`` for the
        ratings of devices without one, as the runner takes them).
    buildings : sequence of str
        The district's building ids in order (the controller map's building numbers).
    net, reactive
        The grid and the district's reactive-power rule (for the quarter's power flow).
    source : {"direct", "twin"}
        Where the signal comes from (module docstring).
    """

    def __init__(
        self,
        control: Control,
        assets: xr.Dataset,
        buildings: Sequence[str],
        net: Any,
        reactive: Any,
        source: SignalSource = "direct",
    ) -> None:
        self.control = control
        self.source = source
        self.buildings = list(buildings)
        self.net = net
        self.reactive = reactive
        self.flow: BatchPowerFlow | None = None
        self.config = SignalConfig()
        self.machine = SignalMachine(self.config)
        kinds = np.asarray(assets["kind"].values).astype(str)
        owners = np.asarray(assets["building"].values).astype(str)
        number = {b: i for i, b in enumerate(self.buildings)}
        self.asset_building = np.array([number.get(b, -1) for b in owners], dtype=np.int64)
        self.heat_pumps = np.flatnonzero((kinds == "heat_pump") & (self.asset_building >= 0))
        chosen_kinds = sorted(KINDS_14A) if control.section_14a else ["ev"]
        dims = control.section_14a or control.ev == "dimmed"
        self.dimmed_assets = (
            np.flatnonzero(np.isin(kinds, chosen_kinds) & (self.asset_building >= 0)) if dims else np.zeros(0, int)
        )
        #: Whether any device of the buildings acts on the signal.
        self.acts = control.heat_pump == "sg_ready" or dims
        self.groups, self.group_limits_kw, self.group_building = _connection_limits(
            assets, self.dimmed_assets, self.asset_building, control.section_14a_control
        )
        n = len(self.buildings)
        self._lock = threading.Lock()
        self.state = np.full(n, _NORMAL, dtype=np.int8)
        self.limit_kw = np.full(n, math.inf)
        self.dimmed = np.zeros(n, dtype=bool)
        self.district_state = _NORMAL
        self.takeovers: dict[int, Takeover] = {}  # asset column -> hold
        self.charger_assets: dict[str, tuple[list[int], float]] = {}  # device id -> (car columns, rated kW)
        self._cache: dict[tuple[object, ...], GridStep] = {}
        self._dwell_s = np.zeros((n + 1, 5))
        #: Successful reads of the live twin's registers (:mod:`twin.field.signal_client`).
        self.polls_ok = 0
        #: The grid of the quarter that ended last, as the devices ran it.
        self.last_quarter: GridStep | None = None

    # --- the signal -------------------------------------------------------------------

    def set_signal(self, state: npt.ArrayLike, limit_kw: npt.ArrayLike, district_state: int) -> None:
        """Set each building's signal and section 14a limit (thread-safe; from the twin's registers).

        Parameters
        ----------
        state : array-like of int, shape (building,)
            SG-Ready state per building (1-4).
        limit_kw : array-like of float, shape (building,)
            The building's section 14a limit; dimming is in force where the state blocks and the
            limit lies below the free limit (:attr:`SignalConfig.p_limit_free_kw`). [kW]
        district_state : int
            The district's state (the truth file's substation row).
        """
        state = np.asarray(state, dtype=np.int8)
        limit = np.asarray(limit_kw, dtype=np.float64)
        with self._lock:
            self.state = state.copy()
            self.limit_kw = limit.copy()
            self.dimmed = (state == _BLOCK) & (limit < self.config.p_limit_free_kw)
            self.district_state = int(district_state)

    @property
    def polled(self) -> bool:
        """Whether the signal has been read from the live twin's registers at least once."""
        return self.polls_ok > 0

    def direct_update(self, t_s: float, measured: GridStep | None) -> None:
        """Advance the field's own signal to ``t_s`` on the grid measured in the quarter before (None: none)."""
        if measured is None:
            stress, surplus = GridStress(), math.nan
        else:
            stress, surplus = measured.stress, max(-measured.stress.p_grid_kw, 0.0)
        step = self.machine.update(t_s, p_surplus_kw=surplus, stress=stress)
        n = len(self.buildings)
        self.set_signal(np.full(n, int(step.state)), np.full(n, step.p_limit_14a_kw), int(step.state))

    def modes(self) -> npt.NDArray[np.int8]:
        """Each building's control mode now (:func:`models.control.year.control_mode`)."""
        with self._lock:
            state, dimmed = self.state, self.dimmed
        return np.array([control_mode(int(s), bool(d)) for s, d in zip(state, dimmed, strict=True)], dtype=np.int8)

    # --- external takeover --------------------------------------------------------------

    def add_charger(self, device_id: str, cars: Sequence[int], p_rated_kw: float) -> None:
        """Register a wallbox device: its cars' asset columns and its rated power [kW]."""
        self.charger_assets[device_id] = (list(cars), float(p_rated_kw))

    def on_wallbox_write(self, device_id: str, name: str, value: float) -> None:
        """A controller wrote a wallbox register (``control_mode``, ``p_setpoint_kw``, ``watchdog_s``)."""
        cars, _ = self.charger_assets.get(device_id, ([], 0.0))
        if not cars:
            return
        with self._lock:
            hold = self.takeovers.setdefault(cars[0], Takeover())
            hold.written_at = time.monotonic()
            if name == "control_mode":
                hold.mode = round(value)
            elif name == "p_setpoint_kw":
                hold.setpoint_kw = float(value)
            elif name == "watchdog_s":
                hold.watchdog_s = float(value)

    def taken_over(self, device_id: str) -> bool:
        """Whether a controller holds the wallbox now."""
        cars, _ = self.charger_assets.get(device_id, ([], 0.0))
        with self._lock:
            hold = self.takeovers.get(cars[0]) if cars else None
            return hold is not None and hold.mode == 1

    def expire(self, now_s: float | None = None) -> list[int]:
        """Return the wallboxes (car columns) whose watchdog ran out to the signal; return their columns."""
        now = time.monotonic() if now_s is None else now_s
        expired = []
        with self._lock:
            for column, hold in self.takeovers.items():
                if hold.mode == 1 and hold.watchdog_s > 0 and now - hold.written_at > hold.watchdog_s:
                    hold.mode = 0
                    expired.append(column)
        return expired

    def _overrides(self) -> tuple[tuple[int, float], ...]:
        rated = {cars[0]: p for cars, p in self.charger_assets.values() if cars}
        with self._lock:
            held = [(c, h.setpoint_kw) for c, h in self.takeovers.items() if h.mode == 1]
        return tuple(sorted((c, min(max(p, 0.0), rated.get(c, p))) for c, p in held))

    # --- the devices' power and the quarter's grid ----------------------------------------

    def step(self, template: xr.Dataset, time_utc: np.datetime64, key: tuple[int, int], profile: GridStep) -> GridStep:
        """The controlled power and grid of a quarter hour, with the devices as they act now.

        Parameters
        ----------
        template : xarray.Dataset
            One step of the year's assets (``p_kw`` and its coordinates), for the power flow.
        time_utc : numpy.datetime64
            The quarter's start.
        key : tuple of int
            (year, step): which quarter (the cache key).
        profile : GridStep
            The quarter as the year's profiles and power flow have it (returned where the
            controllers change nothing).
        """
        overrides = self._overrides()
        if not overrides and not self.acts:
            return profile
        modes = self.modes()
        if not modes.any() and not overrides:
            return profile
        cache_key = (*key, modes.tobytes(), overrides)
        cached = self._cache.get(cache_key)
        if cached is not None:
            return cached
        p_kw = self.controlled_kw(profile.p_kw, modes, overrides)
        if np.array_equal(p_kw, profile.p_kw):
            return profile
        if self.flow is None:
            self.flow = BatchPowerFlow(self.net)
        one = template.assign_coords(time=[time_utc])
        one["p_kw"] = one["p_kw"].copy(data=p_kw[None, :].astype(np.float32))
        grid = run_power_flow(self.net, one, self.reactive, flow=self.flow)
        measured = measured_grid(grid)
        result = GridStep(
            p_kw=p_kw,
            p_grid_kw=float(measured.p_grid_kw[0]),
            vm_pu=grid["vm_pu"].transpose("time", "bus").values[0].astype(np.float32),
            stress=measured.at(0),
        )
        if len(self._cache) > 64:
            self._cache.clear()
        self._cache[cache_key] = result
        return result

    def wallbox_values(self, device_id: str, building: int) -> dict[str, float]:
        """What a wallbox's control registers show: mode, the state it follows, its 14a limit, rating."""
        cars, rated_kw = self.charger_assets.get(device_id, ([], 0.0))
        with self._lock:
            state, dimmed = int(self.state[building]), bool(self.dimmed[building])
            hold = self.takeovers.get(cars[0]) if cars else None
        limit_kw = rated_kw
        if dimmed and cars:
            where = np.flatnonzero(self.dimmed_assets == cars[0])
            if where.size:
                limit_kw = min(rated_kw, float(self.group_limits_kw[self.groups[where[0]]]))
        return {
            "control_mode": float(hold.mode if hold is not None else 0),
            "signal_state": float(state),
            "p_limit_14a_kw": limit_kw,
            "p_rated_kw": rated_kw,
        }

    def controlled_kw(
        self,
        base_kw: npt.NDArray[np.float64],
        modes: npt.NDArray[np.int8],
        overrides: tuple[tuple[int, float], ...] = (),
    ) -> npt.NDArray[np.float64]:
        """The assets' power [kW] with each building's controllers in its mode and the wallboxes held.

        As the runner's modes: in mode 1 and 2 (blocked) the SG-Ready heat pumps are off; in mode
        1 (blocked for grid stress) the section 14a devices of each group draw at most the
        group's dimmed limit. A held wallbox draws its setpoint whatever the mode.
        """
        p_kw = np.asarray(base_kw, dtype=np.float64).copy()
        mode_of_asset = np.where(self.asset_building >= 0, modes[np.maximum(self.asset_building, 0)], 0)
        if self.control.heat_pump == "sg_ready" and self.heat_pumps.size:
            off = self.heat_pumps[mode_of_asset[self.heat_pumps] > 0]
            p_kw[off] = block_devices(p_kw[None, off], [True])[0]
        if self.dimmed_assets.size:
            chosen = self.dimmed_assets
            limits = np.where(modes[self.group_building] == 1, self.group_limits_kw, math.inf)
            p_kw[chosen] = dim_devices(p_kw[None, chosen], self.groups, limits, [True])[0]
        for column, setpoint_kw in overrides:
            p_kw[column] = setpoint_kw
        return p_kw

    # --- the truth's signal states ------------------------------------------------------

    def dwell(self, seconds: float) -> None:
        """Count ``seconds`` of simulated time in each building's (and the district's) state now."""
        with self._lock:
            states = np.append(self.state, self.district_state).astype(np.int64)
        self._dwell_s[np.arange(states.size), states] += seconds

    def quarter_trafo_loading_percent(self) -> float:
        """Return the transformer's loading [%] in the quarter that ended last (NaN: not known)."""
        return self.last_quarter.stress.trafo_loading_max_percent if self.last_quarter is not None else math.nan

    def quarter_states(self) -> dict[str, int]:
        """The state each building (and ``substation``: the district) held longest in the quarter; reset."""
        if not self._dwell_s.any():
            self.dwell(1.0)
        held = self._dwell_s.argmax(axis=1)
        self._dwell_s[:] = 0.0
        out = {b: int(s) for b, s in zip(self.buildings, held[:-1], strict=True)}
        out["substation"] = int(held[-1])
        return out


def _connection_limits(
    assets: xr.Dataset, chosen: npt.NDArray[np.int64], asset_building: npt.NDArray[np.int64], control: str
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """Group of each chosen device, each group's dimmed limit [kW] and each group's building.

    ``ems``: a group is a building, one limit for its devices (A1 4.5.2); ``direct``: a building's
    heat pumps (summed, A1 2.4.2) or one other device, each keeping its own minimum (A1 4.5.1).
    A device without a rating is rated at its year's highest draw, as the runner rates it.
    """
    if chosen.size == 0:
        return np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.int64)
    kinds = np.asarray(assets["kind"].values).astype(str)[chosen]
    rated = np.asarray(assets["p_rated_kw"].values, dtype=np.float64)[chosen]
    base = assets["p_kw"].transpose("time", "asset").values[:, chosen].astype(np.float64)
    peak = np.nanmax(np.clip(base, 0.0, None), axis=0, initial=0.0)
    rated = np.where(np.isfinite(rated) & (rated > 0), rated, peak)
    owner = asset_building[chosen]
    if control == "ems":
        keys = [str(b) for b in owner]
    else:
        keys = [f"{b}/{k if k == 'heat_pump' else i}" for i, (b, k) in enumerate(zip(owner, kinds, strict=True))]
    names, groups = np.unique(np.asarray(keys), return_inverse=True)
    devices = [ControllableDevice(KINDS_14A[k], float(r)) for k, r in zip(kinds, rated, strict=True)]
    limits = np.array(
        [
            dimmed_limit_kw([d for d, g in zip(devices, groups, strict=True) if g == i], control=control)  # type: ignore[arg-type]
            for i in range(len(names))
        ]
    )
    building_of_group = np.array([owner[np.flatnonzero(groups == i)[0]] for i in range(len(names))], dtype=np.int64)
    return groups.astype(np.int64), limits, building_of_group
