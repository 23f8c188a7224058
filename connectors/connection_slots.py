"""Connection accounting of a listener: slots per address, eviction instead of lockout.

A listener keeps two pools of :class:`Slot`: TLS handshakes in progress and established
sessions. A connection takes a handshake slot at accept (TLS only) and a session slot once it
can speak Modbus (after the handshake); it gives its slot back on every way out (closed by
either side, evicted, timed out, failed handshake), so the counts cannot leak.

A pool has a capacity and a limit per client address. When a new connection finds its address
or the pool full, the pool makes room by closing the connection that is furthest from being
useful, rather than refusing the newcomer, taken from the address holding the most slots: in
the handshake pool a connection whose client has not sent a byte (oldest first), then the one
whose bytes came least recently; in the session pool a connection whose started request is
still incomplete (oldest first), then one without a complete request for longer than the grace
period (longest first). The handshake pool marks a connection "stalled" until its first bytes,
so its eviction order needs no grace period. Only when no connection qualifies is
the newcomer closed. So a client that completes requests keeps its connection, while
connections that hold a slot without using it (silent, trickling, never authenticated) make way.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

__all__ = ["ConnectionLimits", "ListenerSlots", "ListenerStats", "Slot", "SlotPool"]

logger = logging.getLogger(__name__)

#: Shortest time between two summary log lines of a listener under pressure. [s]
LOG_EVERY_S: Final[float] = 10.0


@dataclass(frozen=True)
class ConnectionLimits:
    """Limits of one listener.

    Attributes
    ----------
    max_connections : int
        Established sessions (after the TLS handshake).
    max_per_address : int
        Sessions, and handshakes, of one client address.
    max_handshakes : int
        TLS handshakes in progress.
    handshake_timeout_s : float
        A TLS handshake must finish within this time after accept. [s]
    request_timeout_s : float
        A started request (its first byte) must be complete within this time; also the grace
        period before an idle connection may be closed to make room. [s]
    idle_timeout_s : float
        A connection without a complete request for this long is closed; bytes of an incomplete
        request do not count. [s]
    """

    max_connections: int = 200
    max_per_address: int = 100
    max_handshakes: int = 200
    handshake_timeout_s: float = 5.0
    request_timeout_s: float = 5.0
    idle_timeout_s: float = 120.0

    def __post_init__(self) -> None:
        counts = (self.max_connections, self.max_per_address, self.max_handshakes)
        times = (self.handshake_timeout_s, self.request_timeout_s, self.idle_timeout_s)
        if min(counts) < 1 or not min(times) > 0:
            raise ValueError(
                "max_connections, max_per_address and max_handshakes must be >= 1, "
                "handshake_timeout_s, request_timeout_s and idle_timeout_s > 0"
            )


@dataclass(eq=False)
class Slot:
    """One connection's place in a pool.

    Attributes
    ----------
    host : str
        The client's address.
    close : callable
        Closes the connection (and gives the slot back).
    opened_s : float
        Monotonic time it took the slot. [s]
    last_request_s : float
        Monotonic time of the last complete request (``opened_s`` before the first). [s]
    request_started_s : float or None
        Monotonic time the first byte of an incomplete request arrived; ``None`` between
        requests. [s]
    """

    host: str
    close: Callable[[], None]
    opened_s: float = field(default_factory=time.monotonic)
    last_request_s: float = -1.0
    request_started_s: float | None = None

    def __post_init__(self) -> None:
        if self.last_request_s < 0:
            self.last_request_s = self.opened_s


@dataclass
class ListenerStats:
    """Counts of a listener: open now, and events since start."""

    sessions: int = 0
    handshakes: int = 0
    evicted: int = 0
    refused: int = 0
    handshake_failed: int = 0
    handshake_timeout: int = 0
    request_timeout: int = 0
    idle_timeout: int = 0


class SlotPool:
    """Slots of one kind (handshakes or sessions) of one listener.

    Parameters
    ----------
    what : str
        Name for log lines, e.g. ``"controller server (tls) sessions"``.
    capacity : int
        Slots in all.
    per_address : int
        Slots of one client address.
    grace_s : float
        A slot may be taken back to make room once it has been without a complete request for
        longer than this (0: any slot, oldest first). [s]
    clock : callable, optional
        Monotonic clock. [s]
    """

    def __init__(
        self,
        what: str,
        *,
        capacity: int,
        per_address: int,
        grace_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.what = what
        self.capacity = capacity
        self.per_address = per_address
        self.grace_s = grace_s
        self.clock = clock
        self.evicted = 0
        self.refused = 0
        self._slots: dict[int, Slot] = {}
        self._by_host: Counter[str] = Counter()
        self._logged_s = -LOG_EVERY_S
        self._unlogged: Counter[str] = Counter()

    def __len__(self) -> int:
        return len(self._slots)

    def __contains__(self, slot: object) -> bool:
        return id(slot) in self._slots and self._slots[id(slot)] is slot

    def count(self, host: str) -> int:
        """Slots held by one address."""
        return self._by_host[host]

    def admit(self, slot: Slot) -> bool:
        """Give ``slot`` a place, closing another connection if needed; ``False``: no room.

        The caller closes the new connection when this returns ``False``.
        """
        if self._by_host[slot.host] >= self.per_address and not self._evict(slot.host):
            self._refuse(f"address {slot.host} at its limit of {self.per_address}")
            return False
        if len(self._slots) >= self.capacity and not self._evict(None):
            self._refuse("no slot free")
            return False
        self._slots[id(slot)] = slot
        self._by_host[slot.host] += 1
        return True

    def release(self, slot: Slot) -> bool:
        """Give a slot back (again: nothing happens); ``True`` if it was held."""
        if self._slots.get(id(slot)) is not slot:
            return False
        del self._slots[id(slot)]
        self._by_host[slot.host] -= 1
        if not self._by_host[slot.host]:
            del self._by_host[slot.host]
        return True

    def slots(self) -> list[Slot]:
        """The slots held now."""
        return list(self._slots.values())

    def _evict(self, host: str | None) -> bool:
        """Close the least useful connection (of ``host``, or of any address); ``False``: none."""
        now = self.clock()
        candidates = [
            slot
            for slot in self._slots.values()
            if (host is None or slot.host == host)
            and (slot.request_started_s is not None or now - slot.last_request_s >= self.grace_s)
        ]
        if not candidates:
            return False
        victim = min(
            candidates,
            key=lambda slot: (
                -self._by_host[slot.host],
                slot.request_started_s is None,
                slot.request_started_s if slot.request_started_s is not None else slot.last_request_s,
            ),
        )
        self.release(victim)
        self.evicted += 1
        self._note("closed to make room")
        victim.close()
        return True

    def _refuse(self, why: str) -> None:
        self.refused += 1
        self._note(f"refused ({why})")

    def _note(self, event: str) -> None:
        """Count an event; log a summary at most every :data:`LOG_EVERY_S` seconds."""
        self._unlogged[event] += 1
        now = self.clock()
        if now - self._logged_s < LOG_EVERY_S:
            return
        summary = ", ".join(f"{count} {name}" for name, count in sorted(self._unlogged.items()))
        logger.warning("%s: %d of %d in use; %s", self.what, len(self._slots), self.capacity, summary)
        self._unlogged.clear()
        self._logged_s = now


class ListenerSlots:
    """The handshake and session pools of one listener, and its timeout counts.

    Parameters
    ----------
    what : str
        The listener's name for log lines.
    limits : ConnectionLimits
        Its limits.
    """

    def __init__(self, what: str, limits: ConnectionLimits) -> None:
        self.what = what
        self.limits = limits
        self.handshakes = SlotPool(
            f"{what} TLS handshakes", capacity=limits.max_handshakes, per_address=limits.max_per_address, grace_s=0.0
        )
        self.sessions = SlotPool(
            f"{what} connections",
            capacity=limits.max_connections,
            per_address=limits.max_per_address,
            grace_s=limits.request_timeout_s,
        )
        self.events: Counter[str] = Counter()

    def stats(self) -> ListenerStats:
        """Counts now and since start."""
        return ListenerStats(
            sessions=len(self.sessions),
            handshakes=len(self.handshakes),
            evicted=self.sessions.evicted + self.handshakes.evicted,
            refused=self.sessions.refused + self.handshakes.refused,
            handshake_failed=self.events["handshake_failed"],
            handshake_timeout=self.events["handshake_timeout"],
            request_timeout=self.events["request_timeout"],
            idle_timeout=self.events["idle_timeout"],
        )

    def close_all(self) -> None:
        """Close every connection that holds a slot (the listener stops)."""
        for pool in (self.handshakes, self.sessions):
            for slot in pool.slots():
                pool.release(slot)
                slot.close()
