"""The PV drift alarm of the live twin: ``twin live --drift FILE`` turns the drift file of
``twin calibrate --drift --out`` into alerts on the Live page and in the alert messages.

End to end: a small field, a real webhook; a drift file naming a system raises one alert (shown in
the snapshot the Live page reads), a new check with another ratio keeps it (the same key, no new
message), a check without the alarm sends its recovery. :class:`twin.live_drift.DriftWatch` alone:
a missing or broken file is a warning, a changed file is read again.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from connectors.alert_sender import snapshot_conditions
from dashboard.pages import live as live_page
from tests.connectors.small_field import SmallField
from tests.connectors.test_alert_sender import webhook  # noqa: F401 (fixture)
from tests.dashboard.sample import snapshot as sample_snapshot
from tests.live.waits import until_alive
from twin.core.calibration_outputs import DriftFile, DriftSystem
from twin.core.live_state import Alert, LiveSnapshot
from twin.core.store import SNAPSHOT_FILE, read_json, write_json_atomic
from twin.live_drift import DriftWatch


def _drift(path: Path, *ratios: tuple[str, float]) -> None:
    systems = tuple(DriftSystem(system, ratio, 0.01, ratio < 0.9) for system, ratio in ratios)
    record = DriftFile("Small field", None, "2025-04-16T00:00:00Z", "2025-04-23T00:00:00Z", 7, 0.1, systems)
    write_json_atomic(path, record.to_json())


@pytest.mark.e2e
def test_live_twin_raises_the_drift_alarm_and_its_recovery(
    field: SmallField,
    webhook: Any,  # noqa: F811 (the imported fixture)
    tmp_path: Path,
    twin_exe: Path,
) -> None:
    url, posts = webhook
    site = field.write_site(tmp_path / "site.yaml", interval_s=0.1, timeout_s=0.3)
    drift = tmp_path / "calibration.drift.json"
    _drift(drift, ("b01/pv0", 0.84), ("b02/pv0", 0.99))
    outlets = tmp_path / "outlets.yaml"
    outlets.write_text(f"alerts:\n  webhook: '{url}'\n  after_s: 2\n  min_interval_s: 0\n", encoding="utf-8")
    store = tmp_path / "store"
    command = [
        str(twin_exe), "live", "--site", str(site), "--store", str(store), "--no-controllers",
        "--status-every", "60", "--outlets", str(outlets), "--drift", str(drift),
    ]  # fmt: skip
    live = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def shown() -> list[str]:  # what the Live page shows of the snapshot
        data = read_json(store / SNAPSHOT_FILE)
        return [text for _, text in live_page.alerts(LiveSnapshot.from_json(data))] if data else []

    def drift_posts() -> list[dict[str, Any]]:
        return [p for p in posts if str(p["key"]).startswith("drift:")]

    try:
        until_alive(lambda: drift_posts(), "the drift alarm by webhook", live)
        assert [(p["kind"], p["key"]) for p in drift_posts()] == [("raised", "drift:b01/pv0")]
        assert drift_posts()[0]["text"] == "PV drift b01/pv0: 0.84 of its calibrated performance over 7 days"
        assert any("PV drift b01/pv0: 0.84" in text for text in shown())
        assert not any("b02/pv0" in text for text in shown())
        _drift(drift, ("b01/pv0", 0.83), ("b02/pv0", 0.99))  # the next day's check: still below
        until_alive(
            lambda: any("PV drift b01/pv0: 0.83" in text for text in shown()), "the new ratio on the page", live
        )
        _drift(drift, ("b01/pv0", 0.97), ("b02/pv0", 0.99))  # cleaned
        until_alive(lambda: len(drift_posts()) == 2, "the recovery by webhook", live)
        assert [(p["kind"], p["key"]) for p in drift_posts()] == [
            ("raised", "drift:b01/pv0"),
            ("recovered", "drift:b01/pv0"),
        ]  # the changed ratio was the same alarm: no message of its own
        assert not any("PV drift" in text for text in shown())
    finally:
        live.terminate()
        live.communicate(timeout=30)


def test_drift_watch_reads_a_changed_file_and_warns_of_a_broken_one(tmp_path: Path) -> None:
    path = tmp_path / "drift.json"
    watch = DriftWatch(path)
    [missing] = watch.alerts()
    assert missing.level == "warn" and missing.key == "drift:file" and "no PV drift check" in missing.text
    assert str(path) in missing.text
    _drift(path, ("b1/pv0", 0.8), ("b2/pv0", 1.0))
    [alarm] = watch.alerts()
    assert (alarm.level, alarm.key) == ("bad", "drift:b1/pv0")
    path.write_text("{not json", encoding="utf-8")
    [broken] = watch.alerts()
    assert broken.level == "warn" and "not a drift file" in broken.text
    path.write_text(json.dumps({"version": 1, "systems": {}}), encoding="utf-8")
    [malformed] = watch.alerts()
    assert "malformed drift file" in malformed.text and "\n" not in malformed.text


def test_a_keyed_alert_is_one_condition_whatever_its_text() -> None:
    data = sample_snapshot()
    data["alerts"] = [Alert("bad", "PV drift b2/pv0: 0.80 of its calibrated performance", "drift:b2/pv0").to_json()]
    snap = LiveSnapshot.from_json(data)
    assert snap.alerts[0].key == "drift:b2/pv0"  # the snapshot keeps the key
    assert snapshot_conditions(snap)["drift:b2/pv0"].startswith("PV drift b2/pv0: 0.80")
    assert ("bad", "PV drift b2/pv0: 0.80 of its calibrated performance") in live_page.alerts(snap)
