"""The dashboard in Debian's headless Chromium (Playwright): one app and one browser for all browser tests.

Logs in with HTTP credentials, opens every page, a building, a scenario comparison and a grid
step, and watches the live page follow a changed snapshot without a reload (in English, set by
the language cookie); a fresh browser sees German, switches to English and back; a viewer reads
every page and is refused what would change something. Screenshots go to
``test-artifacts/`` (ignored by git).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from dashboard import create_app
from dashboard.auth import VIEWER, Account
from tests.dashboard.browser import (
    TIMEOUT_MS,
    logged_in_page,
    require_chromium,
    serve_app,
    shot,
)
from tests.dashboard.conftest import USERS
from tests.dashboard.sample import FEEDERS, snapshot, write_all
from twin.core.store import write_json_atomic

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

VIEWER_USER, VIEWER_PASSWORD = "guest", "a viewer's password"

require_chromium()


@pytest.fixture
def tab(chromium: Browser, served: tuple[str, Path]) -> Iterator[Page]:
    """A logged-in page (HTTP credentials) in a fresh context, the language set to English."""
    with logged_in_page(chromium, served[0]) as page:
        yield page


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The app on a free 127.0.0.1 port in a thread; yields (base URL, store folder)."""
    root = tmp_path_factory.mktemp("dashboard")
    store, _ = write_all(root)
    app = create_app(root, credentials={**USERS, VIEWER_USER: Account(VIEWER_PASSWORD, VIEWER)}, refresh_s=0.5)
    with serve_app(app) as url:
        yield url, store


def _shot(tab: Page, name: str) -> None:
    shot(tab, f"dashboard-{name}")


def test_login_is_required(served: tuple[str, Path], chromium: Browser) -> None:
    context = chromium.new_context()  # no credentials
    try:
        assert context.request.get(served[0] + "/").status == 401
        assert context.request.get(served[0] + "/healthz").status == 200
    finally:
        context.close()


def test_live_page_updates_without_reload(served: tuple[str, Path], tab: Page) -> None:
    base, store = served
    tab.set_default_timeout(TIMEOUT_MS)
    tab.goto(base + "/")
    tiles = tab.locator("#live-tiles")
    expect(tiles).to_contain_text("12.5 kW")
    expect(tiles).to_contain_text("surplus")
    expect(tab.locator("#live-alerts")).to_contain_text("b2/pv0")
    expect(tab.locator("#live-sankey .main-svg").first).to_be_visible()
    expect(tab.locator("#live-history .main-svg").first).to_be_visible()
    _shot(tab, "live")
    tab.evaluate("window.__no_reload = 1")
    try:
        write_json_atomic(store / "snapshot.json", snapshot(p_grid_kw=-33.3, trafo_percent=111.0))
        expect(tiles).to_contain_text("33.3 kW")
        expect(tiles).to_contain_text("export to the grid")
        expect(tab.locator("#live-alerts")).to_contain_text("transformer loaded 111 %")
        assert tab.evaluate("window.__no_reload") == 1
    finally:
        write_json_atomic(store / "snapshot.json", snapshot())


def test_nav_bar_marks_the_active_page(served: tuple[str, Path], tab: Page) -> None:
    tab.set_default_timeout(TIMEOUT_MS)
    tab.goto(served[0] + "/year")
    expect(tab.locator("#nav-year")).to_have_class(re.compile(r"\bactive\b"))
    expect(tab.locator("#nav-live")).not_to_have_class(re.compile(r"\bactive\b"))
    tab.locator("#nav-grid").click()  # a page change inside the app, without a reload
    expect(tab.locator("#nav-grid")).to_have_class(re.compile(r"\bactive\b"))
    expect(tab.locator("#nav-year")).not_to_have_class(re.compile(r"\bactive\b"))
    tab.locator("#nav-live").click()
    expect(tab.locator("#nav-live")).to_have_class(re.compile(r"\bactive\b"))
    weight = tab.locator("#nav-live").evaluate("e => getComputedStyle(e).fontWeight")
    assert int(weight) >= 700  # the mark shows


def test_buildings_page_and_a_building(served: tuple[str, Path], tab: Page) -> None:
    tab.set_default_timeout(TIMEOUT_MS)
    tab.goto(served[0] + "/buildings")
    expect(tab.locator("#building-device-table")).to_contain_text("b1/meter")
    tab.locator("#building-select").click()
    tab.get_by_role("option", name="b2").click()
    expect(tab.locator("#building-device-table")).to_contain_text("b2/pv0")
    expect(tab.locator("#building-map .main-svg").first).to_be_visible()
    _shot(tab, "buildings")


def test_year_page(served: tuple[str, Path], tab: Page) -> None:
    tab.set_default_timeout(TIMEOUT_MS)
    tab.goto(served[0] + "/year")
    expect(tab.locator("#year-tiles")).to_contain_text("Balance 2025 so far")
    expect(tab.locator("#year-cumulative")).to_contain_text("net zero")
    expect(tab.locator("#year-monthly")).to_contain_text("gas")
    _shot(tab, "year")


