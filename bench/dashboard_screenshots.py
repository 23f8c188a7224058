"""Screenshots of every dashboard page in headless Chromium (for the README).

    TWIN_DASHBOARD_USER=... TWIN_DASHBOARD_PASSWORD=... \\
        .venv/bin/python bench/dashboard_screenshots.py http://127.0.0.1:8050 docs/screenshots
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

PAGES = {"live": "/", "buildings": "/buildings", "year": "/year", "grid": "/grid", "scenarios": "/scenarios"}
#: What shows that a page's callbacks filled it (the Year page reads a year of quarters first).
READY = {"year": "#year-tiles > div"}


def main() -> None:
    base, out = sys.argv[1].rstrip("/"), Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    credentials = {"username": os.environ["TWIN_DASHBOARD_USER"], "password": os.environ["TWIN_DASHBOARD_PASSWORD"]}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        context = browser.new_context(http_credentials=credentials, viewport={"width": 1400, "height": 900})
        page = context.new_page()
        for name, path in PAGES.items():
            page.goto(base + path)
            page.wait_for_selector(".main-svg", timeout=30_000)
            if name in READY:
                page.wait_for_selector(READY[name], timeout=60_000)
            if name == "grid" and len(sys.argv) > 3:  # a scenario's worst hour instead of the live state
                page.locator("#grid-source").click()
                page.get_by_role("option", name=f"scenario {sys.argv[3]}").click()
                page.wait_for_timeout(1500)
                page.locator("#grid-worst-loading").click()
            page.wait_for_timeout(2500)
            page.screenshot(path=str(out / f"{name}.png"), full_page=True)
            print(out / f"{name}.png")
        browser.close()


if __name__ == "__main__":
    main()
