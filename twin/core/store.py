"""The live twin's state store: one writer, an atomic snapshot, and crash-safe Zarr tables of means.

A store is a folder::

    DIR/
      writer.lock                 the writer's pid; held with an OS lock while it runs
      snapshot.json               the latest snapshot, replaced atomically after every poll
      readings.json               meter readings that set a year's start (``twin import``)
      means_1min.zarr/            1-minute means   (time x channel)
      means_1min.commit.json      committed rows and channel names of the table
      means_15min.zarr/           15-minute means and per-boundary energy flows
      means_15min.commit.json

A table is a Zarr group with ``time`` (int64, seconds since 1970-01-01 UTC, interval start),
``value`` (float64: counters keep their Wh) and ``quality`` (int8 CF flags) over (time, channel). Plain Zarr appends do
not survive ``kill -9`` (FIELD-NOTES, Storage), so every append is followed by a commit: the
row count and channel names go to a side file (write, fsync, atomic rename). A writer trims
every array back to the committed size when it opens the table; readers read committed rows
only. Rows are appended in any time order; a time may appear more than once (back-fill), and
:func:`read_table` merges such rows (the first non-missing value of each channel wins).

Only one process writes a store: :class:`StoreLock` takes an exclusive ``flock`` on
``writer.lock`` (the kernel releases it when the writer dies, even by ``kill -9``) and records
the writer's pid for the message a second writer gets.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self

import numpy as np
import numpy.typing as npt
import pandas as pd
import xarray as xr
import zarr

from twin.core.errors import ConfigError
from twin.core.schema import QUALITY_FLAGS, quality_variable
from twin.core.store_layout import create_table_arrays, first_kept_row

__all__ = [
    "LOCK_FILE",
    "READINGS_FILE",
    "SNAPSHOT_FILE",
    "TABLES",
    "TIME_CHUNK",
    "MeanAccumulator",
    "MeanTable",
    "StoreLock",
    "read_json",
    "read_snapshot",
    "read_table",
    "write_json_atomic",
]

LOCK_FILE: Final[str] = "writer.lock"
SNAPSHOT_FILE: Final[str] = "snapshot.json"
READINGS_FILE: Final[str] = "readings.json"
#: Table name -> resolution. [s]
TABLES: Final[dict[str, int]] = {"1min": 60, "15min": 900}
#: Rows per inner time chunk (new tables shard them: :mod:`twin.core.store_layout`).
TIME_CHUNK: Final[int] = 96
_MISSING: Final[int] = QUALITY_FLAGS["missing"]


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


def read_snapshot(store_dir: str | Path) -> dict[str, Any] | None:
    """Return the latest snapshot of a store, or ``None`` before the first poll."""
    data = read_json(Path(store_dir) / SNAPSHOT_FILE)
    return data if isinstance(data, dict) else None


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
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
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


class MeanTable:
    """One Zarr table of means (time x channel) with the commit-marker pattern.

    Parameters
    ----------
    store_dir : str or Path
        The store folder.
    name : str
        ``"1min"`` or ``"15min"`` (see :data:`TABLES`).
    writable : bool
        Open for appending: trims the arrays back to the last commit (repair after a crash).
        Hold the :class:`StoreLock` while writing.
    """

    def __init__(self, store_dir: str | Path, name: str, *, writable: bool = False) -> None:
        if name not in TABLES:
            raise ConfigError(f"unknown table {name!r}", field="table", allowed=", ".join(TABLES))
        self.name = name
        self.path = Path(store_dir) / f"means_{name}.zarr"
        self.commit_path = Path(store_dir) / f"means_{name}.commit.json"
        self.writable = writable
        commit = read_json(self.commit_path, {"rows": 0, "channels": []})
        self.rows: int = int(commit["rows"])
        self.channels: list[str] = list(commit["channels"])
        self._index = {channel: i for i, channel in enumerate(self.channels)}
        self._group: zarr.Group | None = None
        if writable:
            self._open_for_writing()

    def append(
        self,
        time_s: npt.ArrayLike,
        values: Mapping[str, npt.ArrayLike],
        quality: Mapping[str, npt.ArrayLike] | None = None,
    ) -> int:
        """Append rows and commit them; return the committed row count.

        Parameters
        ----------
        time_s : array-like of int
            Interval starts, seconds since 1970-01-01 UTC.
        values : mapping of str to array-like
            Channel -> one value per row (NaN where unknown); new channels are added.
        quality : mapping of str to array-like, optional
            Channel -> quality flags per row (default ok where the value is finite, else missing).
        """
        if not self.writable or self._group is None:
            raise ConfigError("table opened read-only", field=self.name)
        times = np.asarray(time_s, dtype=np.int64).reshape(-1)
        n = times.size
        if n == 0:
            return self.rows
        channels = list(self.channels)
        for channel in values:
            if channel not in self._index:
                self._index[channel] = len(channels)
                channels.append(channel)
        block = np.full((n, len(channels)), np.nan, dtype=np.float64)
        flags = np.full((n, len(channels)), _MISSING, dtype=np.int8)
        for channel, column in values.items():
            column_values = np.asarray(column, dtype=np.float64).reshape(-1)
            block[:, self._index[channel]] = column_values
            if quality is not None and channel in quality:
                flags[:, self._index[channel]] = np.asarray(quality[channel], dtype=np.int8).reshape(-1)
            else:
                flags[:, self._index[channel]] = np.where(np.isfinite(column_values), 0, _MISSING)
        time_array, value_array, quality_array = (_array(self._group, name) for name in ("time", "value", "quality"))
        width = max(len(channels), int(value_array.shape[1]))
        start, stop = self.rows, self.rows + n
        time_array.resize((stop,))
        value_array.resize((stop, width))
        quality_array.resize((stop, width))
        time_array[start:stop] = times
        value_array[start:stop, : len(channels)] = block
        quality_array[start:stop, : len(channels)] = flags
        self.channels = channels
        self.rows = stop
        write_json_atomic(self.commit_path, {"rows": self.rows, "channels": self.channels})
        return self.rows

    def read(
        self,
        *,
        start_s: int | None = None,
        end_s: int | None = None,
        channels: Sequence[str] | None = None,
        start_row: int = 0,
    ) -> xr.Dataset:
        """Return the committed rows, merged by time and sorted (see :func:`read_table`)."""
        return _read(self.path, self.rows, self.channels, self.name, start_s, end_s, channels, start_row)

    def _open_for_writing(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.path.exists():
            group = zarr.open_group(str(self.path), mode="w", zarr_format=3)
            group.attrs.update({"resolution_s": TABLES[self.name], "time_units": "seconds since 1970-01-01 00:00:00"})
            create_table_arrays(group, self.name)  # sharded: a bounded number of files per year
            self._group = group
            return
        for partial in self.path.rglob("*.partial"):  # a chunk write cut short by a crash
            partial.unlink(missing_ok=True)
        group = zarr.open_group(str(self.path), mode="r+", zarr_format=3)
        # repair: trim every time array back to the committed rows (rows after it may be torn)
        if _array(group, "time").shape[0] != self.rows:
            _array(group, "time").resize((self.rows,))
        for name in ("value", "quality"):
            array = _array(group, name)
            if array.shape[0] != self.rows:
                array.resize((self.rows, array.shape[1]))
        self._group = group


def read_table(
    store_dir: str | Path,
    name: str,
    *,
    start_s: int | None = None,
    end_s: int | None = None,
    channels: Sequence[str] | None = None,
    start_row: int = 0,
) -> xr.Dataset:
    """Read the committed rows of a store's table (safe while the writer appends).

    Only the rows between the first and the last kept time and only the chosen channels are
    read from disk, so a day of a year-long table or a few channels of thousands stay cheap.

    Parameters
    ----------
    store_dir : str or Path
        The store folder.
    name : str
        ``"1min"`` or ``"15min"``.
    start_s, end_s : int, optional
        Keep interval starts in ``[start_s, end_s)``, seconds since 1970-01-01 UTC.
    channels : sequence of str, optional
        Read only these channels (in this order); names the table does not hold are left out.
    start_row : int
        Read only rows appended from this row on (in append order, not time order): a reader
        that keeps what it read asks for the rows appended since (``attrs["rows"]`` of its last
        result), or for the last rows of a table whose rows arrive in time order.

    Returns
    -------
    xarray.Dataset
        ``value`` (float64) and ``quality`` (int8 flags) over (``time``, ``channel``), time
        tz-naive UTC, sorted, one row per time (first non-missing value of each channel wins);
        ``attrs["rows"]``: the committed row count the read saw.
    """
    table = MeanTable(store_dir, name)
    return table.read(start_s=start_s, end_s=end_s, channels=channels, start_row=start_row)


@dataclass
class MeanAccumulator:
    """Collect samples and hand out means over fixed intervals of (simulated) time.

    Channels whose name ends in ``_kwh`` are counters: an interval keeps their last value, not
    the mean. A row's quality is missing when no sample had a value, else the worst flag of the
    samples that had one. An interval between two handed-out ones that got no sample at all is
    handed out as a row whose channels are all missing.

    Parameters
    ----------
    resolution_s : int
        Interval length, e.g. 60 or 900. [s]
    """

    resolution_s: int
    _open: dict[int, dict[str, list[tuple[float, int]]]] = field(default_factory=dict, init=False, repr=False)
    _last_start: int | None = field(default=None, init=False, repr=False)

    def add(self, time_s: float, values: Mapping[str, float | None], quality: Mapping[str, int]) -> None:
        """Add one sample of every channel at ``time_s`` (seconds since 1970 UTC)."""
        start = int(time_s // self.resolution_s) * self.resolution_s
        bucket = self._open.setdefault(start, {})
        for channel, value in values.items():
            if value is not None and np.isfinite(value):
                bucket.setdefault(channel, []).append((float(value), int(quality.get(channel, 0))))
            else:
                bucket.setdefault(channel, [])

    def pop_complete(
        self, now_s: float | None = None
    ) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Return and forget the intervals that ended by ``now_s`` (all when ``None``).

        Returns
        -------
        time_s, values, quality
            Interval starts [s], and channel -> means / flags per interval.
        """
        done = sorted(start for start in self._open if now_s is None or start + self.resolution_s <= now_s)
        if done and self._last_start is not None:
            # intervals without a single sample (the process stalled longer than an interval) become
            # rows of missing quality, so the time axis stays regular and the gap is visible as such
            for start in range(self._last_start + self.resolution_s, done[-1], self.resolution_s):
                if start not in self._open and start > self._last_start:
                    self._open[start] = {}
            done = sorted(start for start in self._open if now_s is None or start + self.resolution_s <= now_s)
        if done:
            self._last_start = done[-1]
        channels = sorted({channel for start in done for channel in self._open[start]})
        values = {channel: np.full(len(done), np.nan) for channel in channels}
        flags = {channel: np.full(len(done), _MISSING, dtype=np.int8) for channel in channels}
        for row, start in enumerate(done):
            for channel, samples in self._open.pop(start).items():
                if not samples:
                    continue
                numbers = [value for value, _ in samples]
                values[channel][row] = numbers[-1] if channel.endswith("_kwh") else float(np.mean(numbers))
                flags[channel][row] = max(flag for _, flag in samples)
        return np.asarray(done, dtype=np.int64), values, flags


