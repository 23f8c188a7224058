"""Run many scenarios: in-process, on a local Dask cluster, or on any dask.distributed scheduler.

One scenario is one task. Workers compute the shared inputs (district, weather and
load shapes, prepared power flows) once per district, weather and year and keep
them in a per-process cache (:func:`worker_shared`), write the scenario's files
themselves and return only the KPIs, so with a remote scheduler ``out_dir`` must be
storage every worker and the client share. Workers run one thread each and the
power flow on one solver thread (FIELD-NOTES: Dask). Local workers start without
distributed's ``MALLOC_TRIM_THRESHOLD_=65536``, which made them 1.5-2x slower per scenario,
and without the workers' statistical profiler, which cost 5-15 % of their CPU.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from models.threads import keep_one_thread
from scenarios.config import Scenario
from scenarios.report import write_plotly_js
from scenarios.results import SHARED_PLOTLY_JS
from scenarios.runner import SharedInputs, run_scenario, shared_key
from scenarios.shared_cache import cached_shared
from twin.core.errors import ConfigError, TwinError

__all__ = ["cluster_client", "run_in_process", "run_on_dask", "run_scenarios", "worker_shared"]

logger = logging.getLogger(__name__)

#: Called with (KPIs or None, error text or None) after each scenario.
Progress = Callable[[dict[str, Any] | None, str | None], None]


def worker_shared(
    district: str, weather: str | None, year: int, threads: int = 1, *, use_cache: bool = True
) -> SharedInputs:
    """Shared inputs, computed once per process and key (the cache of a Dask worker).

    A new process reads them from the disk cache (:func:`scenarios.shared_cache.cached_shared`)
    unless ``use_cache`` is False.
    """
    return _cached_shared(district, weather, year, threads, use_cache)


@functools.lru_cache(maxsize=4)
def _cached_shared(district: str, weather: str | None, year: int, threads: int, use_cache: bool) -> SharedInputs:
    return cached_shared(district, weather, year, threads=threads, use_cache=use_cache)


def run_scenario_task(scenario: Scenario, out_dir: str | None, use_cache: bool = True) -> dict[str, Any]:
    """One Dask task: run a scenario with the worker's cached shared inputs.

    Bad input is returned as ``{"scenario": name, "error": message}`` so that one bad
    scenario does not stop a sweep.
    """
    try:
        shared = worker_shared(*shared_key(scenario), use_cache=use_cache)
        return run_scenario(scenario, shared, out_dir, plotly_js=SHARED_PLOTLY_JS if out_dir else None)
    except TwinError as err:
        return {"scenario": scenario.name, "error": str(err)}


def run_in_process(
    scenarios: Sequence[Scenario],
    out_dir: str | Path | None,
    *,
    threads: int = 2,
    progress: Progress | None = None,
    use_cache: bool = True,
) -> list[dict[str, Any]]:
    """Run scenarios one after the other in this process (shared inputs computed once per key)."""
    results = []
    if out_dir is not None:
        write_plotly_js(Path(out_dir))
    for scenario in scenarios:
        shared = worker_shared(*shared_key(scenario), threads=threads, use_cache=use_cache)
        kpis = run_scenario(scenario, shared, out_dir, plotly_js=SHARED_PLOTLY_JS if out_dir else None)
        results.append(kpis)
        if progress:
            progress(kpis, None)
    return results


@contextmanager
def cluster_client(*, workers: int | None = None, scheduler: str | None = None) -> Iterator[Any]:
    """A dask.distributed client: of a given scheduler address, or of a new LocalCluster.

    The LocalCluster has ``workers`` processes of one thread each, binds its
    dashboard to 127.0.0.1 on a free port, and is closed on exit.
    """
    import dask
    from dask.distributed import Client, LocalCluster

    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="10s")
        except OSError as err:
            raise ConfigError(f"cannot reach the Dask scheduler: {err}", field="--scheduler") from None
        try:
            yield client
        finally:
            client.close()
        return
    n_workers = workers or max(1, min(os.cpu_count() or 1, 8))
    os.environ.setdefault("NUMBA_CACHE_DIR", str(Path.home() / ".cache" / "beucha-twin" / "numba"))
    # distributed starts workers with MALLOC_TRIM_THRESHOLD_=65536: glibc then hands freed memory
    # back at once and every year-long array is faulted in again - scenarios ran 1.5-2x slower in
    # a worker than in the main process. Keep the other settings (one BLAS/OpenMP thread).
    environ = {
        key: value
        for key, value in dask.config.get("distributed.nanny.pre-spawn-environ", {}).items()
        if key != "MALLOC_TRIM_THRESHOLD_"
    }
    # The workers' statistical profiler samples every thread's stack each 10 ms: 5-15 % of a year's
    # CPU in a worker (the profile pages of the Dask dashboard stay empty for these workers).
    settings = {"distributed.nanny.pre-spawn-environ": environ, "distributed.worker.profile.enabled": False}
    with (
        dask.config.set(settings),
        LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address="127.0.0.1:0",
            host="127.0.0.1",
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster) as client,
    ):
        logger.info("Dask dashboard at %s", client.dashboard_link)
        client.run(keep_one_thread)  # a worker has its core: no second thread per worker
        yield client


def run_on_dask(
    client: Any,
    scenarios: Sequence[Scenario],
    out_dir: str | Path | None,
    *,
    progress: Progress | None = None,
    use_cache: bool = True,
) -> list[dict[str, Any]]:
    """Submit one task per scenario and collect the KPIs as they complete (in input order)."""
    from dask.distributed import as_completed

    target = None if out_dir is None else str(Path(out_dir).resolve())
    if target is not None:
        write_plotly_js(Path(target))
    futures = [
        client.submit(
            run_scenario_task, scenario, target, use_cache, key=f"scenario-{scenario.name}-{number}", pure=False
        )
        for number, scenario in enumerate(scenarios)
    ]
    position = {future.key: number for number, future in enumerate(futures)}
    results: list[dict[str, Any]] = [{} for _ in futures]
    for future in as_completed(futures):
        kpis = future.result()
        results[position[future.key]] = kpis
        if progress:
            progress(kpis, kpis.get("error"))
    return results


def run_scenarios(
    scenarios: Sequence[Scenario],
    out_dir: str | Path | None,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: Progress | None = None,
    use_cache: bool = True,
) -> list[dict[str, Any]]:
    """Run scenarios where asked: ``workers=0`` in this process, else on Dask.

    Parameters
    ----------
    scenarios : sequence of Scenario
    out_dir : str or pathlib.Path, optional
        Results folder (shared storage with a remote scheduler).
    workers : int, optional
        Local worker processes; 0 runs in this process; default one per core.
    scheduler : str, optional
        Address of a running dask.distributed scheduler, e.g. ``tcp://10.0.0.5:8786``.
    progress : callable, optional
        Called after each scenario.
    use_cache : bool
        Read and write the shared inputs' disk cache (:mod:`scenarios.shared_cache`).
    """
    if scheduler is None and workers == 0:
        return run_in_process(scenarios, out_dir, progress=progress, use_cache=use_cache)
    with cluster_client(workers=workers, scheduler=scheduler) as client:
        return run_on_dask(client, scenarios, out_dir, progress=progress, use_cache=use_cache)
