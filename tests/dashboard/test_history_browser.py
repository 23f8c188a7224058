"""The period picker in Debian's headless Chromium: a week, a past day and the year, and the period's download."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from dashboard import create_app
from tests.dashboard.browser import logged_in_page, require_chromium, serve_app, shot
from tests.dashboard.conftest import USERS
from tests.dashboard.sample import write_all

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

require_chromium()


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("history")
    write_all(root)
    with serve_app(create_app(root, credentials=USERS, refresh_s=60.0)) as url:
        yield url


@pytest.fixture
def tab(chromium: Browser, base_url: str) -> Iterator[Page]:
    """A logged-in page in a fresh context, the language set to English."""
    with logged_in_page(chromium, base_url, accept_downloads=True) as page:
        yield page


def test_period_picker_on_the_live_page(base_url: str, tab: Page) -> None:
    tab.goto(base_url + "/")
    chart = tab.locator("#live-history")
    expect(chart).to_contain_text("last 24 hours")
    tab.locator("#live-period").get_by_text("Week").click()
    expect(chart).to_contain_text("27.05.2025 to 03.06.2025")
    expect(chart.locator(".main-svg").first).to_be_visible()
    with tab.expect_download() as download:
        tab.locator("#live-downloads").get_by_role("link", name="Measured data (CSV)").click()
    assert download.value.suggested_filename == "substation-15min-20250527T1000Z-20250603T1000Z.csv"
    lines = Path(download.value.path()).read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("time_utc,") and len(lines) == 1 + 240  # the quarter-hours stored in that week
    tab.locator("input#live-until").fill("02.06.2025")
    tab.locator("input#live-until").press("Enter")
    expect(chart).to_contain_text("27.05.2025 to 02.06.2025")
    tab.locator("#live-period").get_by_text("Year").click()
    expect(chart).to_contain_text("01.01.2025 to 02.06.2025")
    shot(tab, "dashboard-live-period")


def test_period_picker_on_the_buildings_and_grid_pages(base_url: str, tab: Page) -> None:
    tab.goto(base_url + "/buildings")
    expect(tab.locator("#building-history")).to_contain_text("b1, last 24 hours")
    tab.locator("#building-period").get_by_text("Month").click()
    expect(tab.locator("#building-history")).to_contain_text("b1, 03.05.2025 to 03.06.2025")
    expect(tab.locator("#building-downloads").get_by_role("link", name="Measured data (NetCDF)")).to_have_attribute(
        "href",
        "/api/v1/export?boundary=b1&from=2025-05-03T10%3A00%3A00Z&to=2025-06-03T10%3A00%3A00Z"
        "&resolution=15min&format=nc",
    )
    tab.goto(base_url + "/grid")
    tab.locator("#grid-period").get_by_text("Week").click()
    expect(tab.locator("#grid-history")).to_contain_text("Grid exchange and losses at the substation, 27.05.2025")
