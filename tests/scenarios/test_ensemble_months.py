"""Ensemble members keep their energy per calendar month; the light reader finds ensemble folders."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from scenarios.config import load_scenario
from scenarios.ensemble import draw_members, run_member
from scenarios.ensemble_results import list_ensembles, month_column, monthly_frame
from scenarios.ensemble_settings import ensemble_settings
from scenarios.ensemble_summary import summarise, write_ensemble

#: Across the end of January, so that a member spans two calendar months.
PERIOD = {"start": "2025-01-29", "end": "2025-02-02"}


def test_member_months_sum_to_its_kpis(write_yaml: Any, tmp_path: Path) -> None:
    """A member's monthly import, export and gas sum to its KPIs; months outside its period are absent."""
    scenario = load_scenario(write_yaml({"name": "m", "changes": {"pv": {"share_frac": 1.0}}, **PERIOD}))
    record = draw_members(ensemble_settings(members=1, seed=3))[0]
    kpis = run_member(scenario, record)
    for term in ("import_kwh", "export_kwh", "fuel_kwh"):
        months = [kpis[month_column(m, term)] for m in (1, 2)]
        assert all(value >= 0.0 for value in months)
        assert sum(months) == pytest.approx(kpis[term], rel=1e-6, abs=1e-6)
        assert month_column(3, term) not in kpis
    assert kpis[month_column(1, "import_kwh")] > 0.0 and kpis[month_column(1, "fuel_kwh")] > 0.0
    # they reach the member table and back
    summary = summarise("m", ensemble_settings(members=1), [record], [kpis])
    folder = write_ensemble(summary, tmp_path / "out")
    (found,) = list_ensembles(tmp_path / "out")
    assert found.folder == folder and found.scenario == "m" and found.members == 1
    frames = monthly_frame(found.member_table())
    assert list(frames["import_kwh"].columns) == list(range(1, 13))
    assert frames["import_kwh"].iloc[0, 0] == kpis[month_column(1, "import_kwh")]
    assert frames["fuel_kwh"].iloc[0, 5] == 0.0


def test_list_ensembles_skips_unreadable(tmp_path: Path) -> None:
    """A torn ensemble.json is left out, not an error; a table without monthly columns has no months."""
    good = tmp_path / "a-ensemble"
    good.mkdir()
    (good / "ensemble.json").write_text(
        json.dumps({"scenario": "a", "members": 2, "percentiles": {"x_kwh": {"p10": 1, "p50": 2, "p90": None}}}),
        encoding="utf-8",
    )
    bad = tmp_path / "b-ensemble"
    bad.mkdir()
    (bad / "ensemble.json").write_text("{torn", encoding="utf-8")
    (found,) = list_ensembles(tmp_path)
    assert found.name == "a-ensemble" and found.percentile("x_kwh", "p50") == 2.0
    assert found.percentile("x_kwh", "p90") != found.percentile("x_kwh", "p90")  # NaN
    assert monthly_frame(pd.DataFrame({"energy_balance_kwh": [1.0]})) == {}
