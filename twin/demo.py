"""``twin demo``: the simulated field, the live twin with its controller server and the dashboard.

The demo runs each part as its own ``twin`` process - exactly the commands a
newcomer can also start one by one - and supervises them:

1. ``twin field`` on a fast clock, from the simulated start (default: today at 10:00 UTC,
   :func:`twin.core.times.default_demo_start`), writes the meters' history from 1 January
   to the start (:mod:`twin.field.history`) and the site file; its clock holds at the start
   until the live twin first reads it;
2. ``twin import`` back-fills a new state store with that history, then ``twin live``
   continues it from the start, polls the field and serves building controllers
   (plain Modbus TCP and Modbus/TCP Security);
3. ``twin dashboard`` serves the energy managers;
4. ``twin scenario run baseline`` runs in the background when no baseline
   result exists yet (the dashboard's year projection uses it).

Each child runs in its own session, so Ctrl-C reaches only the demo, which
then stops the children in reverse order (SIGINT, then SIGKILL after a grace
period) and waits for them: no process is left behind, the ports are freed and
the live twin flushes its store. The dashboard login is generated on the first
start and kept under the data root.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from werkzeug.security import check_password_hash, generate_password_hash

from connectors.site import load_site
from scenarios.results import is_result_folder
from twin.core.errors import ConfigError, TwinError
from twin.core.times import default_demo_start

__all__ = ["DemoOptions", "demo_login", "run_demo"]

logger = logging.getLogger(__name__)

#: File under the data root that keeps the generated login (user and password, mode 0600).
LOGIN_FILE: Final[str] = "demo-login.json"
#: The dashboard's users file (see dashboard.auth).
USERS_FILE: Final[str] = "dashboard-users.json"
#: How long a child may take to stop after SIGINT before it is killed. [s]
STOP_GRACE_S: Final[float] = 15.0


@dataclass(frozen=True)
class DemoOptions:
    """What the demo starts and where.

    Parameters
    ----------
    data_root : Path
        Everything the demo writes lives below it.
    district : str
        Built-in district name or district file.
    speed : float
        Simulated seconds per wall second of the field.
    host : str
        Interface all servers bind (127.0.0.1 by default).
    dashboard_port, controller_port, controller_tls_port : int
        Ports of the dashboard, the plain and the TLS controller listener.
    run_baseline : bool
        Run the baseline scenario in the background when its result is missing.
    start : datetime, optional
        The field's simulated start (aware); default :func:`twin.core.times.default_demo_start`.
    history : bool
        Back-fill a new store with the year so far before the live twin starts (an existing
        store is kept beside it); without, the store is continued when its timeline ends before
        the start.
    """

    data_root: Path
    district: str = "beucha"
    speed: float = 60.0
    host: str = "127.0.0.1"
    dashboard_port: int = 8050
    controller_port: int = 1502
    controller_tls_port: int = 1802
    run_baseline: bool = True
    start: datetime | None = None
    history: bool = True


#: How long the back-fill (``twin import`` of the year so far) may take. [s]
IMPORT_TIMEOUT_S: Final[float] = 600.0


@dataclass
class _Child:
    name: str
    process: subprocess.Popen[bytes]
    essential: bool = True
    log: Path | None = None
    stopped: bool = field(default=False)


def demo_login(data_root: Path) -> tuple[str, str]:
    """Return the demo's dashboard login, generating it on the first start.

    The user and a random password are kept in ``DATA_ROOT/demo-login.json``
    (mode 0600) and the password's hash in the dashboard's users file.
    """
    data_root.mkdir(parents=True, exist_ok=True)
    login_file = data_root / LOGIN_FILE
    if login_file.is_file():
        stored = json.loads(login_file.read_text(encoding="utf-8"))
        user, password = str(stored["user"]), str(stored["password"])
    else:
        user, password = "manager", secrets.token_urlsafe(12)
        _write_private(login_file, json.dumps({"user": user, "password": password}))
    users_file = data_root / USERS_FILE
    users = json.loads(users_file.read_text(encoding="utf-8")) if users_file.is_file() else {}
    stored = users.get(user)
    if not (
        isinstance(stored, str) and stored.startswith(("scrypt:", "pbkdf2:")) and check_password_hash(stored, password)
    ):
        users[user] = generate_password_hash(password)  # the dashboard keeps hashes only (dashboard.auth)
        _write_private(users_file, json.dumps(users, indent=2))
    return user, password


def run_demo(options: DemoOptions) -> int:
    """Start the demo's processes, print how to reach them, and supervise them until Ctrl-C.

    Returns
    -------
    exit_code : int
        0 after a clean stop, 1 when a part died on its own.
    """
    root = options.data_root.resolve()
    demo_dir = root / "demo"
    logs = demo_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    site = demo_dir / "site.yaml"
    store = root / "live"
    results = root / "scenarios"
    certs = root / "certs"
    site.unlink(missing_ok=True)
    user, password = demo_login(root)

    children: list[_Child] = []
    stop_requested = False

    def request_stop(signum: int, frame: object) -> None:
        nonlocal stop_requested
        stop_requested = True

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    start = options.start or default_demo_start()
    history = demo_dir / "meter-history.csv"
    try:
        if options.history:
            _keep_store_aside(store)
        children.append(_start("field", _field_args(options, site, start, history), root, logs))
        _wait_for(
            lambda: site.is_file(), children, "the field's site file", timeout_s=180.0, stop=lambda: stop_requested
        )
        if options.history:
            _import_history(root, store, site, history, logs)
        else:
            _new_store_if_later(store, site)
        children.append(_start("live", _live_args(options, site, store, certs), root, logs))
        children.append(_start("dashboard", _dashboard_args(options, store, results), root, logs))
        if options.run_baseline and not is_result_folder(results / "baseline"):
            children.append(
                _start(
                    "baseline scenario",
                    ["scenario", "run", "baseline", "--out", str(results), "--workers", "0"],
                    root,
                    logs,
                    essential=False,
                )
            )
        url = f"http://{options.host}:{options.dashboard_port}/"
        _wait_for(
            lambda: _healthy(url + "healthz"), children, "the dashboard", timeout_s=60.0, stop=lambda: stop_requested
        )
        _say(
            "\n".join(
                [
                    "twin demo is running (Ctrl-C stops everything)",
                    f"  dashboard        {url}   login: {user} / {password}",
                    f"  controllers      modbus tcp://{options.host}:{options.controller_port} (read-only), "
                    f"modbus+tls://{options.host}:{options.controller_tls_port} (writers; certificates in {certs})",
                    f"  simulated field  site file {site}, speed {options.speed:g}x, "
                    f"start {start:%Y-%m-%dT%H:%M:%SZ}"
                    + (f" (the year so far from {history.name})" if options.history else ""),
                    f"  state store      {store}",
                    f"  scenarios        {results}",
                    f"  logs             {logs}",
                ]
            )
        )
        return _supervise(children, lambda: stop_requested)
    finally:
        _stop_all(children)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _field_args(options: DemoOptions, site: Path, start: datetime, history: Path) -> list[str]:
    """Arguments of ``twin field`` in the demo."""
    args = [
        "field",
        "--district",
        options.district,
        "--speed",
        str(options.speed),
        "--host",
        options.host,
        "--site",
        str(site),
        "--start",
        start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    ]
    return [*args, "--history", str(history), "--hold-clock"] if options.history else args


def _keep_store_aside(store: Path) -> None:
    """Move a store that holds anything aside (``live.until-TIME``): the back-fill begins a new one.

    TIME is the store's simulated time (its snapshot's), else the wall time. Nothing is deleted.
    """
    if not store.is_dir() or not any(store.iterdir()):
        return
    try:
        end_s = float(json.loads((store / "snapshot.json").read_text(encoding="utf-8"))["sim_time_s"])
    except (OSError, ValueError, KeyError, TypeError):
        end_s = time.time()
    until = datetime.fromtimestamp(end_s, UTC).strftime("%Y%m%dT%H%M%SZ")
    kept = store.with_name(f"{store.name}.until-{until}")
    suffix = 1
    while kept.exists():
        suffix += 1
        kept = store.with_name(f"{store.name}.until-{until}-{suffix}")
    store.rename(kept)
    logger.warning("the year so far goes into a new store; the previous one is kept as %s", kept)


def _import_history(root: Path, store: Path, site: Path, history: Path, logs: Path) -> None:
    """``twin import`` of the field's history into the (new) store, before the live twin takes it."""
    log = logs / "import.log"
    command = [sys.executable, "-m", "twin", "--data-root", str(root), "import", "--store", str(store)]
    command += ["--site", str(site), str(history)]
    weather = history.with_name(f"{history.stem}-weather.csv")  # the field's weather station, beside its meters
    if weather.is_file():
        command.append(str(weather))
    started = time.monotonic()
    with log.open("ab") as handle:
        done = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.STDOUT,
            check=False,
            timeout=IMPORT_TIMEOUT_S,
        )
    if done.returncode != 0:
        raise TwinError(f"the import of the year so far failed (exit {done.returncode}); see {log}")
    logger.info("the year so far imported in %.1f s", time.monotonic() - started)


