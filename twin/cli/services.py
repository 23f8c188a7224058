"""The long-running commands: ``twin demo``, ``field``, ``live``, ``dashboard``; ``registers`` and ``certs``."""

from __future__ import annotations

import dataclasses
import functools
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from twin.cli.common import _join, app
from twin.core.errors import ConfigError, TwinError

if TYPE_CHECKING:
    from models.district import District
    from twin.field import Field
    from twin.field.perturbation import Perturbation
    from twin.field.scenario import FieldScenario
    from twin.live import LiveTwin
    from twin.live_control import LiveControl
    from twin.live_outlets import OutletOptions


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
    start: Annotated[
        str | None,
        typer.Option(
            help="Simulated start, ISO 8601: UTC (2026-11-25T10:00Z) or with an offset (2026-11-25T11:00+01:00); "
            "default today 10:00 UTC."
        ),
    ] = None,
    history: Annotated[
        bool,
        typer.Option(
            "--history/--no-history",
            help="Back-fill a new store with the year so far (1 January to the start) before the live twin starts.",
        ),
    ] = True,
) -> None:
    """Simulated field + live twin + controller server + dashboard, in one command."""
    from twin.core.times import parse_start_utc
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
        start=parse_start_utc(start) if start is not None else None,
        history=history,
    )
    check_ports(options)
    raise typer.Exit(run_demo(options))


_ControlOption = Annotated[
    Path | None,
    typer.Option(
        help="YAML with a control: block (a scenario file, or the block alone): what the buildings' heat pumps, "
        "wallboxes and home batteries do with the controller signal; a scenario file's changes: (heat pumps, "
        "cars, PV, home batteries, retrofits, grid) are applied to the field's district as the runner applies them."
    ),
]
_ControllerOption = Annotated[
    str | None,
    typer.Option(
        help="HOST:PORT of the live twin's controller server: the devices follow its signal registers instead "
        "of the field's own signal."
    ),
]


_LiveControlOption = Annotated[
    Path | None,
    typer.Option(
        "--control",
        help="YAML with a control: block (a scenario file, or the block alone): the controller signal runs its "
        "thresholds, signal (per_feeder, district), release_kw_per_h and preheat; default 95/85 %, per feeder.",
    ),
]


@app.command()
def field(
    site: Annotated[
        Path | None, typer.Option("--site", help="Site file to write (devices, ports, maps, clock).")
    ] = None,
    district: Annotated[str, typer.Option(help="Built-in district name or district file.")] = "beucha",
    speed: Annotated[float, typer.Option(help="Simulated seconds per wall second (> 0, <= 10000).")] = 1.0,
    start: Annotated[
        str | None, typer.Option(help="Simulated start, ISO 8601 (2026-11-25T10:00Z or 11:00+01:00); default now.")
    ] = None,
    faults: Annotated[Path | None, typer.Option(help="Fault plan (YAML) to play while the field runs.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of load variation and EV mobility.")] = 0,
    weather: Annotated[Path | None, typer.Option(help="Weather file; default DWD TRY2010 region 4.")] = None,
    host: Annotated[str, typer.Option(help="Interface every device server binds.")] = "127.0.0.1",
    truth: Annotated[
        Path | None,
        typer.Option("--truth", help="Truth file (CSV) to write: every device's and boundary's energy per quarter."),
    ] = None,
    history: Annotated[
        Path | None,
        typer.Option(
            "--history",
            help="Meter data file (CSV for 'twin import') to write before the clock runs: the meters' 15-minute "
            "energy from 1 January (UTC) to the start, and their readings then; the weather station's quarter-hours "
            "beside it (STEM-weather.csv).",
        ),
    ] = None,
    history_only: Annotated[
        bool, typer.Option("--history-only", help="Write --history and exit (no servers, no site file).")
    ] = False,
    hold_clock: Annotated[
        bool,
        typer.Option("--hold-clock", help="Hold simulated time at the start until the clock device is first read."),
    ] = False,
    perturbation: Annotated[
        Path | None,
        typer.Option(help="Hidden reality (YAML): factors on household electricity, space heat, PV per device."),
    ] = None,
    perturbation_seed: Annotated[
        int | None, typer.Option(help="Draw a hidden reality with this seed (instead of --perturbation).")
    ] = None,
    perturbation_out: Annotated[
        Path | None, typer.Option(help="Write the hidden reality in effect (drawn or read) to this YAML file.")
    ] = None,
    weather_station: Annotated[
        bool,
        typer.Option(
            "--weather-station/--no-weather-station", help="Serve the district's weather station (SunSpec 1 + 308)."
        ),
    ] = True,
    control: _ControlOption = None,
    controller: _ControllerOption = None,
) -> None:
    """The simulated field: the district's devices as Modbus TCP servers, until Ctrl-C or SIGTERM.

    The year of the simulated start from the scenarios' models, each device on its own port
    (household meters behind one gateway port per building); writes the site file.
    """
    from twin.field import Field, FieldOptions, load_fault_plan
    from twin.field.runtime import parse_start_utc

    start_utc = parse_start_utc(start)
    _check_field_files(site, history, history_only)
    chosen = _field_scenario(control, district, seed)
    loaded = chosen.loaded
    options = FieldOptions(
        speed=speed,
        start_utc=start_utc,
        seed=chosen.seed,
        weather=weather,
        host=host,
        fault_plan=load_fault_plan(faults) if faults is not None else None,
        truth_path=truth,
        history_path=None if history_only else history,
        hold_clock=hold_clock,
        perturbation=_field_perturbation(loaded.district, perturbation, perturbation_seed, perturbation_out),
        weather_station=weather_station,
        control=chosen.control,
        controller=_controller_address(controller),
    )
    _start_field(Field(loaded, options), site=site, history=history, history_only=history_only)


