"""The field's devices obey the controller signal: heat pumps, wallboxes and home batteries.

With a ``control:`` block (:class:`scenarios.records.Control`, the scenarios' own) the field's
heat pumps, charging points and home batteries act on the controller signal with the control
library, as the scenario runner's controlled year does (:mod:`scenarios.controlled`):

- SG-Ready block (``heat_pump: sg_ready``): a building's heat pumps are off while its signal
  blocks (on the field's own signal only as many as the grid needs, except with
  ``signal: district``, the flat value);
- section 14a EnWG (``section_14a: true``, or ``ev: dimmed`` for the cars only): while the signal
  blocks for grid stress, a building's controllable devices draw together at most their
  dimmed limit (:func:`models.control.section_14a.dimmed_limit_kw`, per device or per energy
  management system as ``section_14a_control`` says), each cut by the same share.

Each quarter hour is one :func:`models.control.loop.step` of the plant the scenario runner
builds (:func:`scenarios.controlled.build_plant`): the library's public single step.

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

import dataclasses
import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
import xarray as xr

from models.control.signal import SignalConfig, SignalMachine
from models.control.year import measured_grid
from models.district import District
from models.grid import run_power_flow
from models.powerflow import BatchPowerFlow
from scenarios.records import Control
from twin.core.signal import GridStress, SignalState
from twin.core.vocabulary import STEP_S

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
    line_percent: npt.NDArray[np.float32]  # (line,) in the grid's line order
    device_kw: npt.NDArray[np.float64] | None = None  # the controllable devices' power (the plant's order)
    grid_ref: tuple[xr.Dataset, int] | None = None  # the power flow's dataset and the quarter's step in it


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
    control : Control or None
        The ``control:`` block; None: the devices follow their profiles (the signal is still
        computed, and a wallbox can be taken over).
    assets : xarray.Dataset
        The year's assets (coordinates ``kind``, ``building``, ``bus``, ``p_rated_kw``; ``p_kw``).
    heat_kw : pandas.DataFrame or None
        The year's heat demand per building (the heat pumps' stores); None: none.
    district : District
        The district (its buildings in order: the controller map's building numbers).
    net, reactive
        The grid and the district's reactive-power rule (for the quarter's power flow).
    source : {"direct", "twin"}
        Where the signal comes from (module docstring).
    """

    def __init__(
        self,
        control: Control | None,
        assets: xr.Dataset,
        heat_kw: pd.DataFrame | None,
        district: District,
        net: Any,
        reactive: Any,
        source: SignalSource = "direct",
    ) -> None:
        self.control = control or Control()
        self.source = source
        self.buildings = [b.id for b in district.buildings]
        self.net = net
        self.reactive = reactive
        self.flow: BatchPowerFlow | None = None
        self.sg_ready = self.control.heat_pump == "sg_ready"
        self._district = district
        #: The buildings' controllable devices (None without a control block).
        self.plant = _Stepper(control, assets, heat_kw, district) if control is not None else None
        self.config = self.plant.config if self.plant is not None else SignalConfig()
        number = {b: i for i, b in enumerate(self.buildings)}
        names = self.plant.buildings if self.plant is not None else self.buildings
        #: District building number of each of the plant's buildings (the signal's order there).
        self.plant_building = np.array([number[b] for b in names], dtype=np.int64)
        self.signals = _signals(self.control, net, assets, names, self.config) if self.plant is None else None
        if self.plant is not None:
            from scenarios.controlled import signal_sources

            self.flow = BatchPowerFlow(net)
            self.sens, self._make_source = signal_sources(
                self.control, net, self.flow, assets, self.plant.buildings, self.plant.plant
            )
        self._source_saved: Any = None
        self._relief_input: tuple[Any, Any] | None = None
        n = len(self.buildings)
        self._lock = threading.Lock()
        self.state = np.full(n, _NORMAL, dtype=np.int8)
        self.limit_kw = np.full(n, math.inf)
        self.district_state = _NORMAL
        self.takeovers: dict[int, Takeover] = {}  # asset column -> hold
        self.charger_assets: dict[str, tuple[list[int], float]] = {}  # device id -> (car columns, rated kW)
        self._cache: dict[tuple[object, ...], GridStep] = {}
        self._dwell_s = np.zeros((n + 1, 5))
        #: One step of the year's power flow (set by the value model).
        self.shape_grid: xr.Dataset | None = None
        self._planned: dict[tuple[int, int], tuple[Any, Any, Any]] = {}
        #: Successful reads of the live twin's registers (:mod:`twin.field.signal_client`).
        self.polls_ok = 0
        #: The grid of the quarter that ended last, as the devices ran it.
        self.last_quarter: GridStep | None = None

    # --- the signal -------------------------------------------------------------------

    @property
    def polled(self) -> bool:
        """Whether the signal has been read from the live twin's registers at least once."""
        return self.polls_ok > 0

    def set_signal(self, state: npt.ArrayLike, limit_kw: npt.ArrayLike, district_state: int) -> None:
        """Set each building's signal and section 14a limit (thread-safe).

        Parameters
        ----------
        state : array-like of int, shape (building,)
            SG-Ready state per building (1-4), the district's building order.
        limit_kw : array-like of float, shape (building,)
            What the building's controllable devices may draw together while dimmed; ``inf``:
            not dimmed. [kW]
        district_state : int
            The district's state (the truth file's substation row).
        """
        with self._lock:
            self.state = np.asarray(state, dtype=np.int8).copy()
            self.limit_kw = np.asarray(limit_kw, dtype=np.float64).copy()
            self.district_state = int(district_state)

    def set_registers(self, state: npt.ArrayLike, limit_kw: npt.ArrayLike, district_state: int) -> None:
        """Set the signal from the live twin's ``sg_ready_state`` and ``p_limit_14a_kw`` registers.

        Dimming is in force where the state blocks and the register's limit lies below the free
        limit (:attr:`SignalConfig.p_limit_free_kw`); the building then keeps at least its
        BK6-22-300 minimum (a per-device register value of 4.2 kW keeps exactly that).
        """
        st = np.asarray(state, dtype=np.int8)
        limit = np.asarray(limit_kw, dtype=np.float64)
        dimmed = (st == _BLOCK) & (limit < self.config.p_limit_free_kw)
        self.set_signal(st, np.where(dimmed, limit, math.inf), district_state)

    def direct_update(self, t_s: float, measured: GridStep | None) -> None:
        """Advance the field's own signal to ``t_s`` on the grid measured in the quarter before (None: none).

        With a control block the source is the runner's own (:func:`scenarios.controlled.signal_sources`)
        reading the measured quarter as the runner's settled year reads the step before: the grid as
        it would be without the heat pumps the block held off, and each building's controllable draw.
        """
        n = len(self.buildings)
        if self.plant is None:
            assert self.signals is not None
            state, limit = self.signals.update(t_s, measured, None)
            district = _district_state(state) if len(state) else _NORMAL
            self.set_signal(state, limit, district)
            return
        from models.control.loop import grid_delta
        from scenarios.controlled import grid_state, relief_for

        plant = self.plant.plant
        if measured is None or measured.grid_ref is None:
            k, delta, draw = -1, None, None
            grid1 = grid_state(self._shape_grid(), self.net)
        else:
            k = 0
            dataset, row = measured.grid_ref
            grid1 = grid_state(dataset.isel(time=[row]), self.net)
            delta = grid_delta(self.plant.devices.held_kw, plant, self.sens)
            device = measured.device_kw if measured.device_kw is not None else plant.base_kw[0] * 0.0
            draw = plant.building_sum_kw(np.clip(device, 0.0, None))
        source = self._make_source(grid1)
        if self._source_saved is not None:
            source.restore(self._source_saved)
        state, limit = source.step(t_s, k, delta, draw)
        self._source_saved = source.save()
        relief = relief_for(self.control, grid1, self.sens) if k == 0 else None
        self._relief_input = (relief, delta) if relief is not None else None
        full_state, full_limit = np.full(n, _NORMAL, dtype=np.int8), np.full(n, math.inf)
        full_state[self.plant_building] = state
        full_limit[self.plant_building] = limit
        self.set_signal(full_state, full_limit, _district_state(np.asarray(state, dtype=np.int8)))

    def _shape_grid(self) -> xr.Dataset:
        """A step of the year's power flow (for the shapes of the first, unmeasured step)."""
        assert self.shape_grid is not None
        return self.shape_grid

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
            (year, step in the year): which quarter.
        profile : GridStep
            The quarter as the year's profiles and power flow have it.
        """
        overrides = self._overrides()
        with self._lock:
            state, limit = self.state[self.plant_building], self.limit_kw[self.plant_building]
        version = self.plant.version if self.plant is not None else 0
        cache_key = (*key, state.tobytes(), limit.tobytes(), overrides, version)
        cached = self._cache.get(cache_key)
        if cached is not None:
            return cached
        p_kw = profile.p_kw.copy()
        device_kw = None
        if self.plant is not None and self.plant.columns.size:
            relief = self._relief_input if self.source == "direct" else None
            device_kw, planned = self.plant.plan(key[1], state, limit, self.sg_ready, relief)
            self._planned[key] = planned
            p_kw[self.plant.columns] = device_kw
        for column, setpoint_kw in overrides:
            p_kw[column] = setpoint_kw
        if np.array_equal(p_kw, profile.p_kw):
            result = dataclasses.replace(profile, device_kw=device_kw)
        else:
            result = self._power_flow(template, time_utc, p_kw, device_kw)
        if len(self._cache) > 64:
            self._cache.clear()
        self._cache[cache_key] = result
        return result

    def commit(self, key: tuple[int, int]) -> None:
        """The quarter ``key`` (year, step) has ended: the stores and backlogs keep what it did."""
        planned = self._planned.pop(key, None)
        if planned is not None and self.plant is not None:
            self.plant.commit(planned)
        self._planned.clear()

    def new_year(self, assets: xr.Dataset, heat_kw: pd.DataFrame | None) -> None:
        """Simulated time entered a new year: its profiles, the stores and backlogs carried on."""
        if self.plant is not None:
            self.plant.retarget(self.control, assets, heat_kw, self._district)
        self._cache.clear()

    def _power_flow(
        self, template: xr.Dataset, time_utc: np.datetime64, p_kw: npt.NDArray[np.float64], device_kw: Any
    ) -> GridStep:
        if self.flow is None:
            self.flow = BatchPowerFlow(self.net)
        one = template.assign_coords(time=[time_utc])
        one["p_kw"] = one["p_kw"].copy(data=p_kw[None, :].astype(np.float32))
        grid = run_power_flow(self.net, one, self.reactive, flow=self.flow)
        measured = measured_grid(grid)
        kinds = np.asarray(grid["branch_kind"].values).astype(str)
        loading = grid["loading_percent"].transpose("time", "branch").values[0]
        return GridStep(
            p_kw=p_kw,
            p_grid_kw=float(measured.p_grid_kw[0]),
            vm_pu=grid["vm_pu"].transpose("time", "bus").values[0],
            stress=measured.at(0),
            line_percent=loading[kinds == "line"],
            device_kw=device_kw,
            grid_ref=(grid, 0),
        )

    def wallbox_values(self, device_id: str, building: int) -> dict[str, float]:
        """What a wallbox's control registers show: mode, the state it follows, its 14a limit, rating."""
        cars, rated_kw = self.charger_assets.get(device_id, ([], 0.0))
        with self._lock:
            state, limit = int(self.state[building]), float(self.limit_kw[building])
            hold = self.takeovers.get(cars[0]) if cars else None
        limit_kw = rated_kw
        if math.isfinite(limit) and cars and self.plant is not None:
            limit_kw = min(rated_kw, self.plant.cap_kw(cars[0], limit))
        return {
            "control_mode": float(hold.mode if hold is not None else 0),
            "signal_state": float(state),
            "p_limit_14a_kw": limit_kw,
            "p_rated_kw": rated_kw,
        }

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


