"""The ``twin`` command: the user interface of the district twin.

A thin layer over the packages: it parses arguments, configures logging (the
only place that does), and turns the project's errors into one-line messages
and exit codes: 0 success, 2 bad input (:class:`~twin.core.errors.ConfigError`),
1 internal error.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console

from twin.core.errors import ConfigError, TwinError

__all__ = ["app", "main"]

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
scenario_app = typer.Typer(help="Planning scenarios: list, check, run, sweep, compare.", no_args_is_help=True)
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


def _not_available(command: str) -> NoReturn:
    raise TwinError(f"'twin {command}' is not available in this version of the twin")


@app.command()
def demo(
    ctx: typer.Context,
    district: Annotated[str, typer.Option(help="Built-in district name or district file.")] = "beucha",
    speed: Annotated[float, typer.Option(help="Simulated seconds per wall second.")] = 60.0,
    host: Annotated[str, typer.Option(help="Interface every server binds.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Dashboard port.")] = 8050,
    controller_port: Annotated[int, typer.Option(help="Controller Modbus TCP port (read-only).")] = 1502,
    controller_tls_port: Annotated[int, typer.Option(help="Controller Modbus/TCP Security port (writers).")] = 1802,
    baseline: Annotated[
        bool, typer.Option("--baseline/--no-baseline", help="Run the baseline scenario if its result is missing.")
    ] = True,
) -> None:
    """Simulated field + live twin + controller server + dashboard, in one command."""
    from twin.demo import DemoOptions, check_ports, run_demo

    options = DemoOptions(
        data_root=Path(ctx.obj["data_root"]),
        district=district,
        speed=speed,
        host=host,
        dashboard_port=port,
        controller_port=controller_port,
        controller_tls_port=controller_tls_port,
        run_baseline=baseline,
    )
    check_ports(options)
    raise typer.Exit(run_demo(options))


@district_app.command("show")
def district_show(
    district: Annotated[str, typer.Argument(help="Built-in district name or district file.")] = "beucha",
    year: Annotated[
        bool, typer.Option("--year/--no-year", help="Compute the district's year from 15-minute profiles.")
    ] = True,
    weather: Annotated[
        Path | None,
        typer.Option(help="Weather file (DWD TRY .dat, EPW, TMY3 .csv, PVGIS .json); default DWD TRY2010 region 4."),
    ] = None,
    calendar_year: Annotated[int, typer.Option("--calendar-year", help="Calendar year of the profiles (UTC).")] = 2025,
    seed: Annotated[int, typer.Option(help="Seed of load variation and EV mobility.")] = 0,
) -> None:
    """The district in a few lines: buildings, households, assets, demand, grid, and its year."""
    from models.building_estimates import AGE_CLASSES, summarize_district
    from models.district import BUILDING_TYPES, load_district
    from models.grid_source import grid_summary

    loaded = load_district(district)
    summary = summarize_district(loaded.district)
    grid = grid_summary(loaded.net)
    source = loaded.district.grid.simbench_code or f"pandapower file {loaded.district.grid.pandapower_json}"
    years = {code: f"{first}-{last}" if first else f"-{last}" for code, first, last in AGE_CLASSES}
    years["DE.12"] = f"{AGE_CLASSES[-1][1]}+"
    mwh = summary.electricity_kwh_per_a / 1000.0
    hp_mwh = summary.heat_pump_electricity_kwh_per_a / 1000.0
    ev_mwh = summary.ev_electricity_kwh_per_a / 1000.0
    lines = [
        f"[bold]{loaded.district.name}[/bold] ({loaded.source}): {summary.n_buildings} buildings, "
        f"{summary.n_households} households, {summary.n_persons} residents",
        "  types     "
        + _join(
            {kind: summary.buildings_by_type[kind] for kind in BUILDING_TYPES if kind in summary.buildings_by_type}
        ),
        "  built     " + _join({years[code]: n for code, n in summary.buildings_by_age_class.items()}),
        f"  roofs     {summary.roof_area_m2:,.0f} m2, PV potential {summary.pv_potential_kwp:,.0f} kWp",
        f"  today     PV {summary.pv_today_kwp:,.1f} kWp ({summary.n_pv_systems} systems), "
        f"batteries {summary.battery_capacity_kwh:,.0f} kWh ({summary.n_batteries}), "
        f"heat pumps {summary.n_heat_pumps}, gas boilers {summary.n_gas_boilers}, other heating "
        f"{summary.n_other_heating}, EVs {summary.n_evs}, chargers {summary.n_chargers}",
        f"  demand    electricity {mwh:,.0f} MWh/a (+ heat pumps {hp_mwh:,.0f}, EVs {ev_mwh:,.0f}),"
        f" heat {summary.heat_kwh_per_a / 1000.0:,.0f} MWh/a",
        f"  grid      {source}: {grid.n_buses} buses, {grid.n_feeders} feeders, {grid.n_lines} lines "
        f"({grid.line_length_km:,.2f} km), transformer {grid.transformer_s_rated_kva:,.0f} kVA",
    ]
    console = Console(highlight=False, soft_wrap=True)
    for line in lines:
        console.print(line)
    if year:
        for line in _district_year(loaded.district, weather=weather, calendar_year=calendar_year, seed=seed):
            console.print(line)


def _district_year(district: Any, *, weather: Path | None, calendar_year: int, seed: int) -> list[str]:
    """Profiles of every asset for a year, summed up at the substation (before grid losses)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from models.profiles import PROFILE_STAGES, ProfileOptions, district_profiles, prepare_inputs
    from twin.core.kpi import GEG_2024, boundary_flows, energy_kpis
    from twin.core.vocabulary import STEP_MIN

    with Progress(
        TextColumn("{task.description:<40}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as progress:
        task = progress.add_task("weather and load shapes", total=len(PROFILE_STAGES) + 2)
        inputs = prepare_inputs(district, weather=weather, year=calendar_year)

        def advance(label: str) -> None:
            progress.update(task, advance=1, description=label)

        advance("profiles")
        profiles = district_profiles(district, inputs, ProfileOptions(year=calendar_year, seed=seed), progress=advance)
        assets = profiles.assets
        p_peak_kw = float(assets["p_peak_kw"].sum())
        kpis = energy_kpis(boundary_flows(assets), factors=GEG_2024, p_peak_kw=p_peak_kw or None)
        advance("KPIs")
    dt_h = float(kpis.attrs["dt_h"])
    mwh = (assets["p_kw"].astype("float64").groupby("kind").sum(("asset", "time")) * dt_h / 1000.0).to_series()
    gas_mwh = float(kpis["fuel_kwh"]) / 1000.0
    k = {name: float(kpis[name]) for name in kpis.data_vars}
    neutral = "energy-neutral" if k["energy_balance_kwh"] <= 0 else "not energy-neutral"
    yield_text = f", {k['full_load_hours_h']:,.0f} kWh/kWp" if p_peak_kw else ""
    return [
        f"  year      {calendar_year}, {STEP_MIN}-minute steps, weather {inputs.weather_source}, seed {seed}",
        f"  energy    loads {mwh.get('load', 0.0):,.0f} MWh, heat pumps {mwh.get('heat_pump', 0.0):,.0f}, "
        f"EVs {mwh.get('ev', 0.0):,.0f}, battery losses {mwh.get('battery', 0.0):,.1f}, "
        f"PV {-mwh.get('pv', 0.0):,.0f} MWh{yield_text}, gas {gas_mwh:,.0f} MWh",
        f"  balance   electricity import {k['import_kwh'] / 1000:,.0f} MWh, export {k['export_kwh'] / 1000:,.0f} MWh, "
        f"balance {k['electricity_balance_kwh'] / 1000:+,.0f} MWh; all carriers {k['energy_balance_kwh'] / 1000:+,.0f}"
        f" MWh: {neutral} (substation, before grid losses)",
        f"  KPIs      self-sufficiency {k['self_sufficiency_frac']:.1%}, self-consumption "
        f"{k['self_consumption_frac']:.1%}, peak import {k['peak_import_kw']:,.0f} kW, CO2 "
        f"{k['co2_kg'] / 1000:,.0f} t (GEG 2024: grid {GEG_2024.co2_grid_g_per_kwh:.0f} g/kWh, "
        f"gas {GEG_2024.co2_gas_g_per_kwh:.0f} g/kWh)",
    ]


@app.command()
def field(
    site: Annotated[Path, typer.Option("--site", help="Site file to write (devices, ports, maps, clock).")],
    district: Annotated[str, typer.Option(help="Built-in district name or district file.")] = "beucha",
    speed: Annotated[float, typer.Option(help="Simulated seconds per wall second (> 0, <= 10000).")] = 1.0,
    start: Annotated[
        str | None, typer.Option(help="Simulated start, ISO 8601 (UTC unless it says otherwise); default now.")
    ] = None,
    faults: Annotated[Path | None, typer.Option(help="Fault plan (YAML) to play while the field runs.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of load variation and EV mobility.")] = 0,
    weather: Annotated[Path | None, typer.Option(help="Weather file; default DWD TRY2010 region 4.")] = None,
    host: Annotated[str, typer.Option(help="Interface every device server binds.")] = "127.0.0.1",
) -> None:
    """The simulated field: the district's devices as Modbus TCP servers.

    Computes the year of the simulated start with the scenarios' models, serves every
    device on its own port (household meters behind one gateway port per building) and
    writes the site file. Runs until Ctrl-C or SIGTERM.
    """
    import signal
    import threading

    from models.district import load_district
    from twin.field import Field, FieldOptions, load_fault_plan
    from twin.field.runtime import parse_start_utc

    plan = load_fault_plan(faults) if faults is not None else None
    options = FieldOptions(
        speed=speed, start_utc=parse_start_utc(start), seed=seed, weather=weather, host=host, fault_plan=plan
    )
    loaded = load_district(district)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    sim = Field(loaded, options)
    try:
        described = sim.start_background()
        sim.write_site(site)
        kinds: dict[str, int] = {}
        for device in described.devices:
            kinds[device.kind] = kinds.get(device.kind, 0) + 1
        print(
            f"twin field: {len(described.devices)} devices of {loaded.district.name} on {host} "
            f"({_join(kinds)}); site file {site}; start {described.start_utc}, speed {speed:g}; Ctrl-C stops",
            file=sys.stderr,
        )
        while not stop.wait(0.5) and not sim.wait(0):
            pass
    finally:
        sim.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@app.command()
def live(
    ctx: typer.Context,
    site: Annotated[Path, typer.Option("--site", help="Site file (written by 'twin field' or by hand).")],
    store: Annotated[Path, typer.Option("--store", help="State store folder (this command is its only writer).")],
    status_every_s: Annotated[float, typer.Option("--status-every", help="Seconds between status lines.")] = 5.0,
    district: Annotated[
        str, typer.Option(help="Built-in district name or district file: the grid of the live power flow.")
    ] = "beucha",
    grid_every_s: Annotated[
        float, typer.Option("--grid-every", help="Seconds (wall) between two live power flows.")
    ] = 5.0,
    controllers: Annotated[
        bool, typer.Option("--controllers/--no-controllers", help="Serve building controllers (Modbus TCP and TLS).")
    ] = True,
    controller_host: Annotated[str, typer.Option("--controller-host", help="Interface of both listeners.")] = (
        "127.0.0.1"
    ),
    controller_port: Annotated[
        int, typer.Option("--controller-port", help="Plain Modbus TCP port, read-only (0: any free port).")
    ] = 1502,
    controller_tls_port: Annotated[
        int, typer.Option("--controller-tls-port", help="Modbus/TCP Security port for writers (0: any free port).")
    ] = 1802,
    certs: Annotated[
        Path | None,
        typer.Option(
            "--certs",
            help="Folder with server.pem, server.key, writer-ca.pem (default DATA_ROOT/certs; test "
            "certificates are made there if missing).",
        ),
    ] = None,
    keep_1min_days: Annotated[
        float,
        typer.Option("--keep-1min-days", help="Days of 1-minute means to keep (0: all); 15-minute means stay."),
    ] = 400.0,
) -> None:
    """The live twin: poll devices, derive the balance and KPIs, keep the state store (Ctrl-C stops).

    Also solves the district's power flow on the latest state every few seconds and serves building
    controllers: plain Modbus TCP (read-only) and Modbus/TCP Security (writers with a certificate of
    the writer CA).
    """
    import asyncio

    from twin.live import run_live
    from twin.live_controllers import ControllerOptions

    if not 0 < grid_every_s <= 3600:
        raise ConfigError(f"must be > 0 and <= 3600, got {grid_every_s:g}", field="--grid-every")
    if not 0 <= keep_1min_days <= 36_500:
        raise ConfigError(f"must be 0 (keep all) to 36500 days, got {keep_1min_days:g}", field="--keep-1min-days")
    for name, port in (("--controller-port", controller_port), ("--controller-tls-port", controller_tls_port)):
        if not 0 <= port <= 65535:
            raise ConfigError(f"must be 0..65535, got {port}", field=name)
    if not logging.getLogger().isEnabledFor(logging.INFO):
        # pymodbus warns at every failed connect; the status line names failing devices instead
        logging.getLogger("pymodbus").setLevel(logging.ERROR)
    # every accepted controller write is logged with the client certificate's name
    logging.getLogger("twin.live_controllers").setLevel(logging.INFO)
    options = (
        ControllerOptions(
            host=controller_host,
            port=controller_port,
            tls_port=controller_tls_port,
            certs_dir=certs or ctx.obj["data_root"] / "certs",
        )
        if controllers
        else None
    )

    def status(line: str) -> None:
        print(line, flush=True)

    twin = asyncio.run(
        run_live(
            site,
            store,
            status=status,
            status_every_s=status_every_s,
            district=district,
            grid_every_s=grid_every_s,
            controllers=options,
            keep_1min_days=keep_1min_days or None,
        )
    )
    unwritten = ", ".join(f"{rows} {name}" for name, rows in twin.store.pending_rows().items() if rows)
    if unwritten:
        raise TwinError(f"{store}: stopped with {unwritten} row(s) the store did not take ({twin.store.error})")
    print(f"twin live: stopped; snapshot and {twin.flushes} flush(es) in {store}", flush=True)


@app.command()
def dashboard(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Interface to bind (127.0.0.1: this machine only).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8050,
    store: Annotated[
        Path | None, typer.Option("--store", help="State store of 'twin live' (default: DATA_ROOT/live).")
    ] = None,
    results: Annotated[
        Path | None, typer.Option("--results", help="Scenario results folder (default: DATA_ROOT/scenarios).")
    ] = None,
    workers: Annotated[int, typer.Option(help="gunicorn worker processes.")] = 2,
    threads: Annotated[int, typer.Option(help="Threads per worker.")] = 4,
    certfile: Annotated[
        Path | None, typer.Option("--certfile", help="PEM certificate (chain) of HTTPS; needs --keyfile.")
    ] = None,
    keyfile: Annotated[Path | None, typer.Option("--keyfile", help="PEM private key of --certfile.")] = None,
) -> None:
    """The dashboard for energy managers (login from TWIN_DASHBOARD_USER/_PASSWORD or DATA_ROOT/dashboard-users.json).

    Served by gunicorn; /healthz is public, every other route needs the login.
    With --certfile and --keyfile it serves HTTPS only.
    """
    from gunicorn.app.base import BaseApplication

    from dashboard import create_app

    if not 0 < port < 65536:
        raise ConfigError(f"port {port} is out of range", field="--port", allowed="1-65535")
    tls = _dashboard_tls(certfile, keyfile)
    data_root = ctx.obj["data_root"]
    server = create_app(data_root, store_dir=store, results_dir=results).server

    class _Gunicorn(BaseApplication):
        def load_config(self) -> None:
            settings = {
                "bind": f"{host}:{port}",
                "workers": workers,
                "threads": threads,
                "accesslog": None,
                "control_socket_disable": True,  # gunicorn's control socket is a shared file in $HOME
                **tls,
            }
            for key, value in settings.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            return server

    scheme = "https" if tls else "http"
    print(
        f"twin dashboard: {scheme}://{host}:{port}/ (data root {data_root}); Ctrl-C stops", file=sys.stderr, flush=True
    )
    _Gunicorn().run()


def _dashboard_tls(certfile: Path | None, keyfile: Path | None) -> dict[str, str]:
    """The TLS settings of gunicorn, after loading the pair once (exit 2 on a missing or bad file)."""
    import ssl

    if certfile is None and keyfile is None:
        return {}
    if certfile is None or keyfile is None:
        raise ConfigError(
            "--certfile and --keyfile go together", field="--certfile" if certfile is None else "--keyfile"
        )
    for option, path in (("--certfile", certfile), ("--keyfile", keyfile)):
        if not path.is_file():
            raise ConfigError("no such file", file=str(path), field=option)
    try:
        # an encrypted key would make gunicorn ask on the terminal: refuse it here instead
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(certfile, keyfile, password=lambda: b"")
    except (ssl.SSLError, OSError, ValueError) as err:
        raise ConfigError(
            f"not a PEM certificate and its private key: {err}", file=f"{certfile}, {keyfile}", field="--certfile"
        ) from err
    return {"certfile": str(certfile), "keyfile": str(keyfile)}


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
) -> None:
    """Run scenarios: profiles, dispatch, power flow, KPIs, result files and reports."""
    loaded = _load_scenarios(scenarios)
    _run(ctx, loaded, out=out, workers=workers, scheduler=scheduler, level=level)


@scenario_app.command("sweep")
def scenario_sweep(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(help="Sweep file or built-in sweep name.")],
    out: Annotated[Path | None, typer.Option(help="Results folder; default <data root>/scenarios.")] = None,
    workers: Annotated[int | None, typer.Option(help="Local Dask worker processes (0: in this process).")] = None,
    scheduler: Annotated[str | None, typer.Option(help="Address of a dask.distributed scheduler.")] = None,
    level: Annotated[str | None, typer.Option(help="Output level of the result dataset: kpis, grid or full.")] = None,
) -> None:
    """Run a sweep of scenarios on Dask and print their KPIs side by side."""
    loaded = _load_scenarios([file])
    _run(ctx, loaded, out=out, workers=workers, scheduler=scheduler, level=level)


