"""The cold path of ``twin scenario run``: on cached shared inputs it needs neither pandapower nor Dask (nor plotly).

The shared-input cache stores the nets as :class:`models.net_tables.NetTables` with their
pandapower JSON template; ``net.json`` written from it is pandapower's own text, and a
scenario that changes the grid still gets a pandapower net to change.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandapower as pp
import pytest

from models.grid import ELEMENT_TABLE, district_net
from models.grid_source import CACHE_DIR_ENV
from models.net_tables import NetTables, district_net_json, light_net
from scenarios.config import parse_scenario
from scenarios.results import KPIS_JSON, NET_JSON, ResultFolder
from scenarios.runner import SharedInputs, compute_scenario
from scenarios.shared_cache import _read, _write
from tests.scenarios.conftest import SHORT

#: Runs ``twin`` in this interpreter and writes the names of the imported modules at exit.
_RUN_AND_LIST_MODULES = """
import atexit, json, os, runpy, sys
def listed():
    names = sorted(name for name, module in sys.modules.items() if module is not None)
    open(os.environ["MODULES_FILE"], "w").write(json.dumps(names))
atexit.register(listed)
sys.argv = ["twin", *sys.argv[1:]]
runpy.run_module("twin", run_name="__main__")
"""
#: Modules a scenario run on cached inputs has no use for.
_NOT_NEEDED = ("pandapower", "dask", "distributed", "networkx", "plotly", "scipy.signal", "hplib")

EVERY_KIND = {
    "name": "every_kind",
    **SHORT,
    "changes": {
        "pv": {"share_frac": 0.5},
        "home_batteries": {"share_frac": 0.5},
        "heat_pumps": {"share_frac": 0.3},
        "evs": {"count": 8},
        "community_battery": {"capacity_kwh": 200, "p_rated_kw": 100},
    },
}


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, grid_cache_dir: Path) -> Path:
    """An empty cache folder of its own (with the session's SimBench grid, so it is not built again)."""
    folder = tmp_path / "cache"
    folder.mkdir()
    for grid in grid_cache_dir.glob("simbench-*.json"):
        shutil.copy(grid, folder / grid.name)
    monkeypatch.setenv(CACHE_DIR_ENV, str(folder))
    return folder


def _twin(args: list[str], modules_file: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-c", _RUN_AND_LIST_MODULES, *args],
        env={**os.environ, "MODULES_FILE": str(modules_file)},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _kpis(folder: Path) -> dict[str, Any]:
    kpis = json.loads((folder / KPIS_JSON).read_text(encoding="utf-8"))
    return {k: v for k, v in kpis.items() if not k.endswith("_s")}


@pytest.mark.e2e
def test_run_on_cached_inputs_imports_neither_pandapower_nor_dask(tmp_path: Path, cache: Path, write_yaml: Any) -> None:
    scenario = write_yaml({"name": "short", **SHORT}, "short.yaml")
    modules = tmp_path / "modules.json"
    first, second = tmp_path / "first", tmp_path / "second"
    _twin(["scenario", "run", str(scenario), "--out", str(first)], modules)  # prepares and stores the inputs
    assert "pandapower" in json.loads(modules.read_text())  # the hook sees what was imported
    table = _twin(["scenario", "run", str(scenario), "--out", str(second)], modules)
    assert "short" in table  # the output is flushed before the process ends quickly (exit handlers ran: modules)
    imported = set(json.loads(modules.read_text()))
    assert not imported & set(_NOT_NEEDED), sorted(imported & set(_NOT_NEEDED))
    # the same year and the same files, net.json now written without pandapower
    assert _kpis(second / "short") == _kpis(first / "short")
    assert (second / "short" / NET_JSON).read_bytes() == (first / "short" / NET_JSON).read_bytes()
    with ResultFolder.at(second / "short").open_dataset() as dataset:
        assert dataset["vm_pu"].shape[0] == 3 * 96


def test_net_json_from_the_template_is_pandapowers_text(shared: SharedInputs) -> None:
    result = compute_scenario(parse_scenario(EVERY_KIND, file="t.yaml"), shared)
    kinds = set(result.assets["kind"].values.tolist())
    assert {"pv", "battery", "heat_pump", "ev"} <= kinds  # loads, sgens and storages
    expected = pp.to_json(district_net(result.net, result.assets))
    assert district_net_json(light_net(result.net), result.assets, ELEMENT_TABLE) == expected
    assert district_net_json(result.net, result.assets, ELEMENT_TABLE) is None  # no template: pandapower writes


def test_cache_file_holds_light_nets_and_changes_the_grid_through_pandapower(cache: Path, shared: SharedInputs) -> None:
    path = cache / "shared" / "light.pkl"
    shared.flow_for(None)
    _write(path, shared)
    read = _read(path)
    assert read is not None
    assert isinstance(read.loaded.net, NetTables) and read.loaded.net.json_template is not None
    assert read._flows[None][0] is read.loaded.net  # one net, as in the process that wrote it
    assert type(shared.loaded.net).__name__ == "pandapowerNet"  # the writer's own inputs are left as they were
    upgraded = parse_scenario(
        {"name": "upgraded", **SHORT, "changes": {"grid": {"transformer_s_rated_kva": 800}}}, file="t.yaml"
    )
    on_cached = compute_scenario(upgraded, read)
    assert type(on_cached.net).__name__ == "pandapowerNet"
    assert on_cached.kpis["transformer_s_rated_kva"] == 800.0
    fresh = compute_scenario(upgraded, shared).kpis
    assert {k: v for k, v in on_cached.kpis.items() if not k.endswith("_s")} == {
        k: v for k, v in fresh.items() if not k.endswith("_s")
    }


def test_dask_stays_importable_for_a_calling_program(monkeypatch: pytest.MonkeyPatch) -> None:
    import xarray  # noqa: F401 - imported, as in any program that has run scenarios

    from twin.cli import common

    before = sys.modules.get("dask", "absent")
    for own_process in (False, True):  # commands run inside a program; or after xarray decided about Dask
        monkeypatch.setattr(common, "own_process", own_process)
        common.without_dask()
        assert sys.modules.get("dask", "absent") is before
