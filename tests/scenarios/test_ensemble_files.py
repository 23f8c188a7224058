"""An ``ensemble:`` block in scenario and sweep files: ``twin scenario run`` runs it as an ensemble per point."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from scenarios.config import load_sweep
from scenarios.ensemble_summary import read_ensemble
from scenarios.results import ENSEMBLE_JSON, KPIS_JSON, MEMBERS_CSV, REPORT_HTML
from twin.cli import main

#: Two days in June: PV matters, members take a second or two each.
DAYS = {"start": "2025-06-10", "end": "2025-06-12"}


def _main(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(args)
    captured = capsys.readouterr()
    return int(info.value.code or 0), captured.out, captured.err


def test_run_scenario_file_with_ensemble_block(
    write_yaml: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``run FILE`` with a block writes NAME-ensemble/ (P10/P50/P90, probabilities); ``--no-ensemble`` runs it once."""
    file = write_yaml({"name": "plan", **DAYS, "ensemble": {"members": 2, "seed": 7}})
    out = tmp_path / "out"
    code, stdout, stderr = _main(["scenario", "run", str(file), "--workers", "0", "--out", str(out)], capsys)
    assert code == 0, stderr
    folder = out / "plan-ensemble"
    assert (folder / MEMBERS_CSV).is_file() and (folder / REPORT_HTML).is_file()
    assert not (out / "plan").exists()
    summary = read_ensemble(folder)
    assert len(summary.members) == 2 and summary.settings["seed"] == 7
    assert "energy_neutral" in summary.probabilities
    row = summary.percentiles.loc["energy_balance_kwh"]
    assert row["p10"] <= row["p50"] <= row["p90"]
    assert "plan" in stdout and "P(neutral)" in stdout
    code, _, stderr = _main(
        ["scenario", "run", str(file), "--workers", "0", "--no-ensemble", "--out", str(out)], capsys
    )
    assert code == 0, stderr
    assert (out / "plan" / KPIS_JSON).is_file()


def test_run_bad_block_exits_2_before_running(
    write_yaml: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad block stops ``run`` with one line naming the field, before any scenario runs."""
    good = write_yaml({"name": "good", **DAYS}, "good.yaml")
    bad = write_yaml({"name": "bad", **DAYS, "ensemble": {"weather": {"years": ["try1999"]}}}, "bad.yaml")
    out = tmp_path / "out"
    code, _, stderr = _main(["scenario", "run", str(good), str(bad), "--workers", "0", "--out", str(out)], capsys)
    assert code == 2
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "ensemble.weather.years.0" in lines[0] and "try1999" in lines[0]
    assert str(bad) in lines[0]
    assert not (out / "good").exists()


def test_sweep_with_ensemble_block_gives_percentiles_per_point(
    write_yaml: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each point of a sweep with a block is an ensemble; the points' percentiles differ as their PV does."""
    base = {"name": "base", **DAYS, "ensemble": {"members": 2, "seed": 1}}
    write_yaml(base, "base.yaml")
    sweep = write_yaml(
        {
            "name": "pvens",
            "base": "base.yaml",
            "parameters": {"changes.pv.share_frac": [0.0, 1.0]},
            "ensemble": {"members": 3},
        },
        "sweep.yaml",
    )
    out = tmp_path / "out"
    code, stdout, stderr = _main(["scenario", "sweep", str(sweep), "--workers", "0", "--out", str(out)], capsys)
    assert code == 0, stderr
    points = [read_ensemble(out / f"pvens-{n:03d}-ensemble") for n in (0, 1)]
    for point in points:
        assert len(point.members) == 3 and point.settings["seed"] == 1  # the sweep's members over the base's seed
        table = point.percentiles
        assert ((table["p10"] <= table["p50"]) & (table["p50"] <= table["p90"])).all()
    no_pv, all_pv = (p.percentiles.loc["electricity_balance_kwh"] for p in points)
    assert all_pv["p90"] < no_pv["p10"]  # PV on every roof lowers the balance of every member
    assert "pvens-000" in stdout and "pv.share_frac=1" in stdout
    # the same members (seeds) at every point: the comparison is between the changes, not the draws
    assert list(points[0].members["seed"]) == list(points[1].members["seed"])
    assert json.loads((out / "pvens-001-ensemble" / ENSEMBLE_JSON).read_text())["members"] == 3


def test_ensemble_command_on_a_sweep_file(write_yaml: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``twin scenario ensemble SWEEP --members N`` runs every point as an ensemble of N members."""
    sweep = write_yaml(
        {"name": "seeds", "base": {"name": "b", **DAYS}, "parameters": {"changes.pv.share_frac": [0.5, 1.0]}},
        "sweep.yaml",
    )
    out = tmp_path / "out"
    command = ["scenario", "ensemble", str(sweep), "--members", "1", "--workers", "0", "--out", str(out)]
    code, stdout, stderr = _main(command, capsys)
    assert code == 0, stderr
    assert [len(read_ensemble(out / f"seeds-{n:03d}-ensemble").members) for n in (0, 1)] == [1, 1]
    assert "seeds-001" in stdout


def test_weather_swept_in_an_ensemble_sweep(write_yaml: Any) -> None:
    """Swept by name, the weather becomes each point's members' only source year; a file is refused."""
    sweep = {
        "name": "climate",
        "base": "heat_pumps",
        "parameters": {"weather": ["try2015", "try2045"]},
        "ensemble": {"members": 4, "weather": {"mode": "cycle", "years": ["try2010"]}},
    }
    _, scenarios = load_sweep(write_yaml(sweep, "sweep.yaml"))
    assert [s.ensemble["weather"] for s in scenarios] == [
        {"mode": "cycle", "years": ["try2015"]},
        {"mode": "cycle", "years": ["try2045"]},
    ]
    assert all(s.ensemble["members"] == 4 for s in scenarios)
    default = {**sweep, "ensemble": {"members": 4}}
    _, scenarios = load_sweep(write_yaml(default, "default.yaml"))
    assert scenarios[1].ensemble["weather"] == {"mode": "resampled", "years": ["try2045"]}
    bad = {**sweep, "parameters": {"weather": ["try2015", "my.epw"]}}
    with pytest.raises(Exception, match=r"parameters\.weather\.1.*test reference year"):
        load_sweep(write_yaml(bad, "bad.yaml"))


@pytest.mark.parametrize(
    ("block", "field"),
    [
        ({"members": 0}, "ensemble.members"),
        ({"weather": {"years": ["try1999"]}}, "ensemble.weather.years.0"),
        ({"parameters": {"hp_cop_scale": {"distribution": "uniform", "low": 0.2, "high": 1.0}}}, "hp_cop_scale.low"),
    ],
)
def test_bad_sweep_block_exits_2(
    write_yaml: Any, capsys: pytest.CaptureFixture[str], block: dict[str, Any], field: str
) -> None:
    """A sweep's bad block: exit 2 from check and sweep, one line naming the sweep file and the field."""
    sweep = write_yaml(
        {"name": "s", "base": "baseline", "parameters": {"seed": [1, 2]}, "ensemble": block}, "sweep.yaml"
    )
    for command in (["scenario", "check", str(sweep)], ["scenario", "sweep", str(sweep), "--workers", "0"]):
        code, _, stderr = _main(command, capsys)
        lines = stderr.strip().splitlines()
        assert code == 2 and len(lines) == 1 and str(sweep) in lines[0] and field in lines[0], stderr
