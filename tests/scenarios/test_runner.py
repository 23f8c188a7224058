from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandapower as pp
import pytest
import xarray as xr
import yaml

from scenarios.config import parse_scenario
from scenarios.runner import SharedInputs, compute_scenario, run_scenario
from tests.scenarios.conftest import SHORT

EVERYTHING = {
    "pv": {"share_frac": 0.8},
    "home_batteries": {"share_frac": 0.5},
    "community_battery": {"capacity_kwh": 300.0, "p_rated_kw": 150.0},
    "heat_pumps": {"share_frac": 0.5},
    "retrofit": {"share_frac": 0.3},
    "evs": {"count": 10, "charging": "pv_surplus"},
    "grid": {"transformer_s_rated_kva": 800.0},
    "feed_in_limit": {"frac_of_kwp": 0.6},
}


def _scenario(name: str, changes: dict[str, Any], **extra: Any):  # type: ignore[no-untyped-def]
    return parse_scenario({"name": name, **SHORT, "changes": changes, **extra}, file="t.yaml")


@pytest.fixture(scope="module")
def full_run(shared: SharedInputs, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    out = tmp_path_factory.mktemp("results")
    kpis = run_scenario(_scenario("everything", EVERYTHING, output="full"), shared, out)
    return kpis, out / "everything"


def test_run_scenario_writes_every_file(full_run: tuple[dict[str, Any], Path]) -> None:
    kpis, folder = full_run
    names = {p.name for p in folder.iterdir()}
    assert {"result.nc", "kpis.json", "net.json", "scenario.resolved.yaml", "report.html"} <= names
    assert (folder.parent / "plotly.min.js").stat().st_size > 1_000_000
    assert json.loads((folder / "kpis.json").read_text())["energy_balance_kwh"] == kpis["energy_balance_kwh"]
    resolved = yaml.safe_load((folder / "scenario.resolved.yaml").read_text())
    assert resolved["input_hash"] == kpis["input_hash"] and len(kpis["input_hash"]) == 64
    assert resolved["changes"]["pv"]["min_kwp"] == 1.0  # defaults filled in
    report = (folder / "report.html").read_text()
    assert '<script src="../plotly.min.js">' in report and "cdn.plot.ly" not in report


def test_report_figures_are_plotlys_own(full_run: tuple[dict[str, Any], Path]) -> None:
    import plotly.graph_objects as go
    import plotly.io as pio

    report = (full_run[1] / "report.html").read_text()
    divs = re.findall(r'<div style="height:[^"]*; width:100%;">.*?</script>        </div>', report, re.DOTALL)
    assert len(divs) == 6
    default_template = pio.templates["plotly"].to_plotly_json()
    for div in divs:
        plot_id = re.search(r'<div id="([0-9a-f-]{36})"', div).group(1)  # type: ignore[union-attr]
        data, layout = _plot_arguments(div, plot_id)
        assert layout["template"] == default_template
        # plotly validates the figure (no unknown property) and writes the same figure from it
        again = go.Figure(data=data, layout=layout).to_html(full_html=False, include_plotlyjs=False, div_id=plot_id)
        assert _plot_arguments(again, plot_id) == (data, layout)
        assert again[: again.index("Plotly.newPlot(")] == div[: div.index("Plotly.newPlot(")]  # the same div
    assert "Load duration curve at the transformer" in report and '"type":"sankey"' in report


def _plot_arguments(div: str, plot_id: str) -> tuple[list[Any], dict[str, Any]]:
    """The data and layout that a figure's ``Plotly.newPlot`` call gets."""
    decoder = json.JSONDecoder()
    text = div[div.index(f'"{plot_id}",', div.index("Plotly.newPlot(")) + len(plot_id) + 3 :].lstrip()
    data, end = decoder.raw_decode(text)
    layout, _ = decoder.raw_decode(text[end + 1 :].lstrip())
    return data, layout


def test_result_nc_levels_and_net_json(full_run: tuple[dict[str, Any], Path]) -> None:
    kpis, folder = full_run
    with xr.open_dataset(folder / "result.nc") as ds:
        assert ds.sizes["time"] == kpis["steps"] == 3 * 96
        assert ds["vm_pu"].dtype == np.float32 and ds["vm_pu"].encoding["zlib"]
        assert ds["vm_pu"].attrs["units"] == "1" and ds["p_grid_kw"].attrs["units"] == "kW"
        assert float(ds["kpi_energy_balance_kwh"]) == pytest.approx(kpis["energy_balance_kwh"], rel=1e-9)
        buses = ds["bus"].values
        step_vm = ds["vm_pu"].isel(time=50).values
    with xr.open_dataset(folder / "result.nc", group="assets") as assets:
        assert "p_kw" in assets and (assets["kind"] == "battery").sum() >= 1
    net = pp.from_json(str(folder / "net.json"))
    assert sorted(net.bus.index) == sorted(buses.tolist())
    assert len(net.load) + len(net.sgen) + len(net.storage) > 100
    assert step_vm.min() > 0.9


def test_energy_balance_closes(shared: SharedInputs) -> None:
    result = compute_scenario(_scenario("balance", EVERYTHING), shared)
    k = result.kpis
    assets = result.assets
    dt_h = 0.25
    p = assets["p_kw"].values.astype(np.float64)
    kind = assets["kind"].values
    load = np.clip(p[:, np.isin(kind, ["load", "heat_pump", "ev"])], 0, None).sum() * dt_h
    generation = np.clip(-p[:, kind == "pv"], 0, None).sum() * dt_h
    battery = p[:, kind == "battery"].sum() * dt_h
    losses = float(result.grid["p_loss_kw"].sum()) * dt_h
    lhs = k["import_kwh"] - k["export_kwh"]
    rhs = load - generation + battery + losses
    assert lhs == pytest.approx(rhs, rel=1e-4, abs=1.0)
    assert k["losses_kwh"] == pytest.approx(losses, rel=1e-6)
    # the substation meter of the power flow is the asset sum plus losses
    p_grid = result.grid["p_grid_kw"].values.astype(np.float64)
    assert np.allclose(p_grid, p.sum(axis=1) + result.grid["p_loss_kw"].values, atol=0.05)
    # all carriers: electricity, the boilers' gas, and the oil and wood the district's old houses burn
    fuels = k["fuel_kwh"] + k["fuel_oil_kwh"] + k["fuel_wood_kwh"]
    assert k["energy_balance_kwh"] == pytest.approx(lhs + fuels, rel=1e-9)
    assert k["fuel_oil_kwh"] > 0 and k["fuel_wood_kwh"] > 0
    assert k["steps_not_converged"] == 0
    assert k["community_battery_kwh"] == 300.0 and k["transformer_s_rated_kva"] == 800.0


def test_feed_in_limit_per_building(shared: SharedInputs) -> None:
    free = compute_scenario(_scenario("free", {"pv": {}}), shared)
    limited = compute_scenario(_scenario("limited", {"pv": {}, "feed_in_limit": {"frac_of_kwp": 0.3}}), shared)
    assets = limited.assets
    kind, building = assets["kind"].values, assets["building"].values
    p = assets["p_kw"].values.astype(np.float64)
    for b in np.unique(building[kind == "pv"]):
        mine = building == b
        kwp = np.nansum(assets["p_peak_kw"].values[mine & (kind == "pv")])
        assert p[:, mine].sum(axis=1).min() >= -0.3 * kwp - 1e-3
    assert limited.kpis["curtailed_kwh"] > 0 and free.kpis["curtailed_kwh"] == 0
    assert limited.kpis["export_kwh"] < free.kpis["export_kwh"]
    lost = free.kpis["generation_kwh"] - limited.kpis["generation_kwh"]
    assert lost == pytest.approx(limited.kpis["curtailed_kwh"], rel=1e-3)


def test_district_limit_and_peak_shaving(shared: SharedInputs) -> None:
    changes = {
        "pv": {},
        "feed_in_limit": {"frac_of_kwp": 0.2, "at": "district"},
        "community_battery": {
            "capacity_kwh": 500.0,
            "p_rated_kw": 200.0,
            "strategy": "peak_shaving",
            "peak_limit_kw": 50.0,
        },
    }
    result = compute_scenario(_scenario("district", changes), shared)
    p_sum = result.assets["p_kw"].values.astype(np.float64).sum(axis=1)
    assert p_sum.min() >= -0.2 * result.kpis["pv_kwp"] - 1e-3
    assert result.kpis["curtailed_kwh"] > 0


def test_peak_shaving_holds_export_below_limit(shared: SharedInputs) -> None:
    free = compute_scenario(_scenario("free", {"pv": {}}), shared)
    battery = {"capacity_kwh": 4000.0, "p_rated_kw": 800.0, "strategy": "peak_shaving", "export_limit_kw": 300.0}
    shaved = compute_scenario(_scenario("shaved", {"pv": {}, "community_battery": battery}), shared)
    assert free.kpis["peak_export_kw"] > 400.0
    assert shaved.kpis["peak_export_kw"] < 0.8 * free.kpis["peak_export_kw"]
    soc = shaved.assets["soc_frac"].sel(asset="community/battery0").values
    assert soc.min() >= 0.05 - 1e-6 and soc.max() <= 1.0 + 1e-6


def test_run_scenario_is_deterministic(shared: SharedInputs) -> None:
    scenario = _scenario("det", {"pv": {"share_frac": 0.5}, "evs": {"share_frac": 0.2}})
    first, second = run_scenario(scenario, shared), run_scenario(scenario, shared)
    for key in ("energy_balance_kwh", "trafo_loading_max_percent", "input_hash", "pv_kwp"):
        assert first[key] == second[key]
    other = run_scenario(scenario.model_copy(update={"seed": 3}), shared)
    assert other["input_hash"] != first["input_hash"]


def test_run_scenario_rejects_other_shared_inputs(shared: SharedInputs) -> None:
    from twin.core.errors import ModelError

    with pytest.raises(ModelError, match="shared inputs") as info:
        run_scenario(_scenario("y", {}, year=2024, start="2024-06-10", end="2024-06-11"), shared)
    assert info.value.exit_code == 1  # a caller's mistake, not bad input
