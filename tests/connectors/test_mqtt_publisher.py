"""The live twin on MQTT: a real mosquitto broker on a free port, Home Assistant discovery, values."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from connectors.mqtt_publisher import MqttPublisher, MqttSettings
from tests.dashboard.sample import snapshot
from twin.core.errors import ConfigError
from twin.core.live_state import LiveSnapshot

HOST = "127.0.0.1"
# Home Assistant's MQTT sensor: the keys its discovery schema allows that we use, and the energy
# dashboard's needs (device class energy, a total state class, an energy unit).
HA_SENSOR_KEYS = {
    "name",
    "unique_id",
    "state_topic",
    "value_template",
    "availability_topic",
    "state_class",
    "device",
    "unit_of_measurement",
    "device_class",
}
HA_STATE_CLASSES = {"measurement", "total", "total_increasing"}
HA_ENERGY_UNITS = {"Wh", "kWh", "MWh"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[int]:
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    port = _free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(f"listener {port} {HOST}\nallow_anonymous true\npersistence false\n", encoding="utf-8")
    process = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection((HOST, port), timeout=0.2).close()
            break
        except OSError:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            time.sleep(0.05)
    yield port
    process.terminate()
    process.wait(timeout=10)


class Inbox:
    """A subscriber on the broker that keeps the last payload of every topic."""

    def __init__(self, port: int) -> None:
        self.messages: dict[str, bytes] = {}
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="test-inbox")
        self.client.on_message = lambda c, u, m: self.messages.__setitem__(m.topic, m.payload)
        self.client.connect(HOST, port)
        self.client.subscribe("#", qos=1)
        self.client.loop_start()

    def wait(self, topic: str, check: Any = lambda payload: True, timeout_s: float = 5.0) -> bytes:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            payload = self.messages.get(topic)
            if payload is not None and check(payload):
                return payload
            time.sleep(0.02)
        pytest.fail(f"no message on {topic} within {timeout_s} s (topics: {sorted(self.messages)[:8]})")

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def test_discovery_and_states_on_a_real_broker(broker: int) -> None:
    inbox = Inbox(broker)
    publisher = MqttPublisher(MqttSettings(f"mqtt://{HOST}:{broker}"), site="sample site")
    publisher.start()
    try:
        snap = LiveSnapshot.from_json(snapshot(p_grid_kw=12.5))
        publisher.publish(snap)
        prefix = "beucha-twin/sample_site"
        assert inbox.wait(f"{prefix}/status", lambda p: p == b"online") == b"online"
        state = json.loads(inbox.wait(f"{prefix}/substation/state"))
        assert state["p_grid_kw"] == 12.5 and state["pv_generation_kw"] == 8.0  # PV -8 kW load-positive
        assert state["self_sufficiency_today_percent"] == 42.0
        assert state["import_kwh"] is None  # the sample has no year KPIs for the substation: unknown, not 0
        config_topic = (
            "homeassistant/sensor/beucha_twin_sample_site/beucha_twin_sample_site_substation_import_kwh/config"
        )
        config = json.loads(inbox.wait(config_topic))
        assert set(config) <= HA_SENSOR_KEYS
        assert config["device_class"] == "energy" and config["unit_of_measurement"] in HA_ENERGY_UNITS
        assert config["state_class"] in HA_STATE_CLASSES and config["state_topic"] == f"{prefix}/substation/state"
        assert config["value_template"] == "{{ value_json.import_kwh }}"
        configs = [t for t in inbox.messages if t.startswith("homeassistant/sensor/")]
        assert len(configs) == 10 * len(snap.balance)
        uniques = [json.loads(inbox.messages[t])["unique_id"] for t in configs]
        assert len(set(uniques)) == len(uniques)
        building = json.loads(inbox.wait(f"{prefix}/b1/state"))
        assert building["p_grid_kw"] == 2.0
        # a new value reaches the broker
        publisher.publish(LiveSnapshot.from_json(snapshot(p_grid_kw=-3.25)))
        inbox.wait(f"{prefix}/substation/state", lambda p: json.loads(p)["p_grid_kw"] == -3.25)
        health = json.loads(inbox.wait(f"{prefix}/health"))
        assert health["failing"] == ["b2/pv0"] and health["devices_ok"] == health["devices_total"] - 1
    finally:
        publisher.stop()
    assert inbox.wait("beucha-twin/sample_site/status", lambda p: p == b"offline") == b"offline"
    inbox.close()


def test_battery_energy_totals_for_the_energy_dashboard(broker: int) -> None:
    """Home Assistant's energy dashboard takes a battery as two energy sensors: into it and out of it."""
    inbox = Inbox(broker)
    publisher = MqttPublisher(MqttSettings(f"mqtt://{HOST}:{broker}"), site="sample site")
    publisher.start()
    try:
        data = snapshot()
        data["kpis"]["year"]["substation"] = {"battery_charge_kwh": 812.5, "battery_discharge_kwh": 730.25}
        publisher.publish(LiveSnapshot.from_json(data))
        prefix = "beucha-twin/sample_site"
        state = json.loads(inbox.wait(f"{prefix}/substation/state"))
        assert state["battery_charge_kwh"] == 812.5 and state["battery_discharge_kwh"] == 730.25
        assert json.loads(inbox.wait(f"{prefix}/b1/state"))["battery_charge_kwh"] is None  # unknown, not 0
        node = "beucha_twin_sample_site"
        for key in ("battery_charge_kwh", "battery_discharge_kwh"):
            config = json.loads(inbox.wait(f"homeassistant/sensor/{node}/{node}_substation_{key}/config"))
            assert set(config) <= HA_SENSOR_KEYS
            assert config["device_class"] == "energy" and config["state_class"] == "total_increasing"
            assert config["unit_of_measurement"] in HA_ENERGY_UNITS
            assert config["value_template"] == f"{{{{ value_json.{key} }}}}"
    finally:
        publisher.stop()
        inbox.close()


def test_a_broker_that_is_away_does_not_block(tmp_path: Path) -> None:
    publisher = MqttPublisher(MqttSettings(f"mqtt://{HOST}:{_free_port()}"), site="s")
    publisher.start()
    started = time.monotonic()
    for _ in range(50):
        publisher.publish(LiveSnapshot.from_json(snapshot()))
    assert time.monotonic() - started < 2.0  # queued, never waited for a connection
    publisher.stop()


@pytest.mark.parametrize("url", ["http://x", "mqtt://", "mqtt://host:99999"])
def test_bad_url_is_a_config_error(url: str) -> None:
    with pytest.raises(ConfigError, match="--mqtt"):
        MqttSettings(url).endpoint()
