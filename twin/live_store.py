"""The live twin's writes to its store, kept going when the store fails (full disk, size limit, read-only).

:class:`StoreWriter` appends the live twin's means to the Zarr tables and writes its JSON files
(snapshot, meters). A failed table append (:data:`WRITE_ERRORS`: an ``OSError``, a Zarr error) does not stop the
twin: the rows stay in memory, in order, and the writer tries again with exponential back-off
(``retry_first_s`` doubling up to ``retry_max_s``); each failed try is one log line. Before a
try it reopens the table, which trims the arrays back to the last commit, so rows a failed
append left half-written are written again, once. When a try succeeds, every kept row is
appended in one go and committed: nothing is lost that the process still holds. The rows kept
per table are bounded (``max_pending_rows``): past the bound the oldest are dropped, counted in
:attr:`StoreWriter.dropped_rows` and logged. A failed snapshot write leaves no temporary file
(:func:`twin.core.store.write_json_atomic`) and is tried again with the next snapshot.

:meth:`StoreWriter.status` is the ``store_status`` section of the snapshot, and
:meth:`StoreWriter.alerts` the alerts the dashboard shows.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import numpy as np

from twin.core.errors import TwinError
from twin.core.schema import QUALITY_FLAGS
from twin.core.store import MeanTable, write_json_atomic

__all__ = [
    "DEFAULT_MAX_PENDING_ROWS",
    "DEFAULT_RETRY_FIRST_S",
    "DEFAULT_RETRY_MAX_S",
    "WRITE_ERRORS",
    "StoreWriter",
]

logger = logging.getLogger(__name__)

#: Rows kept in memory per table while the store fails: a day of minutes, ten days of quarters.
DEFAULT_MAX_PENDING_ROWS: Final[dict[str, int]] = {"1min": 1440, "15min": 960}
#: First wait before writing again after a failure. [s]
DEFAULT_RETRY_FIRST_S: Final[float] = 1.0
#: Longest wait between two tries. [s]
DEFAULT_RETRY_MAX_S: Final[float] = 10.0

#: What a failed write raises: the OS (full disk, size limit, read-only), Zarr and its codecs, the store.
WRITE_ERRORS: Final[tuple[type[Exception], ...]] = (OSError, ValueError, RuntimeError, TwinError)

_MISSING: Final[int] = QUALITY_FLAGS["missing"]
_OK: Final[int] = QUALITY_FLAGS["ok"]


@dataclass
class _Rows:
    """Rows of one table not yet committed: interval starts, values and flags per channel."""

    times: np.ndarray
    values: dict[str, np.ndarray]
    flags: dict[str, np.ndarray]

    @classmethod
    def of(cls, times: np.ndarray, values: Mapping[str, np.ndarray], flags: Mapping[str, np.ndarray]) -> _Rows:
        """Rows with a flag column for every value column (ok where finite, else missing)."""
        columns = {c: np.asarray(v, dtype=np.float64).reshape(-1) for c, v in values.items()}
        quality = {
            c: (
                np.asarray(flags[c], dtype=np.int8).reshape(-1)
                if c in flags
                else np.where(np.isfinite(column), _OK, _MISSING).astype(np.int8)
            )
            for c, column in columns.items()
        }
        return cls(np.asarray(times, dtype=np.int64).reshape(-1), columns, quality)

    @classmethod
    def concat(cls, parts: list[_Rows]) -> _Rows:
        """One block of all rows, in order; a channel a part lacks is missing there."""
        if len(parts) == 1:
            return parts[0]
        channels = list(dict.fromkeys(c for part in parts for c in part.values))
        values: dict[str, np.ndarray] = {}
        flags: dict[str, np.ndarray] = {}
        for channel in channels:
            values[channel] = np.concatenate(
                [part.values.get(channel, np.full(part.times.size, np.nan)) for part in parts]
            )
            flags[channel] = np.concatenate(
                [part.flags.get(channel, np.full(part.times.size, _MISSING, dtype=np.int8)) for part in parts]
            )
        return cls(np.concatenate([part.times for part in parts]), values, flags)

    def tail(self, rows: int) -> _Rows:
        """The last ``rows`` rows."""
        keep = slice(self.times.size - rows, None)
        return _Rows(
            self.times[keep],
            {c: v[keep] for c, v in self.values.items()},
            {c: f[keep] for c, f in self.flags.items()},
        )


class StoreWriter:
    """Append rows and write JSON files to a store; keep and retry what fails.

    Parameters
    ----------
    store_dir : str or Path
        The store (the caller holds its :class:`~twin.core.store.StoreLock`).
    tables : dict of str to MeanTable
        The tables, opened for writing (``"1min"``, ``"15min"``).
    max_pending_rows : mapping of str to int, optional
        Rows kept per table while the store fails; older ones are dropped (and counted).
    retry_first_s, retry_max_s : float, optional
        Back-off between tries: the first wait, doubling up to the longest. [s]
    """

    def __init__(
        self,
        store_dir: str | Path,
        tables: Mapping[str, MeanTable],
        *,
        max_pending_rows: Mapping[str, int] | None = None,
        retry_first_s: float = DEFAULT_RETRY_FIRST_S,
        retry_max_s: float = DEFAULT_RETRY_MAX_S,
    ) -> None:
        self.store_dir = Path(store_dir)
        self.tables: dict[str, MeanTable | None] = dict(tables)
        self.max_pending_rows = {**DEFAULT_MAX_PENDING_ROWS, **(max_pending_rows or {})}
        self.retry_first_s = retry_first_s
        self.retry_max_s = max(retry_max_s, retry_first_s)
        #: Committed rows per table (as of the last successful append).
        self.rows = {name: table.rows for name, table in tables.items()}
        self.pending: dict[str, list[_Rows]] = {name: [] for name in tables}
        #: Rows dropped per table because the memory bound was reached while the store failed.
        self.dropped_rows = {name: 0 for name in tables}
        #: Rows per table written late (kept in memory while the store failed).
        self.late_rows = {name: 0 for name in tables}
        self.failed_writes = 0
        self.error: str | None = None
        self.failing_since_s: float | None = None
        self.snapshot_error: str | None = None
        self._json: dict[Path, Any] = {}
        self._delay_s = 0.0
        self._next_try = 0.0

    # --- writing ------------------------------------------------------------------------

    def append(
        self, name: str, times: np.ndarray, values: Mapping[str, np.ndarray], flags: Mapping[str, np.ndarray]
    ) -> None:
        """Queue rows for a table and write what is queued (unless waiting for the next try)."""
        if times.size:
            self.pending[name].append(_Rows.of(times, values, flags))
            self._bound(name)
        self.flush()

    def write_json(self, path: str | Path, data: Any) -> None:
        """Write a JSON file of the store atomically; kept and written again with the rows if it fails."""
        self._json[Path(path)] = data
        self.flush()

    def write_snapshot(self, path: str | Path, data: Any) -> bool:
        """Write the snapshot; on failure log once (until it works again) and return False."""
        try:
            write_json_atomic(path, data)
        except OSError as err:  # a full disk or a size limit: the next snapshot tries again
            message = _describe(err)
            if self.snapshot_error is None:
                logger.warning("snapshot not written (%s); polling goes on, the next snapshot tries again", message)
            self.snapshot_error = message
            return False
        if self.snapshot_error is not None:
            logger.warning("snapshot written again")
            self.snapshot_error = None
        return True

    def flush(self, *, force: bool = False) -> bool:
        """Write what is queued, if the back-off allows (``force``: now); return True if nothing is left."""
        if not self.has_pending():
            return True
        now = time.monotonic()
        if not force and now < self._next_try:
            return False
        try:
            for path, data in list(self._json.items()):
                write_json_atomic(path, data)
                del self._json[path]
            for name, parts in self.pending.items():
                if parts:
                    self._write_table(name, parts)
        except WRITE_ERRORS as err:  # keep the rows, try again later
            self._failed(err, now)
            return False
        if self.error is not None:
            late = ", ".join(f"{rows} {name}" for name, rows in self.late_rows.items() if rows)
            logger.warning(
                "store writable again after %.0f s: kept rows written (%s)",
                now - (self.failing_since_s or now),
                late or "none",
            )
        self.error, self.failing_since_s, self._delay_s, self._next_try = None, None, 0.0, 0.0
        return True

    def has_pending(self) -> bool:
        """Whether rows or files wait to be written."""
        return bool(self._json) or any(self.pending.values())

    def pending_rows(self) -> dict[str, int]:
        """Rows per table kept in memory, not yet committed."""
        return {name: sum(part.times.size for part in parts) for name, parts in self.pending.items()}

    # --- reporting ----------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """The snapshot's ``store_status``: ok, the error, rows kept, dropped and written late."""
        retry_in_s = max(self._next_try - time.monotonic(), 0.0) if self.error is not None else None
        return {
            "ok": self.error is None and self.snapshot_error is None,
            "error": self.error or self.snapshot_error,
            "failing_since_utc": (
                _iso(time.time() - (time.monotonic() - self.failing_since_s))
                if self.failing_since_s is not None
                else None
            ),
            "failed_writes": self.failed_writes,
            "pending_rows": self.pending_rows(),
            "dropped_rows": dict(self.dropped_rows),
            "late_rows": dict(self.late_rows),
            "retry_in_s": None if retry_in_s is None else round(retry_in_s, 1),
        }

    def alerts(self) -> list[dict[str, str]]:
        """Alerts for the dashboard (level ``bad`` or ``warn``, and the text)."""
        found: list[dict[str, str]] = []
        if self.error is not None:
            kept = ", ".join(f"{rows} {name}" for name, rows in self.pending_rows().items() if rows) or "no"
            found.append(
                {
                    "level": "bad",
                    "text": f"store writes fail ({self.error}): {kept} row(s) kept in memory, tried again every"
                    f" {self.retry_max_s:g} s at most",
                }
            )
        dropped = ", ".join(f"{rows} {name}" for name, rows in self.dropped_rows.items() if rows)
        if dropped:
            found.append({"level": "bad", "text": f"rows lost while the store failed (memory bound): {dropped}"})
        return found

    # --- private ------------------------------------------------------------------------

    def _write_table(self, name: str, parts: list[_Rows]) -> None:
        rows = _Rows.concat(parts)
        self.pending[name] = [rows]  # concatenated once, kept so for the next try
        table = self.tables[name]
        if table is None:  # reopening trims the arrays back to the last commit
            table = self.tables[name] = MeanTable(self.store_dir, name, writable=True)
        try:
            self.rows[name] = table.append(rows.times, rows.values, rows.flags)
        except BaseException:
            self.tables[name] = None
            raise
        if self.error is not None:
            self.late_rows[name] += rows.times.size
        self.pending[name] = []

    def _failed(self, err: BaseException, now: float) -> None:
        self.failed_writes += 1
        self._delay_s = min(self.retry_max_s, max(self._delay_s * 2, self.retry_first_s))
        self._next_try = now + self._delay_s
        self.error = _describe(err)
        if self.failing_since_s is None:
            self.failing_since_s = now
        kept = ", ".join(f"{rows} {name}" for name, rows in self.pending_rows().items() if rows) or "no rows"
        logger.warning(
            "store write failed (%s): %s kept in memory, next try in %.1f s", self.error, kept, self._delay_s
        )

    def _bound(self, name: str) -> None:
        limit = self.max_pending_rows.get(name, DEFAULT_MAX_PENDING_ROWS["1min"])
        parts = self.pending[name]
        total = sum(part.times.size for part in parts)
        if total <= limit:
            return
        rows = _Rows.concat(parts)
        drop = total - limit
        self.pending[name] = [rows.tail(limit)]
        if self.dropped_rows[name] == 0:
            logger.error(
                "store: more than %d %s rows kept in memory while the store fails: the oldest are dropped",
                limit,
                name,
            )
        self.dropped_rows[name] += drop


def _describe(err: BaseException) -> str:
    """One line naming the failure: the OS error and the file, or the exception."""
    if isinstance(err, OSError) and err.strerror:
        return f"{err.strerror}: {err.filename}" if err.filename else err.strerror
    text = str(err).splitlines()[0] if str(err) else ""
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def _iso(seconds: float) -> str | None:
    if not math.isfinite(seconds):
        return None
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")
