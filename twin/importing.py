"""Back-filling the state store from meter data files (``twin import``).

:func:`import_meter_data` reads 15-minute meter data files
(:func:`connectors.meter_import.read_meter_files`), maps each meter to its boundary (a
building or the substation; a gas meter's import is its building's gas) and appends the
quarter-hours the store does not hold yet to the 15-minute table; readings go to the store's
readings file and set the year's start.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from connectors.meter_import import IntervalBlock, MeterImport, MeterRecord, check_counters, read_meter_files
from connectors.site import Site, load_site
from twin.core.errors import ConfigError
from twin.core.schema import SUBSTATION
from twin.core.store import READINGS_FILE, TIME_CHUNK, MeanTable, StoreLock, read_json, write_json_atomic

__all__ = ["APPEND_BLOCK_BYTES", "METERS_FILE", "import_meter_data", "site_meters"]

#: The meters of the site and their boundaries, written by ``twin live`` for ``twin import``.
METERS_FILE: Final[str] = "meters.json"
#: Largest block of rows one append builds: rows x every channel of the table x 9 bytes. [B]
APPEND_BLOCK_BYTES: Final[int] = 32 * 1024 * 1024
_BYTES_PER_CELL: Final[int] = 9  # float64 value + int8 quality
#: (file column, flow) of an electricity meter.
_ELECTRIC: Final[tuple[tuple[str, str], ...]] = (("import_kwh", "import_kwh"), ("export_kwh", "export_kwh"))


def import_meter_data(files: list[str | Path], store_dir: str | Path, *, site_file: str | Path | None = None) -> str:
    """Back-fill a store from 15-minute meter data files; return a one-line summary.

    Quarter-hours the store already holds for a boundary are kept (live data wins); the others
    are appended. Readings go to the store's readings file and set the year's start; with the
    readings stored before, no meter's counter may fall. Only the flow channels the files touch
    are read, and rows are appended in blocks of at most :data:`APPEND_BLOCK_BYTES`, so memory
    follows the rows imported, not the thousands of channels the table holds. An import cut
    short leaves whole blocks committed; running it again completes it.

    Raises
    ------
    ConfigError
        A bad file (file, line, column), an unknown meter, a damaged ``meters.json`` or
        ``readings.json`` of the store, or a store held by another writer.
    """
    data = read_meter_files(files)
    intervals = data.intervals()
    reading_records = data.readings()
    store = Path(store_dir)
    with StoreLock(store, f"twin import {' '.join(str(f) for f in files)}"):
        site = load_site(site_file) if site_file is not None else None
        meters = site_meters(site) if site is not None else _stored_meters(store)
        gas = {d.id: d.building or SUBSTATION for d in site.devices if d.kind == "gas_meter"} if site else {}
        meters = {**meters, **gas}
        _check_known(data, intervals, meters)
        _check_gas(data, gas)
        readings = _stored_readings(store)
        _check_against_stored(reading_records, readings)
        table = MeanTable(store, "15min", writable=True)
        interval_meters = pd.unique(intervals.meter)

        touched = sorted(
            {f"flow:{meters[str(m)]}/{flow}" for m in interval_meters for _, flow in _flows(str(m) in gas)}
            | ({f"flow:{SUBSTATION}/fuel_kwh"} if set(gas) <= {str(m) for m in interval_meters} and gas else set())
        )
        have = _stored_times(table, touched)
        for record in reading_records:
            counter = "energy_fuel_kwh" if record.meter in gas else "energy_import_kwh"
            entry = {"time_s": record.time_s, counter: record.import_kwh}
            if not math.isnan(record.export_kwh) and record.meter not in gas:
                entry["energy_export_kwh"] = record.export_kwh
            kept = [r for r in readings.get(record.meter, []) if r["time_s"] != record.time_s]
            readings[record.meter] = sorted([*kept, entry], key=lambda r: r["time_s"])
        times, new, skipped = _new_rows(intervals, meters, gas, touched, have)
        keep = np.isfinite(new).any(axis=1)
        _append_in_blocks(table, times[keep], touched, new[keep])
        write_json_atomic(store / READINGS_FILE, readings)
    gaps = sum(data.gaps().values())
    return (
        f"imported {int(keep.sum())} quarter-hours from {data.files} file(s) into {store}: "
        f"{skipped} value(s) already in the store kept, {data.duplicates} duplicate row(s) dropped, "
        f"{gaps} quarter-hour(s) missing in the files, {len(reading_records)} reading(s)"
    )


def _flows(gas: bool) -> tuple[tuple[str, str], ...]:
    """(file column, flow) of a meter: a gas meter's import is the gas drawn."""
    return (("import_kwh", "fuel_kwh"),) if gas else _ELECTRIC


