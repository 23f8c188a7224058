from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from scenarios.results import KPIS_JSON
from tests.scenarios.conftest import SHORT
from twin.cli import main


def _twin(twin_exe: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(twin_exe), *args], capture_output=True, text=True, cwd=cwd, timeout=120, check=False)


@pytest.mark.e2e
def test_scenario_check_exit_codes(twin_exe: Path, tmp_path: Path, write_yaml: Any) -> None:
    good = write_yaml({"name": "good", **SHORT}, "good.yaml")
    bad = write_yaml({"name": "bad", "changes": {"pv": {"share_frac": 3}}}, "bad.yaml")
    ok = _twin(twin_exe, "scenario", "check", str(good), "energy_neutral", "pv_storage_sweep", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert "pv_storage_sweep: ok (15 scenarios)" in ok.stdout
    failed = _twin(twin_exe, "scenario", "check", str(good), str(bad), cwd=tmp_path)
    assert failed.returncode == 2
    lines = failed.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in failed.stderr
    assert str(bad) in lines[0] and "changes.pv.share_frac" in lines[0] and "<= 1" in lines[0]


def test_scenario_list_and_unknown(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["scenario", "list"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "energy_neutral" in out and "pv_storage_sweep" in out
    with pytest.raises(SystemExit) as info:
        main(["scenario", "run", "no_such_scenario"])
    assert info.value.code == 2
    assert "no built-in scenario" in capsys.readouterr().err


def test_scenario_run_and_compare(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name, share in (("one", 0.0), ("two", 1.0)):
        data = {"name": name, **SHORT, "output": "kpis", "changes": {"pv": {"share_frac": share}}}
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(data))
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as info:
        main(
            [
                "scenario",
                "run",
                str(tmp_path / "one.yaml"),
                str(tmp_path / "two.yaml"),
                "--out",
                str(out),
                "--workers",
                "0",
            ]
        )
    assert info.value.code == 0, capsys.readouterr().err
    assert "balance all [MWh]" in capsys.readouterr().out
    html = tmp_path / "compare.html"
    with pytest.raises(SystemExit) as info:
        main(["scenario", "compare", str(out / "one"), str(out / "two"), "--html", str(html)])
    assert info.value.code == 0
    table = capsys.readouterr().out
    assert "one" in table and "two" in table and "max trafo loading" in table
    assert "self-sufficiency [%]" in table and "grid import [MWh]" in table  # as the dashboard shows them
    assert html.stat().st_size > 1_000_000  # plotly.js embedded, works offline
    with pytest.raises(SystemExit) as info:
        main(["scenario", "compare", str(tmp_path)])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        main(["scenario", "run", str(tmp_path / "one.yaml"), "--level", "huge", "--out", str(out)])
    assert info.value.code == 2


@pytest.mark.e2e
def test_bad_control_blocks_exit_2_naming_the_field(twin_exe: Path, tmp_path: Path, write_yaml: Any) -> None:
    cases = {
        "order.yaml": (
            {"thresholds": {"loading_enter_percent": 80, "loading_leave_percent": 90}},
            "control.thresholds.loading_leave_percent",
        ),
        "voltage.yaml": ({"thresholds": {"vm_low_leave_pu": 0.92}}, "control.thresholds.vm_low_leave_pu"),
        "signal.yaml": ({"signal": "per_building"}, "control.signal"),
    }
    for name, (control, field) in cases.items():
        path = write_yaml({"name": "bad", **SHORT, "control": control}, name)
        failed = _twin(twin_exe, "scenario", "check", str(path), cwd=tmp_path)
        lines = failed.stderr.strip().splitlines()
        assert failed.returncode == 2 and len(lines) == 1 and "Traceback" not in failed.stderr, failed.stderr
        assert field in lines[0] and ("must lie" in lines[0] or "per_feeder" in lines[0]), lines[0]


@pytest.mark.e2e
def test_compare_shows_the_control_kpis_side_by_side(twin_exe: Path, tmp_path: Path, write_yaml: Any) -> None:
    margin = {"loading_enter_percent": 80, "loading_leave_percent": 70}
    changes = {"heat_pumps": {"share_frac": 1.0, "sizing": "design"}, "evs": {"share_frac": 0.5}}
    files = []
    for signal in ("district", "per_feeder"):
        control = {"section_14a": True, "heat_pump": "sg_ready", "thresholds": margin, "signal": signal}
        data = {"name": signal, "start": "2025-01-13", "end": "2025-01-14", "output": "kpis", "changes": changes}
        files.append(str(write_yaml({**data, "control": control}, f"{signal}.yaml")))
    run = _twin(twin_exe, "scenario", "run", *files, "--out", "out", "--workers", "0", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    # a run without a control block: the same KPIs but the control ones
    kpis = json.loads((tmp_path / "out" / "district" / KPIS_JSON).read_text())
    (tmp_path / "out" / "plain").mkdir()
    plain = {k: v for k, v in kpis.items() if not k.startswith(("control_", "signal_"))} | {"scenario": "plain"}
    (tmp_path / "out" / "plain" / KPIS_JSON).write_text(json.dumps(plain))
    both = _twin(twin_exe, "scenario", "compare", "out/district", "out/per_feeder", "out/plain", cwd=tmp_path)
    assert both.returncode == 0, both.stderr
    rows = {line.strip("│┃ ").split("│")[0].strip(): line for line in both.stdout.splitlines()}
    for heading in ("heat pumps blocked [MWh]", "hours trafo > 100 % [h]", "comfort violation [K h]"):
        assert heading in rows, both.stdout
    cells = [c.strip() for c in rows["heat pumps blocked [MWh]"].strip("│ ").split("│")]
    # the flat block takes heat pumps off; per feeder the dimmed limits may suffice (a figure, maybe 0.0)
    assert cells[1] not in ("-", "0.0") and float(cells[2]) >= 0.0 and cells[3] == "-", cells
    alone = _twin(twin_exe, "scenario", "compare", "out/plain", "out/plain", cwd=tmp_path)
    assert alone.returncode == 0 and "heat pumps blocked" not in alone.stdout
