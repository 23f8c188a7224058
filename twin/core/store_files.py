"""The state store's plain files: the writer lock, the snapshot and atomic JSON.

Only one process writes a store: :class:`StoreLock` takes an exclusive ``flock`` on
``writer.lock`` (the kernel releases it when the writer dies, even by ``kill -9``) and records
the writer's pid for the message a second writer gets. JSON files (snapshot, readings, meters)
are replaced atomically: readers see the old or the new file, never a torn one. The snapshot
is read and written through :mod:`twin.core.live_state`.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self

import numpy as np

from twin.core.errors import ConfigError

__all__ = [
    "LOCK_FILE",
    "READINGS_FILE",
    "SNAPSHOT_FILE",
    "StoreLock",
    "read_json",
    "write_json_atomic",
]

LOCK_FILE: Final[str] = "writer.lock"
SNAPSHOT_FILE: Final[str] = "snapshot.json"
READINGS_FILE: Final[str] = "readings.json"


def write_json_atomic(path: str | Path, data: Any) -> Path:
    """Write JSON so that readers see the old or the new file, never a torn one.

    Write a temporary file beside the target, fsync it, rename it over the target. A write that
    fails (full disk, file size limit) removes the temporary file and leaves the target as it was.

    Parameters
    ----------
    path : str or Path
        Target file.
    data : Any
        JSON-serialisable data (NaN is written as ``null``).
    """
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    text = json.dumps(_json_safe(data), separators=(",", ":"), allow_nan=False)
    try:
        with tmp.open("w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        tmp.replace(target)
    except BaseException:  # a full disk or a size limit: no temporary file is left behind
        tmp.unlink(missing_ok=True)
        raise
    return target


def read_json(path: str | Path, default: Any = None) -> Any:
    """Read a JSON file; ``default`` when it does not exist."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return default


class StoreLock:
    """The store's single-writer lock (``with StoreLock(dir, "twin live"):``).

    Parameters
    ----------
    store_dir : str or Path
        The store folder (created if missing).
    writer : str
        Who writes, for the message another writer gets.

    Raises
    ------
    ConfigError
        On enter, when another process holds the lock (exit code 2).
    """

    def __init__(self, store_dir: str | Path, writer: str) -> None:
        self.store_dir = Path(store_dir)
        self.writer = writer
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise :class:`ConfigError` naming the holder."""
        try:
            self.store_dir.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise ConfigError(
                f"cannot create the store folder: {err.strerror or err}", file=str(self.store_dir)
            ) from err
        path = self.store_dir / LOCK_FILE
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:  # a read-only store, or no permission
            raise ConfigError(f"cannot lock the store for writing: {err.strerror or err}", file=str(path)) from err
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            os.close(fd)
            if err.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            holder = path.read_text(encoding="utf-8", errors="replace").strip() or "unknown"
            raise ConfigError(
                f"the store is locked by another writer ({holder}); stop it first, the store has one writer",
                file=str(self.store_dir),
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()}: {self.writer}\n".encode())
        os.fsync(fd)
        self._fd = fd

    def release(self) -> None:
        """Release the lock (the lock file stays; its lock is what counts)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def __enter__(self) -> Self:
        self.acquire()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


def _json_safe(data: Any) -> Any:
    if isinstance(data, float | np.floating):
        return float(data) if np.isfinite(data) else None
    if isinstance(data, np.integer):
        return int(data)
    if isinstance(data, np.bool_):
        return bool(data)
    if isinstance(data, Mapping):
        return {str(key): _json_safe(value) for key, value in data.items()}
    if isinstance(data, Iterable) and not isinstance(data, str | bytes):
        return [_json_safe(value) for value in data]
    return data
