"""Alerts leave the page: a real HTTP webhook and a real SMTP server on 127.0.0.1, rate limits, recovery."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Message

from connectors.alert_sender import AlertSender, SmtpSettings, snapshot_conditions
from tests.dashboard.sample import snapshot
from twin.core.live_state import LiveSnapshot

HOST = "127.0.0.1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer((HOST, 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://{HOST}:{server.server_port}/hook", received
    server.shutdown()


class Inbox(Message):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[Any] = []

    def handle_message(self, message: Any) -> None:
        self.messages.append(message)


@pytest.fixture
def smtp() -> Iterator[tuple[SmtpSettings, Inbox]]:
    inbox = Inbox()
    port = _free_port()
    controller = Controller(inbox, hostname=HOST, port=port)
    controller.start()
    yield SmtpSettings(HOST, port, "twin@beucha.example", ("manager@beucha.example",)), inbox
    controller.stop()


def _until(check: Any, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "not seen in time"
        time.sleep(0.02)


def test_device_down_then_back_one_message_each_per_channel(webhook: Any, smtp: Any) -> None:
    url, posts = webhook
    settings, inbox = smtp
    now = [0.0]
    sender = AlertSender(
        "Beucha", webhook_url=url, smtp=settings, min_interval_s=60.0, raise_after_s=15.0, clock=lambda: now[0]
    )
    down = LiveSnapshot.from_json(snapshot())  # the sample has b2/pv0 failing
    conditions = snapshot_conditions(down)
    assert conditions == {"device:b2/pv0": "device b2/pv0 does not answer: timeout"}
    assert sender.update(conditions) == []  # a condition of 0 s is no incident yet
    sender.update({})  # over before it was raised: nothing, ever
    now[0] += 20.0
    assert sender.update(conditions) == []
    for _ in range(5):  # the same condition in every snapshot: one message
        sender.update(conditions, "2025-06-03T10:00:00Z")
        now[0] += 10.0
    _until(lambda: len(posts) == 1 and len(inbox.messages) == 1)
    assert posts[0]["kind"] == "raised" and posts[0]["key"] == "device:b2/pv0"
    assert inbox.messages[0]["Subject"] == "[Beucha] ALERT: device b2/pv0 does not answer: timeout"
    sender.update({})  # back: a recovery only once it has stayed away min_interval_s
    now[0] += 30.0
    sender.update(conditions)  # flaps within the interval: the same incident, nothing sent
    sender.update({})
    now[0] += 61.0
    assert [n.kind for n in sender.update({})] == ["recovered"]
    _until(lambda: len(posts) == 2 and len(inbox.messages) == 2)
    assert posts[1]["kind"] == "recovered" and "RECOVERED" in inbox.messages[1]["Subject"]
    sender.close()
    assert sender.failures == 0 and sender.sent == 4


def test_grid_conditions_and_rate_limit(webhook: Any) -> None:
    url, posts = webhook
    sender = AlertSender("Beucha", webhook_url=url, min_interval_s=0.0, raise_after_s=0.0, max_per_minute=3)
    overloaded = snapshot_conditions(LiveSnapshot.from_json(snapshot(trafo_percent=121.0, vm_min_pu=0.87)))
    assert overloaded["grid:trafo"] == "transformer at 121 % loading"
    assert overloaded["grid:voltage_low"] == "voltage 0.870 p.u. below 0.9"
    sender.update({f"device:d{i}": f"device d{i} does not answer" for i in range(6)})
    sender.close()
    assert len(posts) == 3  # the cap; the other 3 are counted for the next message
    assert sender.sent == 3


def test_a_dead_webhook_never_blocks_and_is_reported() -> None:
    sender = AlertSender(
        "Beucha", webhook_url=f"http://{HOST}:{_free_port()}/hook", min_interval_s=0.0, raise_after_s=0.0
    )
    started = time.monotonic()
    sender.update({"device:x": "device x does not answer"})
    assert time.monotonic() - started < 1.0
    sender.close()
    assert sender.failures == 1 and sender.error is not None and sender.error.startswith("webhook:")
