"""The live twin's state store: one writer, an atomic snapshot, and crash-safe Zarr tables of means.

A store is a folder::

    DIR/
      writer.lock                 the writer's pid; held with an OS lock while it runs
      snapshot.json               the latest snapshot, replaced atomically after every poll
      readings.json               meter readings that set a year's start (``twin import``)
      means_1min.zarr/            1-minute means   (time x channel)
      means_1min.commit.json      the commit record of the table
      means_15min.zarr/           15-minute means and per-boundary energy flows
      means_15min.commit.json

A table is a Zarr group with ``time`` (int64, seconds since 1970-01-01 UTC, interval start),
``value`` (float64: counters keep their Wh) and ``quality`` (int8 CF flags) over (time, channel). Plain Zarr appends do
not survive ``kill -9`` (FIELD-NOTES, Storage), so every append is followed by a commit: the
commit record (:class:`CommitRecord`: rows, channel names, checksums of the time array, a check
value over itself) goes to a side file (write, fsync, atomic rename). A writer trims every array
back to the committed size when it opens the table; readers read committed rows only. The record
is authoritative: when it is missing or disagrees with the arrays, writers and readers refuse
with :class:`StoreDamageError` rather than guess (``twin store check/repair``,
:mod:`twin.core.store_check`). Rows are appended in any time order; a time may appear more than once (back-fill), and
:func:`read_table` merges such rows (the first non-missing value of each channel wins).

Only one process writes a store: :class:`StoreLock` takes an exclusive ``flock`` on
``writer.lock`` (the kernel releases it when the writer dies, even by ``kill -9``) and records
the writer's pid for the message a second writer gets.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Literal, Self

import numpy as np
import numpy.typing as npt
import pandas as pd
import xarray as xr
import zarr
import zarr.errors
from zarr.core.sync import sync

from twin.core.errors import ConfigError
from twin.core.schema import QUALITY_FLAGS, quality_variable
from twin.core.store_layout import create_table_arrays, first_kept_row
from twin.core.vocabulary import STEP_S

__all__ = [
    "COMMIT_FORMAT",
    "LOCK_FILE",
    "READINGS_FILE",
    "SNAPSHOT_FILE",
    "SUM_BLOCK_ROWS",
    "TABLES",
    "TIME_CHUNK",
    "CommitRecord",
    "MeanAccumulator",
    "MeanTable",
    "Problem",
    "StoreDamageError",
    "StoreLock",
    "load_record",
    "read_json",
    "read_snapshot",
    "read_table",
    "time_sums",
    "verify_table",
    "write_json_atomic",
]

LOCK_FILE: Final[str] = "writer.lock"
SNAPSHOT_FILE: Final[str] = "snapshot.json"
READINGS_FILE: Final[str] = "readings.json"
#: Table name -> resolution. [s]
TABLES: Final[dict[str, int]] = {"1min": 60, "15min": STEP_S}
#: Rows per inner time chunk (new tables shard them: :mod:`twin.core.store_layout`).
TIME_CHUNK: Final[int] = 96
_MISSING: Final[int] = QUALITY_FLAGS["missing"]
#: Format of the commit records this version writes (1: rows and channels only).
COMMIT_FORMAT: Final[int] = 2
#: Committed rows per checksum of the time array.
SUM_BLOCK_ROWS: Final[int] = 1024
_MOD: Final[int] = 2**64
_ARRAYS: Final[tuple[str, str, str]] = ("time", "value", "quality")
_FIRST: Final = np.zeros(1, dtype=np.int64)  # the column index of a 1-D array
#: What zarr and its codecs raise on a chunk they cannot decode.
_DECODE_ERRORS: Final = (RuntimeError, ValueError, TypeError, OSError, zarr.errors.BaseZarrError)


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


class StoreDamageError(ConfigError):
    """A table disagrees with its commit record: one line naming the file and the commands that help (exit 2).

    Parameters
    ----------
    message : str
        What is wrong.
    file : str or Path
        The damaged file or folder.
    store_dir : str or Path
        The store folder, for the commands in the message.
    """

    def __init__(self, message: str, *, file: str | Path, store_dir: str | Path) -> None:
        self.store_dir = Path(store_dir)
        super().__init__(
            f"{message}; nothing was changed: 'twin store check --store {store_dir}' lists the damage, "
            f"'twin store repair --store {store_dir}' fixes what it can prove",
            file=str(file),
        )


@dataclass
class CommitRecord:
    """The commit record of a table: what was committed, and how to tell if the arrays still hold it.

    Attributes
    ----------
    rows : int
        Committed rows (in append order).
    channels : list of str
        Channel names, one per column.
    widths : list of [int, int]
        ``[first_row, columns]``: from ``first_row`` on (to the next entry) every append wrote
        columns ``[0, columns)``, so their chunks must exist. Rows before the first entry were
        written before the record kept this (their chunks are not checked).
    time_sums : list of int or None
        Per block of :data:`SUM_BLOCK_ROWS` committed rows, the sum (mod 2**64) of a 64-bit hash of
        (row, time); ``None`` in a record of the first format (rows and channels only).
    void : list of [int, int]
        Row ranges ``[start, stop)`` that a repair found without provable times; readers skip them.
    lost : list of [int, int, int, int]
        ``[row_start, row_stop, column_start, column_stop]`` regions whose chunks a repair found
        missing or unreadable; readers show them as missing.
    """

    rows: int = 0
    channels: list[str] = field(default_factory=list)
    widths: list[list[int]] = field(default_factory=list)
    time_sums: list[int] | None = field(default_factory=list)
    void: list[list[int]] = field(default_factory=list)
    lost: list[list[int]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The record as written, with a check value over its content."""
        body: dict[str, Any] = {
            "format": COMMIT_FORMAT,
            "rows": self.rows,
            "channels": self.channels,
            "widths": self.widths,
            "time_sums": [f"{value:016x}" for value in self.time_sums or []],
            "void": self.void,
            "lost": self.lost,
        }
        return {**body, "check": _record_check(body)}

    @classmethod
    def from_json(cls, data: Any) -> CommitRecord:
        """Parse and verify a record; raise :class:`ValueError` naming what is wrong."""
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        if "format" not in data:  # the first format: rows and channels only
            rows, channels = data.get("rows"), data.get("channels")
            if not isinstance(rows, int) or rows < 0 or not isinstance(channels, list):
                raise ValueError("field rows or channels is missing or not valid")
            return cls(rows, [str(c) for c in channels], [], None, [], [])
        if data.get("format") != COMMIT_FORMAT:
            raise ValueError(f"format {data.get('format')!r} is not known (allowed: 1, {COMMIT_FORMAT})")
        body = {key: value for key, value in data.items() if key != "check"}
        if data.get("check") != _record_check(body):
            raise ValueError("its check value does not match its content (edited or torn)")
        try:
            record = cls(
                int(body["rows"]),
                [str(c) for c in body["channels"]],
                [[int(a), int(b)] for a, b in body["widths"]],
                [int(value, 16) for value in body["time_sums"]],
                [[int(a), int(b)] for a, b in body["void"]],
                [[int(v) for v in region] for region in body["lost"]],
            )
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"a field is missing or not valid ({err})") from None
        if record.time_sums is not None and len(record.time_sums) != -(-record.rows // SUM_BLOCK_ROWS):
            raise ValueError("time_sums does not cover the rows")
        return record

    def columns_at(self, row: int) -> int | None:
        """Columns every append wrote at ``row``; ``None`` before the record kept track."""
        width = None
        for first, columns in self.widths:
            if first > row:
                break
            width = columns
        return width


def time_sums(times: npt.ArrayLike, first_row: int = 0, *, skip: npt.ArrayLike | None = None) -> dict[int, int]:
    """Block -> sum (mod 2**64) of the hash of (row, time) over the given rows.

    Parameters
    ----------
    times : array-like of int
        Times of consecutive rows, seconds since 1970-01-01 UTC.
    first_row : int
        Row number of the first time.
    skip : array-like of bool, optional
        Rows left out of the sums (void rows).
    """
    values = np.asarray(times, dtype=np.int64).reshape(-1)
    rows = np.arange(first_row, first_row + values.size, dtype=np.uint64)
    hashes = _mix(rows, values)
    if skip is not None:
        hashes[np.asarray(skip, dtype=bool).reshape(-1)] = 0
    blocks = rows // np.uint64(SUM_BLOCK_ROWS)
    sums: dict[int, int] = {}
    for block in np.unique(blocks):
        sums[int(block)] = int(np.sum(hashes[blocks == block], dtype=np.uint64))
    return sums


class MeanTable:
    """One Zarr table of means (time x channel) with the commit-record pattern.

    The commit record (:class:`CommitRecord`) is authoritative: a writer refuses to open a table
    whose record is missing, torn, or disagrees with the arrays, and a reader refuses to show rows
    it cannot prove (:class:`StoreDamageError`, exit 2); ``twin store repair`` fixes what it can prove.

    Parameters
    ----------
    store_dir : str or Path
        The store folder.
    name : str
        ``"1min"`` or ``"15min"`` (see :data:`TABLES`).
    writable : bool
        Open for appending: trims the arrays back to the last commit (repair after a crash).
        Hold the :class:`StoreLock` while writing.

    Raises
    ------
    StoreDamageError
        The commit record is missing, torn or edited, or (writable) disagrees with the arrays.
    """

    def __init__(self, store_dir: str | Path, name: str, *, writable: bool = False) -> None:
        if name not in TABLES:
            raise ConfigError(f"unknown table {name!r}", field="table", allowed=", ".join(TABLES))
        self.name = name
        self.store_dir = Path(store_dir)
        self.path = self.store_dir / f"means_{name}.zarr"
        self.commit_path = self.store_dir / f"means_{name}.commit.json"
        self.writable = writable
        record = load_record(self.store_dir, name)
        self.kept_from = first_kept_row(self.path, record.rows if record else None)
        self.empty_arrays = record is None  # no record: only arrays without rows are accepted
        self.record = record or CommitRecord()
        self._index = {channel: i for i, channel in enumerate(self.record.channels)}
        self._group: zarr.Group | None = None
        if record is None and self.path.exists():
            self._accept_without_record()
        if writable:
            self._open_for_writing()

    @classmethod
    def with_record(cls, store_dir: str | Path, name: str, record: CommitRecord) -> MeanTable:
        """A read-only table with the given record, opened without any check (for a repair)."""
        table = cls.__new__(cls)
        table.name, table.store_dir, table.writable, table.empty_arrays = name, Path(store_dir), False, False
        table.path = table.store_dir / f"means_{name}.zarr"
        table.commit_path = table.store_dir / f"means_{name}.commit.json"
        table.record, table._group = record, None
        table.kept_from = first_kept_row(table.path, record.rows)
        table._index = {channel: i for i, channel in enumerate(record.channels)}
        return table

    @property
    def rows(self) -> int:
        """Committed rows."""
        return self.record.rows

    @property
    def channels(self) -> list[str]:
        """Channel names of the committed columns."""
        return self.record.channels

    def damage(self, message: str, file: str | Path | None = None) -> StoreDamageError:
        """An error about this table (default file: its Zarr folder)."""
        return StoreDamageError(message, file=file or self.path, store_dir=self.store_dir)

    def append(
        self,
        time_s: npt.ArrayLike,
        values: Mapping[str, npt.ArrayLike],
        quality: Mapping[str, npt.ArrayLike] | None = None,
    ) -> int:
        """Append rows and commit them; return the committed row count.

        Values and flags are written before the times, so an append cut short leaves rows
        without a time (0), never a time without its values.

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
        time_array, value_array, quality_array = (
            _array(self._group, name).with_config({"write_empty_chunks": True}) for name in _ARRAYS
        )
        width = max(len(channels), int(value_array.shape[1]))
        start, stop = self.rows, self.rows + n
        record = self.record
        widths = [list(entry) for entry in record.widths]
        if not widths or widths[-1][1] != len(channels):
            widths.append([start, len(channels)])
            # names and widths also live in the group, for a repair without the record
            self._group.attrs.update({"channels": channels, "widths": widths})
        time_array.resize((stop,))
        value_array.resize((stop, width))
        quality_array.resize((stop, width))
        value_array[start:stop, : len(channels)] = block
        quality_array[start:stop, : len(channels)] = flags
        time_array[start:stop] = times
        sums = list(record.time_sums or [])
        for index, value in time_sums(times, start).items():
            if index == len(sums):
                sums.append(0)
            sums[index] = (sums[index] + value) % _MOD
        self.record = CommitRecord(stop, channels, widths, sums, record.void, record.lost)
        write_json_atomic(self.commit_path, self.record.to_json())
        self.empty_arrays = False
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
        return _read(self, start_s, end_s, channels, start_row)

    def open_group(self, mode: Literal["r", "r+"] = "r") -> zarr.Group:
        """Open the table's Zarr group; a torn or missing ``zarr.json`` is a :class:`StoreDamageError`."""
        try:
            group = zarr.open_group(str(self.path), mode=mode, zarr_format=3)
            for name in _ARRAYS:
                _array(group, name)
        except StoreDamageError:
            raise
        except (OSError, ValueError, TypeError, KeyError, zarr.errors.BaseZarrError) as err:
            reason = " ".join(str(err).split())[:160]
            file = self.path
            for meta in (self.path / "zarr.json", *(self.path / name / "zarr.json" for name in _ARRAYS)):
                try:
                    json.loads(meta.read_text(encoding="utf-8"))
                except (OSError, ValueError) as meta_err:
                    file, reason = meta, " ".join(str(meta_err).split())[:160] or "empty"
                    break
            raise self.damage(f"the Zarr metadata cannot be read ({reason})", file) from None
        return group

    def _accept_without_record(self) -> None:
        """No record beside existing arrays: accept only arrays without rows (a creation cut short)."""
        try:
            rows = int(_array(zarr.open_group(str(self.path), mode="r", zarr_format=3), "time").shape[0])
        except (OSError, ValueError, TypeError, KeyError, zarr.errors.BaseZarrError):
            rows = -1
        if rows != 0:
            raise self.damage(
                f"the commit record {self.commit_path.name} is missing beside {self.path.name} "
                "(its rows cannot be told from uncommitted ones)",
                self.commit_path,
            )

    def _open_for_writing(self) -> None:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        if not self.path.exists() or self.empty_arrays or (self.rows == 0 and not self._readable()):
            # a new table, or one whose creation was cut short: the record comes first, so that
            # arrays beside a missing record always mean damage
            self.record = CommitRecord(0, [], [], [], [], [])
            self._index = {}
            write_json_atomic(self.commit_path, self.record.to_json())
            group = zarr.open_group(str(self.path), mode="w", zarr_format=3)
            group.attrs.update(
                {
                    "resolution_s": TABLES[self.name],
                    "time_units": "seconds since 1970-01-01 00:00:00",
                    "channels": [],
                    "widths": [],
                }
            )
            create_table_arrays(group, self.name)  # sharded: a bounded number of files per year
            self._group = group
            self.empty_arrays = False
            return
        for partial in self.path.rglob("*.partial"):  # a chunk write cut short by a crash
            partial.unlink(missing_ok=True)
        group = self.open_group("r+")
        problems = verify_table(self, group, decode=False, first_problem_only=True)
        if not problems and self.rows:  # the chunks of the last row are read back by the next append
            last = self.rows - 1
            problems = _verify_chunks(self, _array(group, "time"), "time", last, self.rows, _FIRST, decode=True)
            for name in ("value", "quality"):
                every = np.arange(len(self.channels))
                problems += _verify_chunks(self, _array(group, name), name, last, self.rows, every, decode=True)
        if problems:
            raise self.damage(problems[0].message, problems[0].file)
        # repair: trim every time array back to the committed rows (rows after it may be torn)
        if _array(group, "time").shape[0] != self.rows:
            _array(group, "time").resize((self.rows,))
        for name in ("value", "quality"):
            array = _array(group, name)
            if array.shape[0] != self.rows:
                array.resize((self.rows, array.shape[1]))
        if self.record.time_sums is None:  # a record of the first format: add what it lacks
            times = np.asarray(_array(group, "time")[: self.rows])
            sums = time_sums(times)
            self.record = CommitRecord(
                self.rows,
                self.channels,
                [[self.rows, len(self.channels)]],
                [sums[index] for index in range(len(sums))],
                [],
                [],
            )
            group.attrs.update({"channels": self.channels, "widths": self.record.widths})
            write_json_atomic(self.commit_path, self.record.to_json())
        self._group = group

    def _readable(self) -> bool:
        try:
            self.open_group()
        except StoreDamageError:
            return False
        return True


@dataclass(frozen=True)
class Problem:
    """One disagreement between a table and its commit record.

    Attributes
    ----------
    kind : str
        ``record`` (the record itself), ``rows`` (fewer rows than committed), ``time``
        (time values), ``chunk`` (a missing or unreadable value/quality chunk).
    file : Path
        The file or folder concerned.
    message : str
        One line for the user.
    rows : tuple of int
        ``(start, stop)`` of the committed rows concerned.
    columns : tuple of int
        ``(start, stop)`` of the columns concerned (``(0, 0)`` for time problems).
    array : str
        ``time``, ``value`` or ``quality`` (empty for record problems).
    """

    kind: str
    file: Path
    message: str
    rows: tuple[int, int] = (0, 0)
    columns: tuple[int, int] = (0, 0)
    array: str = ""


def verify_table(
    table: MeanTable, group: zarr.Group, *, decode: bool, first_problem_only: bool = False
) -> list[Problem]:
    """Compare a table's arrays with its commit record.

    Checks the row counts, the time values against the record's checksums (a missing time chunk
    reads as 0 and fails them) and that every value and quality chunk the record's appends wrote
    exists; ``decode`` also reads every such chunk (slow for big tables).

    Parameters
    ----------
    table : MeanTable
        The table (its record).
    group : zarr.Group
        Its open Zarr group.
    decode : bool
        Read every committed chunk, to find chunks that exist but cannot be decoded.
    first_problem_only : bool
        Stop at the first problem.

    Returns
    -------
    list of Problem
        Empty when the arrays hold what the record says.
    """
    record, problems = table.record, []
    arrays = {name: _array(group, name) for name in _ARRAYS}
    for name, array in arrays.items():
        if array.shape[0] < record.rows:
            problems.append(
                Problem(
                    "rows",
                    table.path / name,
                    f"the commit record {table.commit_path.name} holds {record.rows} rows, "
                    f"the {name} array only {array.shape[0]}",
                    (int(array.shape[0]), record.rows),
                    array=name,
                )
            )
    if len(record.channels) > arrays["value"].shape[1] or len(record.channels) > arrays["quality"].shape[1]:
        problems.append(
            Problem(
                "rows", table.path, f"the commit record names {len(record.channels)} channels, the arrays hold fewer"
            )
        )
    if problems:
        return problems
    problems.extend(_read_times(table, arrays["time"], table.kept_from, record.rows, decode=decode)[1])
    if problems and first_problem_only:
        return problems
    for name in ("value", "quality"):
        problems.extend(
            _verify_chunks(
                table, arrays[name], name, table.kept_from, record.rows, np.arange(len(record.channels)), decode=decode
            )
        )
        if problems and first_problem_only:
            return problems
    return problems


def load_record(store_dir: str | Path, name: str) -> CommitRecord | None:
    """The commit record of a table; ``None`` when there is none.

    Raises
    ------
    StoreDamageError
        The record is torn, empty, edited, or of an unknown format.
    """
    path = Path(store_dir) / f"means_{name}.commit.json"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as err:
        raise StoreDamageError(f"the commit record cannot be read ({err})", file=path, store_dir=store_dir) from None
    try:
        return CommitRecord.from_json(json.loads(text))
    except ValueError as err:
        reason = (
            "it is empty"
            if not text.strip()
            else str(err)
            if not isinstance(err, json.JSONDecodeError)
            else (f"it is not valid JSON ({err.msg} at character {err.pos})")
        )
        raise StoreDamageError(f"the commit record is not valid: {reason}", file=path, store_dir=store_dir) from None


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
    table: MeanTable,
    start_s: int | None,
    end_s: int | None,
    wanted: Sequence[str] | None = None,
    start_row: int = 0,
) -> xr.Dataset:
    record, name = table.record, table.name
    rows, channels = record.rows, record.channels
    width = len(channels)
    if wanted is None:
        columns = np.arange(width)
    else:
        index = {channel: i for i, channel in enumerate(channels)}
        columns = np.asarray([index[channel] for channel in wanted if channel in index], dtype=np.int64)
    selected = [channels[int(i)] for i in columns]
    if rows > 0 and not table.path.exists():
        raise table.damage(f"the Zarr folder is missing while {table.commit_path.name} commits {rows} rows")
    if rows == 0:
        times = np.zeros(0, dtype=np.int64)
        value = np.zeros((0, len(selected)), dtype=np.float64)
        flags = np.zeros((0, len(selected)), dtype=np.int8)
    else:
        group = table.open_group()
        arrays = {array_name: _array(group, array_name) for array_name in _ARRAYS}
        short = [n for n, a in arrays.items() if a.shape[0] < rows or (a.ndim == 2 and a.shape[1] < width)]
        if short:
            raise table.damage(
                f"the {short[0]} array holds fewer rows or columns than {table.commit_path.name} commits "
                f"({rows} rows, {width} channels)",
                table.path / short[0],
            )
        offset = min(max(start_row, 0, table.kept_from), rows)  # rows before the marker were dropped
        read_times, problems = _read_times(table, arrays["time"], offset, rows)
        if problems or read_times is None:
            raise table.damage(problems[0].message, problems[0].file)
        times = read_times
        keep = ~_void_mask(record, offset, rows)
        if start_s is not None:
            keep &= times >= start_s
        if end_s is not None:
            keep &= times < end_s
        kept = np.flatnonzero(keep)
        first, stop = (int(kept[0]), int(kept[-1]) + 1) if kept.size else (0, 0)
        times, keep = times[first:stop], keep[first:stop]
        value, flags = _read_values(table, arrays, offset + first, offset + stop, columns, width)
        value, flags, times = value[keep], flags[keep], times[keep]
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
    if record.void or record.lost:
        ds.attrs["repaired"] = (
            f"{sum(b - a for a, b in record.void)} row(s) without provable times left out and "
            f"{len(record.lost)} damaged region(s) shown as missing by 'twin store repair'"
        )
    return ds


