"""Where the live twin's snapshots go besides the store: MQTT (Home Assistant) and alert messages.

:class:`Outlets` is a listener of :class:`twin.live.LiveTwin`: every snapshot goes to the MQTT
publisher (:mod:`connectors.mqtt_publisher`) and its conditions to the alert sender
(:mod:`connectors.alert_sender`). Neither ever blocks polling: both send from their own threads.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from connectors.alert_sender import AlertSender, SmtpSettings, snapshot_conditions
from connectors.mqtt_publisher import MqttPublisher, MqttSettings
from twin.core.live_state import LiveSnapshot

__all__ = ["OutletOptions", "Outlets"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class OutletOptions:
    """MQTT and alert settings of ``twin live`` (each ``None``: not used)."""

    mqtt: MqttSettings | None = None
    webhook_url: str | None = None
    smtp: SmtpSettings | None = None
    alert_min_interval_s: float = 300.0
    alert_after_s: float = 15.0

    @property
    def any(self) -> bool:
        """Whether any outlet is configured."""
        return self.mqtt is not None or self.webhook_url is not None or self.smtp is not None


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
        if self.mqtt is not None:
            self.mqtt.start()

    def publish(self, snapshot: LiveSnapshot) -> None:
        """Hand a snapshot to MQTT and its conditions to the alert sender."""
        if self.mqtt is not None:
            self.mqtt.publish(snapshot)
        if self.alerts is not None and snapshot.devices_total:  # nothing read yet: no conditions to judge
            time_utc = None if snapshot.sim_time_utc is None else snapshot.sim_time_utc.isoformat()
            self.alerts.update(snapshot_conditions(snapshot), time_utc)

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
