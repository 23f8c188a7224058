"""Screenshots of every dashboard page in headless Chromium (for the README), German by default.

    TWIN_DASHBOARD_USER=... TWIN_DASHBOARD_PASSWORD=... \\
        .venv/bin/python bench/dashboard_screenshots.py http://127.0.0.1:8050 docs/screenshots [RESULT] [--lang en]

RESULT names a scenario result whose worst hour the Grid page shows instead of the live state.
The language is set as the header's switch sets it (the ``twin_lang`` cookie).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from playwright.sync_api import sync_playwright

from dashboard.i18n import COOKIE, LANGUAGES, t

PAGES = {"live": "/", "buildings": "/buildings", "year": "/year", "grid": "/grid", "scenarios": "/scenarios"}
#: What shows that a page's callbacks filled it (the Year page reads a year of quarters first).
READY = {"year": "#year-tiles > div", "scenarios": "#scenario-kpi-table"}
#: Pages cut to this height (a building's device table can be long; its first rows tell enough). [px]
CUT_PX = {"buildings": 1400}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="the dashboard's base URL")
    parser.add_argument("out", type=Path, help="folder of the PNG files")
    parser.add_argument("result", nargs="?", help="scenario result of the Grid page's worst hour")
    parser.add_argument("--lang", choices=LANGUAGES, default="de", help="language of the pages (default: de)")
    parser.add_argument("--width", type=int, default=1280, help="viewport width [px]")
    args = parser.parse_args()
    base, out = args.url.rstrip("/"), args.out
    out.mkdir(parents=True, exist_ok=True)
    credentials = {"username": os.environ["TWIN_DASHBOARD_USER"], "password": os.environ["TWIN_DASHBOARD_PASSWORD"]}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        context = browser.new_context(http_credentials=credentials, viewport={"width": args.width, "height": 900})
        context.add_cookies([{"name": COOKIE, "value": args.lang, "url": base}])
        page = context.new_page()
        for name, path in PAGES.items():
            page.goto(base + path)
            page.wait_for_selector(".main-svg", timeout=30_000)
            if name in READY:
                page.wait_for_selector(READY[name], timeout=60_000)
            if name == "grid" and args.result:  # a scenario's worst hour instead of the live state
                page.locator("#grid-source").click()
                page.get_by_role("option", name=t("grid.scenario", args.lang, name=args.result)).click()
                page.wait_for_timeout(1500)
                page.locator("#grid-worst-loading").click()
            page.wait_for_timeout(2500)
            cut = {"clip": {"x": 0, "y": 0, "width": args.width, "height": CUT_PX[name]}} if name in CUT_PX else {}
            page.screenshot(path=str(out / f"{name}.png"), full_page=True, **cut)
            print(out / f"{name}.png", (out / f"{name}.png").stat().st_size // 1024, "KiB")
        browser.close()


if __name__ == "__main__":
    main()
