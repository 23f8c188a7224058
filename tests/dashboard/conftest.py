"""Fixtures of the dashboard tests: sample data in a temporary data root and its config."""

from __future__ import annotations

from pathlib import Path

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
