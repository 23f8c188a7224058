"""Shared fixtures: one grid cache folder per test session, so the SimBench net is built at most once."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from models.grid_source import CACHE_DIR_ENV


@pytest.fixture(scope="session", autouse=True)
def grid_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Point the grid cache at a session folder (or keep ``$TWIN_CACHE_DIR`` if CI sets one)."""
    folder = Path(os.environ.get(CACHE_DIR_ENV) or tmp_path_factory.mktemp("grid-cache"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(CACHE_DIR_ENV, str(folder))
        yield folder
