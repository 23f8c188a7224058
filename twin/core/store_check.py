"""Check a state store's tables against their commit records, and repair what can be proven.

:func:`check_store` reads everything (every committed chunk is decoded) and reports what is
consistent. :func:`repair_store` changes only what it can prove and says what it dropped:

- a missing or unreadable commit record is rebuilt from the arrays when the group's metadata
  still names the channels (every append records them there): rows are the arrays' rows up to
  the last row with a time (an append writes its times last, so rows without one were cut
  short); the unreadable record is kept in the backup folder;
- a record that commits more rows than the arrays hold keeps the rows the arrays hold;
- rows whose time chunk is missing or unreadable, or whose times disagree with the record's
  checksum, are left out of reads ("void"): their values stay in the arrays;
- missing or unreadable value and quality chunks become regions that read as missing ("lost").

Nothing is deleted: unreadable files are moved to ``DIR/repair-<UTC time>/`` (kept with their
path inside the store), as is every commit record before it is rewritten.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import zarr

from twin.core.errors import ConfigError
from twin.core.store import (
    SUM_BLOCK_ROWS,
    TABLES,
    CommitRecord,
    MeanTable,
    Problem,
    StoreDamageError,
    StoreLock,
    load_record,
    time_sums,
    verify_table,
    write_json_atomic,
)

__all__ = ["TableCheck", "check_store", "repair_store"]


@dataclass
class TableCheck:
    """What :func:`check_store` found in one table.

    Attributes
    ----------
    name : str
        ``"1min"`` or ``"15min"``.
    rows : int
        Committed rows (0 when the record cannot be read).
    channels : int
        Committed channels.
    problems : list of Problem
        Empty when the table is consistent.
    notes : list of str
        What is consistent, and earlier repairs.
    """

    name: str
    rows: int = 0
    channels: int = 0
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Consistent (earlier repairs included)."""
        return not self.problems

    def lines(self) -> list[str]:
        """The report of this table, one line per finding."""
        head = f"means_{self.name}: {self.rows} rows, {self.channels} channels"
        if self.ok:
            return [f"{head}: consistent{'; ' if self.notes else ''}{'; '.join(self.notes)}"]
        return [f"{head}: {len(self.problems)} problem(s)", *(f"  {p.file}: {p.message}" for p in self.problems)]


def check_store(store_dir: str | Path, *, decode: bool = True) -> list[TableCheck]:
    """Check every table of a store (read only; safe while the writer runs).

    Parameters
    ----------
    store_dir : str or Path
        The store folder.
    decode : bool
        Also read every committed value and quality chunk (finds chunks that exist but cannot be
        decoded; reads the whole table). Without it: the record, the time checksums and that
        every chunk exists.

    Returns
    -------
    list of TableCheck
        One per table that exists (has a record or arrays).

    Raises
    ------
    ConfigError
        The folder does not exist.
    """
    store = Path(store_dir)
    if not store.is_dir():
        raise ConfigError("no such store folder", file=str(store))
    checks = []
    for name in TABLES:
        zarr_path, record_path = store / f"means_{name}.zarr", store / f"means_{name}.commit.json"
        if not zarr_path.exists() and not record_path.exists():
            continue
        check = TableCheck(name)
        checks.append(check)
        try:
            table = MeanTable(store, name)
            check.rows, check.channels = table.rows, len(table.channels)
            if table.rows and not zarr_path.exists():
                raise table.damage(f"the Zarr folder is missing while {record_path.name} commits {table.rows} rows")
            if zarr_path.exists():
                check.problems = verify_table(table, table.open_group(), decode=decode)
        except StoreDamageError as err:
            check.problems = [Problem("record", Path(err.file or record_path), err.message.split("; ")[0])]
            continue
        record = table.record
        if record.time_sums is None:
            check.notes.append("record of the first format (no checksums; the next writer adds them)")
        if record.widths and record.widths[0][0] > 0:
            check.notes.append(f"chunks of the first {record.widths[0][0]} rows are not tracked")
        if record.void or record.lost:
            void = sum(b - a for a, b in record.void)
            check.notes.append(f"earlier repairs: {void} row(s) left out, {len(record.lost)} region(s) read as missing")
    return checks