class _Stepper:
    """The buildings' controllable devices stepped quarter by quarter with the control library's step.

    The plant (:class:`models.control.loop.Plant`) is the one the scenario runner builds for the
    same assets and heat (:func:`scenarios.controlled.build_plant`), and each quarter is one
    :func:`models.control.loop.step`, the step of the runner's year: heat pumps serve their thermal
    stores, dimmed wallboxes keep a backlog, blocked (only as far as needed) and dimmed devices
    obey the signal.
    """

    def __init__(self, control: Control, assets: xr.Dataset, heat_kw: pd.DataFrame | None, district: District) -> None:
        from models.control.loop import PlantState
        from scenarios.controlled import signal_config

        self.version = 0
        self.config = signal_config(control)
        self.retarget(control, assets, heat_kw, district)
        #: The stores, backlogs and what the block held off in the quarter before.
        self.devices = PlantState.initial(self.plant)

    def retarget(self, control: Control, assets: xr.Dataset, heat_kw: pd.DataFrame | None, district: District) -> None:
        """Build the plant of a year's assets (the stores and backlogs stay)."""
        from scenarios.controlled import HeatInputs, build_plant

        full = assets["p_kw"].transpose("time", "asset").values.astype(np.float64)
        heat = HeatInputs.of(heat_kw, district.buildings) if heat_kw is not None else None
        columns, self.plant, self.buildings = build_plant(control, assets, full, heat)
        self.columns = np.asarray(columns, dtype=np.int64)
        self.version += 1

    def plan(
        self,
        t: int,
        state: npt.NDArray[np.int8],
        limit: npt.NDArray[np.float64],
        sg_ready: bool,
        relief: tuple[Any, Any] | None = None,
    ) -> tuple[npt.NDArray[np.float64], Any]:
        """The devices' power in step ``t`` of the year with this signal, and the state it leaves."""
        from models.control.loop import step

        devices = self.devices.copy()
        grid_relief, delta = relief if relief is not None else (None, None)
        done = step(
            self.plant,
            devices,
            t,
            state,
            limit,
            STEP_S,
            sg_ready=sg_ready,
            relief=grid_relief,
            measured=0 if relief is not None else -1,
            delta=delta,
        )
        return done.p_kw.copy(), devices

    def commit(self, planned: Any) -> None:
        """Keep the state a step left."""
        self.devices = planned
        self.version += 1

    def cap_kw(self, column: int, limit_kw: float) -> float:
        """What the section 14a group of an asset column may draw while its building's limit is ``limit_kw``."""
        where = np.flatnonzero(self.columns == column)
        if not where.size:
            return math.inf
        return self.plant.cap_kw(int(where[0]), limit_kw)