def _field_scenario(control: Path | None, district: str, seed: int) -> FieldScenario:
    """The field's district and control from ``--control FILE``; a scenario's changes are said on stderr."""
    from models.district import load_district
    from twin.field.scenario import field_scenario

    chosen = field_scenario(control, load_district(district), seed=seed)
    if chosen.summary is not None:
        print(f"twin field: {chosen.summary}", file=sys.stderr)
    return chosen


def _controller_address(text: str | None) -> tuple[str, int] | None:
    """HOST:PORT of ``--controller``."""
    if text is None:
        return None
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{text!r} is not HOST:PORT", field="--controller")
    return host, int(port)


def _start_field(field: Field, *, site: Path | None, history: Path | None, history_only: bool) -> None:
    """Write the meter history only (``--history-only``), or serve the field until stopped."""
    if history_only and history is not None:
        written = field.write_history(history)
        print(f"twin field: meter history {written.describe()}", file=sys.stderr)
        return
    assert site is not None
    _serve_field(field, site)


def _field_perturbation(
    district: District, path: Path | None, seed: int | None, out: Path | None
) -> Perturbation | None:
    """The field's hidden reality from --perturbation or --perturbation-seed (checked against the district)."""
    from models.district_factors import apply_factors
    from twin.field.perturbation import draw_perturbation, dump_perturbation, load_perturbation

    if path is not None and seed is not None:
        raise ConfigError("give --perturbation FILE or --perturbation-seed N, not both", field="--perturbation-seed")
    drawn = draw_perturbation(district, seed) if seed is not None else None
    perturbation = load_perturbation(path) if path is not None else drawn
    if perturbation is None:
        if out is not None:
            raise ConfigError("needs --perturbation or --perturbation-seed", field="--perturbation-out")
        return None
    apply_factors(district, perturbation.factors, file=str(path) if path is not None else f"perturbation seed {seed}")
    if out is not None:
        dump_perturbation(perturbation, out)
    return perturbation


def _serve_field(sim: Field, site: Path) -> None:
    """Start the field, write its site file, and run until Ctrl-C or SIGTERM (every server stopped)."""
    import signal
    import threading

    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        described = sim.start_background()
        sim.write_site(site)
        kinds: dict[str, int] = {}
        for device in described.devices:
            kinds[device.kind] = kinds.get(device.kind, 0) + 1
        print(
            f"twin field: {len(described.devices)} devices of {sim.loaded.district.name} on {sim.options.host} "
            f"({_join(kinds)}); site file {site}; start {described.start_utc}, speed {sim.speed:g}; Ctrl-C stops",
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
    outlets: Annotated[
        Path | None,
        typer.Option(help="MQTT (Home Assistant) and alert settings (YAML; README: MQTT, Home Assistant and alerts)."),
    ] = None,
    drift: Annotated[
        Path | None,
        typer.Option("--drift", help="PV drift alarms: the file of 'twin calibrate --drift --out'."),
    ] = None,
    control: _LiveControlOption = None,
) -> None:
    """The live twin: poll devices, derive the balance and KPIs, keep the state store (Ctrl-C stops).

    Also solves the district's power flow on the latest state every few seconds and serves building
    controllers: plain Modbus TCP (read-only) and Modbus/TCP Security (writers with a certificate of
    the writer CA).
    """
    import asyncio

    from twin.live_controllers import ControllerOptions
    from twin.live_services import run_live

    _check_live_options(
        grid_every_s=grid_every_s,
        keep_1min_days=keep_1min_days,
        ports={"--controller-port": controller_port, "--controller-tls-port": controller_tls_port},
    )
    _quiet_live_logging()
    certs_dir = certs or ctx.obj["data_root"] / "certs"
    hosts = (controller_host, controller_port, controller_tls_port, certs_dir)
    options = ControllerOptions(*hosts) if controllers else None
    twin = asyncio.run(
        run_live(
            site,
            store,
            status=functools.partial(print, flush=True),
            status_every_s=status_every_s,
            district=district,
            grid_every_s=grid_every_s,
            controllers=options,
            keep_1min_days=keep_1min_days or None,
            outlets=_outlet_options(outlets, drift),
            control=_live_control(control),
        )
    )
    _report_live_stop(twin, store)


