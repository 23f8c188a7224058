"""Retention of the 1-minute table: rows older than a period are dropped, 15-minute rows never.

A table's rows are in append order and its files hold whole blocks of rows, so old rows are
dropped from the front without rewriting anything: the retention marker
``means_1min.zarr/retention.json`` (:func:`twin.core.store_layout.first_kept_row`) moves to the first
row to keep, then the files that hold only rows before the marker are deleted. Readers start at
the marker, so they never see a dropped row (nor the fill values of a deleted file).

Crash safety: the marker is written first (write, fsync, atomic rename), files are deleted
after; a crash in between leaves files that the next run deletes. Files are deleted one run
late - those below the marker of the *previous* run - so a reader that read the old marker an
instant before the drop still finds the rows it is reading. The commit record, the arrays'
shapes and the 15-minute table are never touched; the caller holds the store's writer lock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import numpy as np
import zarr

from twin.core.errors import ConfigError
from twin.core.store import MeanTable, read_json, write_json_atomic
from twin.core.store_layout import first_kept_row, retention_path

__all__ = ["DEFAULT_KEEP_1MIN_DAYS", "Retention", "drop_old_rows", "newest_time_s"]

#: Days of 1-minute means ``twin live`` keeps by default (a year and a month of margin).
DEFAULT_KEEP_1MIN_DAYS: Final[float] = 400.0
_TABLE: Final[str] = "1min"


@dataclass(frozen=True)
class Retention:
    """What one retention run did.

    Attributes
    ----------
    first_row : int
        The first row the table keeps now.
    rows_dropped : int
        Rows this run hid from readers.
    files_deleted : int
        Files deleted (of rows dropped by earlier runs).
    bytes_freed : int
        Their size. [bytes]
    """

    first_row: int
    rows_dropped: int
    files_deleted: int
    bytes_freed: int


def drop_old_rows(store_dir: str | Path, before_s: float, *, table: str = _TABLE) -> Retention:
    """Drop the 1-minute rows of intervals that start before ``before_s``.

    Only a leading run of old rows is dropped (rows are in append order; the first row at or
    after ``before_s`` and everything behind it stay). Hold the store's writer lock.

    Parameters
    ----------
    store_dir : str or Path
        The store folder.
    before_s : float
        Drop rows whose interval starts before this time, seconds since 1970-01-01 UTC.
    table : str
        Must be ``"1min"``: the 15-minute table is kept forever.

    Raises
    ------
    ConfigError
        Another table, or an unreadable retention marker.
    """
    if table != _TABLE:
        raise ConfigError(
            f"only the 1-minute table has a retention period; the {table} table is kept forever",
            field="table",
            allowed=_TABLE,
        )
    means = MeanTable(store_dir, _TABLE)
    marker = retention_path(means.path)
    first = first_kept_row(means.path, means.rows)
    files_below = int(read_json(marker, {}).get("files_below_row", 0)) if first else 0
    if means.rows == 0 or not means.path.exists():
        return Retention(first, 0, 0, 0)
    group = zarr.open_group(str(means.path), mode="r", zarr_format=3)
    times = np.asarray(_array(group, "time")[first : means.rows])
    newer = np.flatnonzero(times >= math.floor(before_s))
    kept = first + (int(newer[0]) if newer.size else times.size)
    if kept > first:
        _write_marker(marker, kept, files_below, before_s)
    deleted, freed = 0, 0
    if first > files_below:  # files of the previous run's dropped rows (see the module docstring)
        for name in ("time", "value", "quality"):
            count, size = _delete_files(means.path, _array(group, name), files_below, first)
            deleted, freed = deleted + count, freed + size
        _write_marker(marker, kept, first, before_s)
    return Retention(kept, kept - first, deleted, freed)


def newest_time_s(store_dir: str | Path) -> int | None:
    """The newest interval start the 1-minute table keeps (seconds since 1970 UTC); None when empty."""
    means = MeanTable(store_dir, _TABLE)
    first = first_kept_row(means.path)
    if means.rows <= first or not means.path.exists():
        return None
    group = zarr.open_group(str(means.path), mode="r", zarr_format=3)
    return int(np.max(_array(group, "time")[first : means.rows]))


def _write_marker(path: Path, first_row: int, files_below_row: int, before_s: float) -> None:
    write_json_atomic(
        path,
        {
            "first_row": first_row,
            "files_below_row": files_below_row,
            "dropped_before_utc": datetime.fromtimestamp(before_s, UTC).isoformat().replace("+00:00", "Z"),
        },
    )


def _delete_files(table_path: Path, array: zarr.Array, from_row: int, to_row: int) -> tuple[int, int]:
    """Delete the files of ``array`` that hold only rows in ``[0, to_row)``; return count and bytes."""
    rows_per_file = int((array.shards or array.chunks)[0])
    channels_per_file = int((array.shards or array.chunks)[1]) if array.ndim == 2 else 1
    channel_files = max(-(-int(array.shape[1]) // channels_per_file), 1) if array.ndim == 2 else 1
    folder = table_path / array.basename
    count, size = 0, 0
    for row_file in range(from_row // rows_per_file, to_row // rows_per_file):
        for channel_file in range(channel_files):
            coords = (row_file, channel_file) if array.ndim == 2 else (row_file,)
            path = folder / array.metadata.encode_chunk_key(coords)
            try:
                size += path.stat().st_size
                path.unlink()
            except FileNotFoundError:
                continue
            count += 1
            for parent in path.parents:  # the empty folders of the default key encoding (c/ROW/)
                if parent == folder or not parent.is_relative_to(folder):
                    break
                try:
                    parent.rmdir()
                except OSError:
                    break
    return count, size


def _array(group: zarr.Group, name: str) -> zarr.Array:
    array = group[name]
    if not isinstance(array, zarr.Array):
        raise ConfigError(f"{name} is not an array", file=str(group.store_path))
    return array
