"""The live grid view: a power flow on the live twin's latest state, every few seconds.

:class:`LiveGrid` prepares the district's pandapower net once (:class:`models.powerflow.BatchPowerFlow`)
and solves one step from the latest balance: the active power at a bus is the sum of the building
meters (``p_meter_kw``, import-positive = load-positive at the bus) of the buildings at that bus,
plus the community battery (charging > 0) at the transformer's low-voltage busbar. The building
meter already nets PV, batteries, heat pumps and EVs behind it, so their own powers are not added
again. Reactive power is a simplification: every bus that draws (p > 0) draws
``p tan(arccos(load_cos_phi))`` with the district's load cos phi; a bus that feeds in (p <= 0)
gets q = 0 (the PV cos phi(P) characteristic of the scenarios needs PV and load apart, which the
building meter does not give). A building meter without a usable value counts 0 kW and is named
in ``inputs_missing``. At every solve the grid's feeders get their signals from the result
(:class:`twin.live_feeders.LiveFeeders`). It reads the balance as :class:`twin.core.live_state.BoundaryState` records;
the result is the snapshot's ``grid`` section, a :class:`twin.core.live_state.GridState`
(:meth:`LiveGrid.solve`).
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
import warnings
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd

from twin.core.errors import ConfigError, TwinWarning
from twin.core.live_state import BoundaryState, BranchState, BusState, GridState, utc_time
from twin.core.schema import SUBSTATION
from twin.live_feeders import LiveFeeders

if TYPE_CHECKING:
    from connectors.site import Site
    from models.district import LoadedDistrict
    from scenarios.records import Control

__all__ = ["DEFAULT_GRID_EVERY_S", "LiveGrid", "prepare_worker", "worker_step"]

#: Wall time between two live power flows. [s]
DEFAULT_GRID_EVERY_S: Final[float] = 5.0
_FORECAST_HOURS: Final[int] = 6
#: The grid of this worker process (:func:`prepare_worker`); the live process never fills it.
_WORKER: dict[str, LiveGrid] = {}


class LiveGrid:
    """The district's grid, prepared once, solved for the live twin's latest balance.

    Parameters
    ----------
    loaded : LoadedDistrict
        The district and its net (buildings name their bus).
    site : Site, optional
        The site file: building meters of buildings the district does not know sit at the
        device's ``bus``; the community battery at the LV busbar.
    control : Control, optional
        The ``control:`` block the feeders' signals run (:class:`twin.live_feeders.LiveFeeders`);
        default the live twin's.

    Raises
    ------
    ConfigError
        The net's no-load power flow fails, or a device names a bus the net does not have.
    """

    def __init__(self, loaded: LoadedDistrict, site: Site | None = None, control: Control | None = None) -> None:
        from models.grid import lv_busbar
        from models.powerflow import BatchPowerFlow, PowerFlowOptions

        net = loaded.net
        self.flow = BatchPowerFlow(net, PowerFlowOptions(threads=1, on_divergence="flag"))
        names = net.bus["name"].astype(str)
        index_of = dict(zip(names, net.bus.index.astype(int), strict=False))
        self.bus_index: list[int] = [int(b) for b in self.flow.bus_index]
        self._position = {bus: pos for pos, bus in enumerate(self.bus_index)}
        #: Building id -> pandapower bus index: the district's buildings in its order (with a site,
        #: those with a building meter), then the site's other metered buildings at their device's bus.
        self.building_bus: dict[str, int] = {b.id: index_of[b.bus] for b in loaded.district.buildings}
        if site is not None:
            metered = {d.building: d for d in site.devices if d.kind == "building_meter" and d.building}
            self.building_bus = {b: bus for b, bus in self.building_bus.items() if b in metered}
            for building, device in metered.items():
                if building in self.building_bus or not device.bus:
                    continue
                if device.bus not in index_of:
                    raise ConfigError(f"bus {device.bus!r} is not a bus of the grid", field=f"{device.id}.bus")
                self.building_bus[building] = index_of[device.bus]
        self.lv_busbar = lv_busbar(net)
        self.tan_phi = math.tan(math.acos(loaded.district.reactive_power.load_cos_phi))
        self._buses = {
            str(bus): BusState(str(names.loc[bus]), *_lon_lat(net.bus["geo"].loc[bus] if "geo" in net.bus else None))
            for bus in self.bus_index
        }
        ends = {f"line {i}": ("line", row.from_bus, row.to_bus) for i, row in net.line.iterrows()}
        ends.update({f"trafo {i}": ("trafo", row.hv_bus, row.lv_bus) for i, row in net.trafo.iterrows()})
        self.branch_ids = self.flow.branch_ids
        self._branches = {
            branch: BranchState(ends[branch][0], int(ends[branch][1]), int(ends[branch][2]))
            for branch in self.branch_ids
        }
        self._is_trafo = np.array([branch.startswith("trafo") for branch in self.branch_ids])
        #: Wall time of the last solve. [s]
        self.last_solve_s = math.nan
        #: One signal per feeder, advanced at every solve.
        self.feeders = LiveFeeders(net, self.flow, self.building_bus, site, q_per_p=self.tan_phi, control=control)
        #: Each building's signal after the last solve (:class:`twin.live_feeders.FeederValues`).
        self.feeder_values: dict[str, Any] = {}

    def bus_powers(self, balance: Mapping[str, BoundaryState]) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """Active and reactive demand per bus (in :attr:`bus_index` order) from a live balance.

        Parameters
        ----------
        balance : mapping of str to BoundaryState
            The snapshot's ``balance`` (``p_grid_kw`` of a building is its meter, the substation's
            ``p_community_battery_kw`` the community battery).

        Returns
        -------
        p_kw, q_kvar : numpy.ndarray
            Load-positive demand per bus. [kW], [kvar]
        missing : list of str
            Buildings of the grid whose meter had no usable value (counted as 0 kW).
        """
        p_kw = np.zeros(len(self.bus_index))
        missing = []
        for building, bus in self.building_bus.items():
            terms = balance.get(building)
            value = terms.p_grid_kw if terms is not None else None
            if value is None or not math.isfinite(value):
                missing.append(building)
                continue
            p_kw[self._position[bus]] += float(value)
        district = balance.get(SUBSTATION)
        battery = district.p_community_battery_kw if district is not None else None
        if battery is not None and math.isfinite(battery):
            p_kw[self._position[self.lv_busbar]] += float(battery)
        q_kvar = np.clip(p_kw, 0.0, None) * self.tan_phi
        return p_kw, q_kvar, missing

    def solve(self, sim_time_s: float, balance: Mapping[str, BoundaryState]) -> GridState:
        """Solve one step and return the snapshot's ``grid`` section.

        Parameters
        ----------
        sim_time_s : float
            Simulated time of the balance, UNIX seconds. [s]
        balance : mapping of str to BoundaryState
            The snapshot's ``balance``.

        Returns
        -------
        GridState
            Converged or not, losses, exchange, highest loadings, voltage range, the buildings
            missing, the solve time, and every bus (voltage) and branch (loading); NaN results are ``None``.
        """
        started = time.perf_counter()
        p_kw, q_kvar, missing = self.bus_powers(balance)
        stamp = pd.Timestamp(sim_time_s, unit="s")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TwinWarning)  # a step that does not converge is flagged below
            result = self.flow.run([stamp], p_kw[None, :], q_kvar[None, :])
        vm_pu = result["vm_pu"].values[0].astype(float)
        loading = result["loading_percent"].values[0].astype(float)
        converged = bool(result["converged"].values[0])
        self.feeder_values = self.feeders.step(
            sim_time_s,
            balance,
            loading_percent=loading,
            vm_pu=vm_pu,
            p_grid_kw=float(result["p_grid_kw"].values[0]),
        )
        self.last_solve_s = time.time()
        any_vm = bool(np.isfinite(vm_pu).any())
        return GridState(
            sim_time_utc=utc_time(sim_time_s),
            converged=converged,
            p_loss_kw=_number(result["p_loss_kw"].values[0]),
            p_grid_kw=_number(result["p_grid_kw"].values[0]),
            trafo_loading_max_percent=_max(loading[self._is_trafo]),
            line_loading_max_percent=_max(loading[~self._is_trafo]),
            vm_min_pu=_number(np.nanmin(vm_pu)) if any_vm else None,
            vm_max_pu=_number(np.nanmax(vm_pu)) if any_vm else None,
            inputs_missing=tuple(missing),
            solve_ms=round((time.perf_counter() - started) * 1000.0, 2),
            buses={
                key: replace(static, vm_pu=_number(vm))
                for (key, static), vm in zip(self._buses.items(), vm_pu, strict=True)
            },
            branches={
                key: replace(static, loading_percent=_number(value))
                for (key, static), value in zip(self._branches.items(), loading, strict=True)
            },
        )

    def building_vm_pu(self, grid: GridState) -> dict[str, float]:
        """Return the voltage at each building's bus in a ``grid`` section, NaN if unknown [p.u.]."""
        out = {}
        for building, bus in self.building_bus.items():
            state = grid.buses.get(str(bus))
            value = state.vm_pu if state is not None else None
            out[building] = math.nan if value is None else float(value)
        return out