def _new_store_if_later(store: Path, site: Path) -> None:
    """Move a store whose timeline is later than the field's start aside (``live.until-TIME``).

    One timeline per store: the demo's field starts at now, an earlier demo at a high speed may
    have run ahead of it. Nothing is deleted.
    """
    try:
        end_s = float(json.loads((store / "snapshot.json").read_text(encoding="utf-8"))["sim_time_s"])
        start_utc = load_site(site).start_utc
    except (OSError, ValueError, KeyError, TypeError):
        return
    if start_utc is None or end_s <= datetime.fromisoformat(start_utc.replace("Z", "+00:00")).timestamp():
        return
    until = datetime.fromtimestamp(end_s, UTC).strftime("%Y%m%dT%H%M%SZ")
    kept = store.with_name(f"{store.name}.until-{until}")
    store.rename(kept)
    logger.warning("the store's timeline runs to %s, after the field's start: kept as %s; a new store", until, kept)


def _live_args(options: DemoOptions, site: Path, store: Path, certs: Path) -> list[str]:
    """Arguments of ``twin live`` in the demo."""
    return [
        "live",
        "--site",
        str(site),
        "--store",
        str(store),
        "--district",
        options.district,
        "--controller-host",
        options.host,
        "--controller-port",
        str(options.controller_port),
        "--controller-tls-port",
        str(options.controller_tls_port),
        "--certs",
        str(certs),
    ]


