"""Ensembles: members drawn and re-run exactly, percentiles in order, the same inputs the same answer, bad settings."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from scenarios.config import load_scenario, load_sweep
from scenarios.ensemble import MemberRecord, draw_members, run_member, run_members
from scenarios.ensemble_settings import ensemble_settings
from scenarios.ensemble_summary import read_ensemble, summarise
from scenarios.results import ENSEMBLE_JSON, MEMBERS_CSV, REPORT_HTML
from twin.cli import main

#: One week in January: heat pumps at work, the transformer loaded; members stay a few seconds each.
WEEK = {"start": "2025-01-13", "end": "2025-01-20"}


def _twin(twin_exe: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(twin_exe), *args], capture_output=True, text=True, cwd=cwd, timeout=240, check=False)


def test_members_are_drawn_from_their_seed() -> None:
    """Member k depends on (seed, k) only; parameters stay inside their distributions."""
    settings = ensemble_settings(members=6, seed=5)
    records = draw_members(settings)
    assert [r.member for r in records] == list(range(6))
    assert draw_members(ensemble_settings(members=3, seed=5)) == records[:3]
    assert draw_members(ensemble_settings(members=3, seed=6)) != records[:3]
    assert len({r.weather_seed for r in records}) == 6 and len({r.seed for r in records}) == 6
    for record in records:
        assert record.weather == "resampled" and record.weather_years == "try2010+try2015"
        assert 0.85 <= record.hp_cop_scale <= 1.05
        assert 10.0 <= record.pv_losses_percent <= 20.0
        assert 0.80 <= record.battery_round_trip_frac <= 0.92
    cycle = ensemble_settings({"weather": {"mode": "cycle", "years": ["try2015", "try2045"]}}, members=3)
    assert [(r.weather, r.weather_seed) for r in draw_members(cycle)] == [
        ("try2015", -1),
        ("try2045", -1),
        ("try2015", -1),
    ]


@pytest.mark.e2e
def test_ensemble_percentiles_reproducible(
    twin_exe: Path, tmp_path: Path, write_yaml: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """The command's percentiles are ordered, a member re-runs from its row, the same inputs give the same answer."""
    file = write_yaml(
        {
            "name": "hp-week",
            "changes": {"heat_pumps": {"share_frac": 1.0}},
            **WEEK,
            "ensemble": {"members": 3, "seed": 4},
        }
    )
    done = _twin(
        twin_exe, "scenario", "ensemble", str(file), "--workers", "0", "--out", str(tmp_path / "out"), cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert "P10" in done.stdout and "P(transformer above 100 %)" in done.stdout
    folder = tmp_path / "out" / "hp-week-ensemble"
    summary = read_ensemble(folder)
    assert len(summary.members) == 3 and (folder / MEMBERS_CSV).is_file()
    table = summary.percentiles
    assert len(table) > 40 and table.notna().all().all()
    assert ((table["p10"] <= table["p50"]) & (table["p50"] <= table["p90"])).all()
    balance = summary.members["energy_balance_kwh"]
    assert summary.probabilities["energy_neutral"] == pytest.approx(float((balance <= 0).mean()))
    assert summary.probabilities["trafo_over_100"] == pytest.approx(
        float((summary.members["trafo_loading_max_percent"] > 100).mean())
    )
    assert balance.nunique() == 3  # the members differ

    # a member re-run from its row of the member table: the same KPIs, exactly
    scenario = load_scenario(str(file))
    row = summary.members.iloc[1].to_dict()
    kpis = run_member(scenario, MemberRecord.from_row(row))
    for name in ("energy_balance_kwh", "hp_spf", "trafo_loading_max_percent", "self_sufficiency_frac", "pv_kwh"):
        if name in kpis:
            assert kpis[name] == row[name], name

    # the same inputs in another run (in this process): the same percentiles and probabilities
    settings = ensemble_settings(scenario.ensemble, file=str(file))
    records = draw_members(settings)
    again = summarise(scenario.name, settings, records, run_members(scenario, records, workers=0))
    pd.testing.assert_frame_equal(again.percentiles.loc[table.index], table, check_exact=False, rtol=1e-12)
    assert again.probabilities == summary.probabilities
    saved = json.loads((folder / ENSEMBLE_JSON).read_text())
    assert saved["settings"]["members"] == 3 and saved["settings"]["seed"] == 4
    # each member's weather scales its space heat by its degree days
    factors = summary.members["space_heat_factor"]
    assert factors.nunique() == 3 and ((factors > 0.8) & (factors < 1.1)).all()

    # the report and the comparison of ensembles show the intervals and probabilities
    assert "P50 (P10 - P90)" in (folder / REPORT_HTML).read_text()
    with pytest.raises(SystemExit) as info:
        main(["scenario", "compare", str(folder), str(folder)])
    assert info.value.code == 0
    shown = capsys.readouterr().out
    assert "P(all-carrier balance <= 0)" in shown and " - " in shown
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "kpis.json").write_text("{}")
    with pytest.raises(SystemExit) as info:
        main(["scenario", "compare", str(folder), str(tmp_path / "plain")])
    assert info.value.code == 2 and "ensembles only" in capsys.readouterr().err


