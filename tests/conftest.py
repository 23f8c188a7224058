"""Shared fixtures: paths to the repository, the shared reference data and the twin command."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = REPO_ROOT.parent / "shared"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED_DIR.is_dir():
        pytest.fail(f"reference data folder {SHARED_DIR} is missing: clone the project beside shared/")
    return SHARED_DIR


@pytest.fixture(scope="session")
def twin_exe() -> Path:
    """The installed ``twin`` console script of this environment."""
    exe = Path(sys.executable).parent / "twin"
    assert exe.exists(), f"{exe} is missing: run ./run test to create the environment"
    return exe