def _dashboard_args(options: DemoOptions, store: Path, results: Path) -> list[str]:
    """Arguments of ``twin dashboard`` in the demo."""
    return [
        "dashboard",
        "--host",
        options.host,
        "--port",
        str(options.dashboard_port),
        "--store",
        str(store),
        "--results",
        str(results),
        "--workers",
        "1",
        "--district",
        options.district,
    ]


def _supervise(children: list[_Child], stop_requested: Callable[[], bool]) -> int:
    """Watch the children until a stop is requested (0) or an essential one dies on its own (1)."""
    while not stop_requested():
        for child in children:
            code = child.process.poll()
            if code is None or child.stopped:
                continue
            child.stopped = True
            if child.essential:
                _say(f"twin demo: {child.name} stopped on its own (exit {code}); see {child.log}")
                return 1
            _say(f"twin demo: {child.name} finished (exit {code})")
        time.sleep(0.2)
    return 0


def _start(name: str, args: list[str], root: Path, logs: Path, *, essential: bool = True) -> _Child:
    log = logs / f"{name.split()[0]}.log"
    command = [sys.executable, "-m", "twin", "--data-root", str(root), *args]
    handle = log.open("ab")
    process = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
    )
    handle.close()
    logger.info("started %s (pid %d): %s", name, process.pid, " ".join(command))
    return _Child(name=name, process=process, essential=essential, log=log)


def _wait_for(ready: object, children: list[_Child], what: str, *, timeout_s: float, stop: object) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if callable(stop) and stop():
            raise KeyboardInterrupt
        if callable(ready) and ready():
            return
        for child in children:
            code = child.process.poll()
            if code is not None and child.essential:
                child.stopped = True
                raise TwinError(f"{child.name} stopped while waiting for {what} (exit {code}); see {child.log}")
        time.sleep(0.2)
    logs = children[0].log.parent if children and children[0].log else Path()
    raise TwinError(f"{what} not ready after {timeout_s:.0f} s; see the logs in {logs}")


def _stop_all(children: list[_Child]) -> None:
    for child in reversed(children):
        if child.process.poll() is None:
            # the child alone: it stops its own workers in order (a group signal would hit them first)
            with contextlib.suppress(ProcessLookupError):
                child.process.send_signal(signal.SIGINT)
    deadline = time.monotonic() + STOP_GRACE_S
    for child in reversed(children):
        remaining = max(0.1, deadline - time.monotonic())
        try:
            child.process.wait(timeout=remaining)
        except subprocess.TimeoutExpired:
            logger.warning("%s did not stop within %.0f s: killing it", child.name, STOP_GRACE_S)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.process.pid, signal.SIGKILL)
            child.process.wait(timeout=5.0)
        # whatever the child started in its session (gunicorn workers, Dask workers) goes too
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.process.pid, signal.SIGKILL)


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1.0) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.chmod(0o600)
    tmp.replace(path)


def _say(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def check_ports(options: DemoOptions) -> None:
    """Fail early with one line when a port the demo needs is taken."""
    import socket

    for name, port in (
        ("--port", options.dashboard_port),
        ("--controller-port", options.controller_port),
        ("--controller-tls-port", options.controller_tls_port),
    ):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((options.host, port))
            except OSError as err:
                raise ConfigError(
                    f"port {port} on {options.host} is in use ({err.strerror})", field=name, allowed="a free port"
                ) from err
