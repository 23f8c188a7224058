"""The dashboard reads what the scenario runner writes: a short real run through scenarios' public API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr

from dashboard.data import DashboardConfig, DataCache, grid_map_from_net, open_result, read_result_kpis
from dashboard.i18n import format_kpi, kpi_label
from dashboard.pages import grid, scenarios, year
from scenarios import load_scenario, prepare_shared, read_kpis, run_scenario
from scenarios.config import parse_scenario

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("results")
    shared = prepare_shared("beucha", None, 2025, threads=1)
    for name in ("baseline", "pv_all_roofs"):
        scenario = load_scenario(name).model_copy(update={"start": "2025-06-10", "end": "2025-06-11"})
        run_scenario(scenario, shared, out)
    return out


def test_result_files_as_the_dashboard_reads_them(results: Path) -> None:
    folder = results / "baseline"
    assert read_result_kpis(folder) == read_kpis(folder)
    ds = open_result(folder)
    net = grid_map_from_net(folder)
    assert set(ds["bus"].values.tolist()) == set(net.buses.index)
    assert set(ds["branch"].values.tolist()) == set(net.branches.index)
    assert np.isfinite(net.buses[["x", "y"]].to_numpy()).all()
    assert len(net.building_bus) >= 100 and set(net.building_bus.values()) <= set(net.buses.index)
    with xr.open_dataset(folder / "result.nc") as raw:
        assert raw.sizes["time"] == ds.sizes["time"] == 96


def test_pages_on_real_results(results: Path, tmp_path: Path) -> None:
    config, cache = DashboardConfig(tmp_path, tmp_path / "live", results), DataCache()
    step = grid.special_step("loading", "pv_all_roofs", config, cache)
    assert step is not None
    view = grid.grid_view("pv_all_roofs", step, config, cache, lang="en")
    assert f"step {step}" in view["summary"] and len(view["figure"].data) >= 2
    compared = scenarios.comparison_view(["baseline", "pv_all_roofs"], config, cache, lang="en")
    assert len(compared["duration"].data) == 2
    projection, _ = year.baseline_projection(config, 2025, cache=cache)
    assert projection is not None and projection["fuel_kwh"].sum() == pytest.approx(
        read_kpis(results / "baseline")["fuel_kwh"]
    )


def test_comparison_shows_the_control_rows_of_controlled_runs(tmp_path: Path) -> None:
    # a cold January day, every building on a heat pump, section 14a dimming from half the
    # transformer's rating: the runner's verdict is "not acceptable", and the comparison says so
    out = tmp_path / "results"
    shared = prepare_shared("beucha", None, 2025, threads=1)
    day = {"start": "2025-01-13", "end": "2025-01-14"}
    changes = {"heat_pumps": {"share_frac": 1.0, "sizing": "design"}}
    tight = {"section_14a": True, "thresholds": {"loading_enter_percent": 50, "loading_leave_percent": 40}}
    for name, control in (("plain", None), ("tight", tight)):
        data = {"name": name, **day, "changes": changes} | ({"control": control} if control else {})
        run_scenario(parse_scenario(data, file=f"{name}.yaml"), shared, out)
    config, cache = DashboardConfig(tmp_path, tmp_path / "live", out), DataCache()
    ran = read_kpis(out / "tight")
    assert ran["control_comfort_ok"] is False  # the runner's own verdict, shown as it is
    for lang, no in (("en", "no"), ("de", "nein")):
        view = scenarios.comparison_view(["plain", "tight"], config, cache, lang=lang)
        rows = {row[0]: row[1:] for row in _table_rows(view["kpis"])}
        label = kpi_label("control_comfort_ok", lang, with_unit=True)
        assert rows[label] == ["-", no]
        coldest = rows[kpi_label("control_comfort_coldest_degc", lang, with_unit=True)]
        assert coldest[0] == "-" and coldest[1] == format_kpi(
            "control_comfort_coldest_degc", ran["control_comfort_coldest_degc"], lang, with_unit=False
        )
    # without a controlled run among the chosen, no control rows
    plain = scenarios.comparison_view(["plain"], config, cache, lang="en")
    assert not any(row[0].startswith("comfort") for row in _table_rows(plain["kpis"]))


def _table_rows(children: Any) -> list[list[str]]:
    """The text of each body row of the comparison's KPI table (Dash components)."""
    table = next(c for c in children if getattr(c, "id", None) == "scenario-kpi-table")
    body = next(c for c in table.children if type(c).__name__ == "Tbody")
    return [[str(cell.children) for cell in row.children] for row in body.children]