def prepare_worker(
    district: str | Path, site: Site | None, parent_pid: int, control: Control | None = None
) -> list[str]:
    """Load the district and prepare its grid in this (worker) process; return its building ids in order.

    ``control`` is the ``control:`` block the signals run (default the live twin's).

    ``twin live`` runs the power flow in a worker process: importing pandapower and building the
    grid take seconds of CPU, which in a thread of the live process would hold the GIL and
    delay polling. The worker ends itself when ``parent_pid`` (the live process) is gone.
    """
    from models.district import load_district

    threading.Thread(target=_exit_with_parent, args=(parent_pid,), name="twin-live-grid-watchdog", daemon=True).start()
    loaded = load_district(district)
    _WORKER["grid"] = LiveGrid(loaded, site, control)
    return [b.id for b in loaded.district.buildings]


def worker_step(sim_time_s: float, balance: Mapping[str, BoundaryState], *, p_peak_kw: float) -> dict[str, Any]:
    """One live step in the worker process: the power flow and the expected surplus.

    Returns
    -------
    dict
        ``grid`` (a :class:`~twin.core.live_state.GridState`, :meth:`LiveGrid.solve`),
        ``building_vm_pu`` (building id -> p.u.), ``feeders`` (building id ->
        :class:`~twin.live_feeders.FeederValues`: its feeder's signal and its section 14a limit),
        ``forecast_kw`` (expected surplus of the next six hours, kW) and ``clear_sky_index``.
    """
    from models.forecast import expected_surplus_kw

    grid = _WORKER["grid"]
    result = grid.solve(sim_time_s, balance)
    forecast: tuple[float, ...] = ()
    index = math.nan
    district = balance.get(SUBSTATION) or BoundaryState(SUBSTATION)
    if p_peak_kw > 0 and math.isfinite(sim_time_s):
        # the forecast's load now: a missing term counts 0 kW (as the forecast always did)
        p_load_kw = sum(float(district.term(t) or 0.0) for t in ("p_load_kw", "p_heat_pump_kw", "p_ev_kw"))
        p_pv_kw = district.p_pv_kw
        forecast, index = expected_surplus_kw(
            pd.Timestamp(sim_time_s, unit="s"),
            p_pv_kw=math.nan if p_pv_kw is None else float(p_pv_kw),
            p_load_kw=p_load_kw,
            p_peak_kw=p_peak_kw,
            hours=_FORECAST_HOURS,
        )
    return {
        "grid": result,
        "building_vm_pu": grid.building_vm_pu(result),
        "feeders": dict(grid.feeder_values),
        "forecast_kw": forecast,
        "clear_sky_index": index,
    }


def _exit_with_parent(parent: int) -> None:
    """End this worker process soon after the live process died (even by ``kill -9``)."""
    while os.getppid() == parent:
        time.sleep(0.2)
    os._exit(0)


def _lon_lat(geo: Any) -> tuple[float | None, float | None]:
    """``x`` (longitude) and ``y`` (latitude) of a GeoJSON Point string; ``None`` without one."""
    if isinstance(geo, str):
        try:
            coordinates = json.loads(geo).get("coordinates")
            return float(coordinates[0]), float(coordinates[1])
        except (ValueError, TypeError, AttributeError, IndexError):
            pass
    return None, None


def _number(value: Any) -> float | None:
    number = float(value)
    return round(number, 6) if math.isfinite(number) else None


def _max(values: np.ndarray) -> float | None:
    return _number(np.nanmax(values)) if values.size and np.isfinite(values).any() else None
