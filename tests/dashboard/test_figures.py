from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from dashboard.data import GridMap, grid_map_from_snapshot
from dashboard.figures import (
    MAX_POINTS,
    building_balance_figure,
    duration_figure,
    empty_figure,
    flow_sankey,
    grid_figure,
    history_figure,
    monthly_exchange,
    monthly_figure,
    scenario_monthly_figure,
    thin,
    year_figure,
)
from tests.dashboard.sample import snapshot
from twin.core.live_state import LiveSnapshot


def test_flow_sankey_sources_equal_sinks_for_a_closed_balance() -> None:
    balance = snapshot()["balance"]["substation"]
    fig = flow_sankey(balance, lang="en")
    link = fig.data[0].link
    hub = list(fig.data[0].node.label).index("district")
    into = sum(v for s, v in zip(link.source, link.value, strict=True) if s != hub)
    out = sum(v for s, v in zip(link.source, link.value, strict=True) if s == hub)
    assert into == pytest.approx(out)  # PV 8 + grid 12.5 + discharge 0.5 = loads 20.5 + losses 0.5
    labels = " ".join(fig.data[0].node.label)
    assert "PV 8.0 kW" in labels and "grid import 12.5 kW" in labels and "EVs 4.0 kW" in labels


def test_flow_sankey_export_is_a_sink() -> None:
    balance = {**snapshot()["balance"]["substation"], "p_grid_kw": -5.0}
    labels = flow_sankey(balance, lang="en").data[0].node.label
    assert "grid export 5.0 kW" in labels and not any(label.startswith("grid import") for label in labels)


@pytest.mark.parametrize("builder", [flow_sankey, lambda b: building_balance_figure(b, title="x", lang="en")])
def test_builders_say_why_they_are_blank(builder) -> None:
    fig = builder(None)
    assert fig.layout.annotations and not fig.data


def test_history_figure_local_time_stacks_and_grid_line() -> None:
    index = pd.date_range("2025-06-03T08:00Z", periods=4, freq="15min")
    frame = pd.DataFrame(
        {
            "p_grid_kw": [1.0, 2, 3, 4],
            "p_pv_kw": [-1.0, -2, -1, 0],
            "p_load_kw": [2.0, 4, 4, 4],
            "p_battery_kw": [1, -1, 1, -1],
        },
        index=index,
    )
    fig = history_figure(frame, lang="en")
    names = [trace.name for trace in fig.data]
    assert names == [
        "households",
        "home batteries (charge)",
        "home batteries (discharge)",
        "PV",
        "grid exchange (import +)",
    ]
    assert str(fig.data[0].x[0]).startswith("2025-06-03 10:00:00+02:00")  # Europe/Berlin
    assert "[kW]" in fig.layout.yaxis.title.text


def test_history_figure_thins_long_series() -> None:
    index = pd.date_range("2025-01-01", periods=10 * MAX_POINTS, freq="1min", tz="UTC")
    fig = history_figure(pd.DataFrame({"p_load_kw": np.ones(index.size)}, index=index), lang="en")
    assert len(fig.data[0].y) <= MAX_POINTS


def test_thin_uses_coarsen_means() -> None:
    assert thin(np.arange(10.0), 5).tolist() == [0.5, 2.5, 4.5, 6.5, 8.5]
    assert thin(np.arange(3.0), 5).tolist() == [0.0, 1.0, 2.0]


def test_year_figure_cumulative_and_projection() -> None:
    days = pd.date_range("2025-01-01", periods=3, freq="D", tz="Europe/Berlin")
    daily = pd.DataFrame({"import_kwh": [1000.0] * 3, "export_kwh": [500.0] * 3, "fuel_kwh": [1000.0] * 3}, index=days)
    ahead = pd.DataFrame(
        {"import_kwh": [0.0] * 2, "export_kwh": [2000.0] * 2, "fuel_kwh": [0.0] * 2},
        index=pd.date_range("2025-01-04", periods=2, freq="D", tz="Europe/Berlin"),
    )
    fig = year_figure(daily, year=2025, projection=ahead, lang="en")
    traces = {trace.name: trace for trace in fig.data}
    assert list(traces["all carriers (electricity + gas)"].y) == [1.5, 3.0, 4.5]
    assert list(traces["electricity only"].y) == [0.5, 1.0, 1.5]
    assert list(traces["projection: baseline scenario"].y) == [4.5, 2.5, 0.5]
    assert list(traces["net zero"].y) == [0, 0]
    assert "[MWh]" in fig.layout.yaxis.title.text


def test_monthly_figure_exports_below_zero() -> None:
    days = pd.date_range("2025-01-30", periods=4, freq="D", tz="Europe/Berlin")
    daily = pd.DataFrame({"import_kwh": [1000.0] * 4, "export_kwh": [500.0] * 4, "fuel_kwh": [0.0] * 4}, index=days)
    traces = {trace.name: trace for trace in monthly_figure(daily, year=2025, lang="en").data}
    assert list(traces["electricity import"].x) == ["Jan", "Feb"]
    assert list(traces["electricity export"].y) == [-1.0, -1.0]