def _live_control(control: Path | None) -> LiveControl:
    """The control of ``--control FILE`` (the live twin's defaults without); the live twin says it on start."""
    from twin.live_control import live_control

    return live_control(control)


def _outlet_options(outlets: Path | None, drift: Path | None) -> OutletOptions | None:
    """The outlets file's settings (:mod:`twin.live_outlets`) with the drift file of ``--drift``."""
    from twin.live_outlets import OutletOptions, load_outlets

    options = load_outlets(outlets) if outlets is not None else None
    if drift is None:
        return options
    return dataclasses.replace(options or OutletOptions(), drift_file=drift)


def _check_field_files(site: Path | None, history: Path | None, history_only: bool) -> None:
    """``--site`` unless only the history is written, which needs ``--history``."""
    if history_only and history is None:
        raise ConfigError("needs --history FILE", field="--history-only")
    if site is None and not history_only:
        raise ConfigError("missing option (the site file to write)", field="--site")


def _report_live_stop(twin: LiveTwin, store: Path) -> None:
    """Say how ``twin live`` stopped; ``TwinError`` when the store did not take every row."""
    unwritten = ", ".join(f"{rows} {name}" for name, rows in twin.store.pending_rows().items() if rows)
    if unwritten:
        raise TwinError(f"{store}: stopped with {unwritten} row(s) the store did not take ({twin.store.error})")
    print(f"twin live: stopped; snapshot and {twin.flushes} flush(es) in {store}", flush=True)


def _check_live_options(*, grid_every_s: float, keep_1min_days: float, ports: dict[str, int]) -> None:
    """Reject out-of-range options of ``twin live`` (``ConfigError`` naming the option)."""
    if not 0 < grid_every_s <= 3600:
        raise ConfigError(f"must be > 0 and <= 3600, got {grid_every_s:g}", field="--grid-every")
    if not 0 <= keep_1min_days <= 36_500:
        raise ConfigError(f"must be 0 (keep all) to 36500 days, got {keep_1min_days:g}", field="--keep-1min-days")
    for name, port in ports.items():
        if not 0 <= port <= 65535:
            raise ConfigError(f"must be 0..65535, got {port}", field=name)


def _quiet_live_logging() -> None:
    """Log levels of ``twin live``: no pymodbus connect warnings below -v, controller writes always."""
    if not logging.getLogger().isEnabledFor(logging.INFO):
        # pymodbus warns at every failed connect; the status line names failing devices instead
        logging.getLogger("pymodbus").setLevel(logging.ERROR)
    # every accepted controller write is logged with the client certificate's name
    logging.getLogger("twin.live_controllers").setLevel(logging.INFO)


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
    district: Annotated[
        str | None,
        typer.Option(
            help="Built-in district name or district file: households per building for the public page "
            "(default: counted from the snapshot's household meters)."
        ),
    ] = None,
    calibration: Annotated[
        Path | None,
        typer.Option(help="The Calibration page's file ('twin calibrate --out'); default DATA_ROOT/calibration.yaml."),
    ] = None,
) -> None:
    """The dashboard for energy managers (login from TWIN_DASHBOARD_USER/_PASSWORD or DATA_ROOT/dashboard-users.json).

    Served by gunicorn; /healthz and the public page /public/ (aggregates of at least five
    households) are public, every other route needs the login.
    With --certfile and --keyfile it serves HTTPS only.
    """
    from gunicorn.app.base import BaseApplication

    from dashboard import create_app

    if not 0 < port < 65536:
        raise ConfigError(f"port {port} is out of range", field="--port", allowed="1-65535")
    tls = _dashboard_tls(certfile, keyfile)
    data_root = ctx.obj["data_root"]
    households = _district_households(district) if district is not None else None
    server = create_app(
        data_root, store_dir=store, results_dir=results, households=households, calibration=calibration
    ).server

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


def _district_households(district: str) -> dict[str, int]:
    """Households per building of a district file (read and validated; its grid is not loaded)."""
    from models.district import district_path, parse_district
    from twin.core.config_loader import read_config

    path = district_path(district)
    file = str(path)
    parsed = parse_district(read_config(path, what="district file", file=file), file=file)
    return {building.id: building.n_households for building in parsed.buildings}


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
