"""Failed-login limit per client address, shared by the gunicorn workers of one dashboard.

A token bucket per address: :data:`BURST` failed logins at once, then one per
``60 / PER_MINUTE`` s. Every password check takes a token first (so concurrent requests cannot
all slip through on the last one) and a successful check gives it back: only failed logins
count. While an address's bucket is empty the dashboard checks no password from it (the right
one neither) and answers 429 with ``Retry-After``. So an address gets at most ``BURST + PER_MINUTE * minutes`` passwords
checked: 500 guesses take at least ``(500 - BURST) * 60 / PER_MINUTE`` s (49 minutes).

The buckets live in a fixed table of :data:`SLOTS` records in an unlinked temporary file mapped
into memory, made when the app is built, before gunicorn forks its workers: every worker sees
and updates the same table, so the limit holds for the whole server, not per worker. Its size is
fixed (128 kB), so a client spraying addresses cannot grow it; a full neighbourhood gives up
the record nearest to a full bucket. Access is serialised by a thread lock within a worker and
a POSIX record lock (``fcntl.lockf``) between workers, which the kernel releases when a worker
dies. IPv6 clients are counted per /64 network (one host usually holds a whole /64). The
address is the TCP peer: behind a reverse proxy every client shares the proxy's bucket.
"""

from __future__ import annotations

import fcntl
import hashlib
import ipaddress
import math
import mmap
import os
import struct
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, Final

__all__ = ["BURST", "PER_MINUTE", "SLOTS", "LoginThrottle", "client_key"]

#: Failed logins an address may have checked at once.
BURST: Final[int] = 10
#: Failed logins an address may have checked per minute after the burst.
PER_MINUTE: Final[float] = 10.0
#: Records of the shared table (addresses tracked at once).
SLOTS: Final[int] = 4096
_RECORD: Final[struct.Struct] = struct.Struct("<16sdd")  # address digest, tokens, time of the last change [s]
_PROBES: Final[int] = 16
_EMPTY: Final[bytes] = bytes(16)


def client_key(address: str) -> str:
    """The bucket an address counts against: the address itself, or its /64 network for IPv6."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class LoginThrottle:
    """Token buckets of failed logins per client address (see the module docstring).

    Parameters
    ----------
    burst : int
        Failed logins an address may have checked at once.
    per_minute : float
        Refill of a bucket: failed logins per minute after the burst.
    slots : int
        Records of the shared table.
    clock : callable, optional
        Monotonic time in seconds; default :func:`time.monotonic` (the same clock in every
        process of the machine).
    """

    def __init__(
        self,
        *,
        burst: int = BURST,
        per_minute: float = PER_MINUTE,
        slots: int = SLOTS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if burst < 1 or per_minute <= 0 or slots < _PROBES:
            raise ValueError("burst >= 1, per_minute > 0 and slots >= 16 are required")
        self.burst = int(burst)
        self.rate_per_s = float(per_minute) / 60.0
        self.slots = int(slots)
        self._clock = clock
        self._salt = os.urandom(16)
        # kept open for the app's life: the workers share the table through this file
        self._file = tempfile.TemporaryFile(prefix="twin-dashboard-logins-")  # noqa: SIM115
        self._file.truncate(self.slots * _RECORD.size)
        self._table = mmap.mmap(self._file.fileno(), self.slots * _RECORD.size, flags=mmap.MAP_SHARED)
        # closed with the throttle (a dropped app), not left to the garbage collector's warning
        weakref.finalize(self, _close, self._table, self._file)
        self._lock = threading.Lock()
        # a worker forked while another thread held the lock would inherit it held (a weak
        # reference: the hook must not keep a throttle and its file alive for the process's life)
        renew = weakref.WeakMethod(self._new_lock)
        os.register_at_fork(after_in_child=lambda: (method := renew()) is not None and method())

    def take(self, address: str) -> float:
        """Take one check from ``address``'s bucket before checking its password.

        Returns
        -------
        wait_s : float
            0 when the check may go ahead (one token taken: :meth:`give_back` it when the
            password was right); else the seconds until it may, and nothing is taken. [s]
        """
        key = self._digest(address)
        with self._locked():
            now = self._clock()
            slot = self._find(key)
            tokens = float(self.burst) if slot is None else self._tokens(slot, now)
            if tokens < 1.0:
                return (1.0 - tokens) / self.rate_per_s
            if slot is None:
                slot = self._claim(key, now)
            _RECORD.pack_into(self._table, slot * _RECORD.size, key, tokens - 1.0, now)
        return 0.0

    def give_back(self, address: str) -> None:
        """Return the token of a check that succeeded: a right password costs nothing."""
        key = self._digest(address)
        with self._locked():
            now = self._clock()
            slot = self._find(key)
            if slot is not None:
                tokens = min(self._tokens(slot, now) + 1.0, float(self.burst))
                _RECORD.pack_into(self._table, slot * _RECORD.size, key, tokens, now)

    def retry_after_s(self, address: str) -> float:
        """Seconds until a password from ``address`` may be checked; 0 when it may be now."""
        key = self._digest(address)
        with self._locked():
            slot = self._find(key)
            tokens = float(self.burst) if slot is None else self._tokens(slot, self._clock())
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate_per_s

    def failed(self, address: str) -> float:
        """Count a failed login from ``address``; return the seconds until the next check (0: now)."""
        self.take(address)
        return self.retry_after_s(address)

    @staticmethod
    def retry_after_header(wait_s: float) -> str:
        """``Retry-After`` in whole seconds, never 0."""
        return str(max(1, math.ceil(wait_s)))

    def _new_lock(self) -> None:
        self._lock = threading.Lock()

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with self._lock:
            fcntl.lockf(self._file.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.lockf(self._file.fileno(), fcntl.LOCK_UN)

    def _digest(self, address: str) -> bytes:
        digest = hashlib.blake2b(client_key(address).encode(), key=self._salt, digest_size=16).digest()
        return digest if digest != _EMPTY else b"\x01" + digest[1:]

    def _probe(self, key: bytes) -> Iterator[int]:
        start = int.from_bytes(key[:4], "little") % self.slots
        return ((start + i) % self.slots for i in range(_PROBES))

    def _find(self, key: bytes) -> int | None:
        for slot in self._probe(key):
            if self._table[slot * _RECORD.size : slot * _RECORD.size + 16] == key:
                return slot
        return None

    def _tokens(self, slot: int, now: float) -> float:
        _, tokens, stamp = _RECORD.unpack_from(self._table, slot * _RECORD.size)
        return min(float(self.burst), tokens + max(now - stamp, 0.0) * self.rate_per_s)

    def _claim(self, key: bytes, now: float) -> int:
        """A record for a new address: an empty one, else the one nearest to a full bucket."""
        best, best_tokens = -1, -1.0
        for slot in self._probe(key):
            if self._table[slot * _RECORD.size : slot * _RECORD.size + 16] == _EMPTY:
                return slot
            tokens = self._tokens(slot, now)
            if tokens > best_tokens:
                best, best_tokens = slot, tokens
        return best


def _close(table: mmap.mmap, file: IO[bytes]) -> None:
    """Close a throttle's shared table and its file."""
    table.close()
    file.close()