@scenario_app.command("compare")
def scenario_compare(
    dirs: Annotated[list[Path], typer.Argument(help="Scenario result folders (each with its KPI file).")],
    html: Annotated[Path | None, typer.Option(help="Also write the comparison as a self-contained HTML page.")] = None,
) -> None:
    """Compare scenario results side by side."""
    from rich.table import Table

    from scenarios.report import compare_table, write_compare_html
    from scenarios.results import KPIS_JSON, is_result_folder
    from twin.core.errors import ConfigError

    for folder in dirs:
        if not is_result_folder(folder):
            raise ConfigError(f"no {KPIS_JSON} in this folder", file=str(folder), allowed="a scenario result folder")
    table = compare_table(dirs)
    _print_table(table, Table)
    if html is not None:
        write_compare_html(table, html)
        print(f"wrote {html}", file=sys.stderr)


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
) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from scenarios.config import OUTPUT_LEVELS
    from scenarios.parallel import run_scenarios
    from twin.core.errors import ConfigError

    if level is not None:
        if level not in OUTPUT_LEVELS:
            raise ConfigError(f"{level!r} is not an output level", field="--level", allowed=", ".join(OUTPUT_LEVELS))
        scenarios = [s.model_copy(update={"output": level}) for s in scenarios]
    if workers is not None and scheduler is not None:
        raise ConfigError("give --workers or --scheduler, not both", field="--workers")
    if workers is not None and workers < 0:
        raise ConfigError("must be >= 0", field="--workers")
    if workers is None and scheduler is None and len(scenarios) == 1:
        workers = 0
    out_dir = out if out is not None else Path(ctx.obj["data_root"]) / "scenarios"
    failed: list[str] = []
    with Progress(
        TextColumn("{task.description:<40}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as progress:
        task = progress.add_task(f"{len(scenarios)} scenario(s)", total=len(scenarios))

        def advance(kpis: dict[str, Any] | None, error: str | None) -> None:
            name = (kpis or {}).get("scenario", "")
            if error:
                failed.append(f"{name}: {error}")
            progress.update(task, advance=1, description=f"done: {name}")

        results = run_scenarios(scenarios, out_dir, workers=workers, scheduler=scheduler, progress=advance)
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
            **{spec.short_heading: (k.get(spec.name) or 0.0) * spec.scale for spec in shown},
            "changes": k.get("description", "").split(": ", 1)[-1] if "-" in k["scenario"] else "",
        }
        for k in results
        if "error" not in k
    }
    _print_table(pd.DataFrame(rows).T, Table, first="scenario")
    print(f"results in {out_dir}", file=sys.stderr)
    if failed:
        raise ConfigError(f"{len(failed)} scenario(s) failed, first: {failed[0]}")


