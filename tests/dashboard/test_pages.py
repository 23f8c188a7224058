"""Page callbacks called as plain functions on the sample data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dashboard.data import DashboardConfig, DataCache, balance_history, daily_flows, list_results, load_snapshot
from dashboard.pages import buildings, grid, live, scenarios, year
from tests.dashboard.sample import FEEDERS, snapshot, write_result
from twin.core.live_state import LiveSnapshot
from twin.core.store import MeanTable, write_json_atomic


def _text(component) -> str:
    return json.dumps(component.to_plotly_json() if hasattr(component, "to_plotly_json") else component, default=str)


def test_live_view_tiles_flows_history_and_health(config: DashboardConfig, cache: DataCache) -> None:
    view = live.live_view(config, cache, lang="en")
    tiles = _text(view["tiles"])
    assert "42.0 %" in tiles and "87.0 %" in tiles and "12.5 kW" in tiles and "import from the grid" in tiles
    assert "surplus" in tiles
    assert "Europe/Berlin" in view["status"] and "03.06.2025 12:00:00" in view["status"]
    assert view["sankey"].data[0].type == "sankey"
    assert {t.name for t in view["history"].data} >= {"households", "PV", "grid exchange (import +)"}
    health = _text(view["health"])
    assert "b2/pv0" in health and "timeout" in health


def test_live_view_without_snapshot(tmp_path: Path) -> None:
    view = live.live_view(DashboardConfig(tmp_path, tmp_path / "live", tmp_path / "scenarios"), lang="en")
    assert "no live snapshot" in view["status"] and view["sankey"].layout.annotations


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, ["1 device(s) down: b2/pv0"]),
        ({"trafo_percent": 112.0}, ["transformer loaded 112 %"]),
        ({"vm_min_pu": 0.88}, ["voltage 0.880 p.u. below the EN 50160 band"]),
    ],
)
def test_alerts(changes: dict, expected: list[str]) -> None:
    texts = " | ".join(text for _, text in live.alerts(LiveSnapshot.from_json(snapshot(**changes)), lang="en"))
    for part in expected:
        assert part in texts


def test_alerts_without_grid_and_controller_keys() -> None:
    snap = snapshot()
    del snap["grid"], snap["controller"]
    snap["failing"] = []
    assert live.alerts(LiveSnapshot.from_json(snap), lang="en") == []


def test_alerts_stale_snapshot() -> None:
    snap = {**snapshot(), "failing": [], "written_utc": "2025-06-03T10:00:00Z"}
    [(level, text)] = live.alerts(
        LiveSnapshot.from_json(snap), now_wall=pd.Timestamp("2025-06-03T10:05:00Z"), lang="en"
    )
    assert level == "warn" and "300 s old" in text


def test_live_view_renders_a_snapshot_without_new_keys(config: DashboardConfig) -> None:
    snap = snapshot()
    del snap["grid"], snap["controller"]
    write_json_atomic(config.store_dir / "snapshot.json", snap)
    view = live.live_view(config, lang="en")
    assert "no controller data" in _text(view["tiles"])
    assert grid.grid_view(grid.LIVE, 0, config, lang="en")["figure"].layout.annotations


def test_building_view_and_choice_on_the_map(config: DashboardConfig, cache: DataCache) -> None:
    options = buildings.building_options(config, cache)
    assert [o["value"] for o in options] == ["b1", "b2", "b3"]
    view = buildings.building_view("b2", config, cache, lang="en")
    assert "b2/pv0" in _text(view["devices"]) and "failing" in _text(view["devices"])
    assert view["map"].data[-1].name == "chosen building"
    b1 = buildings.building_view("b1", config, cache, lang="en")
    assert "321 kWh" in _text(b1["tiles"]) and "42.0 %" in _text(b1["tiles"])
    click = {"points": [{"customdata": ["3", "bus b2", 1.0]}]}
    assert buildings.clicked_building(click, config, cache) == "b2"
    assert buildings.clicked_building({"points": [{"customdata": ["1"]}]}, config, cache) is None
    assert buildings.building_view(None, config, cache, lang="en")["balance"].layout.annotations


def test_daily_flows_are_local_days(config: DashboardConfig) -> None:
    days = daily_flows(config.store_dir, "substation", 2025)
    assert [d.strftime("%Y-%m-%d %z") for d in days.index] == [
        "2025-06-01 +0200",
        "2025-06-02 +0200",
        "2025-06-03 +0200",
    ]
    assert days["import_kwh"].tolist() == [192.0, 192.0, 96.0]


def test_year_view_with_projection_from_the_baseline(config: DashboardConfig, cache: DataCache) -> None:
    write_result(config.results_dir, "baseline", start="2025-06-02T22:00")  # 3 to 5 June, local
    view = year.year_view(config, cache, lang="en")
    tiles = _text(view["tiles"])
    # 240 stored quarter-hours: 480 kWh import - 120 kWh export + 240 kWh gas
    assert "Balance 2025 so far" in tiles and "0.6 MWh" in tiles and "0.4 MWh" in tiles
    names = [t.name for t in view["cumulative"].data]
    assert "projection: baseline scenario" in names
    projection, _ = year.baseline_projection(config, 2025, cache=cache)
    assert projection is not None
    assert list(projection.index.strftime("%m-%d")) == ["06-03", "06-04"]
    assert projection["fuel_kwh"].sum() == pytest.approx(480.0)  # the year's gas of kpis.json, spread over the steps
    ahead = next(t for t in view["cumulative"].data if t.name == "projection: baseline scenario")
    assert len(ahead.x) == 2  # from the last measured day (3 June) to 4 June


def test_year_view_on_a_damaged_table_names_the_damage(config: DashboardConfig, cache: DataCache) -> None:
    assert "No year balance" not in _text(year.year_view(config, cache, lang="en")["tiles"])  # fills the cache
    (config.store_dir / "means_15min.commit.json").write_text('{"format": 2, "rows"')  # torn
    view = year.year_view(config, cache, lang="en")
    tiles = _text(view["tiles"])
    assert "No year balance" in tiles and "means_15min.commit.json" in tiles and "twin store repair" in tiles


def test_grid_view_live_and_result_steps(config: DashboardConfig, cache: DataCache) -> None:
    assert [o["value"] for o in grid.source_options(config, lang="en")] == ["live", "baseline", "more_pv"]
    live_view = grid.grid_view(grid.LIVE, 0, config, cache, lang="en")
    assert "transformer 40 %" in live_view["summary"]
    assert grid.special_step("loading", "baseline", config, cache) == 40
    assert grid.special_step("loading", "more_pv", config, cache) == 60
    assert grid.special_step("vmin", "baseline", config, cache) == 10
    assert grid.special_step("vmax", "baseline", config, cache) == 20
    view = grid.grid_view("baseline", 40, config, cache, lang="en")
    assert view["steps"] == 192 and "transformer 105 %" in view["summary"] and "01.01.2025 11:00" in view["summary"]
    assert "loading > 100 %" in [t.name for t in view["figure"].data]


def test_grid_view_lists_the_live_signal_per_feeder(config: DashboardConfig, cache: DataCache) -> None:
    # without signals per feeder in the snapshot: no table
    assert grid.grid_view(grid.LIVE, 0, config, cache, lang="en")["feeders"] == []
    snap = snapshot(feeders=FEEDERS)
    write_json_atomic(config.store_dir / "snapshot.json", snap)
    view = grid.grid_view(grid.LIVE, 0, config, cache, lang="de")
    heading, table = view["feeders"]
    assert heading.children == "Signal je Strang (live)" and table.id == "grid-feeder-table"
    rows = [[cell.children for cell in row.children] for row in table.children[1].children]
    assert rows == [
        ["1", "block", "transformer", "12,5", "7", "3", "4,2"],
        ["Sammelschiene", "normal", "-", "0,0", "1", "0", "-"],
    ]


def test_grid_view_names_the_control_the_live_signal_runs(config: DashboardConfig, cache: DataCache) -> None:
    snap = snapshot(feeders=FEEDERS)
    runs = "control of evening.yaml: signal per feeder, block at 50/40 % loading and 0.93/0.95 p.u."
    snap["controller"]["control"] = {"file": "/srv/evening.yaml", "runs": runs, "block": {"signal": "per_feeder"}}
    write_json_atomic(config.store_dir / "snapshot.json", snap)
    _, _, line = grid.grid_view(grid.LIVE, 0, config, cache, lang="en")["feeders"]
    assert line.id == "grid-feeder-control" and line.children == f"control: {runs}"


def test_comparison_view(config: DashboardConfig, cache: DataCache) -> None:
    view = scenarios.comparison_view(["baseline", "more_pv", "unknown"], config, cache, lang="en")
    table = _text(view["kpis"])
    assert "baseline" in table and "more_pv" in table and "unknown" not in table
    assert "self-sufficiency [%]" in table and "30.0" in table
    assert len(view["duration"].data) == 2
    assert len(view["monthly"].data) == 4
    assert "/download/more_pv/result.nc" in _text(view["downloads"])
    assert scenarios.comparison_view([], config, cache, lang="en")["monthly"].layout.annotations


def test_list_results_and_snapshot_readers(config: DashboardConfig, tmp_path: Path) -> None:
    assert [r.name for r in list_results(config.results_dir)] == ["baseline", "more_pv"]
    assert list_results(tmp_path / "nowhere") == []
    (config.store_dir / "snapshot.json").write_text("{torn", encoding="utf-8")
    assert load_snapshot(config.store_dir) is None


def test_data_cache_loads_once_per_key() -> None:
    cache, calls = DataCache(size=2), []
    for key in ("a", "a", "b", "c", "a"):
        cache.get(key, lambda k=key: calls.append(k) or k)
    assert calls == ["a", "b", "c", "a"]


def test_daily_flows_read_only_new_rows_and_keep_first_values(config: DashboardConfig, cache: DataCache) -> None:
    first = daily_flows(config.store_dir, "substation", 2025, cache=cache)
    table = MeanTable(config.store_dir, "15min", writable=True)
    back_fill = int(pd.Timestamp("2025-06-01T00:00Z").timestamp())  # already stored: ignored
    later = int(pd.Timestamp("2025-06-03T10:00Z").timestamp())
    table.append([back_fill, later], {"flow:substation/import_kwh": [100.0, 7.0]})
    again = daily_flows(config.store_dir, "substation", 2025, cache=cache)
    assert again["import_kwh"].tolist() == [192.0, 192.0, first["import_kwh"].iloc[-1] + 7.0]
    assert again.equals(daily_flows(config.store_dir, "substation", 2025))  # the same as a full read


def test_history_reads_the_last_rows_or_everything(config: DashboardConfig) -> None:
    end = pd.Timestamp("2025-06-03T10:00Z")
    recent = balance_history(config.store_dir, "substation", end)
    assert len(recent) == 24 and recent["p_grid_kw"].eq(5.0).all()  # 2 h of 1-minute rows at 5 minutes
    old = balance_history(config.store_dir, "b1", end, hours=60)  # 15-minute table: reads all rows
    assert old.index[0] == pd.Timestamp("2025-05-31T22:00Z")


def test_history_reads_balance_terms_under_their_earlier_names(tmp_path: Path) -> None:
    end = pd.Timestamp("2025-06-03T10:00Z")
    minutes = pd.date_range(end - pd.Timedelta(hours=2), end, freq="1min", inclusive="left")
    m_s = (minutes.asi8 // 10**9).astype(np.int64)
    table = MeanTable(tmp_path, "1min", writable=True)
    half = m_s.size // 2
    table.append(
        m_s[:half],
        {"balance:substation/grid_kw": np.full(half, 5.0), "balance:substation/losses_kw": np.full(half, 1.0)},
    )
    table.append(m_s[half:], {"balance:substation/p_grid_kw": np.full(m_s.size - half, 7.0)})
    history = balance_history(tmp_path, "substation", end)
    assert "grid_kw" not in history and "losses_kw" not in history
    assert history["p_grid_kw"].tolist() == [5.0] * 12 + [7.0] * 12
    assert history["p_loss_kw"].iloc[:12].eq(1.0).all()


def test_pages_show_times_in_the_sites_time_zone(config: DashboardConfig, cache: DataCache) -> None:
    write_json_atomic(config.store_dir / "snapshot.json", {**snapshot(), "timezone": "America/New_York"})
    view = live.live_view(config, cache, lang="en")
    assert "America/New_York" in view["status"] and "03.06.2025 06:00:00" in view["status"]
    assert "since 05:30" in _text(view["tiles"])  # the signal's time, local
    assert view["history"].layout.title.text.endswith("· America/New_York")
    assert str(view["history"].data[0].x[-1]).endswith("-04:00")
    b2 = buildings.building_view("b2", config, cache, lang="en")
    assert "05:40:00" in _text(b2["devices"])  # b2/pv0's last good read, local
    assert "America/New_York" in year.year_view(config, cache, lang="en")["cumulative"].layout.xaxis.title.text
    assert "03.06.2025 06:00:00" in grid.grid_view(grid.LIVE, 0, config, lang="en")["summary"]
    write_json_atomic(config.store_dir / "snapshot.json", {**snapshot(), "timezone": "Mars/Olympus"})
    assert "(Europe/Berlin)" in live.live_view(config, cache, lang="en")["status"]  # a zone this machine does not know


def test_missing_snapshot_values_show_as_missing(config: DashboardConfig, cache: DataCache) -> None:
    snap = snapshot()
    snap["balance"]["substation"]["p_grid_kw"] = None
    del snap["kpis"]["today"]["substation"]["self_sufficiency_frac"]
    del snap["devices_ok"]
    write_json_atomic(config.store_dir / "snapshot.json", snap)
    tiles = _text(live.live_view(config, cache, lang="en")["tiles"])
    assert "unknown" in tiles and "- / 4" in tiles and "87.0 %" in tiles
    devices = _text(buildings.building_view("b2", config, cache, lang="en")["devices"])
    assert "p_kw -" in devices and "None" not in devices


def test_a_snapshot_of_another_version_is_not_shown(config: DashboardConfig, caplog: pytest.LogCaptureFixture) -> None:
    write_json_atomic(config.store_dir / "snapshot.json", {**snapshot(), "version": 3})
    assert load_snapshot(config.store_dir) is None
    assert "snapshot.json: version: 3 is not supported" in caplog.text
    assert "no live snapshot" in live.live_view(config, lang="en")["status"]


def test_the_snapshot_is_read_again_only_when_it_changed(config: DashboardConfig) -> None:
    first = load_snapshot(config.store_dir)
    assert first is not None and load_snapshot(config.store_dir) is first  # unchanged file: no new read
    write_json_atomic(config.store_dir / "snapshot.json", {**snapshot(), "site": "other site"})
    again = load_snapshot(config.store_dir)
    assert again is not None and again is not first and again.site == "other site"


def test_live_status_names_simulated_and_wall_clock_time(config: DashboardConfig, cache: DataCache) -> None:
    status = live.live_view(config, cache, lang="en")["status"]
    assert "simulated time 03.06.2025 12:00:00" in status and "wall-clock time" in status
    assert "snapshot written" not in status


@pytest.mark.parametrize(
    ("quality", "inputs_missing", "expected"),
    [
        (0, None, None),
        (5, 1, "district sums partial: 1 input(s) not ok"),
        (1, None, "the substation meter is stale"),
        (3, None, "the substation meter is invalid"),
    ],
)
def test_alerts_follow_the_quality_per_quantity(quality: int, inputs_missing: int | None, expected: str | None) -> None:
    snap = snapshot()
    snap["failing"] = []
    del snap["grid"]
    snap["balance"]["substation"]["quality"] = quality
    if inputs_missing is not None:
        snap["balance"]["substation"]["inputs_missing"] = inputs_missing
    texts = [text for _, text in live.alerts(LiveSnapshot.from_json(snap), lang="en")]
    if expected is None:
        assert texts == []
    else:
        assert len(texts) == 1 and expected in texts[0]


def test_nav_classes_mark_the_page_shown() -> None:
    from dashboard.app import nav_classes

    assert nav_classes("/") == ["active", "", "", "", "", ""]
    assert nav_classes("/year/") == ["", "", "active", "", "", ""]
    assert nav_classes("/scenarios") == ["", "", "", "", "active", ""]
    assert nav_classes("/calibration") == ["", "", "", "", "", "active"]
    assert nav_classes(None) == ["active", "", "", "", "", ""]
