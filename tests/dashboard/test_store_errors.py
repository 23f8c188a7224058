"""Pages on a damaged store table: a message on the page and one log line, not HTTP 500."""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from dashboard import create_app
from dashboard.data import DashboardConfig, DataCache
from dashboard.i18n import COOKIE
from dashboard.pages.buildings import building_view
from dashboard.pages.live import live_view
from tests.dashboard.conftest import USERS


def _garble(folder: Path) -> None:
    for chunk in folder.rglob("*"):
        if chunk.is_file():
            chunk.write_bytes(b"not a chunk" * 8)


DAMAGE: dict[str, Callable[[Path], None]] = {
    "torn zarr.json": lambda live: (live / "means_15min.zarr" / "zarr.json").write_text('{"zarr_format": '),
    "empty value zarr.json": lambda live: (live / "means_15min.zarr" / "value" / "zarr.json").write_text(""),
    "garbage value chunk": lambda live: _garble(live / "means_15min.zarr" / "value" / "c"),
    "garbage time chunk": lambda live: _garble(live / "means_15min.zarr" / "time" / "c"),
    "time array gone": lambda live: shutil.rmtree(live / "means_15min.zarr" / "time"),
    "torn commit file": lambda live: (live / "means_15min.commit.json").write_text('{"rows": '),
    "commit file a list": lambda live: (live / "means_15min.commit.json").write_text("[1]"),
}

YEAR_CALLBACK = {
    "output": "..year-tiles.children...year-cumulative.figure...year-monthly.figure..",
    "outputs": [
        {"id": "year-tiles", "property": "children"},
        {"id": "year-cumulative", "property": "figure"},
        {"id": "year-monthly", "property": "figure"},
    ],
    "inputs": [{"id": "year-interval", "property": "n_intervals", "value": 0}],
    "changedPropIds": ["year-interval.n_intervals"],
    "state": [],
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_year_page_says_the_table_cannot_be_read(
    data_root: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    DAMAGE[damage](data_root / "live")
    client = create_app(data_root, credentials=USERS).server.test_client()
    client.set_cookie(COOKIE, "en")
    token = base64.b64encode(f"manager:{USERS['manager']}".encode()).decode()
    with caplog.at_level("WARNING"):
        response = client.post(
            "/_dash-update-component", json=YEAR_CALLBACK, headers={"Authorization": f"Basic {token}"}
        )
    assert response.status_code == 200
    tiles = json.loads(response.get_data(as_text=True))["response"]["year-tiles"]["children"]
    text = json.dumps(tiles)
    assert "No year balance: the 15-minute table of" in text and "cannot be read" in text
    assert "year-store-error" in text
    lines = [r for r in caplog.records if r.name == "dashboard.pages.year"]
    assert len(lines) == 1 and "cannot be read" in lines[0].getMessage() and lines[0].exc_info is None
    assert "Traceback" not in caplog.text


def test_year_page_of_a_sound_table_has_no_message(data_root: Path) -> None:
    client = create_app(data_root, credentials=USERS).server.test_client()
    client.set_cookie(COOKIE, "en")
    token = base64.b64encode(f"manager:{USERS['manager']}".encode()).decode()
    response = client.post("/_dash-update-component", json=YEAR_CALLBACK, headers={"Authorization": f"Basic {token}"})
    assert response.status_code == 200 and "year-store-error" not in response.get_data(as_text=True)
    assert "Days with data" in response.get_data(as_text=True)


@pytest.mark.parametrize("table", ["1min", "15min"])
def test_live_and_buildings_pages_say_the_history_cannot_be_read(
    config: DashboardConfig, table: str, caplog: pytest.LogCaptureFixture
) -> None:
    live = config.store_dir
    (live / f"means_{table}.zarr" / "zarr.json").write_text("{torn")
    if table == "15min":  # the 15-minute table is read when the 1-minute one holds nothing
        shutil.rmtree(live / "means_1min.zarr")
        (live / "means_1min.commit.json").unlink()
    with caplog.at_level("WARNING"):
        view = live_view(config, DataCache(), lang="en")
        building = building_view("b1", config, DataCache(), lang="en")
    alerts = json.dumps([a.to_plotly_json() for a in view["alerts"]], default=str)
    label = "1-minute" if table == "1min" else "15-minute"
    assert f"No history: the {label} table of" in alerts and "alert bad" in alerts
    assert "cannot be read" in json.dumps(view["history"].to_plotly_json(), default=str)
    assert "cannot be read" in json.dumps(building["history"].to_plotly_json(), default=str)
    lines = [r for r in caplog.records if r.name.startswith("dashboard.pages")]
    assert [r.name for r in lines] == ["dashboard.pages.live", "dashboard.pages.buildings"]
    assert all(r.exc_info is None and label in r.getMessage() for r in lines)
