"""``twin live --control FILE``: the live signal runs a scenario's ``control:`` block.

A bad file is refused in one line naming the field (exit 2) before anything starts; a file whose
thresholds lie below the live twin's makes the district register and every building block block
on a grid the defaults (95/85 %) leave alone (a real ``twin live`` on the small simulated field,
read over Modbus TCP and in ``snapshot.json``); the block's release ramp holds the buildings'
limits back after a block (the live power flow and signals in this process, as
``tests/live/test_live_feeders.py`` runs them).
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest
import yaml
from pymodbus.client import ModbusTcpClient

from connectors.controller_map import load_controller_map
from models.district import load_district
from scenarios.records import Control
from tests.field.conftest import SMALL_DISTRICT
from tests.live.test_live_feeders import SIM_S, _chosen, _site, _snapshot
from tests.live.waits import snapshot_json, until_alive
from twin.core.live_state import LiveSnapshot
from twin.core.signal import SignalState
from twin.field import Field, FieldOptions
from twin.live_grid import prepare_worker, worker_step

CMAP = load_controller_map()
F32 = ModbusTcpClient.DATATYPE.FLOAT32


@pytest.mark.parametrize(
    ("block", "field"),
    [
        ({"thresholds": {"loading_leave_percent": 96}}, "thresholds.loading_leave_percent"),
        ({"signal": "per_feeder", "battery": "signal"}, "battery"),
        ({"ev": "pv_surplus"}, "ev"),
        ({"heat_pump": "sg_ready", "count_rebound": True}, "count_rebound"),
        ({"name": "x", "changes": {"grid": {"transformer_s_rated_kva": 800}}, "control": {}}, "changes.grid"),
        ({"name": "x", "control": {"signal": "feeders"}}, "control.signal"),
    ],
)
def test_a_bad_or_unrunnable_control_file_is_one_line_naming_the_field(
    tmp_path: Path, twin_exe: Path, block: dict[str, object], field: str
) -> None:
    path = tmp_path / "control.yaml"
    path.write_text(yaml.safe_dump(block), encoding="utf-8")
    args = ["live", "--site", str(tmp_path / "site.yaml"), "--store", str(tmp_path / "store"), "--control", str(path)]
    done = subprocess.run([str(twin_exe), *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert f"{path}: {field}:" in lines[0]
    assert not (tmp_path / "store").exists()  # refused before the store was touched


@pytest.mark.e2e
def test_the_live_signal_blocks_at_the_files_thresholds(tmp_path: Path, twin_exe: Path) -> None:
    """The small field on a winter evening loads its grid 1-3 %: the defaults never block, 1/0.5 % does."""
    district_file = tmp_path / "small.yaml"
    district_file.write_text(yaml.safe_dump(SMALL_DISTRICT, sort_keys=False), encoding="utf-8")
    control = tmp_path / "evening.yaml"
    thresholds = {"loading_enter_percent": 1.0, "loading_leave_percent": 0.5}
    control.write_text(yaml.safe_dump({"name": "evening", "control": {"signal": "district", "thresholds": thresholds}}))
    store = tmp_path / "store"
    with Field(load_district(district_file), FieldOptions(speed=60.0, start_utc="2025-01-15T17:00:00Z")) as field:
        site = field.write_site(tmp_path / "site.yaml")
        args = ["live", "--site", str(site), "--store", str(store), "--district", str(district_file)]
        args += ["--controller-port", "0", "--controller-tls-port", "0", "--certs", str(tmp_path / "certs")]
        args += ["--grid-every", "1", "--status-every", "60", "--control", str(control)]
        live = subprocess.Popen(
            [str(twin_exe), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ}
        )
        try:
            snap = until_alive(
                lambda: (s := snapshot_json(store)).get("controller", {}).get("signal") == "block" and s,
                "the district signal blocking",
                live,
            )
            grid = snap["grid"]
            # the defaults would not block: loadings far below 95 %, voltages above 0.93 p.u., importing
            assert grid["trafo_loading_max_percent"] < 85.0 and grid["line_loading_max_percent"] < 85.0
            assert grid["vm_min_pu"] > 0.95 and snap["balance"]["substation"]["p_grid_kw"] > 0.0
            controller = snap["controller"]
            assert set(controller["reasons"]) <= {"transformer", "line"} and controller["limit_14a_kw"] == 4.2
            assert controller["control"]["file"] == str(control)
            assert controller["control"]["block"]["thresholds"] == thresholds
            assert "block at 1/0.5 % loading" in controller["control"]["runs"]
            assert LiveSnapshot.from_json(snap).to_json() == snap  # the section through its type
            client = ModbusTcpClient("127.0.0.1", port=controller["listeners"]["port"], timeout=2, retries=0)
            assert client.connect()
            try:
                assert _register(client, CMAP.district_point("sg_ready_state").offset) == SignalState.BLOCK
                n = _register(client, 1)
                assert n == len(SMALL_DISTRICT["buildings"])  # type: ignore[arg-type]
                numbers = range(1, n + 1)
                states = [_register(client, CMAP.building_address(b, _offset("sg_ready_state"))) for b in numbers]
                limits = [_float(client, CMAP.building_address(b, _offset("p_limit_14a_kw"))) for b in numbers]
            finally:
                client.close()
            # district-wide: every building blocks at its minimum
            assert states == [SignalState.BLOCK] * n and limits == [pytest.approx(4.2)] * n
        finally:
            live.send_signal(signal.SIGTERM)
            out, err = live.communicate(timeout=20)
        assert live.returncode == 0, err
        said = [line for line in out.splitlines() if line.startswith("twin live: controller signal:")]
        assert said == [
            "twin live: controller signal: control of evening.yaml: signal district-wide (district), "
            "block at 1/0.5 % loading and 0.93/0.95 p.u., limits released at once, no pre-heating"
        ]


def test_the_release_ramp_holds_the_limits_back_after_a_block() -> None:
    """Beucha's stressed feeder blocks; a quarter hour later the load is gone and the limits rise by 1 kW only."""
    stressed, calm = _chosen()
    site = _site(stressed + calm)
    calm_snapshot = _calm(stressed, calm)
    limits = {}
    for ramp in (None, 4.0):
        control = Control(signal="per_feeder", section_14a=True, release_kw_per_h=ramp)
        prepare_worker("beucha", site, os.getppid(), control)
        blocked = worker_step(SIM_S, _snapshot(stressed, calm).balance, p_peak_kw=0.0)["feeders"]
        later = worker_step(SIM_S + 900.0, calm_snapshot.balance, p_peak_kw=0.0)["feeders"]
        assert all(blocked[b].sg_ready_state == SignalState.BLOCK for b in stressed)
        assert all(later[b].sg_ready_state == SignalState.NORMAL for b in stressed + calm)
        limits[ramp] = (
            {b: blocked[b].p_limit_14a_kw for b in stressed},
            {b: later[b].p_limit_14a_kw for b in stressed},
        )
    before, after = limits[None]
    assert all(4.2 <= limit < 9.0 for limit in before.values()) and set(after.values()) == {100.0}
    ramped_before, ramped_after = limits[4.0]
    assert ramped_before == pytest.approx(before)
    # 4 kW/h over a simulated quarter hour: 1 kW higher, still below the heat pump's 9 kW (free at 9 kW)
    assert ramped_after == pytest.approx({b: limit + 1.0 for b, limit in before.items()})


