"""The typed live state: JSON round trip, version check, one-line errors naming the field, channel keys."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from twin.core.balance import MeteredPower, live_balance
from twin.core.channels import Channel
from twin.core.live_state import (
    LIVE_KPI_NAMES,
    OPTIONAL_KPI_NAMES,
    SNAPSHOT_VERSION,
    Alert,
    BoundaryKpis,
    BoundaryState,
    BranchState,
    BusState,
    ControllerAck,
    ControllerState,
    ControllerWriteRecord,
    DeviceState,
    FeederSignalState,
    GridState,
    KpiPeriods,
    LiveSnapshot,
    SnapshotError,
    StoreStatus,
    read_snapshot,
)
from twin.core.schema import SUBSTATION
from twin.core.store import write_json_atomic
from twin.core.vocabulary import BALANCE_TERMS, SUBSTATION_TERMS, Quality

#: A version-2 snapshot as ``twin live`` wrote it before the typed state (trimmed: two buildings).
WRITTEN_V2: dict[str, Any] = {
    "version": 2,
    "site": "small",
    "written_utc": "2025-06-01T10:00:01.250000Z",
    "sim_time_utc": "2025-06-01T10:15:00Z",
    "sim_time_s": 1748772900.0,
    "clock": "field",
    "speed": 900.0,
    "devices_total": 3,
    "devices_ok": 2,
    "failing": ["b02/meter"],
    "devices": {
        "b01/meter": {
            "kind": "building_meter",
            "building": "b01",
            "ok": True,
            "error": None,
            "values": {"p_meter_kw": 2.5, "energy_import_kwh": 10.0},
            "quality": {"p_meter_kw": "ok", "energy_import_kwh": "ok"},
            "read_utc": "2025-06-01T10:14:59.500000Z",
            "read_wall_utc": "2025-06-01T10:00:01Z",
            "age_s": 0.25,
        },
        "b02/meter": {
            "kind": "building_meter",
            "building": "b02",
            "ok": False,
            "error": "timeout",
            "values": {"p_meter_kw": None},
            "quality": {"p_meter_kw": "stale"},
            "read_utc": None,
            "read_wall_utc": None,
            "age_s": None,
        },
        "substation/meter": {
            "kind": "substation_meter",
            "building": None,
            "ok": True,
            "error": None,
            "values": {"p_meter_kw": 7.0},
            "quality": {"p_meter_kw": "ok"},
            "read_utc": "2025-06-01T10:14:59Z",
            "read_wall_utc": "2025-06-01T10:00:01Z",
            "age_s": 0.1,
        },
    },
    "balance": {
        "b01": {
            "boundary": "b01",
            "p_grid_kw": 2.5,
            "p_pv_kw": 0.0,
            "p_battery_kw": 0.0,
            "p_heat_pump_kw": 0.0,
            "p_ev_kw": 0.0,
            "p_load_kw": 2.5,
            "quality": 0,
        },
        "b02": {
            "boundary": "b02",
            "p_grid_kw": None,
            "p_pv_kw": 0.0,
            "p_battery_kw": 0.0,
            "p_heat_pump_kw": 0.0,
            "p_ev_kw": 0.0,
            "p_load_kw": None,
            "quality": 1,
        },
        "substation": {
            "boundary": "substation",
            "p_grid_kw": 7.0,
            "p_pv_kw": 0.0,
            "p_battery_kw": 0.0,
            "p_heat_pump_kw": 0.0,
            "p_ev_kw": 0.0,
            "p_load_kw": None,
            "p_buildings_kw": None,
            "p_community_battery_kw": None,
            "p_loss_kw": None,
            "quality": 1,
        },
    },
    "kpis": {
        "today": {"substation": {"import_kwh": 1.5, "self_sufficiency_frac": None, "quarters": 2.0}},
        "year": {},
    },
    "store": {"1min": 14, "15min": 1},
    "store_status": {
        "ok": True,
        "error": None,
        "failing_since_utc": None,
        "failed_writes": 0,
        "pending_rows": {"1min": 0, "15min": 0},
        "dropped_rows": {"1min": 0, "15min": 0},
        "late_rows": {"1min": 0, "15min": 0},
        "retry_in_s": None,
    },
    "alerts": [{"level": "warn", "text": "site file: b03 unknown"}],
    "grid": None,
    "controller": {
        "signal": "normal",
        "signal_code": 2,
        "since_utc": "2025-06-01T10:00:00Z",
        "reasons": [],
        "limit_14a_kw": 4.2,
        "quality": "ok",
        "heartbeat": 12,
        "listeners": {"host": "127.0.0.1", "port": 5020, "tls_port": None},
        "buildings": 2,
        "battery_mode": 0,
        "flexible_power_kw": {},
        "acks": {"b01": {"state": 3, "wall_time_utc": "2025-06-01T10:00:01Z", "client": "CN=hp"}},
        "writes": [
            {
                "name": "battery_setpoint_kw",
                "value": 10.0,
                "building_number": None,
                "building_id": None,
                "client": "CN=ems",
                "sim_time_utc": "2025-06-01T10:10:00Z",
                "wall_time_utc": "2025-06-01T10:00:00.5Z",
                "result": "confirmed",
                "read_back": 10.0,
            }
        ],
    },
}


def _maybe(rng: random.Random, value: Any) -> Any:
    """The value, or ``None`` one time in three (a missing value)."""
    return None if rng.random() < 1 / 3 else value


def _time(rng: random.Random) -> datetime | None:
    stamp = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(
        seconds=rng.randrange(0, 365 * 86_400), microseconds=rng.randrange(0, 10**6)
    )
    return _maybe(rng, stamp)


def _random_snapshot(seed: int) -> LiveSnapshot:
    """A snapshot of random content with missing values everywhere a value may miss."""
    rng = random.Random(seed)
    buildings = [f"b{i:02d}" for i in range(rng.randrange(0, 4))]
    balance = {
        b: BoundaryState(
            b,
            **{t: _maybe(rng, rng.uniform(-50, 50)) for t in BALANCE_TERMS},
            quality=_maybe(rng, rng.choice(list(Quality))),
        )
        for b in [*buildings, SUBSTATION]
    }
    balance[SUBSTATION] = BoundaryState(
        SUBSTATION,
        **{t: _maybe(rng, rng.uniform(-50, 50)) for t in (*BALANCE_TERMS, *SUBSTATION_TERMS)},
        quality=_maybe(rng, Quality.OK),
    )
    devices = {
        f"{b}/meter": DeviceState(
            kind="building_meter",
            building=b,
            ok=_maybe(rng, rng.random() < 0.5),
            error=_maybe(rng, "timeout"),
            values={"p_meter_kw": _maybe(rng, rng.uniform(-9, 9))},
            quality={"p_meter_kw": rng.choice(list(Quality))},
            read_utc=_time(rng),
            read_wall_utc=_time(rng),
            age_s=_maybe(rng, rng.uniform(0, 60)),
        )
        for b in buildings
    }
    kpis = KpiPeriods(
        today={b: BoundaryKpis(**{n: _maybe(rng, rng.uniform(0, 1e4)) for n in LIVE_KPI_NAMES}) for b in balance},
        year={SUBSTATION: BoundaryKpis(import_kwh=_maybe(rng, 12.0))},
    )
    grid = _maybe(
        rng,
        GridState(
            sim_time_utc=_time(rng),
            converged=_maybe(rng, True),
            vm_min_pu=_maybe(rng, 0.97),
            inputs_missing=tuple(buildings[:1]),
            buses={"0": BusState("busbar", _maybe(rng, 12.5), _maybe(rng, 51.3), _maybe(rng, 1.01))},
            branches={"trafo 0": BranchState("trafo", 0, 1, _maybe(rng, 40.0))},
        ),
    )
    controller = _maybe(
        rng,
        ControllerState(
            signal="normal",
            signal_code=2,
            since_utc=_time(rng),
            reasons=("surplus",),
            quality=_maybe(rng, Quality.STALE),
            port=_maybe(rng, 5020),
            acks={"b01": ControllerAck(3, _time(rng), "CN=hp")},
            writes=(ControllerWriteRecord("battery_mode", 1.0, result="recorded", read_back=_maybe(rng, 1.0)),),
            feeders=(
                FeederSignalState(1, "block", 1, ("transformer",), 12.5, 7, 3, _maybe(rng, 4.2)),
                FeederSignalState(2, "normal", 2, (), 0.0, 5, 0, None),
            )[: rng.randrange(3)],
        ),
    )
    return LiveSnapshot(
        site=_maybe(rng, "site"),
        timezone=_maybe(rng, "Europe/Berlin"),
        written_utc=_time(rng),
        sim_time_utc=_time(rng),
        sim_time_s=_maybe(rng, rng.uniform(0, 2e9)),
        clock=_maybe(rng, "field"),
        speed=_maybe(rng, 60.0),
        devices_total=_maybe(rng, len(devices)),
        devices_ok=_maybe(rng, 0),
        failing=tuple(rng.sample(list(devices), k=len(devices) // 2)),
        devices=devices,
        balance=balance,
        kpis=kpis,
        store={"1min": rng.randrange(100), "15min": rng.randrange(10)},
        store_status=_maybe(rng, StoreStatus(ok=False, error="disk full", pending_rows={"1min": 3})),
        alerts=tuple(Alert("bad", f"alert {i}") for i in range(rng.randrange(3))),
        grid=grid,
        controller=controller,
    )


@pytest.mark.parametrize("seed", range(25))
def test_round_trip_over_random_snapshots_with_missing_values(seed: int) -> None:
    snapshot = _random_snapshot(seed)
    text = json.dumps(snapshot.to_json(), allow_nan=False)
    again = LiveSnapshot.from_json(json.loads(text))
    assert again == snapshot
    assert again.to_json() == snapshot.to_json()


def test_a_version_2_snapshot_written_before_reads_and_writes_back_the_same() -> None:
    snapshot = LiveSnapshot.from_json(json.loads(json.dumps(WRITTEN_V2)))
    assert snapshot.version == SNAPSHOT_VERSION == 2
    assert snapshot.district is not None and snapshot.district.p_grid_kw == 7.0
    assert snapshot.district.p_loss_kw is None and snapshot.district.quality is Quality.STALE
    assert snapshot.boundary("b02") == BoundaryState(
        "b02", None, 0.0, 0.0, 0.0, 0.0, None, quality=Quality.STALE
    )  # a missing meter is None, not a number
    assert snapshot.devices["b02/meter"].quality == {"p_meter_kw": Quality.STALE}
    assert snapshot.device_value("b01/meter", "p_meter_kw") == 2.5
    assert snapshot.device_value("b02/meter", "p_meter_kw") is None
    assert snapshot.device_value("nowhere", "p_kw") is None
    today = snapshot.kpis.today[SUBSTATION]
    assert today.import_kwh == 1.5 and today.self_sufficiency_frac is None and today.export_kwh is None
    assert snapshot.buildings == ["b01", "b02"] and snapshot.grid is None and snapshot.timezone is None
    assert snapshot.controller is not None and snapshot.controller.writes[0].read_back == 10.0
    assert snapshot.controller.quality is Quality.OK and snapshot.controller.port == 5020
    assert snapshot.written_utc == datetime(2025, 6, 1, 10, 0, 1, 250000, tzinfo=UTC)
    written = snapshot.to_json()
    expected = {key: value for key, value in WRITTEN_V2.items() if key != "grid"}  # no grid yet: no key
    today_written = written["kpis"]["today"][SUBSTATION]
    assert {k: v for k, v in today_written.items() if k in expected["kpis"]["today"][SUBSTATION]} == (
        expected["kpis"]["today"][SUBSTATION]
    )
    # every KPI named, the unknown ones null (the battery totals only when known)
    assert set(today_written) == set(LIVE_KPI_NAMES) - set(OPTIONAL_KPI_NAMES)
    written["kpis"] = expected["kpis"]
    written["controller"]["writes"][0]["wall_time_utc"] = "2025-06-01T10:00:00.5Z"
    assert written == expected


def test_a_snapshot_file_twin_live_wrote_reads_and_writes_back_unchanged() -> None:
    # data/snapshot_v2.json: version 2 as twin live wrote it on the small district, with grid and controller
    path = Path(__file__).with_name("data") / "snapshot_v2.json"
    written = json.loads(path.read_text(encoding="utf-8"))
    snapshot = LiveSnapshot.from_json(written, file=str(path))
    assert snapshot.to_json() == written
    assert snapshot.version == 2 and snapshot.timezone is None  # written before the snapshot named it
    assert snapshot.grid is not None and len(snapshot.grid.buses) == len(written["grid"]["buses"]) > 0
    assert snapshot.grid.converged is True and snapshot.grid.vm_min_pu == written["grid"]["vm_min_pu"]
    assert snapshot.controller is not None and snapshot.controller.signal == written["controller"]["signal"]
    district = snapshot.district
    assert district is not None and district.p_grid_kw == written["balance"]["substation"]["p_grid_kw"]
    assert district.quality == written["balance"]["substation"]["quality"]
    assert set(snapshot.devices) == set(written["devices"]) and snapshot.buildings == [
        b for b in written["balance"] if b != SUBSTATION
    ]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"version": None}, "version: missing (this twin reads snapshot version 2)"),
        ({"version": 3}, "version: 3 is not supported"),
        ({"version": "2"}, "version: '2' is not supported"),
        ({"version": 1}, "version: 1 is not supported"),
    ],
)
def test_a_missing_or_unknown_version_is_refused(change: dict[str, Any], message: str) -> None:
    data = {**WRITTEN_V2, **change}
    if change.get("version") is None:
        del data["version"]
    with pytest.raises(SnapshotError, match="^snap.json: " + message.replace("(", r"\(").replace(")", r"\)")):
        LiveSnapshot.from_json(data, file="snap.json")


@pytest.mark.parametrize(
    ("path", "value", "field", "expected"),
    [
        (("balance", "b01", "p_grid_kw"), "2.5", "balance.b01.p_grid_kw", "expected a number or null, got str '2.5'"),
        (("balance", "b01", "quality"), 7, "balance.b01.quality", "expected a quality flag, got int 7"),
        (("balance", "b01", "boundary"), "b09", "balance.b01.boundary", "differs from its key"),
        (("devices", "b01/meter", "ok"), "yes", "devices.b01/meter.ok", "expected true, false or null"),
        (("devices", "b01/meter", "quality", "p_meter_kw"), "good", "devices.b01/meter.quality.p_meter_kw", "quality"),
        (("devices", "b01/meter", "read_utc"), "yesterday", "devices.b01/meter.read_utc", "ISO 8601"),
        (("kpis", "today", "substation", "import_kw"), 1.0, "kpis.today.substation.import_kw", "unknown KPI"),
        (("store", "1min"), 1.5, "store.1min", "expected a whole number"),
        (("failing",), "b02/meter", "failing", "expected a list"),
        (("controller", "writes"), 0, "controller.writes", "expected a list, got int 0"),
        (("alerts",), [{"level": "bad"}], "alerts.0", "needs a level and a text"),
        (("balance",), [], "balance", "expected an object, got list"),
        (("balance", "b01", "p_grid_kW"), 1.0, "balance.b01.p_grid_kW", "unknown field (allowed: boundary, p_grid_kw"),
        (("devices", "b01/meter", "value"), {}, "devices.b01/meter.value", "unknown field"),
        (("controller", "listeners", "tls"), 1, "controller.listeners.tls", "unknown field (allowed: host, port"),
        (("controller", "writes"), [{"nme": "x"}], "controller.writes.0.nme", "unknown field"),
        (("store_status", "okay"), True, "store_status.okay", "unknown field"),
    ],
)
def test_a_malformed_field_is_named_in_one_line(path: tuple[str, ...], value: Any, field: str, expected: str) -> None:
    data = json.loads(json.dumps(WRITTEN_V2))
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(SnapshotError) as caught:
        LiveSnapshot.from_json(data, file="snapshot.json")
    text = str(caught.value)
    assert text.startswith(f"snapshot.json: {field}: ") and expected in text
    assert "\n" not in text and caught.value.field == field and caught.value.exit_code == 2


def test_unknown_keys_are_kept_and_written_back() -> None:
    data = {**WRITTEN_V2, "future_section": {"x": [1, 2]}}
    snapshot = LiveSnapshot.from_json(data)
    assert snapshot.extra == {"future_section": {"x": [1, 2]}}
    assert snapshot.to_json()["future_section"] == {"x": [1, 2]}


def test_read_snapshot_from_a_store(tmp_path: Path) -> None:
    assert read_snapshot(tmp_path) is None  # before the first poll
    write_json_atomic(tmp_path / "snapshot.json", WRITTEN_V2)
    snapshot = read_snapshot(tmp_path)
    assert snapshot is not None and snapshot.site == "small"
    (tmp_path / "snapshot.json").write_text("{torn", encoding="utf-8")
    with pytest.raises(SnapshotError, match=r"snapshot\.json: not JSON"):
        read_snapshot(tmp_path)
    write_json_atomic(tmp_path / "snapshot.json", {**WRITTEN_V2, "version": 9})
    with pytest.raises(SnapshotError, match=r"snapshot\.json: version: 9 is not supported"):
        read_snapshot(tmp_path)


def test_the_state_of_a_live_balance() -> None:
    balance = live_balance(
        [
            MeteredPower("s/meter", "substation_meter", None, 5.0, 0),
            MeteredPower("b1/meter", "building_meter", "b1", 4.0, 0),
            MeteredPower("b1/pv", "pv_inverter", "b1", -1.0, 1),
        ]
    )
    snapshot = LiveSnapshot.from_balance(balance, site="x")
    b1 = snapshot.boundary("b1")
    assert b1 is not None and b1.p_load_kw == 5.0 and b1.quality is Quality.STALE and not b1.ok
    assert b1.to_json() == {k: v for k, v in balance["b1"].as_dict().items()}
    assert snapshot.district is not None and snapshot.district.to_json() == balance[SUBSTATION].as_dict()
    assert snapshot.district.term("p_loss_kw") == pytest.approx(1.0)
    with pytest.raises(KeyError, match="no balance term"):
        snapshot.district.term("grid_kw")
    with pytest.raises(KeyError, match="no KPI"):
        BoundaryKpis().get("self_sufficiency")


@pytest.mark.parametrize(
    ("text", "channel"),
    [
        ("b01/meter/p_meter_kw", Channel("device", "b01/meter", "p_meter_kw")),
        ("clock/sim_time_s", Channel.device("clock", "sim_time_s")),
        ("balance:b01/p_grid_kw", Channel.balance("b01", "p_grid_kw")),
        ("balance:substation/p_loss_kw", Channel.balance(SUBSTATION, "p_loss_kw")),
        ("flow:substation/import_kwh", Channel.flow(SUBSTATION, "import_kwh")),
    ],
)
def test_channel_keys_parse_and_format(text: str, channel: Channel) -> None:
    assert Channel.parse(text) == channel
    assert str(channel) == channel.key == text


@pytest.mark.parametrize("text", ["p_kw", "/p_kw", "meter/", "balance:b01", "flow:a/b/import_kwh", ""])
def test_a_malformed_channel_key_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="is not DEVICE/QUANTITY"):
        Channel.parse(text)