class _DistrictSignals:
    """One district-wide signal for every building (as :class:`models.control.loop.DistrictSource`)."""

    def __init__(self, config: SignalConfig, n_building: int) -> None:
        self.machine = SignalMachine(config)
        self.free_kw = config.p_limit_free_kw
        self.n = n_building

    def update(
        self, t_s: float, measured: GridStep | None, draw: npt.NDArray[np.float64] | None
    ) -> tuple[npt.NDArray[np.int8], npt.NDArray[np.float64]]:
        if measured is None:
            stress, surplus = GridStress(), math.nan
        else:
            stress, surplus = measured.stress, max(-measured.stress.p_grid_kw, 0.0)
        out = self.machine.update(t_s, p_surplus_kw=surplus, stress=stress)
        dimmed = out.p_limit_14a_kw < self.free_kw
        return np.full(self.n, int(out.state), dtype=np.int8), np.full(self.n, 0.0 if dimmed else math.inf)


class _FeederSignals:
    """Each building the signal and 14a limit of its own feeder (:class:`models.control.feeder.FeederSignals`)."""

    def __init__(self, signals: Any, n_line: int, n_bus: int) -> None:
        self.signals = signals
        self.n_line, self.n_bus = n_line, n_bus

    def update(
        self, t_s: float, measured: GridStep | None, draw: npt.NDArray[np.float64] | None
    ) -> tuple[npt.NDArray[np.int8], npt.NDArray[np.float64]]:
        if measured is None:
            out = self.signals.update(
                t_s,
                trafo_loading_percent=math.nan,
                line_loading_percent=np.full(self.n_line, math.nan),
                vm_pu=np.full(self.n_bus, math.nan),
                p_grid_kw=math.nan,
            )
        else:
            out = self.signals.update(
                t_s,
                trafo_loading_percent=measured.stress.trafo_loading_max_percent,
                line_loading_percent=measured.line_percent.astype(np.float64),
                vm_pu=np.asarray(measured.vm_pu, dtype=np.float64),
                p_grid_kw=measured.p_grid_kw,
                p_controllable_kw=draw,
            )
        return np.asarray(out.state, dtype=np.int8), np.asarray(out.p_limit_14a_kw, dtype=np.float64)


