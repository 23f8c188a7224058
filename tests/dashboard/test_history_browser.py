"""The period picker in Debian's headless Chromium: a week, a past day and the year, and the period's download."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from werkzeug.serving import make_server

from dashboard import create_app
from dashboard.i18n import COOKIE
from tests.conftest import REPO_ROOT
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
    root = tmp_path_factory.mktemp("history")
    write_all(root)
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
def tab(chromium: Browser, base_url: str) -> Iterator[Page]:
    """A logged-in page in a fresh context, the language set to English."""
    user, password = next(iter(USERS.items()))
    context = chromium.new_context(
        http_credentials={"username": user, "password": password},
        viewport={"width": 1400, "height": 1000},
        accept_downloads=True,
    )
    context.add_cookies([{"name": COOKIE, "value": "en", "url": base_url}])
    try:
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        yield page
    finally:
        context.close()


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
    ARTIFACTS.mkdir(exist_ok=True)
    tab.screenshot(path=str(ARTIFACTS / "dashboard-live-period.png"), full_page=True)


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
