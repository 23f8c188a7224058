"""The result folder: its names live in scenarios/results.py only, and its reader reads what the writer wrote."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import numpy as np
import pandapower as pp
import pytest

from scenarios.config import load_scenario
from scenarios.results import (
    PLOTLY_JS,
    RESULT_FILES,
    ResultFolder,
    ScenarioResult,
    is_result_folder,
    list_results,
    read_kpis,
    read_result_kpis,
)
from scenarios.runner import SharedInputs, compute_scenario, run_scenario

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("twin", "models", "connectors", "scenarios", "dashboard")
#: A result-file name as a word of its own (not ``x.result.nc`` nor ``kpis.json5``).
NAMES = re.compile(r"(?<![\w.])(" + "|".join(re.escape(n) for n in (*RESULT_FILES, PLOTLY_JS)) + r")(?![\w])")


def _docstrings(tree: ast.AST) -> set[int]:
    nodes = [tree, *(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef))]
    out = set()
    for node in nodes:
        body = getattr(node, "body", [])
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            out.add(id(body[0].value))
    return out


def result_name_literals(root: Path) -> list[str]:
    """``file:line: literal`` for every string literal (docstrings aside) naming a result file."""
    found = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            relative = path.relative_to(root).as_posix()
            if relative == "scenarios/results.py":
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            docs = _docstrings(tree)
            for node in ast.walk(tree):
                literal = isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs
                if literal and NAMES.search(node.value):
                    found.append(f"{relative}:{node.lineno}: {node.value!r}")
    return found


def test_result_file_names_only_in_scenarios_results() -> None:
    assert result_name_literals(ROOT) == []


def test_the_scan_finds_a_literal(tmp_path: Path) -> None:
    (tmp_path / "dashboard").mkdir()
    (tmp_path / "dashboard" / "x.py").write_text(
        '"""Reads ``kpis.json``."""\nPATH = "out/kpis.json"\nOTHER = "kpis.json5"\nf = f"{1}/result.nc"\n'
    )
    assert result_name_literals(tmp_path) == ["dashboard/x.py:2: 'out/kpis.json'", "dashboard/x.py:4: '/result.nc'"]


@pytest.fixture(scope="module")
def written(shared: SharedInputs, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("results")
    scenario = load_scenario("pv_all_roofs").model_copy(update={"start": "2025-06-10", "end": "2025-06-11"})
    run_scenario(scenario, shared, out)
    return out


def test_reader_reads_what_the_writer_wrote(written: Path) -> None:
    folder = written / "pv_all_roofs"
    assert is_result_folder(folder) and not is_result_folder(written)
    assert sorted(p.name for p in folder.iterdir()) == sorted(RESULT_FILES)
    assert (written / PLOTLY_JS).is_file()
    [result] = list_results(written)
    assert (result.name, result.folder) == ("pv_all_roofs", folder)
    assert result.description == load_scenario("pv_all_roofs").description
    assert result.kpis() == read_kpis(folder) == read_result_kpis(folder)
    assert result.has_dataset() and result.has_grid() and result.dataset_stamp() > 0
    ds = result.open_dataset()
    assert ds.sizes["time"] == 96
    assert ds["kpi_curtailed_kwh"].item() == pytest.approx(result.kpis()["curtailed_kwh"])
    series = result.time_series()
    assert series.index.name == "time_utc" and str(series.index.tz) == "UTC"
    assert "p_grid_kw [kW]" in series.columns
    np.testing.assert_allclose(series["p_grid_kw [kW]"].to_numpy(), ds["p_grid_kw"].values)


def test_grid_layout_matches_pandapower(written: Path) -> None:
    result = ResultFolder.at(written / "pv_all_roofs")
    layout = result.grid_layout()
    net = pp.from_json(str(result.net_path))
    assert list(layout.buses.index) == sorted(net.bus.index)
    assert layout.buses.loc[net.bus.index, "name"].tolist() == net.bus["name"].tolist()
    assert len(layout.branches) == len(net.line) + len(net.trafo)
    assert layout.branches.loc[f"trafo {net.trafo.index[0]}", "to_bus"] == net.trafo["lv_bus"].iloc[0]
    assert set(result.open_dataset()["branch"].values.tolist()) == set(layout.branches.index)
    loads = net.load[net.load["name"].astype(str).str.contains("/")]
    first = loads.iloc[0]
    assert layout.building_bus[str(first["name"]).split("/", 1)[0]] == first["bus"]


def test_missing_and_damaged_result_files(tmp_path: Path) -> None:
    folder = tmp_path / "broken"
    folder.mkdir()
    assert list_results(tmp_path) == [] and list_results(tmp_path / "nowhere") == []
    result = ResultFolder.at(folder)
    assert result.kpis() == {} and not result.has_dataset() and not result.has_grid()
    with pytest.raises(FileNotFoundError):
        result.open_dataset()
    with pytest.raises(FileNotFoundError):
        read_kpis(folder)
    result.kpis_path.write_text("{not json", encoding="utf-8")
    assert result.kpis() == {} and is_result_folder(folder)
    with pytest.raises(ValueError):
        read_kpis(folder)


def test_compute_scenario_returns_the_result_record(shared: SharedInputs) -> None:
    scenario = load_scenario("baseline").model_copy(update={"start": "2025-06-10", "end": "2025-06-11"})
    assert isinstance(compute_scenario(scenario, shared), ScenarioResult)
