"""``twin scenario``: list, check, run, sweep and compare planning scenarios."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from twin.cli import common
from twin.cli.common import progress_bar, scenario_app, without_dask
from twin.core.errors import ConfigError


@scenario_app.command("list")
def scenario_list() -> None:
    """List the built-in scenarios and sweeps."""
    from scenarios.config import builtin_scenarios

    console = Console(highlight=False, soft_wrap=True)
    for name, description in builtin_scenarios().items():
        console.print(f"{name:<20} {description}")


@scenario_app.command("check")
def scenario_check(
    files: Annotated[list[str], typer.Argument(help="Scenario or sweep files (or built-in names).")],
) -> None:
    """Validate scenario and sweep files and their district files without running them (exit 2 on the first bad one)."""
    from scenarios.config import check_districts

    for file in files:
        scenarios = _load_scenarios([file])
        check_districts(scenarios, file=file)
        if any(s.ensemble is not None for s in scenarios):
            from scenarios.ensemble_settings import ensemble_settings

            for scenario in scenarios:
                ensemble_settings(scenario.ensemble, file=file)
        print(f"{file}: ok ({len(scenarios)} scenario{'s' if len(scenarios) != 1 else ''})")


@scenario_app.command("run")
def scenario_run(
    ctx: typer.Context,
    scenarios: Annotated[list[str], typer.Argument(help="Built-in names, scenario files or sweep files.")],
    out: Annotated[Path | None, typer.Option(help="Results folder; default <data root>/scenarios.")] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            help="Local Dask worker processes (0: run in this process). Default: in this process for one "
            "scenario, else one worker per core."
        ),
    ] = None,
    scheduler: Annotated[
        str | None, typer.Option(help="Address of a dask.distributed scheduler; --out must be shared storage.")
    ] = None,
    level: Annotated[str | None, typer.Option(help="Output level of the result dataset: kpis, grid or full.")] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Prepare the shared inputs afresh; neither read nor write their cache.")
    ] = False,
    no_ensemble: Annotated[
        bool, typer.Option("--no-ensemble", help="Run scenarios with an ensemble: block once, as plain scenarios.")
    ] = False,
) -> None:
    """Run scenarios: profiles, dispatch, power flow, KPIs, result files and reports.

    A scenario (or sweep) file with an ``ensemble:`` block runs as an ensemble (per sweep point):
    ``OUT/NAME-ensemble/`` with P10/P50/P90 and the probabilities, unless ``--no-ensemble``.
    """
    loaded = _load_scenarios(scenarios)
    plain, ensembles = _split_ensembles(loaded, single=no_ensemble)
    file = scenarios[0] if len(scenarios) == 1 else None
    if ensembles:  # bad ensemble settings stop the command before anything runs, naming their file
        from scenarios.ensemble_points import ensemble_jobs

        for name in scenarios:
            ensemble_jobs(_split_ensembles(_load_scenarios([name]), single=False)[1], file=name)
    _run_plain_then_ensembles(
        ctx, plain, ensembles, file=file, out=out, workers=workers, scheduler=scheduler, level=level, no_cache=no_cache
    )


@scenario_app.command("sweep")
def scenario_sweep(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(help="Sweep file or built-in sweep name.")],
    out: Annotated[Path | None, typer.Option(help="Results folder; default <data root>/scenarios.")] = None,
    workers: Annotated[int | None, typer.Option(help="Local Dask worker processes (0: in this process).")] = None,
    scheduler: Annotated[str | None, typer.Option(help="Address of a dask.distributed scheduler.")] = None,
    level: Annotated[str | None, typer.Option(help="Output level of the result dataset: kpis, grid or full.")] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Prepare the shared inputs afresh; neither read nor write their cache.")
    ] = False,
) -> None:
    """Run a sweep of scenarios on Dask and print their KPIs side by side.

    A sweep file (or its base) with an ``ensemble:`` block runs every point as an ensemble.
    """
    loaded = _load_scenarios([file])
    plain, ensembles = _split_ensembles(loaded, single=False)
    _run_plain_then_ensembles(
        ctx, plain, ensembles, file=file, out=out, workers=workers, scheduler=scheduler, level=level, no_cache=no_cache
    )


def _run_plain_then_ensembles(
    ctx: typer.Context,
    plain: list[Any],
    ensembles: list[Any],
    *,
    file: str | None,
    out: Path | None,
    workers: int | None,
    scheduler: str | None,
    level: str | None,
    no_cache: bool,
) -> None:
    """Run the plain scenarios, then the ensembles (``file``: the one file they came from, if one)."""
    if plain:
        _run(
            ctx,
            plain,
            out=out,
            workers=workers,
            scheduler=scheduler,
            level=level,
            use_cache=not no_cache,
            dask_later=bool(ensembles),
        )
    if ensembles:
        from twin.cli.ensemble import run_ensemble_scenarios

        run_ensemble_scenarios(ctx, ensembles, file=file, out=out, workers=workers, scheduler=scheduler)


@scenario_app.command("compare")
def scenario_compare(
    dirs: Annotated[list[Path], typer.Argument(help="Scenario result folders (each with its KPI file).")],
    html: Annotated[Path | None, typer.Option(help="Also write the comparison as a self-contained HTML page.")] = None,
) -> None:
    """Compare scenario results side by side."""
    from rich.table import Table

    from scenarios.report import compare_table, display_table, write_compare_html
    from scenarios.results import KPIS_JSON, is_result_folder

    if _compare_ensembles(dirs, html):
        return
    for folder in dirs:
        if not is_result_folder(folder):
            raise ConfigError(f"no {KPIS_JSON} in this folder", file=str(folder), allowed="a scenario result folder")
    table = compare_table(dirs)
    _print_table(display_table(table), Table)
    if html is not None:
        write_compare_html(table, html)
        print(f"wrote {html}", file=sys.stderr)


def _compare_ensembles(dirs: list[Path], html: Path | None) -> bool:
    """Compare ensemble folders (P50 with P10 - P90, probabilities); False when none is one."""
    from rich.table import Table

    from scenarios.ensemble_report import compare_ensembles, is_ensemble_folder, write_compare_page

    kinds = [is_ensemble_folder(folder) for folder in dirs]
    if not any(kinds):
        return False
    if not all(kinds):
        other = dirs[kinds.index(False)]
        raise ConfigError("an ensemble compares with ensembles only", file=str(other), allowed="ensemble folders")
    table = compare_ensembles(dirs)
    _print_table(table, Table)
    if html is not None:
        write_compare_page(table, html)
        print(f"wrote {html}", file=sys.stderr)
    return True


def _split_ensembles(scenarios: list[Any], *, single: bool) -> tuple[list[Any], list[Any]]:
    """The scenarios to run once and those to run as ensembles (an ``ensemble:`` block; none if ``single``)."""
    if single:
        return scenarios, []
    return [s for s in scenarios if s.ensemble is None], [s for s in scenarios if s.ensemble is not None]


def _load_scenarios(names: list[str]) -> list[Any]:
    """Scenarios of built-in names, scenario files and sweep files, in order."""
    from scenarios.config import is_sweep_file, load_scenario, load_sweep, scenario_source

    out = []
    for name in names:
        path = scenario_source(name)
        if is_sweep_file(path):
            out.extend(load_sweep(name)[1])
        else:
            out.append(load_scenario(name))
    seen: set[str] = set()
    for scenario in out:
        if scenario.name in seen:
            from twin.core.errors import ConfigError

            raise ConfigError(f"two scenarios are named {scenario.name!r}", field="name", allowed="unique names")
        seen.add(scenario.name)
    return out


def _run(
    ctx: typer.Context,
    scenarios: list[Any],
    *,
    out: Path | None,
    workers: int | None,
    scheduler: str | None,
    level: str | None,
    use_cache: bool = True,
    dask_later: bool = True,
) -> None:
    from rich.table import Table

    if workers is None and scheduler is None and len(scenarios) == 1:
        workers = 0
    if workers == 0 and scheduler is None and not dask_later:
        without_dask()
    from scenarios.config import OUTPUT_LEVELS
    from scenarios.parallel import run_scenarios

    if level is not None:
        if level not in OUTPUT_LEVELS:
            raise ConfigError(f"{level!r} is not an output level", field="--level", allowed=", ".join(OUTPUT_LEVELS))
        scenarios = [s.model_copy(update={"output": level}) for s in scenarios]
    if workers is not None and scheduler is not None:
        raise ConfigError("give --workers or --scheduler, not both", field="--workers")
    if workers is not None and workers < 0:
        raise ConfigError("must be >= 0", field="--workers")
    out_dir = out if out is not None else Path(ctx.obj["data_root"]) / "scenarios"
    failed: list[str] = []
    with progress_bar() as progress:
        task = progress.add_task(f"{len(scenarios)} scenario(s)", total=len(scenarios))

        def advance(kpis: dict[str, Any] | None, error: str | None) -> None:
            name = (kpis or {}).get("scenario", "")
            if error:
                failed.append(f"{name}: {error}")
            progress.update(task, advance=1, description=f"done: {name}")

        results = run_scenarios(
            scenarios, out_dir, workers=workers, scheduler=scheduler, progress=advance, use_cache=use_cache
        )
    import pandas as pd

    from twin.core.vocabulary import kpi

    shown = [
        kpi(name)
        for name in (
            "energy_balance_kwh",
            "electricity_balance_kwh",
            "self_sufficiency_frac",
            "pv_kwp",
            "trafo_loading_max_percent",
            "vm_max_pu",
            "annual_cost_eur",
        )
    ]
    rows = {
        k["scenario"]: {
            **{spec.short_heading: spec.display(k.get(spec.name) or 0.0) for spec in shown},
            "changes": k.get("description", "").split(": ", 1)[-1] if "-" in k["scenario"] else "",
        }
        for k in results
        if "error" not in k
    }
    _print_table(pd.DataFrame(rows).T, Table, first="scenario")
    _warn_comfort(results)
    print(f"results in {out_dir}", file=sys.stderr)
    common.quick_exit = True
    if failed:
        raise ConfigError(f"{len(failed)} scenario(s) failed, first: {failed[0]}")


def _warn_comfort(results: list[dict[str, Any]]) -> None:
    """One warning line on stderr per controlled run the occupants would not accept (:mod:`models.control.comfort`)."""
    from models.control.comfort import comfort_warning

    for kpis in results:
        line = comfort_warning(kpis)
        if line is not None:
            print(f"warning: {line}", file=sys.stderr)


def _print_table(table: Any, table_class: Any, *, first: str = "KPI") -> None:
    from rich.markup import escape

    from scenarios.report import format_value

    rich_table = table_class(first, *[escape(str(c)) for c in table.columns])
    for label, row in table.iterrows():
        rich_table.add_row(escape(str(label)), *[escape(format_value(v)) for v in row.tolist()])
    # tables take the width they need (rich does not stretch them); never squeeze their headers
    console = Console()
    Console(width=max(console.width, 240)).print(rich_table)