def _print_table(table: Any, table_class: Any, *, first: str = "KPI") -> None:
    from rich.markup import escape

    from scenarios.report import format_value

    rich_table = table_class(first, *[escape(str(c)) for c in table.columns])
    for label, row in table.iterrows():
        rich_table.add_row(escape(str(label)), *[escape(format_value(v)) for v in row.tolist()])
    # tables take the width they need (rich does not stretch them); never squeeze their headers
    console = Console()
    Console(width=max(console.width, 240)).print(rich_table)


@app.command()
def registers(
    format: Annotated[str, typer.Option("--format", help="table, markdown, csv or json.")] = "table",
    map_file: Annotated[Path | None, typer.Option("--map", help="Another controller map file.")] = None,
) -> None:
    """The controller register map: addresses, types, units, access and meaning."""
    from connectors.controller_map import MAP_FORMATS, format_map, load_controller_map

    if format not in MAP_FORMATS:
        raise ConfigError(f"unknown format {format!r}", field="--format", allowed=", ".join(MAP_FORMATS))
    sys.stdout.write(format_map(load_controller_map(map_file), format))  # type: ignore[arg-type]


@app.command()
def certs(
    ctx: typer.Context,
    out: Annotated[
        Path | None, typer.Option("--out", help="Folder for the PEM files (default: DATA_ROOT/certs).")
    ] = None,
    days: Annotated[int, typer.Option(help="Validity of the certificates. [days]")] = 825,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing files.")] = False,
) -> None:
    """A test CA and certificates for Modbus/TCP Security (controller writers)."""
    from connectors.certs import make_test_certs

    folder = out or ctx.obj["data_root"] / "certs"
    files = make_test_certs(folder, days=days, overwrite=overwrite)
    console = Console(highlight=False, soft_wrap=True)
    console.print(f"test certificates in {folder} (ECDSA P-256, {days} days):")
    for label, path in (
        ("quarter writer CA (the server trusts it)", files.writer_ca),
        ("server certificate, 127.0.0.1/localhost", files.server_cert),
        ("server key", files.server_key),
        ("writer client certificate", files.writer_cert),
        ("writer client key", files.writer_key),
        ("other CA (not trusted)", files.other_ca),
        ("client certificate of the other CA", files.other_cert),
        ("its key", files.other_key),
    ):
        console.print(f"  {path.name:<18} {label}")