def _new_rows(
    intervals: IntervalBlock,
    meters: dict[str, str],
    gas: dict[str, str],
    touched: list[str],
    have: dict[str, set[int]],
) -> tuple[np.ndarray, np.ndarray, int]:
    """The quarter starts, the values (quarters x ``touched``, NaN: none) to append, and the values kept.

    Gas meters of one boundary add up; the district's gas is the sum of every gas meter of the
    site, in the quarters all of them have (as the live twin counts it).
    """
    codes, interval_meters = pd.factorize(intervals.meter)
    ordered = np.sort(intervals.time_s)
    times = ordered[np.r_[True, ordered[1:] != ordered[:-1]]] if ordered.size else ordered
    column = {channel: index for index, channel in enumerate(touched)}
    new = np.full((times.size, len(touched)), np.nan)
    district_gas, gas_meters = np.zeros(times.size), np.zeros(times.size, dtype=np.int64)
    skipped = 0
    for code, meter in enumerate(str(m) for m in interval_meters):
        rows = codes == code
        at = np.searchsorted(times, intervals.time_s[rows])
        for column_name, flow in _flows(meter in gas):
            values = (intervals.import_kwh if column_name == "import_kwh" else intervals.export_kwh)[rows]
            channel = f"flow:{meters[meter]}/{flow}"
            stored = np.isin(intervals.time_s[rows], np.fromiter(have.get(channel, ()), dtype=np.int64))
            skipped += int(stored.sum())
            target = new[:, column[channel]]
            if meter in gas:
                earlier = target[at[~stored]]
                target[at[~stored]] = np.where(np.isfinite(earlier), earlier, 0.0) + values[~stored]
                np.add.at(district_gas, at, values)
                np.add.at(gas_meters, at, 1)
            else:
                target[at[~stored]] = values[~stored]
    district = column.get(f"flow:{SUBSTATION}/fuel_kwh")
    if district is not None:
        complete = (gas_meters == len(gas)) & ~np.isin(times, np.fromiter(have.get(touched[district], ()), np.int64))
        new[complete, district] = district_gas[complete]
    return times, new, skipped


def _check_known(data: MeterImport, intervals: IntervalBlock, meters: dict[str, str]) -> None:
    """Refuse a meter the site does not have, naming the first row of it."""
    unknown = {str(m) for m in pd.unique(intervals.meter)} | {r.meter for r in data.readings()}
    unknown -= set(meters)
    if not unknown:
        return
    first = next((r for r in data.rows if r.meter in unknown), None)
    if first is None:
        block = next(b for b in data.blocks if np.isin(b.meter, list(unknown)).any())
        first = block.record(int(np.flatnonzero(np.isin(block.meter, list(unknown)))[0]))
    raise ConfigError(
        f"meter {first.meter!r} is not a building, substation or gas meter of the site (gas meters need --site)",
        file=first.file,
        field=f"line {first.line}: column meter",
        allowed=", ".join(sorted(meters)[:6]) + (", ..." if len(meters) > 6 else "") or "none",
    )


def _stored_times(table: MeanTable, channels: list[str]) -> dict[str, set[int]]:
    """The quarter-hours (epoch seconds) with a finite value, per channel of ``channels``."""
    existing = table.read(channels=channels)
    have: dict[str, set[int]] = {}
    stored_times = existing["time"].values.astype("datetime64[s]").astype(np.int64)
    for index, channel in enumerate(str(c) for c in existing["channel"].values):
        finite = np.isfinite(existing["value"].values[:, index])
        have[channel] = set(stored_times[finite].tolist())
    return have


def _check_gas(data: MeterImport, gas: dict[str, str]) -> None:
    """A gas meter exports nothing: refuse an export, naming the file and line of the first."""
    if not gas:
        return
    first = next((r for r in data.rows if r.meter in gas and r.kind == "interval" and r.export_kwh != 0.0), None)
    for block in data.blocks if first is None else ():
        bad = np.flatnonzero(np.isin(block.meter, list(gas)) & (block.export_kwh != 0.0))
        if bad.size:
            first = block.record(int(bad[0]))
            break
    if first is not None:
        raise ConfigError(
            f"gas meter {first.meter!r} exports {first.export_kwh:g} kWh",
            file=first.file,
            field=f"line {first.line}: column export_kwh",
            allowed="0 or empty for a gas meter",
        )


def _append_in_blocks(table: MeanTable, times: np.ndarray, channels: list[str], values: np.ndarray) -> None:
    """Append rows (``times`` x ``channels`` of ``values``, NaN where a channel has none) in blocks.

    A block holds at most :data:`APPEND_BLOCK_BYTES` of cells over the table's channels.
    """
    width = len(set(table.channels) | set(channels))
    block_rows = max(TIME_CHUNK, APPEND_BLOCK_BYTES // (_BYTES_PER_CELL * max(width, 1)) // TIME_CHUNK * TIME_CHUNK)
    for start in range(0, times.size, block_rows):
        block = slice(start, start + block_rows)
        table.append(
            np.asarray(times[block], dtype=np.int64),
            {c: values[block, index] for index, c in enumerate(channels)},
        )


def site_meters(site: Site) -> dict[str, str]:
    """Meter device id -> its boundary (a building id, or ``"substation"``)."""
    return {
        device.id: (device.building or SUBSTATION) if device.kind == "building_meter" else SUBSTATION
        for device in site.devices
        if device.kind in ("building_meter", "substation_meter")
    }


def _stored_meters(store: Path) -> dict[str, str]:
    """The meters ``twin live`` recorded in the store: meter id -> boundary."""
    path = store / METERS_FILE
    meters = _read_store_json(path, None, "meters file")
    if meters is None:
        raise ConfigError("the store does not know the site's meters yet: give --site FILE", file=str(store))
    if not isinstance(meters, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in meters.items()):
        raise ConfigError(
            "not a meters file: expected an object of meter id -> boundary",
            file=str(path),
            allowed="a file written by twin live, or give --site FILE",
        )
    return meters


def _stored_readings(store: Path) -> dict[str, list[dict[str, float]]]:
    """The readings earlier imports stored: meter id -> readings in time order."""
    path = store / READINGS_FILE
    readings = _read_store_json(path, {}, "readings file")
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


def _read_store_json(path: Path, default: Any, what: str) -> Any:
    try:
        return read_json(path, default)
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise ConfigError(
            f"cannot read the store's {what}: {getattr(err, 'strerror', None) or err}",
            file=str(path),
            allowed="a file written by the twin",
        ) from None


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
