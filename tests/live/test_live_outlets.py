"""``twin live --outlets FILE`` (MQTT, webhook, e-mail) end to end: a small field, a real broker,
a real webhook and SMTP server; a value change reaches MQTT, a failing device one alert and one recovery."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from connectors.simdevice import Fault
from tests.connectors.small_field import SmallField
from tests.connectors.test_alert_sender import smtp, webhook  # noqa: F401 (fixtures)
from tests.connectors.test_mqtt_publisher import HOST, Inbox, broker  # noqa: F401 (fixtures)
from tests.live.waits import until_alive

pytestmark = pytest.mark.e2e

DEVICE = "b02/pv"


def test_live_publishes_to_mqtt_and_sends_alerts(
    field: SmallField,
    broker: int,  # noqa: F811 (the imported fixture)
    webhook: Any,  # noqa: F811
    smtp: Any,  # noqa: F811
    tmp_path: Path,
    twin_exe: Path,
) -> None:
    url, posts = webhook
    settings, mails = smtp
    site = field.write_site(tmp_path / "site.yaml", interval_s=0.1, timeout_s=0.3)
    inbox = Inbox(broker)
    outlets = tmp_path / "outlets.yaml"
    outlets.write_text(
        f"mqtt: {{url: 'mqtt://{HOST}:{broker}'}}\n"
        f"alerts:\n  webhook: '{url}'\n  after_s: 2\n  min_interval_s: 0\n"
        f"  smtp: {{host: {HOST}, port: {settings.port}, to: [manager@beucha.example]}}\n",
        encoding="utf-8",
    )
    command = [
        str(twin_exe), "live", "--site", str(site), "--store", str(tmp_path / "store"), "--no-controllers",
        "--status-every", "60", "--outlets", str(outlets),
    ]  # fmt: skip
    live = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    topic = "beucha-twin/test_field/b01/state"
    try:
        until_alive(lambda: inbox.messages.get(topic), "the first state on MQTT", live)
        meter = field.devices["b01/meter"]
        meter.set_quantities({"p_meter_kw": 7.25})
        changed = time.monotonic()
        until_alive(lambda: json.loads(inbox.messages[topic]).get("p_grid_kw") == 7.25, "the new value on MQTT", live)
        latency_s = time.monotonic() - changed
        assert latency_s < 10.0, latency_s  # the bench measures the median; here only that it arrives
        assert inbox.messages[
            "homeassistant/sensor/beucha_twin_test_field/beucha_twin_test_field_b01_import_kwh/config"
        ]
        field.devices[DEVICE].inject(Fault.EXCEPTION)
        until_alive(
            lambda: len(posts) == 1 and len(mails.messages) == 1, f"one alert by webhook and e-mail {posts}", live
        )
        assert posts[0]["kind"] == "raised" and posts[0]["key"] == f"device:{DEVICE}"
        field.devices[DEVICE].clear_fault()
        until_alive(lambda: len(posts) == 2 and len(mails.messages) == 2, "one recovery by webhook and e-mail", live)
        assert posts[1]["kind"] == "recovered" and "RECOVERED" in mails.messages[1]["Subject"]
        assert mails.messages[0]["To"] == "manager@beucha.example"
        time.sleep(1.0)
        assert len(posts) == 2  # nothing more while all is well
    finally:
        live.terminate()
        live.communicate(timeout=30)
        inbox.close()
    assert inbox.messages["beucha-twin/test_field/status"] == b"offline"


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("mqtt: {url: 'http://x'}\n", "mqtt.url"),
        ("alerts: {webhook: 'ftp://x'}\n", "alerts.webhook"),
        ("alerts: {smtp: {host: m}}\n", "alerts.smtp.to"),
        ("alerts: {after_s: -1}\n", "alerts.after_s"),
        ("mqt: {url: 'mqtt://x'}\n", "mqt"),
    ],
)
def test_bad_outlets_file_names_the_field(tmp_path: Path, text: str, field: str) -> None:
    from twin.core.errors import ConfigError
    from twin.live_outlets import load_outlets

    path = tmp_path / "outlets.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_outlets(path)
    assert info.value.field == field and str(path) in str(info.value) and "\n" not in str(info.value)
