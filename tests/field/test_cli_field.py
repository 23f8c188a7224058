"""``twin field`` as a command: site file, clean stop on SIGTERM with ports freed, bad input."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from pathlib import Path

import pytest

from connectors.site import load_site
from twin.cli import main


def test_twin_field_writes_the_site_and_stops_on_sigterm(small_district_file: Path, tmp_path: Path) -> None:
    site_path = tmp_path / "site.yaml"
    seen: dict[str, object] = {}

    def stop_when_ready() -> None:
        deadline = time.monotonic() + 60.0
        while not site_path.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        site = load_site(site_path)
        seen["site"] = site
        with socket.create_connection(("127.0.0.1", site.devices[0].port), timeout=1):
            pass
        os.kill(os.getpid(), signal.SIGTERM)

    killer = threading.Thread(target=stop_when_ready, daemon=True)
    killer.start()
    with pytest.raises(SystemExit) as info:
        main(
            [
                "field",
                "--district",
                str(small_district_file),
                "--site",
                str(site_path),
                "--speed",
                "600",
                "--start",
                "2025-01-15T08:00",
            ]
        )
    killer.join(5.0)
    assert info.value.code == 0
    site = seen["site"]
    assert site.start_utc == "2025-01-15T08:00:00Z"  # type: ignore[attr-defined]
    assert site.speed == 600.0  # type: ignore[attr-defined]
    for device in site.devices:  # type: ignore[attr-defined]
        with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", device.port), timeout=1):
            pass


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--speed", "0"], "speed 0.0 is out of range"),
        (["--start", "yesterday-ish"], "--start: 'yesterday-ish' is not an ISO 8601 time"),
    ],
)
def test_twin_field_bad_arguments(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["field", "--site", str(tmp_path / "site.yaml"), *args])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


def test_twin_field_bad_fault_plan(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan = tmp_path / "faults.yaml"
    plan.write_text("faults:\n  - {device: x, fault: melt}\n", encoding="utf-8")
    with pytest.raises(SystemExit) as info:
        main(["field", "--site", str(tmp_path / "site.yaml"), "--faults", str(plan)])
    assert info.value.code == 2
    assert "faults.0.fault" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("control:\n  heat_pump: sometimes\n", "control.yaml: heat_pump"),
        ("battery: signal\nsection_14a: maybe\n", "control.yaml: section_14a"),
    ],
)
def test_twin_field_bad_control_block(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], small_district_file: Path, text: str, message: str
) -> None:
    control = tmp_path / "control.yaml"
    control.write_text(text, encoding="utf-8")
    args = ["field", "--site", str(tmp_path / "site.yaml"), "--district", str(small_district_file)]
    with pytest.raises(SystemExit) as info:
        main([*args, "--control", str(control)])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


def test_twin_field_bad_controller_address(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], small_district_file: Path
) -> None:
    args = ["field", "--site", str(tmp_path / "site.yaml"), "--district", str(small_district_file)]
    with pytest.raises(SystemExit) as info:
        main([*args, "--controller", "127.0.0.1"])
    assert info.value.code == 2
    assert "--controller: '127.0.0.1' is not HOST:PORT" in capsys.readouterr().err