@app.command("import")
def import_(
    files: Annotated[list[Path], typer.Argument(help="15-minute meter data files (CSV, see the README).")],
    store: Annotated[Path, typer.Option("--store", help="State store folder.")],
    site: Annotated[
        Path | None, typer.Option("--site", help="Site file (default: the meters 'twin live' recorded in the store).")
    ] = None,
) -> None:
    """Import 15-minute meter data into the state store (back-fill; readings set the year's start)."""
    from twin.importing import import_meter_data

    print(import_meter_data(list(files), store, site_file=site))


@store_app.command("export")
def store_export(
    store: Annotated[Path, typer.Option("--store", help="State store folder.")],
    table: Annotated[str, typer.Option("--table", help="1min or 15min.")],
    start: Annotated[str, typer.Option("--from", help="Period start, ISO 8601 (naive: UTC), e.g. 2026-06-01.")],
    end: Annotated[str, typer.Option("--to", help="Period end (excluded), ISO 8601 (naive: UTC).")],
    out: Annotated[Path, typer.Option("--out", help="Target file: .csv or .nc (NetCDF).")],
    channel: Annotated[
        list[str] | None, typer.Option("--channel", help="Only these channels (shell patterns, repeatable).")
    ] = None,
) -> None:
    """Export a period of a table (values and quality) to CSV or NetCDF; safe while 'twin live' writes."""
    from twin.store_export import export_table, parse_utc

    print(export_table(store, table, parse_utc(start, "--from"), parse_utc(end, "--to"), out, channels=channel))


