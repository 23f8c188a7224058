"""What ``twin live`` runs: :func:`run_live` and the services beside polling.

:func:`run_live` holds the store's lock, runs :class:`twin.live.LiveTwin` until SIGINT or SIGTERM
and, beside it, the live power flow in a worker process (:mod:`twin.live_grid`) and the
controller server (:class:`connectors.controller_server.ControllerServer`, :mod:`twin.live_controllers`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import multiprocessing
import os
import signal
import ssl
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from connectors.certs import make_test_certs
from connectors.controller_server import ControllerServer, writer_ssl_context
from connectors.site import Site, load_site
from models.control.signal import SignalMachine
from twin.core.errors import ConfigError
from twin.core.retention import DEFAULT_KEEP_1MIN_DAYS
from twin.core.store import (
    StoreLock,
)
from twin.live import LiveTwin
from twin.live_control import LiveControl, default_control
from twin.live_controllers import ControllerLink, ControllerOptions, building_order
from twin.live_grid import DEFAULT_GRID_EVERY_S, prepare_worker, worker_step
from twin.live_imports import ImportInbox
from twin.live_outlets import OutletOptions, Outlets

__all__ = ["run_live"]

logger = logging.getLogger(__name__)


async def run_live(
    site_file: str | Path,
    store_dir: str | Path,
    *,
    status: Callable[[str], None] | None = None,
    status_every_s: float = 5.0,
    stop: asyncio.Event | None = None,
    district: str | Path | None = None,
    grid_every_s: float = DEFAULT_GRID_EVERY_S,
    controllers: ControllerOptions | None = None,
    keep_1min_days: float | None = DEFAULT_KEEP_1MIN_DAYS,
    outlets: OutletOptions | None = None,
    control: LiveControl | None = None,
) -> LiveTwin:
    """Run ``twin live`` until SIGINT or SIGTERM (or ``stop``), then flush; return the twin.

    Parameters
    ----------
    site_file, store_dir : str or Path
        The site file and the state store.
    status : callable, optional
        Receives the one-line status every ``status_every_s``.
    status_every_s : float, optional
        Wall time between status lines. [s]
    stop : asyncio.Event, optional
        Set to stop (default: SIGINT and SIGTERM only).
    district : str or Path, optional
        Built-in district name or file whose grid the live power flow solves (and whose building
        order the controller blocks follow); ``None``: no power flow.
    grid_every_s : float, optional
        Wall time between two live power flows. [s]
    controllers : ControllerOptions, optional
        Serve building controllers (:class:`~connectors.controller_server.ControllerServer`) in
        this event loop; ``None``: no controller server.
    keep_1min_days : float or None, optional
        Days of 1-minute means to keep; ``None``: all.
    outlets : OutletOptions, optional
        MQTT publishing and alert messages (:mod:`twin.live_outlets`); ``None``: none.
    control : LiveControl, optional
        The control the controller signal runs (:mod:`twin.live_control`); default the live twin's.

    Raises
    ------
    ConfigError
        Bad site or district file, or the store is locked by another writer.
    ConnectorError
        A controller port cannot be bound.
    """
    site = load_site(site_file)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    with StoreLock(store_dir, f"twin live --site {site_file}"):
        twin = LiveTwin(
            site,
            store_dir,
            base_dir=Path(site_file).parent,
            status=status,
            status_every_s=status_every_s,
            site_file=site_file,
            keep_1min_days=keep_1min_days,
        )
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        sinks = _outlets(twin, outlets, site)
        twin.listeners.append(inbox := ImportInbox(twin))  # twin import while twin live runs, by this writer
        running = asyncio.create_task(twin.run(stop), name="twin-live")
        services = _Services(twin, site, control or default_control())
        try:
            await services.start(district, controllers=controllers, grid_every_s=grid_every_s, stop=stop)
            await running
        finally:
            stop.set()
            await asyncio.gather(running, return_exceptions=True)
            await services.stop()
            inbox.close()
            if sinks is not None:
                await asyncio.to_thread(sinks.close)
            _remove_signal_handlers(loop)
        running.result()  # a failure of the polling loop is the command's failure
    return twin


class _Services:
    """What ``twin live`` runs beside polling: the live power flow and the controller server.

    The power flow (and the surplus forecast) run in one worker *process*: importing pandapower
    and preparing the district's grid take seconds of CPU, which in a thread would hold the GIL and
    delay polling (measured: device reads with a 0.3 s timeout failed at start). A step sends the
    balance (a few kB) and gets the ``grid`` section back.
    """

    def __init__(self, twin: LiveTwin, site: Site, control: LiveControl) -> None:
        self.twin = twin
        self.site = site
        self.control = control
        self.worker: ProcessPoolExecutor | None = None
        self.link: ControllerLink | None = None
        self.server: ControllerServer | None = None
        self.task: asyncio.Task[None] | None = None
        #: Wall time of the live steps (power flow + forecast, incl. the transfer). [s]
        self.step_s: list[float] = []

    async def start(
        self,
        district: str | Path | None,
        *,
        controllers: ControllerOptions | None,
        grid_every_s: float,
        stop: asyncio.Event,
    ) -> None:
        """Prepare the district's grid in the worker process (polling runs on), then serve."""
        loop = asyncio.get_running_loop()
        names: list[str] = []
        if district is not None:
            self.worker = ProcessPoolExecutor(
                max_workers=1, mp_context=multiprocessing.get_context("spawn"), initializer=_ignore_interrupts
            )
            started = time.perf_counter()
            names = await loop.run_in_executor(
                self.worker, prepare_worker, str(district), self.site, os.getpid(), self.control.control
            )
            logger.info("live power flow: grid prepared in a worker process in %.2f s", time.perf_counter() - started)
        self.link = link = ControllerLink(self.twin, building_order(self.site, names))
        link.control = self.control.section()
        if self.twin.status is not None:  # said once the store is ours and the grid prepared
            self.twin.status(f"twin live: controller signal: {self.control.description}")
        if controllers is not None:
            self.server = ControllerServer(
                link.provide,
                link.sink,
                signal=SignalMachine(self.control.config),
                host=controllers.host,
                port=controllers.port,
                tls_port=controllers.tls_port,
                tls=_tls_context(controllers.certs_dir),
                n_buildings=len(link.buildings),
                battery_limits_kw=link.battery_limits_kw,
                refresh_s=controllers.refresh_s,
            )
            await self.server.start()
            link.server = self.server
            self.twin.sections["controller"] = link.section
        if self.worker is not None:
            self.twin.sections["grid"] = lambda: link.grid
            self.task = asyncio.create_task(self._grid_loop(grid_every_s, stop), name="twin-live-grid")

    async def stop(self) -> None:
        """Stop the power flow, the server and pending setpoint writes; end the worker process."""
        task, self.task = self.task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if self.server is not None:
            await self.server.stop()
        if self.link is not None:
            await self.link.drain()
        if self.worker is not None:
            self.worker.shutdown(wait=True, cancel_futures=True)

    async def _grid_loop(self, every_s: float, stop: asyncio.Event) -> None:
        assert self.worker is not None and self.link is not None
        loop = asyncio.get_running_loop()
        link = self.link
        step = functools.partial(worker_step, p_peak_kw=link.p_peak_kw)
        while not stop.is_set():
            snap = self.twin.snapshot
            if snap is not None and snap.balance and snap.sim_time_s is not None:
                started = time.perf_counter()
                try:
                    result = await loop.run_in_executor(self.worker, step, snap.sim_time_s, snap.balance)
                except BrokenProcessPool:
                    logger.error("live power flow: the worker process died; no more grid updates")
                    return
                except Exception:  # keep polling and serving: the grid view waits for the next step
                    logger.exception("live power flow failed")
                else:
                    link.set_step(result)
                    self.step_s = [*self.step_s[-99:], time.perf_counter() - started]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=every_s)


