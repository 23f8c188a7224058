"""Alerts that leave the page: a webhook call and an e-mail when a condition starts, and when it ends.

:func:`snapshot_conditions` reads the conditions an energy manager is called for from a live
snapshot: a device that does not answer, the transformer or a line above 100 % loading, a bus
voltage outside the EN 50160 band (0.9-1.1 p.u.), and the live twin's own bad alerts (a store
that cannot write, a PV system's drift below its calibrated performance; keyed by the alert's key
where it has one). :class:`AlertSender` compares them with the conditions it last saw and sends
one message when a condition starts and one recovery message when it ends:

- a condition is raised once it has lasted ``raise_after_s`` (a device not read yet at start,
  one missed poll, are not incidents);
- a condition that ends and starts again within ``min_interval_s`` sends nothing new (a device
  that flaps does not flood the inbox); its recovery is sent when it has stayed away;
- at most ``max_per_minute`` messages a minute per channel; what is over the cap is sent as
  one summary line with the next message;
- messages go out from one background thread: a slow or dead webhook or SMTP server never
  delays the live twin; failures are counted and the last one kept in :attr:`AlertSender.error`.
"""

from __future__ import annotations

import json
import logging
import queue
import smtplib
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Final

from twin.core.live_state import LiveSnapshot

__all__ = ["AlertSender", "Notification", "SmtpSettings", "snapshot_conditions"]

logger = logging.getLogger(__name__)

#: Bus voltage band (EN 50160, +-10 % of nominal). [p.u.]
VOLTAGE_BAND_PU: Final[tuple[float, float]] = (0.9, 1.1)
#: Loading above which a transformer or line is overloaded. [%]
OVERLOAD_PERCENT: Final[float] = 100.0
#: Seconds a send may take before it counts as failed. [s]
SEND_TIMEOUT_S: Final[float] = 10.0


@dataclass(frozen=True)
class SmtpSettings:
    """An SMTP server and the addresses of the alert e-mails."""

    host: str
    port: int
    sender: str
    recipients: tuple[str, ...]
    username: str | None = None
    password: str | None = None
    starttls: bool = False


@dataclass(frozen=True)
class Notification:
    """One message: a condition that started (``raised``) or ended (``recovered``)."""

    key: str
    text: str
    kind: str
    site: str
    time_utc: str | None = None
    suppressed: int = 0

    def subject(self) -> str:
        """The e-mail subject."""
        word = "ALERT" if self.kind == "raised" else "RECOVERED"
        return f"[{self.site}] {word}: {self.text}"

    def to_json(self) -> dict[str, object]:
        """The webhook's JSON body."""
        return {
            "site": self.site,
            "kind": self.kind,
            "key": self.key,
            "text": self.text,
            "sim_time_utc": self.time_utc,
            "suppressed_before": self.suppressed,
        }


def snapshot_conditions(snapshot: LiveSnapshot) -> dict[str, str]:
    """The conditions of a snapshot that call for someone: key -> one line of text."""
    out: dict[str, str] = {}
    for device in snapshot.failing:
        state = snapshot.devices.get(device)
        reason = f": {state.error}" if state is not None and state.error else ""
        out[f"device:{device}"] = f"device {device} does not answer{reason}"
    grid = snapshot.grid
    if grid is not None:
        trafo, line = grid.trafo_loading_max_percent, grid.line_loading_max_percent
        if trafo is not None and trafo > OVERLOAD_PERCENT:
            out["grid:trafo"] = f"transformer at {trafo:.0f} % loading"
        if line is not None and line > OVERLOAD_PERCENT:
            out["grid:line"] = f"a line at {line:.0f} % loading"
        low, high = VOLTAGE_BAND_PU
        if grid.vm_min_pu is not None and grid.vm_min_pu < low:
            out["grid:voltage_low"] = f"voltage {grid.vm_min_pu:.3f} p.u. below {low}"
        if grid.vm_max_pu is not None and grid.vm_max_pu > high:
            out["grid:voltage_high"] = f"voltage {grid.vm_max_pu:.3f} p.u. above {high}"
    for alert in snapshot.alerts:
        if alert.level == "bad":
            out[alert.key or f"twin:{alert.text[:60]}"] = alert.text
    return out


@dataclass
class _Channel:
    name: str
    send: Callable[[Notification], None]
    sent_minute: list[float] = field(default_factory=list)
    suppressed: int = 0