def repair_store(store_dir: str | Path) -> list[str]:
    """Repair what can be proven in every table of a store; return what was done, one line each.

    Takes the store's writer lock (a running ``twin live`` must be stopped first).

    Parameters
    ----------
    store_dir : str or Path
        The store folder.

    Raises
    ------
    ConfigError
        The folder does not exist or another writer holds it.
    """
    store = Path(store_dir)
    if not store.is_dir():
        raise ConfigError("no such store folder", file=str(store))
    backup = store / f"repair-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}"
    lines: list[str] = []
    with StoreLock(store, "twin store repair"):
        for check in check_store(store):
            if check.ok:
                lines.append(f"means_{check.name}: consistent, nothing to repair")
                continue
            lines.extend(_repair_table(store, check, backup))
    if backup.exists():
        lines.append(f"moved aside (nothing deleted): {backup}")
    return lines


def _repair_table(store: Path, check: TableCheck, backup: Path) -> list[str]:
    name = check.name
    prefix = f"means_{name}"
    zarr_path, record_path = store / f"{prefix}.zarr", store / f"{prefix}.commit.json"
    try:
        record = load_record(store, name)
    except StoreDamageError:
        record = None
    if record is not None and not zarr_path.exists():
        _move_aside(record_path, store, backup)
        return [
            f"{prefix}: LOST all {record.rows} committed rows: the Zarr folder is missing; the record was moved aside"
        ]
    lines: list[str] = []
    if record is not None and not _json_ok(zarr_path / "zarr.json"):
        _rebuild_group_metadata(zarr_path, name, record, store, backup)
        lines.append(f"{prefix}: the group's zarr.json rebuilt from the commit record")
    try:
        group = zarr.open_group(str(zarr_path), mode="r+", zarr_format=3)
        arrays = {n: group[n] for n in ("time", "value", "quality")}
    except (OSError, ValueError, TypeError, KeyError, zarr.errors.BaseZarrError) as err:
        bad = next((f for f in sorted(zarr_path.glob("*/zarr.json")) if not _json_ok(f)), zarr_path / "zarr.json")
        return [
            *lines,
            f"{prefix}: NOT REPAIRED: {bad.relative_to(store)} cannot be read ({type(err).__name__}); "
            "restore the table from a backup",
        ]
    if not all(isinstance(a, zarr.Array) for a in arrays.values()):
        return [f"{prefix}: NOT REPAIRED: the Zarr group lacks its arrays; restore it from a backup"]
    time_array = arrays["time"]
    assert isinstance(time_array, zarr.Array)
    if record is None:
        rebuilt = _record_from_arrays(group, time_array)
        if isinstance(rebuilt, str):
            return [f"{prefix}: NOT REPAIRED: {rebuilt}"]
        _move_aside(record_path, store, backup)
        record = rebuilt
        lines.append(
            f"{prefix}: commit record rebuilt from the arrays: {record.rows} rows, {len(record.channels)} channels "
            f"(rows after the last row with a time were an append cut short: "
            f"{int(time_array.shape[0]) - record.rows} dropped)"
        )
    else:
        _copy_aside(record_path, store, backup)
    held = min(int(a.shape[0]) for a in arrays.values() if isinstance(a, zarr.Array))
    if held < record.rows:
        lines.append(
            f"{prefix}: the record committed {record.rows} rows, the arrays hold {held}: "
            f"rows {held}-{record.rows - 1} do not exist any more and are dropped from the record"
        )
        record = _truncated(record, held)
    if record.time_sums is None:  # a record of the first format: its checksums start now
        record = _with_sums(record, time_array)
        lines.append(f"{prefix}: record of the first format: time checksums added from the arrays")
    elif held < check.rows:  # the last block's checksum covered rows that are gone
        record = _with_sums(record, time_array, only_blocks={(record.rows - 1) // SUM_BLOCK_ROWS})
    table = MeanTable.with_record(store, name, record)
    problems = verify_table(table, group, decode=True)
    time_ranges = [problem.rows for problem in problems if problem.array == "time"]
    proven = _prove_times(table.record, time_array, time_ranges, TABLES[name]) if time_ranges else None
    if proven is not None:  # the lost times follow from their neighbours, and the checksums confirm them
        lines += _write_proven_times(prefix, name, zarr_path, backup, problems, proven, time_array)
        problems = [problem for problem in problems if problem.array != "time"]
    void = [list(r) for r in table.record.void]
    lost = [list(r) for r in table.record.lost]
    for problem in problems:
        lines.append(_mark_problem(prefix, store, backup, table.record, problem, time_array, void=void, lost=lost))
    record = CommitRecord(
        table.record.rows, table.record.channels, table.record.widths, table.record.time_sums, _merged(void), lost
    )
    touched = {block for a, b in void for block in range(a // SUM_BLOCK_ROWS, (b - 1) // SUM_BLOCK_ROWS + 1)}
    record = _with_sums(record, time_array, only_blocks=touched) if void else record
    write_json_atomic(record_path, record.to_json())
    group.attrs.update({"channels": record.channels, "widths": record.widths})
    final = MeanTable(store, name)
    remaining = verify_table(final, final.open_group(), decode=False)
    if remaining:
        lines.append(f"{prefix}: still damaged after the repair: {remaining[0].file}: {remaining[0].message}")
    return lines or [f"{prefix}: nothing to repair"]


def _rebuild_group_metadata(zarr_path: Path, name: str, record: CommitRecord, store: Path, backup: Path) -> None:
    """Move the group's damaged ``zarr.json`` aside and write it anew from the commit record.

    The group's metadata holds only attributes the record also knows.
    """
    _move_aside(zarr_path / "zarr.json", store, backup)
    zarr_path.joinpath("zarr.json").write_text(
        json.dumps(
            {
                "zarr_format": 3,
                "node_type": "group",
                "attributes": {
                    "resolution_s": TABLES[name],
                    "time_units": "seconds since 1970-01-01 00:00:00",
                    "channels": record.channels,
                    "widths": record.widths,
                },
            }
        ),
        encoding="utf-8",
    )


def _write_proven_times(
    prefix: str,
    name: str,
    zarr_path: Path,
    backup: Path,
    problems: list[Problem],
    proven: list[tuple[int, int, np.ndarray]],
    time_array: zarr.Array,
) -> list[str]:
    """Write the times proven by the record's checksums over the damaged time chunks (copied aside first)."""
    shutil.copytree(zarr_path / "time", backup / zarr_path.name / "time", dirs_exist_ok=True)
    for problem in problems:
        if problem.array == "time" and problem.file.is_file():
            problem.file.unlink()  # its copy is in the backup
    writer = time_array.with_config({"write_empty_chunks": True})
    lines = []
    for first, stop, times in proven:
        writer[first:stop] = times
        lines.append(
            f"{prefix}: times of rows {first}-{stop - 1} rebuilt ({TABLES[name]} s apart from their neighbours) "
            "and proven by the record's checksums"
        )
    return lines


def _mark_problem(
    prefix: str,
    store: Path,
    backup: Path,
    record: CommitRecord,
    problem: Problem,
    time_array: zarr.Array,
    *,
    void: list[list[int]],
    lost: list[list[int]],
) -> str:
    """Enter a damaged chunk in ``void`` (time) or ``lost`` (values), moving an unreadable file aside."""
    if problem.file.is_file() and "unreadable" in problem.message:
        _move_aside(problem.file, store, backup)
    first, stop = problem.rows
    if problem.array == "time":
        void.append([first, stop])
        return (
            f"{prefix}: rows {first}-{stop - 1} left out of reads: {problem.message} "
            f"({problem.file.relative_to(store)}; their values stay in the arrays)"
        )
    lost.append([first, stop, *problem.columns])
    names = record.channels[problem.columns[0] : problem.columns[1]]
    span = _time_span(time_array, first, stop)
    return (
        f"{prefix}: {problem.array} of {len(names)} channel(s) ({names[0]} .. {names[-1]}) in rows "
        f"{first}-{stop - 1}{span} now read as missing: {problem.message}"
    )


def _record_from_arrays(group: zarr.Group, time_array: zarr.Array) -> CommitRecord | str:
    """A record from the arrays and the group's channel names; a reason string when not provable."""
    channels = group.attrs.get("channels")
    widths = group.attrs.get("widths")
    if not isinstance(channels, list) or not all(isinstance(c, str) for c in channels):
        return "the commit record is missing or unreadable and the Zarr group does not name the channels"
    times = np.zeros(int(time_array.shape[0]), dtype=np.int64)
    unreadable: list[list[int]] = []
    step = int((time_array.shards or time_array.chunks)[0])
    for start in range(0, times.size, step):
        try:
            times[start : start + step] = np.asarray(time_array[start : start + step])
        except (RuntimeError, ValueError, TypeError, OSError, zarr.errors.BaseZarrError):
            unreadable.append([start, min(start + step, times.size)])
    with_time = np.flatnonzero(times != 0)
    rows = int(with_time[-1]) + 1 if with_time.size else 0
    if unreadable and unreadable[-1][1] >= rows:
        rows = max(rows, unreadable[-1][1])
    kept_widths = (
        [[int(a), int(b)] for a, b in widths if int(a) < rows]
        if isinstance(widths, list) and all(isinstance(w, list) and len(w) == 2 for w in widths)
        else [[rows, len(channels)]]
    )
    void = [[a, min(b, rows)] for a, b in unreadable if a < rows]
    void += [[int(r), int(r) + 1] for r in np.flatnonzero(times[:rows] == 0)]
    record = CommitRecord(rows, list(channels), kept_widths or [[rows, len(channels)]], [], _merged(void), [])
    return _with_sums(record, time_array)


def _prove_times(
    record: CommitRecord, time_array: zarr.Array, ranges: list[tuple[int, int]], step_s: int
) -> list[tuple[int, int, np.ndarray]] | None:
    """Times for the row ranges, ``step_s`` apart from a neighbour, when the record's checksums confirm them.

    Tries the continuation from the row before every range, then from the row after; ``None``
    when neither matches the checksums of every block concerned (or the record has none).
    """
    if record.time_sums is None or not ranges:
        return None
    ranges = sorted(ranges)
    blocks = sorted(
        {b for first, stop in ranges for b in range(first // SUM_BLOCK_ROWS, (stop - 1) // SUM_BLOCK_ROWS + 1)}
    )
    lo = max(blocks[0] * SUM_BLOCK_ROWS - 1, 0)
    hi = min((blocks[-1] + 1) * SUM_BLOCK_ROWS + 1, record.rows)
    known = np.zeros(hi - lo, dtype=np.int64)
    unknown = np.zeros(hi - lo, dtype=bool)
    for first, stop in ranges:
        unknown[first - lo : stop - lo] = True
    chunk = int((time_array.shards or time_array.chunks)[0])
    for start in range(lo - lo % chunk, hi, chunk):
        a, b = max(start, lo), min(start + chunk, hi)
        if unknown[a - lo : b - lo].all():
            continue
        try:
            known[a - lo : b - lo] = np.asarray(time_array[a:b])
        except (RuntimeError, ValueError, TypeError, OSError, zarr.errors.BaseZarrError):
            unknown[a - lo : b - lo] = True
    void = np.zeros(hi - lo, dtype=bool)
    for a, b in record.void:
        void[max(a - lo, 0) : max(min(b, hi) - lo, 0)] = True
    for forward in (True, False):
        times, filled = known.copy(), unknown.copy()
        for first, stop in ranges if forward else reversed(ranges):
            anchor = first - 1 if forward else stop
            if not lo <= anchor < hi or filled[anchor - lo]:
                break
            rows = np.arange(first, stop)
            times[first - lo : stop - lo] = times[anchor - lo] + step_s * (rows - anchor)
            filled[first - lo : stop - lo] = False
        else:
            if filled.any() and any(
                filled[b * SUM_BLOCK_ROWS - lo : (b + 1) * SUM_BLOCK_ROWS - lo].any() for b in blocks
            ):
                continue
            sums = time_sums(times, lo, skip=void)
            if all(sums.get(b, 0) == record.time_sums[b] for b in blocks):
                return [(first, stop, times[first - lo : stop - lo]) for first, stop in ranges]
    return None


def _truncated(record: CommitRecord, rows: int) -> CommitRecord:
    widths = [w for w in record.widths if w[0] < rows] or [[rows, len(record.channels)]]
    void = [[a, min(b, rows)] for a, b in record.void if a < rows]
    lost = [[a, min(b, rows), c, d] for a, b, c, d in record.lost if a < rows]
    sums = (record.time_sums or [])[: -(-rows // SUM_BLOCK_ROWS)]
    return CommitRecord(rows, record.channels, widths, sums, void, lost)


def _with_sums(record: CommitRecord, time_array: zarr.Array, only_blocks: set[int] | None = None) -> CommitRecord:
    """The record with the time checksums of the given blocks (all when ``None``) taken from the arrays."""
    blocks = -(-record.rows // SUM_BLOCK_ROWS)
    sums = list(record.time_sums or [])[:blocks] + [0] * max(blocks - len(record.time_sums or []), 0)
    for block in range(blocks) if only_blocks is None else sorted(only_blocks):
        if not 0 <= block < blocks:
            continue
        lo, hi = block * SUM_BLOCK_ROWS, min((block + 1) * SUM_BLOCK_ROWS, record.rows)
        times = np.zeros(hi - lo, dtype=np.int64)
        voided = np.zeros(hi - lo, dtype=bool)
        for a, b in record.void:
            voided[max(a, lo) - lo : max(min(b, hi) - lo, 0)] = True
        step = int((time_array.shards or time_array.chunks)[0])
        for start in range(lo - lo % step, hi, step):
            a, b = max(start, lo), min(start + step, hi)
            try:
                times[a - lo : b - lo] = np.asarray(time_array[a:b])
            except (RuntimeError, ValueError, TypeError, OSError, zarr.errors.BaseZarrError):
                voided[a - lo : b - lo] = True
        sums[block] = time_sums(times, lo, skip=voided).get(block, 0)
    return CommitRecord(record.rows, record.channels, record.widths, sums, record.void, record.lost)


def _merged(ranges: list[list[int]]) -> list[list[int]]:
    merged: list[list[int]] = []
    for a, b in sorted(ranges):
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return merged


def _time_span(time_array: zarr.Array, first: int, stop: int) -> str:
    try:
        times = np.asarray(time_array[first:stop])
    except (RuntimeError, ValueError, TypeError, OSError, zarr.errors.BaseZarrError):
        return ""
    times = times[times != 0]
    if not times.size:
        return ""
    fmt = "%Y-%m-%dT%H:%MZ"
    low, high = (datetime.fromtimestamp(int(t), UTC).strftime(fmt) for t in (times.min(), times.max()))
    return f" ({low} .. {high})"


def _json_ok(path: Path) -> bool:
    try:
        json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return True


def _move_aside(path: Path, store: Path, backup: Path) -> None:
    if not path.exists():
        return
    target = backup / path.relative_to(store)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(path, target)


def _copy_aside(path: Path, store: Path, backup: Path) -> None:
    if path.exists():
        target = backup / path.relative_to(store)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
