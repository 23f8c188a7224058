"""Ensembles on the dashboard: KPI intervals and probabilities on the Scenarios page, the band on the Year page."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dashboard import create_app
from dashboard.data import DashboardConfig, DataCache
from dashboard.ensembles import BAND_LABEL, projection_band
from dashboard.i18n import t
from dashboard.pages import scenarios, year
from tests.dashboard.conftest import USERS
from tests.dashboard.ensemble_sample import MEMBERS, write_ensemble_sample

TZ = "Europe/Berlin"


def _text(component) -> str:
    return json.dumps(component.to_plotly_json() if hasattr(component, "to_plotly_json") else component, default=str)


def _members(tmp_path: Path) -> pd.DataFrame:
    return pd.read_csv(write_ensemble_sample(tmp_path, "baseline") / "members.csv")


def test_projection_band_continues_each_member(tmp_path: Path) -> None:
    """From 3 June: the rest of June (27 of 30 days) and six months of each member, P10/P50/P90 over them."""
    members = _members(tmp_path)
    last = pd.Timestamp("2025-06-03", tz=TZ)
    band = projection_band(members, year=2025, last_day=last, so_far_mwh=0.6)
    month_ends = ["06-30", "07-31", "08-31", "09-30", "10-31", "11-30", "12-31"]
    assert list(band.index.strftime("%m-%d")) == ["06-03", *month_ends]
    ends = 0.6 + 6.9 * (np.arange(MEMBERS) - 5.0)  # member i: (i - 5) MWh a month
    assert band["p10"].iloc[-1] == pytest.approx(np.percentile(ends, 10))
    assert band["p50"].iloc[-1] == pytest.approx(np.percentile(ends, 50))
    assert band["p90"].iloc[-1] == pytest.approx(np.percentile(ends, 90))
    assert band["neutral_frac"].iloc[-1] == pytest.approx(0.5)  # members 0-4 end below zero
    assert (band.iloc[0][["p10", "p50", "p90"]] == 0.6).all()  # it starts where the measurement ends
    assert (band["p10"] <= band["p50"]).all() and (band["p50"] <= band["p90"]).all()
    whole = projection_band(members, year=2025, last_day=pd.Timestamp("2024-12-31", tz=TZ), so_far_mwh=0.0)
    assert len(whole) == 13 and whole["p90"].iloc[-1] == pytest.approx(np.percentile(12 * (np.arange(10) - 5.0), 90))
    assert projection_band(members, year=2025, last_day=pd.Timestamp("2025-12-31", tz=TZ), so_far_mwh=1.0).empty
    assert projection_band(members[["energy_balance_kwh"]], year=2025, last_day=last, so_far_mwh=0.0).empty


def test_year_view_shows_the_band_of_the_baseline_ensemble(config: DashboardConfig, cache: DataCache) -> None:
    band_label = t(BAND_LABEL, "en")
    assert band_label not in [trace.name for trace in year.year_view(config, cache, lang="en")["cumulative"].data]
    write_ensemble_sample(config.results_dir, "baseline")
    write_ensemble_sample(config.results_dir, "more_pv", offset_mwh=-4.0)  # not the baseline: not used
    view = year.year_view(config, cache, lang="en")
    band = next(trace for trace in view["cumulative"].data if trace.name == band_label)
    assert band.fill == "tonexty" and len(band.x) == 8
    tiles = _text(view["tiles"])
    assert t(year.BAND_TILE, "en") in tiles and f"5 of {MEMBERS}" in tiles
    ends = 0.6 + 6.9 * (np.arange(MEMBERS) - 5.0)
    assert f"{np.percentile(ends, 10):,.1f} MWh to {np.percentile(ends, 90):,.1f} MWh" in tiles


def test_ensemble_view_intervals_probabilities_members(config: DashboardConfig) -> None:
    write_ensemble_sample(config.results_dir, "baseline")
    write_ensemble_sample(config.results_dir, "more_pv", offset_mwh=-4.0)
    view = scenarios.ensemble_view(["baseline-ensemble", "more_pv-ensemble", "unknown"], config, lang="en")
    text = _text(view["kpis"])
    assert "P50 (P10 - P90)" in text and "more_pv" in text and "unknown" not in text
    # all-carrier balance [MWh]: 12 (i - 5) over i = 0..9 -> P50 -6, P10 -49.2, P90 37.2
    assert "all-carrier balance [MWh]" in text and "-6 (-49 - 37)" in text
    assert "P(transformer above 100 %)" in text and f"70 % (7 of {MEMBERS})" in text
    assert "P(all-carrier balance <= 0)" in text and f"60 % (6 of {MEMBERS})" in text
    assert f"100 % ({MEMBERS} of {MEMBERS})" in text  # more_pv: every member neutral
    assert "/download/more_pv-ensemble/members.csv" in text
    assert [trace.type for trace in view["members"].data] == ["box", "box"]
    assert len(view["members"].data[0].y) == MEMBERS
    assert "No ensemble" in _text(scenarios.ensemble_view([], config, lang="en")["kpis"])


def test_member_table_download(data_root: Path, config: DashboardConfig) -> None:
    folder = write_ensemble_sample(config.results_dir, "baseline")
    client = create_app(data_root, credentials=USERS).server.test_client()
    auth = {"Authorization": "Basic " + base64.b64encode(f"manager:{USERS['manager']}".encode()).decode()}
    assert client.get("/download/baseline-ensemble/members.csv").status_code == 401
    answer = client.get("/download/baseline-ensemble/members.csv", headers=auth)
    assert answer.status_code == 200 and answer.data == (folder / "members.csv").read_bytes()
    assert "baseline-ensemble-members.csv" in answer.headers["Content-Disposition"]
    assert client.get("/download/baseline/members.csv", headers=auth).status_code == 404
    assert client.get("/download/baseline-ensemble/ensemble.json", headers=auth).status_code == 404
