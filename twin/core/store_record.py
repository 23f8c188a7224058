"""The commit record of a store table, and the check of a table's arrays against it.

The record (``means_<table>.commit.json``) is authoritative: it holds the committed rows and
channel names, a check value over itself, a checksum of the time array per
:data:`SUM_BLOCK_ROWS` rows, which columns every append wrote, and the rows and regions a repair
left out or marked lost (:class:`CommitRecord`). :func:`verify_table` compares a table's arrays
with it; :class:`StoreDamageError` names the damaged file and the commands that help.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol

import numpy as np
import numpy.typing as npt
import zarr
import zarr.errors
from zarr.core.sync import sync

from twin.core.errors import ConfigError

__all__ = [
    "ARRAYS",
    "COMMIT_FORMAT",
    "DECODE_ERRORS",
    "SUM_BLOCK_ROWS",
    "SUM_MODULUS",
    "TIME_COLUMN",
    "CommitRecord",
    "Problem",
    "RecordedTable",
    "StoreDamageError",
    "load_record",
    "read_times",
    "table_array",
    "time_sums",
    "verify_chunks",
    "verify_table",
    "void_mask",
]


class RecordedTable(Protocol):
    """What the checks need of a table (:class:`twin.core.store.MeanTable`)."""

    path: Path
    commit_path: Path
    record: CommitRecord
    kept_from: int


#: Format of the commit records this version writes (1: rows and channels only).
COMMIT_FORMAT: Final[int] = 2
#: Committed rows per checksum of the time array.
SUM_BLOCK_ROWS: Final[int] = 1024
SUM_MODULUS: Final[int] = 2**64
ARRAYS: Final[tuple[str, str, str]] = ("time", "value", "quality")
TIME_COLUMN: Final = np.zeros(1, dtype=np.int64)  # the column index of a 1-D array
#: What zarr and its codecs raise on a chunk they cannot decode.
DECODE_ERRORS: Final = (RuntimeError, ValueError, TypeError, OSError, zarr.errors.BaseZarrError)


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
    table: RecordedTable, group: zarr.Group, *, decode: bool, first_problem_only: bool = False
) -> list[Problem]:
    """Compare a table's arrays with its commit record.

    Checks the row counts, the time values against the record's checksums (a missing time chunk
    reads as 0 and fails them) and that every value and quality chunk the record's appends wrote
    exists; ``decode`` also reads every such chunk (slow for big tables).

    Parameters
    ----------
    table : RecordedTable
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
    arrays = {name: table_array(group, name) for name in ARRAYS}
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
    problems.extend(read_times(table, arrays["time"], table.kept_from, record.rows, decode=decode)[1])
    if problems and first_problem_only:
        return problems
    for name in ("value", "quality"):
        problems.extend(
            verify_chunks(
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


def read_times(
    table: RecordedTable, array: zarr.Array, row0: int, row1: int, *, decode: bool = False
) -> tuple[np.ndarray | None, list[Problem]]:
    """Times of rows ``[row0, row1)``, verified against the record's checksums; or the problems found.

    The whole checksum blocks around the rows are read (at most ``SUM_BLOCK_ROWS - 1`` rows more).
    """
    record = table.record
    row0 = max(row0, table.kept_from)
    if row1 <= row0:
        return np.zeros(0, dtype=np.int64), []
    if record.time_sums is None:  # first format: no checksums; missing chunks would read as 1970
        missing = verify_chunks(table, array, "time", row0, row1, TIME_COLUMN, decode=decode)
        if missing:
            return None, missing
        try:
            return np.asarray(array[row0:row1], dtype=np.int64), []
        except DECODE_ERRORS:
            return None, verify_chunks(table, array, "time", row0, row1, TIME_COLUMN, decode=True)
    block0 = row0 // SUM_BLOCK_ROWS
    lo = block0 * SUM_BLOCK_ROWS
    try:
        times = np.asarray(array[lo:row1], dtype=np.int64)
    except DECODE_ERRORS:
        return None, verify_chunks(table, array, "time", row0, row1, TIME_COLUMN, decode=True)
    # rows before the retention marker may be gone with their files: their block is checked only if they are not
    unchecked = lo < table.kept_from and bool(
        verify_chunks(table, array, "time", lo, table.kept_from, TIME_COLUMN, decode=False)
    )
    void = void_mask(record, lo, row1)
    hashes = _mix(np.arange(lo, row1, dtype=np.uint64), times)
    hashes[void] = 0
    problems: list[Problem] = []
    for block in range(block0, -(-row1 // SUM_BLOCK_ROWS)):
        a, b = block * SUM_BLOCK_ROWS - lo, min((block + 1) * SUM_BLOCK_ROWS, row1) - lo
        if int(np.sum(hashes[a:b], dtype=np.uint64)) == record.time_sums[block] or (unchecked and block == block0):
            continue
        found = verify_chunks(table, array, "time", max(a + lo, row0), b + lo, TIME_COLUMN, decode=True)
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


def verify_chunks(
    table: RecordedTable, array: zarr.Array, name: str, row0: int, row1: int, columns: np.ndarray, *, decode: bool
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
        used = np.unique(columns[columns < seg_width] // columns_per) if not one_d else TIME_COLUMN
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
            except DECODE_ERRORS as err:
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


def void_mask(record: CommitRecord, row0: int, row1: int) -> np.ndarray:
    """Rows ``[row0, row1)`` that a repair left out of reads (the record's ``void``), as a mask."""
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


def table_array(group: zarr.Group, name: str) -> zarr.Array:
    """The array ``name`` (``time``, ``value`` or ``quality``) of a table's group."""
    array = group[name]
    if not isinstance(array, zarr.Array):
        raise ConfigError(f"{name} is not an array", file=str(group.store_path))
    return array
