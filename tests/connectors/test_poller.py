"""The site poller over real TCP on 127.0.0.1: devices that die, hang, restart or lie; gateways; writes; clock."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import pytest
import pytest_asyncio

from connectors.device_server import DeviceServer
from connectors.maps import load_map
from connectors.poller import CLOCK_STALE_MAX_WALL_S, SimClock, SitePoller
from connectors.polling import Reading
from connectors.simdevice import Fault, SimulatedDevice
from connectors.site import Site
from tests.connectors.small_field import SmallField, small_field
from twin.core.errors import ConnectorError
from twin.core.schema import QUALITY_FLAGS

pytestmark = pytest.mark.asyncio

OK, STALE, MISSING, INVALID = (QUALITY_FLAGS[name] for name in ("ok", "stale", "missing", "invalid"))
INTERVAL_S = 0.2
WAIT_S = 5.0


@pytest_asyncio.fixture
async def field() -> AsyncIterator[SmallField]:
    f = small_field(2)
    await asyncio.gather(*(server.start() for server in f.servers.values()))
    yield f
    await asyncio.gather(*(server.stop() for server in f.servers.values()))


@pytest_asyncio.fixture
async def poller(field: SmallField) -> AsyncIterator[SitePoller]:
    site = field.site(interval_s=INTERVAL_S, timeout_s=0.2, retries=0)
    p = SitePoller(site, reconnect_delay_s=0.1, reconnect_delay_max_s=0.4)
    await p.start()
    yield p
    await p.stop()


async def _until(condition: Callable[[], bool], what: str, timeout_s: float = WAIT_S) -> float:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout_s:
            pytest.fail(f"not within {timeout_s} s: {what}")
        await asyncio.sleep(0.02)
    return time.monotonic() - started


def _all_ok(poller: SitePoller, device_id: str) -> bool:
    quality = poller.quality(device_id)
    return bool(quality) and all(flag == OK for flag in quality.values()) and poller.states[device_id].last_read_ok


async def test_poller_reads_every_device_in_twin_units(poller: SitePoller, field: SmallField) -> None:
    await _until(lambda: all(_all_ok(poller, d) for d in poller.states), "every device ok")
    assert poller.states["b01/pv"].values["p_kw"] == pytest.approx(-3.0, abs=0.01)
    assert poller.states["b01/meter"].values["p_meter_kw"] == pytest.approx(4.5, abs=0.01)
    assert poller.failing() == []


async def test_dead_device_goes_stale_others_unaffected_and_it_recovers_after_restart(
    poller: SitePoller, field: SmallField
) -> None:
    await _until(lambda: all(_all_ok(poller, d) for d in poller.states), "every device ok")
    server = field.servers["b01/pv"]
    await server.stop()
    await _until(lambda: poller.quality("b01/pv")["p_kw"] == STALE, "dead device stale")
    assert poller.failing() == ["b01/pv"]
    assert poller.states["b01/pv"].values["p_kw"] == pytest.approx(-3.0, abs=0.01)  # last good value held
    reads = {d: s.reads for d, s in poller.states.items()}
    await asyncio.sleep(5 * INTERVAL_S)
    for device_id, state in poller.states.items():
        if device_id != "b01/pv":
            assert _all_ok(poller, device_id), device_id
            assert state.reads >= reads[device_id] + 3, device_id
    field.devices["b01/pv"].set_quantities({"p_kw": -2.0})
    await server.start()
    await _until(lambda: _all_ok(poller, "b01/pv"), "recovery after restart")
    assert poller.states["b01/pv"].values["p_kw"] == pytest.approx(-2.0, abs=0.01)


async def test_hanging_device_never_delays_the_others(poller: SitePoller, field: SmallField) -> None:
    await _until(lambda: all(_all_ok(poller, d) for d in poller.states), "every device ok")
    field.devices["b02/meter"].inject(Fault.HANG)
    await _until(lambda: "b02/meter" in poller.failing(), "hung device failing")
    reads = {d: s.reads for d, s in poller.states.items()}
    await asyncio.sleep(6 * INTERVAL_S)
    for device_id, state in poller.states.items():
        if device_id != "b02/meter":
            assert state.reads >= reads[device_id] + 4, f"{device_id} was delayed"
            assert _all_ok(poller, device_id), device_id
    await _until(lambda: poller.quality("b02/meter")["p_meter_kw"] == STALE, "hung device stale")
    field.devices["b02/meter"].clear_fault()
    await _until(lambda: _all_ok(poller, "b02/meter"), "recovery after the hang")


@pytest.mark.parametrize("fault", [Fault.ABSURD, Fault.NOT_IMPLEMENTED, Fault.EXCEPTION])
async def test_lying_or_refusing_device_is_flagged_and_recovers(
    poller: SitePoller, field: SmallField, fault: Fault
) -> None:
    await _until(lambda: all(_all_ok(poller, d) for d in poller.states), "every device ok")
    field.devices["b01/hp"].inject(fault, quantities=["p_kw"] if fault is not Fault.EXCEPTION else None)
    expected = STALE if fault is Fault.EXCEPTION else INVALID
    await _until(lambda: poller.quality("b01/hp")["p_kw"] == expected, f"{fault} flagged {expected}")
    assert poller.failing() == ["b01/hp"]
    assert all(_all_ok(poller, d) for d in poller.states if d != "b01/hp")
    field.devices["b01/hp"].clear_fault()
    await _until(lambda: _all_ok(poller, "b01/hp"), "recovery")


async def test_devices_behind_one_gateway_share_one_connection_and_take_turns() -> None:
    devices = [SimulatedDevice(load_map("sdm630"), unit_id=unit) for unit in (1, 2, 3)]
    for unit, device in enumerate(devices, 1):
        device.set_quantities({"p_kw": float(unit), "energy_import_kwh": 10.0 * unit, "energy_export_kwh": 0.0})
    async with DeviceServer(devices) as server:
        site = Site(
            devices=[
                {
                    "id": f"hh{u}",
                    "kind": "household_meter",
                    "building": "b1",
                    "port": server.port,
                    "unit_id": u,
                    "map": "sdm630",
                }
                for u in (1, 2, 3)
            ],
            defaults={"interval_s": INTERVAL_S, "timeout_s": 0.3},
        )
        poller = SitePoller(site)
        assert len(poller.connections) == 1
        await poller.start()
        try:
            await _until(
                lambda: all(poller.states[f"hh{u}"].values.get("p_kw") == float(u) for u in (1, 2, 3)),
                "three units read",
            )
        finally:
            await poller.stop()


async def test_battery_setpoint_reaches_the_device_and_is_read_back() -> None:
    battery = SimulatedDevice(load_map("community_battery"))
    battery.set_quantities(
        {
            "p_setpoint_kw": 0.0,
            "p_kw": 0.0,
            "soc_frac": 0.5,
            "energy_import_kwh": 1.0,
            "energy_export_kwh": 1.0,
            "capacity_kwh": 500.0,
        }
    )
    async with DeviceServer([battery]) as server:
        site = Site(
            devices=[{"id": "cb", "kind": "community_battery", "port": server.port, "map": "community_battery"}]
        )
        poller = SitePoller(site)
        try:
            assert await poller.write("cb", "p_setpoint_kw", -75.0) == pytest.approx(-75.0)
            assert battery.quantity("p_setpoint_kw") == pytest.approx(-75.0)  # charge-positive, device discharge+
            with pytest.raises(ConnectorError, match="cb"):
                await poller.write("cb", "p_setpoint_kw", 400.0)  # outside the write range
            with pytest.raises(ConnectorError, match="not writable"):
                await poller.write("cb", "p_kw", 1.0)
        finally:
            await poller.stop()


async def test_readings_are_stamped_with_the_fields_simulated_time() -> None:
    clock = SimulatedDevice(load_map("field_clock"))
    start = 1_748_736_000.0  # 2025-06-01T00:00:00Z
    clock.set_quantities({"sim_time_s": start + 3600.0, "sim_start_s": start, "speed_factor": 60.0})
    async with DeviceServer([clock]) as server:
        f = small_field(1)
        await asyncio.gather(*(s.start() for s in f.servers.values()))
        try:
            poller = SitePoller(f.site(clock_port=server.port, interval_s=INTERVAL_S))
            await poller.start()
            try:
                now = poller.sim_now_s()
                assert start + 3600.0 <= now < start + 3600.0 + 60.0
                await _until(lambda: bool(poller.states["b01/meter"].good_sim_s), "a reading")
                assert poller.states["b01/meter"].good_sim_s["p_meter_kw"] >= start + 3600.0
                assert poller.clock.speed == 60.0
            finally:
                await poller.stop()
        finally:
            await asyncio.gather(*(s.stop() for s in f.servers.values()))


async def test_stale_clock_readings_leave_the_running_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """The field sets its clock every tick: a reading shows the last tick, never a later time."""
    wall = [100.0]
    monkeypatch.setattr(time, "monotonic", lambda: wall[0])
    ok = {"sim_time_s": QUALITY_FLAGS["ok"], "speed_factor": QUALITY_FLAGS["ok"]}

    def reading(sim_s: float) -> Reading:
        return Reading("clock", {"sim_time_s": sim_s, "speed_factor": 100.0}, ok, None, 0.0)

    clock = SimClock()
    assert clock.set(reading(1000.0))  # read right at a tick
    wall[0] += 0.15
    assert clock.set(reading(1005.0))  # the tick of 0.1 s ago (at 1010 s): the running time stays
    assert clock.now_s() == pytest.approx(1015.0)
    wall[0] += 0.05
    assert clock.set(reading(1025.0))  # ahead of the running time (it was too slow): taken
    assert clock.now_s() == pytest.approx(1025.0)
    wall[0] += 0.1
    behind = 1035.0 - 100.0 * CLOCK_STALE_MAX_WALL_S - 1.0
    assert clock.set(reading(behind))  # much further behind than a tick: the field slowed down, taken
    assert clock.now_s() == pytest.approx(behind)
