"""The polling primitive over real TCP on 127.0.0.1: values, quality flags, faults, recovery, writes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from connectors.device_server import DeviceServer
from connectors.maps import load_map
from connectors.polling import (
    DeviceExceptionError,
    DeviceReader,
    ModbusConnection,
    Reading,
    plan_reads,
    power_limit_kw,
)
from connectors.simdevice import Fault, SimulatedDevice
from twin.core.errors import ConnectorError
from twin.core.schema import QUALITY_FLAGS

OK, MISSING, INVALID = QUALITY_FLAGS["ok"], QUALITY_FLAGS["missing"], QUALITY_FLAGS["invalid"]
TIMEOUT_S = 0.2

VALUES = {
    "sunspec_inverter": {"p_kw": -3.21, "energy_export_kwh": 1234.567, "v_l1_v": 231.4, "frequency_hz": 50.02},
    "sunspec_inverter_701": {"p_kw": -7.5, "energy_export_kwh": 5000.0, "v_l1_v": 229.9, "frequency_hz": 49.987},
    "sunspec_meter": {
        "p_meter_kw": -12.3,
        "energy_import_kwh": 20_000.0,
        "energy_export_kwh": 3.5,
        "v_l1_v": 230.0,
        "frequency_hz": 50.0,
    },
    "sunspec_battery": {"p_kw": 4.6, "energy_export_kwh": 812.0, "soc_frac": 0.437},
    "sunspec_battery_701": {
        "p_kw": -2.5,
        "soc_frac": 0.456,
        "energy_import_kwh": 10.0,
        "energy_export_kwh": 5.0,
        "capacity_kwh": 10.0,
    },
    "sdm630": {
        "p_kw": 2.75,
        "energy_import_kwh": 4321.5,
        "energy_export_kwh": 99.25,
        "v_l1_v": 230.5,
        "frequency_hz": 50.0,
    },
    "gas_meter": {"energy_fuel_kwh": 123_456.78},
    "weather_station": {"ghi_w_m2": 512.0, "temp_air_degc": -3.7, "temp_module_degc": 31.2, "wind_speed_m_s": 3.0},
    "field_clock": {"sim_time_s": 1_780_000_123.456, "sim_start_s": 1_780_000_000.0, "speed_factor": 60.0},
    "community_battery": {
        "p_setpoint_kw": 0.0,
        "p_kw": 50.0,
        "soc_frac": 0.5,
        "energy_import_kwh": 10.0,
        "energy_export_kwh": 8.0,
        "capacity_kwh": 500.0,
    },
}


def _device(name: str, unit_id: int = 1) -> SimulatedDevice:
    device = SimulatedDevice(load_map(name), unit_id=unit_id)
    device.set_quantities(VALUES[name])
    return device


@pytest_asyncio.fixture
async def servers() -> AsyncIterator[list[DeviceServer]]:
    started: list[DeviceServer] = []
    yield started
    await asyncio.gather(*(server.stop() for server in started))


@pytest_asyncio.fixture
async def connections() -> AsyncIterator[list[ModbusConnection]]:
    opened: list[ModbusConnection] = []
    yield opened
    for connection in opened:
        connection.close()


async def _serve(servers: list[DeviceServer], *devices: SimulatedDevice) -> DeviceServer:
    server = DeviceServer(list(devices))
    await server.start()
    servers.append(server)
    return server


def _connect(connections: list[ModbusConnection], port: int, **kwargs: float) -> ModbusConnection:
    options = {"timeout_s": TIMEOUT_S, "reconnect_delay_s": 0.05, "reconnect_delay_max_s": 0.2, **kwargs}
    connection = ModbusConnection("127.0.0.1", port, **options)  # type: ignore[arg-type]
    connections.append(connection)
    return connection


async def _read_until(reader: DeviceReader, *, ok: bool, timeout_s: float = 5.0) -> Reading:
    deadline = time.monotonic() + timeout_s
    while True:
        reading = await reader.read()
        if reading.ok == ok or time.monotonic() > deadline:
            return reading
        await asyncio.sleep(0.02)


@pytest.mark.asyncio
async def test_device_reader_every_map_through_one_gateway(servers, connections) -> None:
    devices = [_device(name, unit_id) for unit_id, name in enumerate(VALUES, start=1)]
    server = await _serve(servers, *devices)
    connection = _connect(connections, server.port)
    for device in devices:
        reading = await DeviceReader(connection, device.register_map, unit_id=device.unit_id).read()
        assert reading.error is None, reading.error
        assert reading.quality == dict.fromkeys(VALUES[device.register_map.name], OK)
        for name, value in VALUES[device.register_map.name].items():
            assert reading.values[name] == pytest.approx(value, rel=1e-9, abs=1e-9), (device.name, name)


@pytest.mark.asyncio
async def test_device_reader_gateway_readers_share_one_connection(servers, connections) -> None:
    devices = [_device("sdm630", unit_id) for unit_id in range(1, 9)]
    server = await _serve(servers, *devices)
    connection = _connect(connections, server.port)
    readers = [DeviceReader(connection, device.register_map, unit_id=device.unit_id) for device in devices]
    readings = await asyncio.gather(*(reader.read() for reader in readers for _ in range(5)))
    assert all(reading.ok for reading in readings)  # concurrent callers, one request in flight
    assert connection.requests == 8 * 5 * len(readers[0].requests)


@pytest.mark.parametrize(
    ("fault", "quality", "values_none"),
    [
        (Fault.EXCEPTION, MISSING, True),
        (Fault.HANG, MISSING, True),
        (Fault.NOT_IMPLEMENTED, INVALID, True),
        (Fault.ABSURD, INVALID, False),
    ],
)
@pytest.mark.asyncio
async def test_device_reader_fault_quality_and_recovery(servers, connections, fault, quality, values_none) -> None:
    meter = _device("sunspec_meter")
    server = await _serve(servers, meter)
    reader = DeviceReader(_connect(connections, server.port), meter.register_map)
    meter.inject(fault)
    started = time.monotonic()
    reading = await reader.read()
    assert time.monotonic() - started < TIMEOUT_S * 3
    ranged = [name for name, q in meter.register_map.quantities.items() if q.valid_range is not None]
    affected = ranged if fault is Fault.ABSURD else list(reading.quality)
    assert {name: reading.quality[name] for name in affected} == dict.fromkeys(affected, quality)
    assert all((reading.values[name] is None) == values_none for name in affected)
    if fault is Fault.EXCEPTION:
        assert "exception code 4" in (reading.error or "")
    meter.clear_fault()
    recovered = await _read_until(reader, ok=True)
    assert recovered.ok, recovered
    assert recovered.values["p_meter_kw"] == pytest.approx(-12.3)


@pytest.mark.asyncio
async def test_device_reader_refused_restart_and_counters(servers, connections) -> None:
    meter = _device("sunspec_meter")
    server = await _serve(servers, meter)
    reader = DeviceReader(_connect(connections, server.port), meter.register_map)
    first = await reader.read()
    await server.stop()
    refused = await reader.read()
    assert set(refused.quality.values()) == {MISSING}
    assert refused.error
    meter.add_energy("energy_import_kwh", 1.5)  # the field keeps counting while the device is away
    await server.start()
    recovered = await _read_until(reader, ok=True)
    assert recovered.ok, recovered.error
    assert recovered.values["energy_import_kwh"] == pytest.approx(first.values["energy_import_kwh"] + 1.5)
    await server.restart(down_s=0.05)
    again = await _read_until(reader, ok=True)
    assert again.values["energy_import_kwh"] >= recovered.values["energy_import_kwh"]


@pytest.mark.asyncio
async def test_device_reader_dead_device_does_not_delay_others(servers, connections) -> None:
    hung, healthy = _device("sdm630"), _device("sdm630")
    hung_server, healthy_server = await _serve(servers, hung), await _serve(servers, healthy)
    hung.inject(Fault.HANG)
    slow = DeviceReader(_connect(connections, hung_server.port), hung.register_map)
    fast = DeviceReader(_connect(connections, healthy_server.port), healthy.register_map)
    slow_reading, fast_reading = await asyncio.gather(slow.read(), fast.read())
    assert set(slow_reading.quality.values()) == {MISSING}
    assert fast_reading.ok
    assert fast_reading.duration_s < TIMEOUT_S / 2


@pytest.mark.asyncio
async def test_device_reader_wrong_model_is_invalid(servers, connections) -> None:
    device = _device("sunspec_inverter_701")  # serves 1 + 701
    server = await _serve(servers, device)
    reader = DeviceReader(_connect(connections, server.port), load_map("sunspec_inverter"))  # expects 1 + 103
    reading = await reader.read()
    assert set(reading.quality.values()) == {INVALID}
    assert "103" in (reading.error or "")


@pytest.mark.asyncio
@pytest.mark.parametrize("chain", [[1, 113], [1, 120, 113], [1, 101]])
async def test_device_reader_walks_another_model_chain(servers, connections, tmp_path: Path, chain: list[int]) -> None:
    """An inverter with other models (float 113, a nameplate model first, single-phase 101) read with the 103 map."""
    served = load_map("sunspec_inverter_float")
    if chain != [1, 113]:
        model = chain[-1]
        text = (
            f"kind: sunspec\nname: other\nmodels: {chain}\n"
            + ("static: {101.W_SF: 0, 101.WH_SF: 0, 101.V_SF: -1, 101.Hz_SF: -2}\n" if model == 101 else "")
            + f"quantities:\n  p_kw: {{point: {model}.W, positive_is: generation}}\n"
            f"  energy_export_kwh: {{point: {model}.WH, counter: true}}\n"
            f"  v_l1_v: {{point: {model}.PhVphA, unit: V}}\n  frequency_hz: {{point: {model}.Hz, unit: Hz}}\n"
        )
        (tmp_path / "other.yaml").write_text(text, encoding="utf-8")
        served = load_map(tmp_path / "other.yaml")
    device = SimulatedDevice(served)
    device.set_quantities({"p_kw": -4.25, "energy_export_kwh": 1234.0, "v_l1_v": 231.5, "frequency_hz": 50.01})
    server = await _serve(servers, device)
    reader = DeviceReader(_connect(connections, server.port), load_map("sunspec_inverter"))  # expects 1 + 103
    for _ in range(2):  # the chain is walked once; the second read uses the relocated points
        reading = await reader.read()
        assert reading.ok, reading.error
        assert reading.values["p_kw"] == pytest.approx(-4.25)
        assert reading.values["energy_export_kwh"] == pytest.approx(1234.0)
        assert reading.values["v_l1_v"] == pytest.approx(231.5, abs=0.05)
        assert reading.values["frequency_hz"] == pytest.approx(50.01, abs=0.005)
    assert reader.register_map.models == tuple(chain)


@pytest.mark.asyncio
async def test_device_reader_finds_the_mini_met_behind_a_base_met(servers, connections, tmp_path: Path) -> None:
    """A weather station chaining Base Met (307) before Mini Met (308), read with the 1 + 308 map."""
    values = VALUES["weather_station"]
    points = {"ghi_w_m2": "GHI", "temp_air_degc": "TmpAmb", "temp_module_degc": "TmpBOM", "wind_speed_m_s": "WndSpd"}
    text = "kind: sunspec\nname: met\nmodels: [1, 307, 308]\nstatic: {307.TmpAmb: 12.5, 307.WndSpd: 2}\n"
    text += "quantities:\n" + "".join(f"  {q}: {{point: 308.{p}}}\n" for q, p in points.items())
    (tmp_path / "met.yaml").write_text(text, encoding="utf-8")
    device = SimulatedDevice(load_map(tmp_path / "met.yaml"))
    device.set_quantities(values)
    server = await _serve(servers, device)
    reader = DeviceReader(_connect(connections, server.port), load_map("weather_station"))  # expects 1 + 308
    for _ in range(2):  # the chain is walked once; the second read uses the relocated points
        reading = await reader.read()
        assert reading.ok, reading.error
        for name, value in values.items():
            assert reading.values[name] == pytest.approx(value, abs=1e-9), name
    assert reader.register_map.models == (1, 307, 308)


@pytest.mark.asyncio
async def test_device_reader_write_setpoint_read_back(servers, connections) -> None:
    written: list[tuple[str, float]] = []
    battery = SimulatedDevice(load_map("community_battery"), on_write=lambda name, value: written.append((name, value)))
    server = await _serve(servers, battery)
    reader = DeviceReader(_connect(connections, server.port), battery.register_map)
    await reader.write("p_setpoint_kw", 75.0)  # charge 75 kW, load-positive
    assert written == [("p_setpoint_kw", 75.0)]
    assert battery.point("p_setpoint") == -75_000.0  # the device counts discharge positive
    assert (await reader.read()).values["p_setpoint_kw"] == 75.0
    with pytest.raises(DeviceExceptionError, match="exception code 3") as info:
        await reader.write("p_setpoint_kw", -260.0)  # outside the map's write range
    assert info.value.code == 3
    with pytest.raises(ConnectorError, match="not writable"):
        await reader.write("p_kw", 1.0)


def test_plan_reads_joins_points_within_limits() -> None:
    sdm = load_map("sdm630")
    requests = plan_reads(sdm)
    assert all(request.count <= sdm.max_registers_per_request for request in requests)
    assert sum(len(request.points) for request in requests) == len(set(q.point for q in sdm.quantities.values()))
    inverter = plan_reads(load_map("sunspec_inverter"), ["p_kw"])
    assert len(inverter) == 1
    assert set(inverter[0].points) == {"103.ID", "103.W", "103.W_SF"}


@pytest.mark.asyncio
async def test_device_reader_checks_power_against_the_rating(servers, connections) -> None:
    """A 51.2 kWp inverter at 46.5 kW is fine; the same reading from an 8 kWp inverter is a lie."""
    inverter = SimulatedDevice(load_map("sunspec_inverter"), static={"103.W_SF": 1})
    inverter.set_quantities({**VALUES["sunspec_inverter"], "p_kw": -46.5})
    server = await _serve(servers, inverter)
    connection = _connect(connections, server.port)
    large = DeviceReader(connection, inverter.register_map, p_limit_kw=power_limit_kw(None, 51.2))
    small = DeviceReader(connection, inverter.register_map, p_limit_kw=power_limit_kw(None, 8.0))
    unrated = DeviceReader(connection, inverter.register_map)
    for reader in (large, unrated):
        reading = await reader.read()
        assert reading.values["p_kw"] == pytest.approx(-46.5, abs=0.01)
        assert reading.quality["p_kw"] == OK
    reading = await small.read()
    assert reading.quality["p_kw"] == INVALID
    assert reading.quality["energy_export_kwh"] == OK  # only the power is beyond the rating
    assert power_limit_kw(None, 8.0) == pytest.approx(12.0)
    assert power_limit_kw(None, None) is None


@pytest.mark.parametrize("fault", [Fault.ABSURD, Fault.NOT_IMPLEMENTED])
@pytest.mark.parametrize("name", sorted(set(VALUES) - {"field_clock"}))
@pytest.mark.asyncio
async def test_lies_and_gaps_are_flagged_on_every_device_map(servers, connections, name: str, fault: Fault) -> None:
    """Every device map has a range and a not-implemented value: a device that lies or stops
    implementing its values is seen to do so, never read as a plausible number."""
    device = _device(name)
    server = await _serve(servers, device)
    reader = DeviceReader(_connect(connections, server.port), device.register_map)
    assert set((await reader.read()).quality.values()) == {OK}
    device.inject(fault)
    reading = await reader.read()
    assert INVALID in reading.quality.values(), reading
    if fault is Fault.NOT_IMPLEMENTED:
        assert set(reading.quality.values()) == {INVALID}, reading
