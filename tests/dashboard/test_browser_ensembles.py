"""Ensembles in Debian's headless Chromium: the Scenarios page's intervals and probabilities, the Year page's band.

One app (sample data plus the ensembles of ``baseline`` and ``more_pv``) and one browser for the
module, as in :mod:`tests.dashboard.test_browser`; screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from dashboard import create_app
from tests.dashboard.browser import logged_in_page, require_chromium, serve_app, shot
from tests.dashboard.conftest import USERS
from tests.dashboard.ensemble_sample import MEMBERS, write_ensemble_sample
from tests.dashboard.sample import write_all

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

require_chromium()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("dashboard")
    _, results = write_all(root)
    write_ensemble_sample(results, "baseline")
    write_ensemble_sample(results, "more_pv", offset_mwh=-4.0)
    with serve_app(create_app(root, credentials=USERS, refresh_s=0.5)) as url:
        yield url


@pytest.fixture
def tab(chromium: Browser, served: str) -> Iterator[Page]:
    """A logged-in page in a fresh context, the language set to English."""
    with logged_in_page(chromium, served) as page:
        yield page


def _shot(tab: Page, name: str) -> None:
    shot(tab, f"dashboard-{name}")


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