@pytest.mark.e2e
def test_zero_members_exit_2(twin_exe: Path, tmp_path: Path, write_yaml: Any) -> None:
    """``--members 0`` from the shell: exit 2, one line naming the option, no traceback."""
    file = write_yaml({"name": "bad", **WEEK})
    done = _twin(twin_exe, "scenario", "ensemble", str(file), "--workers", "0", "--members", "0", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr and "--members" in lines[0]


@pytest.mark.parametrize(
    ("block", "field"),
    [
        ({"members": 0}, "ensemble.members"),
        ({"weather": {"years": ["try2010", "try1999"]}}, "ensemble.weather.years.1"),
        (
            {"parameters": {"battery_round_trip_frac": {"distribution": "uniform", "low": 0.8, "high": 1.1}}},
            "ensemble.parameters.battery_round_trip_frac.high",
        ),
        (
            {"parameters": {"pv_losses_percent": {"distribution": "fixed", "value": 5.0}}},
            "ensemble.parameters.pv_losses_percent.value",
        ),
        (
            {"parameters": {"hp_cop_scale": {"distribution": "triangular", "low": 0.9, "mode": 1.2, "high": 1.1}}},
            "ensemble.parameters.hp_cop_scale.mode",
        ),
    ],
)
def test_bad_ensemble_settings_exit_2(
    write_yaml: Any, capsys: pytest.CaptureFixture[str], block: Any, field: str
) -> None:
    """0 members, an unknown weather year, a distribution outside its range: exit 2, one line naming the field."""
    file = write_yaml({"name": "bad", **WEEK, "ensemble": block})
    for command in (["scenario", "ensemble", str(file), "--workers", "0"], ["scenario", "check", str(file)]):
        with pytest.raises(SystemExit) as info:
            main(command)
        assert info.value.code == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and str(file) in lines[0] and field in lines[0]


def test_weather_sweeps_over_named_years(write_yaml: Any) -> None:
    """A sweep may vary the weather by name; an unknown name is one error naming the value."""
    file = write_yaml(
        {"name": "climate", "base": "heat_pumps", "parameters": {"weather": ["try2010", "try2015", "try2045"]}},
        "sweep.yaml",
    )
    _sweep, scenarios = load_sweep(file)
    assert [Path(s.weather).name for s in scenarios if s.weather] == [
        "TRY2010_04_Jahr.dat",
        "TRY2015_Leipzig_Jahr.epw",
        "TRY2045_Leipzig_Jahr.epw",
    ]
    bad = write_yaml({"name": "climate", "base": "heat_pumps", "parameters": {"weather": ["try1999"]}}, "bad.yaml")
    with pytest.raises(Exception, match=r"parameters\.weather\.0.*try1999"):
        load_sweep(bad)