def _signals(
    control: Control, net: Any, assets: xr.Dataset, buildings: Sequence[str], config: SignalConfig
) -> _DistrictSignals | _FeederSignals:
    """The field's own signal source, as the runner's for the same ``control:`` block."""
    if control.signal != "per_feeder":
        return _DistrictSignals(config, len(buildings))
    from models.control.feeder import FeederMap, FeederSignals, sensitivities

    owners = np.asarray(assets["building"].values).astype(str)
    bus_of = dict(zip(owners, np.asarray(assets["bus"].values).astype(str), strict=True))
    label = {str(name): int(i) for i, name in zip(net.bus.index, net.bus["name"], strict=True)}
    building_bus = np.array([label[bus_of[b]] for b in buildings], dtype=np.int64)
    sens = sensitivities(net, building_bus)
    signals = FeederSignals(FeederMap.from_net(net), building_bus, config, sens, per_feeder=True)
    return _FeederSignals(signals, len(net.line), len(net.bus))


def _district_state(state: npt.NDArray[np.int8]) -> int:
    """One state for the district: any block, else any forced on, else the highest (as the runner's)."""
    if (state == _BLOCK).any():
        return _BLOCK
    if (state == int(SignalState.FORCED_ON)).any():
        return int(SignalState.FORCED_ON)
    return int(state.max())
