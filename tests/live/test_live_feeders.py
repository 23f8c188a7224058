"""Signals per feeder in the live twin: the live power flow's feeders to the controller registers over Modbus TCP."""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from pymodbus.client import AsyncModbusTcpClient

from connectors.controller_map import load_controller_map
from connectors.controller_server import ControllerServer
from connectors.poller import SitePoller
from connectors.site import Site, SiteDevice
from models.control.feeder import FeederMap
from models.control.signal import SignalMachine
from models.district import load_district
from twin.core.live_state import LiveSnapshot
from twin.core.signal import SignalReason, SignalState
from twin.live_controllers import ControllerLink, building_order
from twin.live_feeders import FeederValues
from twin.live_grid import prepare_worker, worker_step

CMAP = load_controller_map()
F32 = AsyncModbusTcpClient.DATATYPE.FLOAT32
SIM_S = 1_736_269_200.0  # 2025-01-07 17:00 UTC, a winter evening


@dataclass
class FakeLive:
    """What the controller link reads of the live twin: its snapshot, newest read time and poller."""

    site: Site
    snapshot: LiveSnapshot | None = None
    updated_wall_s: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        self.poller = SitePoller(self.site)


def _chosen() -> tuple[list[str], list[str]]:
    """Seven buildings of Beucha's feeder 2 (the stressed one) and three of feeder 1."""
    loaded = load_district("beucha")
    index = dict(zip(loaded.net.bus["name"].astype(str), loaded.net.bus.index, strict=True))
    buildings = loaded.district.buildings
    feeders = FeederMap.from_net(loaded.net).of_buses([index[b.bus] for b in buildings])
    stressed = [b.id for b, f in zip(buildings, feeders, strict=True) if f == 1]
    calm = [b.id for b, f in zip(buildings, feeders, strict=True) if f == 0][:3]
    assert len(stressed) == 7
    return stressed, calm


def _site(buildings: list[str]) -> Site:
    devices = [SiteDevice(id="substation/meter", kind="substation_meter", port=1, map="sunspec_meter_substation")]
    for n, b in enumerate(buildings):
        devices.append(
            SiteDevice(id=f"{b}/meter", kind="building_meter", building=b, port=10 + 2 * n, map="sunspec_meter")
        )
        devices.append(
            SiteDevice(
                id=f"{b}/hp", kind="heat_pump_meter", building=b, port=11 + 2 * n, map="sunspec_meter", p_rated_kw=9.0
            )
        )
    return Site(devices=tuple(devices))


def _snapshot(stressed: list[str], calm: list[str]) -> LiveSnapshot:
    """Every stressed-feeder building draws 32 kW (9 of them its heat pump), the others 2 kW."""
    balance: dict[str, Any] = {}
    for b in stressed:
        balance[b] = {"p_grid_kw": 32.0, "p_pv_kw": 0.0, "p_heat_pump_kw": 9.0, "p_ev_kw": 0.0, "p_battery_kw": 0.0}
    for b in calm:
        balance[b] = {"p_grid_kw": 2.0, "p_pv_kw": 0.0, "p_heat_pump_kw": 1.0, "p_ev_kw": 0.0, "p_battery_kw": 0.0}
    total = 32.0 * len(stressed) + 2.0 * len(calm)
    balance["substation"] = {"p_grid_kw": total, "p_pv_kw": 0.0, "p_load_kw": total, "p_battery_kw": 0.0}
    for terms in balance.values():
        terms["quality"] = 0
    return LiveSnapshot.from_json({"version": 2, "sim_time_s": SIM_S, "balance": balance, "devices": {}, "kpis": {}})


async def _read(client: AsyncModbusTcpClient, name: str, building: int | None = None) -> float:
    point = CMAP.district_point(name) if building is None else CMAP.building_point(name)
    address = point.offset if building is None else CMAP.building_address(building, point.offset)
    rr = await client.read_holding_registers(address, count=point.point.size, device_id=1)
    assert not rr.isError(), rr
    if point.point.data_type == "float32":
        value = client.convert_from_registers(rr.registers, F32, word_order="big")
        assert isinstance(value, float)
        return value
    return float(rr.registers[0])


