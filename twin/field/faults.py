"""Faults of the simulated field's devices: from a fault plan on simulated time, or on command.

:class:`FaultPlayer` starts and ends the faults of :mod:`twin.field.plan` on the devices of
:class:`twin.field.servers.FieldServers`: ``stop`` and ``restart`` stop a device's server
(its port refuses connections) and start it again on the same port; ``hang``,
``exception``, ``not_implemented`` and ``absurd`` act in the device object. A unit behind
a gateway cannot stop its gateway's port: for ``stop``, ``hang`` and ``restart`` the
gateway answers Modbus exception 11 (gateway target failed to respond) for it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Generator
from typing import Any

import simpy
from pymodbus.constants import ExcCodes

from connectors.simdevice import Fault
from twin.core.errors import ConfigError
from twin.field.plan import FaultEntry
from twin.field.servers import FieldServers

__all__ = ["FaultPlayer"]

logger = logging.getLogger(__name__)

#: Faults that silence a device (its server, or for a unit behind a gateway its answers).
_SILENCING = ("stop", "hang", "restart")


class FaultPlayer:
    """The faults in effect on a field's devices and the timers that end them.

    Parameters
    ----------
    servers : FieldServers
        The served devices.
    stopped : threading.Event
        Set when the field stops: servers are left alone from then on.
    """

    def __init__(self, servers: FieldServers, stopped: threading.Event) -> None:
        self._servers = servers
        self._stopped = stopped
        self._faults: dict[str, str] = {}
        self._timers: list[threading.Timer] = []
        self._lock = threading.RLock()

    @property
    def faults(self) -> dict[str, str]:
        """Devices with a fault in effect and the fault."""
        return dict(self._faults)

    def process(self, env: simpy.Environment, entry: FaultEntry, speed: float) -> Generator[simpy.Event, Any, None]:
        """A simpy process that plays one entry of a fault plan (simulated or wall clock)."""
        scale = 1.0 if entry.clock == "simulated" else speed
        yield env.timeout(entry.at_s * scale)
        self.begin(entry)
        if entry.down_s is not None:
            yield env.timeout(entry.down_s * scale)
            self.end(entry)

    def inject(
        self, device_id: str, fault: str, *, duration_s: float | None = None, exception_code: int | None = None
    ) -> None:
        """Start a fault now; end it after ``duration_s`` wall seconds if given (see :meth:`Field.inject`).

        Raises
        ------
        ConfigError
            The field has no such device.
        """
        if device_id not in self._servers.devices:
            raise ConfigError(f"no device {device_id!r} in the field", field="device")
        entry = FaultEntry(device=device_id, fault=fault, duration_s=duration_s, exception_code=exception_code)  # type: ignore[arg-type]
        self.begin(entry)
        down_s = entry.down_s
        if down_s is not None:
            timer = threading.Timer(down_s, self.end, args=(entry,))
            timer.daemon = True
            with self._lock:
                self._timers.append(timer)
            timer.start()

    def clear(self, device_id: str) -> None:
        """End a device's fault, if it has one."""
        fault = self._faults.get(device_id)
        if fault is not None:
            self.end(FaultEntry(device=device_id, fault=fault))  # type: ignore[arg-type]

    def cancel_timers(self) -> None:
        """Cancel the timers of faults on command (the field stops)."""
        with self._lock:
            timers, self._timers = self._timers, []
        for timer in timers:
            timer.cancel()

    def begin(self, entry: FaultEntry) -> None:
        """Start a fault on its device."""
        served = self._servers.devices[entry.device]
        fault = entry.fault
        logger.info("fault %s on %s", fault, entry.device)
        with self._lock:
            self._faults[entry.device] = fault
        if served.spec.gateway is not None and fault in _SILENCING:
            # a gateway answers for a silent unit behind it
            served.device.inject(Fault.EXCEPTION, exception_code=ExcCodes.GATEWAY_NO_RESPONSE)
        elif fault in ("stop", "restart"):
            if not self._stopped.is_set():
                self._servers.stop_server(served)
        elif fault == "exception":
            served.device.inject(Fault.EXCEPTION, exception_code=entry.exception_code or ExcCodes.DEVICE_FAILURE)
        else:
            served.device.inject(Fault(fault))

    def end(self, entry: FaultEntry) -> None:
        """End a fault if it is still the device's fault."""
        served = self._servers.devices[entry.device]
        with self._lock:
            if self._faults.get(entry.device) != entry.fault:
                return
            del self._faults[entry.device]
        logger.info("fault %s on %s ends", entry.fault, entry.device)
        if entry.fault in ("stop", "restart") and served.spec.gateway is None:
            if not self._stopped.is_set():
                self._servers.start_server(served)
        else:
            served.device.clear_fault()
