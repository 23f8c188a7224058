"""``twin live`` with its controller server and live power flow, against the simulated field.

One small field (9 buildings, a community battery, the SimBench grid) runs in-process; one
``twin live`` process polls it, serves controllers on ports the OS picks (named in the snapshot)
and solves the power flow every second. Every wait is bounded.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from pymodbus.client import ModbusTcpClient, ModbusTlsClient
from pymodbus.pdu import ExceptionResponse

from connectors.certs import CertFiles, client_ssl_context, make_test_certs
from connectors.controller_map import load_controller_map
from models.district import load_district
from tests.field.conftest import SMALL_DISTRICT
from tests.live.waits import snapshot_json, until_alive
from twin.core.live_state import LiveSnapshot
from twin.core.vocabulary import Quality
from twin.field import Field, FieldOptions

pytestmark = pytest.mark.e2e

HOST = "127.0.0.1"
CMAP = load_controller_map()
F32 = ModbusTcpClient.DATATYPE.FLOAT32
READY_WITHIN_S = 30.0
WAIT_S = 10.0


@dataclass
class Running:
    field: Field
    district_file: Path
    store: Path
    certs: CertFiles
    process: subprocess.Popen[str]

    def snapshot(self) -> dict[str, Any]:
        return snapshot_json(self.store)

    def wait(self, what: str, ready: Callable[[dict[str, Any]], bool], within_s: float = WAIT_S) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            snap = self.snapshot()
            return snap if snap and ready(snap) else None

        result: dict[str, Any] = until_alive(found, f"a snapshot with {what}", self.process, within_s)
        return result


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory, twin_exe: Path) -> Iterator[Running]:
    folder = tmp_path_factory.mktemp("live-controllers")
    district_file = folder / "small.yaml"
    district_file.write_text(yaml.safe_dump(SMALL_DISTRICT, sort_keys=False), encoding="utf-8")
    certs = make_test_certs(folder / "certs")
    options = FieldOptions(speed=60.0, start_utc="2025-06-21T10:00:00Z")
    with Field(load_district(district_file), options) as field:
        site = field.write_site(folder / "site.yaml")
        store = folder / "store"
        args = [
            str(twin_exe),
            "live",
            "--site",
            str(site),
            "--store",
            str(store),
            "--district",
            str(district_file),
            "--controller-port",
            "0",
            "--controller-tls-port",
            "0",
            "--certs",
            str(folder / "certs"),
            "--grid-every",
            "1",
            "--status-every",
            "60",
        ]
        process = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "TWIN_DEBUG": "1"}
        )
        run = Running(field, district_file, store, certs, process)
        try:
            run.wait(
                "every device, the grid and the controller listeners",
                lambda s: (
                    s["devices_ok"] == s["devices_total"]
                    and bool(s.get("grid"))
                    and bool(s.get("controller", {}).get("listeners", {}).get("tls_port"))
                ),
                READY_WITHIN_S,
            )
            yield run
        finally:
            process.send_signal(signal.SIGTERM)
            _, err = process.communicate(timeout=20)
            assert process.returncode == 0, err


def _float(client: ModbusTcpClient, address: int) -> float:
    rr = client.read_holding_registers(address, count=2, device_id=1)
    assert not rr.isError(), rr
    value = client.convert_from_registers(rr.registers, F32, word_order="big")
    assert isinstance(value, float)
    return value


def _plain(run: Running) -> ModbusTcpClient:
    port = run.snapshot()["controller"]["listeners"]["port"]
    client = ModbusTcpClient(HOST, port=port, timeout=2, retries=0)
    assert client.connect()
    return client


def test_reads_match_the_snapshot(running: Running) -> None:
    client = _plain(running)
    try:
        assert client.read_holding_registers(1, count=1, device_id=1).registers == [9]
        first = CMAP.building_address(1, CMAP.building_point("building_id").offset)
        rr = client.read_holding_registers(first, count=8, device_id=1)
        assert str(client.convert_from_registers(rr.registers, client.DATATYPE.STRING)).rstrip("\x00") == "mfh1"
        # the field changes its values once a simulated minute (1 s): read until a read and the
        # snapshot around it agree
        mismatch: dict[str, tuple[float, float]] = {}
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            snap = running.snapshot()
            district = snap["balance"]["substation"]
            grid = snap["grid"]
            expected = {
                "p_grid_kw": district["p_grid_kw"],
                "p_pv_kw": district["p_pv_kw"],
                "p_battery_kw": district["p_battery_kw"],
                "p_surplus_kw": max(-district["p_grid_kw"], 0.0),
                "vm_min_pu": grid["vm_min_pu"],
                "loading_trafo_max_percent": grid["trafo_loading_max_percent"],
            }
            got = {name: _float(client, CMAP.district_point(name).offset) for name in expected}
            mismatch = {
                name: (got[name], value)
                for name, value in expected.items()
                if got[name] != pytest.approx(value, rel=0.02, abs=0.05)
            }
            if not mismatch:
                break
            time.sleep(0.3)
        assert not mismatch, mismatch
        assert client.read_holding_registers(CMAP.district_point("quality").offset, count=1, device_id=1).registers == [
            0
        ]
    finally:
        client.close()


def test_tls_writer_sets_the_community_battery(running: Running) -> None:
    port = running.snapshot()["controller"]["listeners"]["tls_port"]
    certs = running.certs
    context = client_ssl_context(certs.writer_ca, certs.writer_cert, certs.writer_key)
    context.check_hostname = False  # pymodbus' sync TLS client passes no server name; the CA still verifies
    client = ModbusTlsClient(HOST, port=port, sslctx=context, timeout=2, retries=0)
    assert client.connect()
    try:
        registers = client.convert_to_registers(-30.0, F32, word_order="big")
        rr = client.write_registers(CMAP.district_point("battery_setpoint_kw").offset, registers, device_id=1)
        assert not rr.isError(), rr
        rr = client.write_registers(
            CMAP.building_address(2, CMAP.building_point("flexible_power_kw").offset),
            client.convert_to_registers(7.5, F32, word_order="big"),
            device_id=1,
        )
        assert not rr.isError(), rr
    finally:
        client.close()
    snap = running.wait(
        "the setpoint confirmed by the community battery",
        lambda s: (
            s["devices"]["community_battery"]["values"].get("p_setpoint_kw") == pytest.approx(-30.0, abs=0.01)
            and any(w["result"] == "confirmed" for w in s["controller"]["writes"])
        ),
    )
    writes = snap["controller"]["writes"]
    setpoint = next(w for w in writes if w["name"] == "battery_setpoint_kw")
    assert setpoint["value"] == -30.0 and setpoint["read_back"] == pytest.approx(-30.0, abs=0.01)
    assert "CN=" in setpoint["client"]
    assert snap["controller"]["flexible_power_kw"] == {"sfh1": 7.5}


def test_plain_listener_refuses_writes(running: Running) -> None:
    client = _plain(running)
    try:
        registers = client.convert_to_registers(10.0, F32, word_order="big")
        rr = client.write_registers(CMAP.district_point("battery_setpoint_kw").offset, registers, device_id=1)
        assert isinstance(rr, ExceptionResponse) and rr.exception_code == 1
    finally:
        client.close()
    writes = running.snapshot()["controller"]["writes"]
    assert all(w["value"] != 10.0 for w in writes)


def test_snapshot_has_the_grid_and_the_controller(running: Running) -> None:
    snap = running.snapshot()
    net = load_district(running.district_file).net
    grid = snap["grid"]
    assert grid["converged"] is True and grid["inputs_missing"] == []
    assert set(grid["buses"]) == {str(bus) for bus in net.bus.index}
    assert set(grid["branches"]) == {f"line {i}" for i in net.line.index} | {f"trafo {i}" for i in net.trafo.index}
    lv = [bus["vm_pu"] for bus in grid["buses"].values()]
    assert all(0.9 <= vm <= 1.1 for vm in lv)
    assert grid["vm_min_pu"] == pytest.approx(min(lv), abs=1e-6)
    assert all(bus["x"] is not None and bus["y"] is not None for bus in grid["buses"].values())
    assert grid["branches"]["trafo 0"]["kind"] == "trafo"
    assert {b["kind"] for b in grid["branches"].values()} == {"line", "trafo"}
    # the power flow follows the state: its exchange matches the substation meter (the field's
    # meter carries the losses of the field's own power flow)
    running.wait(
        "the power flow's exchange at the substation meter's",
        lambda s: abs(s["grid"]["p_grid_kw"] - s["balance"]["substation"]["p_grid_kw"]) < 1.0,
    )
    controller = snap["controller"]
    assert controller["signal"] in {"block", "normal", "recommended_on", "forced_on"}
    assert 1 <= controller["signal_code"] <= 4 and controller["limit_14a_kw"] >= 4.2
    assert controller["quality"] == "ok" and controller["since_utc"].endswith("Z")
    assert isinstance(controller["reasons"], list) and isinstance(controller["writes"], list)
    typed = LiveSnapshot.from_json(snap)  # the live twin's file, with both sections, through the type
    assert typed.to_json() == snap
    assert typed.grid is not None and typed.grid.converged is True and typed.grid.inputs_missing == ()
    assert set(typed.grid.buses) == set(grid["buses"]) and typed.grid.vm_min_pu == grid["vm_min_pu"]
    assert typed.controller is not None and typed.controller.signal == controller["signal"]
    assert typed.controller.quality is Quality.OK and typed.controller.port == controller["listeners"]["port"]


def _register(client: ModbusTcpClient, name: str) -> int:
    rr = client.read_holding_registers(CMAP.district_point(name).offset, count=1, device_id=1)
    assert not rr.isError(), rr
    value: int = rr.registers[0]
    return value


def _until_registers(client: ModbusTcpClient, what: str, expected: dict[str, int]) -> None:
    got: dict[str, int] = {}
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        got = {name: _register(client, name) for name in expected}
        if got == expected:
            return
        time.sleep(0.2)
    pytest.fail(f"{what}: registers {got} within {WAIT_S} s, expected {expected}")


def test_quality_goes_per_quantity(running: Running) -> None:
    """A silent household meter makes the district partial (one input missing); a silent substation meter invalid."""
    household = next(d for d in running.field.devices if d.endswith("/meter") and d != "substation/meter")
    client = _plain(running)
    try:
        _until_registers(client, "all devices answer", {"quality": int(Quality.OK), "inputs_missing": 0})
        running.field.inject(household, "stop")
        try:
            _until_registers(client, f"{household} silent", {"quality": int(Quality.PARTIAL), "inputs_missing": 1})
            snap = running.snapshot()
            assert snap["balance"]["substation"]["inputs_missing"] == 1
            assert _float(client, CMAP.district_point("p_grid_kw").offset) == pytest.approx(
                snap["balance"]["substation"]["p_grid_kw"], rel=0.05, abs=0.5
            )
        finally:
            running.field.clear_fault(household)
        _until_registers(client, f"{household} back", {"quality": int(Quality.OK), "inputs_missing": 0})
        running.field.inject("substation/meter", "stop")
        try:
            _until_registers(client, "the substation meter silent", {"quality": int(Quality.INVALID)})
            assert running.snapshot()["balance"]["substation"]["quality"] == int(Quality.STALE)
        finally:
            running.field.clear_fault("substation/meter")
        _until_registers(client, "the substation meter back", {"quality": int(Quality.OK)})
    finally:
        client.close()


def test_building_blocks_carry_their_feeders_signal(running: Running) -> None:
    """The live power flow's feeders reach every building block through the worker process."""
    from models.control.feeder import FeederMap

    loaded = load_district(running.district_file)
    index = dict(zip(loaded.net.bus["name"].astype(str), loaded.net.bus.index, strict=True))
    feeders = FeederMap.from_net(loaded.net)
    expected = {
        b.id: int(f) + 1
        for b, f in zip(
            loaded.district.buildings, feeders.of_buses([index[b.bus] for b in loaded.district.buildings]), strict=True
        )
    }
    client = _plain(running)
    try:
        n = client.read_holding_registers(1, count=1, device_id=1).registers[0]
        deadline = time.monotonic() + WAIT_S
        got: dict[str, int] = {}
        while time.monotonic() < deadline:
            got = {}
            for number in range(1, n + 1):
                base = CMAP.building_address(number)
                rr = client.read_holding_registers(base, count=40, device_id=1)
                assert not rr.isError(), rr
                building = str(client.convert_from_registers(rr.registers[4:12], client.DATATYPE.STRING)).rstrip("\x00")
                state, feeder = rr.registers[2], rr.registers[3]
                limit = client.convert_from_registers(rr.registers[24:26], F32, word_order="big")
                assert state in (1, 2, 3, 4) and isinstance(limit, float) and limit >= 4.2
                got[building] = feeder
            if got and all(got[b] == expected[b] for b in got if b in expected) and any(got.values()):
                break
            time.sleep(0.3)
        assert got and all(got[b] == expected[b] for b in got if b in expected), (got, expected)
        assert any(got.values())  # the power flow's feeders arrived (0 = not known)
    finally:
        client.close()
