"""Fixtures of the connector tests: no test may leave asyncio tasks or server threads behind.

Servers bind 127.0.0.1 on ports the OS picks; every wait is bounded by a deadline.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio

from connectors.device_server import SERVER_THREAD_PREFIX, ServerLoopThread

#: Longest time a test waits for leftovers to go away before failing. [s]
LEFTOVER_GRACE_S = 2.0


@pytest.fixture(autouse=True)
def no_leftover_threads() -> Iterator[None]:
    """Fail a test that leaves server threads (or any new non-daemon thread) running."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + LEFTOVER_GRACE_S
    while True:
        left = [
            thread
            for thread in threading.enumerate()
            if thread not in before and (thread.name.startswith(SERVER_THREAD_PREFIX) or not thread.daemon)
        ]
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    if left:
        pytest.fail(f"test left threads running: {[thread.name for thread in left]}")


@pytest_asyncio.fixture(autouse=True)
async def no_leftover_tasks() -> AsyncIterator[None]:
    """Fail a test that leaves asyncio tasks behind in its event loop (as pymodbus' own tests do)."""
    yield
    current = asyncio.current_task()
    pending = [task for task in asyncio.all_tasks() if task is not current and not task.done()]
    if pending:
        await asyncio.wait(pending, timeout=LEFTOVER_GRACE_S)
    left = [task for task in pending if not task.done()]
    for task in left:
        task.cancel()
    if left:
        await asyncio.gather(*left, return_exceptions=True)
        pytest.fail(f"test left asyncio tasks behind: {[task.get_name() for task in left]}")


@pytest.fixture
def server_loop() -> Iterator[ServerLoopThread]:
    """A background event loop for device servers used by synchronous clients (pysunspec2)."""
    with ServerLoopThread() as loop:
        yield loop
