"""Fixtures of the dashboard tests: sample data in a temporary data root and its config."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dashboard.data import DashboardConfig, DataCache
from tests.dashboard.sample import write_all

USERS = {"manager": "correct horse battery"}


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    write_all(tmp_path)
    return tmp_path


@pytest.fixture
def config(data_root: Path) -> DashboardConfig:
    return DashboardConfig(data_root, data_root / "live", data_root / "scenarios")


@pytest.fixture
def cache() -> DataCache:
    return DataCache()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """One headless Chromium per browser test module, started here rather than by pytest-playwright.

    See :func:`tests.dashboard.browser.chromium_browser`.
    """
    from tests.dashboard.browser import chromium_browser

    with chromium_browser() as browser:
        yield browser
