"""Ensembles in Debian's headless Chromium: the Scenarios page's intervals and probabilities, the Year page's band.

One app (sample data plus the ensembles of ``baseline`` and ``more_pv``) and one browser for the
module, as in :mod:`tests.dashboard.test_browser`; screenshots go to ``test-artifacts/``.
"""

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
from tests.dashboard.ensemble_sample import MEMBERS, write_ensemble_sample
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
    playwright = sync_playwright().start()
    try:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield launched
        launched.close()
    finally:
        playwright.stop()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("dashboard")
    _, results = write_all(root)
    write_ensemble_sample(results, "baseline")
    write_ensemble_sample(results, "more_pv", offset_mwh=-4.0)
    server = make_server("127.0.0.1", 0, create_app(root, credentials=USERS, refresh_s=0.5).server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)


@pytest.fixture
def tab(chromium: Browser, served: str) -> Iterator[Page]:
    """A logged-in page in a fresh context, the language set to English."""
    user, password = next(iter(USERS.items()))
    context = chromium.new_context(
        http_credentials={"username": user, "password": password}, viewport={"width": 1400, "height": 1000}
    )
    context.add_cookies([{"name": COOKIE, "value": "en", "url": served}])
    try:
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        yield page
    finally:
        context.close()


def _shot(tab: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    tab.screenshot(path=str(ARTIFACTS / f"dashboard-{name}.png"), full_page=True)


def test_scenarios_page_shows_intervals_probabilities_and_members(served: str, tab: Page) -> None:
    tab.goto(served + "/scenarios")
    intervals = tab.locator("#ensemble-kpi-table")
    expect(intervals).to_contain_text("P50 (P10 - P90)")
    expect(intervals).to_contain_text("more_pv")
    expect(intervals).to_contain_text("-6 (-49 - 37)")  # baseline's all-carrier balance [MWh]
    probabilities = tab.locator("#ensemble-probability-table")
    expect(probabilities).to_contain_text("P(transformer above 100 %)")
    expect(probabilities).to_contain_text(f"70 % (7 of {MEMBERS})")
    expect(tab.locator("#ensemble-members")).to_contain_text("energy-neutral")
    expect(tab.locator("#ensemble-members .main-svg").first).to_be_visible()
    with tab.expect_download() as download:
        tab.get_by_role("link", name="baseline: member table (CSV)").click()
    assert download.value.suggested_filename == "baseline-ensemble-members.csv"
    # one ensemble alone: more_pv taken out of the choice
    tab.locator("#ensemble-select").click()
    tab.get_by_role("option", name=f"more_pv ({MEMBERS} members)").click()
    tab.keyboard.press("Escape")
    expect(intervals).not_to_contain_text("more_pv")
    expect(intervals).to_contain_text("baseline")
    _shot(tab, "scenarios-ensembles")


def test_year_page_shows_the_band(served: str, tab: Page) -> None:
    tab.goto(served + "/year")
    expect(tab.locator("#year-tiles")).to_contain_text("Projected year end, P10 to P90")
    expect(tab.locator("#year-tiles")).to_contain_text(f"5 of {MEMBERS}")
    expect(tab.locator("#year-cumulative")).to_contain_text("P10-P90 of the baseline ensemble")
    expect(tab.locator("#year-cumulative .main-svg").first).to_be_visible()
    _shot(tab, "year-band")
