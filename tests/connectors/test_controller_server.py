"""The controller server over real TCP and TLS on free ports, fed by a fake snapshot provider."""

from __future__ import annotations

import asyncio
import math
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
import pytest_asyncio
from pymodbus.client import AsyncModbusTcpClient, AsyncModbusTlsClient

from connectors.certs import CertFiles, client_ssl_context, make_test_certs
from connectors.controller_map import load_controller_map
from connectors.controller_server import ControllerServer, writer_ssl_context
from connectors.controller_snapshot import Quality
from models.control.signal import SignalConfig, SignalMachine, SignalReason
from tests.connectors.controller_fakes import SIM_START_S, FakeTwin, fake_snapshot

pytestmark = pytest.mark.asyncio

F32 = AsyncModbusTcpClient.DATATYPE.FLOAT32
CMAP = load_controller_map()


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> CertFiles:
    return make_test_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture
def twin() -> FakeTwin:
    return FakeTwin()


@pytest_asyncio.fixture
async def server(twin: FakeTwin, certs: CertFiles) -> AsyncIterator[ControllerServer]:
    tls = writer_ssl_context(certs.server_cert, certs.server_key, certs.writer_ca)
    async with ControllerServer(
        twin.provide,
        twin.sink,
        signal=SignalMachine(),
        port=0,
        tls_port=0,
        tls=tls,
        battery_limits_kw=(-100.0, 150.0),
        refresh_s=0.05,
    ) as srv:
        yield srv


@pytest_asyncio.fixture
async def plain(server: ControllerServer) -> AsyncIterator[AsyncModbusTcpClient]:
    client = AsyncModbusTcpClient("127.0.0.1", port=server.port, timeout=2, retries=0)
    assert await client.connect()
    yield client
    client.close()


async def tls_client(
    server: ControllerServer, certs: CertFiles, *, cert: Path | None, key: Path | None
) -> AsyncModbusTlsClient:
    context = client_ssl_context(certs.writer_ca, cert, key)
    client = AsyncModbusTlsClient("127.0.0.1", port=server.tls_port, sslctx=context, timeout=0.5, retries=0)
    await client.connect()
    return client


@pytest_asyncio.fixture
async def writer(server: ControllerServer, certs: CertFiles) -> AsyncIterator[AsyncModbusTlsClient]:
    client = await tls_client(server, certs, cert=certs.writer_cert, key=certs.writer_key)
    assert client.connected
    yield client
    client.close()


async def read_float(client: AsyncModbusTcpClient, address: int) -> float:
    rr = await client.read_holding_registers(address, count=2, device_id=1)
    assert not rr.isError(), rr
    value = client.convert_from_registers(rr.registers, F32, word_order="big")
    assert isinstance(value, float)
    return value


async def read_u16(client: AsyncModbusTcpClient, address: int, device_id: int = 1) -> int:
    rr = await client.read_holding_registers(address, count=1, device_id=device_id)
    assert not rr.isError(), rr
    return int(rr.registers[0])


def addr(name: str, building: int | None = None) -> int:
    if building is None:
        return CMAP.district_point(name).offset
    return CMAP.building_address(building, CMAP.building_point(name).offset)


def f32(value: float) -> list[int]:
    return AsyncModbusTcpClient.convert_to_registers(value, F32, word_order="big")


# --- reads --------------------------------------------------------------------------------