def _outlets(twin: LiveTwin, outlets: OutletOptions | None, site: Site) -> Outlets | None:
    """MQTT publishing and alert messages attached to the twin (None: none configured)."""
    sinks = Outlets(outlets, site.name) if outlets is not None and outlets.any else None
    if sinks is not None:
        sinks.attach(twin)
    return sinks


def _remove_signal_handlers(loop: asyncio.AbstractEventLoop) -> None:
    """Give SIGINT and SIGTERM back (run_live set them to stop)."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.remove_signal_handler(sig)


def _ignore_interrupts() -> None:
    """In the power-flow worker: Ctrl-C is the live process's to handle (it ends the worker itself)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _tls_context(certs_dir: Path | None) -> ssl.SSLContext | None:
    """The writer listener's TLS context from a certificate folder (test certificates made if missing)."""
    if certs_dir is None:
        return None
    files = {name: certs_dir / name for name in ("server.pem", "server.key", "writer-ca.pem")}
    missing = [name for name, path in files.items() if not path.exists()]
    if len(missing) == len(files):
        make_test_certs(certs_dir)
        logger.warning(
            "controller server: no certificates in %s; made a test CA and certificates there (twin certs)", certs_dir
        )
    elif missing:
        raise ConfigError(
            f"{', '.join(missing)} missing beside the other certificate files",
            file=str(certs_dir),
            field="--certs",
        )
    return writer_ssl_context(files["server.pem"], files["server.key"], files["writer-ca.pem"])