@store_app.command("prune")
def store_prune(
    store: Annotated[Path, typer.Option("--store", help="State store folder (takes the writer lock).")],
    keep_1min_days: Annotated[
        float, typer.Option("--keep-1min-days", help="Days of 1-minute means to keep, before the newest row.")
    ] = 400.0,
) -> None:
    """Drop 1-minute rows older than the retention period (15-minute rows stay); 'twin live' does it daily."""
    import time

    from twin.core.retention import drop_old_rows, newest_time_s
    from twin.core.store import StoreLock

    if not 0 < keep_1min_days <= 36_500:
        raise ConfigError(f"must be > 0 and <= 36500 days, got {keep_1min_days:g}", field="--keep-1min-days")
    if not (store / "means_1min.zarr").is_dir():
        raise ConfigError("no 1-minute table in this store", file=str(store))
    with StoreLock(store, "twin store prune"):
        newest = newest_time_s(store)
        if newest is None:
            print(f"twin store prune: {store}: the 1-minute table is empty")
            return
        before_s = newest + 60 - keep_1min_days * 86_400  # N days up to the end of the newest minute
        done = drop_old_rows(store, before_s)
        if done.rows_dropped:  # files go one run late: a reader that just read the old marker finishes first
            time.sleep(2.0)
        files = drop_old_rows(store, before_s)
    print(
        f"twin store prune: {done.rows_dropped} row(s) dropped (rows from {files.first_row} on kept), "
        f"{done.files_deleted + files.files_deleted} file(s) deleted "
        f"({(done.bytes_freed + files.bytes_freed) / 1e6:.1f} MB)"
    )