async def test_reads_match_the_snapshot(plain: AsyncModbusTcpClient, server: ControllerServer) -> None:
    snap = fake_snapshot()
    assert await read_u16(plain, 0) == CMAP.version
    assert await read_u16(plain, addr("building_count")) == 3
    for name, expected in [
        ("p_pv_kw", snap.p_pv_kw),
        ("p_load_kw", snap.p_load_kw),
        ("p_battery_kw", snap.p_battery_kw),
        ("soc_battery_percent", 62.5),
        ("p_grid_kw", snap.p_grid_kw),
        ("p_surplus_kw", snap.p_surplus_kw),
        ("energy_balance_year_kwh", 24_500.0),
        ("self_sufficiency_today_percent", 87.5),
        ("p_surplus_forecast_2h_kw", 60.5),
        ("clear_sky_index", 0.8125),
        ("vm_max_pu", 1.0325),
    ]:
        assert await read_float(plain, addr(name)) == pytest.approx(expected, rel=1e-6), name
    rr = await plain.read_holding_registers(addr("sim_time_s"), count=2, device_id=1)
    assert plain.convert_from_registers(rr.registers, plain.DATATYPE.UINT32) == int(SIM_START_S)
    assert await read_u16(plain, addr("quality")) == Quality.OK
    assert await read_u16(plain, addr("sg_ready_state")) == 2  # surplus 72.75 kW, but the dwell has not passed


async def test_reads_building_blocks(plain: AsyncModbusTcpClient) -> None:
    assert await read_u16(plain, addr("building_number", 2)) == 2
    rr = await plain.read_holding_registers(addr("building_id", 2), count=8, device_id=1)
    text = b"".join(r.to_bytes(2, "big") for r in rr.registers).rstrip(b"\0").decode()
    assert text == "kulturhaus"
    assert await read_float(plain, addr("p_meter_kw", 1)) == -12.5
    assert await read_float(plain, addr("energy_balance_year_kwh", 2)) == 1234.5
    assert await read_float(plain, addr("self_sufficiency_today_percent", 3)) == 25.0
    assert math.isnan(await read_float(plain, addr("p_heat_pump_kw", 1)))
    # past the last building: illegal address
    rr = await plain.read_holding_registers(CMAP.building_address(3) + CMAP.building_stride, count=1, device_id=1)
    assert rr.isError() and rr.exception_code == 2


async def test_unit_255_answers_and_other_units_get_exception_11(plain: AsyncModbusTcpClient) -> None:
    assert await read_u16(plain, 0, device_id=255) == CMAP.version
    rr = await plain.read_holding_registers(0, count=1, device_id=7)
    assert rr.isError() and rr.exception_code == 11


async def test_heartbeat_counts_and_values_follow_the_provider(
    plain: AsyncModbusTcpClient, twin: FakeTwin, server: ControllerServer
) -> None:
    first = await read_u16(plain, addr("heartbeat"))
    twin.snapshot = fake_snapshot(p_pv_kw=-7.25)
    deadline = time.monotonic() + 3.0
    while await read_float(plain, addr("p_pv_kw")) != -7.25:
        assert time.monotonic() < deadline, "the new snapshot never showed"
        await asyncio.sleep(0.02)
    assert await read_u16(plain, addr("heartbeat")) != first


async def test_stale_snapshot_sets_quality_and_normal(twin: FakeTwin, certs: CertFiles) -> None:
    now = [time.time()]
    twin.snapshot = fake_snapshot(updated_unix_s=now[0], vm_min_pu=0.9, p_grid_kw=200.0)
    srv = ControllerServer(twin.provide, signal=SignalMachine(), port=0, refresh_s=3600, wall_clock=lambda: now[0])
    async with srv:
        assert srv.signal is not None and srv.signal.state == 1  # undervoltage blocks at once
        now[0] += 9.0
        srv.refresh()
        assert srv.quality is Quality.OK and srv.signal.state == 1
        now[0] += 2.0
        srv.refresh()
        assert srv.quality is Quality.STALE and srv.signal.state == 2
        assert srv.read_point("quality") == Quality.STALE
        assert srv.read_point("signal_reasons") == 32
        assert srv.read_point("data_age_s") == pytest.approx(11.0)


async def test_the_server_uses_the_signal_it_is_given(twin: FakeTwin) -> None:
    now = [time.time()]
    twin.snapshot = fake_snapshot(updated_unix_s=now[0])
    machine = SignalMachine(SignalConfig(stale_after_s=3.0))
    async with ControllerServer(twin.provide, signal=machine, port=0, refresh_s=3600, wall_clock=lambda: now[0]) as srv:
        assert srv.signal_machine is machine and srv.quality is Quality.OK
        now[0] += 4.0
        srv.refresh()
        assert srv.quality is Quality.STALE and srv.read_point("signal_reasons") == 32
        assert machine.reasons == SignalReason.STALE