def _read(
    path: Path,
    rows: int,
    channels: Sequence[str],
    name: str,
    start_s: int | None,
    end_s: int | None,
    wanted: Sequence[str] | None = None,
    start_row: int = 0,
) -> xr.Dataset:
    width = len(channels)
    if wanted is None:
        columns = np.arange(width)
    else:
        index = {channel: i for i, channel in enumerate(channels)}
        columns = np.asarray([index[channel] for channel in wanted if channel in index], dtype=np.int64)
    selected = [channels[int(i)] for i in columns]
    if rows == 0 or not path.exists():
        times = np.zeros(0, dtype=np.int64)
        value = np.zeros((0, len(selected)), dtype=np.float64)
        flags = np.zeros((0, len(selected)), dtype=np.int8)
    else:
        group = zarr.open_group(str(path), mode="r", zarr_format=3)
        offset = min(max(start_row, 0, first_kept_row(path, rows)), rows)  # rows before it were dropped
        times = np.asarray(_array(group, "time")[offset:rows])
        keep = np.ones(times.size, dtype=bool)
        if start_s is not None:
            keep &= times >= start_s
        if end_s is not None:
            keep &= times < end_s
        kept = np.flatnonzero(keep)
        first, stop = (int(kept[0]), int(kept[-1]) + 1) if kept.size else (0, 0)
        times, keep = times[first:stop], keep[first:stop]
        value = _read_block(_array(group, "value"), offset + first, offset + stop, columns, width)[keep]
        flags = _read_block(_array(group, "quality"), offset + first, offset + stop, columns, width)[keep]
        times = times[keep]
    if times.size and np.unique(times).size != times.size:
        times, value, flags = _merge_rows(times, value, flags)
    order = np.argsort(times, kind="stable")
    stamps = pd.to_datetime(times[order], unit="s").as_unit("ns")
    ds = xr.Dataset(
        {"value": (("time", "channel"), value[order]), "quality": quality_variable(flags[order], ("time", "channel"))},
        coords={"time": stamps, "channel": np.asarray(selected, dtype=object)},
        attrs={"table": name, "resolution_s": TABLES[name], "source": "measured", "rows": rows},
    )
    ds["value"].attrs["long_name"] = "mean over the interval (counters: last reading)"
    return ds


