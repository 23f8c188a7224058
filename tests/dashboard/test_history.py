"""History over a chosen period: bounds, reads at each resolution, the pages' charts and downloads."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import pytest

from dashboard import create_app
from dashboard.data import DashboardConfig, DataCache
from dashboard.history import period_bounds, period_history
from dashboard.pages import buildings, grid, live, scenarios
from tests.dashboard.conftest import USERS
from tests.dashboard.sample import SIM_TIME

TZ = "Europe/Berlin"


@pytest.mark.parametrize(
    ("period", "until", "start", "end"),
    [
        ("day", None, "2025-06-02T10:00Z", "2025-06-03T10:00Z"),
        ("week", None, "2025-05-27T10:00Z", "2025-06-03T10:00Z"),
        ("month", None, "2025-05-03T10:00Z", "2025-06-03T10:00Z"),
        ("year", None, "2024-12-31T23:00Z", "2025-06-03T10:00Z"),  # 1 January, local
        ("day", "2025-06-01", "2025-05-31T22:00Z", "2025-06-01T22:00Z"),  # the local day
        ("week", "2025-03-31", "2025-03-24T23:00Z", "2025-03-31T22:00Z"),  # across the change to summer time
        ("year", "2024-12-31", "2023-12-31T23:00Z", "2024-12-31T23:00Z"),
    ],
)
def test_period_bounds(period: str, until: str | None, start: str, end: str) -> None:
    assert period_bounds(period, until, SIM_TIME, TZ) == (pd.Timestamp(start), pd.Timestamp(end))


def test_period_history_at_each_resolution(config: DashboardConfig, cache: DataCache) -> None:
    def read(period: str, until: str | None = None) -> pd.DataFrame:
        start, end = period_bounds(period, until, SIM_TIME, TZ)
        return period_history(config.store_dir, "substation", period, start, end, live=until is None, cache=cache)

    last_day = read("day")  # the 1-minute table at 5 minutes (the sample's last 2 hours)
    assert len(last_day) == 24 and last_day["p_grid_kw"].eq(5.0).all()
    week = read("week")  # 15-minute rows from 1 June 00:00 local (31 May 22:00 UTC) to 10:00 UTC on 3 June
    assert len(week) == 2 * 96 + 8 + 40 and week.index[0] == pd.Timestamp("2025-05-31T22:00Z")
    assert week["p_grid_kw"].eq(6.0).all() and "p_load_kw" in week
    month = read("month")
    assert len(month) == 60 and (month.index[1] - month.index[0]) == pd.Timedelta(hours=1)
    year = read("year")
    assert (year.index[1] - year.index[0]) == pd.Timedelta(days=1) and year["p_grid_kw"].eq(6.0).all()
    one_day = read("day", "2025-06-02")  # a past day: the 15-minute table
    assert len(one_day) == 96 and one_day.index[0] == pd.Timestamp("2025-06-01T22:00Z")
    assert read("week", "2025-01-10").empty  # nothing stored then


def test_pages_show_the_chosen_period_with_downloads(data_root: Path, config: DashboardConfig) -> None:
    view = live.live_view(config, DataCache(), period="week", lang="en")
    assert view["history"].layout.title.text.startswith("District, 27.05.2025 to 03.06.2025")
    links = {link.children: link.href for link in view["downloads"]}
    csv_href = links["Measured data (CSV)"]
    query = parse_qs(urlsplit(csv_href).query)
    assert query["boundary"] == ["substation"] and query["from"] == ["2025-05-27T10:00:00Z"]
    assert "format=nc" in links["Measured data (NetCDF)"]
    client = create_app(data_root, credentials=USERS).server.test_client()
    auth = {"Authorization": "Basic " + base64.b64encode(f"manager:{USERS['manager']}".encode()).decode()}
    csv = client.get(csv_href, headers=auth)
    assert csv.status_code == 200
    frame = pd.read_csv(io.StringIO(csv.get_data(as_text=True)), index_col="time_utc")
    assert len(frame) == 2 * 96 + 48 and frame["flow:substation/import_kwh"].eq(2.0).all()
    building = buildings.building_view("b1", config, DataCache(), period="month", until="2025-06-02", lang="en")
    assert building["history"].layout.title.text.startswith("b1, 03.05.2025 to 02.06.2025")
    assert any("boundary=b1" in link.href for link in building["downloads"])
    substation = grid.grid_history_view(config, DataCache(), period="year", lang="en")
    names = {trace.name for trace in substation["history"].data}
    assert "grid exchange (import +)" in names and "Grid exchange and losses" in substation["history"].layout.title.text
    measured = scenarios.measured_downloads(config, lang="en")
    assert "the year so far" in str(measured) and "/api/v1/export?boundary=substation" in str(measured)
