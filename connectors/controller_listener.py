"""The controller server's listeners: connection slots, deadlines, TLS, and frame checks.

:class:`GuardedTcpServer` (plain Modbus TCP) and :class:`GuardedTlsServer` (Modbus/TCP
Security) are pymodbus listeners whose connections are :class:`GuardedHandler`: the listener
accepts plain TCP and registers nothing; on the TLS listener the handler runs the handshake
itself, holding a handshake slot (:mod:`connectors.connection_slots`) under the handshake
deadline, and only then becomes a pymodbus connection holding a session slot. Every way out
gives the slot back, so the counts cannot leak (pymodbus registers each accepted socket and
never unregisters one whose handshake fails). The handler checks frames before pymodbus decodes
them (pymodbus answers some wrongly or not at all), restarts the idle timer only on complete
requests and gives a started request ``request_timeout_s`` to complete.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import ssl
import struct
import time
from asyncio import sslproto
from collections.abc import Callable
from typing import Any, Final

from pymodbus.constants import ExcCodes
from pymodbus.pdu import ExceptionResponse
from pymodbus.server import ModbusTcpServer, ModbusTlsServer
from pymodbus.server.requesthandler import ServerRequestHandler

from connectors.connection_slots import ListenerSlots, Slot

__all__ = ["CLIENT_SUBJECT", "Guard", "GuardedHandler", "GuardedTcpServer", "GuardedTlsServer"]

logger = logging.getLogger(__name__)

#: Certificate subject of the client whose request is being handled (set per request task).
CLIENT_SUBJECT: contextvars.ContextVar[str] = contextvars.ContextVar("controller_peer", default="")
_MBAP: Final[struct.Struct] = struct.Struct(">HHHB")
#: Connections the kernel queues for accept (asyncio's default of 100 drops connects in a burst).
_BACKLOG: Final[int] = 1024
#: Longest wait for TLS handshakes to end when a listener stops. [s]
_SHUTDOWN_WAIT_S: Final[float] = 1.0


class Guard:
    """What a listener accepts: function codes, unit ids; its connection slots and TLS context."""

    def __init__(
        self, *, codes: frozenset[int], unit_ids: frozenset[int], slots: ListenerSlots, tls: ssl.SSLContext | None
    ) -> None:
        self.codes = codes
        self.unit_ids = unit_ids
        self.slots = slots
        self.tls = tls
        #: TLS handshakes running now.
        self.handshake_tasks: set[asyncio.Task[None]] = set()


class GuardedHandler(ServerRequestHandler):
    """Pymodbus' request handler with slots, deadlines, checks before its decoder, and TLS.

    The listener accepts plain TCP; on the TLS listener the handler runs the handshake itself
    (holding a handshake slot, bounded by ``handshake_timeout_s``) and only then becomes a
    pymodbus connection holding a session slot. The idle timer restarts on complete requests
    only; the first byte of a request starts a deadline of ``request_timeout_s`` for the rest.
    """

    guard: Guard
    peer_name: str = ""
    _host: str = "?"
    _secured: bool = False
    _session: Slot | None = None
    _idle: asyncio.TimerHandle | None = None
    _deadline: asyncio.TimerHandle | None = None
    #: Bytes that arrived with the end of the TLS handshake, before the session began.
    _early: bytes = b""

    # --- connection life cycle ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Start the TLS handshake, or take a session slot and become a pymodbus connection."""
        if self.guard.tls is not None and not self._secured:
            self._start_handshake(transport)
            return
        if not self._secured:
            self._host = _peer_host(transport)
        session = Slot(self._host, close=self._drop_evicted)
        if not self.guard.slots.sessions.admit(session):
            _abort(transport)
            return
        self._session = session
        self.listener = self.server  # pymodbus' registry of connections, closed at shutdown
        self.server.active_connections[self.unique_id] = self
        super().connection_made(transport)
        early, self._early = self._early, b""
        if early:
            self.data_received(early)

    def data_received(self, data: bytes) -> None:
        """Pass bytes to pymodbus once the session began; keep those that came before."""
        if self._session is not None:
            super().data_received(data)
        else:
            # asyncio hands over data that came with the client's last handshake message before
            # the handshake coroutine resumes; keep it for the session (one frame at most)
            self._early = (self._early + data)[: self.max_buffer_size]

    def callback_connected(self) -> None:
        """Note the client certificate's subject and start the idle timer."""
        super().callback_connected()
        if self.guard.tls is not None:
            self.peer_name = _subject(self.transport.get_extra_info("peercert"))
            logger.debug("controller server: TLS client %s connected", self.peer_name)
        self._arm_idle()

    def connection_lost(self, exc: Exception | None) -> None:
        """Give the slot back, then let pymodbus clean up."""
        self._release()
        super().connection_lost(exc)

    def close(self, reconnect: bool = False) -> None:
        """Give the slot back, then close as pymodbus does."""
        self._release()
        super().close(reconnect)

    def _release(self) -> None:
        """Give the session slot back and stop the timers (idempotent)."""
        for timer in (self._idle, self._deadline):
            if timer is not None:
                timer.cancel()
        self._idle = self._deadline = None
        session, self._session = self._session, None
        if session is not None:
            self.guard.slots.sessions.release(session)

    def _drop(self) -> None:
        """Close at once: abort (no TLS close_notify wait), then let pymodbus clean up."""
        if self.transport is not None:
            _abort(self.transport)
        self.close()

    def _drop_evicted(self) -> None:
        logger.debug("controller server: closing a connection of %s to make room", self._host)
        self._drop()

    # --- TLS handshake -----------------------------------------------------------------------

    def _start_handshake(self, raw: asyncio.BaseTransport) -> None:
        self._host = _peer_host(raw)
        if not isinstance(raw, asyncio.Transport):  # a listener's sockets are always streams
            raw.close()
            return
        # "stalled" until the client's first bytes: silent connects are the first to make room
        pending = Slot(self._host, close=raw.abort)
        pending.request_started_s = pending.opened_s
        if not self.guard.slots.handshakes.admit(pending):
            raw.abort()
            return
        task = self.loop.create_task(self._handshake(raw, pending), name="controller-server-tls-handshake")
        self.guard.handshake_tasks.add(task)
        task.add_done_callback(self.guard.handshake_tasks.discard)

    async def _handshake(self, raw: asyncio.Transport, pending: Slot) -> None:
        slots = self.guard.slots
        assert self.guard.tls is not None
        timeout_s = slots.limits.handshake_timeout_s
        timer = self.loop.call_later(timeout_s, self._handshake_timed_out, raw, pending)
        transport: asyncio.BaseTransport | None = None
        try:
            # asyncio's own handshake deadline is only a backstop behind the timer above
            transport = await _start_tls(raw, self, self.guard.tls, 2 * timeout_s, on_bytes=lambda: _progress(pending))
        except asyncio.CancelledError:
            slots.handshakes.release(pending)
            raise
        except Exception as err:  # noqa: BLE001 - any failure ends this connection, nothing else
            logger.debug("controller server: TLS handshake with %s failed: %s", self._host, err)
        finally:
            timer.cancel()
        if not slots.handshakes.release(pending):  # evicted or timed out meanwhile
            if transport is not None:
                _abort(transport)
            return
        if transport is None or transport.is_closing():
            slots.events["handshake_failed"] += 1
            raw.abort()
            return
        self._secured = True
        self.connection_made(transport)

    def _handshake_timed_out(self, raw: asyncio.Transport, pending: Slot) -> None:
        if self.guard.slots.handshakes.release(pending):
            self.guard.slots.events["handshake_timeout"] += 1
            logger.debug("controller server: TLS handshake with %s timed out", self._host)
            raw.abort()

    # --- requests ----------------------------------------------------------------------------

    def callback_data(self, data: bytes, addr: tuple[Any, ...] | None = None) -> int:
        """Answer a complete frame; keep the request deadline and idle timer up to date."""
        used = self._take_frame(data, addr)
        session = self._session
        if session is None or self.is_closing:
            return used
        now = time.monotonic()
        if used:
            session.last_request_s = now
            session.request_started_s = None
            self._arm_idle()
        if len(data) > used:
            if session.request_started_s is None:
                session.request_started_s = now
                self._deadline = self.loop.call_later(
                    self.guard.slots.limits.request_timeout_s, self._timed_out, "request_timeout"
                )
        else:
            session.request_started_s = None
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None
        return used

    def _take_frame(self, data: bytes, addr: tuple[Any, ...] | None) -> int:
        """Answer one complete frame at the start of ``data``; return the bytes used (0: wait)."""
        if len(data) < _MBAP.size:
            return 0  # wait for the rest of the header
        transaction, protocol, length, unit_id = _MBAP.unpack_from(data)
        if protocol != 0 or not 2 <= length <= 254:
            logger.debug("controller server: broken MBAP header %s, closing", data[:7].hex())
            self.close()
            return len(data)
        end = 6 + length
        if len(data) < end:
            return 0
        pdu = data[_MBAP.size : end]
        function_code = pdu[0]
        code = _precheck(pdu, unit_id, self.guard)
        if code is not None:
            response = ExceptionResponse(
                function_code & 0x7F, exception_code=code, device_id=unit_id, transaction=transaction
            )
            self.server_send(response, addr)
            return end
        used = super().callback_data(data[:end], addr)
        return used if used else end

    async def handle_request(self) -> None:
        """Handle a request with the client's certificate subject in :data:`CLIENT_SUBJECT`."""
        CLIENT_SUBJECT.set(self.peer_name)
        await super().handle_request()

    def _arm_idle(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
        self._idle = self.loop.call_later(self.guard.slots.limits.idle_timeout_s, self._timed_out, "idle_timeout")

    def _timed_out(self, kind: str) -> None:
        self.guard.slots.events[kind] += 1
        logger.debug("controller server: %s of a connection of %s, closing", kind.replace("_", " "), self._host)
        self._drop()


class GuardedTcpServer(ModbusTcpServer):
    """Pymodbus' TCP listener: plain TCP accept (TLS is the handler's), no registration at accept."""

    guard: Guard

    def init_setup_connect_listen(self, host: str, port: int) -> None:
        """Listen on plain TCP (the handler does TLS) with a longer accept queue."""
        super().init_setup_connect_listen(host, port)
        create = self.call_create
        if isinstance(create, functools.partial):
            keywords = {**create.keywords, "ssl": None, "backlog": _BACKLOG}
            self.call_create = functools.partial(create.func, *create.args, **keywords)

    def handle_new_connection(self) -> GuardedHandler:
        """Make the handler of an accepted socket without registering it yet."""
        # pymodbus registers every accepted socket here and forgets to unregister one whose TLS
        # handshake fails; the handler registers itself once it holds a session slot
        handler = GuardedHandler(self, self.trace_packet, self.trace_pdu, self.trace_connect)
        handler.guard = self.guard
        return handler

    async def shutdown(self) -> None:
        """Close the listener, every connection and every handshake in progress."""
        await super().shutdown()
        self.guard.slots.close_all()
        tasks = list(self.guard.handshake_tasks)
        if tasks:
            await asyncio.wait(tasks, timeout=_SHUTDOWN_WAIT_S)


class GuardedTlsServer(GuardedTcpServer, ModbusTlsServer):
    """The same for Modbus/TCP Security (pymodbus' TLS framer)."""


class _Watched(asyncio.BufferedProtocol):
    """asyncio's TLS protocol behind a watcher that reports each read from the socket."""

    def __init__(self, inner: sslproto.SSLProtocol, on_bytes: Callable[[], None]) -> None:
        self.inner = inner
        self.on_bytes = on_bytes

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.inner.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    def get_buffer(self, sizehint: int) -> Any:
        return self.inner.get_buffer(sizehint)

    def buffer_updated(self, nbytes: int) -> None:
        self.on_bytes()
        self.inner.buffer_updated(nbytes)

    def eof_received(self) -> None:
        self.inner.eof_received()


async def _start_tls(
    raw: asyncio.Transport,
    protocol: asyncio.BaseProtocol,
    context: ssl.SSLContext,
    timeout_s: float,
    *,
    on_bytes: Callable[[], None],
) -> asyncio.BaseTransport | None:
    """``loop.start_tls(..., server_side=True)`` that also reports the client's bytes.

    The steps of asyncio's ``BaseEventLoop.start_tls`` (Python 3.11), with :class:`_Watched`
    between the socket and the TLS protocol until the handshake is done. Returns the TLS
    transport (``None`` if the connection closed without an error).
    """
    loop = asyncio.get_running_loop()
    waiter = loop.create_future()
    ssl_protocol = sslproto.SSLProtocol(
        loop,
        protocol,
        context,
        waiter,
        server_side=True,
        call_connection_made=False,
        ssl_handshake_timeout=timeout_s,  # type: ignore[arg-type]
    )
    raw.pause_reading()
    raw.set_protocol(_Watched(ssl_protocol, on_bytes))
    made = loop.call_soon(ssl_protocol.connection_made, raw)
    resumed = loop.call_soon(raw.resume_reading)
    try:
        await waiter
    except BaseException:
        raw.close()
        made.cancel()
        resumed.cancel()
        raise
    raw.set_protocol(ssl_protocol)  # handshake done: no watcher in the data path
    return ssl_protocol._app_transport  # what asyncio's start_tls returns


def _progress(pending: Slot) -> None:
    """The client of a handshake in progress sent bytes."""
    pending.request_started_s = None
    pending.last_request_s = time.monotonic()


# --- helpers -------------------------------------------------------------------------------


def _precheck(pdu: bytes, unit_id: int, guard: Guard) -> ExcCodes | None:
    """Exception code for a request pymodbus would answer wrongly or not at all, else ``None``."""
    function_code = pdu[0]
    if unit_id not in guard.unit_ids:
        return ExcCodes.GATEWAY_NO_RESPONSE
    if function_code not in guard.codes:
        return ExcCodes.ILLEGAL_FUNCTION
    if function_code == 3:
        if len(pdu) != 5:
            return ExcCodes.ILLEGAL_VALUE
        count = int.from_bytes(pdu[3:5], "big")
        return None if 1 <= count <= 125 else ExcCodes.ILLEGAL_VALUE
    if function_code == 6:
        return None if len(pdu) == 5 else ExcCodes.ILLEGAL_VALUE
    if len(pdu) < 6:
        return ExcCodes.ILLEGAL_VALUE
    count, byte_count = int.from_bytes(pdu[3:5], "big"), pdu[5]
    if not 1 <= count <= 123 or byte_count != 2 * count or len(pdu) != 6 + byte_count:
        return ExcCodes.ILLEGAL_VALUE
    return None


def _abort(transport: asyncio.BaseTransport) -> None:
    """Close a connection at once, without waiting for unsent data or a TLS close_notify."""
    if isinstance(transport, asyncio.Transport):
        transport.abort()
    else:
        transport.close()


def _peer_host(transport: asyncio.BaseTransport) -> str:
    """The client's address of a connection (``"?"`` if unknown)."""
    peer = transport.get_extra_info("peername")
    return str(peer[0]) if isinstance(peer, tuple) and peer else "?"


def _subject(peercert: Any) -> str:
    """``"CN=writer,O=Beucha"`` from ``ssl``'s decoded peer certificate."""
    if not peercert:
        return "?"
    parts = [f"{_key_name(key)}={value}" for rdn in peercert.get("subject", ()) for key, value in rdn]
    return ",".join(parts) or "?"


def _key_name(key: str) -> str:
    """Short attribute names as in RFC 4514 (``commonName`` -> ``CN``)."""
    return {"commonName": "CN", "organizationName": "O", "organizationalUnitName": "OU", "countryName": "C"}.get(
        key, key
    )
