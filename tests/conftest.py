"""Shared fixtures: repository paths, the shared reference data, the twin command, one grid cache
folder per test session (so the SimBench net is built at most once), and Modbus clients."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pymodbus.client import ModbusTcpClient

from models.grid_source import CACHE_DIR_ENV

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


@pytest.fixture(scope="session", autouse=True)
def grid_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Point the grid cache at a session folder (or keep ``$TWIN_CACHE_DIR`` if CI sets one)."""
    folder = Path(os.environ.get(CACHE_DIR_ENV) or tmp_path_factory.mktemp("grid-cache"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(CACHE_DIR_ENV, str(folder))
        yield folder


@pytest.fixture
def modbus_client() -> Iterator[Callable[..., ModbusTcpClient]]:
    """Make pymodbus TCP clients to 127.0.0.1 (no retries, no reconnect delay); all closed afterwards."""
    clients: list[ModbusTcpClient] = []

    def make(port: int, timeout_s: float = 1.0) -> ModbusTcpClient:
        client = ModbusTcpClient("127.0.0.1", port=port, timeout=timeout_s, retries=0, reconnect_delay=0)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
