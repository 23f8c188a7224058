"""Read 15-minute meter data files (what a metering point operator delivers) in the twin's CSV format.

German smart meters deliver their load profiles through the metering point operator, not over
Modbus. ``twin import`` takes them as CSV (UTF-8, comma-separated, one header line; ``#`` lines
are comments)::

    meter,time,import_kwh,export_kwh,kind
    sfh01/meter,2025-06-01T00:00:00Z,0.25,0.0,interval
    sfh01/meter,2025-06-01T02:15:00+02:00,0.31,0.02,interval
    sfh01/meter,2025-01-01T00:00:00+01:00,18234.5,2311.0,reading

* ``meter``: the meter's device id in the site file (a building or the substation meter);
* ``time``: ISO 8601 with ``Z`` or a UTC offset (no local times without offset); for an
  ``interval`` the start of the quarter-hour, on a 15-minute boundary;
* ``import_kwh`` / ``export_kwh``: for ``interval``, the energy imported / exported in the
  quarter-hour; for ``reading``, the meter's counters (1.8.0 / 2.8.0) at ``time``;
  ``export_kwh`` may be empty (0 for intervals, unknown for readings);
* ``kind`` (optional column, default ``interval``): ``interval`` or ``reading``. A reading sets
  the start of a year: the live twin counts the year's energy from it.

Duplicate rows (same meter, time and kind) with equal values are dropped; with different values
they are an error. Limits are checked before anything is stored: times between
:data:`EARLIEST_TIME_UTC` and :data:`LATEST_TIME_UTC`, at most :data:`MAX_INTERVAL_KWH` per
quarter-hour, counters at most :data:`MAX_COUNTER_KWH` that never fall from one reading of a meter
to the next, fields of at most :data:`MAX_FIELD_CHARS` characters, and at least one row per file.
Every error is one line naming the file, the line and the column.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Final, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from twin.core.errors import ConfigError
from twin.core.vocabulary import QUALITY_FLAGS, STEP_S

__all__ = [
    "COLUMNS",
    "EARLIEST_TIME_UTC",
    "FAST_MIN_ROWS",
    "LATEST_TIME_UTC",
    "MAX_COUNTER_KWH",
    "MAX_FIELD_CHARS",
    "MAX_INTERVAL_KWH",
    "IntervalBlock",
    "MeterImport",
    "MeterRecord",
    "check_counters",
    "read_meter_files",
]

#: Columns of a meter data file (``kind`` may be left out).
COLUMNS: Final[tuple[str, ...]] = ("meter", "time", "import_kwh", "export_kwh", "kind")
#: Earliest time a row may carry (inclusive).
EARLIEST_TIME_UTC: Final[datetime] = datetime(1990, 1, 1, tzinfo=UTC)
#: Latest time a row may carry (exclusive); the scenarios' calendar years end here too.
LATEST_TIME_UTC: Final[datetime] = datetime(2100, 1, 1, tzinfo=UTC)
#: Most energy one meter may import or export in a quarter-hour: the largest district
#: transformer the twin models (10,000 kVA) at full load for 15 min. [kW h]
MAX_INTERVAL_KWH: Final[float] = 10000.0 * STEP_S / 3600.0
#: Largest counter reading: beyond the 9 digits of any meter register. [kW h]
MAX_COUNTER_KWH: Final[float] = 1e9
#: Longest field of a CSV row (Python's csv module default). [characters]
MAX_FIELD_CHARS: Final[int] = 131072
#: Files with at least this many rows are first read column-wise (a year of a district's meters in
#: seconds); a file that is not plain (comments, quotes, blanks, spaces, duplicates) or has a bad
#: row is read row by row, which names the first bad row. [rows]
FAST_MIN_ROWS: Final[int] = 10_000
_REQUIRED: Final[tuple[str, ...]] = ("meter", "time", "import_kwh")
_KINDS: Final[tuple[str, ...]] = ("interval", "reading")
_OK: Final[int] = QUALITY_FLAGS["ok"]
_MISSING: Final[int] = QUALITY_FLAGS["missing"]


@dataclass(frozen=True)
class MeterRecord:
    """One row: a quarter-hour's energy or a counter reading.

    Parameters
    ----------
    meter : str
        Meter (device) id.
    time_s : int
        Interval start or reading time, seconds since 1970-01-01 UTC.
    kind : {"interval", "reading"}
        Energy of the quarter-hour or counter reading.
    import_kwh, export_kwh : float
        Energy or counter; ``export_kwh`` NaN when unknown. [kWh]
    file : str
        The file it was read from, for messages.
    line : int
        Its line in the file.
    """

    meter: str
    time_s: int
    kind: Literal["interval", "reading"]
    import_kwh: float
    export_kwh: float
    file: str = ""
    line: int = 0


@dataclass(frozen=True)
class IntervalBlock:
    """The interval rows of one file read column-wise, as arrays (rows in file order).

    Attributes
    ----------
    file : str
        The file, for messages.
    meter : numpy.ndarray
        Meter ids (object array of str).
    time_s : numpy.ndarray
        Quarter-hour starts, seconds since 1970-01-01 UTC.
    import_kwh, export_kwh : numpy.ndarray
        Energy of the quarter-hour. [kWh]
    line : numpy.ndarray
        Line of each row in the file.
    import_flag, export_flag : numpy.ndarray or None
        Quality flag of each value (int8; ``None``: ok where the value is finite).
    """

    file: str
    meter: npt.NDArray[np.object_]
    time_s: npt.NDArray[np.int64]
    import_kwh: npt.NDArray[np.float64]
    export_kwh: npt.NDArray[np.float64]
    line: npt.NDArray[np.int64]
    import_flag: npt.NDArray[np.int8] | None = None
    export_flag: npt.NDArray[np.int8] | None = None

    @classmethod
    def empty(cls) -> IntervalBlock:
        """A block without rows."""
        return cls(
            "",
            np.zeros(0, dtype=object),
            np.zeros(0, dtype=np.int64),
            np.zeros(0),
            np.zeros(0),
            np.zeros(0, dtype=np.int64),
        )

    def flags(self, column: str) -> npt.NDArray[np.int8]:
        """The quality flags of ``import_kwh`` or ``export_kwh`` (ok where finite, unless the block has flags)."""
        given = self.import_flag if column == "import_kwh" else self.export_flag
        if given is not None:
            return given
        values = self.import_kwh if column == "import_kwh" else self.export_kwh
        return np.where(np.isfinite(values), _OK, _MISSING).astype(np.int8)

    def record(self, row: int) -> MeterRecord:
        """One row as a record."""
        return MeterRecord(
            str(self.meter[row]),
            int(self.time_s[row]),
            "interval",
            float(self.import_kwh[row]),
            float(self.export_kwh[row]),
            self.file,
            int(self.line[row]),
        )


@dataclass
class MeterImport:
    """Everything read from some files, duplicates dropped, and what was dropped.

    ``rows`` holds the readings and the rows of files read row by row, ``blocks`` the
    interval rows of files read column-wise (:data:`FAST_MIN_ROWS`); :attr:`records` gives
    them all as records, :meth:`intervals` every interval as arrays.
    """

    rows: list[MeterRecord]
    duplicates: int = 0
    files: int = 0
    blocks: list[IntervalBlock] = field(default_factory=list)

    @property
    def records(self) -> list[MeterRecord]:
        """Every row as a record: ``rows`` in file order, then the blocks' rows."""
        return [*self.rows, *(block.record(row) for block in self.blocks for row in range(block.time_s.size))]

    def readings(self) -> list[MeterRecord]:
        """The counter readings."""
        return [record for record in self.rows if record.kind == "reading"]

    def intervals(self) -> IntervalBlock:
        """Every interval row (``rows`` first, then the blocks) as one block (``file`` empty)."""
        rows = [r for r in self.rows if r.kind == "interval"]
        parts = [
            IntervalBlock(
                "",
                np.asarray([r.meter for r in rows], dtype=object),
                np.asarray([r.time_s for r in rows], dtype=np.int64),
                np.asarray([r.import_kwh for r in rows], dtype=np.float64),
                np.asarray([r.export_kwh for r in rows], dtype=np.float64),
                np.asarray([r.line for r in rows], dtype=np.int64),
            ),
            *self.blocks,
        ]
        return IntervalBlock(
            "",
            np.concatenate([p.meter for p in parts]),
            np.concatenate([p.time_s for p in parts]),
            np.concatenate([p.import_kwh for p in parts]),
            np.concatenate([p.export_kwh for p in parts]),
            np.concatenate([p.line for p in parts]),
            np.concatenate([p.flags("import_kwh") for p in parts]),
            np.concatenate([p.flags("export_kwh") for p in parts]),
        )

    def gaps(self) -> dict[str, int]:
        """Missing quarter-hours between each meter's first and last interval."""
        intervals = self.intervals()
        out: dict[str, int] = {}
        codes, meters = pd.factorize(intervals.meter)
        if not codes.size:
            return out
        order = np.lexsort((intervals.time_s, codes))
        codes, stamps = codes[order], intervals.time_s[order]
        bounds = np.flatnonzero(np.diff(codes)) + 1
        for part_codes, part in zip(np.split(codes, bounds), np.split(stamps, bounds), strict=True):
            distinct = 1 + int(np.count_nonzero(np.diff(part)))
            out[str(meters[part_codes[0]])] = int((part[-1] - part[0]) // STEP_S + 1 - distinct)
        return dict(sorted(out.items()))


def read_meter_files(files: Iterable[str | Path]) -> MeterImport:
    """Read and validate meter data files.

    Parameters
    ----------
    files : iterable of str or Path
        CSV files in the format of this module's docstring.

    Returns
    -------
    MeterImport
        The records in file order, duplicates dropped.

    Raises
    ------
    ConfigError
        ``FILE: line N: column C: what is wrong`` for the first bad row.
    """
    paths = list(files)
    result = _read(paths, column_wise=True)
    if result.blocks and _duplicates_across(result):
        result = _read(paths, column_wise=False)  # row by row: drops equal duplicates, names different ones
    check_counters(result.rows)
    return result


def _read(files: list[str | Path], *, column_wise: bool) -> MeterImport:
    seen: dict[tuple[str, int, str], tuple[MeterRecord, str]] = {}
    result = MeterImport(rows=[])
    for path in files:
        result.files += 1
        name = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as err:
            raise ConfigError(
                f"cannot read the meter data file: {getattr(err, 'strerror', None) or err}", file=name
            ) from err
        block = _read_columns(text, name) if column_wise else None
        if block is not None:
            intervals, readings = block
            result.blocks.append(intervals)
            result.rows.extend(readings)
            continue
        lines = [
            (number, line)
            for number, line in enumerate(text.splitlines(), 1)
            if line.strip() and not line.startswith("#")
        ]
        if not lines:
            raise ConfigError("empty meter data file", file=name)
        header_line, header_text = lines[0]
        header = _cells(header_text, name, header_line)
        unknown = [column for column in header if column not in COLUMNS]
        if unknown:
            raise ConfigError(
                f"unknown column {unknown[0]!r}", file=name, field=f"line {header_line}", allowed=", ".join(COLUMNS)
            )
        for column in _REQUIRED:
            if column not in header:
                raise ConfigError(
                    f"column {column!r} is missing", file=name, field=f"line {header_line}", allowed=", ".join(COLUMNS)
                )
        if len(lines) == 1:
            raise ConfigError(
                "no rows: the file has a header but no data", file=name, allowed="one row per quarter-hour or reading"
            )
        for number, line in lines[1:]:
            cells = _cells(line, name, number)
            if len(cells) != len(header):
                raise ConfigError(f"{len(cells)} values for {len(header)} columns", file=name, field=f"line {number}")
            row = dict(zip(header, cells, strict=True))
            record = _record(row, name, number)
            key = (record.meter, record.time_s, record.kind)
            if key in seen:
                first, where = seen[key]
                if not _same(first, record):
                    raise ConfigError(
                        f"duplicate {record.kind} for {record.meter} at {row['time']} with other values than {where}",
                        file=name,
                        field=f"line {number}: column import_kwh",
                    )
                result.duplicates += 1
                continue
            seen[key] = (record, f"{name} line {number}")
            result.rows.append(record)
    return result


def _duplicates_across(data: MeterImport) -> bool:
    """Whether some meter has two intervals or two readings at one time (across files)."""
    intervals = data.intervals()
    codes, _ = pd.factorize(intervals.meter)
    keys = codes.astype(np.int64) * (1 << 40) + intervals.time_s
    readings = {(r.meter, r.time_s) for r in data.readings()}
    return _repeats(keys) or len(readings) != len(data.readings())


def _read_columns(text: str, file: str) -> tuple[IntervalBlock, list[MeterRecord]] | None:
    """Read a plain file column-wise: its intervals and its readings; None to read it row by row.

    Plain: at least :data:`FAST_MIN_ROWS` rows, a valid header on line 1, no comment, blank
    line, quote, carriage return, space or tab, the header's number of cells in every row and
    no duplicate. Any row the row-by-row reader would refuse also makes it return None.
    """
    if text.count("\n") < FAST_MIN_ROWS or any(c in text for c in '#"\r \t') or "\n\n" in text:
        return None
    header = text[: text.find("\n")].split(",")
    if set(header) - set(COLUMNS) or not set(_REQUIRED) <= set(header) or len(set(header)) != len(header):
        return None
    body = text[text.find("\n") + 1 :]
    rows = body.count("\n") + (0 if body.endswith("\n") else 1)
    if body.count(",") != rows * (len(header) - 1):
        return None
    try:
        frame = pd.read_csv(io.StringIO(body), names=header, dtype=str, na_filter=False, engine="c")
    except (ValueError, pd.errors.ParserError):
        return None
    if len(frame) != rows:
        return None
    meter = frame["meter"].to_numpy(dtype=object)
    kinds = frame["kind"].to_numpy(dtype=object) if "kind" in frame else np.full(rows, "", dtype=object)
    reading = kinds == "reading"
    if (meter == "").any() or not (reading | (kinds == "interval") | (kinds == "")).all():
        return None
    time_codes, time_texts = pd.factorize(frame["time"].to_numpy(dtype=object))
    try:
        unique_s = np.asarray([_time_s(str(t)) for t in time_texts], dtype=np.int64)
        import_kwh = frame["import_kwh"].to_numpy(dtype=object).astype(np.float64)
        export_text = frame["export_kwh"].to_numpy(dtype=object) if "export_kwh" in frame else np.full(rows, "")
        empty = export_text == ""
        export_kwh = np.where(empty, "nan", export_text).astype(np.float64)
    except (ValueError, TypeError, OverflowError):
        return None
    time_s = unique_s[time_codes]
    export_kwh = np.where(empty & ~reading, 0.0, export_kwh)
    limit = np.where(reading, MAX_COUNTER_KWH, MAX_INTERVAL_KWH)
    known = ~empty | ~reading
    if (
        (frame["import_kwh"].to_numpy(dtype=object) == "").any()
        or not (np.isfinite(import_kwh) & (import_kwh >= 0) & (import_kwh <= limit)).all()
        or not (np.isfinite(export_kwh[known]) & (export_kwh[known] >= 0) & (export_kwh[known] <= limit[known])).all()
        or (time_s[~reading] % STEP_S).any()
    ):
        return None
    codes, _ = pd.factorize(meter)
    keys = (codes.astype(np.int64) * (1 << 40) + time_s) * 2 + reading
    if _repeats(keys):
        return None
    line = np.arange(2, rows + 2, dtype=np.int64)
    interval = ~reading
    block = IntervalBlock(
        file, meter[interval], time_s[interval], import_kwh[interval], export_kwh[interval], line[interval]
    )
    readings = [
        MeterRecord(
            str(meter[i]), int(time_s[i]), "reading", float(import_kwh[i]), float(export_kwh[i]), file, int(line[i])
        )
        for i in np.flatnonzero(reading).tolist()
    ]
    return block, readings


def _repeats(keys: npt.NDArray[np.int64]) -> bool:
    """Whether a value occurs twice (by sorting: faster than hashing millions of keys)."""
    ordered = np.sort(keys)
    return bool((ordered[1:] == ordered[:-1]).any())


def _time_s(text: str) -> int:
    """A time cell as seconds since 1970 (ValueError where the row-by-row reader would refuse it)."""
    stamp = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if stamp.tzinfo is None or not EARLIEST_TIME_UTC.year <= stamp.year < LATEST_TIME_UTC.year:
        raise ValueError(text)
    if not EARLIEST_TIME_UTC <= stamp.astimezone(UTC) < LATEST_TIME_UTC:
        raise ValueError(text)
    return int(stamp.astimezone(UTC).timestamp())


def check_counters(records: Iterable[MeterRecord], earlier: Mapping[str, Iterable[MeterRecord]] | None = None) -> None:
    """Check that no meter's counter falls from one reading to the next (in time order).

    Parameters
    ----------
    records : iterable of MeterRecord
        Records read from files; only readings are checked.
    earlier : mapping of str to iterable of MeterRecord, optional
        Meter -> readings known before (e.g. stored by an earlier import).

    Raises
    ------
    ConfigError
        Naming the meter, both readings and the file and line of the one read.
    """
    by_meter: dict[str, list[MeterRecord]] = {meter: list(known) for meter, known in (earlier or {}).items()}
    for record in records:
        if record.kind == "reading":
            by_meter.setdefault(record.meter, []).append(record)
    for meter, readings in by_meter.items():
        readings.sort(key=lambda r: r.time_s)
        for column in ("import_kwh", "export_kwh"):
            last: MeterRecord | None = None
            for reading in readings:
                value = getattr(reading, column)
                if math.isnan(value):
                    continue
                if last is not None and value < getattr(last, column) and last.time_s < reading.time_s:
                    bad, other = (reading, last) if reading.file else (last, reading)
                    source = f"{other.file} line {other.line}" if other.file else "the store"
                    raise ConfigError(
                        f"counter of meter {meter!r} falls from {getattr(last, column)} kWh at "
                        f"{_iso(last.time_s)} to {value} kWh at {_iso(reading.time_s)} "
                        f"(other reading: {source})",
                        file=bad.file,
                        field=f"line {bad.line}: column {column}",
                        allowed="readings that never fall; a replaced meter starts a new meter id",
                    )
                last = reading


def _record(row: dict[str, str], file: str, line: int) -> MeterRecord:
    def where(column: str) -> str:
        return f"line {line}: column {column}"

    meter = row["meter"]
    if not meter:
        raise ConfigError("meter id is empty", file=file, field=where("meter"))
    kind = row.get("kind") or "interval"
    if kind not in _KINDS:
        raise ConfigError(f"unknown kind {kind!r}", file=file, field=where("kind"), allowed=", ".join(_KINDS))
    try:
        stamp = datetime.fromisoformat(row["time"].replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f"not an ISO 8601 time: {row['time']!r}",
            file=file,
            field=where("time"),
            allowed="e.g. 2025-06-01T00:15:00Z",
        ) from None
    if stamp.tzinfo is None:
        raise ConfigError(
            f"time {row['time']!r} has no UTC offset", file=file, field=where("time"), allowed="Z or +HH:MM"
        )
    if not EARLIEST_TIME_UTC.year <= stamp.year < LATEST_TIME_UTC.year or not (
        EARLIEST_TIME_UTC <= stamp.astimezone(UTC) < LATEST_TIME_UTC
    ):
        raise ConfigError(
            f"time {row['time']!r} lies outside the years the twin keeps",
            file=file,
            field=where("time"),
            allowed=f"{EARLIEST_TIME_UTC:%Y-%m-%d} to {LATEST_TIME_UTC:%Y-%m-%d} UTC (exclusive)",
        )
    time_s = int(stamp.astimezone(UTC).timestamp())
    if kind == "interval" and time_s % STEP_S:
        raise ConfigError(f"time {row['time']!r} is not on a quarter-hour", file=file, field=where("time"))
    values = {}
    for column in ("import_kwh", "export_kwh"):
        cell = row.get(column, "")
        if not cell:
            if column == "import_kwh":
                raise ConfigError("value is empty", file=file, field=where(column))
            values[column] = 0.0 if kind == "interval" else math.nan
            continue
        try:
            value = float(cell)
        except ValueError:
            raise ConfigError(f"not a number: {cell!r}", file=file, field=where(column)) from None
        if not math.isfinite(value) or value < 0:
            raise ConfigError(f"must be a finite number >= 0, got {cell[:40]}", file=file, field=where(column))
        limit, what = (MAX_INTERVAL_KWH, "a quarter-hour") if kind == "interval" else (MAX_COUNTER_KWH, "a counter")
        if value > limit:
            raise ConfigError(
                f"{cell[:40]} kWh is implausible for {what}", file=file, field=where(column), allowed=f"<= {limit:g}"
            )
        values[column] = value
    return MeterRecord(
        meter,
        time_s,
        "reading" if kind == "reading" else "interval",
        values["import_kwh"],
        values["export_kwh"],
        file,
        line,
    )


def _cells(line: str, file: str, number: int) -> list[str]:
    """The stripped cells of one CSV line."""
    try:
        return [cell.strip() for cell in next(csv.reader([line]))]
    except csv.Error as err:
        raise ConfigError(
            f"not a CSV row: {err}",
            file=file,
            field=f"line {number}",
            allowed=f"fields of <= {MAX_FIELD_CHARS} characters",
        ) from None


def _iso(time_s: int) -> str:
    return datetime.fromtimestamp(time_s, UTC).isoformat().replace("+00:00", "Z")


def _same(a: MeterRecord, b: MeterRecord) -> bool:
    return all(
        (math.isnan(x) and math.isnan(y)) or abs(x - y) <= 1e-9 * max(1.0, abs(x))
        for x, y in ((a.import_kwh, b.import_kwh), (a.export_kwh, b.export_kwh))
    )