async def test_no_snapshot_means_missing_and_a_failing_provider_goes_stale(twin: FakeTwin) -> None:
    twin.snapshot = None
    async with ControllerServer(twin.provide, signal=SignalMachine(), port=0, n_buildings=2, refresh_s=3600) as srv:
        assert srv.quality is Quality.MISSING and srv.read_point("sg_ready_state") == 2
        assert srv.read_point("quality", 1) == Quality.MISSING

    now = [time.time()]

    def failing() -> None:
        raise OSError("snapshot file unreadable")

    async with ControllerServer(
        failing, signal=SignalMachine(), port=0, refresh_s=3600, wall_clock=lambda: now[0]
    ) as srv:
        assert srv.quality is Quality.MISSING
    snapshots = [fake_snapshot(updated_unix_s=now[0])]
    calls = iter([*snapshots, *([None] * 5)])

    def flaky() -> object:
        value = next(calls)
        if value is None:
            raise OSError("gone")
        return value

    async with ControllerServer(
        flaky, signal=SignalMachine(), port=0, refresh_s=3600, wall_clock=lambda: now[0]
    ) as srv:  # type: ignore[arg-type]
        now[0] += 20.0
        srv.refresh()
        assert srv.quality is Quality.STALE


# --- writes -------------------------------------------------------------------------------


async def test_plain_writes_are_rejected(plain: AsyncModbusTcpClient, twin: FakeTwin) -> None:
    rr = await plain.write_registers(addr("battery_setpoint_kw"), f32(10.0), device_id=1)
    assert rr.isError() and rr.exception_code in (1, 2)
    rr = await plain.write_register(addr("battery_mode"), 1, device_id=1)
    assert rr.isError() and rr.exception_code in (1, 2)
    assert twin.writes == []
    assert math.isnan(await read_float(plain, addr("battery_setpoint_kw")))


async def test_tls_writer_writes_reach_the_sink(
    writer: AsyncModbusTlsClient, plain: AsyncModbusTcpClient, twin: FakeTwin, server: ControllerServer
) -> None:
    rr = await writer.write_registers(addr("battery_setpoint_kw"), f32(-42.5), device_id=1)
    assert not rr.isError(), rr
    rr = await writer.write_register(addr("battery_mode"), 1, device_id=1)
    assert not rr.isError(), rr
    rr = await writer.write_registers(addr("flexible_power_kw", 2), f32(6.5), device_id=1)
    assert not rr.isError(), rr
    rr = await writer.write_register(addr("signal_ack", 3), 2, device_id=1)
    assert not rr.isError(), rr
    assert [(w.name, w.value, w.building_number, w.building_id) for w in twin.writes] == [
        ("battery_setpoint_kw", -42.5, None, None),
        ("battery_mode", 1.0, None, None),
        ("flexible_power_kw", 6.5, 2, "kulturhaus"),
        ("signal_ack", 2.0, 3, "kita"),
    ]
    assert all(w.client.startswith("CN=quarter-writer") for w in twin.writes)
    assert twin.writes[0].sim_time_s == SIM_START_S
    # read back on both listeners, and the refresh does not overwrite them
    await asyncio.sleep(0.15)
    assert await read_float(plain, addr("battery_setpoint_kw")) == -42.5
    assert await read_float(writer, addr("flexible_power_kw", 2)) == 6.5
    assert list(server.writes) == twin.writes


