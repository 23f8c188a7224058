"""The live twin's side of the controller server: its snapshot provider and its write sink.

:class:`ControllerLink` turns the live twin's latest state into a
:class:`~connectors.controller_snapshot.ControllerSnapshot` for
:class:`~connectors.controller_server.ControllerServer` and applies the writes the server accepts:

- **District values** from the balance at the substation: PV, load (household load + heat pumps +
  EVs), batteries (home batteries + community battery), grid exchange. The **surplus available
  now** is the export at the substation, ``max(-p_grid_kw, 0)``: what is left after the batteries
  took their share (PV minus load would count power the batteries already store). The battery SOC
  is the community battery's, or without one the capacity-weighted mean of the home batteries.
  Year energies are the substation's import and export KPIs of the year so far; self-sufficiency
  is today's KPI. The **expected surplus** for the next six hours comes from
  :func:`models.forecast.expected_surplus_kw` with the district's PV peak (the sum of the site's
  inverters' ``p_peak_kw``), refreshed with every live power flow in the worker process; grid
  stress (highest transformer and line loading, lowest and highest voltage) from that power flow
  (:mod:`twin.live_grid`).
- **Buildings** in a stable order: the district's buildings that the site meters, in the district's
  order, then the site's other buildings in site order. Each block: its meter, PV, battery (and
  SOC), heat pump, EV, the year's balance (import - export KPIs), today's self-sufficiency, the
  voltage at its bus, and its own signal: its feeder's SG-Ready state and its section 14a limit
  from the last live power flow (:mod:`twin.live_feeders`).
- **Quality** per quantity: the grid exchange is as good as the substation meter. ``OK`` while
  every input of the district balance is ok; ``PARTIAL`` while the substation meter is ok but
  some inputs of the sums over the buildings (building meters, their devices, the community
  battery) are missing or invalid, ``inputs_missing`` counting them; else ``INVALID``. A building
  is ``OK`` or ``INVALID`` by its own devices; ``updated_unix_s`` is the wall time of the newest good device read,
  so the server calls the data stale when polling stops for 10 s.
- **Writes**: ``battery_setpoint_kw`` goes to the community battery's ``p_setpoint_kw``
  (:meth:`connectors.poller.SitePoller.write`, read back to confirm) in a task of the event loop,
  so the server never waits; ``battery_mode``, ``flexible_power_kw`` and ``signal_ack`` are kept
  in the live state. Every accepted write is logged with the client certificate's name and the
  last 20 appear in the snapshot's ``controller`` section (:meth:`ControllerLink.section`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import math
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

from connectors.controller_server import DEFAULT_PORT, DEFAULT_TLS_PORT, ControllerServer
from connectors.controller_snapshot import BuildingSnapshot, ControllerSnapshot, ControllerWrite, Quality
from connectors.device_server import DEFAULT_HOST
from connectors.poller import SitePoller
from connectors.site import Site
from twin.core.errors import ConnectorError
from twin.core.live_parts import Where, iso_utc, utc_time
from twin.core.live_sections import ControlInUse
from twin.core.live_state import (
    BoundaryKpis,
    BoundaryState,
    ControllerAck,
    ControllerState,
    ControllerWriteRecord,
    DeviceState,
    FeederSignalState,
    GridState,
    LiveSnapshot,
)
from twin.core.schema import SUBSTATION
from twin.core.signal import SignalReason, SignalState

__all__ = ["WRITES_IN_SNAPSHOT", "ControllerLink", "ControllerOptions", "LiveState", "building_order"]

logger = logging.getLogger(__name__)

#: Accepted writes the snapshot's ``controller`` section lists (newest last).
WRITES_IN_SNAPSHOT: Final[int] = 20
_NAN: Final[float] = math.nan


@dataclass(frozen=True)
class ControllerOptions:
    """Where ``twin live`` serves building controllers.

    Parameters
    ----------
    host : str
        Interface of both listeners.
    port : int
        Plain Modbus TCP (read-only); 0 lets the OS pick.
    tls_port : int
        Modbus/TCP Security (writers); 0 lets the OS pick.
    certs_dir : Path or None
        Folder with ``server.pem``, ``server.key`` and ``writer-ca.pem``; ``None``: no TLS listener.
    refresh_s : float
        Refresh period of the register image. [s]
    """

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    tls_port: int = DEFAULT_TLS_PORT
    certs_dir: Path | None = None
    refresh_s: float = 1.0


class LiveState(Protocol):
    """What the link reads of the live twin (:class:`twin.live.LiveTwin`)."""

    snapshot: LiveSnapshot | None
    updated_wall_s: float
    poller: SitePoller


def building_order(site: Site, district_buildings: list[str]) -> list[str]:
    """The buildings of the controller blocks: the district's that the site has, then the site's others."""
    in_site = list(dict.fromkeys(d.building for d in site.devices if d.building))
    known = set(in_site)
    return [b for b in district_buildings if b in known] + [b for b in in_site if b not in set(district_buildings)]


class ControllerLink:
    """The controller server's provider and sink on a live twin.

    Parameters
    ----------
    live : LiveState
        The live twin (its latest snapshot, newest read time and poller).
    buildings : list of str
        Building ids of the blocks, in block order (:func:`building_order`).
    """

    def __init__(self, live: LiveState, buildings: list[str]) -> None:
        self.live = live
        self.buildings = list(buildings)
        site = live.poller.site
        self.battery_id = next((d.id for d in site.devices if d.kind == "community_battery"), None)
        battery = next((d for d in site.devices if d.id == self.battery_id), None)
        #: Community battery setpoint limits (load-positive) from its rated power. [kW]
        self.battery_limits_kw = (
            (-battery.p_rated_kw, battery.p_rated_kw) if battery is not None and battery.p_rated_kw else None
        )
        self.p_peak_kw = float(sum(d.p_peak_kw or 0.0 for d in site.devices if d.kind == "pv_inverter"))
        self._capacity_kwh = {d.id: d.capacity_kwh for d in site.devices}
        self._batteries: dict[str, list[str]] = {}
        for device in site.devices:
            if device.kind == "battery" and device.building:
                self._batteries.setdefault(device.building, []).append(device.id)
        self.server: ControllerServer | None = None
        #: The latest grid section of the snapshot (set by the live power flow; ``None`` before the first).
        self.grid: GridState | None = None
        self.building_vm_pu: dict[str, float] = {}
        #: Each building's signal from the last live power flow (:class:`twin.live_feeders.FeederValues`).
        self.feeders: dict[str, Any] = {}
        self.forecast_kw: tuple[float, ...] = ()
        self.clear_sky_index = _NAN
        self.battery_mode = 0
        self.flexible_power_kw: dict[str, float] = {}
        self.acks: dict[str, dict[str, Any]] = {}
        self.writes: deque[dict[str, Any]] = deque(maxlen=WRITES_IN_SNAPSHOT)
        self._tasks: set[asyncio.Task[None]] = set()
        self._cache: tuple[int, int, ControllerSnapshot | None] = (0, 0, None)
        #: Wall time the provider took last. [s]
        self.provider_s = 0.0
        #: The control the signal runs (the snapshot's ``controller.control``; set by ``twin live``).
        self.control: ControlInUse | None = None

    # --- provider -------------------------------------------------------------------------

    def provide(self) -> ControllerSnapshot | None:
        """The latest state as a controller snapshot (``None`` before the first good read)."""
        snap, grid = self.live.snapshot, self.grid
        key = (id(snap), id(grid))
        if key == self._cache[:2]:
            return self._cache[2]
        started = time.perf_counter()
        result = self._build(snap, grid)
        self._cache = (*key, result)
        self.provider_s = time.perf_counter() - started
        return result

    def _build(self, snap: LiveSnapshot | None, grid: GridState | None) -> ControllerSnapshot | None:
        updated = self.live.updated_wall_s
        if snap is None or not math.isfinite(updated):
            return None
        district = snap.district or BoundaryState(SUBSTATION)
        today, year = snap.kpis.today, snap.kpis.year
        p_grid = _f(district.p_grid_kw)
        p_load = _sum((district.p_load_kw, district.p_heat_pump_kw, district.p_ev_kw))
        if self.battery_id is not None and self.battery_id in snap.devices:
            soc = _f(snap.device_value(self.battery_id, "soc_frac"))
        else:
            soc = self._soc([d for ids in self._batteries.values() for d in ids], snap.devices)
        buildings = tuple(
            self._building(b, snap.boundary(b), today.get(b), year.get(b), snap.devices) for b in self.buildings
        )
        year_district, today_district = year.get(SUBSTATION), today.get(SUBSTATION)
        return ControllerSnapshot(
            sim_time_s=_f(snap.sim_time_s),
            updated_unix_s=updated,
            p_pv_kw=_f(district.p_pv_kw),
            p_load_kw=p_load,
            p_battery_kw=_f(district.p_battery_kw) + _f(district.p_community_battery_kw or 0.0),
            soc_battery_frac=soc,
            p_grid_kw=p_grid,
            p_surplus_kw=max(-p_grid, 0.0) if math.isfinite(p_grid) else _NAN,
            energy_import_year_kwh=_kpi(year_district, "import_kwh"),
            energy_export_year_kwh=_kpi(year_district, "export_kwh"),
            self_sufficiency_today_frac=_kpi(today_district, "self_sufficiency_frac"),
            p_surplus_forecast_kw=self.forecast_kw,
            clear_sky_index=self.clear_sky_index,
            trafo_loading_max_percent=_f(grid.trafo_loading_max_percent if grid is not None else None),
            line_loading_max_percent=_f(grid.line_loading_max_percent if grid is not None else None),
            vm_min_pu=_f(grid.vm_min_pu if grid is not None else None),
            vm_max_pu=_f(grid.vm_max_pu if grid is not None else None),
            quality=_district_quality(district),
            inputs_missing=district.inputs_missing or 0,
            buildings=buildings,
        )

    def _building(
        self,
        building: str,
        terms: BoundaryState | None,
        today: BoundaryKpis | None,
        year: BoundaryKpis | None,
        devices: Mapping[str, DeviceState],
    ) -> BuildingSnapshot:
        terms = terms or BoundaryState(building)
        imported, exported = _kpi(year, "import_kwh"), _kpi(year, "export_kwh")
        feeder = self.feeders.get(building)
        signal = {} if feeder is None else dataclasses.asdict(feeder)
        return BuildingSnapshot(
            building_id=building,
            p_meter_kw=_f(terms.p_grid_kw),
            p_pv_kw=_f(terms.p_pv_kw),
            p_battery_kw=_f(terms.p_battery_kw),
            soc_battery_frac=self._soc(self._batteries.get(building, []), devices),
            p_heat_pump_kw=_f(terms.p_heat_pump_kw),
            p_ev_kw=_f(terms.p_ev_kw),
            energy_balance_year_kwh=imported - exported,
            self_sufficiency_today_frac=_kpi(today, "self_sufficiency_frac"),
            vm_pu=self.building_vm_pu.get(building, _NAN),
            quality=Quality.OK if terms.ok else Quality.INVALID,
            **signal,
        )

    def _soc(self, battery_ids: list[str], devices: Mapping[str, DeviceState]) -> float:
        """Capacity-weighted mean SOC (plain mean where a capacity is unknown); NaN without a value."""
        pairs = []
        for device_id in battery_ids:
            device = devices.get(device_id)
            value = device.values.get("soc_frac") if device is not None else None
            if value is not None and math.isfinite(value):
                pairs.append((float(value), self._capacity_kwh.get(device_id) or 1.0))
        if not pairs:
            return _NAN
        return sum(soc * weight for soc, weight in pairs) / sum(weight for _, weight in pairs)

    # --- grid and forecast (worker thread) ------------------------------------------------

    def set_step(self, step: Mapping[str, Any]) -> None:
        """Take the latest live step (:func:`twin.live_grid.worker_step`): power flow and forecast."""
        self.building_vm_pu = dict(step["building_vm_pu"])
        self.feeders = dict(step.get("feeders", {}))
        self.forecast_kw = tuple(step["forecast_kw"])
        self.clear_sky_index = float(step["clear_sky_index"])
        self.grid = step["grid"]  # a GridState

    # --- sink -----------------------------------------------------------------------------

    def sink(self, write: ControllerWrite) -> None:
        """Apply an accepted write (called in the server's event loop; never blocks).

        Raises
        ------
        ValueError
            A battery setpoint while the site has no community battery (the client gets exception 3).
        """
        entry = {
            "name": write.name,
            "value": write.value,
            "building_number": write.building_number,
            "building_id": write.building_id,
            "client": write.client,
            "sim_time_utc": iso_utc(write.sim_time_s),
            "wall_time_utc": iso_utc(write.wall_time_s),
            "result": "recorded",
        }
        where = write.building_id or (str(write.building_number) if write.building_number else None)
        if write.name == "battery_setpoint_kw":
            if self.battery_id is None:
                raise ValueError("the site has no community battery")
            entry["result"] = "pending"
            task = asyncio.get_running_loop().create_task(
                self._write_setpoint(write.value, entry), name="controller-battery-setpoint"
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        elif write.name == "battery_mode":
            self.battery_mode = int(write.value)
        elif write.name == "flexible_power_kw" and where is not None:
            self.flexible_power_kw[where] = write.value
        elif write.name == "signal_ack" and where is not None:
            self.acks[where] = {
                "state": int(write.value),
                "wall_time_utc": entry["wall_time_utc"],
                "client": write.client,
            }
        self.writes.append(entry)
        logger.info(
            "controller write by %s: %s%s = %g", write.client, write.name, f" ({where})" if where else "", write.value
        )

    async def _write_setpoint(self, value: float, entry: dict[str, Any]) -> None:
        assert self.battery_id is not None
        try:
            back = await self.live.poller.write(self.battery_id, "p_setpoint_kw", value)
        except ConnectorError as err:
            entry["result"] = f"failed: {err}"
            logger.warning("community battery setpoint %g kW not applied: %s", value, err)
            return
        entry["result"] = "confirmed"
        entry["read_back"] = back

    async def drain(self, timeout_s: float = 5.0) -> None:
        """Wait (bounded) for setpoint writes still in flight; cancel what is left."""
        pending = set(self._tasks)
        if pending:
            _, left = await asyncio.wait(pending, timeout=timeout_s)
            for task in left:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*left, return_exceptions=True)

    # --- snapshot section -----------------------------------------------------------------

    def section(self) -> ControllerState:
        """The snapshot's ``controller`` section: signal, limit, quality, listeners and writes."""
        server = self.server
        step = server.signal if server is not None else None
        reasons = step.reasons if step is not None else SignalReason.NONE
        where = Where(None, "controller")
        return ControllerState(
            signal=step.state.name.lower() if step is not None else None,
            signal_code=int(step.state) if step is not None else None,
            since_utc=utc_time(step.since_s) if step is not None else None,
            reasons=_reason_names(reasons),
            limit_14a_kw=step.p_limit_14a_kw if step is not None else None,
            quality=server.quality if server is not None else Quality.MISSING,
            heartbeat=server.heartbeat if server is not None else 0,
            host=server.host if server is not None else None,
            port=server.port if server is not None else None,
            tls_port=server.tls_port if server is not None else None,
            buildings=len(self.buildings),
            battery_mode=self.battery_mode,
            flexible_power_kw=dict(self.flexible_power_kw),
            acks={key: ControllerAck.from_json(ack, where.child("acks").child(key)) for key, ack in self.acks.items()},
            writes=tuple(
                ControllerWriteRecord.from_json(entry, where.child("writes").child(i))
                for i, entry in enumerate(self.writes)
            ),
            feeders=feeder_states(self.feeders),
            control=self.control,
        )


def feeder_states(values: Mapping[str, Any]) -> tuple[FeederSignalState, ...]:
    """Each feeder's signal from its buildings' values (:class:`twin.live_feeders.FeederValues`), by number.

    A building's section 14a limit is in force when it lies below the unlimited value
    (:attr:`models.control.signal.SignalConfig.p_limit_free_kw`).
    """
    from models.control.signal import SignalConfig

    free_kw = SignalConfig().p_limit_free_kw
    feeders: dict[int, list[Any]] = {}
    for value in values.values():
        feeders.setdefault(int(value.feeder_number), []).append(value)
    out = []
    for number, members in sorted(feeders.items()):
        first = members[0]
        limits = [float(v.p_limit_14a_kw) for v in members if float(v.p_limit_14a_kw) < free_kw]
        out.append(
            FeederSignalState(
                feeder_number=number,
                signal=SignalState(int(first.sg_ready_state)).name.lower(),
                signal_code=int(first.sg_ready_state),
                reasons=_reason_names(SignalReason(int(first.signal_reasons))),
                relief_kw=float(first.feeder_relief_kw),
                buildings=len(members),
                limited=len(limits),
                limit_min_kw=min(limits) if limits else None,
            )
        )
    return tuple(out)


def _reason_names(reasons: SignalReason) -> tuple[str, ...]:
    """The names of the reasons' flags, lower case."""
    return tuple(flag.name.lower() for flag in SignalReason if flag and flag in reasons and flag.name)


def _district_quality(district: BoundaryState) -> Quality:
    """``OK``, ``PARTIAL`` (substation meter ok, some building inputs missing) or ``INVALID``."""
    if district.quality in (Quality.OK, Quality.PARTIAL):
        return district.quality
    return Quality.INVALID


def _f(value: Any) -> float:
    return float(value) if value is not None else _NAN


def _sum(values: Any) -> float:
    terms = [_f(value) for value in values]
    return float(sum(terms))


def _kpi(kpis: BoundaryKpis | None, name: str) -> float:
    """A KPI of a boundary, NaN when the boundary or the KPI is missing."""
    return _f(kpis.get(name) if kpis is not None else None)
