"""A kernel's second thread: on a spare core in a process of its own, inline in a one-thread worker."""

from __future__ import annotations

import threading

import pytest

from models import threads
from models.threads import ONE_THREAD_ENV, second_thread, side_thread


def _ident() -> int:
    return threading.get_ident()


def test_side_task_on_its_own_thread_with_a_spare_core(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ONE_THREAD_ENV, raising=False)
    monkeypatch.setattr(threads.os, "cpu_count", lambda: 2)
    assert second_thread()
    with side_thread("test") as pool:
        assert pool.submit(_ident).result() != threading.get_ident()


@pytest.mark.parametrize(("env", "cores"), [("1", 2), (None, 1)])
def test_side_task_inline_in_a_one_thread_worker_or_on_one_core(
    monkeypatch: pytest.MonkeyPatch, env: str | None, cores: int
) -> None:
    if env is None:
        monkeypatch.delenv(ONE_THREAD_ENV, raising=False)
    else:
        monkeypatch.setenv(ONE_THREAD_ENV, env)
    monkeypatch.setattr(threads.os, "cpu_count", lambda: cores)
    assert not second_thread()
    with side_thread("test") as pool:
        assert pool.submit(_ident).result() == threading.get_ident()
    with side_thread("test") as pool, pytest.raises(ZeroDivisionError):
        pool.submit(lambda: 1 / 0).result()
