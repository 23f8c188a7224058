"""The simulated field on the wire: pysunspec2 scans, SDM630 floats, counters, faults, site file.

The fault test comes first: the module's field plays its fault plan from its start (see
``conftest.FAULTS``), and a restart is only seen while it happens.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from pymodbus.client import ModbusTcpClient
from pymodbus.exceptions import ModbusIOException
from sunspec2.modbus.client import SunSpecModbusClientDeviceTCP

from connectors.maps import load_map
from connectors.polling import DeviceReader, ModbusConnection, Reading
from connectors.site import SiteDevice, load_site
from twin.field import Field

HOST = "127.0.0.1"
DEADLINE_S = 10.0
QUARTER_S = 900
F32 = ModbusTcpClient.DATATYPE.FLOAT32
_T = TypeVar("_T")

#: SunSpec map -> (AC model, energy counter point, sign of W against the twin's power, SOC model and point).
SUNSPEC_KINDS: dict[str, tuple[int, str, float, tuple[int, str] | None]] = {
    "sunspec_inverter": (103, "WH", -1.0, None),
    "sunspec_inverter_701": (701, "TotWhInj", -1.0, None),
    "sunspec_meter": (203, "TotWhImp", 1.0, None),
    "sunspec_meter_substation": (203, "TotWhImp", 1.0, None),
    "sunspec_battery": (103, "WH", -1.0, (124, "ChaState")),
    "sunspec_battery_701": (701, "TotWhAbs", -1.0, (802, "SoC")),
}


@pytest.fixture
def client(modbus_client: Callable[..., ModbusTcpClient]) -> Callable[..., ModbusTcpClient]:
    return modbus_client


def _device(field: Field, device_id: str) -> SiteDevice:
    assert field.site is not None
    return next(d for d in field.site.devices if d.id == device_id)


def _clock_s(field: Field) -> float:
    assert field.site is not None and field.site.clock is not None
    with ModbusTcpClient(HOST, port=field.site.clock.port, timeout=1.0, retries=0) as clock:
        regs = clock.read_holding_registers(0, count=4, device_id=1).registers
    return clock.convert_from_registers(regs, ModbusTcpClient.DATATYPE.UINT64) / 1000.0


def _in_one_quarter(field: Field, read: Callable[[], _T]) -> tuple[_T, float]:
    """Read while the clock stays in one quarter hour, past the devices' first update in it."""
    deadline = time.monotonic() + 20.0
    while time.monotonic() < deadline:
        before = _clock_s(field)
        value = read()
        after = _clock_s(field)
        if before // QUARTER_S == after // QUARTER_S and before % QUARTER_S >= 60:
            return value, before
        time.sleep(0.3)
    pytest.fail("the clock never stayed in one quarter hour for a read")


def _scan(port: int, unit_id: int = 1) -> SunSpecModbusClientDeviceTCP:
    device = SunSpecModbusClientDeviceTCP(slave_id=unit_id, ipaddr=HOST, ipport=port, timeout=2)
    try:
        device.scan()
    finally:
        device.close()
    return device


def _until(check: Callable[[], Any], what: str, deadline_s: float = DEADLINE_S) -> Any:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.1)
    pytest.fail(f"not seen within {deadline_s} s: {what}")