async def test_tls_write_logged_with_certificate_subject(
    writer: AsyncModbusTlsClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="connectors.controller_server")
    rr = await writer.write_register(addr("signal_ack", 1), 3, device_id=1)
    assert not rr.isError()
    assert any("CN=quarter-writer" in r.getMessage() and "signal_ack" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("name", "building", "registers"),
    [
        ("battery_setpoint_kw", None, f32(200.0)),  # map allows 250, the battery limits 150
        ("battery_setpoint_kw", None, f32(-300.0)),
        ("battery_setpoint_kw", None, f32(math.nan)),
        ("battery_mode", None, [2]),
        ("flexible_power_kw", 1, f32(-1.0)),
        ("signal_ack", 2, [5]),
    ],
)
async def test_out_of_range_writes_get_exception_3_and_change_nothing(
    writer: AsyncModbusTlsClient,
    twin: FakeTwin,
    server: ControllerServer,
    name: str,
    building: int | None,
    registers: list[int],
) -> None:
    before = server.read_point(name, building)
    rr = await writer.write_registers(addr(name, building), registers, device_id=1)
    assert rr.isError() and rr.exception_code == 3
    assert twin.writes == []
    after = server.read_point(name, building)
    assert after == before or (isinstance(before, float) and math.isnan(before) and math.isnan(after))  # type: ignore[arg-type]


async def test_writes_to_read_only_or_half_points_are_rejected(writer: AsyncModbusTlsClient, twin: FakeTwin) -> None:
    rr = await writer.write_registers(addr("p_pv_kw"), f32(1.0), device_id=1)
    assert rr.isError() and rr.exception_code == 2
    rr = await writer.write_register(addr("battery_setpoint_kw"), 0x4120, device_id=1)  # one word of a float32
    assert rr.isError() and rr.exception_code == 2
    assert twin.writes == []


async def test_sink_rejection_gives_exception_3(writer: AsyncModbusTlsClient, twin: FakeTwin) -> None:
    twin.reject = True
    rr = await writer.write_registers(addr("battery_setpoint_kw"), f32(10.0), device_id=1)
    assert rr.isError() and rr.exception_code == 3


async def test_tls_with_certificate_of_another_ca_fails(server: ControllerServer, certs: CertFiles) -> None:
    client = await tls_client(server, certs, cert=certs.other_cert, key=certs.other_key)
    try:
        assert not await _can_write(client)
    finally:
        client.close()


async def test_tls_without_certificate_fails(server: ControllerServer, certs: CertFiles, twin: FakeTwin) -> None:
    client = await tls_client(server, certs, cert=None, key=None)
    try:
        assert not await _can_write(client)
    finally:
        client.close()
    assert twin.writes == []


async def test_tls_handshake_is_refused_by_the_server(server: ControllerServer, certs: CertFiles) -> None:
    """With the standard library alone: TLS 1.3 reports the refusal on the first read."""
    for cert, key in ((certs.other_cert, certs.other_key), (None, None)):
        context = client_ssl_context(certs.writer_ca, cert, key)
        reader, writer_stream = await asyncio.open_connection("127.0.0.1", server.tls_port, ssl=context)
        writer_stream.write(bytes.fromhex("000100000006010300000001"))
        with pytest.raises((ssl.SSLError, ConnectionResetError, asyncio.IncompleteReadError)):
            await asyncio.wait_for(reader.readexactly(9), 2.0)
        writer_stream.close()
        await asyncio.gather(writer_stream.wait_closed(), return_exceptions=True)


async def _can_write(client: AsyncModbusTlsClient) -> bool:
    if not client.connected:
        return False
    try:
        rr = await client.write_registers(addr("battery_setpoint_kw"), f32(1.0), device_id=1)
    except Exception:  # noqa: BLE001 - any failure means the write did not get through
        return False
    return not rr.isError()


async def test_writer_context_rejects_missing_files(tmp_path: Path) -> None:
    from twin.core.errors import ConfigError

    with pytest.raises(ConfigError, match="unusable"):
        writer_ssl_context(tmp_path / "no.pem", tmp_path / "no.key", tmp_path / "ca.pem")


async def test_many_buildings_fit_the_map(twin: FakeTwin) -> None:
    base = fake_snapshot()
    twin.snapshot = replace(
        base, buildings=tuple(replace(base.buildings[0], building_id=f"b{i:03d}") for i in range(120))
    )
    async with ControllerServer(twin.provide, signal=SignalMachine(), port=0, refresh_s=3600) as srv:
        assert srv.n_buildings == 120
        assert srv.read_point("building_id", 120) == "b119"
