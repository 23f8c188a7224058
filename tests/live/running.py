"""A small simulated field whose clock and counters run, and a live twin on it in the test's event loop.

The field's devices are served by a :class:`~connectors.device_server.ServerLoopThread`; the
test's loop runs :class:`twin.live.LiveTwin` and a task that plays the field's simpy loop
(simulated time runs at ``SPEED``, meters count). Every wait is bounded by a deadline.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from connectors.device_server import DeviceServer, ServerLoopThread
from connectors.maps import load_map
from connectors.simdevice import SimulatedDevice
from tests.connectors.small_field import SmallField, small_field
from twin.live import LiveTwin

START_S = 1_748_772_000.0  # 2025-06-01T10:00:00Z
SPEED = 900.0  # a quarter-hour in 1 s
#: Energy every meter counts per driver step (20 steps a second). [kWh]
STEP_KWH = 0.05
WAIT_S = 10.0


@dataclass
class RunningField:
    """The field, its clock device and the server thread; :meth:`drive` plays the field's loop."""

    servers: ServerLoopThread
    field: SmallField
    clock: SimulatedDevice
    clock_port: int
    started: float = field(default_factory=time.monotonic)
    #: Meters that do not count (their device is "down" in the field's physics too).
    paused: set[str] = field(default_factory=set)

    def sim_now_s(self) -> float:
        return START_S + (time.monotonic() - self.started) * SPEED

    def step(self) -> None:
        self.clock.set_quantities({"sim_time_s": self.sim_now_s()})
        for device_id, device in self.field.devices.items():
            if device_id.endswith("meter"):
                device.add_energy("energy_import_kwh", STEP_KWH)

    async def drive(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.step()
            await asyncio.sleep(0.05)


def start_field(servers: ServerLoopThread, buildings: int = 2) -> RunningField:
    """Serve a small field and its clock (simulated time from ``START_S`` at ``SPEED``)."""
    small = small_field(buildings)
    for server in small.servers.values():
        servers.serve(server)
    clock = SimulatedDevice(load_map("field_clock"), name="clock")
    clock.set_quantities({"sim_time_s": START_S, "sim_start_s": START_S, "speed_factor": SPEED})
    clock_port = servers.serve(DeviceServer([clock]))
    return RunningField(servers, small, clock, clock_port)


def read_snapshot(store: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads((store / "snapshot.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return data


async def wait_for(
    what: str, ready: Callable[[], Any], *, within_s: float = WAIT_S, task: asyncio.Task[Any] | None = None
) -> Any:
    """Poll ``ready`` until it gives something true (returned); fail after ``within_s``."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if task is not None and task.done():
            task.result()  # the live twin ended: its exception is the failure
            pytest.fail(f"the live twin stopped while waiting for {what}")
        result = ready()
        if result:
            return result
        await asyncio.sleep(0.05)
    pytest.fail(f"no {what} within {within_s} s")


def run_twin(twin: LiveTwin, running: RunningField) -> tuple[asyncio.Event, asyncio.Task[None]]:
    """Start the twin and the field's driver in this loop; set the event to stop both, then await the task."""
    stop = asyncio.Event()
    driver = asyncio.create_task(running.drive(stop), name="field-driver")

    async def both() -> None:
        try:
            await twin.run(stop)
        finally:
            stop.set()
            await driver

    return stop, asyncio.create_task(both(), name="live-twin")
