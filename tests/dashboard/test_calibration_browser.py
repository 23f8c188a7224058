"""The Calibration page in headless Chromium (German, the default): the menu, the district, a building, its gas."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from dashboard import create_app
from tests.dashboard.browser import logged_in_page, require_chromium, serve_app, shot
from tests.dashboard.calibration_sample import write_calibration_sample
from tests.dashboard.conftest import USERS
from tests.dashboard.sample import write_all

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

require_chromium()


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("calibration")
    write_all(root)
    write_calibration_sample(root)  # DATA_ROOT/calibration.yaml: the default
    with serve_app(create_app(root, credentials=USERS, refresh_s=60.0)) as url:
        yield url


@pytest.fixture
def tab(chromium: Browser, base_url: str) -> Iterator[Page]:
    """A logged-in page in a fresh context, no language cookie (German, the default)."""
    with logged_in_page(chromium, base_url, lang=None) as page:
        yield page


def test_calibration_page_district_building_and_gas(base_url: str, tab: Page) -> None:
    tab.goto(base_url + "/")
    tab.locator("#nav-calibration").click()  # in the menu, opened without a reload
    expect(tab.locator("#nav-calibration")).to_have_class(re.compile(r"\bactive\b"))
    expect(tab.locator("#calibration-status")).to_contain_text("Kalibrierung von Sample")
    tiles = tab.locator("#calibration-tiles")
    expect(tiles).to_contain_text("9,5 % -> 4,2 %")
    expect(tiles).to_contain_text("1 von 2")
    expect(tab.locator("#calibration-pv-table")).to_contain_text("DRIFT")
    expect(tab.locator("#calibration-pv-table tbody tr")).to_have_count(2)
    expect(tab.locator("#calibration-buildings-table")).to_contain_text("nicht bestimmbar")
    expect(tab.locator("#calibration-daily")).to_contain_text("Quartier (Summe der Gebäude)")
    expect(tab.locator("#calibration-daily .main-svg").first).to_be_visible()
    tab.locator("#calibration-building").click()
    tab.get_by_role("option", name="b1").click()
    expect(tab.locator("#calibration-daily")).to_contain_text("Tagesenergie b1")
    expect(tab.locator("#calibration-residual")).to_contain_text("+23,1 %")
    tab.locator("#calibration-quantity").get_by_text("Gas").click()
    expect(tab.locator("#calibration-residual")).to_contain_text("vorher +")
    expect(tab.locator("#calibration-daily .scatterlayer .trace")).to_have_count(3)
    tab.locator("#calibration-building").click()
    tab.get_by_role("option", name="b2").click()
    expect(tab.locator("#calibration-daily")).to_contain_text("keine Daten des Zählers Gas von b2")
    shot(tab, "dashboard-calibration")
