"""The Year page on a damaged 15-minute table: a message on the page and one log line, not HTTP 500."""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from dashboard import create_app
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
    token = base64.b64encode(f"manager:{USERS['manager']}".encode()).decode()
    response = client.post("/_dash-update-component", json=YEAR_CALLBACK, headers={"Authorization": f"Basic {token}"})
    assert response.status_code == 200 and "year-store-error" not in response.get_data(as_text=True)
    assert "Days with data" in response.get_data(as_text=True)
