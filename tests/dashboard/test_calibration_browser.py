"""The Calibration page in headless Chromium (German, the default): the menu, the district, a building, its gas."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from werkzeug.serving import make_server

from dashboard import create_app
from tests.conftest import REPO_ROOT
from tests.dashboard.calibration_sample import write_calibration_sample
from tests.dashboard.conftest import USERS
from tests.dashboard.sample import write_all

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO_ROOT / "test-artifacts"
TIMEOUT_MS = 15_000
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]

expect.set_options(timeout=TIMEOUT_MS)

if not CHROMIUM.exists():
    pytest.skip("Debian's chromium is missing (./run test installs it)", allow_module_level=True)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """One Chromium for this module (started here: see tests/dashboard/test_browser.py)."""
    playwright = sync_playwright().start()
    try:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield launched
        launched.close()
    finally:
        playwright.stop()


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("calibration")
    write_all(root)
    write_calibration_sample(root)  # DATA_ROOT/calibration.yaml: the default
    app = create_app(root, credentials=USERS, refresh_s=60.0)
    server = make_server("127.0.0.1", 0, app.server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)


@pytest.fixture
def tab(chromium: Browser) -> Iterator[Page]:
    user, password = next(iter(USERS.items()))
    context = chromium.new_context(
        http_credentials={"username": user, "password": password}, viewport={"width": 1400, "height": 1000}
    )
    try:
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        yield page
    finally:
        context.close()


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
    ARTIFACTS.mkdir(exist_ok=True)
    tab.screenshot(path=str(ARTIFACTS / "dashboard-calibration.png"), full_page=True)
