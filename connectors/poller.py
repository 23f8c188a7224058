"""Poll every device of a site file at once: per-device schedules, shared connections, quality.

:class:`SitePoller` reads a :class:`~connectors.site.Site`: one asyncio task per device, each on
its own interval, timeout and retries (the site's defaults unless the device says otherwise).
Devices that answer at the same host and port (a gateway with unit ids) share one
:class:`~connectors.polling.ModbusConnection` and take turns, one request in flight; every other
device has its own connection, so a dead or hanging device delays nobody but the devices behind
its own gateway. Connections reconnect with exponential back-off.

Each value carries a quality flag (``twin.core.schema.QUALITY_FLAGS``):

* ``ok``: the last good value is at most ``stale_intervals`` polling intervals old (a failed
  read in between keeps the last good value, so a one-off timeout does not flicker);
* ``stale``: the last good value is older than that (the device stopped answering);
* ``missing``: no good value yet;
* ``invalid``: the last read gave a value outside the map's physical range or "not implemented".

Time: with a clock device in the site file (the simulated field's ``field_clock``), readings are
stamped with the field's simulated time, extrapolated between clock reads with the speed factor;
without one, with wall-clock UTC.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Final

from connectors.maps import RegisterMap, load_map
from connectors.polling import DeviceReader, ModbusConnection, Reading, power_limit_kw
from connectors.site import FieldClock, Site, SiteDevice
from twin.core.errors import ConfigError, ConnectorError
from twin.core.schema import QUALITY_FLAGS

__all__ = ["CLOCK_STALE_MAX_WALL_S", "DEFAULT_STALE_INTERVALS", "DeviceState", "SimClock", "SitePoller"]

logger = logging.getLogger(__name__)

#: A value is stale when its last good read is older than this many polling intervals.
DEFAULT_STALE_INTERVALS: Final[float] = 3.0
#: A clock reading this much (wall time) behind the running simulated time is taken as stale, not as a jump. [s]
CLOCK_STALE_MAX_WALL_S: Final[float] = 0.25

_OK: Final[int] = QUALITY_FLAGS["ok"]
_STALE: Final[int] = QUALITY_FLAGS["stale"]
_MISSING: Final[int] = QUALITY_FLAGS["missing"]
_INVALID: Final[int] = QUALITY_FLAGS["invalid"]
_STOP_TIMEOUT_S: Final[float] = 10.0


@dataclass
class DeviceState:
    """What the poller knows about one device.

    Parameters
    ----------
    device : SiteDevice
        The device as the site file lists it.
    interval_s : float
        Its polling interval. [s]
    """

    device: SiteDevice
    interval_s: float
    values: dict[str, float | None] = field(default_factory=dict)
    last_flag: dict[str, int] = field(default_factory=dict)
    good_mono_s: dict[str, float] = field(default_factory=dict)
    good_sim_s: dict[str, float] = field(default_factory=dict)
    good_wall_s: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    reads: int = 0
    failed_reads: int = 0
    last_read_ok: bool = False
    last_duration_s: float = 0.0

    def quality(self, now_mono_s: float, stale_after_s: float) -> dict[str, int]:
        """Quality flag of every value at ``now_mono_s`` (``time.monotonic()``)."""
        flags = {}
        for name, flag in self.last_flag.items():
            if flag == _INVALID:
                flags[name] = _INVALID
            elif name in self.good_mono_s:
                flags[name] = _OK if now_mono_s - self.good_mono_s[name] <= stale_after_s else _STALE
            else:
                flags[name] = _MISSING
        return flags

    def update(self, reading: Reading, *, mono_s: float, sim_s: float, wall_s: float) -> None:
        """Take in one reading: good values replace the held ones, failed ones keep them."""
        self.reads += 1
        self.last_duration_s = reading.duration_s
        self.error = reading.error
        # a quantity the device has never delivered (not implemented) does not make it fail
        lying = [name for name, flag in reading.quality.items() if flag == _INVALID and name in self.good_mono_s]
        missing = [name for name, flag in reading.quality.items() if flag == _MISSING]
        self.last_read_ok = not lying and not missing and reading.error is None
        if lying and self.error is None:
            self.error = f"{self.device.id}: invalid {', '.join(lying)}"
        if not self.last_read_ok:
            self.failed_reads += 1
        for name, flag in reading.quality.items():
            self.last_flag[name] = flag
            if flag == _OK:
                self.values[name] = reading.values[name]
                self.good_mono_s[name] = mono_s
                self.good_sim_s[name] = sim_s
                self.good_wall_s[name] = wall_s
            elif flag == _INVALID:
                self.values[name] = reading.values[name]
            else:
                self.values.setdefault(name, None)


@dataclass
class SimClock:
    """Simulated time from the field's clock device, extrapolated between reads.

    Without a clock reading it is wall-clock UTC (``time.time()``). A clock register is never
    ahead of the field's time, only behind (the field sets it every tick, the answer waits in a
    busy event loop): a reading up to :data:`CLOCK_STALE_MAX_WALL_S` of wall time (at the clock's
    speed) behind the running time leaves it running; one further behind starts it again there
    (the field slowed down or started anew), one ahead moves it forward.
    """

    sim_s: float | None = None
    mono_s: float = 0.0
    speed: float = 1.0
    start_s: float | None = None

    def now_s(self) -> float:
        """Simulated now, seconds since 1970-01-01 UTC."""
        if self.sim_s is None:
            return time.time()
        return self.sim_s + (time.monotonic() - self.mono_s) * self.speed

    def set(self, reading: Reading) -> bool:
        """Take a clock reading (``sim_time_s``, ``sim_start_s``, ``speed_factor``); True if it was good."""
        sim_s = reading.values.get("sim_time_s")
        if reading.quality.get("sim_time_s") != _OK or sim_s is None:
            return False
        speed = reading.values.get("speed_factor")
        if reading.quality.get("speed_factor") == _OK and speed is not None and speed > 0:
            self.speed = float(speed)
        start = reading.values.get("sim_start_s")
        if reading.quality.get("sim_start_s") == _OK and start:
            self.start_s = float(start)
        # the answer left the device about half a round trip ago
        mono_s = time.monotonic() - reading.duration_s / 2
        if self.sim_s is not None:
            behind_s = self.sim_s + (mono_s - self.mono_s) * self.speed - float(sim_s)
            if 0.0 <= behind_s <= CLOCK_STALE_MAX_WALL_S * self.speed:
                return True  # a stale reading: the running time is closer
        self.mono_s, self.sim_s = mono_s, float(sim_s)
        return True


class SitePoller:
    """Poll all devices of a site concurrently.

    Parameters
    ----------
    site : Site
        The validated site file.
    base_dir : str or Path, optional
        Folder that map files in the site file are relative to (the site file's folder).
    stale_intervals : float, optional
        A value is stale after this many of its device's intervals without a good read.
    reconnect_delay_s, reconnect_delay_max_s : float, optional
        Back-off of the connections. [s]

    Examples
    --------
    >>> poller = SitePoller(load_site("site.yaml"), base_dir=".")  # doctest: +SKIP
    >>> await poller.start(); ...; await poller.stop()  # doctest: +SKIP
    """

    def __init__(
        self,
        site: Site,
        *,
        base_dir: str | Path | None = None,
        stale_intervals: float = DEFAULT_STALE_INTERVALS,
        reconnect_delay_s: float = 0.5,
        reconnect_delay_max_s: float = 10.0,
    ) -> None:
        self.site = site
        self.stale_intervals = stale_intervals
        self.clock = SimClock(speed=site.speed or 1.0)
        base = Path(base_dir) if base_dir is not None else Path()
        self.connections: dict[tuple[str, int], ModbusConnection] = {}
        self.readers: dict[str, DeviceReader] = {}
        self.states: dict[str, DeviceState] = {}
        maps: dict[str, RegisterMap] = {}
        for index, device in enumerate(site.devices):
            register_map = self._map(maps, device.map, base, f"devices[{index}].map")
            connection = self._connection(device, reconnect_delay_s, reconnect_delay_max_s)
            self.readers[device.id] = DeviceReader(
                connection,
                register_map,
                unit_id=device.unit_id,
                name=device.id,
                p_limit_kw=power_limit_kw(device.p_rated_kw, device.p_peak_kw),
            )
            self.states[device.id] = DeviceState(device, float(site.setting(device, "interval_s")))
        self._clock_reader: DeviceReader | None = None
        if site.clock is not None:
            clock: FieldClock = site.clock
            clock_map = self._map(maps, clock.map, base, "clock.map")
            connection = self._connection(clock, reconnect_delay_s, reconnect_delay_max_s)
            self._clock_reader = DeviceReader(connection, clock_map, unit_id=clock.unit_id, name="field clock")
        self._tasks: list[asyncio.Task[None]] = []
        self._running = False
        self.polls: int = 0

    # --- running ------------------------------------------------------------------------

    async def start(self) -> None:
        """Start one polling task per device (and the clock); returns at once."""
        if self._tasks:
            return
        self._running = True
        count = len(self.states)
        if self._clock_reader is not None:
            await self._read_clock()  # stamp the first readings with simulated time
            self._tasks.append(asyncio.create_task(self._poll_clock(), name="poll:clock"))
        for index, device_id in enumerate(self.states):
            offset = index / max(count, 1)  # spread the devices over the interval
            self._tasks.append(asyncio.create_task(self._poll_device(device_id, offset), name=f"poll:{device_id}"))

    async def stop(self) -> None:
        """Cancel the polling tasks and close every connection (nothing is left running).

        Python 3.11's ``asyncio.wait_for`` (inside pymodbus) can swallow a cancellation that
        races with a finishing request, so the tasks also check a flag and are cancelled again
        until they end, for a bounded time.
        """
        self._running = False
        tasks, self._tasks = self._tasks, []
        deadline = time.monotonic() + _STOP_TIMEOUT_S
        pending = set(tasks)
        while pending and time.monotonic() < deadline:
            for task in pending:
                task.cancel()
            _, pending = await asyncio.wait(pending, timeout=0.2)
        if pending:
            logger.warning("%d polling task(s) did not stop within %.0f s", len(pending), _STOP_TIMEOUT_S)
        await asyncio.gather(*(task for task in tasks if task.done()), return_exceptions=True)
        for connection in self.connections.values():
            connection.close()
        if self._clock_reader is not None:
            self._clock_reader.connection.close()

    def adopt(self, previous: SitePoller) -> None:
        """Carry over what a poller of the same devices knew: held values, their read times and flags, the clock.

        For a poller built from a changed site file (the devices moved to new addresses):
        values stay exactly as fresh or as stale as they were until the first reads at the new
        addresses. Call it before :meth:`start`.
        """
        for device_id, state in self.states.items():
            old = previous.states.get(device_id)
            if old is None:
                continue
            self.states[device_id] = replace(
                old,
                device=state.device,
                interval_s=state.interval_s,
                values=dict(old.values),
                last_flag=dict(old.last_flag),
                good_mono_s=dict(old.good_mono_s),
                good_sim_s=dict(old.good_sim_s),
                good_wall_s=dict(old.good_wall_s),
            )
        if previous.clock.sim_s is not None:
            self.clock = replace(previous.clock)
        self.polls = previous.polls

    # --- state --------------------------------------------------------------------------

    def sim_now_s(self) -> float:
        """Return the twin's time now: simulated (clock device) or wall UTC, s since 1970 UTC."""
        return self.clock.now_s()

    def quality(self, device_id: str, now_mono_s: float | None = None) -> dict[str, int]:
        """Quality flags of a device's values now."""
        state = self.states[device_id]
        now = time.monotonic() if now_mono_s is None else now_mono_s
        return state.quality(now, self.stale_intervals * state.interval_s)

    def failing(self) -> list[str]:
        """Devices whose last read failed or gave invalid values it used to give good, in site order."""
        return [device_id for device_id, state in self.states.items() if not state.last_read_ok]

    async def write(self, device_id: str, quantity: str, value: float, *, tolerance: float | None = None) -> float:
        """Write a value (e.g. a battery setpoint) and read it back to confirm.

        Parameters
        ----------
        device_id : str
            Device id from the site file.
        quantity : str
            A writable quantity of its map, e.g. ``"p_setpoint_kw"`` (load-positive).
        value : float
            In the quantity's unit.
        tolerance : float, optional
            Largest accepted difference of the read-back value (default 0.1 % of the value, at
            least 0.01).

        Returns
        -------
        float
            The value the device reports after the write.

        Raises
        ------
        ConnectorError
            Unknown device, refused or unanswered write, or a read-back that differs.
        """
        if device_id not in self.readers:
            raise ConnectorError(f"unknown device {device_id!r}")
        reader = self.readers[device_id]
        if quantity not in reader.register_map.quantities:
            raise ConnectorError(f"{device_id}: no quantity {quantity!r} in map {reader.register_map.name}")
        try:
            await reader.write(quantity, value)
        except ConnectorError as err:
            message = str(err) if str(err).startswith(device_id) else f"{device_id}: {err}"
            raise ConnectorError(f"{message} (writing {quantity} = {value})") from err
        confirm = DeviceReader(
            reader.connection, reader.register_map, unit_id=reader.unit_id, name=device_id, quantities=[quantity]
        )
        reading = await confirm.read()
        back = reading.values.get(quantity)
        limit = tolerance if tolerance is not None else max(0.01, abs(value) * 1e-3)
        if back is None or reading.quality.get(quantity) != _OK or abs(back - value) > limit:
            raise ConnectorError(f"{device_id}: wrote {quantity} = {value}, device reports {back} ({reading.error})")
        return float(back)

    # --- private ------------------------------------------------------------------------

    def _connection(self, device: SiteDevice | FieldClock, delay_s: float, delay_max_s: float) -> ModbusConnection:
        key = (device.host, device.port)
        timeout_s = (
            float(self.site.setting(device, "timeout_s"))
            if isinstance(device, SiteDevice)
            else float(self.site.defaults.timeout_s)
        )
        retries = (
            int(self.site.setting(device, "retries"))
            if isinstance(device, SiteDevice)
            else int(self.site.defaults.retries)
        )
        connection = self.connections.get(key)
        if connection is None:
            connection = ModbusConnection(
                device.host,
                device.port,
                timeout_s=timeout_s,
                retries=retries,
                reconnect_delay_s=delay_s,
                reconnect_delay_max_s=delay_max_s,
            )
            self.connections[key] = connection
        else:  # a gateway: the most patient device sets the connection's timeout
            connection.timeout_s = max(connection.timeout_s, timeout_s)
            connection.retries = max(connection.retries, retries)
        return connection

    @staticmethod
    def _map(cache: dict[str, RegisterMap], name: str, base: Path, field_name: str) -> RegisterMap:
        path = base / name
        key = str(path) if path.suffix else name
        if key not in cache:
            try:
                cache[key] = load_map(path if path.suffix else name)
            except ConfigError as err:
                raise ConfigError(str(err), field=field_name) from err
        return cache[key]

    async def _read_device(self, device_id: str) -> None:
        reading = await self.readers[device_id].read()
        self.states[device_id].update(reading, mono_s=time.monotonic(), sim_s=self.clock.now_s(), wall_s=time.time())
        self.polls += 1
        if not reading.ok:
            logger.debug("%s: %s", device_id, reading.error)

    async def _read_clock(self) -> None:
        assert self._clock_reader is not None
        reading = await self._clock_reader.read()
        if not self.clock.set(reading):
            logger.debug("field clock: %s", reading.error)

    async def _poll_device(self, device_id: str, offset: float) -> None:
        interval = self.states[device_id].interval_s
        await self._periodic(lambda: self._read_device(device_id), interval, offset * interval)

    async def _poll_clock(self) -> None:
        await self._periodic(self._read_clock, float(self.site.defaults.interval_s), 0.0, first_now=False)

    async def _periodic(
        self, read: Callable[[], Awaitable[None]], interval: float, delay: float, *, first_now: bool = True
    ) -> None:
        loop = asyncio.get_running_loop()
        next_t = loop.time() + (delay if first_now else interval)
        while self._running:
            await asyncio.sleep(max(0.0, next_t - loop.time()))
            with contextlib.suppress(ConnectorError):
                await read()
            now = loop.time()
            next_t += interval
            if next_t <= now:  # a slow read: skip the ticks it missed, keep the phase
                next_t += math.ceil((now - next_t) / interval) * interval