def _read_values(
    table: MeanTable, arrays: dict[str, zarr.Array], first: int, stop: int, columns: np.ndarray, width: int
) -> tuple[np.ndarray, np.ndarray]:
    """Values and flags of rows ``[first, stop)``; a missing or unreadable chunk is a :class:`StoreDamageError`."""
    blocks = []
    for name in ("value", "quality"):
        problems = _verify_chunks(table, arrays[name], name, first, stop, columns, decode=False)
        if problems:
            raise table.damage(problems[0].message, problems[0].file)
        try:
            blocks.append(_read_block(arrays[name], first, stop, columns, width))
        except _DECODE_ERRORS as err:
            problems = _verify_chunks(table, arrays[name], name, first, stop, columns, decode=True)
            if problems:
                raise table.damage(problems[0].message, problems[0].file) from None
            raise table.damage(f"the {name} array cannot be read ({err})", table.path / name) from None
    value, flags = blocks
    for row_start, row_stop, column_start, column_stop in table.record.lost:
        rows = slice(max(row_start, first) - first, max(min(row_stop, stop) - first, 0))
        hit = (columns >= column_start) & (columns < column_stop)
        if rows.stop > rows.start and hit.any():
            value[rows, hit] = np.nan
            flags[rows, hit] = _MISSING
    return value, flags