@store_app.command("check")
def store_check(
    store: Annotated[Path, typer.Option("--store", help="State store folder.")],
    quick: Annotated[
        bool, typer.Option("--quick", help="Check records, time checksums and that chunks exist; decode no chunk.")
    ] = False,
) -> None:
    """Check every table against its commit record (reads every chunk; safe while 'twin live' runs)."""
    from twin.core.store_check import check_store

    checks = check_store(store, decode=not quick)
    for check in checks:
        print("\n".join(check.lines()))
    if not checks:
        print(f"{store}: no tables yet")
    damaged = [check.name for check in checks if not check.ok]
    if damaged:
        raise ConfigError(
            f"{len(damaged)} damaged table(s) ({', '.join(damaged)}); "
            f"'twin store repair --store {store}' fixes what it can prove",
            file=str(store),
        )


@store_app.command("repair")
def store_repair(
    store: Annotated[Path, typer.Option("--store", help="State store folder (stop 'twin live' first).")],
) -> None:
    """Repair what can be proven; says what it dropped and moves damaged files aside (deletes nothing)."""
    from twin.core.store_check import repair_store

    for line in repair_store(store):
        print(line)


def main(argv: list[str] | None = None) -> NoReturn:
    """Run the ``twin`` command and exit with its code.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name; default ``sys.argv[1:]``.
    """
    try:
        app(args=argv, prog_name="twin")
    except TwinError as err:
        _fail(f"twin: {err}", err.exit_code)
    except KeyboardInterrupt:
        _fail("twin: interrupted", 130)
    except Exception as err:
        if os.environ.get("TWIN_DEBUG"):
            raise
        _fail(f"twin: internal error: {type(err).__name__}: {err} (set TWIN_DEBUG=1 for the traceback)", 1)
    sys.exit(0)


def _join(counts: dict[str, int]) -> str:
    """``{"SFH": 62, "TH": 18}`` -> ``"SFH 62 · TH 18"``."""
    return " · ".join(f"{key} {value}" for key, value in counts.items())


def _fail(message: str, code: int) -> NoReturn:
    print(message, file=sys.stderr)
    sys.exit(code)
