"""The controller link and the live grid on hand-made live states: mapping, stale fallback, writes, bus powers."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from connectors.controller_server import ControllerServer
from connectors.controller_snapshot import ControllerWrite, Quality
from connectors.poller import SitePoller
from connectors.site import Site, SiteDevice
from models.control.signal import SignalMachine, SignalState
from models.district import load_district
from tests.field.conftest import SMALL_DISTRICT
from twin.core.live_parts import Where
from twin.core.live_state import BoundaryState, GridState, LiveSnapshot
from twin.live_controllers import ControllerLink, building_order
from twin.live_grid import LiveGrid

NOW_S = 1_000_000.0
SIM_S = 1_750_500_000.0


def _site(*, battery: bool = True) -> Site:
    devices = [
        SiteDevice(id="substation/meter", kind="substation_meter", port=1, map="sunspec_meter_substation"),
        SiteDevice(id="sfh1/meter", kind="building_meter", building="sfh1", port=2, map="sunspec_meter"),
        SiteDevice(id="sfh1/pv", kind="pv_inverter", building="sfh1", port=3, map="sunspec_inverter", p_peak_kw=8.0),
        SiteDevice(id="sfh1/battery", kind="battery", building="sfh1", port=4, map="sunspec_battery", capacity_kwh=8),
        SiteDevice(id="mfh1/meter", kind="building_meter", building="mfh1", port=5, map="sunspec_meter"),
        SiteDevice(id="x1/meter", kind="building_meter", building="x1", port=6, map="sunspec_meter"),
    ]
    if battery:
        devices.append(
            SiteDevice(id="community_battery", kind="community_battery", port=7, map="community_battery", p_rated_kw=50)
        )
    return Site(devices=tuple(devices))


def _snapshot(p_grid_kw: float = -60.0, quality: int = 0) -> LiveSnapshot:
    district = {"p_grid_kw": p_grid_kw, "p_pv_kw": -80.0, "p_load_kw": 15.0, "p_heat_pump_kw": 3.0, "p_ev_kw": 2.0}
    return LiveSnapshot.from_json(_snapshot_json(district, quality))


def _snapshot_json(district: dict[str, float], quality: int) -> dict[str, Any]:
    return {
        "version": 2,
        "sim_time_s": SIM_S,
        "balance": {
            "sfh1": {
                "p_grid_kw": -2.0,
                "p_pv_kw": -5.0,
                "p_battery_kw": 1.0,
                "p_heat_pump_kw": 0.0,
                "p_ev_kw": 0.0,
                "quality": 0,
            },
            "mfh1": {
                "p_grid_kw": 4.0,
                "p_pv_kw": 0.0,
                "p_battery_kw": 0.0,
                "p_heat_pump_kw": 0.0,
                "p_ev_kw": 0.0,
                "quality": 3,
            },
            "substation": {**district, "p_battery_kw": 1.0, "p_community_battery_kw": 5.0, "quality": quality},
        },
        "devices": {
            "sfh1/battery": {"values": {"soc_frac": 0.25}},
            "community_battery": {"values": {"soc_frac": 0.5}},
        },
        "kpis": {
            "today": {"substation": {"self_sufficiency_frac": 0.75}, "sfh1": {"self_sufficiency_frac": 0.5}},
            "year": {"substation": {"import_kwh": 100.0, "export_kwh": 300.0}, "sfh1": {"import_kwh": 5.0}},
        },
    }


@dataclass
class FakeLive:
    site: Site
    snapshot: LiveSnapshot | None = field(default_factory=_snapshot)
    updated_wall_s: float = NOW_S

    def __post_init__(self) -> None:
        self.poller = SitePoller(self.site)


def test_building_order_district_first_then_the_site() -> None:
    assert building_order(_site(), ["mfh1", "sfh1", "sfh2"]) == ["mfh1", "sfh1", "x1"]


def test_provider_maps_the_live_state() -> None:
    link = ControllerLink(FakeLive(_site()), ["mfh1", "sfh1"])
    snap = link.provide()
    assert snap is not None
    assert snap.p_grid_kw == -60.0 and snap.p_surplus_kw == 60.0
    assert snap.p_load_kw == 20.0 and snap.p_pv_kw == -80.0
    assert snap.soc_battery_frac == 0.5  # the community battery's
    assert snap.p_battery_kw == 6.0  # the home batteries (1 kW) + the community battery (5 kW), each once
    assert snap.energy_export_year_kwh == 300.0 and snap.self_sufficiency_today_frac == 0.75
    assert snap.quality is Quality.OK and snap.updated_unix_s == NOW_S
    assert [b.building_id for b in snap.buildings] == ["mfh1", "sfh1"]
    mfh1, sfh1 = snap.buildings
    assert mfh1.quality is Quality.INVALID and sfh1.quality is Quality.OK
    assert sfh1.soc_battery_frac == 0.25 and sfh1.p_meter_kw == -2.0
    assert math.isnan(sfh1.energy_balance_year_kwh)  # export unknown
    assert link.battery_limits_kw == (-50.0, 50.0) and link.p_peak_kw == 8.0
    assert link.provide() is snap  # unchanged state: the same snapshot, no work


def test_provider_without_reads_gives_none() -> None:
    live = FakeLive(_site(), updated_wall_s=math.nan)
    assert ControllerLink(live, []).provide() is None


@pytest.mark.asyncio
async def test_stale_data_gives_normal_and_stale() -> None:
    live = FakeLive(_site())
    link = ControllerLink(live, ["mfh1", "sfh1"])
    now = [NOW_S]
    server = ControllerServer(
        link.provide, link.sink, signal=SignalMachine(), port=0, n_buildings=2, wall_clock=lambda: now[0]
    )
    async with server:
        link.server = server
        for minutes in range(7):  # 60 kW surplus held past the dwell time
            live.snapshot = replace(_snapshot(), sim_time_s=SIM_S + 60.0 * minutes)
            server.refresh()
        assert server.signal is not None and server.signal.state is SignalState.RECOMMENDED_ON
        assert link.section().signal == "recommended_on" and link.section().reasons == ("surplus",)
        now[0] = NOW_S + 10.5  # polling stopped: no newer read for more than 10 s
        server.refresh()
        section = link.section()
    assert server.quality is Quality.STALE and server.signal.state is SignalState.NORMAL
    assert section.signal == "normal" and section.signal_code == 2
    assert section.quality is Quality.STALE and section.reasons == ("stale",)
    assert section.to_json()["quality"] == "stale" and section.to_json()["reasons"] == ["stale"]


@pytest.mark.asyncio
async def test_sink_records_writes_and_refuses_a_setpoint_without_battery() -> None:
    link = ControllerLink(FakeLive(_site(battery=False)), ["mfh1", "sfh1"])

    def write(name: str, value: float, number: int | None = None) -> ControllerWrite:
        building = None if number is None else ["mfh1", "sfh1"][number - 1]
        return ControllerWrite(name, value, number, building, "CN=writer,O=Beucha", SIM_S, NOW_S)

    with pytest.raises(ValueError, match="no community battery"):
        link.sink(write("battery_setpoint_kw", 10.0))
    link.sink(write("flexible_power_kw", 3.5, 2))
    link.sink(write("signal_ack", 3, 1))
    link.sink(write("battery_mode", 1))
    section = link.section()
    assert section.flexible_power_kw == {"sfh1": 3.5}
    assert section.acks["mfh1"].state == 3 and section.battery_mode == 1
    assert [w.name for w in section.writes] == ["flexible_power_kw", "signal_ack", "battery_mode"]
    assert section.writes[0].client == "CN=writer,O=Beucha"
    for number in range(25):
        link.sink(write("flexible_power_kw", float(number), 1))
    assert len(link.section().writes) == 20


def test_live_grid_bus_powers(tmp_path: Path) -> None:
    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump(SMALL_DISTRICT, sort_keys=False), encoding="utf-8")
    loaded = load_district(path)
    grid = LiveGrid(loaded, None)
    balance = {
        "sfh3": BoundaryState("sfh3", p_grid_kw=4.0),
        "sfh4": BoundaryState("sfh4", p_grid_kw=-6.0),
        "sfh5": BoundaryState("sfh5", p_grid_kw=None),
        "substation": BoundaryState("substation", p_community_battery_kw=10.0),
    }
    p_kw, q_kvar, missing = grid.bus_powers(balance)
    position = {bus: i for i, bus in enumerate(grid.bus_index)}
    assert p_kw[position[grid.building_bus["sfh3"]]] == 4.0
    assert q_kvar[position[grid.building_bus["sfh3"]]] == pytest.approx(4.0 * math.tan(math.acos(0.93)))
    assert p_kw[position[grid.building_bus["sfh4"]]] == -6.0 and q_kvar[position[grid.building_bus["sfh4"]]] == 0.0
    assert p_kw[position[grid.lv_busbar]] == 10.0
    assert "sfh5" in missing and p_kw.sum() == pytest.approx(8.0)
    result = grid.solve(SIM_S, balance)
    assert result.converged and list(result.inputs_missing) == missing
    assert result.p_grid_kw is not None and result.p_loss_kw is not None
    assert np.isclose(result.p_grid_kw, 8.0 + result.p_loss_kw, atol=1e-3)
    assert result.vm_min_pu is not None and result.vm_max_pu is not None
    assert len(result.buses) == len(loaded.net.bus) and 0.9 < result.vm_min_pu <= result.vm_max_pu < 1.1
    assert GridState.from_json(result.to_json(), Where(None, "grid")) == result


def test_tls_context_makes_test_certificates_when_none_exist(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from twin.core.errors import ConfigError
    from twin.live_services import _tls_context

    folder = tmp_path / "certs"
    with caplog.at_level(logging.WARNING, logger="twin.live"):
        assert _tls_context(folder) is not None
    assert (folder / "writer-ca.pem").exists() and "made a test CA" in caplog.text
    assert _tls_context(folder) is not None  # existing files are used as they are
    (folder / "server.key").unlink()
    with pytest.raises(ConfigError, match=r"server\.key missing"):
        _tls_context(folder)
    assert _tls_context(None) is None
