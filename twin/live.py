"""The live twin: poll the site's devices, derive the balance and KPIs, keep the state store.

:class:`LiveTwin` wires :class:`connectors.poller.SitePoller` to the twin core: every tick (the
shortest polling interval, halved) it stamps the latest values with the field's simulated time, derives
the live balance (:func:`twin.core.balance.live_balance`), writes the snapshot atomically, and
feeds 1-minute and 15-minute means to the Zarr tables of the store (:mod:`twin.core.store`;
writes that fail are kept and tried again, :mod:`twin.live_store`). At the end of each
quarter-hour it turns the meters' import/export counters into the quarter's energy flows per
boundary, missing or estimated where readings are missing (:mod:`twin.live_flows`), and stores
them beside the means; a changed site file is read again (:mod:`twin.live_site`). The KPIs for
today and for the year so far (days and years of simulated time in the site's time zone) come from those
flows through :mod:`twin.core.kpi_totals` (the scenarios' formulas on running totals).
:func:`twin.importing.import_meter_data` back-fills the flows from meter data files (``twin import``).
:func:`twin.live_services.run_live` runs it beside the live power flow and the controller server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo

import numpy as np

from connectors.poller import SitePoller
from connectors.site import Site
from twin.core.balance import MeteredPower, live_balance
from twin.core.channels import Channel
from twin.core.errors import ConfigError
from twin.core.kpi import GEG_2024, CarrierFactors
from twin.core.kpi_totals import FlowTotals, flow_totals, kpis_from_totals
from twin.core.live_parts import Where, iso_utc, utc_time
from twin.core.live_state import (
    ENERGY_KPI_NAMES,
    SNAPSHOT_VERSION,
    Alert,
    BoundaryState,
    DeviceState,
    KpiPeriods,
    LiveSnapshot,
    StoreStatus,
)
from twin.core.retention import DEFAULT_KEEP_1MIN_DAYS, drop_old_rows
from twin.core.schema import SUBSTATION
from twin.core.store import READINGS_FILE, SNAPSHOT_FILE, MeanAccumulator, MeanTable, read_json
from twin.core.vocabulary import QUALITY_FLAGS, STEP_S, Quality
from twin.importing import METERS_FILE, site_meters
from twin.live_flows import COUNTED_FLOWS, LIVE_FLOWS, QuarterFlows, estimated_exchange, load_terms
from twin.live_history import stored_flows
from twin.live_site import DEFAULT_SITE_CHECK_S, SiteWatch
from twin.live_store import DEFAULT_RETRY_FIRST_S, DEFAULT_RETRY_MAX_S, StoreWriter

__all__ = ["KPI_NAMES", "METERS_FILE", "LiveTwin", "site_meters"]

logger = logging.getLogger(__name__)

#: KPIs the snapshot carries for today and the year so far, per boundary.
KPI_NAMES: Final[tuple[str, ...]] = ENERGY_KPI_NAMES
_POWER_OF_KIND: Final[dict[str, str]] = {
    "substation_meter": "p_meter_kw",
    "building_meter": "p_meter_kw",
    "household_meter": "p_kw",
}
_DT_H: Final[float] = STEP_S / 3600.0


class LiveTwin:
    """The live twin of one site, writing one store.

    Parameters
    ----------
    site : Site
        The validated site file.
    store_dir : str or Path
        The state store (the caller holds its :class:`~twin.core.store.StoreLock`).
    base_dir : str or Path, optional
        The site file's folder (map files are relative to it).
    factors : CarrierFactors, optional
        CO2 and primary-energy factors of the KPIs.
    status : callable, optional
        Receives the one-line status every ``status_every_s``.
    status_every_s : float, optional
        Wall time between two status lines. [s]
    kpi_every_s : float, optional
        Wall time between two KPI updates while no quarter-hour ends. [s]
    retry_first_s, retry_max_s : float, optional
        Back-off of store writes that failed: the first wait, doubling up to the longest. [s]
    max_pending_rows : mapping of str to int, optional
        Rows kept in memory per table while the store fails (default
        :data:`twin.live_store.DEFAULT_MAX_PENDING_ROWS`).
    site_file : str or Path, optional
        The site file, checked every ``site_check_s`` for changes (:class:`twin.live_site.SiteWatch`):
        devices that moved to new addresses are polled there. ``None``: not watched.
    site_check_s : float, optional
        Wall time between two checks of the site file. [s]
    keep_1min_days : float or None, optional
        Days of 1-minute means to keep (older rows are dropped once a simulated day); ``None``:
        keep them all. The 15-minute table is kept forever.
    """

    def __init__(
        self,
        site: Site,
        store_dir: str | Path,
        *,
        base_dir: str | Path | None = None,
        factors: CarrierFactors = GEG_2024,
        status: Callable[[str], None] | None = None,
        status_every_s: float = 5.0,
        kpi_every_s: float = 2.0,
        retry_first_s: float = DEFAULT_RETRY_FIRST_S,
        retry_max_s: float = DEFAULT_RETRY_MAX_S,
        max_pending_rows: Mapping[str, int] | None = None,
        site_file: str | Path | None = None,
        site_check_s: float = DEFAULT_SITE_CHECK_S,
        keep_1min_days: float | None = DEFAULT_KEEP_1MIN_DAYS,
    ) -> None:
        self.site = site
        self.keep_1min_days = keep_1min_days
        self._retained_day: int | None = None
        self.store_dir = Path(store_dir)
        self.base_dir = base_dir
        self.poller = SitePoller(site, base_dir=base_dir)
        self.site_watch = SiteWatch(site_file, site) if site_file is not None else None
        self.site_check_s = site_check_s
        self.factors = factors
        self.status = status
        self.status_every_s = status_every_s
        # half the shortest interval: a new value is in the snapshot within 1.5 intervals of its change
        shortest_s = min(state.interval_s for state in self.poller.states.values())
        self.tick_s = min(max(shortest_s / 2, 0.2), 5.0)
        self.means = {"1min": MeanAccumulator(60), "15min": MeanAccumulator(STEP_S)}
        tables = {name: MeanTable(self.store_dir, name, writable=True) for name in self.means}
        #: The store's tables and files: failed writes are kept in memory and tried again.
        retry = {"retry_first_s": retry_first_s, "retry_max_s": retry_max_s}
        self.store = StoreWriter(self.store_dir, tables, max_pending_rows=max_pending_rows, **retry)
        self.meters = site_meters(site)
        self.boundaries = [*sorted({b for b in self.meters.values() if b != SUBSTATION}), SUBSTATION]
        self.store.write_json(self.store_dir / METERS_FILE, self.meters)
        #: The quarters' energy flows from the counters and balance means, with their quality.
        self.flows = QuarterFlows(site, self.meters, self.boundaries)
        self._flow_index = {
            Channel.flow(boundary, flow).key: (i, j)
            for i, boundary in enumerate(self.boundaries)
            for j, flow in enumerate(LIVE_FLOWS)
        }
        self._flow_shape = (len(self.boundaries), len(LIVE_FLOWS))
        # quarter start -> (boundary, flow) energies and their quality flags, for the KPIs
        self._flows: dict[int, np.ndarray] = {}
        self._flow_flags: dict[int, np.ndarray] = {}
        self._matrix: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._next_kpis = 0.0
        self.kpi_every_s = kpi_every_s
        # totals of the stored quarters: of the year, and of the stored quarters of today
        self._closed_totals: tuple[tuple[int, float], FlowTotals, FlowTotals, np.ndarray, np.ndarray] | None = None
        # the year's KPIs and the site file's checks run here, off the event loop
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="twin-live-kpis")
        #: The store's timeline: its first quarter's start and the latest simulated time it holds. [s]
        self.timeline_start_s: float | None = None
        self.timeline_end_s: float | None = None
        self._timeline_checked = False
        #: Set when the store's timeline is later than the clock: nothing is written then.
        self.refused = False
        self._load_history(tables["15min"])
        previous = read_json(self.store_dir / SNAPSHOT_FILE, {})
        if isinstance(previous, dict) and isinstance(previous.get("sim_time_s"), int | float):
            self.timeline_end_s = max(self.timeline_end_s or -math.inf, float(previous["sim_time_s"]))
        self.kpis: dict[str, dict[str, dict[str, float | None]]] = {"today": {}, "year": {}}
        #: The latest snapshot (``None`` before the first tick).
        self.snapshot: LiveSnapshot | None = None
        self.flushes = 0
        #: Wall time (``time.time()``) of the newest good device read; NaN before the first. [s]
        self.updated_wall_s = math.nan
        #: Further snapshot sections (``grid``, ``controller``): name -> callable giving its content.
        self.sections: dict[str, Callable[[], Any]] = {}
        #: Called with every snapshot after it is written (MQTT, alerts); they must not raise.
        self.listeners: list[Callable[[LiveSnapshot], None]] = []
        #: Give further alerts of every snapshot (the PV drift file, :mod:`twin.live_drift`); they must not raise.
        self.alert_sources: list[Callable[[], list[Alert]]] = []

    # --- running ------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Poll and keep the store until ``stop`` is set; then flush and close everything."""
        await self.poller.start()
        next_status = time.monotonic() + min(self.status_every_s, 2.0)
        next_site_check = time.monotonic() + self.site_check_s
        try:
            while not stop.is_set():
                if self.site_watch is not None and time.monotonic() >= next_site_check:
                    site = await asyncio.get_running_loop().run_in_executor(self._executor, self.site_watch.check)
                    if site is not None:
                        await self.replace_site(site)
                    next_site_check = time.monotonic() + self.site_check_s
                self.tick()
                if self.status is not None and time.monotonic() >= next_status:
                    self.status(self.status_line())
                    next_status = time.monotonic() + self.status_every_s
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.tick_s)
        finally:
            await self.poller.stop()
            self.tick()
            self.close()

    async def replace_site(self, site: Site) -> None:
        """Poll the same devices as given by a changed site file (new addresses, maps, intervals).

        Values held so far stay, as fresh or stale as they were, until the first reads at the new
        addresses (:meth:`connectors.poller.SitePoller.adopt`).
        """
        poller = SitePoller(site, base_dir=self.base_dir)
        poller.adopt(self.poller)
        previous, self.poller, self.site = self.poller, poller, site
        await previous.stop()
        await poller.start()

    def close(self) -> None:
        """Write what the store still lacks, finish the year's KPIs (into the last snapshot), stop the worker thread.

        Rows that cannot be written even now are logged and left in :attr:`store` (``pending_rows()``).
        """
        if self.refused:  # the store stays as it was
            self._executor.shutdown(wait=True)
            return
        if not self.store.flush(force=True):
            logger.error(
                "store: %s row(s) could not be written before the stop (%s)",
                ", ".join(f"{rows} {name}" for name, rows in self.store.pending_rows().items() if rows) or "no",
                self.store.error,
            )
        if self.snapshot is not None:
            self.snapshot = self.snapshot.with_sections(kpis=KpiPeriods.of(self.kpis), **self._store_sections())
            self.store.write_snapshot(self.store_dir / SNAPSHOT_FILE, self.snapshot.to_json())
        self._executor.shutdown(wait=True)

    def tick(self) -> None:
        """Sample the devices, write the snapshot, and store the means of ended intervals."""
        if self.refused:
            return
        now_sim = self._check_timeline(self.poller.sim_now_s())
        now_wall = time.time()
        sample: dict[str, float | None] = {}
        flags: dict[str, int] = {}
        powers: list[MeteredPower] = []
        devices = self._sample_devices(now_wall, sample, flags, powers)
        balance = live_balance(powers)
        for boundary, terms in balance.items():
            for name, term in terms.as_dict().items():
                if name.endswith("_kw") and not isinstance(term, str):
                    # the means take valid readings only: held values of silent devices are not measurements
                    flag = terms.flag(name)  # each term as good as its own inputs; a partial sum is not stored
                    ok = term is not None and flag == QUALITY_FLAGS["ok"]
                    channel = Channel.balance(boundary, name).key
                    sample[channel] = float(term) if ok and term is not None else None
                    flags[channel] = QUALITY_FLAGS["missing"] if flag == Quality.PARTIAL else flag
        if any(value is not None for value in sample.values()):  # nothing read yet: no empty interval
            for accumulator in self.means.values():
                accumulator.add(now_sim, sample, flags)
        self._store_means(now_sim)  # an open interval is not stored: its means are partial
        self._drop_old_minutes(now_sim)
        states = {boundary: BoundaryState.of(terms) for boundary, terms in balance.items()}
        self._update_kpis(now_sim, sample, balance_kw=states)
        failing = self.poller.failing()
        field_clock = self.poller.clock.sim_s is not None
        sections: dict[str, Any] = {name: section() for name, section in self.sections.items()}
        self.snapshot = LiveSnapshot(
            version=SNAPSHOT_VERSION,
            site=self.site.name,
            timezone=self.site.timezone,
            written_utc=utc_time(now_wall),
            sim_time_utc=utc_time(now_sim),
            sim_time_s=now_sim,
            timeline_start_utc=utc_time(self.timeline_start_s if self.timeline_start_s is not None else now_sim),
            clock="field" if field_clock else "wall",
            speed=self.poller.clock.speed if field_clock else 1.0,
            devices_total=len(devices),
            devices_ok=len(devices) - len(failing),
            failing=tuple(failing),
            devices=devices,
            balance=states,
            kpis=KpiPeriods.of(self.kpis),
            **self._store_sections(),
            **sections,
        )
        self.store.write_snapshot(self.store_dir / SNAPSHOT_FILE, self.snapshot.to_json())
        for listener in self.listeners:  # listeners catch their own failures: they never stop the live twin
            listener(self.snapshot)

    def _sample_devices(
        self, now_wall: float, sample: dict[str, float | None], flags: dict[str, int], powers: list[MeteredPower]
    ) -> dict[str, DeviceState]:
        """Every device's state now; fills the sample and flags of its channels and the metered powers."""
        now_mono = time.monotonic()
        devices: dict[str, DeviceState] = {}
        newest_wall = self.updated_wall_s
        for device_id, state in self.poller.states.items():
            quality = self.poller.quality(device_id, now_mono)
            device = state.device
            for name, value in state.values.items():
                channel = Channel.device(device_id, name).key
                sample[channel] = value if quality.get(name) == QUALITY_FLAGS["ok"] else None
                self.flows.see(channel, state.good_sim_s.get(name), sample[channel])
                flags[channel] = quality.get(name, QUALITY_FLAGS["missing"])
            power = _POWER_OF_KIND.get(device.kind, "p_kw")
            if device.kind not in ("gas_meter", "weather_station"):  # no power to balance
                powers.append(
                    MeteredPower(
                        device_id,
                        device.kind,
                        device.building,
                        state.values.get(power),
                        quality.get(power, QUALITY_FLAGS["missing"]),
                    )
                )
            good = list(state.good_wall_s.values())
            if good:
                newest_wall = max(newest_wall, max(good)) if math.isfinite(newest_wall) else max(good)
            devices[device_id] = DeviceState(
                kind=device.kind,
                building=device.building,
                ok=state.last_read_ok,
                error=state.error,
                values=dict(state.values),
                quality={name: Quality(flag) for name, flag in quality.items()},
                read_utc=utc_time(max(state.good_sim_s.values())) if state.good_sim_s else None,
                read_wall_utc=utc_time(min(good)) if good else None,
                age_s=round(now_wall - min(good), 3) if good else None,
            )
        self.updated_wall_s = newest_wall
        return devices

    def status_line(self) -> str:
        """One line: time, devices ok / failing, district balance (marked when stale), today's energy, store failure."""
        snap = self.snapshot
        failing = list(snap.failing) if snap is not None else []
        names = ", ".join(failing[:5]) + (f" +{len(failing) - 5}" if len(failing) > 5 else "")
        district = snap.district if snap is not None else None
        today = KpiPeriods.of(self.kpis).today.get(SUBSTATION)

        def kw(name: str) -> str:
            value = district.term(name) if district is not None else None
            return "?" if value is None else f"{value:+.1f}"

        def kwh(name: str) -> str:
            value = today.get(name) if today is not None else None
            return "?" if value is None else f"{value:.0f}"

        counts = "?/?" if snap is None else f"{_count(snap.devices_ok)}/{_count(snap.devices_total)}"
        stale = ""
        if snap is not None and district is not None and district.quality is Quality.STALE:
            # held values of devices that stopped answering: said so, with their age
            ages = [a for d in failing if d in snap.devices and (a := snap.devices[d].age_s) is not None]
            stale = f"(stale: last good read {max(ages):.0f} s ago) " if ages else "(stale) "
        sums = ""
        if district is not None and district.quality is Quality.PARTIAL:
            # the grid exchange is measured; the sums over the buildings lack some inputs
            missing = district.inputs_missing
            sums = f"partial ({missing} missing): " if missing is not None else "partial: "
        when = Where.iso(snap.sim_time_utc) if snap is not None else None
        return (
            f"{(when or '?')[:19]}Z devices {counts} ok"
            + (f", failing: {names}" if failing else "")
            + f" | grid {stale}{kw('p_grid_kw')} kW ({sums}PV {kw('p_pv_kw')}, load {kw('p_load_kw')},"
            f" heat pumps {kw('p_heat_pump_kw')},"
            f" EVs {kw('p_ev_kw')}, batteries {kw('p_battery_kw')}, losses {kw('p_loss_kw')})"
            f" | today import {kwh('import_kwh')} kWh, export {kwh('export_kwh')} kWh"
            + (f" | STORE FAILING: {failure}" if (failure := self.store.error or self.store.snapshot_error) else "")
        )

    # --- store and KPIs -----------------------------------------------------------------

    def _store_sections(self) -> dict[str, Any]:
        """The snapshot's ``store`` (committed rows per table), ``store_status`` and ``alerts``."""
        alerts = [Alert(entry["level"], entry["text"]) for entry in self.store.alerts()]
        if self.site_watch is not None and self.site_watch.problem:
            alerts.append(Alert("warn", self.site_watch.problem))
        alerts += [alert for source in self.alert_sources for alert in source()]
        return {
            "store": dict(self.store.rows),
            "store_status": StoreStatus.from_json(self.store.status(), Where(None, "store_status")),
            "alerts": tuple(alerts),
        }

    def _store_means(self, now_sim: float | None) -> None:
        for name, accumulator in self.means.items():
            times, values, flags = accumulator.pop_complete(now_sim)
            if not times.size:
                continue
            earlier: dict[int, dict[str, float]] = {}
            if name == "15min":
                batch = self.flows.compute(times, values, read_json(self.store_dir / READINGS_FILE, {}))
                values.update(batch.values)
                flags.update(batch.flags)
                for row, start in enumerate(times.tolist()):
                    self._set_flows(
                        int(start),
                        {channel: column[row] for channel, column in batch.values.items()},
                        {channel: column[row] for channel, column in batch.flags.items()},
                    )
                earlier = batch.earlier
                self._matrix = None
            self.store.append(name, times, values, flags)
            if earlier:  # a gap's share of the energy, for quarters stored before (the table merges them)
                starts = sorted(earlier)
                channels = sorted({channel for flows in earlier.values() for channel in flows})
                estimated = QUALITY_FLAGS["estimated"]
                for start in starts:
                    self._set_flows(start, earlier[start], dict.fromkeys(earlier[start], estimated))
                self.store.append(
                    "15min",
                    np.asarray(starts, dtype=np.int64),
                    {c: np.array([earlier[t].get(c, np.nan) for t in starts]) for c in channels},
                    {
                        c: np.array([estimated if c in earlier[t] else QUALITY_FLAGS["missing"] for t in starts])
                        for c in channels
                    },
                )
            self.flushes += 1
        self.store.flush()  # rows kept while the store failed, when the back-off allows

    def _set_flows(self, start: int, values: dict[str, float], flags: dict[str, int]) -> None:
        """Keep a quarter's flows (the given channels) and their flags for the KPIs."""
        row = self._flows.setdefault(start, np.full(self._flow_shape, np.nan))
        quality = self._flow_flags.setdefault(start, np.full(self._flow_shape, QUALITY_FLAGS["missing"], dtype=np.int8))
        for channel, value in values.items():
            index = self._flow_index.get(channel)
            if index is not None:
                row[index] = value
                quality[index] = flags.get(
                    channel, QUALITY_FLAGS["ok"] if math.isfinite(value) else QUALITY_FLAGS["missing"]
                )

    def _drop_old_minutes(self, now_sim: float) -> None:
        """Once a simulated day: drop the 1-minute rows older than ``keep_1min_days``."""
        day = int(now_sim // 86_400)
        if self.keep_1min_days is None or day == self._retained_day:
            return
        self._retained_day = day
        try:
            done = drop_old_rows(self.store_dir, now_sim - self.keep_1min_days * 86_400)
        except (OSError, ConfigError) as err:  # the means and the snapshot matter more than the cleanup
            logger.warning("1-minute retention failed (retried tomorrow): %s", err)
            return
        if done.rows_dropped or done.files_deleted:
            logger.info(
                "1-minute retention: %d row(s) dropped, %d file(s) (%d bytes) deleted",
                done.rows_dropped,
                done.files_deleted,
                done.bytes_freed,
            )

    def _flow_row(self, flows: dict[str, float]) -> np.ndarray:
        """Flows of one quarter as a (boundary, flow) array, NaN where unknown."""
        row = np.full((len(self.boundaries), len(LIVE_FLOWS)), np.nan)
        for channel, value in flows.items():
            index = self._flow_index.get(channel)
            if index is not None:
                row[index] = value
        return row

    def _update_kpis(
        self, now_sim: float, sample: dict[str, float | None], *, balance_kw: Mapping[str, BoundaryState]
    ) -> None:
        """KPIs of today and the year so far: stored quarters plus the open one (from the counters now).

        Recomputed when a quarter was stored, else at most every ``kpi_every_s`` of wall time.
        """
        if self._matrix is not None and time.monotonic() < self._next_kpis:
            return
        self._next_kpis = time.monotonic() + self.kpi_every_s
        open_start = int(now_sim // STEP_S) * STEP_S
        open_flows: dict[str, float] = {}
        elapsed_h = (now_sim - open_start) / 3600.0
        for meter, boundary in self.meters.items():
            for flow, counter in (("import_kwh", "energy_import_kwh"), ("export_kwh", "energy_export_kwh")):
                channel = Channel.device(meter, counter).key
                now_value, end = sample.get(channel), self.flows.last_kwh.get(channel)
                open_flows[Channel.flow(boundary, flow).key] = (
                    max(now_value - end, 0.0) if now_value is not None and end is not None else math.nan
                )
        for boundary, terms in balance_kw.items():
            # the open quarter's load and PV so far: a missing term adds nothing (the stored quarters have their flags)
            load = sum(max(terms.term(t) or 0.0, 0.0) for t in load_terms(boundary))
            open_flows[Channel.flow(boundary, "load_kwh").key] = load * elapsed_h
            pv_kw = terms.p_pv_kw
            open_flows[Channel.flow(boundary, "generation_kwh").key] = max(-(pv_kw or 0.0), 0.0) * elapsed_h
            open_flows[Channel.flow(boundary, "fuel_kwh").key] = 0.0
            battery = (terms.p_battery_kw or 0.0) + (terms.p_community_battery_kw or 0.0)
            open_flows[Channel.flow(boundary, "battery_charge_kwh").key] = max(battery, 0.0) * elapsed_h
            open_flows[Channel.flow(boundary, "battery_discharge_kwh").key] = max(-battery, 0.0) * elapsed_h
        local = datetime.fromtimestamp(now_sim, UTC).astimezone(ZoneInfo(self.site.timezone))
        day_start = local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
        year_start = local.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0).timestamp()
        if self._matrix is None or (self._matrix[0].size and self._matrix[0][0] < year_start):
            self._flows = {start: flows for start, flows in self._flows.items() if start >= year_start}
            self._flow_flags = {start: self._flow_flags[start] for start in self._flows}
            stored = sorted(self._flows)
            matrix = np.stack([self._flows[t] for t in stored]) if stored else np.zeros((0, *self._flow_shape))
            quality = (
                np.stack([self._flow_flags[t] for t in stored])
                if stored
                else np.zeros((0, *self._flow_shape), dtype=np.int8)
            )
            self._matrix = (np.asarray(stored, dtype=np.int64), matrix, quality)
            self._closed_totals = None
        times, matrix, quality = self._matrix
        closed = times < open_start
        open_row = self._flow_row(open_flows)
        if self._closed_totals is None or self._closed_totals[0] != (open_start, day_start):
            # totals of the stored quarters, once per stored quarter: the open quarter adds to both
            in_year, in_today = closed & (times >= year_start), closed & (times >= day_start)
            self._closed_totals = (
                (open_start, day_start),
                flow_totals(matrix[in_year], LIVE_FLOWS, estimated_exchange(quality[in_year])),
                flow_totals(matrix[in_today], LIVE_FLOWS, estimated_exchange(quality[in_today])),
                self._estimated(matrix[in_year], quality[in_year]),
                self._estimated(matrix[in_today], quality[in_today]),
            )
        _, year, today, year_estimated, today_estimated = self._closed_totals
        open_totals = flow_totals(open_row[None], LIVE_FLOWS)
        self.kpis["today"] = self._kpis(today.plus(open_totals), today_estimated)
        self.kpis["year"] = self._kpis(year.plus(open_totals), year_estimated)

    def _estimated(self, matrix: np.ndarray, quality: np.ndarray) -> np.ndarray:
        """Energy [kWh] of the counted flows flagged estimated, per boundary."""
        counted = [LIVE_FLOWS.index(flow) for flow in COUNTED_FLOWS]
        part = matrix[:, :, counted]
        return np.nansum(np.where(quality[:, :, counted] == QUALITY_FLAGS["estimated"], part, 0.0), axis=(0, 2))

    def _kpis(self, totals: FlowTotals, estimated: np.ndarray) -> dict[str, dict[str, float | None]]:
        """KPIs per boundary of quarters' totals, with the estimated energy and the quarters without import."""
        kpis = kpis_from_totals(totals, dt_h=_DT_H, factors=self.factors)
        out: dict[str, dict[str, float | None]] = {}
        for index, boundary in enumerate(self.boundaries):
            out[boundary] = {name: _number(kpis[name][index]) for name in KPI_NAMES if name in kpis}
            out[boundary]["quarters"] = float(totals.quarters)
            out[boundary]["estimated_energy_kwh"] = float(estimated[index])
            out[boundary]["missing_quarters"] = float(totals.missing[index])
        return out

    def _check_timeline(self, now_sim: float) -> float:
        """Refuse a clock earlier than the store's timeline (once, when the field's clock is known); pass it on.

        Raises
        ------
        ConfigError
            Simulated time would go back in the store.
        """
        if self._timeline_checked or (self.poller.clock.sim_s is None and self.site.clock is not None):
            return now_sim
        self._timeline_checked = True
        if self.timeline_end_s is not None and now_sim < self.timeline_end_s - 1.0:
            self.refused = True
            raise ConfigError(
                f"its timeline runs to {iso_utc(self.timeline_end_s)} but the clock is at {iso_utc(now_sim)}"
                " (time cannot go back in a store): use a new store, or start the field after it"
                f" (twin field --start {iso_utc(self.timeline_end_s)})",
                file=str(self.store_dir),
            )
        if self.timeline_start_s is None:
            self.timeline_start_s = now_sim
        return now_sim

    def _load_history(self, table: MeanTable) -> None:
        """Take the year's stored flows (a back-filled year: millions of values, all at once) and last readings."""
        if table.rows == 0:
            return
        ds = table.read()
        channels = [str(c) for c in ds["channel"].values]
        values, quality = ds["value"].values, ds["quality"].values
        starts = ds["time"].values.astype("datetime64[s]").astype(np.int64)
        if starts.size:
            self.timeline_start_s, self.timeline_end_s = float(starts.min()), float(starts.max() + STEP_S)
        counters = set(self.flows.counters)
        for index, channel in enumerate(channels):
            if channel in counters:
                self.flows.take_history(channel, starts, values[:, index])
        for start, flows, flags in stored_flows(channels, values, quality, starts, self._flow_index, self._flow_shape):
            self._flows[start], self._flow_flags[start] = flows, flags


def _number(value: Any) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None


def _count(value: int | None) -> str:
    return "?" if value is None else str(value)
