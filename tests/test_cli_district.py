from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from twin.cli import main


def test_district_show_builtin(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["district", "show"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for fragment in (
        "Beucha",
        "buildings",
        "households",
        "SFH",
        "PV potential",
        "kWp",
        "MWh/a",
        "6 feeders",
        "630 kVA",
        "kWh/kWp",
        "self-sufficiency",
        "all carriers",
        "not energy-neutral",
    ):
        assert fragment in out
    assert len(out.splitlines()) <= 12


def test_district_show_without_year(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["district", "show", "--no-year"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "630 kVA" in out
    assert "self-sufficiency" not in out


def test_district_show_missing_weather_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nowhere.epw"
    with pytest.raises(SystemExit) as info:
        main(["district", "show", "--weather", str(missing)])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert str(missing) in err[0]


def test_district_show_bad_file_in_process(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n", encoding="utf-8")
    with pytest.raises(SystemExit) as info:
        main(["district", "show", str(bad)])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert str(bad) in err[0]


@pytest.mark.e2e
def test_district_show_bad_file_subprocess(tmp_path: Path, grid_cache_dir: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: X\nbuildings:\n  - {id: a, type: castle}\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-c", "from twin.cli import main; main()", "district", "show", str(bad)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TWIN_CACHE_DIR": str(grid_cache_dir)},
        check=False,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"twin: {bad}: ")
    assert result.stdout == ""