def test_grid_page_live_and_the_worst_step(served: tuple[str, Path], tab: Page) -> None:
    tab.set_default_timeout(TIMEOUT_MS)
    write_json_atomic(served[1] / "snapshot.json", snapshot(feeders=FEEDERS))
    tab.goto(served[0] + "/grid")
    expect(tab.locator("#grid-summary")).to_contain_text("live")
    # the live signal per feeder: the blocked feeder with its reason and lowest limit, the busbar free
    rows = tab.locator("#grid-feeder-table tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("block")
    expect(rows.nth(0)).to_contain_text("transformer")
    expect(rows.nth(1)).to_contain_text("busbar")
    tab.locator("#grid-source").click()
    tab.get_by_role("option", name="scenario baseline").click()
    expect(tab.locator("#grid-summary")).to_contain_text("scenario baseline, step 0")
    tab.locator("#grid-worst-loading").click()
    expect(tab.locator("#grid-summary")).to_contain_text("step 40")
    expect(tab.locator("#grid-summary")).to_contain_text("transformer 105 %")
    expect(tab.locator("#grid-map")).to_contain_text("loading > 100 %")
    _shot(tab, "grid")


def test_scenario_comparison_and_download(served: tuple[str, Path], tab: Page) -> None:
    tab.set_default_timeout(TIMEOUT_MS)
    tab.goto(served[0] + "/scenarios")
    table = tab.locator("#scenario-kpi-table")
    expect(table).to_contain_text("baseline")
    expect(table).to_contain_text("more_pv")
    expect(tab.locator("#scenario-duration")).to_contain_text("Load duration curve")
    with tab.expect_download() as download:
        tab.get_by_role("link", name="KPIs (CSV)").first.click()
    assert download.value.suggested_filename == "baseline-kpis.csv"
    _shot(tab, "scenarios")


def test_german_by_default_and_the_language_switch(served: tuple[str, Path], chromium: Browser) -> None:
    base = served[0]
    user, password = next(iter(USERS.items()))
    context = chromium.new_context(  # no language cookie: a first visit
        http_credentials={"username": user, "password": password}, viewport={"width": 1400, "height": 1000}
    )
    try:
        tab = context.new_page()
        tab.set_default_timeout(TIMEOUT_MS)
        tab.goto(base + "/")
        tiles = tab.locator("#live-tiles")
        expect(tab.locator("#nav-buildings")).to_have_text("Gebäude")
        expect(tiles).to_contain_text("Autarkiegrad heute")
        expect(tiles).to_contain_text("12,5 kW")
        expect(tiles).to_contain_text("42,0 %")
        expect(tab.locator("#live-history")).to_contain_text("Leistung [kW]")
        assert tab.locator("[lang=de]").count() == 1  # the frame says which language it is in
        tab.locator("#lang-en").click()  # reloads the page in English
        expect(tab.locator("#nav-buildings")).to_have_text("Buildings")
        expect(tiles).to_contain_text("Self-sufficiency today")
        expect(tiles).to_contain_text("12.5 kW")
        expect(tiles).to_contain_text("42.0 %")
        expect(tab.locator("#live-history")).to_contain_text("power [kW]")
        assert tab.locator("[lang=en]").count() == 1
        assert tab.url.rstrip("/") == base
        tab.goto(base + "/year")  # remembered for this browser
        expect(tab.locator("#year-tiles")).to_contain_text("Days with data")
        tab.locator("#lang-de").click()  # back to German, on the same page
        expect(tab.locator("#year-tiles")).to_contain_text("Tage mit Daten")
        assert tab.url == base + "/year"
        expect(tab.locator("#year-monthly")).to_contain_text("Energie [MWh]")
    finally:
        context.close()


def test_the_viewer_reads_every_page_and_changes_nothing(served: tuple[str, Path], chromium: Browser) -> None:
    base = served[0]
    context = chromium.new_context(
        http_credentials={"username": VIEWER_USER, "password": VIEWER_PASSWORD},
        viewport={"width": 1400, "height": 1000},
    )
    try:
        tab = context.new_page()
        tab.set_default_timeout(TIMEOUT_MS)
        tab.goto(base + "/")
        expect(tab.locator("#user-role")).to_have_text("angemeldet als guest (nur lesen)")
        expect(tab.locator("#live-tiles")).to_contain_text("12,5 kW")
        tab.goto(base + "/scenarios")
        expect(tab.locator("#scenario-kpi-table")).to_contain_text("more_pv")
        assert context.request.get(base + "/api/v1/snapshot").status == 200
        assert context.request.post(base + "/api/v1/snapshot").status == 403
    finally:
        context.close()
