"""Device-side servers over real TCP on 127.0.0.1: pysunspec2 scans, raw reads, writes, faults."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from pymodbus.client import ModbusTcpClient
from pymodbus.exceptions import ModbusIOException
from sunspec2.modbus.client import SunSpecModbusClientDeviceTCP

from connectors.device_server import DeviceServer, ServerLoopThread
from connectors.maps import load_map
from connectors.simdevice import Fault, SimulatedDevice

HOST = "127.0.0.1"
F32 = ModbusTcpClient.DATATYPE.FLOAT32

# One value set per SunSpec device kind: quantities in the twin's units and sign, and what
# pysunspec2 must read (SunSpec point, device sign and unit).
SUNSPEC_KINDS = {
    "sunspec_inverter": (
        {"p_kw": -3.21, "energy_export_kwh": 1234.567, "v_l1_v": 231.4, "frequency_hz": 50.02},
        {(103, "W"): 3210, (103, "WH"): 1234567, (103, "PhVphA"): 231.4, (103, "Hz"): 50.02},
    ),
    "sunspec_inverter_701": (
        {"p_kw": -7.5, "energy_export_kwh": 5000.0, "v_l1_v": 229.9, "frequency_hz": 49.987},
        {(701, "W"): 7500, (701, "TotWhInj"): 5_000_000, (701, "VL1"): 229.9, (701, "Hz"): 49.987},
    ),
    "sunspec_meter": (
        {"p_meter_kw": 12.34, "energy_import_kwh": 20_000.0, "energy_export_kwh": 3_000.5},
        {(203, "W"): 12340, (203, "TotWhImp"): 20_000_000, (203, "TotWhExp"): 3_000_500},
    ),
    "sunspec_meter_substation": (
        {"p_meter_kw": -412.3, "energy_import_kwh": 1_000_000.0, "energy_export_kwh": 250_000.0},
        {(203, "W"): -412300, (203, "TotWhImp"): 1_000_000_000, (203, "TotWhExp"): 250_000_000},
    ),
    "sunspec_battery": (
        {"p_kw": 4.6, "energy_export_kwh": 812.0, "soc_frac": 0.437},
        {(103, "W"): -4600, (103, "WH"): 812_000, (124, "ChaState"): 43.7},
    ),
    "sunspec_battery_701": (
        {"p_kw": -2.5, "soc_frac": 0.456, "energy_import_kwh": 10.0, "energy_export_kwh": 5.0, "capacity_kwh": 10.0},
        {
            (701, "W"): 2500,
            (802, "SoC"): 45.6,
            (701, "TotWhAbs"): 10_000,
            (701, "TotWhInj"): 5_000,
            (802, "WHRtg"): 10_000,
        },
    ),
}


def _scan(port: int, unit_id: int) -> SunSpecModbusClientDeviceTCP:
    device = SunSpecModbusClientDeviceTCP(slave_id=unit_id, ipaddr=HOST, ipport=port, timeout=2)
    try:
        device.scan()
    finally:
        device.close()
    return device


def test_pysunspec2_scans_every_sunspec_kind(server_loop: ServerLoopThread) -> None:
    devices = []
    for unit_id, (name, (quantities, _)) in enumerate(SUNSPEC_KINDS.items(), start=1):
        device = SimulatedDevice(load_map(name), unit_id=unit_id, static={"1.SN": f"SN-{unit_id}"})
        device.set_quantities(quantities)
        devices.append(device)
    port = server_loop.serve(DeviceServer(devices))  # one gateway, a unit id per device kind
    for device, (name, (_, expected)) in zip(devices, SUNSPEC_KINDS.items(), strict=True):
        scanned = _scan(port, device.unit_id)
        models = [key for key in scanned.models if isinstance(key, int)]
        assert models == list(load_map(name).models), name
        assert scanned.models[1][0].points["SN"].cvalue == f"SN-{device.unit_id}"
        for (model, point), value in expected.items():
            assert scanned.models[model][0].points[point].cvalue == pytest.approx(value), (name, point)


def test_pysunspec2_reads_live_updates(server_loop: ServerLoopThread) -> None:
    device = SimulatedDevice(load_map("sunspec_inverter"))
    device.set_quantities({"p_kw": -1.0, "energy_export_kwh": 1.0})
    port = server_loop.serve(DeviceServer([device]))
    scanned = SunSpecModbusClientDeviceTCP(slave_id=1, ipaddr=HOST, ipport=port, timeout=2)
    try:
        scanned.scan()
        device.set_quantities({"p_kw": -2.345})
        device.add_energy("energy_export_kwh", 0.5)
        scanned.models[103][0].read()
        assert scanned.models[103][0].points["W"].cvalue == 2345
        assert scanned.models[103][0].points["WH"].cvalue == 1500
    finally:
        scanned.close()


def test_sdm630_raw_float_reads(server_loop: ServerLoopThread, modbus_client) -> None:
    device = SimulatedDevice(load_map("sdm630"), unit_id=5)
    device.set_quantities({"p_kw": -2.75, "energy_import_kwh": 4321.5, "energy_export_kwh": 99.25, "v_l1_v": 230.5})
    device.set_points({"p_l1": -900.0, "energy_total": 4420.75})
    port = server_loop.serve(DeviceServer([device]))
    client = modbus_client(port)
    assert client.connect()

    def read_float(address: int) -> float:  # mbpoll -t 3:float -B -0 -r ADDRESS -c 1
        response = client.read_input_registers(address, count=2, device_id=5)
        assert not response.isError(), response
        return float(client.convert_from_registers(response.registers, F32, word_order="big"))  # type: ignore[arg-type]

    assert read_float(0x34) == pytest.approx(-2750.0)  # total P, import-positive: exporting
    assert read_float(0x48) == pytest.approx(4321.5)
    assert read_float(0x4A) == pytest.approx(99.25)
    assert read_float(0x00) == pytest.approx(230.5)
    assert read_float(0x0C) == pytest.approx(-900.0)
    assert read_float(0x46) == pytest.approx(50.0)
    assert read_float(0x156) == pytest.approx(4420.75)
    block = client.read_input_registers(0, count=0x4C, device_id=5)  # one read up to the counters
    assert len(block.registers) == 0x4C
    assert client.read_holding_registers(0x34, count=2, device_id=5).isError()  # no holding registers


def test_generic_maps_word_order_and_clock(server_loop: ServerLoopThread, modbus_client) -> None:
    gas = SimulatedDevice(load_map("gas_meter"), unit_id=1)
    gas.set_quantities({"energy_fuel_kwh": 123_456.78})
    clock = SimulatedDevice(load_map("field_clock"), unit_id=2)
    clock.set_quantities({"sim_time_s": 1_780_000_123.456, "sim_start_s": 1_780_000_000.0, "speed_factor": 60.0})
    port = server_loop.serve(DeviceServer([gas, clock]))
    client = modbus_client(port)
    regs = client.read_holding_registers(0, count=2, device_id=1).registers
    assert client.convert_from_registers(regs, ModbusTcpClient.DATATYPE.UINT32, word_order="little") == 12_345_678
    regs = client.read_holding_registers(0, count=10, device_id=2).registers
    assert client.convert_from_registers(regs[0:4], ModbusTcpClient.DATATYPE.UINT64) == 1_780_000_123_456
    assert client.convert_from_registers(regs[8:10], F32) == 60.0


def test_writable_setpoint_accepted_validated_and_read_only_rejected(
    server_loop: ServerLoopThread, modbus_client
) -> None:
    seen: list[tuple[str, float]] = []

    def on_write(name: str, value: float) -> None:
        if value > 100.0:
            raise ValueError("charging above 100 kW is not allowed by this battery's site")
        seen.append((name, value))

    battery = SimulatedDevice(load_map("community_battery"), on_write=on_write)
    port = server_loop.serve(DeviceServer([battery]))
    client = modbus_client(port)
    regs = client.convert_to_registers(30_000, ModbusTcpClient.DATATYPE.INT32)  # device: discharge 30 kW
    assert not client.write_registers(0, regs, device_id=1).isError()
    assert seen == [("p_setpoint_kw", -30.0)]
    assert battery.quantity("p_setpoint_kw") == -30.0
    too_big = client.convert_to_registers(300_000, ModbusTcpClient.DATATYPE.INT32)  # outside write_range
    assert client.write_registers(0, too_big, device_id=1).exception_code == 3
    refused = client.convert_to_registers(-150_000, ModbusTcpClient.DATATYPE.INT32)  # 150 kW charge: callback
    assert client.write_registers(0, refused, device_id=1).exception_code == 3
    assert battery.quantity("p_setpoint_kw") == -30.0
    assert client.write_registers(2, [0, 1], device_id=1).exception_code == 2  # p_actual is read-only


def test_counters_only_grow_and_survive_a_restart(server_loop: ServerLoopThread) -> None:
    meter = SimulatedDevice(load_map("sunspec_meter"))
    meter.set_quantities({"p_meter_kw": 1.0, "energy_import_kwh": 100.0, "energy_export_kwh": 1.0})
    server = DeviceServer([meter])
    port = server_loop.serve(server)
    before = _scan(port, 1).models[203][0].points["TotWhImp"].cvalue
    with pytest.raises(ValueError, match="would go down"):
        meter.set_quantities({"energy_import_kwh": 99.0})
    with pytest.raises(ValueError, match="may only grow"):
        meter.add_energy("energy_import_kwh", -1.0)
    server_loop.run(server.restart(down_s=0.05))
    assert server.port == port
    meter.add_energy("energy_import_kwh", 0.25)
    after = _scan(port, 1).models[203][0].points["TotWhImp"].cvalue
    assert before == 100_000
    assert after == 100_250


def test_counters_float32_tolerate_rounding_and_grow_atomically() -> None:
    sdm = SimulatedDevice(load_map("sdm630"))
    sdm.set_quantities({"energy_import_kwh": 4321.4999})  # float32 keeps 4321.5
    sdm.set_quantities({"energy_import_kwh": 4321.49995})  # more than before, less than float32 shows
    assert sdm.quantity("energy_import_kwh") == pytest.approx(4321.5)
    with pytest.raises(ValueError, match="would go down"):
        sdm.set_quantities({"energy_import_kwh": 4321.0})
    threads = [
        threading.Thread(target=lambda: [sdm.add_energy("energy_export_kwh", 0.5) for _ in range(200)])
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert sdm.quantity("energy_export_kwh") == 400.0


def test_fault_refused_then_restart(server_loop: ServerLoopThread) -> None:
    server = DeviceServer([SimulatedDevice(load_map("sdm630"))])
    port = server_loop.serve(server)
    server_loop.run(server.stop())
    with pytest.raises(ConnectionRefusedError), socket.create_connection((HOST, port), timeout=1):
        pass
    server_loop.run(server.start())
    with socket.create_connection((HOST, port), timeout=1):
        pass


def test_fault_hang_times_out_on_the_wire(server_loop: ServerLoopThread, modbus_client) -> None:
    device = SimulatedDevice(load_map("sdm630"))
    port = server_loop.serve(DeviceServer([device]))
    device.inject(Fault.HANG)
    client = modbus_client(port, timeout_s=0.2)
    started = time.monotonic()
    with pytest.raises(ModbusIOException):
        client.read_input_registers(0x34, count=2, device_id=1)
    assert 0.15 < time.monotonic() - started < 2.0
    device.clear_fault()
    client.close()
    assert not modbus_client(port).read_input_registers(0x34, count=2, device_id=1).isError()


@pytest.mark.parametrize("code", [4, 6])
def test_fault_exception_code_on_the_wire(server_loop: ServerLoopThread, modbus_client, code: int) -> None:
    device = SimulatedDevice(load_map("sdm630"))
    port = server_loop.serve(DeviceServer([device]))
    device.inject("exception", exception_code=code)
    client = modbus_client(port)
    response = client.read_input_registers(0x34, count=2, device_id=1)
    assert response.isError()
    assert response.exception_code == code
    device.clear_fault()
    assert not client.read_input_registers(0x34, count=2, device_id=1).isError()


def test_fault_not_implemented_sentinels_on_the_wire(server_loop: ServerLoopThread, modbus_client) -> None:
    inverter = SimulatedDevice(load_map("sunspec_inverter"))
    inverter.set_quantities({"p_kw": -3.0, "energy_export_kwh": 10.0})
    sdm = SimulatedDevice(load_map("sdm630"), unit_id=2)
    sdm.set_quantities({"p_kw": 1.0})
    port = server_loop.serve(DeviceServer([inverter, sdm]))
    inverter.inject(Fault.NOT_IMPLEMENTED)
    sdm.inject(Fault.NOT_IMPLEMENTED)
    client = modbus_client(port)
    w = load_map("sunspec_inverter").points["103.W"].address
    assert client.read_holding_registers(w, count=1, device_id=1).registers == [0x8000]
    wh = load_map("sunspec_inverter").points["103.WH"].address
    assert client.read_holding_registers(wh, count=2, device_id=1).registers == [0, 0]  # acc32: 0
    regs = client.read_input_registers(0x34, count=2, device_id=2).registers
    assert client.convert_from_registers(regs, F32) != client.convert_from_registers(regs, F32)  # NaN
    assert _scan(port, 1).models[103][0].points["W"].cvalue is None
    assert inverter.quantity("p_kw") == -3.0  # the image is untouched


def test_fault_absurd_values_on_the_wire(server_loop: ServerLoopThread) -> None:
    meter = SimulatedDevice(load_map("sunspec_meter"))
    meter.set_quantities({"p_meter_kw": 5.0, "energy_import_kwh": 1.0, "energy_export_kwh": 1.0, "v_l1_v": 230.0})
    port = server_loop.serve(DeviceServer([meter]))
    meter.inject(Fault.ABSURD)
    points = _scan(port, 1).models[203][0].points
    assert abs(points["W"].cvalue) > 400_000  # beyond the map's physical range of +-400 kW
    assert points["PhVphA"].cvalue > 300
    meter.inject(Fault.ABSURD, values={"p_meter_kw": -250.0})
    assert _scan(port, 1).models[203][0].points["W"].cvalue == -250_000
    meter.clear_fault()
    assert _scan(port, 1).models[203][0].points["W"].cvalue == 5000


def test_device_server_free_ports_and_unknown_unit(server_loop: ServerLoopThread, modbus_client) -> None:
    servers = [DeviceServer([SimulatedDevice(load_map("gas_meter"))]) for _ in range(3)]
    ports = [server_loop.serve(server) for server in servers]
    assert len(set(ports)) == 3
    assert all(port > 0 for port in ports)
    response = modbus_client(ports[0]).read_holding_registers(0, count=2, device_id=9)
    assert response.isError()
    assert response.exception_code == 4


def test_device_server_rejects_duplicate_unit_ids() -> None:
    device = SimulatedDevice(load_map("gas_meter"))
    with pytest.raises(ValueError, match="unit ids must differ"):
        DeviceServer([device, SimulatedDevice(load_map("sdm630"))])
