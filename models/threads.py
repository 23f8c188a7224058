"""A second thread for the year's kernels, where the machine has a core to spare.

A single run in its own process uses both cores of a small machine: the household electricity
beside PV and heat (:func:`models.profiles.district_profiles`), the power flow's two halves
(:mod:`models.powerflow_zbus`). In a Dask worker each worker already has its core, and a second
thread per worker would only contend: the local cluster (:mod:`scenarios.parallel`) calls
:func:`keep_one_thread` in each worker once it has started them (``TWIN_ONE_THREAD=1``,
:data:`ONE_THREAD_ENV`, does the same for any process), and then everything runs on the
calling thread. The numbers are the same either way.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, Final, ParamSpec, TypeVar

__all__ = ["ONE_THREAD_ENV", "keep_one_thread", "second_thread", "side_thread"]

#: Environment variable: ``1`` keeps the kernels on the calling thread (set in Dask workers).
ONE_THREAD_ENV: Final[str] = "TWIN_ONE_THREAD"

_one_thread: list[bool] = [False]  # set by keep_one_thread

P = ParamSpec("P")
T = TypeVar("T")


def keep_one_thread() -> None:
    """Keep this process's kernels on their calling thread from now on (a Dask worker's)."""
    _one_thread[0] = True


def second_thread() -> bool:
    """Return whether a kernel may use a second thread (two cores, not in a one-thread worker)."""
    return not _one_thread[0] and os.environ.get(ONE_THREAD_ENV) != "1" and (os.cpu_count() or 1) >= 2


class _Inline(Executor):
    """An executor that runs each call at once on the calling thread (its exception raised by ``submit``)."""

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        future: Future[T] = Future()
        future.set_result(fn(*args, **kwargs))  # an exception goes to the caller at once
        return future


@contextmanager
def side_thread(name: str) -> Iterator[Executor]:
    """Yield an executor for one side task: a thread named ``name`` or, without a spare core, inline."""
    pool: Any = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name) if second_thread() else _Inline()
    with pool:
        yield pool
