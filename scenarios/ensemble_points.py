"""Several ensembles at once: scenario files with an ``ensemble:`` block, or the points of an ensemble sweep.

``twin scenario run`` runs a scenario whose file carries an ``ensemble:`` block as an ensemble,
and a sweep whose file (or base scenario) carries one as an ensemble per point. Every member of
every scenario is one Dask task on one cluster (a ``LocalCluster`` or ``scheduler``; ``workers=0``
runs them in this process), as :func:`scenarios.ensemble.run_members` runs one ensemble's;
each scenario's members are then summarised (P10/P50/P90, probabilities) and written into its
own ``OUT/NAME-ensemble/`` folder with its report.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scenarios.ensemble import MemberRecord, draw_members, run_member_task
from scenarios.ensemble_report import write_ensemble_report
from scenarios.ensemble_settings import EnsembleSettings, ensemble_settings
from scenarios.ensemble_summary import EnsembleSummary, summarise, write_ensemble
from scenarios.parallel import cluster_client
from scenarios.records import Scenario
from twin.core.errors import ModelError

__all__ = ["EnsembleJob", "ensemble_jobs", "run_ensembles", "write_ensembles"]

#: Called with (job number, member number, KPIs or None, error text or None) after each member.
JobProgress = Callable[[int, int, dict[str, Any] | None, str | None], None]


@dataclass(frozen=True)
class EnsembleJob:
    """One scenario to run as an ensemble: the scenario, its settings and its members' records."""

    scenario: Scenario
    settings: EnsembleSettings
    records: list[MemberRecord]


def ensemble_jobs(
    scenarios: Sequence[Scenario], *, file: str | None = None, members: int | None = None, seed: int | None = None
) -> list[EnsembleJob]:
    """The jobs of ``scenarios``: each one's ``ensemble:`` block (or the defaults), ``members`` and ``seed`` over it.

    Raises
    ------
    ConfigError
        For bad settings, naming the file and the field.
    """
    jobs = []
    for scenario in scenarios:
        settings = ensemble_settings(scenario.ensemble, file=file or scenario.name, members=members, seed=seed)
        jobs.append(EnsembleJob(scenario, settings, draw_members(settings)))
    return jobs


def run_ensembles(
    jobs: Sequence[EnsembleJob],
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: JobProgress | None = None,
) -> list[list[dict[str, Any]]]:
    """Run every member of every job; per job, the members' KPIs in the order of its records.

    Raises
    ------
    ModelError
        If a member failed (the message names how many, the scenario and the first).
    """
    results: list[list[dict[str, Any]]] = [[{} for _ in job.records] for job in jobs]
    tasks = [(j, m) for j, job in enumerate(jobs) for m in range(len(job.records))]
    if scheduler is None and workers == 0:
        for j, m in tasks:
            results[j][m] = kpis = run_member_task(jobs[j].scenario, jobs[j].records[m])
            if progress:
                progress(j, m, kpis, kpis.get("error"))
    else:
        from dask.distributed import as_completed

        with cluster_client(workers=workers, scheduler=scheduler) as client:
            futures = {}
            for j, m in tasks:
                scenario, record = jobs[j].scenario, jobs[j].records[m]
                key = f"member-{scenario.name}-{record.member}"
                futures[client.submit(run_member_task, scenario, record, key=key, pure=False)] = (j, m)
            for future in as_completed(list(futures)):
                j, m = futures[future]
                results[j][m] = kpis = future.result()
                if progress:
                    progress(j, m, kpis, kpis.get("error"))
    failed = [(jobs[j].scenario.name, m, results[j][m]["error"]) for j, m in tasks if "error" in results[j][m]]
    if failed:
        name, member, error = failed[0]
        raise ModelError(f"{len(failed)} of {len(tasks)} members failed; {name} member {member}: {error}")
    return results


def write_ensembles(
    jobs: Sequence[EnsembleJob], kpis: Sequence[Sequence[dict[str, Any]]], out_dir: str | Path
) -> list[tuple[EnsembleSummary, Path]]:
    """Summarise each job and write its folder and report; the summaries and folders in job order."""
    out = []
    for job, members in zip(jobs, kpis, strict=True):
        summary = summarise(job.scenario.name, job.settings, job.records, members)
        folder = write_ensemble(summary, out_dir)
        write_ensemble_report(summary, folder)
        out.append((summary, folder))
    return out
