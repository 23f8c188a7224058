"""The live twin on MQTT, with Home Assistant discovery.

:class:`MqttPublisher` publishes each live snapshot to a broker: per boundary (the district and
every building) one retained JSON state message, the controller signal and the device health,
and once per connection the Home Assistant MQTT discovery configs of the sensors, so that Home
Assistant's energy dashboard finds the quarter's grid import and export, its PV generation and
the energy into and out of its batteries without configuration. Topics (``PREFIX`` is
``beucha-twin/<site>`` by default)::

    PREFIX/status                     online / offline (retained; offline is the last will)
    PREFIX/<boundary>/state           {"p_grid_kw": .., "import_kwh": .., ...}  (retained)
    PREFIX/health                     {"devices_ok": .., "devices_total": .., "store_ok": ..}
    homeassistant/sensor/<node>/<object>/config    discovery (retained)

Values are the snapshot's, in its units and its sign (load-positive) with one exception named
as such: ``pv_generation_kw`` is the PV power as a positive number, as Home Assistant shows
generation. Energy sensors count the calendar year so far (``device_class: energy``,
``state_class: total_increasing``: the reset on 1 January is a new cycle for Home Assistant).
A missing value is published as JSON ``null`` (Home Assistant shows "unknown"), never as 0.

The client (paho-mqtt) runs its network loop in its own thread and buffers at most
:data:`MAX_QUEUED` messages while the broker is away; a broker that is down or refuses the
login never blocks or stops the live twin (:attr:`MqttPublisher.error` says why).
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import ssl
import threading
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

from twin.core.errors import ConfigError
from twin.core.live_state import LiveSnapshot

__all__ = ["MAX_QUEUED", "MqttPublisher", "MqttSettings", "discovery_configs", "state_payloads"]

logger = logging.getLogger(__name__)

#: Messages kept while the broker is away (older ones are dropped by the client).
MAX_QUEUED: Final[int] = 10_000
#: (object, name, unit, device class, state class, where the value comes from) of each boundary's sensors.
SENSORS: Final[tuple[tuple[str, str, str | None, str | None, str, str], ...]] = (
    ("p_grid_kw", "Grid power", "kW", "power", "measurement", "balance"),
    ("pv_generation_kw", "PV generation", "kW", "power", "measurement", "balance"),
    ("p_battery_kw", "Battery power", "kW", "power", "measurement", "balance"),
    ("p_load_kw", "Consumption", "kW", "power", "measurement", "balance"),
    ("import_kwh", "Grid import (year)", "kWh", "energy", "total_increasing", "year"),
    ("export_kwh", "Grid export (year)", "kWh", "energy", "total_increasing", "year"),
    ("generation_kwh", "PV generation (year)", "kWh", "energy", "total_increasing", "year"),
    ("battery_charge_kwh", "Battery charge (year)", "kWh", "energy", "total_increasing", "year"),
    ("battery_discharge_kwh", "Battery discharge (year)", "kWh", "energy", "total_increasing", "year"),
    ("self_sufficiency_today_percent", "Self-sufficiency today", "%", None, "measurement", "today"),
)


@dataclass(frozen=True)
class MqttSettings:
    """Where and how to publish.

    Attributes
    ----------
    url : str
        ``mqtt://HOST[:PORT]`` (default port 1883) or ``mqtts://HOST[:PORT]`` (TLS, 8883).
    username, password : str or None
        Broker login.
    ca_file, cert_file, key_file : str or None
        TLS: the CA that signed the broker's certificate (default: the system's), and a client
        certificate and key where the broker asks for one.
    prefix : str or None
        Topic prefix; default ``beucha-twin/<site>``.
    discovery_prefix : str
        Home Assistant's discovery prefix.
    """

    url: str
    username: str | None = None
    password: str | None = None
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    prefix: str | None = None
    discovery_prefix: str = "homeassistant"

    def endpoint(self) -> tuple[str, int, bool]:
        """(host, port, tls) of :attr:`url`; a ConfigError naming ``--mqtt`` when it is not one."""
        parts = urlsplit(self.url)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ConfigError(
                f"{self.url!r} is not an MQTT URL", field="--mqtt", allowed="mqtt://HOST[:PORT], mqtts://"
            )
        tls = parts.scheme == "mqtts"
        try:
            port = parts.port or (8883 if tls else 1883)
        except ValueError:
            raise ConfigError(f"{self.url!r} has a bad port", field="--mqtt") from None
        return parts.hostname, port, tls


def slug(text: str) -> str:
    """A topic and id part: letters, digits, ``_`` and ``-`` only."""
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_") or "site"


def state_payloads(snapshot: LiveSnapshot) -> dict[str, dict[str, Any]]:
    """Per boundary (``substation`` and each building) the values the sensors read."""
    out: dict[str, dict[str, Any]] = {}
    for boundary, state in snapshot.balance.items():
        pv = state.p_pv_kw
        payload: dict[str, Any] = {
            "p_grid_kw": state.p_grid_kw,
            "pv_generation_kw": None if pv is None else max(-pv, 0.0),
            "p_battery_kw": state.p_battery_kw,
            "p_load_kw": state.p_load_kw,
            "quality": None if state.quality is None else int(state.quality),
            "inputs_missing": state.inputs_missing,
        }
        year = snapshot.kpis.year.get(boundary)
        today = snapshot.kpis.today.get(boundary)
        for name in ("import_kwh", "export_kwh", "generation_kwh", "battery_charge_kwh", "battery_discharge_kwh"):
            payload[name] = None if year is None else getattr(year, name)
        ratio = None if today is None else today.self_sufficiency_frac
        payload["self_sufficiency_today_percent"] = None if ratio is None else round(100.0 * ratio, 1)
        payload["sim_time_utc"] = None if snapshot.sim_time_utc is None else snapshot.sim_time_utc.isoformat()
        out[boundary] = payload
    return out


def discovery_configs(
    prefix: str, node: str, boundaries: list[str], discovery_prefix: str
) -> dict[str, dict[str, Any]]:
    """Home Assistant MQTT discovery: config topic -> payload, one sensor per boundary and quantity."""
    configs: dict[str, dict[str, Any]] = {}
    for boundary in boundaries:
        device_id = f"{node}_{slug(boundary)}"
        device = {
            "identifiers": [device_id],
            "name": "District" if boundary == "substation" else f"Building {boundary}",
            "manufacturer": "Beucha district twin",
            "model": "substation" if boundary == "substation" else "building",
        }
        if boundary != "substation":
            device["via_device"] = f"{node}_substation"
        for key, name, unit, device_class, state_class, _ in SENSORS:
            unique_id = f"{device_id}_{key}"
            config: dict[str, Any] = {
                "name": name,
                "unique_id": unique_id,
                "state_topic": f"{prefix}/{slug(boundary)}/state",
                "value_template": f"{{{{ value_json.{key} }}}}",
                "availability_topic": f"{prefix}/status",
                "state_class": state_class,
                "device": device,
            }
            if unit is not None:
                config["unit_of_measurement"] = unit
            if device_class is not None:
                config["device_class"] = device_class
            configs[f"{discovery_prefix}/sensor/{node}/{unique_id}/config"] = config
    return configs


class MqttPublisher:
    """Publishes live snapshots to an MQTT broker (module docstring).

    Parameters
    ----------
    settings : MqttSettings
        Broker, login, TLS and topics.
    site : str
        The site's name, for the default prefix and the discovery node id.
    """

    def __init__(self, settings: MqttSettings, site: str) -> None:
        import paho.mqtt.client as mqtt

        self.settings = settings
        self.host, self.port, tls = settings.endpoint()
        self.node = f"beucha_twin_{slug(site)}"
        self.prefix = settings.prefix or f"beucha-twin/{slug(site)}"
        self.error: str | None = None
        self._announced: set[str] = set()
        self._lock = threading.Lock()
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"{self.node}_live")
        client.max_queued_messages_set(MAX_QUEUED)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        if settings.username is not None:
            client.username_pw_set(settings.username, settings.password)
        if tls:
            try:
                client.tls_set(
                    ca_certs=settings.ca_file,
                    certfile=settings.cert_file,
                    keyfile=settings.key_file,
                    cert_reqs=ssl.CERT_REQUIRED,
                )
            except (OSError, ssl.SSLError, ValueError) as err:
                raise ConfigError(f"cannot use the TLS files: {err}", field="--mqtt-ca") from err
        client.will_set(f"{self.prefix}/status", "offline", qos=1, retain=True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        self._client = client

    def start(self) -> None:
        """Connect in the background (a broker that is away is retried, never waited for)."""
        self._client.connect_async(self.host, self.port, keepalive=30)
        self._client.loop_start()

    def publish(self, snapshot: LiveSnapshot) -> None:
        """Publish a snapshot's states (and the discovery configs of boundaries not announced yet)."""
        payloads = state_payloads(snapshot)
        with self._lock:
            new = [b for b in payloads if b not in self._announced]
            if new:
                for topic, config in discovery_configs(
                    self.prefix, self.node, new, self.settings.discovery_prefix
                ).items():
                    self._client.publish(topic, json.dumps(config), qos=1, retain=True)
                self._announced.update(new)
        for boundary, payload in payloads.items():
            self._client.publish(f"{self.prefix}/{slug(boundary)}/state", json.dumps(payload), qos=1, retain=True)
        health = {
            "devices_ok": snapshot.devices_ok,
            "devices_total": snapshot.devices_total,
            "failing": list(snapshot.failing),
            "store_ok": None if snapshot.store_status is None else snapshot.store_status.ok,
        }
        self._client.publish(f"{self.prefix}/health", json.dumps(health), qos=1, retain=True)

    def stop(self) -> None:
        """Say offline and disconnect."""
        with contextlib.suppress(RuntimeError, ValueError):  # not connected: the last will says it
            self._client.publish(f"{self.prefix}/status", "offline", qos=1, retain=True).wait_for_publish(timeout=2.0)
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            self.error = f"MQTT broker {self.host}:{self.port} refused the connection: {reason}"
            logger.warning(self.error)
            return
        self.error = None
        with self._lock:
            self._announced.clear()  # a broker that lost its retained configs gets them again
        client.publish(f"{self.prefix}/status", "online", qos=1, retain=True)

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            self.error = f"MQTT broker {self.host}:{self.port} lost: {reason}"
            logger.warning(self.error)