def _read_times(
    table: MeanTable, array: zarr.Array, row0: int, row1: int, *, decode: bool = False
) -> tuple[np.ndarray | None, list[Problem]]:
    """Times of rows ``[row0, row1)``, verified against the record's checksums; or the problems found.

    The whole checksum blocks around the rows are read (at most ``SUM_BLOCK_ROWS - 1`` rows more).
    """
    record = table.record
    row0 = max(row0, table.kept_from)
    if row1 <= row0:
        return np.zeros(0, dtype=np.int64), []
    if record.time_sums is None:  # first format: no checksums; missing chunks would read as 1970
        missing = _verify_chunks(table, array, "time", row0, row1, _FIRST, decode=decode)
        if missing:
            return None, missing
        try:
            return np.asarray(array[row0:row1], dtype=np.int64), []
        except _DECODE_ERRORS:
            return None, _verify_chunks(table, array, "time", row0, row1, _FIRST, decode=True)
    block0 = row0 // SUM_BLOCK_ROWS
    lo = block0 * SUM_BLOCK_ROWS
    try:
        times = np.asarray(array[lo:row1], dtype=np.int64)
    except _DECODE_ERRORS:
        return None, _verify_chunks(table, array, "time", row0, row1, _FIRST, decode=True)
    # rows before the retention marker may be gone with their files: their block is checked only if they are not
    unchecked = lo < table.kept_from and bool(
        _verify_chunks(table, array, "time", lo, table.kept_from, _FIRST, decode=False)
    )
    void = _void_mask(record, lo, row1)
    hashes = _mix(np.arange(lo, row1, dtype=np.uint64), times)
    hashes[void] = 0
    problems: list[Problem] = []
    for block in range(block0, -(-row1 // SUM_BLOCK_ROWS)):
        a, b = block * SUM_BLOCK_ROWS - lo, min((block + 1) * SUM_BLOCK_ROWS, row1) - lo
        if int(np.sum(hashes[a:b], dtype=np.uint64)) == record.time_sums[block] or (unchecked and block == block0):
            continue
        found = _verify_chunks(table, array, "time", max(a + lo, row0), b + lo, _FIRST, decode=True)
        problems.extend(
            found
            or [
                Problem(
                    "time",
                    table.path / "time",
                    f"the times of rows {a + lo}-{b + lo - 1} do not match the checksum of the commit record",
                    (a + lo, b + lo),
                    array="time",
                )
            ]
        )
    if problems:
        return None, problems
    return times[row0 - lo :], []


def _verify_chunks(
    table: MeanTable, array: zarr.Array, name: str, row0: int, row1: int, columns: np.ndarray, *, decode: bool
) -> list[Problem]:
    """Problems of the stored objects (chunks or shards) that committed rows ``[row0, row1)`` of ``columns`` need."""
    record = table.record
    one_d = array.ndim == 1
    needed: list[tuple[str, tuple[int, int], tuple[int, int]]] = []
    edges = [entry[0] for entry in record.widths[1:]] + [record.rows]
    # a record of the first format has no widths: which chunks its appends wrote is not known
    segments = [(row, edge, width) for (row, width), edge in zip(record.widths, edges, strict=False)]
    if one_d:
        segments = [(0, record.rows, 1)]
    object_shape = array.shards or array.chunks
    rows_per, columns_per = object_shape[0], 1 if one_d else object_shape[1]
    for seg_start, seg_stop, seg_width in segments:
        lo, hi = max(seg_start, row0), min(seg_stop, row1)
        if hi <= lo:
            continue
        used = np.unique(columns[columns < seg_width] // columns_per) if not one_d else _FIRST
        for k in range(lo // rows_per, (hi - 1) // rows_per + 1):
            rows = (max(lo, k * rows_per), min(hi, (k + 1) * rows_per))
            if _within(rows, record.void):
                continue
            for j in used.tolist():
                cols = (0, 1) if one_d else (j * columns_per, min((j + 1) * columns_per, seg_width))
                if any(
                    r0 <= rows[0] and rows[1] <= r1 and c0 <= cols[0] and cols[1] <= c1
                    for r0, r1, c0, c1 in record.lost
                ):
                    continue
                key = array.metadata.encode_chunk_key((k,) if one_d else (k, j))
                needed.append((key, rows, cols))
    problems = []
    present = _existing(array, [key for key, _, _ in needed])
    for key, rows, cols in needed:
        file = table.path / name / key
        what = f"rows {rows[0]}-{rows[1] - 1}" + ("" if one_d else f", channels {cols[0]}-{cols[1] - 1}")
        if key not in present:
            problems.append(
                Problem("chunk" if not one_d else "time", file, f"{name} chunk missing ({what})", rows, cols, name)
            )
            continue
        if decode:
            try:
                if one_d:
                    array[rows[0] : rows[1]]
                else:
                    array[rows[0] : rows[1], cols[0] : cols[1]]
            except _DECODE_ERRORS as err:
                reason = " ".join(str(err).split())[:120]
                problems.append(
                    Problem(
                        "chunk" if not one_d else "time",
                        file,
                        f"{name} chunk unreadable ({what}): {reason}",
                        rows,
                        cols,
                        name,
                    )
                )
    return problems


def _existing(array: zarr.Array, keys: list[str]) -> set[str]:
    """The keys (relative to the array) that the store holds."""
    store, prefix = array.store_path.store, array.store_path.path

    async def check() -> set[str]:
        if len(keys) > 256:  # one listing is cheaper than many look-ups
            listed = {key.removeprefix(f"{prefix}/") async for key in store.list_prefix(f"{prefix}/")}
            return listed.intersection(keys)
        found = await asyncio.gather(*(store.exists(f"{prefix}/{key}") for key in keys))
        return {key for key, ok in zip(keys, found, strict=True) if ok}

    return sync(check()) if keys else set()


def _within(rows: tuple[int, int], ranges: list[list[int]]) -> bool:
    return any(a <= rows[0] and rows[1] <= b for a, b in ranges)


def _void_mask(record: CommitRecord, row0: int, row1: int) -> np.ndarray:
    mask = np.zeros(max(row1 - row0, 0), dtype=bool)
    for a, b in record.void:
        lo, hi = max(a, row0), min(b, row1)
        if hi > lo:
            mask[lo - row0 : hi - row0] = True
    return mask


def _mix(rows: np.ndarray, times: np.ndarray) -> np.ndarray:
    """A 64-bit hash of (row, time) per row (splitmix64 finaliser)."""
    z = times.astype(np.int64).view(np.uint64) ^ (rows.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15))
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _record_check(body: Mapping[str, Any]) -> str:
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


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