def test_monthly_exchange_splits_import_and_export_per_step() -> None:
    time = pd.date_range("2025-01-31T22:00", periods=16, freq="15min")  # 23:00 Berlin to 03:00 on 1 Feb
    p = xr.DataArray(np.tile([4.0, -4.0], 8), coords={"time": time}, dims="time")
    months = monthly_exchange(p)
    assert months.loc[1, "import_kwh"] == pytest.approx(2 * 1.0)
    assert months.loc[2, "import_kwh"] == pytest.approx(6 * 1.0)
    assert months["export_kwh"].sum() == pytest.approx(8.0)


def test_grid_figure_colours_buses_by_voltage_and_branches_by_loading() -> None:
    grid = grid_map_from_snapshot(LiveSnapshot.from_json(snapshot(trafo_percent=120.0)))
    assert grid is not None
    fig = grid_figure(
        grid, vm_pu=grid.buses["vm_pu"], loading_percent=grid.branches["loading_percent"], highlight_bus=2, lang="en"
    )
    names = [trace.name for trace in fig.data]
    assert names == ["loading < 50 %", "loading > 100 %", "bus voltage", "chosen building"]
    buses = fig.data[2]
    assert list(buses.marker.color) == pytest.approx([1.0, 0.99, 0.98, 0.97])
    assert fig.layout.xaxis.title.text == "longitude [°]"


def test_scenario_figures_overlay_each_result() -> None:
    monthly = {"a": pd.DataFrame({"import_kwh": [1000.0], "export_kwh": [0.0]}, index=[1])}
    assert len(scenario_monthly_figure(monthly, lang="en").data) == 2
    fig = duration_figure({"a": np.array([1.0, 3.0, 2.0]), "b": -np.ones(3)}, dt_h=1.0, lang="en")
    assert list(fig.data[0].y) == [3.0, 2.0, 1.0] and list(fig.data[0].x) == [0.0, 1.0, 2.0]
    assert duration_figure({}, lang="en").layout.annotations


def test_empty_figure_message() -> None:
    assert empty_figure("nothing").layout.annotations[0].text == "nothing"


def test_history_figure_counts_the_community_battery_once() -> None:
    """The district's battery term is the home batteries; the community battery is stacked beside it, once."""
    index = pd.date_range("2025-06-03T08:00Z", periods=2, freq="15min")
    frame = pd.DataFrame(
        {
            "p_grid_kw": [77.0, 77.0],
            "p_load_kw": [42.0, 42.0],
            "p_battery_kw": [10.0, 10.0],  # the home batteries
            "p_community_battery_kw": [25.0, 25.0],
        },
        index=index,
    )
    fig = history_figure(frame, lang="en")
    stacked = sum(float(t.y[0]) for t in fig.data if getattr(t, "stackgroup", None) == "pos")
    assert stacked == pytest.approx(77.0)  # the stack meets the grid line
    by_name = {t.name: float(t.y[0]) for t in fig.data}
    assert by_name["home batteries (charge)"] == pytest.approx(10.0)
    assert by_name["community battery (charge)"] == pytest.approx(25.0)


def test_history_figure_without_home_batteries_shows_the_community_battery_alone() -> None:
    index = pd.date_range("2025-06-03T08:00Z", periods=2, freq="15min")
    frame = pd.DataFrame(
        {
            "p_grid_kw": [77.0, 77.0],
            "p_load_kw": [52.0, 52.0],
            "p_battery_kw": [0.0, 0.0],
            "p_community_battery_kw": [25.0, 25.0],
        },
        index=index,
    )
    fig = history_figure(frame, lang="en")
    stacked = sum(float(t.y[0]) for t in fig.data if getattr(t, "stackgroup", None) == "pos")
    assert stacked == pytest.approx(77.0)
    assert "home batteries (charge)" not in [t.name for t in fig.data]
    assert "community battery (charge)" in [t.name for t in fig.data]


def test_flow_sankey_counts_the_community_battery_once() -> None:
    """Home batteries and the community battery are separate terms; the Sankey shows their sum once."""
    balance = {"p_grid_kw": 10.0, "p_load_kw": 5.0, "p_battery_kw": 2.0, "p_community_battery_kw": 3.0}
    labels = list(flow_sankey(balance, lang="en").data[0].node.label)
    assert "battery charge 5.0 kW" in labels


def test_grid_figure_says_where_the_map_sits() -> None:
    buses = pd.DataFrame({"name": ["a", "b"], "x": [12.566, 12.568], "y": [51.323, 51.325]}, index=[0, 1])
    branches = pd.DataFrame({"kind": ["line"], "from_bus": [0], "to_bus": [1]}, index=["line 0"])
    fig = grid_figure(GridMap(buses=buses, branches=branches), lang="en")
    caption = " ".join(a.text for a in fig.layout.annotations)
    assert "51.324 N, 12.567 E" in caption and "SimBench" in caption
