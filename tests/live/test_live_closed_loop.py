"""The closed loop from the command line: ``twin live --control FILE`` and a ``twin field`` that follows it.

Two real processes on 127.0.0.1: ``twin field --control FILE --controller 127.0.0.1:PORT`` (the
small field at speed 120 on a January afternoon, its wallbox charging a car at 11 kW and its heat
pump running) and ``twin live --control FILE --controller-port PORT`` on the field's site file.
The file's thresholds (1/0.5 % loading) block a grid the defaults (95/85 %) leave alone. The
test reads what the code under test did not compute for the check: the field's own device
registers (SDM630 ``p_total`` of the wallbox and the heat-pump meter) and its truth file, against
the state and section 14a limit the live twin's controller registers publish; then the live
twin's snapshot, which must measure the lower draw it caused.
"""

from __future__ import annotations

import csv
import math
import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from pymodbus.client import ModbusTcpClient

from connectors.controller_map import load_controller_map
from connectors.maps import load_map
from tests.field.conftest import SMALL_DISTRICT
from tests.live.waits import snapshot_json, until_alive
from twin.core.signal import SignalState

pytestmark = pytest.mark.e2e

HOST = "127.0.0.1"
CMAP = load_controller_map()
SDM630 = load_map("sdm630")
WALLBOX = load_map("wallbox")
CLOCK = load_map("field_clock")
F32 = ModbusTcpClient.DATATYPE.FLOAT32
#: A January afternoon on which sfh1's car charges at 11 kW for hours (the field's profiles).
START_UTC = "2025-01-07T14:00Z"
SPEED = 120.0  # a quarter hour in 7.5 wall seconds
CHARGER, HEAT_PUMP = "sfh1/charger0", "sfh2/heat_pump_meter"
THRESHOLDS = {"loading_enter_percent": 1.0, "loading_leave_percent": 0.5}
CONTROL = {
    "name": "loop",
    "control": {
        "signal": "district",
        "heat_pump": "sg_ready",
        "section_14a": True,
        "section_14a_control": "ems",
        "thresholds": THRESHOLDS,
    },
}
WITHIN_S = 20.0
TOL_KW = 0.01


@dataclass
class Loop:
    folder: Path
    field: subprocess.Popen[str]
    port: int  # the live twin's controller server
    devices: dict[str, dict[str, Any]]  # the field's site file, by device id
    clock: dict[str, Any]


