"""The public page: no login, German, and nothing published of a group of fewer than five households."""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboard import create_app
from dashboard.data import DashboardConfig, DataCache
from dashboard.public_data import (
    CO2_GRID_G_PER_KWH,
    MIN_HOUSEHOLDS,
    Group,
    aggregate,
    households_from_snapshot,
    public_figures,
)
from tests.dashboard.conftest import USERS
from tests.dashboard.sample import snapshot
from twin.core.live_state import LiveSnapshot
from twin.core.store import write_json_atomic

FIVE = {"b1": 3, "b2": 1, "b3": 1}
FOUR = {"b1": 2, "b2": 1, "b3": 1}


def _layout_text(data_root: Path, households: dict[str, int] | None) -> str:
    client = create_app(data_root, credentials=USERS, households=households).server.test_client()
    response = client.get("/public/")  # no credentials
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_public_page_needs_no_login_and_speaks_german(data_root: Path) -> None:
    client = create_app(data_root, credentials=USERS, households=FIVE).server.test_client()
    index = client.get("/public/")
    assert index.status_code == 200 and '<html lang="de">' in index.get_data(as_text=True)
    assert client.get("/").status_code == 401  # the dashboard still needs the login
    assert client.get("/api/v1/snapshot").status_code == 401
    assert client.get("/public/style.css").status_code == 200
    assert client.get("/public/_dash-layout").status_code == 404  # nothing of the dashboard behind /public
    text = _layout_text(data_root, FIVE)
    assert "Eigenversorgung heute" in text and "42 %" in text  # the substation's KPI of today
    assert "Bilanz 2025 bisher" in text and "Netto-Null" in text
    assert f"{CO2_GRID_G_PER_KWH:.0f} g CO2/kWh" in text and "Umweltbundesamt" in text
    assert "b1" not in text and "b2/pv0" not in text  # no building or device is named


def test_four_households_publish_nothing(data_root: Path) -> None:
    text = _layout_text(data_root, FOUR)
    assert "weniger als 5 Haushalte" in text
    for figure in ("Eigenversorgung heute", "kWh", "MWh", "42 %", "public-year", "<svg"):
        assert figure not in text


def test_without_a_district_the_households_are_the_snapshots_household_meters(data_root: Path) -> None:
    assert "weniger als 5 Haushalte" in _layout_text(data_root, None)  # the sample has no household meters
    data = snapshot()
    for number in range(5):
        data["devices"][f"b1/flat{number:02d}"] = {"kind": "household_meter", "building": "b1", "ok": True}
    write_json_atomic(data_root / "live" / "snapshot.json", data)
    assert households_from_snapshot(LiveSnapshot.from_json(data)) == {"b1": 5}
    assert "Eigenversorgung heute" in _layout_text(data_root, None)


@pytest.mark.parametrize(("households", "published"), [({"a": 2, "b": 2}, False), ({"a": 2, "b": 3}, True)])
def test_aggregate_refuses_a_subset_of_fewer_than_five(households: dict[str, int], published: bool) -> None:
    calls: list[str] = []

    def compute(group: Group) -> float:
        calls.append(group.name)
        return 1.0

    group = Group(name="street", buildings=("a", "b", "b"))  # a building named twice counts once
    assert (aggregate(group, households, compute) is not None) is published
    assert calls == (["street"] if published else [])  # the values of a small group are not even read


def test_a_subset_of_four_households_publishes_nothing_of_its_own(config: DashboardConfig) -> None:
    small = Group(name="b1 and b2", buildings=("b1", "b2"))
    figures = public_figures(config, small, FIVE, cache=DataCache())
    assert not figures.published and figures.households == MIN_HOUSEHOLDS - 1
    assert figures.daily is None and figures.pv_year_kwh is None and figures.self_sufficiency_today_frac is None
    larger = public_figures(config, small, {"b1": 4, "b2": 1}, cache=DataCache())
    assert larger.published and larger.daily is not None and len(larger.daily)  # b1's flows: the group's sums