class AlertSender:
    """Sends notifications for the conditions of successive snapshots (module docstring).

    Parameters
    ----------
    site : str
        The site's name, in every message.
    webhook_url : str, optional
        URL that receives a JSON POST per message.
    smtp : SmtpSettings, optional
        Where e-mails go.
    min_interval_s : float
        A condition that ends and starts again within this time sends nothing new. [s]
    raise_after_s : float
        How long a condition must last before it is raised. [s]
    max_per_minute : int
        Messages a minute per channel before the rest is summarised.
    clock : callable
        Monotonic seconds (tests hand in their own).
    """

    def __init__(
        self,
        site: str,
        *,
        webhook_url: str | None = None,
        smtp: SmtpSettings | None = None,
        min_interval_s: float = 300.0,
        raise_after_s: float = 15.0,
        max_per_minute: int = 20,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.site = site
        self.min_interval_s = min_interval_s
        self.raise_after_s = raise_after_s
        self._first_seen: dict[str, float] = {}  # conditions not raised yet, since when
        self.max_per_minute = max_per_minute
        self.clock = clock
        self.error: str | None = None
        self.failures = 0
        self.sent = 0
        self._active: dict[str, str] = {}  # conditions announced and not yet recovered
        self._gone_since: dict[str, float] = {}  # announced conditions that ended, waiting out min_interval_s
        self._channels: list[_Channel] = []
        if webhook_url:
            self._channels.append(_Channel("webhook", lambda n: _post(webhook_url, n)))
        if smtp is not None:
            self._channels.append(_Channel("e-mail", lambda n: _mail(smtp, n)))
        self._queue: queue.Queue[tuple[_Channel, Notification] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="alert-sender", daemon=True)
        self._thread.start()

    def update(self, conditions: dict[str, str], time_utc: str | None = None) -> list[Notification]:
        """Compare with the last conditions and queue the messages; returns what was queued."""
        now = self.clock()
        out: list[Notification] = []
        for key in [k for k in self._first_seen if k not in conditions]:
            del self._first_seen[key]  # over before it was raised
        for key, text in conditions.items():
            if key in self._gone_since:  # back within the interval: still the same incident
                del self._gone_since[key]
            elif key not in self._active:
                if now - self._first_seen.setdefault(key, now) < self.raise_after_s:
                    continue
                del self._first_seen[key]
                out.append(Notification(key, text, "raised", self.site, time_utc))
            self._active[key] = text
        for key in [k for k in self._active if k not in conditions]:
            started = self._gone_since.setdefault(key, now)
            if now - started >= self.min_interval_s or self.min_interval_s == 0:
                out.append(Notification(key, self._active.pop(key), "recovered", self.site, time_utc))
                del self._gone_since[key]
        for notification in out:
            for channel in self._channels:
                self._queue.put((channel, notification))
        return out

    def close(self, timeout_s: float = SEND_TIMEOUT_S) -> None:
        """Send what is queued (waiting at most ``timeout_s``) and stop the thread."""
        self._queue.put(None)
        self._thread.join(timeout_s)

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            channel, notification = item
            now = self.clock()
            channel.sent_minute = [t for t in channel.sent_minute if now - t < 60.0]
            if len(channel.sent_minute) >= self.max_per_minute:
                channel.suppressed += 1
                continue
            if channel.suppressed:
                notification = Notification(**{**notification.__dict__, "suppressed": channel.suppressed})
                channel.suppressed = 0
            try:
                channel.send(notification)
                channel.sent_minute.append(now)
                self.sent += 1
            except (OSError, smtplib.SMTPException, ValueError) as err:
                self.failures += 1
                self.error = f"{channel.name}: {err}"
                logger.warning("alert %s not sent by %s: %s", notification.key, channel.name, err)


def _post(url: str, notification: Notification) -> None:
    request = urllib.request.Request(
        url, data=json.dumps(notification.to_json()).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=SEND_TIMEOUT_S) as response:
        response.read()


def _mail(smtp: SmtpSettings, notification: Notification) -> None:
    message = EmailMessage()
    message["From"], message["To"] = smtp.sender, ", ".join(smtp.recipients)
    message["Subject"] = notification.subject()
    suppressed = (
        f"\n({notification.suppressed} messages were held back by the rate limit.)" if notification.suppressed else ""
    )
    message.set_content(f"{notification.text}\nsimulated time: {notification.time_utc}{suppressed}\n")
    with smtplib.SMTP(smtp.host, smtp.port, timeout=SEND_TIMEOUT_S) as client:
        if smtp.starttls:
            client.starttls()
        if smtp.username is not None:
            client.login(smtp.username, smtp.password or "")
        client.send_message(message)
