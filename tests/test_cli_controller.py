from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from connectors.controller_map import format_map, load_controller_map
from twin import cli


@pytest.mark.parametrize("fmt", ["table", "markdown", "csv", "json"])
def test_registers_prints_the_map(fmt: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["registers", "--format", fmt])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out == format_map(load_controller_map(), fmt)  # type: ignore[arg-type]
    if fmt == "json":
        assert json.loads(out)["version"] == load_controller_map().version


def test_registers_unknown_format_exits_2(twin_exe: Path) -> None:
    result = subprocess.run(
        [twin_exe, "registers", "--format", "xml"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "twin: --format: unknown format 'xml' (allowed: table, markdown, csv, json)"


def test_certs_writes_files_and_refuses_to_overwrite(twin_exe: Path, tmp_path: Path) -> None:
    out = tmp_path / "certs"
    result = subprocess.run([twin_exe, "certs", "--out", out], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    names = {path.name for path in out.iterdir()}
    assert {"writer-ca.pem", "server.pem", "server.key", "writer.pem", "writer.key", "other-ca.pem"} <= names
    assert (out / "writer.key").stat().st_mode & 0o077 == 0
    again = subprocess.run([twin_exe, "certs", "--out", out], capture_output=True, text=True, timeout=60, check=False)
    assert again.returncode == 2
    assert "--overwrite" in again.stderr
