"""Back-filling the state store from meter data files (``twin import``).

:func:`import_meter_data` reads meter data files in three formats, told apart by their
content (:func:`twin.import_sources.file_format`): the twin's own CSV
(:func:`connectors.meter_import.read_meter_files`), the German CSV dialects of portals and metering point operators
(:func:`connectors.german_csv.read_german_csv`) and MSCONS interchanges
(:func:`connectors.mscons.read_mscons`). Meter points are mapped to the site's meters
(:mod:`connectors.meter_points`); each meter goes to its boundary (a building or the
substation; a gas meter's import is its building's gas). Everything is read and checked before
anything is stored (:func:`twin.import_sources.prepare_import`); then :func:`apply_import` appends the quarter-hours
the store does not hold yet to the 15-minute table, and readings go to the store's readings
file. While ``twin live`` holds the store, the checked import goes to its inbox
(:mod:`twin.import_inbox`) and the live twin applies it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from connectors.german_csv import CsvOptions
from connectors.meter_import import IntervalBlock, MeterRecord, check_counters
from connectors.site import load_site
from twin.core.errors import ConfigError
from twin.core.schema import SUBSTATION
from twin.core.store import READINGS_FILE, TIME_CHUNK, MeanTable, StoreLock, write_json_atomic
from twin.core.vocabulary import QUALITY_FLAGS
from twin.import_inbox import live_inbox, submit
from twin.import_sources import METERS_FILE, PreparedImport, prepare_import, read_store_json, site_meters

__all__ = [
    "APPEND_BLOCK_BYTES",
    "METERS_FILE",
    "Applied",
    "PreparedImport",
    "apply_import",
    "import_meter_data",
    "prepare_import",
    "site_meters",
]

#: Largest block of rows one append builds: rows x every channel of the table x 9 bytes. [B]
APPEND_BLOCK_BYTES: Final[int] = 32 * 1024 * 1024
_BYTES_PER_CELL: Final[int] = 9  # float64 value + int8 quality
#: (file column, flow) of an electricity meter.
_ELECTRIC: Final[tuple[tuple[str, str], ...]] = (("import_kwh", "import_kwh"), ("export_kwh", "export_kwh"))
#: A value differs from the stored one by more than this. [kWh]
_DIFFERENT_KWH: Final[float] = 0.0005
_OK: Final[int] = QUALITY_FLAGS["ok"]
_MISSING: Final[int] = QUALITY_FLAGS["missing"]
_ESTIMATED: Final[int] = QUALITY_FLAGS["estimated"]


@dataclass
class Applied:
    """What :func:`apply_import` stored: the summary line and the rows appended."""

    summary: str
    times: np.ndarray
    channels: list[str]
    values: np.ndarray
    flags: np.ndarray


def import_meter_data(
    files: list[str | Path],
    store_dir: str | Path,
    *,
    site_file: str | Path | None = None,
    meter_map: str | Path | None = None,
    csv: CsvOptions | None = None,
    skip_unmapped: bool = False,
    wait_s: float = 120.0,
) -> str:
    """Import meter data files into a store; return a one-line summary.

    Quarter-hours the store already holds for a boundary are kept (live data wins; a different
    value is reported); the others are appended. Readings go to the store's readings file and set
    the year's start; with the readings stored before, no meter's counter may fall. A file that is
    refused changes nothing. Only the flow channels the files touch are read, and rows are appended
    in blocks of at most :data:`APPEND_BLOCK_BYTES`. While ``twin live`` holds the store, the
    import is handed to it (:func:`twin.import_inbox.submit`) and this waits up to ``wait_s``.

    Raises
    ------
    ConfigError
        A bad file (file, line, column), an unknown meter or meter point, a damaged ``meters.json``
        or ``readings.json`` of the store, or a store held by another writer than ``twin live``.
    """
    store = Path(store_dir)
    site = load_site(site_file) if site_file is not None else None
    prepared = prepare_import(files, store, site=site, meter_map=meter_map, csv=csv, skip_unmapped=skip_unmapped)
    lock = StoreLock(store, f"twin import {' '.join(str(f) for f in files)}")
    try:
        lock.acquire()
    except ConfigError:
        if live_inbox(store) is None:
            raise
        return submit(store, prepared, wait_s=wait_s)
    try:
        table = MeanTable(store, "15min", writable=True)

        def write_readings(readings: dict[str, Any]) -> None:
            write_json_atomic(store / READINGS_FILE, readings)

        return apply_import(prepared, store, table=table, append=table.append, write_readings=write_readings).summary
    finally:
        lock.release()


def apply_import(
    prepared: PreparedImport,
    store: Path,
    *,
    table: MeanTable,
    append: Callable[..., Any],
    write_readings: Callable[[dict[str, Any]], object],
    open_from_s: int | None = None,
) -> Applied:
    """Apply a prepared import to a store whose writer calls this (it holds the lock).

    Parameters
    ----------
    prepared : PreparedImport
        The checked import.
    store : Path
        The store.
    table : MeanTable
        Its 15-minute table, to read what it holds.
    append : callable
        ``append(times, values, flags)`` appends rows to the 15-minute table.
    write_readings : callable
        Writes the store's readings file (the whole mapping).
    open_from_s : int, optional
        Quarters from this start on are not closed yet (the live twin's open quarter): skipped.

    Raises
    ------
    ConfigError
        A reading below one stored before, or a damaged ``readings.json``.
    """
    intervals, gas, meters = prepared.intervals, prepared.gas, prepared.meters
    readings = _stored_readings(store)
    _check_against_stored(prepared.readings, readings)
    interval_meters = {str(m) for m in pd.unique(intervals.meter)}
    touched = sorted(
        {f"flow:{meters[m]}/{flow}" for m in interval_meters for _, flow in _flows(m in gas)}
        | ({f"flow:{SUBSTATION}/fuel_kwh"} if gas and set(gas) <= interval_meters else set())
    )
    have = _stored_values(table, touched)
    for record in prepared.readings:
        counter = "energy_fuel_kwh" if record.meter in gas else "energy_import_kwh"
        entry = {"time_s": record.time_s, counter: record.import_kwh}
        if not math.isnan(record.export_kwh) and record.meter not in gas:
            entry["energy_export_kwh"] = record.export_kwh
        kept = [r for r in readings.get(record.meter, []) if r["time_s"] != record.time_s]
        readings[record.meter] = sorted([*kept, entry], key=lambda r: r["time_s"])
    rows = _NewRows.of(intervals, meters, gas, touched, have, open_from_s)
    keep = rows.given
    _append_in_blocks(table, append, rows.times[keep], touched, rows.values[keep], rows.flags[keep])
    if prepared.readings:
        write_readings(readings)
    return Applied(
        _summary(prepared, store, int(keep.sum()), rows), rows.times[keep], touched, rows.values[keep], rows.flags[keep]
    )


def _summary(prepared: PreparedImport, store: Path, quarters: int, rows: _NewRows) -> str:
    notes = prepared.notes
    statuses = notes.get("statuses", {})
    parts = [
        f"imported {quarters} quarter-hours from {len(prepared.files)} file(s) into {store}: "
        f"{rows.skipped} value(s) already in the store kept, {notes.get('duplicates', 0)} duplicate row(s) dropped, "
        f"{notes.get('gaps', 0)} quarter-hour(s) missing in the files, {len(prepared.readings)} reading(s)"
    ]
    if rows.differ:
        examples = "; ".join(rows.examples)
        parts.append(f"{rows.differ} value(s) differ from the store's (the store's kept: {examples})")
    flagged = [f"{statuses[s]} {s}" for s in ("substitute", "proposed", "unusable") if statuses.get(s)]
    if flagged:
        parts.append(
            f"values with status {', '.join(flagged)} (substitutes and proposed stored as estimated, "
            "unusable as missing)"
        )
    if rows.late:
        parts.append(f"{rows.late} value(s) of quarters the live twin has not closed yet skipped")
    unmapped = notes.get("unmapped", {})
    if unmapped:
        parts.append(
            f"{sum(unmapped.values())} value(s) of {len(unmapped)} unmapped meter point(s) skipped: "
            + ", ".join(sorted(unmapped)[:5])
            + (", ..." if len(unmapped) > 5 else "")
        )
    return "; ".join(parts)


def _flows(gas: bool) -> tuple[tuple[str, str], ...]:
    """(file column, flow) of a meter: a gas meter's import is the gas drawn."""
    return (("import_kwh", "fuel_kwh"),) if gas else _ELECTRIC


@dataclass
class _NewRows:
    """The quarter starts and the values and flags (quarters x touched channels) to append, and what was kept."""

    times: np.ndarray
    values: np.ndarray
    flags: np.ndarray
    skipped: int = 0
    differ: int = 0
    late: int = 0
    examples: list[str] = field(default_factory=list)
    #: Quarters given a finite value by the files (the rows appended).
    given: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))

    @classmethod
    def of(
        cls,
        intervals: IntervalBlock,
        meters: dict[str, str],
        gas: dict[str, str],
        touched: list[str],
        have: dict[str, tuple[np.ndarray, np.ndarray]],
        open_from_s: int | None,
    ) -> _NewRows:
        """Rows for the quarters the store lacks; gas meters of one boundary add up.

        The district's gas is the sum of every gas meter of the site, in the quarters all of them
        have (as the live twin counts it).
        """
        codes, interval_meters = pd.factorize(intervals.meter)
        ordered = np.sort(intervals.time_s)
        times = ordered[np.r_[True, ordered[1:] != ordered[:-1]]] if ordered.size else ordered
        column = {channel: index for index, channel in enumerate(touched)}
        rows = cls(times, np.full((times.size, len(touched)), np.nan), np.full((times.size, len(touched)), _MISSING))
        rows.flags, rows.given = rows.flags.astype(np.int8), np.zeros(times.size, dtype=bool)
        district_gas, gas_meters = np.zeros(times.size), np.zeros(times.size, dtype=np.int64)
        district_estimated = np.zeros(times.size, dtype=bool)
        for code, meter in enumerate(str(m) for m in interval_meters):
            picked = codes == code
            starts = intervals.time_s[picked]
            at = np.searchsorted(times, starts)
            for column_name, flow in _flows(meter in gas):
                values = (intervals.import_kwh if column_name == "import_kwh" else intervals.export_kwh)[picked]
                flags = intervals.flags(column_name)[picked]
                channel = f"flow:{meters[meter]}/{flow}"
                stored = rows._compare(meter, column_name, starts, values, have.get(channel))
                if open_from_s is not None:
                    late = (starts >= open_from_s) & ~stored
                    rows.late += int(late.sum())
                    stored |= late
                new = ~stored
                rows.given[at[new & np.isfinite(values)]] = True  # an unusable value alone adds no row
                target, target_flags = rows.values[:, column[channel]], rows.flags[:, column[channel]]
                if meter in gas:
                    earlier = target[at[new]]
                    target[at[new]] = np.where(np.isfinite(earlier), earlier, 0.0) + values[new]
                    target_flags[at[new]] = np.where(
                        (flags[new] == _ESTIMATED) | (target_flags[at[new]] == _ESTIMATED), _ESTIMATED, flags[new]
                    )
                    np.add.at(district_gas, at, values)
                    np.add.at(gas_meters, at, 1)
                    np.logical_or.at(district_estimated, at, flags == _ESTIMATED)
                else:
                    target[at[new]] = values[new]
                    target_flags[at[new]] = flags[new]
        district = column.get(f"flow:{SUBSTATION}/fuel_kwh")
        if district is not None:
            stored_times = have.get(touched[district], (np.zeros(0, np.int64), None))[0]
            complete = (gas_meters == len(gas)) & ~np.isin(times, stored_times)
            if open_from_s is not None:
                complete &= times < open_from_s
            rows.given |= complete
            rows.values[complete, district] = district_gas[complete]
            rows.flags[complete, district] = np.where(
                district_estimated[complete], _ESTIMATED, np.where(np.isfinite(district_gas[complete]), _OK, _MISSING)
            )
        return rows

    def _compare(
        self,
        meter: str,
        column: str,
        starts: np.ndarray,
        values: np.ndarray,
        stored: tuple[np.ndarray, np.ndarray] | None,
    ) -> np.ndarray:
        """Which quarters the store holds (counted as kept); those with another value are counted and named."""
        if stored is None or not stored[0].size:
            return np.zeros(starts.size, dtype=bool)
        stored_times, stored_values = stored
        position = np.minimum(np.searchsorted(stored_times, starts), stored_times.size - 1)
        held = stored_times[position] == starts
        self.skipped += int(held.sum())
        other = held & np.isfinite(values) & (np.abs(stored_values[position] - values) > _DIFFERENT_KWH)
        self.differ += int(other.sum())
        for row in np.flatnonzero(other)[: max(0, 3 - len(self.examples))].tolist():
            self.examples.append(
                f"{meter} {column} {np.datetime64(int(starts[row]), 's')}Z: "
                f"{stored_values[position[row]]:g} in the store, {values[row]:g} in the file"
            )
        return held


