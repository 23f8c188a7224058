"""What the dashboard's browser tests share: Debian's Chromium, the app on a free port, a logged-in page.

Each browser test module starts its own Chromium (a module fixture over :func:`chromium_browser`)
rather than pytest-playwright's session fixtures: Playwright's sync API keeps an event loop
running in the main thread while it is started, and every later test calling ``asyncio.run``
would fail ("cannot be called from a running event loop").
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from dash import Dash
from playwright.sync_api import Browser, Page, expect, sync_playwright
from werkzeug.serving import make_server

from dashboard.i18n import COOKIE
from tests.conftest import REPO_ROOT
from tests.dashboard.conftest import USERS

__all__ = [
    "ARTIFACTS",
    "CHROMIUM",
    "TIMEOUT_MS",
    "chromium_browser",
    "logged_in_page",
    "require_chromium",
    "serve_app",
    "shot",
]

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO_ROOT / "test-artifacts"
#: Longest wait of a browser step (an expectation, a click, a navigation). [ms]
TIMEOUT_MS = 15_000
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

expect.set_options(timeout=TIMEOUT_MS)


def require_chromium() -> None:
    """Skip the calling module when Debian's chromium is missing (``./run test`` installs it)."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is missing (./run test installs it)", allow_module_level=True)


@contextmanager
def chromium_browser() -> Iterator[Browser]:
    """Debian's headless Chromium through Playwright, stopped on exit."""
    playwright = sync_playwright().start()
    try:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield launched
        launched.close()
    finally:
        playwright.stop()


@contextmanager
def serve_app(app: Dash) -> Iterator[str]:
    """The app's Flask server on a free 127.0.0.1 port in a thread; yields its base URL."""
    server = make_server("127.0.0.1", 0, app.server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)


@contextmanager
def logged_in_page(
    browser: Browser,
    base_url: str,
    *,
    lang: str | None = "en",
    credentials: tuple[str, str] | None = None,
    **context_options: Any,
) -> Iterator[Page]:
    """A page in a fresh context with HTTP credentials (default: the first test user).

    ``lang`` sets the language cookie (``None``: none, so the dashboard's default, German).
    """
    user, password = credentials or next(iter(USERS.items()))
    context = browser.new_context(
        http_credentials={"username": user, "password": password},
        viewport={"width": 1400, "height": 1000},
        **context_options,
    )
    if lang is not None:
        context.add_cookies([{"name": COOKIE, "value": lang, "url": base_url}])
    try:
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        yield page
    finally:
        context.close()


def shot(page: Page, name: str) -> None:
    """A full-page screenshot to ``test-artifacts/NAME.png`` (ignored by git)."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
