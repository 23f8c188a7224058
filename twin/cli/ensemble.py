"""``twin scenario ensemble``: a scenario's members on Dask, P10/P50/P90 of its KPIs and the probabilities.

:func:`run_ensemble_scenarios` runs several at once: the points of a sweep (``twin scenario
ensemble SWEEP``) and the scenarios with an ``ensemble:`` block of ``twin scenario run``/``sweep``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from twin.cli.common import progress_bar, scenario_app
from twin.core.errors import ConfigError

#: The KPIs of the terminal table (every KPI is in the member table and ensemble.json).
SHOWN_KPIS = (
    "energy_balance_kwh",
    "electricity_balance_kwh",
    "self_sufficiency_frac",
    "hp_spf",
    "trafo_loading_max_percent",
    "line_loading_max_percent",
    "outside_band_h",
    "annual_cost_eur",
)


@scenario_app.command("ensemble")
def scenario_ensemble(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(help="Scenario file or built-in name.")],
    members: Annotated[
        int | None, typer.Option(help="Number of members; default the scenario's ensemble block, else 50.")
    ] = None,
    workers: Annotated[
        int | None, typer.Option(help="Local Dask worker processes (0: in this process); default one per core.")
    ] = None,
    scheduler: Annotated[str | None, typer.Option(help="Address of a dask.distributed scheduler.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the members' draws; default the block's, else 0.")] = None,
    out: Annotated[Path | None, typer.Option(help="Results folder; default <data root>/scenarios.")] = None,
) -> None:
    """Run an ensemble of a scenario (weather years, seeds, uncertain parameters): P10/P50/P90 and probabilities.

    A sweep file runs every point as an ensemble and prints the percentiles per point.
    """
    from scenarios.config import load_scenario
    from scenarios.ensemble import draw_members, run_members
    from scenarios.ensemble_report import write_ensemble_report
    from scenarios.ensemble_settings import ensemble_settings
    from scenarios.ensemble_summary import summarise, write_ensemble

    if workers is not None and scheduler is not None:
        raise ConfigError("give --workers or --scheduler, not both", field="--workers")
    if workers is not None and workers < 0:
        raise ConfigError("must be >= 0", field="--workers")
    from scenarios.config import is_sweep_file, load_sweep, scenario_source

    if is_sweep_file(scenario_source(file)):
        points = load_sweep(file)[1]
        options = {"members": members, "seed": seed}
        run_ensemble_scenarios(ctx, points, file=file, out=out, workers=workers, scheduler=scheduler, **options)
        return
    scenario = load_scenario(file)
    settings = ensemble_settings(scenario.ensemble, file=file, members=members, seed=seed)
    records = draw_members(settings)
    started = time.perf_counter()
    with progress_bar(32) as progress:
        task = progress.add_task(f"{scenario.name}: {len(records)} members", total=len(records))

        def advance(number: int, kpis: dict[str, Any] | None, error: str | None) -> None:
            progress.update(task, advance=1, description=f"member {number} {'failed' if error else 'done'}")

        kpis = run_members(scenario, records, workers=workers, scheduler=scheduler, progress=advance)
    summary = summarise(scenario.name, settings, records, kpis)
    folder = write_ensemble(summary, out if out is not None else Path(ctx.obj["data_root"]) / "scenarios")
    write_ensemble_report(summary, folder)
    _print_summary(summary)
    print(f"{len(records)} members in {time.perf_counter() - started:.1f} s; results in {folder}", file=sys.stderr)


def _print_summary(summary: Any) -> None:
    from rich.markup import escape
    from rich.table import Table

    from scenarios.ensemble_summary import PROBABILITIES
    from twin.core.vocabulary import kpi

    table = Table(f"{escape(summary.scenario)} ({len(summary.members)} members)", "P10", "P50", "P90")
    for name in SHOWN_KPIS:
        if name in summary.percentiles.index:
            spec = kpi(name)
            row = summary.percentiles.loc[name]
            table.add_row(escape(spec.short_heading), *[spec.display(row[c]) for c in ("p10", "p50", "p90")])
    for name, probability in summary.probabilities.items():
        table.add_row(f"P({PROBABILITIES[name][3]})", "", f"{probability:.0%}", "")
    Console(width=max(Console().width, 120)).print(table)


#: The columns of the per-scenario table of several ensembles: (KPI, heading) shown as P50 (P10 - P90).
POINT_KPIS = (
    ("energy_balance_kwh", "all-carrier"),
    ("self_sufficiency_frac", "self-sufficiency"),
    ("trafo_loading_max_percent", "trafo max"),
    ("line_loading_max_percent", "line max"),
    ("annual_cost_eur", "cost"),
)
#: The probabilities of that table: (name, heading).
POINT_PROBABILITIES = (("energy_neutral", "P(neutral)"), ("trafo_over_100", "P(trafo > 100 %)"))


def run_ensemble_scenarios(
    ctx: typer.Context,
    scenarios: list[Any],
    *,
    file: str | None,
    out: Path | None,
    workers: int | None,
    scheduler: str | None,
    members: int | None = None,
    seed: int | None = None,
) -> None:
    """Run ``scenarios`` as ensembles on one cluster; write each folder and print P50 (P10 - P90) per scenario."""
    from scenarios.ensemble_points import ensemble_jobs, run_ensembles, write_ensembles

    jobs = ensemble_jobs(scenarios, file=file, members=members, seed=seed)
    total = sum(len(job.records) for job in jobs)
    started = time.perf_counter()
    with progress_bar() as progress:
        task = progress.add_task(f"{len(jobs)} ensemble(s): {total} members", total=total)

        def advance(job: int, number: int, kpis: dict[str, Any] | None, error: str | None) -> None:
            name = jobs[job].scenario.name
            progress.update(task, advance=1, description=f"{name} member {number} {'failed' if error else 'done'}")

        kpis = run_ensembles(jobs, workers=workers, scheduler=scheduler, progress=advance)
    out_dir = out if out is not None else Path(ctx.obj["data_root"]) / "scenarios"
    written = write_ensembles(jobs, kpis, out_dir)
    _print_points([summary for summary, _ in written], [job.scenario.description for job in jobs])
    elapsed = time.perf_counter() - started
    print(f"{len(jobs)} ensemble(s), {total} members in {elapsed:.1f} s; results in {out_dir}", file=sys.stderr)


def _print_points(summaries: list[Any], descriptions: list[str]) -> None:
    from rich.markup import escape
    from rich.table import Table

    from twin.core.vocabulary import kpi

    headings = [f"{h} {kpi(name).display_unit}".rstrip() for name, h in POINT_KPIS]
    table = Table("scenario", *headings, *[h for _, h in POINT_PROBABILITIES], "changes")
    for summary, description in zip(summaries, descriptions, strict=True):
        cells = []
        for name, _heading in POINT_KPIS:
            if name in summary.percentiles.index:
                spec, row = kpi(name), summary.percentiles.loc[name]
                cells.append(f"{spec.display(row['p50'])} ({spec.display(row['p10'])} - {spec.display(row['p90'])})")
            else:
                cells.append("-")
        for name, _heading in POINT_PROBABILITIES:
            probability = summary.probabilities.get(name)
            cells.append("-" if probability is None else f"{probability:.0%}")
        changes = description.split(": ", 1)[-1] if ": " in description else ""
        table.add_row(escape(summary.scenario), *[escape(c) for c in cells], escape(changes))
    Console(width=max(Console().width, 200)).print(table)