@pytest.mark.asyncio
async def test_a_stressed_feeders_buildings_read_block_and_a_reduced_limit_the_others_normal() -> None:
    stressed, calm = _chosen()
    site = _site(stressed + calm)
    district_order = prepare_worker("beucha", site, os.getppid())  # the live power flow, in this process
    live = FakeLive(site, _snapshot(stressed, calm))
    link = ControllerLink(live, building_order(site, district_order))
    assert sorted(link.buildings) == sorted(stressed + calm)
    assert live.snapshot is not None and live.snapshot.sim_time_s is not None
    step = worker_step(live.snapshot.sim_time_s, live.snapshot.balance, p_peak_kw=0.0)
    grid = step["grid"]
    assert grid.converged and grid.line_loading_max_percent > 95.0 and grid.trafo_loading_max_percent < 60.0
    link.set_step(step)
    feeders: dict[str, FeederValues] = step["feeders"]
    server = ControllerServer(link.provide, link.sink, signal=SignalMachine(), port=0, n_buildings=len(link.buildings))
    async with server:
        link.server = server
        client = AsyncModbusTcpClient("127.0.0.1", port=server.port, timeout=2, retries=0)
        assert await client.connect()
        try:
            # the district block keeps the district-wide signal: the line overload blocks it, 4.2 kW per device
            assert await _read(client, "sg_ready_state") == SignalState.BLOCK
            assert await _read(client, "p_limit_14a_kw") == pytest.approx(4.2)
            limits = {}
            for number, building in enumerate(link.buildings, start=1):
                state = await _read(client, "sg_ready_state", number)
                limit = await _read(client, "p_limit_14a_kw", number)
                feeder = await _read(client, "feeder_number", number)
                reasons = int(await _read(client, "signal_reasons", number))
                relief = await _read(client, "feeder_relief_kw", number)
                if building in stressed:
                    assert (state, feeder) == (SignalState.BLOCK, 2)
                    assert reasons & SignalReason.LINE and not reasons & SignalReason.TRANSFORMER
                    assert 4.2 <= limit < 9.0 and relief > 0.0
                    limits[building] = limit
                else:
                    assert (state, feeder, limit) == (SignalState.NORMAL, 1, 100.0)
                    assert reasons == 0 and relief == 0.0
                assert feeders[building].p_limit_14a_kw == pytest.approx(limit)
            # only as low as needed: not every stressed building at the minimum
            assert max(limits.values()) > 4.2 + 0.1
            # the snapshot's controller section lists each feeder as its buildings' registers read
            listed = {f.feeder_number: f for f in link.section().feeders}
            assert sorted(listed) == [1, 2]
            assert (listed[2].signal, listed[2].buildings, listed[2].limited) == ("block", len(stressed), len(limits))
            assert "line" in listed[2].reasons and listed[2].limit_min_kw == pytest.approx(min(limits.values()))
            assert listed[2].relief_kw is not None and listed[2].relief_kw > 0.0
            assert (listed[1].signal, listed[1].buildings, listed[1].limited, listed[1].limit_min_kw) == (
                "normal",
                len(calm),
                0,
                None,
            )
        finally:
            client.close()


@pytest.mark.asyncio
async def test_stale_data_gives_every_building_the_districts_normal() -> None:
    stressed, calm = _chosen()
    site = _site(stressed + calm)
    prepare_worker("beucha", site, os.getppid())
    live = FakeLive(site, _snapshot(stressed, calm))
    link = ControllerLink(live, stressed + calm)
    assert live.snapshot is not None and live.snapshot.sim_time_s is not None
    link.set_step(worker_step(live.snapshot.sim_time_s, live.snapshot.balance, p_peak_kw=0.0))
    now = [live.updated_wall_s]
    server = ControllerServer(
        link.provide,
        link.sink,
        signal=SignalMachine(),
        port=0,
        n_buildings=len(link.buildings),
        wall_clock=lambda: now[0],
    )
    async with server:
        assert server.read_point("sg_ready_state", 1) == SignalState.BLOCK
        now[0] += 10.5  # no newer read for more than 10 s
        server.refresh()
        for number in range(1, len(link.buildings) + 1):
            assert server.read_point("sg_ready_state", number) == SignalState.NORMAL
            assert server.read_point("p_limit_14a_kw", number) == 100.0
            assert server.read_point("signal_reasons", number) == SignalReason.STALE
        assert server.read_point("feeder_number", 1) == 2  # the feeder stays known
    assert math.isfinite(link.feeders[stressed[0]].p_limit_14a_kw)
    assert np.isfinite([v.feeder_relief_kw for v in link.feeders.values()]).all()


def test_without_a_converging_operating_point_the_feeders_run_on_the_minimum(caplog: pytest.LogCaptureFixture) -> None:
    import copy

    from models.powerflow import BatchPowerFlow, PowerFlowOptions
    from twin.live_feeders import LiveFeeders

    loaded = load_district("beucha")
    net = copy.deepcopy(loaded.net)
    net.line["r_ohm_per_km"] *= 200.0  # far too weak for 80 % of the transformer's rating
    index = dict(zip(net.bus["name"].astype(str), net.bus.index, strict=True))
    building_bus = {b.id: int(index[b.bus]) for b in loaded.district.buildings}
    flow = BatchPowerFlow(net, PowerFlowOptions(on_divergence="flag"))
    with caplog.at_level("WARNING"):
        feeders = LiveFeeders(net, flow, building_bus)
    assert feeders.signals.sens is None and feeders.signals.n_feeders == 6
    assert "without sensitivities" in caplog.text and "does not converge" in caplog.text
