"""Device-side Modbus TCP servers: one or more simulated devices behind one port.

:class:`DeviceServer` serves :class:`~connectors.simdevice.SimulatedDevice` objects with
pymodbus 3.16's ``ModbusTcpServer([SimDevice(...)], address=...)`` - one device per port, or a
gateway with several unit ids. It binds 127.0.0.1 and port 0 (the OS picks a free port) unless
told otherwise, and reports the port it got. Stopping it refuses connections (the "stop
answering" fault); :meth:`DeviceServer.restart` stops and starts it again on the same port with
the same registers, so energy counters survive the restart.

The servers run in an asyncio event loop. Synchronous code (the simpy field, pysunspec2's
client in tests) runs them in a :class:`ServerLoopThread`, a background thread with its own loop.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Coroutine, Sequence
from types import TracebackType
from typing import Any, Final, Self, TypeVar

from pymodbus.server import ModbusTcpServer

from connectors.simdevice import SimulatedDevice
from twin.core.errors import ConnectorError

__all__ = ["DEFAULT_HOST", "SERVER_THREAD_PREFIX", "DeviceServer", "ServerLoopThread", "listen"]

logger = logging.getLogger(__name__)

#: Every server binds the loopback interface unless told otherwise (DESIGN.md section 7).
DEFAULT_HOST: Final[str] = "127.0.0.1"
#: Name prefix of the threads :class:`ServerLoopThread` starts (tests look for leftovers).
SERVER_THREAD_PREFIX: Final[str] = "twin-device-servers"

_T = TypeVar("_T")


class DeviceServer:
    """Serve simulated devices on one TCP port.

    Parameters
    ----------
    devices : sequence of SimulatedDevice
        The devices behind the port, each with its own unit id.
    host : str, optional
        Interface to bind (default 127.0.0.1).
    port : int, optional
        Port to bind; 0 (default) lets the OS pick a free one, see :attr:`port`.
    name : str, optional
        Name for logs and errors (default: the first device's name).

    Examples
    --------
    >>> async with DeviceServer([SimulatedDevice(load_map("sdm630"))]) as server:  # doctest: +SKIP
    ...     print(server.port)
    """

    def __init__(
        self,
        devices: Sequence[SimulatedDevice],
        *,
        host: str = DEFAULT_HOST,
        port: int = 0,
        name: str | None = None,
    ) -> None:
        if not devices:
            raise ValueError("a device server needs at least one device")
        ids = [device.unit_id for device in devices]
        if len(set(ids)) != len(ids):
            raise ValueError(f"unit ids must differ on one port: {ids}")
        self.devices = {device.unit_id: device for device in devices}
        self.host = host
        self.name = name or devices[0].name
        self._port = port
        self._server: ModbusTcpServer | None = None

    @property
    def port(self) -> int:
        """The TCP port the server listens on (known after the first start)."""
        return self._port

    @property
    def running(self) -> bool:
        """Whether the server accepts connections."""
        return self._server is not None

    async def start(self) -> int:
        """Listen and answer requests; return the port.

        Raises
        ------
        ConnectorError
            The port cannot be bound (e.g. taken after a restart).
        """
        if self._server is not None:
            return self._port
        server = ModbusTcpServer(
            [device.sim_device() for device in self.devices.values()], address=(self.host, self._port)
        )
        self._port = await listen(server, what=f"device server {self.name}", address=(self.host, self._port))
        self._server = server
        logger.debug("device server %s listening on %s:%d", self.name, self.host, self._port)
        return self._port

    async def stop(self) -> None:
        """Close the listener and every connection; clients are refused until the next start."""
        server, self._server = self._server, None
        if server is None:
            return
        for device in self.devices.values():
            device.release_hung()
        await server.shutdown()
        await asyncio.sleep(0)  # let the closed connections' callbacks run
        logger.debug("device server %s on port %d stopped", self.name, self._port)

    async def restart(self, *, down_s: float = 0.0) -> None:
        """Stop, stay down for ``down_s`` seconds, and start again on the same port.

        Parameters
        ----------
        down_s : float, optional
            Time without a listener. [s]
        """
        await self.stop()
        if down_s > 0:
            await asyncio.sleep(down_s)
        await self.start()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()


class ServerLoopThread:
    """A background thread running an asyncio loop, for serving devices from synchronous code.

    Parameters
    ----------
    name : str, optional
        Thread name (starts with :data:`SERVER_THREAD_PREFIX`).

    Examples
    --------
    >>> with ServerLoopThread() as loop:  # doctest: +SKIP
    ...     server = DeviceServer([device])
    ...     port = loop.run(server.start())
    ...     loop.run(server.stop())
    """

    def __init__(self, name: str = SERVER_THREAD_PREFIX) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._servers: list[DeviceServer] = []

    def start(self) -> None:
        """Start the thread and its loop."""
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, _T], *, timeout_s: float = 10.0) -> _T:
        """Run a coroutine in the loop and wait for its result.

        Parameters
        ----------
        coro : coroutine
            E.g. ``server.start()``.
        timeout_s : float, optional
            Longest wait. [s]
        """
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout_s)

    def serve(self, server: DeviceServer) -> int:
        """Start a server in the loop, remember it for :meth:`stop`, and return its port."""
        port = self.run(server.start())
        self._servers.append(server)
        return port

    def call(self, func: Any, *args: Any) -> None:
        """Schedule a plain function in the loop's thread (thread-safe)."""
        self.loop.call_soon_threadsafe(func, *args)

    def stop(self, *, timeout_s: float = 10.0) -> None:
        """Stop every server started by :meth:`serve`, then the loop, and join the thread."""
        if not self._thread.is_alive():
            return
        try:
            self.run(self._stop_all(), timeout_s=timeout_s)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout_s)
        if self._thread.is_alive():
            raise ConnectorError(f"server loop thread {self._thread.name} did not stop within {timeout_s} s")
        self.loop.close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    async def _stop_all(self) -> None:
        await asyncio.gather(*(server.stop() for server in self._servers))
        self._servers.clear()
        current = asyncio.current_task()
        pending = [task for task in asyncio.all_tasks() if task is not current]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()


async def listen(server: ModbusTcpServer, *, what: str, address: tuple[str, int]) -> int:
    """Start a pymodbus server in the background and return the port it bound.

    Parameters
    ----------
    server : pymodbus.server.ModbusTcpServer
        A TCP or TLS server, not started yet.
    what : str
        The server's name for the error message.
    address : tuple of str and int
        The host and port it was asked to bind (0: any free port).

    Raises
    ------
    ConnectorError
        The port cannot be bound; the server is shut down again.
    """
    try:
        await server.serve_forever(background=True)
    except (RuntimeError, OSError) as err:
        await server.shutdown()
        raise ConnectorError(f"{what}: cannot listen on {address[0]}:{address[1]}: {err}") from err
    sockets = getattr(server.transport, "sockets", None) or ()
    return int(sockets[0].getsockname()[1]) if sockets else address[1]