def test_pre_heating_before_the_peak_the_live_flows_measured_the_day_before() -> None:
    """A 40 % evening peak yesterday: this morning's valley recommends running (SG-Ready 3) to every heat pump."""
    stressed, calm = _chosen()
    site = _site(stressed + calm)
    preheat = {"peak_percent": 20.0, "fill_to_percent": 30.0}
    control = Control.model_validate({"heat_pump": "sg_ready", "signal": "per_feeder", "preheat": preheat})
    prepare_worker("beucha", site, os.getppid(), control)
    peak, valley = _snapshot(stressed, calm), _calm(stressed, calm)
    loading = []
    for quarter in range(96):  # yesterday: the peak from 8 to 12 h after SIM_S
        step = worker_step(SIM_S + quarter * 900.0, (peak if 32 <= quarter < 48 else valley).balance, p_peak_kw=0.0)
        loading.append(step["grid"].trafo_loading_max_percent)
    assert min(loading[32:48]) > 30.0 and max(loading[:32] + loading[48:]) < 20.0
    morning = SIM_S + 86_400.0 + 4 * 3600.0
    step = worker_step(morning, valley.balance, p_peak_kw=0.0)
    assert step["grid"].trafo_loading_max_percent < 20.0
    assert {v.sg_ready_state for v in step["feeders"].values()} == {SignalState.RECOMMENDED_ON}
    # without pre-heating the same morning is normal
    prepare_worker("beucha", site, os.getppid(), control.model_copy(update={"preheat": None}))
    step = worker_step(morning, valley.balance, p_peak_kw=0.0)
    assert {v.sg_ready_state for v in step["feeders"].values()} == {SignalState.NORMAL}


def _calm(stressed: list[str], calm: list[str]) -> LiveSnapshot:
    """Every building draws 2 kW (1 of them its heat pump)."""
    data = _snapshot(stressed, calm).to_json()
    for b in stressed:
        data["balance"][b].update({"p_grid_kw": 2.0, "p_heat_pump_kw": 1.0})
    total = 2.0 * (len(stressed) + len(calm))
    data["balance"]["substation"].update({"p_grid_kw": total, "p_load_kw": total})
    data["sim_time_s"] = SIM_S + 900.0
    return LiveSnapshot.from_json(data)


def _offset(name: str) -> int:
    return CMAP.building_point(name).offset


def _register(client: ModbusTcpClient, address: int) -> int:
    rr = client.read_holding_registers(address, count=1, device_id=1)
    assert not rr.isError(), rr
    value: int = rr.registers[0]
    return value


def _float(client: ModbusTcpClient, address: int) -> float:
    rr = client.read_holding_registers(address, count=2, device_id=1)
    assert not rr.isError(), rr
    value = client.convert_from_registers(rr.registers, F32, word_order="big")
    assert isinstance(value, float)
    return value