def _refused(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return False
    except ConnectionRefusedError:
        return True


def _exception_code(
    client: ModbusTcpClient, unit_id: int = 1, *, address: int = 0, input_registers: bool = False
) -> int | None:
    read = client.read_input_registers if input_registers else client.read_holding_registers
    response = read(address, count=2, device_id=unit_id)
    return response.exception_code if response.isError() else None


def test_each_fault_of_the_plan_on_the_wire(field: Field, client: Callable[..., ModbusTcpClient]) -> None:
    port = {d.id: (d.port, d.unit_id) for d in field.site.devices}  # type: ignore[union-attr]
    # restart (from 4 s to 7 s wall): refused, then answering again on the same port
    _until(lambda: _refused(port["sfh6/meter"][0]), "sfh6/meter refuses connections while restarting")
    _until(lambda: not _refused(port["sfh6/meter"][0]), "sfh6/meter answers again after its restart")
    # stop: refused until the end
    assert _refused(port["sfh3/meter"][0])
    # hang: the request times out
    with pytest.raises(ModbusIOException):
        client(port["sfh4/meter"][0], timeout_s=0.3).read_holding_registers(40000, count=2, device_id=1)
    # exception code 6 (device busy)
    assert _exception_code(client(port["sfh3/gas_meter"][0])) == 6
    # not implemented: an SDM630 serves NaN
    regs = client(port["sfh1/charger0"][0]).read_input_registers(0x34, count=2, device_id=1).registers
    value = ModbusTcpClient.convert_from_registers(regs, F32)
    assert value != value
    # absurd: beyond the meter's physical range of +-400 kW
    assert abs(_scan(port["sfh5/meter"][0]).models[203][0].points["W"].cvalue) > 400_000
    # hang of a unit behind a gateway: the gateway answers exception 11, its neighbours answer
    gateway, unit = port["mfh1/flat03"]
    assert _exception_code(client(gateway), unit, input_registers=True) == 11
    assert _exception_code(client(gateway), port["mfh1/flat02"][1], input_registers=True) is None
    # at 120 simulated seconds: exception 4 (device failure)
    assert _until(lambda: _exception_code(client(port["sfh7/meter"][0]), address=40000) == 4, "sfh7/meter exception 4")
    assert _clock_s(field) >= field.start_s + 120
    assert field.faults == {
        "sfh3/meter": "stop",
        "sfh4/meter": "hang",
        "sfh3/gas_meter": "exception",
        "sfh1/charger0": "not_implemented",
        "sfh5/meter": "absurd",
        "mfh1/flat03": "hang",
        "sfh7/meter": "exception",
    }


def test_fault_on_command_ends_by_itself(field: Field, client: Callable[..., ModbusTcpClient]) -> None:
    gas = _device(field, "sfh8/gas_meter")
    field.inject("sfh8/gas_meter", "exception", duration_s=1.0, exception_code=5)
    assert _exception_code(client(gas.port)) == 5
    _until(lambda: _exception_code(client(gas.port)) is None, "sfh8/gas_meter answers after the fault")


@pytest.mark.parametrize("map_name", list(SUNSPEC_KINDS))
def test_pysunspec2_scans_every_sunspec_kind(field: Field, map_name: str) -> None:
    device = next(d for d in field.site.devices if d.map == map_name and d.id not in field.faults)  # type: ignore[union-attr]
    ac_model, counter, sign, soc_point = SUNSPEC_KINDS[map_name]
    scanned, clock_s = _in_one_quarter(field, lambda: _scan(device.port, device.unit_id))
    expected = field.expected(device.id, clock_s)
    points = scanned.models[ac_model][0].points
    power = "p_meter_kw" if device.kind.endswith("meter") else "p_kw"
    resolution_w = 10.0 ** points["W_SF"].cvalue
    assert points["W"].cvalue == pytest.approx(sign * expected[power] * 1000.0, abs=resolution_w / 2 + 1e-6)
    assert points[counter].cvalue > 0
    assert scanned.models[1][0].points["Mn"].cvalue == "Beucha twin"
    if "v_l1_v" in expected:
        volts = points["PhVphA" if ac_model != 701 else "VL1"].cvalue
        assert volts == pytest.approx(expected["v_l1_v"], abs=0.1)
    if soc_point is not None:
        model, point = soc_point
        soc_percent = scanned.models[model][0].points[point].cvalue
        assert soc_percent == pytest.approx(expected["soc_frac"] * 100.0, abs=0.1)
    assert _missing_mandatory(scanned) == []  # what a SunSpec conformance check asks of a certified device
    if ac_model in (103, 203):  # per-phase currents follow the power on a balanced connection
        phase_v = points["PhVphA"].cvalue
        assert points["AphA"].cvalue == pytest.approx(abs(points["W"].cvalue) / (3 * phase_v), abs=0.11)
        assert points["A"].cvalue == pytest.approx(3 * points["AphB"].cvalue, abs=0.31)


def test_poller_reads_an_inverter_with_another_model_chain(field: Field) -> None:
    """The float inverter (1 + 113) is in the site file under the integer map; the poller finds its points."""
    floats = [s.device for s in field.servers.devices.values() if s.spec.served_map == "sunspec_inverter_float"]
    assert floats, "the field has no inverter with the float model chain"
    device = _device(field, floats[0].name)
    assert device.map == "sunspec_inverter"

    async def read() -> Reading:
        connection = ModbusConnection(HOST, device.port, timeout_s=2.0)
        try:
            return await DeviceReader(connection, load_map(device.map), unit_id=device.unit_id).read()
        finally:
            connection.close()

    reading, clock_s = _in_one_quarter(field, lambda: asyncio.run(read()))
    assert reading.ok, reading.error
    expected = field.expected(device.id, clock_s)
    assert reading.values["p_kw"] == pytest.approx(expected["p_kw"], abs=1e-3)
    assert reading.values["v_l1_v"] == pytest.approx(expected["v_l1_v"], abs=0.01)
    assert reading.values["energy_export_kwh"] > 0


def _missing_mandatory(scanned: SunSpecModbusClientDeviceTCP) -> list[str]:
    """Mandatory points of every scanned model (groups too) that read as not implemented."""
    missing: list[str] = []

    def walk(group: Any, prefix: str) -> None:
        for name, point in group.points.items():
            if point.pdef.get("mandatory") == "M" and point.value is None:
                missing.append(prefix + name)
        for name, children in group.groups.items():
            for child in children if isinstance(children, list) else [children]:
                walk(child, f"{prefix}{name}.")

    for model_id, instances in scanned.models.items():
        if isinstance(model_id, int):
            for instance in instances:
                walk(instance, f"{model_id}.")
    return missing


@pytest.mark.parametrize("device_id", ["mfh1/flat01", "mfh1/flat06", "sfh2/heat_pump_meter"])
def test_sdm630_registers_decode_to_the_models_values(
    field: Field, client: Callable[..., ModbusTcpClient], device_id: str
) -> None:
    device = _device(field, device_id)
    modbus = client(device.port)
    regs, clock_s = _in_one_quarter(
        field, lambda: modbus.read_input_registers(0, count=76, device_id=device.unit_id).registers
    )
    decoded = {
        name: ModbusTcpClient.convert_from_registers(regs[address : address + 2], F32)
        for name, address in {"v": 0x00, "p": 0x34, "hz": 0x46, "imp": 0x48, "exp": 0x4A}.items()
    }
    expected = field.expected(device_id, clock_s)
    assert decoded["p"] / 1000.0 == pytest.approx(expected["p_kw"], rel=1e-5, abs=1e-6)
    assert decoded["v"] == pytest.approx(expected["v_l1_v"], rel=1e-5)
    assert decoded["hz"] == 50.0
    assert decoded["imp"] > 1.0  # the year so far plus the base reading
    assert decoded["exp"] == pytest.approx(1.0)  # households and heat pumps never export


def test_flats_split_their_buildings_household_load(field: Field) -> None:
    flats = [d.id for d in field.site.devices if d.kind == "household_meter"]  # type: ignore[union-attr]
    now = field.sim_time_s
    assert len(flats) == 6
    total = sum(field.expected(flat, now)["p_kw"] for flat in flats)
    building = field.expected("mfh1/meter", now)["p_meter_kw"]
    pv = field.expected("mfh1/pv0", now)["p_kw"]
    assert total == pytest.approx(building - pv, rel=1e-4)


def test_counters_grow_and_survive_a_restart(field: Field) -> None:
    meter = _device(field, "sfh8/meter")

    def counters() -> tuple[float, float]:
        points = _scan(meter.port).models[203][0].points
        return points["TotWhImp"].cvalue, points["TotWhExp"].cvalue

    before = counters()
    field.restart(meter.id, down_s=1.0)
    _until(lambda: _refused(meter.port), "sfh8/meter down")
    _until(lambda: not _refused(meter.port), "sfh8/meter back")
    after = counters()
    assert after[0] > before[0]  # 1 s down + scans at speed 60: the house drew energy meanwhile
    assert after[1] >= before[1]


def test_community_battery_follows_its_setpoint(field: Field, client: Callable[..., ModbusTcpClient]) -> None:
    battery = _device(field, "community_battery")
    modbus = client(battery.port)
    int32 = ModbusTcpClient.DATATYPE.INT32

    def actual_w() -> int:
        regs = modbus.read_holding_registers(0, count=6, device_id=1).registers
        return int(ModbusTcpClient.convert_from_registers(regs[2:4], int32))

    assert actual_w() == 0
    soc_before = modbus.read_holding_registers(4, count=1, device_id=1).registers[0]
    # charge 50 kW: the device counts discharge positive
    response = modbus.write_registers(0, ModbusTcpClient.convert_to_registers(-50_000, int32), device_id=1)
    assert not response.isError()
    _until(lambda: actual_w() == -50_000, "the battery charges at 50 kW")
    # the substation sees the buildings, the grid losses (>= 0, small) and the battery's 50 kW
    substation = _device(field, "substation/meter")
    scanned, clock_s = _in_one_quarter(field, lambda: _scan(substation.port))
    buildings_kw = sum(
        field.expected(d.id, clock_s)["p_meter_kw"]
        for d in field.site.devices  # type: ignore[union-attr]
        if d.kind == "building_meter"
    )
    losses_kw = scanned.models[203][0].points["W"].cvalue / 1000.0 - buildings_kw - 50.0
    assert -0.1 <= losses_kw < 5.0
    _until(lambda: modbus.read_holding_registers(4, count=1, device_id=1).registers[0] > soc_before, "SOC rises")
    # beyond the map's write range: rejected with exception 3
    too_much = modbus.write_registers(0, ModbusTcpClient.convert_to_registers(-300_000, int32), device_id=1)
    assert too_much.isError() and too_much.exception_code == 3
    modbus.write_registers(0, ModbusTcpClient.convert_to_registers(0, int32), device_id=1)
    _until(lambda: actual_w() == 0, "the battery idles again")


def test_site_file_valid_and_complete(field: Field, tmp_path: Path) -> None:
    site = load_site(field.write_site(tmp_path / "site.yaml"))
    kinds: dict[str, int] = {}
    for device in site.devices:
        kinds[device.kind] = kinds.get(device.kind, 0) + 1
    assert kinds == {
        "substation_meter": 1,
        "community_battery": 1,
        "building_meter": 9,
        "pv_inverter": 3,
        "battery": 2,
        "heat_pump_meter": 1,
        "ev_charger_meter": 1,
        "household_meter": 6,
        "gas_meter": 8,
        "weather_station": 1,
    }
    assert site.start_utc == "2025-06-21T10:00:00Z"
    assert site.speed == 60.0
    assert site.clock is not None and site.clock.map == "field_clock"
    flats = [d for d in site.devices if d.kind == "household_meter"]
    assert len({d.port for d in flats}) == 1
    assert sorted(d.unit_id for d in flats) == [1, 2, 3, 4, 5, 6]
    others = [d for d in site.devices if d.kind != "household_meter"]
    assert len({d.port for d in others}) == len(others)  # one port per device
    by_id = {d.id: d for d in site.devices}
    assert by_id["sfh1/battery0"].map == "sunspec_battery"
    assert by_id["sfh2/battery0"].map == "sunspec_battery_701"
    assert by_id["sfh2/pv0"].map == "sunspec_inverter_701"  # every third inverter
    assert by_id["sfh1/pv0"].p_peak_kw == 8.0
    assert by_id["community_battery"].capacity_kwh == 200.0
    assert all(d.host == HOST and d.bus for d in site.devices)
    answering = [d for d in site.devices if d.id not in ("sfh3/meter", "sfh6/meter", "sfh8/meter")]
    assert not any(_refused(d.port) for d in answering)


def test_clock_runs_at_the_speed(field: Field) -> None:
    assert field.site is not None and field.site.clock is not None
    first, wall0 = _clock_s(field), time.monotonic()
    time.sleep(1.0)
    second, wall1 = _clock_s(field), time.monotonic()
    assert (second - first) / (wall1 - wall0) == pytest.approx(60.0, abs=10.0)
    with ModbusTcpClient(HOST, port=field.site.clock.port, timeout=1.0, retries=0) as clock:
        regs = clock.read_holding_registers(4, count=6, device_id=1).registers
    assert clock.convert_from_registers(regs[:4], ModbusTcpClient.DATATYPE.UINT64) / 1000.0 == field.start_s
    assert clock.convert_from_registers(regs[4:], F32) == 60.0
