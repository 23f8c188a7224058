from __future__ import annotations

import logging
import subprocess
from pathlib import Path

import pytest

from twin import cli
from twin.core.errors import ConfigError

# DESIGN.md section 7
COMMANDS = ["demo", "district", "field", "live", "dashboard", "scenario", "registers", "certs", "import"]


def test_help_lists_the_commands(twin_exe: Path) -> None:
    result = subprocess.run([twin_exe, "--help"], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0
    for command in COMMANDS:
        assert f" {command} " in result.stdout, command


def test_scenario_help_lists_subcommands(twin_exe: Path) -> None:
    result = subprocess.run([twin_exe, "scenario", "--help"], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0
    for command in ("list", "check", "run", "sweep", "compare"):
        assert f" {command} " in result.stdout, command


def test_unknown_command_is_a_usage_error(twin_exe: Path) -> None:
    result = subprocess.run([twin_exe, "frobnicate"], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert "No such command" in result.stderr
    assert "Traceback" not in result.stderr


def test_config_error_exits_2_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(name: str) -> None:
        raise ConfigError("missing field", file="x.yaml", field="buildings[0].type")

    monkeypatch.setattr("models.district.load_district", broken)
    with pytest.raises(SystemExit) as info:
        cli.main(["district", "show", "--no-year"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err == "twin: x.yaml: buildings[0].type: missing field\n"


def test_internal_error_exits_1_without_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(name: str) -> None:
        raise RuntimeError("boom")

    monkeypatch.delenv("TWIN_DEBUG", raising=False)
    monkeypatch.setattr("models.district.load_district", broken)
    with pytest.raises(SystemExit) as info:
        cli.main(["district", "show", "--no-year"])
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("twin: internal error: RuntimeError: boom")
    assert "Traceback" not in err


def test_pymodbus_frame_dumps_are_cut_from_error_lines() -> None:
    from twin.cli import _without_frame_dumps

    message = "Connection to (127.0.0.1, 5020) failed: refused\n>>>>> send: 0x0 0x1\n>>>>> recv: 0x0 0x1"
    record = logging.LogRecord("pymodbus.logging", logging.ERROR, "tcp.py", 1, message, None, None)
    assert _without_frame_dumps(record)
    assert record.getMessage() == "Connection to (127.0.0.1, 5020) failed: refused"
    own = logging.LogRecord("twin.live", logging.ERROR, "live.py", 1, message, None, None)
    assert _without_frame_dumps(own)
    assert own.getMessage() == message  # only pymodbus' dumps are cut
