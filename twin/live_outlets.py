"""Where the live twin's snapshots go besides the store: MQTT (Home Assistant) and alert messages.

:class:`Outlets` is a listener of :class:`twin.live.LiveTwin`: every snapshot goes to the MQTT
publisher (:mod:`connectors.mqtt_publisher`) and its conditions to the alert sender
(:mod:`connectors.alert_sender`). Neither ever blocks polling: both send from their own threads.
With a drift file (``twin live --drift``) it also gives the live twin the PV drift alarms as
alerts of every snapshot (:mod:`twin.live_drift`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from connectors.alert_sender import AlertSender, SmtpSettings, snapshot_conditions
from connectors.mqtt_publisher import MqttPublisher, MqttSettings
from twin.core.config_loader import load_config
from twin.core.errors import ConfigError
from twin.core.live_state import Alert, LiveSnapshot
from twin.live_drift import DriftWatch

if TYPE_CHECKING:
    from twin.live import LiveTwin

__all__ = ["OutletOptions", "Outlets", "load_outlets"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class OutletOptions:
    """MQTT and alert settings of ``twin live`` (each ``None``: not used)."""

    mqtt: MqttSettings | None = None
    webhook_url: str | None = None
    smtp: SmtpSettings | None = None
    alert_min_interval_s: float = 300.0
    alert_after_s: float = 15.0
    #: The drift file of ``twin calibrate --drift --out`` (``twin live --drift``).
    drift_file: Path | None = None

    @property
    def any(self) -> bool:
        """Whether any outlet (or the drift file) is configured."""
        return (
            self.mqtt is not None
            or self.webhook_url is not None
            or self.smtp is not None
            or self.drift_file is not None
        )


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MqttFile(_Record):
    """``mqtt:`` of the outlets file (the password comes from ``$TWIN_MQTT_PASSWORD``)."""

    url: str = Field(description="mqtt://HOST[:PORT] or mqtts://HOST[:PORT] (TLS).")
    user: str | None = None
    ca_file: str | None = Field(default=None, description="CA of the broker's certificate (TLS).")
    cert_file: str | None = None
    key_file: str | None = None
    prefix: str | None = Field(default=None, description="Topic prefix; default beucha-twin/<site>.")
    discovery_prefix: str = "homeassistant"


class SmtpFile(_Record):
    """``alerts.smtp:`` of the outlets file (the password comes from ``$TWIN_SMTP_PASSWORD``)."""

    host: str = Field(min_length=1)
    port: int = Field(default=25, ge=1, le=65535)
    sender: str = Field(default="twin@localhost", alias="from")
    to: tuple[str, ...] = Field(min_length=1)
    user: str | None = None
    starttls: bool = False


class AlertsFile(_Record):
    """``alerts:`` of the outlets file."""

    webhook: str | None = Field(default=None, pattern=r"^https?://", description="URL of the JSON POSTs.")
    smtp: SmtpFile | None = None
    after_s: float = Field(default=15.0, ge=0, le=86_400, description="How long a condition lasts before it is raised.")
    min_interval_s: float = Field(
        default=300.0, ge=0, le=86_400, description="How long a condition stays away before its recovery is sent."
    )


class OutletsFile(_Record):
    """The outlets file of ``twin live --outlets``."""

    mqtt: MqttFile | None = None
    alerts: AlertsFile | None = None


def load_outlets(path: str | Path) -> OutletOptions:
    """Read an outlets file (one-line ``ConfigError`` naming the file and field)."""
    spec: OutletsFile = load_config(path, OutletsFile, what="outlets file")
    mqtt = None
    if spec.mqtt is not None:
        m = spec.mqtt
        mqtt = MqttSettings(
            m.url,
            m.user,
            os.environ.get("TWIN_MQTT_PASSWORD"),
            m.ca_file,
            m.cert_file,
            m.key_file,
            m.prefix,
            m.discovery_prefix,
        )
        try:
            mqtt.endpoint()
        except ConfigError as err:
            raise ConfigError(err.message, file=str(path), field="mqtt.url", allowed=err.allowed) from None
    alerts = spec.alerts or AlertsFile()
    smtp = None
    if alerts.smtp is not None:
        a = alerts.smtp
        smtp = SmtpSettings(a.host, a.port, a.sender, a.to, a.user, os.environ.get("TWIN_SMTP_PASSWORD"), a.starttls)
    return OutletOptions(mqtt, alerts.webhook, smtp, alerts.min_interval_s, alerts.after_s)


class Outlets:
    """The configured outlets of one site; call :meth:`publish` with each snapshot."""

    def __init__(self, options: OutletOptions, site: str) -> None:
        self.mqtt = MqttPublisher(options.mqtt, site) if options.mqtt is not None else None
        self.alerts = (
            AlertSender(
                site,
                webhook_url=options.webhook_url,
                smtp=options.smtp,
                min_interval_s=options.alert_min_interval_s,
                raise_after_s=options.alert_after_s,
            )
            if options.webhook_url is not None or options.smtp is not None
            else None
        )
        #: Alerts for every snapshot (:attr:`twin.live.LiveTwin.alert_sources`): the drift file's.
        self.sources: list[Callable[[], list[Alert]]] = (
            [DriftWatch(options.drift_file).alerts] if options.drift_file is not None else []
        )
        if self.mqtt is not None:
            self.mqtt.start()

    def attach(self, twin: LiveTwin) -> None:
        """Take every snapshot of ``twin`` and give it the drift file's alerts."""
        twin.listeners.append(self.publish)
        twin.alert_sources += self.sources

    def publish(self, snapshot: LiveSnapshot) -> None:
        """Hand a snapshot to MQTT and its conditions to the alert sender; a failure is logged, never raised."""
        try:
            if self.mqtt is not None:
                self.mqtt.publish(snapshot)
            if self.alerts is not None and snapshot.devices_total:  # nothing read yet: no conditions to judge
                time_utc = None if snapshot.sim_time_utc is None else snapshot.sim_time_utc.isoformat()
                self.alerts.update(snapshot_conditions(snapshot), time_utc)
        except Exception:  # an outlet never stops the live twin
            logger.exception("publishing the snapshot failed")

    def problems(self) -> list[str]:
        """What an outlet could not do lately (for the status line and the log)."""
        out = []
        if self.mqtt is not None and self.mqtt.error:
            out.append(self.mqtt.error)
        if self.alerts is not None and self.alerts.error:
            out.append(f"alerts: {self.alerts.error}")
        return out

    def close(self) -> None:
        """Send what is queued and disconnect."""
        if self.alerts is not None:
            self.alerts.close()
        if self.mqtt is not None:
            self.mqtt.stop()
