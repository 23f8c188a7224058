"""The ``twin`` command's typer application, its sub-command groups and shared helpers."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

if TYPE_CHECKING:
    from rich.progress import Progress

logger = logging.getLogger(__name__)

DEFAULT_DATA_ROOT = Path("data")

app = typer.Typer(
    name="twin",
    help="Digital twin of the Zukunftsquartier Beucha: live data, planning scenarios, dashboard.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
district_app = typer.Typer(help="The district: buildings, households, assets and grid.", no_args_is_help=True)
scenario_app = typer.Typer(help="Planning scenarios: list, check, run, sweep, ensemble, compare.", no_args_is_help=True)
app.add_typer(district_app, name="district")
app.add_typer(scenario_app, name="scenario")
store_app = typer.Typer(
    help="The state store: check and repair its tables, export periods, drop old 1-minute rows.", no_args_is_help=True
)
app.add_typer(store_app, name="store")


@app.callback()
def _root(
    ctx: typer.Context,
    data_root: Annotated[
        Path,
        typer.Option(envvar="TWIN_DATA_ROOT", help="Root folder of all data the twin writes."),
    ] = DEFAULT_DATA_ROOT,
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True, help="More log output (-vv: debug).")] = 0,
) -> None:
    """Digital twin of the Zukunftsquartier Beucha."""
    level = (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(level)  # libraries such as distributed set their own loggers to INFO
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    if verbose < 2:
        handler.addFilter(_without_frame_dumps)
    logging.basicConfig(level=level, handlers=[handler])
    ctx.obj = {"data_root": data_root}


def _without_frame_dumps(record: logging.LogRecord) -> bool:
    """Cut the hex dump of the last Modbus frames that pymodbus appends to its errors (kept at -vv)."""
    if record.name.startswith("pymodbus") and isinstance(record.msg, str) and "\n>>>>>" in record.msg:
        record.msg = record.msg.split("\n>>>>>", 1)[0]
    return True


def _join(counts: dict[str, int]) -> str:
    """``{"SFH": 62, "TH": 18}`` -> ``"SFH 62 · TH 18"``."""
    return " · ".join(f"{key} {value}" for key, value in counts.items())


def _fail(message: str, code: int) -> NoReturn:
    print(message, file=sys.stderr)
    sys.exit(code)


def progress_bar(description_width: int = 40) -> Progress:
    """The commands' progress bar on stderr: description, bar, done of total, elapsed; gone when done."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn(f"{{task.description:<{description_width}}}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )


#: True in a ``twin`` process of its own (:func:`twin.cli.main` reading the command line),
#: False when a caller runs commands inside its process (tests, embedding programs).
own_process = False
#: Set by a command whose process holds much memory and nothing that needs finalising beyond
#: the exit handlers (a scenario run): :func:`twin.cli.main` then ends the process without
#: the interpreter freeing every object one by one.
quick_exit = False


def without_dask() -> None:
    """Mark Dask as not installed for the rest of a ``twin`` process that will not use it.

    xarray imports Dask (a third of a second of CPU) as soon as it checks whether an
    array might be a Dask array, which no array of a process without Dask can be. A
    ``None`` entry in ``sys.modules`` makes ``import dask`` fail and xarray treat Dask
    as absent. Only in a process of its own, and only while neither Dask nor xarray is
    imported (xarray decides at its import whether Dask is there): a calling program
    keeps its Dask.
    """
    if own_process and "dask" not in sys.modules and "xarray" not in sys.modules:
        sys.modules["dask"] = None  # type: ignore[assignment]
