"""Fixtures of the live-twin tests: the connector tests' leftover checks, and a small simulated field."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connectors.device_server import ServerLoopThread
from tests.connectors.conftest import no_leftover_tasks, no_leftover_threads, server_loop
from tests.connectors.small_field import SmallField, small_field

__all__ = ["no_leftover_tasks", "no_leftover_threads", "server_loop"]


@pytest.fixture
def field(server_loop: ServerLoopThread) -> Iterator[SmallField]:
    """A small field of two buildings served on free ports of the test's server loop."""
    running = small_field(2)
    for server in running.servers.values():
        server_loop.serve(server)
    yield running
