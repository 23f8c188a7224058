"""The packages' seams: no import cycle inside a package, lazy package imports, a light result reader.

Import costs are checked in fresh subprocesses (what a module pulls into ``sys.modules``),
not by the clock.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("twin", "models", "connectors", "scenarios", "dashboard")


def _cycles(graph: grimp.ImportGraph, package: str) -> list[list[str]]:
    """Strongly connected components of more than one module among the modules of ``package``."""
    modules = sorted({package, *graph.find_descendants(package)})
    inside = set(modules)
    edges = {m: sorted(graph.find_modules_directly_imported_by(m) & inside) for m in modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:  # Tarjan
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in edges[module]:
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in modules:
        if module not in index:
            visit(module)
    return found


def _imported(code: str) -> set[str]:
    """Top-level names of the modules in ``sys.modules`` after running ``code`` in a fresh interpreter."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    run = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    return set(json.loads(run.stdout.splitlines()[-1]))


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    # every import counts: at module level, inside functions and under TYPE_CHECKING
    return grimp.build_graph(*PACKAGES, cache_dir=None)


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_cycle_inside_a_package(graph: grimp.ImportGraph, package: str) -> None:
    assert _cycles(graph, package) == []


def test_the_cycle_check_finds_a_cycle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "loopy").mkdir()
    (tmp_path / "loopy" / "__init__.py").write_text("")
    (tmp_path / "loopy" / "a.py").write_text("from loopy import b\n")
    (tmp_path / "loopy" / "b.py").write_text("def f():\n    from loopy import c\n")
    (tmp_path / "loopy" / "c.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import loopy.a\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert _cycles(grimp.build_graph("loopy", cache_dir=None), "loopy") == [["loopy.a", "loopy.b", "loopy.c"]]


def test_result_reader_pulls_neither_pandapower_nor_dask() -> None:
    modules = _imported("import scenarios.results")
    assert not {"pandapower", "dask", "distributed", "numba", "scenarios.runner", "models"} & modules


def test_dashboard_imports_no_pandapower() -> None:
    modules = _imported("import dashboard, dashboard.app, dashboard.data, dashboard.pages")
    assert "pandapower" not in modules and "dask" not in modules and "scenarios.runner" not in modules
    assert "scenarios.results" in modules


def test_one_connector_module_costs_only_what_it_imports() -> None:
    modules = _imported("import connectors.maps")
    assert not {"pymodbus", "cryptography", "connectors.poller", "connectors.controller_server"} & modules


@pytest.mark.parametrize(
    "module",
    [
        "connectors.maps",
        "connectors.controller_map",
        "connectors.site",
        "models.district",
        "twin.core.config_loader",
        "twin.core.units",
    ],
)
def test_reading_a_config_file_pulls_no_array_library(module: str) -> None:
    modules = _imported(f"import {module}")
    assert not {"xarray", "pandas", "numpy", "pandapower", "pymodbus"} & modules


@pytest.mark.parametrize("package", ["connectors", "scenarios", "models.control"])
def test_lazy_packages_keep_their_public_names(package: str) -> None:
    module = importlib.import_module(package)
    exports = module._EXPORTS
    assert sorted(module.__all__) == sorted(exports) and exports
    for name, source in exports.items():
        value = getattr(module, name)
        assert value is getattr(importlib.import_module(source), name)
        assert name in dir(module)
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        module.nothing_here  # noqa: B018


def test_from_package_import_name() -> None:
    modules = _imported("from connectors import SitePoller\nfrom scenarios import run_scenario, read_kpis")
    assert {"connectors.poller", "scenarios.runner", "scenarios.results"} <= modules