def _stored_values(table: MeanTable, channels: list[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per channel of ``channels``: the quarter starts (sorted, epoch seconds) with a finite value, and the values."""
    existing = table.read(channels=channels)
    have: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    stored_times = existing["time"].values.astype("datetime64[s]").astype(np.int64)
    for index, channel in enumerate(str(c) for c in existing["channel"].values):
        column = existing["value"].values[:, index]
        finite = np.isfinite(column)
        order = np.argsort(stored_times[finite], kind="stable")
        have[channel] = (stored_times[finite][order], column[finite][order])
    return have


def _append_in_blocks(
    table: MeanTable,
    append: Callable[..., Any],
    times: np.ndarray,
    channels: list[str],
    values: np.ndarray,
    flags: np.ndarray,
) -> None:
    """Append rows (``times`` x ``channels`` of ``values`` and ``flags``) in blocks.

    A block holds at most :data:`APPEND_BLOCK_BYTES` of cells over the table's channels.
    """
    width = len(set(table.channels) | set(channels))
    block_rows = max(TIME_CHUNK, APPEND_BLOCK_BYTES // (_BYTES_PER_CELL * max(width, 1)) // TIME_CHUNK * TIME_CHUNK)
    for start in range(0, times.size, block_rows):
        block = slice(start, start + block_rows)
        append(
            np.asarray(times[block], dtype=np.int64),
            {c: values[block, index] for index, c in enumerate(channels)},
            {c: flags[block, index] for index, c in enumerate(channels)},
        )


def _stored_readings(store: Path) -> dict[str, list[dict[str, float]]]:
    """The readings earlier imports stored: meter id -> readings in time order."""
    path = store / READINGS_FILE
    readings = read_store_json(path, {}, "readings file")
    valid = isinstance(readings, dict) and all(
        isinstance(entries, list)
        and all(
            isinstance(entry, dict)
            and isinstance(entry.get("time_s"), int | float)
            and all(isinstance(value, int | float) for value in entry.values())
            for entry in entries
        )
        for entries in readings.values()
    )
    if not valid:
        raise ConfigError(
            "not a readings file: expected an object of meter id -> list of readings",
            file=str(path),
            allowed="a file written by twin import; move it away to start the readings anew",
        )
    return readings


def _check_against_stored(records: list[MeterRecord], readings: dict[str, list[dict[str, float]]]) -> None:
    """No counter may fall, the readings stored before included (a new reading replaces one at its time)."""
    new_times = {(r.meter, r.time_s) for r in records if r.kind == "reading"}
    new_meters = {meter for meter, _ in new_times}
    earlier = {
        meter: [
            MeterRecord(
                meter,
                int(entry["time_s"]),
                "reading",
                float(entry.get("energy_import_kwh", entry.get("energy_fuel_kwh", math.nan))),
                float(entry.get("energy_export_kwh", math.nan)),
            )
            for entry in entries
            if (meter, int(entry["time_s"])) not in new_times
        ]
        for meter, entries in readings.items()
        if meter in new_meters
    }
    check_counters(records, earlier)
