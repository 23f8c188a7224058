"""The simulated field's devices on Modbus TCP: device objects, their servers and the clock.

:class:`FieldServers` builds a :class:`connectors.simdevice.SimulatedDevice` per
:class:`twin.field.layout.DeviceSpec`, serves them on 127.0.0.1 (one port per device; the
household meters of a building behind one gateway port) and the field clock on its own
port, all in one :class:`connectors.device_server.ServerLoopThread`, and describes them as
a site file (:class:`connectors.site.Site`). The device objects hold the registers and
the counters' last values, so a server can stop and start again on the same port without
losing them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from connectors.device_server import DeviceServer, ServerLoopThread
from connectors.maps import load_map
from connectors.simdevice import SimulatedDevice
from connectors.site import FieldClock, Site, SiteDevice
from twin.core.errors import ConnectorError
from twin.field.layout import DeviceSpec

__all__ = ["FieldServers", "ServedDevice"]

logger = logging.getLogger(__name__)

#: The grid frequency every device that measures one shows. [Hz]
FREQUENCY_HZ = 50.0
#: How long starting every server may take. [s]
START_TIMEOUT_S = 60.0


@dataclass
class ServedDevice:
    """A served device: its spec, its registers, its map's quantities, and its server."""

    spec: DeviceSpec
    device: SimulatedDevice
    quantities: frozenset[str]
    server: DeviceServer | None = None


class FieldServers:
    """Every device of a field and the field clock, each behind its Modbus TCP server.

    Parameters
    ----------
    host : str
        Interface every server binds.
    start_s : float
        Simulated start as UNIX time (the clock's ``sim_start_s``). [s]
    speed : float
        Simulated seconds per wall second (the clock's ``speed_factor``).
    """

    def __init__(self, *, host: str, start_s: float, speed: float) -> None:
        self.host = host
        self.start_s = start_s
        self.speed = speed
        self.devices: dict[str, ServedDevice] = {}
        self._servers: list[DeviceServer] = []
        self._clock: SimulatedDevice | None = None
        self._clock_server: DeviceServer | None = None
        self._loop: ServerLoopThread | None = None

    @property
    def n_ports(self) -> int:
        """Ports of the devices (without the clock's)."""
        return len(self._servers)

    def add(self, spec: DeviceSpec, on_write: Callable[[str, float], None] | None = None) -> ServedDevice:
        """Build the device of a spec (not served yet) with its static values."""
        register_map = load_map(spec.served_map or spec.map_name)
        quantities = frozenset(register_map.quantities)
        device = SimulatedDevice(
            register_map, unit_id=spec.unit_id, name=spec.id, static=spec.static, on_write=on_write
        )
        if "frequency_hz" in quantities:
            device.set_quantities({"frequency_hz": FREQUENCY_HZ})
        if "capacity_kwh" in quantities and spec.capacity_kwh is not None:
            device.set_quantities({"capacity_kwh": spec.capacity_kwh})
        served = ServedDevice(spec, device, quantities)
        self.devices[spec.id] = served
        return served

    def publish(self, values: Sequence[dict[str, float]]) -> None:
        """Set every device's values (in the order the devices were added)."""
        for served, device_values in zip(self.devices.values(), values, strict=True):
            served.device.set_quantities(device_values)

    @property
    def clock_read(self) -> bool:
        """Whether a client has read the clock device."""
        return self._clock is not None and self._clock.requests_served > 0

    def publish_clock(self, sim_time_s: float) -> None:
        """Set the clock's simulated time (UNIX time [s])."""
        if self._clock is not None:
            self._clock.set_quantities({"sim_time_s": sim_time_s})

    def serve(self) -> None:
        """Start the servers: one per device, one per gateway, one for the clock.

        Raises
        ------
        ConnectorError
            A server cannot bind its port (every server is stopped again).
        """
        groups: dict[str, list[ServedDevice]] = {}
        for served in self.devices.values():
            groups.setdefault(served.spec.gateway or served.spec.id, []).append(served)
        self._servers = []
        for key, members in groups.items():
            server = DeviceServer([m.device for m in members], host=self.host, name=key)
            for member in members:
                member.server = server
            self._servers.append(server)
        self._clock = SimulatedDevice(load_map("field_clock"), name="field clock")
        self._clock.set_quantities({"sim_start_s": self.start_s, "speed_factor": self.speed})
        self.publish_clock(self.start_s)
        self._clock_server = DeviceServer([self._clock], host=self.host, name="field clock")
        self._loop = ServerLoopThread(name="twin-device-servers-field")
        self._loop.start()
        try:
            self._loop.run(_start_all([*self._servers, self._clock_server]), timeout_s=START_TIMEOUT_S)
        except BaseException:
            self.stop()
            raise

    def stop_server(self, served: ServedDevice) -> None:
        """Stop a device's server (its port refuses connections); nothing after :meth:`stop`."""
        if self._loop is not None and served.server is not None:
            self._loop.run(served.server.stop())

    def start_server(self, served: ServedDevice) -> None:
        """Start a device's server again on its port; nothing after :meth:`stop`."""
        if self._loop is not None and served.server is not None:
            self._loop.run(_start_quietly(served.server))

    def stop(self) -> None:
        """Stop every server and the server thread; ports are free afterwards."""
        loop, self._loop = self._loop, None
        if loop is not None:
            servers = [*self._servers, *([self._clock_server] if self._clock_server else [])]
            try:
                loop.run(_stop_all(servers))
            finally:
                loop.stop()

    def site(self, *, name: str, start_utc: str, timezone: str) -> Site:
        """The site file's description of the served devices and the clock."""
        assert self._clock_server is not None, "serve() comes first"
        devices = []
        for served in self.devices.values():
            spec, server = served.spec, served.server
            assert server is not None
            devices.append(
                SiteDevice(
                    id=spec.id,
                    kind=spec.kind,
                    building=spec.building,
                    bus=spec.bus,
                    host=server.host,
                    port=server.port,
                    unit_id=spec.unit_id,
                    map=spec.map_name,
                    capacity_kwh=spec.capacity_kwh,
                    p_rated_kw=spec.p_rated_kw,
                    p_peak_kw=spec.p_peak_kw,
                )
            )
        return Site(
            name=name,
            start_utc=start_utc,
            speed=self.speed,
            timezone=timezone,
            clock=FieldClock(host=self._clock_server.host, port=self._clock_server.port),
            devices=tuple(devices),
        )


async def _start_all(servers: list[DeviceServer]) -> None:
    await asyncio.gather(*(server.start() for server in servers))


async def _stop_all(servers: list[DeviceServer]) -> None:
    await asyncio.gather(*(server.stop() for server in servers), return_exceptions=True)


async def _start_quietly(server: DeviceServer) -> None:
    try:
        await server.start()
    except ConnectorError as err:
        logger.warning("%s", err)
