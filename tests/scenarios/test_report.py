"""The scenario report helpers: KPI values in tables, the side-by-side comparison, plotly.js written once."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from scenarios.report import (
    COMPARE_KPIS,
    compare_table,
    display_table,
    format_kpi,
    format_value,
    write_compare_html,
    write_plotly_js,
)
from scenarios.results import KPIS_JSON, PLOTLY_JS


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "-"),
        (math.nan, "-"),
        (math.inf, "-"),
        (True, "yes"),
        (np.bool_(False), "no"),
        (0.12345, "0.123"),
        (-9.5, "-9.500"),
        (0.0, "0"),
        (12345.6, "12,346"),
        (-40000, "-40,000"),
        ("peak_shaving", "peak_shaving"),
    ],
)
def test_format_value(value: object, text: str) -> None:
    assert format_value(value) == text


def _result(folder: Path, scenario: str, balance_kwh: float, loading_percent: float) -> Path:
    folder.mkdir(parents=True)
    kpis = {"scenario": scenario, "energy_balance_kwh": balance_kwh, "trafo_loading_max_percent": loading_percent}
    (folder / KPIS_JSON).write_text(json.dumps(kpis), encoding="utf-8")
    return folder


def test_compare_table_puts_scenarios_side_by_side(tmp_path: Path) -> None:
    one = _result(tmp_path / "a", "today", 120_000.0, 55.0)
    two = _result(tmp_path / "b", "pv_all", -3_000.0, 81.5)
    table = compare_table([one, two])
    assert list(table.columns) == ["today", "pv_all"]
    assert list(table.index) == list(COMPARE_KPIS.values())
    assert table.loc[COMPARE_KPIS["energy_balance_kwh"]].tolist() == [120_000.0, -3_000.0]
    assert table.loc[COMPARE_KPIS["trafo_loading_max_percent"]].tolist() == [55.0, 81.5]
    missing = [name for name in COMPARE_KPIS if name not in ("energy_balance_kwh", "trafo_loading_max_percent")]
    assert all(table.loc[COMPARE_KPIS[name]].isna().all() for name in missing)

    page = write_compare_html(table, tmp_path / "compare.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "<title>Scenario comparison</title>" in page
    # shown as the catalogue shows it: MWh, not the stored kWh
    assert "pv_all" in page and "all-carrier balance [MWh]" in page and '"120"' in page and '"-3"' in page


def test_runs_of_one_name_in_two_folders_keep_two_columns(tmp_path: Path) -> None:
    # two runs of one scenario file (say before and after a change) side by side, told apart by folder
    one = _result(tmp_path / "before", "today", 120_000.0, 55.0)
    two = _result(tmp_path / "after", "today", 110_000.0, 57.0)
    three = _result(tmp_path / "other", "pv_all", -3_000.0, 81.5)
    table = compare_table([one, two, three])
    assert list(table.columns) == [f"today ({one})", f"today ({two})", "pv_all"]
    assert table.loc[COMPARE_KPIS["energy_balance_kwh"]].tolist() == [120_000.0, 110_000.0, -3_000.0]


def test_display_table_renders_from_the_catalogue(tmp_path: Path) -> None:
    folder = _result(tmp_path / "a", "today", 120_000.0, 55.0)
    kpis = json.loads((folder / KPIS_JSON).read_text(encoding="utf-8"))
    kpis["self_sufficiency_frac"] = 0.5432
    (folder / KPIS_JSON).write_text(json.dumps(kpis), encoding="utf-8")
    shown = display_table(compare_table([folder]))
    assert shown.loc["self-sufficiency [%]", "today"] == "54.3"  # a percentage, as the dashboard shows it
    assert shown.loc["all-carrier balance [MWh]", "today"] == "120"
    assert shown.loc["grid import [MWh]", "today"] == "-"
    assert format_kpi("self_sufficiency_frac", 0.5432) == "54.3" and format_kpi("energy_neutral", True) == "yes"


def test_compare_table_of_a_folder_without_kpis_fails(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        compare_table([tmp_path / "none"])


def test_plotly_js_is_written_once(tmp_path: Path) -> None:
    path = write_plotly_js(tmp_path / "results")
    assert path == tmp_path / "results" / PLOTLY_JS and path.stat().st_size > 1_000_000
    import plotly.offline

    assert path.read_text(encoding="utf-8") == plotly.offline.get_plotlyjs()  # plotly's own, read without plotly
    path.write_text("kept", encoding="utf-8")
    assert write_plotly_js(tmp_path / "results").read_text(encoding="utf-8") == "kept"
    assert [p.name for p in path.parent.iterdir()] == [PLOTLY_JS]  # no temporary file left