@pytest.fixture
def loop(tmp_path: Path, twin_exe: Path) -> Iterator[Loop]:
    """The field following a controller port nobody serves yet (so every building follows normal)."""
    district = tmp_path / "small.yaml"
    district.write_text(yaml.safe_dump(SMALL_DISTRICT, sort_keys=False), encoding="utf-8")
    (tmp_path / "control.yaml").write_text(yaml.safe_dump(CONTROL, sort_keys=False), encoding="utf-8")
    port = _free_port()
    args = ["field", "--district", str(district), "--site", str(tmp_path / "site.yaml"), "--speed", str(SPEED)]
    args += ["--start", START_UTC, "--control", str(tmp_path / "control.yaml"), "--controller", f"{HOST}:{port}"]
    args += ["--truth", str(tmp_path / "truth.csv"), "--no-weather-station"]
    field = subprocess.Popen([str(twin_exe), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        site = until_alive(lambda: _site(tmp_path / "site.yaml"), "the field's site file", field)
        yield Loop(tmp_path, field, port, {d["id"]: d for d in site["devices"]}, site["clock"])
    finally:
        field.send_signal(signal.SIGTERM)
        _, err = field.communicate(timeout=20)
    assert field.returncode == 0, err


def test_the_field_obeys_the_live_signal_of_the_control_file_and_the_live_twin_measures_it(
    loop: Loop, twin_exe: Path
) -> None:
    # before the live twin runs: the car charges at 11 kW, the heat pump runs (the field's own meters)
    before = {d: _device_kw(loop, d) for d in (CHARGER, HEAT_PUMP)}
    assert before[CHARGER] == pytest.approx(11.0, abs=0.05) and before[HEAT_PUMP] > 0.3, before
    store = loop.folder / "store"
    args = ["live", "--site", str(loop.folder / "site.yaml"), "--store", str(store)]
    args += ["--district", str(loop.folder / "small.yaml"), "--control", str(loop.folder / "control.yaml")]
    args += ["--controller-port", str(loop.port), "--controller-tls-port", "0", "--certs", str(loop.folder / "certs")]
    args += ["--grid-every", "1", "--status-every", "60"]
    live = subprocess.Popen(
        [str(twin_exe), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ}
    )
    try:
        # the live twin blocks at the file's thresholds and publishes each building's limit
        published = until_alive(lambda: _published(loop.port), "the live twin's registers blocking", live, 30.0)
        limit_kw = published["sfh1"][1]
        assert published["sfh2"][0] == SignalState.BLOCK, published
        assert 4.2 - 1e-3 <= limit_kw < 11.0, published
        # the field's devices obey: the wallbox at most the limit, the heat pump off
        until_alive(
            lambda: _device_kw(loop, CHARGER) <= limit_kw + TOL_KW and _device_kw(loop, HEAT_PUMP) == 0.0,
            f"the field's wallbox at most {limit_kw} kW and its heat pump off",
            live,
            WITHIN_S,
        )
        blocked_s = _sim_time_s(loop)
        shown = _wallbox_registers(loop)
        assert shown["signal_state"] == SignalState.BLOCK and shown["p_limit_14a"] <= limit_kw * 1000.0 + 1.0
        # the live twin measures the lower draw it caused
        snap = until_alive(
            lambda: (s := snapshot_json(store)) and _read_after(s, blocked_s + 60.0) and s,
            "a snapshot with the wallbox, the heat pump and the battery read after the field obeyed",
            live,
            WITHIN_S,
        )
        _measured_below(snap, limit_kw)
        # the field's truth: the first whole quarter after that ran at the limit and without the heat pump
        quarter_s = math.ceil(blocked_s / 900.0) * 900.0
        rows = until_alive(lambda: _truth(loop.folder / "truth.csv", quarter_s), "the truth of that quarter", live)
        assert float(rows[HEAT_PUMP]["p_kw"]) == 0.0 and int(rows["sfh2"]["signal_state"]) == SignalState.BLOCK
        controllable = float(rows[CHARGER]["p_kw"]) + max(float(rows["sfh1/battery0"]["p_kw"]), 0.0)
        assert 0.5 * limit_kw < controllable <= limit_kw + TOL_KW, rows  # dimmed, not switched off
        assert int(rows["sfh1"]["signal_state"]) == SignalState.BLOCK
    finally:
        live.send_signal(signal.SIGTERM)
        _, err = live.communicate(timeout=20)
    assert live.returncode == 0, err


def _measured_below(snap: dict[str, Any], limit_kw: float) -> None:
    """The live twin's snapshot: still blocking, the field's devices and sfh1's draw at most the limit."""
    controller = snap["controller"]
    assert controller["signal"] == "block" and controller["control"]["block"]["thresholds"] == THRESHOLDS
    assert snap["grid"]["trafo_loading_max_percent"] < 85.0  # the defaults would not block
    devices = snap["devices"]
    assert devices[HEAT_PUMP]["values"]["p_kw"] == 0.0, devices[HEAT_PUMP]
    assert devices[CHARGER]["values"]["p_kw"] <= limit_kw + TOL_KW, devices[CHARGER]
    sfh1, sfh2 = snap["balance"]["sfh1"], snap["balance"]["sfh2"]
    assert sfh2["p_heat_pump_kw"] == 0.0
    controllable = sfh1["p_ev_kw"] + max(sfh1["p_battery_kw"], 0.0) + sfh1["p_heat_pump_kw"]
    assert 0.0 < controllable <= limit_kw + TOL_KW, sfh1


def _read_after(snap: dict[str, Any], sim_s: float) -> bool:
    """Whether the snapshot's wallbox, heat pump and sfh1's battery were last read after ``sim_s``."""
    devices = snap.get("devices", {})
    read = [devices.get(d, {}).get("read_utc") for d in (CHARGER, HEAT_PUMP, "sfh1/battery0")]
    return all(r is not None and datetime.fromisoformat(r).timestamp() > sim_s for r in read)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def _site(path: Path) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    return data


def _client(port: int) -> ModbusTcpClient:
    client = ModbusTcpClient(HOST, port=port, timeout=2, retries=0)
    assert client.connect()
    return client


def _device_kw(loop: Loop, device: str) -> float:
    """The device's own SDM630 ``p_total`` on its server in the field. [kW]"""
    client = _client(loop.devices[device]["port"])
    try:
        rr = client.read_input_registers(SDM630.points["p_total"].address, count=2, device_id=1)
        assert not rr.isError(), rr
        value = client.convert_from_registers(rr.registers, F32, word_order="big")
    finally:
        client.close()
    assert isinstance(value, float)
    return value / 1000.0


def _wallbox_registers(loop: Loop) -> dict[str, float]:
    """What the wallbox's control registers show: the state it follows and its 14a limit [W]."""
    client = _client(loop.devices[CHARGER]["port"])
    try:
        state = client.read_holding_registers(WALLBOX.points["signal_state"].address, count=1, device_id=1)
        limit = client.read_holding_registers(WALLBOX.points["p_limit_14a"].address, count=2, device_id=1)
        assert not state.isError() and not limit.isError(), (state, limit)
        limit_w = client.convert_from_registers(limit.registers, F32, word_order="big")
    finally:
        client.close()
    assert isinstance(limit_w, float)
    return {"signal_state": float(state.registers[0]), "p_limit_14a": limit_w}


def _sim_time_s(loop: Loop) -> float:
    """The field's simulated time from its clock device. [s]"""
    client = _client(loop.clock["port"])
    try:
        rr = client.read_holding_registers(CLOCK.points["sim_time"].address, count=4, device_id=1)
        assert not rr.isError(), rr
        ms = client.convert_from_registers(rr.registers, client.DATATYPE.UINT64, word_order="big")
    finally:
        client.close()
    assert isinstance(ms, int)
    return ms / 1000.0


def _published(port: int) -> dict[str, tuple[int, float]] | None:
    """The district's and each building's (state, 14a limit) on the live twin's registers, once it and sfh1 block."""
    client = ModbusTcpClient(HOST, port=port, timeout=2, retries=0)
    if not client.connect():
        return None  # the live twin is still starting
    id_point = CMAP.building_point("building_id")
    state_offset = CMAP.building_point("sg_ready_state").offset
    limit_offset = CMAP.building_point("p_limit_14a_kw").offset
    out: dict[str, tuple[int, float]] = {}
    try:
        rr = client.read_holding_registers(CMAP.district_point("sg_ready_state").offset, count=1, device_id=1)
        out["district"] = (rr.registers[0], math.nan)
        rr = client.read_holding_registers(CMAP.district_point("building_count").offset, count=1, device_id=1)
        for number in range(1, rr.registers[0] + 1):
            rr = client.read_holding_registers(CMAP.building_address(number), count=limit_offset + 2, device_id=1)
            assert not rr.isError(), rr
            regs = rr.registers
            raw = regs[id_point.offset : id_point.offset + id_point.point.size]
            name = str(client.convert_from_registers(raw, client.DATATYPE.STRING)).rstrip("\x00")
            limit = client.convert_from_registers(regs[limit_offset : limit_offset + 2], F32, word_order="big")
            assert isinstance(limit, float)
            out[name] = (regs[state_offset], limit)
    finally:
        client.close()
    blocking = out["district"][0] == out.get("sfh1", (0, 0.0))[0] == SignalState.BLOCK
    return out if blocking else None


def _truth(path: Path, quarter_s: float) -> dict[str, dict[str, str]] | None:
    """The truth file's rows of the quarter starting at ``quarter_s`` (None while not written), by id."""
    import pandas as pd

    start = pd.Timestamp(quarter_s, unit="s", tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ")
    with path.open(encoding="utf-8", newline="") as f:
        rows = {r["id"]: r for r in csv.DictReader(f) if r["time_utc"] == start}
    return rows if {CHARGER, HEAT_PUMP, "sfh1/battery0", "sfh1", "sfh2"} <= set(rows) else None
