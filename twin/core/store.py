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
the writer's pid for the message a second writer gets (:mod:`twin.core.store_files`; the
commit record and the checks of the arrays against it: :mod:`twin.core.store_record`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
import xarray as xr
import zarr
import zarr.errors

from twin.core.errors import ConfigError
from twin.core.schema import QUALITY_FLAGS, quality_variable
from twin.core.store_files import (
    LOCK_FILE,
    READINGS_FILE,
    SNAPSHOT_FILE,
    StoreLock,
    read_json,
    write_json_atomic,
)
from twin.core.store_layout import create_table_arrays, first_kept_row
from twin.core.store_record import (
    ARRAYS,
    COMMIT_FORMAT,
    DECODE_ERRORS,
    SUM_BLOCK_ROWS,
    SUM_MODULUS,
    TIME_COLUMN,
    CommitRecord,
    Problem,
    StoreDamageError,
    load_record,
    read_times,
    table_array,
    time_sums,
    verify_chunks,
    verify_table,
    void_mask,
)
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
    "read_table",
    "time_sums",
    "verify_table",
    "write_json_atomic",
]

#: Table name -> resolution. [s]
TABLES: Final[dict[str, int]] = {"1min": 60, "15min": STEP_S}
#: Rows per inner time chunk (new tables shard them: :mod:`twin.core.store_layout`).
TIME_CHUNK: Final[int] = 96
_MISSING: Final[int] = QUALITY_FLAGS["missing"]


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
            table_array(self._group, name).with_config({"write_empty_chunks": True}) for name in ARRAYS
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
            sums[index] = (sums[index] + value) % SUM_MODULUS
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
            for name in ARRAYS:
                table_array(group, name)
        except StoreDamageError:
            raise
        except (OSError, ValueError, TypeError, KeyError, zarr.errors.BaseZarrError) as err:
            reason = " ".join(str(err).split())[:160]
            file = self.path
            for meta in (self.path / "zarr.json", *(self.path / name / "zarr.json" for name in ARRAYS)):
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
            rows = int(table_array(zarr.open_group(str(self.path), mode="r", zarr_format=3), "time").shape[0])
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
            problems = verify_chunks(
                self, table_array(group, "time"), "time", last, self.rows, TIME_COLUMN, decode=True
            )
            for name in ("value", "quality"):
                every = np.arange(len(self.channels))
                problems += verify_chunks(self, table_array(group, name), name, last, self.rows, every, decode=True)
        if problems:
            raise self.damage(problems[0].message, problems[0].file)
        # repair: trim every time array back to the committed rows (rows after it may be torn)
        if table_array(group, "time").shape[0] != self.rows:
            table_array(group, "time").resize((self.rows,))
        for name in ("value", "quality"):
            array = table_array(group, name)
            if array.shape[0] != self.rows:
                array.resize((self.rows, array.shape[1]))
        if self.record.time_sums is None:  # a record of the first format: add what it lacks
            times = np.asarray(table_array(group, "time")[: self.rows])
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
        arrays = {array_name: table_array(group, array_name) for array_name in ARRAYS}
        short = [n for n, a in arrays.items() if a.shape[0] < rows or (a.ndim == 2 and a.shape[1] < width)]
        if short:
            raise table.damage(
                f"the {short[0]} array holds fewer rows or columns than {table.commit_path.name} commits "
                f"({rows} rows, {width} channels)",
                table.path / short[0],
            )
        offset = min(max(start_row, 0, table.kept_from), rows)  # rows before the marker were dropped
        proven, problems = read_times(table, arrays["time"], offset, rows)
        if problems or proven is None:
            raise table.damage(problems[0].message, problems[0].file)
        times = proven
        keep = ~void_mask(record, offset, rows)
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
        problems = verify_chunks(table, arrays[name], name, first, stop, columns, decode=False)
        if problems:
            raise table.damage(problems[0].message, problems[0].file)
        try:
            blocks.append(_read_block(arrays[name], first, stop, columns, width))
        except DECODE_ERRORS as err:
            problems = verify_chunks(table, arrays[name], name, first, stop, columns, decode=True)
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
