"""Fixtures of the live-twin tests: the connector tests' leftover checks, and a small simulated field."""

from __future__ import annotations

from tests.connectors.conftest import no_leftover_tasks, no_leftover_threads, server_loop

__all__ = ["no_leftover_tasks", "no_leftover_threads", "server_loop"]