def _read_block(array: zarr.Array, first: int, stop: int, columns: np.ndarray, width: int) -> np.ndarray:
    """Rows ``[first, stop)`` of the chosen columns; a contiguous column span is one plain slice."""
    if stop <= first or columns.size == 0:
        return np.zeros((max(stop - first, 0), columns.size), dtype=array.dtype)
    if columns.size == width and np.array_equal(columns, np.arange(width)):
        return np.asarray(array[first:stop, :width])
    low, high = int(columns.min()), int(columns.max()) + 1
    if high - low <= 2 * columns.size:
        return np.asarray(array[first:stop, low:high])[:, columns - low]
    return np.asarray(array.oindex[first:stop, columns])


def _array(group: zarr.Group, name: str) -> zarr.Array:
    array = group[name]
    if not isinstance(array, zarr.Array):
        raise ConfigError(f"{name} is not an array", file=str(group.store_path))
    return array


def _merge_rows(times: np.ndarray, value: np.ndarray, flags: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One row per time: the first row with a finite value of a channel gives that channel."""
    unique, inverse = np.unique(times, return_inverse=True)
    merged = np.full((unique.size, value.shape[1]), np.nan, dtype=np.float64)
    merged_flags = np.full((unique.size, value.shape[1]), _MISSING, dtype=np.int8)
    for row in range(times.size - 1, -1, -1):  # backwards, so earlier rows overwrite later ones
        target = inverse[row]
        finite = np.isfinite(value[row])
        merged[target, finite] = value[row, finite]
        merged_flags[target, finite] = flags[row, finite]
    return unique, merged, merged_flags


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
