"""The dashboard reads what the scenario runner writes: a short real run through scenarios' public API."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from dashboard.data import DashboardConfig, DataCache, grid_map_from_net, open_result, read_result_kpis
from dashboard.pages import grid, scenarios, year
from scenarios import load_scenario, prepare_shared, read_kpis, run_scenario

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
