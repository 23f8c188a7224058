"""Reading and checking meter data files for ``twin import``, before anything is stored.

:func:`prepare_import` reads files in three formats, told apart by their content
(:func:`file_format`): the twin's own CSV (:func:`connectors.meter_import.read_meter_files`),
the German CSV dialects of portals and metering point operators
(:func:`connectors.german_csv.read_german_csv`) and MSCONS interchanges
(:func:`connectors.mscons.read_mscons`). Meter points are mapped to the site's meters
(:mod:`connectors.meter_points`) and every meter is checked against the site (or the meters
``twin live`` recorded in the store). The result, :class:`PreparedImport`, is what
:func:`twin.importing.apply_import` stores.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
import pandas as pd

from connectors.german_csv import CsvOptions, PointValue, read_german_csv
from connectors.meter_import import COLUMNS, IntervalBlock, MeterImport, MeterRecord, read_meter_files
from connectors.meter_points import MeterMap, read_meter_map, resolve, site_meter_points
from connectors.mscons import read_mscons
from connectors.site import Site
from twin.core.errors import ConfigError
from twin.core.schema import SUBSTATION
from twin.core.store import SNAPSHOT_FILE, read_json
from twin.core.vocabulary import STEP_S

__all__ = [
    "METERS_FILE",
    "METER_POINTS_FILE",
    "PreparedImport",
    "file_format",
    "prepare_import",
    "read_store_json",
    "site_meters",
]

#: The meters of the site and their boundaries, written by ``twin live`` for ``twin import``.
METERS_FILE: Final[str] = "meters.json"
#: The site's meter points ([entry, meter id] pairs), written by ``twin live`` for ``twin import``.
METER_POINTS_FILE: Final[str] = "meter_points.json"


@dataclass
class PreparedImport:
    """An import read and checked against the site, ready to be applied to a store.

    Attributes
    ----------
    intervals : IntervalBlock
        Every interval (meters' ids), with quality flags.
    readings : list of MeterRecord
        Counter readings.
    meters : dict of str to str
        Meter id -> boundary.
    gas : dict of str to str
        Gas meter id -> boundary.
    files : list of str
        The files read.
    notes : dict of str to Any
        Counts for the summary: ``duplicates``, ``gaps``, ``statuses``, ``unmapped``.
    """

    intervals: IntervalBlock
    readings: list[MeterRecord]
    meters: dict[str, str]
    gas: dict[str, str]
    files: list[str]
    notes: dict[str, Any] = field(default_factory=dict)


def file_format(path: str | Path) -> Literal["twin", "mscons", "german"]:
    """The format of a meter data file, from its content: MSCONS, the twin's CSV or a German CSV.

    Raises
    ------
    ConfigError
        The file cannot be read.
    """
    try:
        with Path(path).open("rb") as file:
            head = file.read(65536)
    except OSError as err:
        raise ConfigError(f"cannot read the meter data file: {err.strerror or err}", file=str(path)) from None
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff \r\n\t")
    if text.startswith(("UNA", "UNB")):
        return "mscons"
    first = next((line for line in text.splitlines() if line.strip() and not line.startswith("#")), "")
    names = [cell.strip() for cell in first.split(",")]
    return "twin" if names and set(names) <= set(COLUMNS) and "meter" in names else "german"


def prepare_import(
    files: list[str | Path],
    store: Path,
    *,
    site: Site | None = None,
    meter_map: str | Path | None = None,
    csv: CsvOptions | None = None,
    skip_unmapped: bool = False,
) -> PreparedImport:
    """Read and check every file against the site's meters (from ``site`` or the store's ``meters.json``).

    Raises
    ------
    ConfigError
        The first problem, naming the file, line (or segment) and column.
    """
    meters = site_meters(site) if site is not None else _stored_meters(store)
    gas = {d.id: d.building or SUBSTATION for d in site.devices if d.kind == "gas_meter"} if site else {}
    meters = {**meters, **gas}
    formats = {str(f): file_format(f) for f in files}
    own = [f for f in files if formats[str(f)] == "twin"]
    data = read_meter_files(own) if own else MeterImport(rows=[])
    data.files = len(files)
    points: list[PointValue] = []
    mapping = MeterMap.of(site_meter_points(site.devices) if site is not None else _stored_meter_points(store))
    if meter_map is not None:
        mapping = mapping.then(read_meter_map(meter_map, meters))
    csv = csv or CsvOptions()
    if csv.timezone is None:  # the site's, else the one the live twin wrote into the store's snapshot
        snapshot = read_store_json(store / SNAPSHOT_FILE, {}, "snapshot") if site is None else {}
        zone = site.timezone if site is not None else snapshot.get("timezone") if isinstance(snapshot, dict) else None
        csv = replace(csv, timezone=zone if isinstance(zone, str) and zone else None)
    for path in files:
        if formats[str(path)] == "german":
            points.extend(read_german_csv(path, csv))
        elif formats[str(path)] == "mscons":
            points.extend(_mscons_points(path))
    resolved = resolve(points, mapping, meters, skip_unmapped=skip_unmapped)
    if resolved.block.time_s.size:
        data.blocks.append(resolved.block)
    intervals = data.intervals()
    _check_sources_apart(intervals, resolved.block, own)
    _check_known(data, intervals, meters)
    _check_gas(data, gas)
    notes = {
        "duplicates": data.duplicates + resolved.duplicates,
        "gaps": sum(data.gaps().values()),
        "statuses": resolved.statuses,
        "unmapped": resolved.unmapped,
    }
    return PreparedImport(intervals, data.readings(), meters, gas, [str(f) for f in files], notes)


def _mscons_points(path: str | Path) -> list[PointValue]:
    """The interval values of an MSCONS interchange as meter-point values (quarter-hours only)."""
    points = []
    for value in read_mscons(path):
        where = f"segment {value.segment} (QTY)"
        if value.direction is None:
            raise ConfigError(
                f"product {value.product!r} of {value.location} is neither import nor export energy",
                file=str(path),
                field=where,
                allowed="OBIS 1-1:1.29.0 / 1-1:2.29.0 (or 1.8 / 2.8)",
            )
        start_s = int(value.start_utc.timestamp())
        if (value.end_utc - value.start_utc).total_seconds() != STEP_S or start_s % STEP_S:
            raise ConfigError(
                f"interval {value.start_utc:%Y-%m-%d %H:%M} to {value.end_utc:%H:%M} UTC is not a quarter-hour",
                file=str(path),
                field=where,
            )
        energy = math.nan if value.status == "unusable" else value.energy_kwh
        if not math.isnan(energy) and energy < 0:
            raise ConfigError(f"negative energy {value.energy_kwh:g} kWh", file=str(path), field=where)
        points.append(
            PointValue(value.location, value.direction, start_s, energy, value.status, str(path), where, value.product)
        )
    return points


def _check_sources_apart(intervals: IntervalBlock, external: IntervalBlock, own: list[str | Path]) -> None:
    """A quarter of a meter in both the twin's CSV and a German CSV or MSCONS file is refused."""
    if not own or not external.time_s.size or intervals.time_s.size == external.time_s.size:
        return
    codes, _ = pd.factorize(intervals.meter)
    keys = codes.astype(np.int64) * (1 << 40) + intervals.time_s
    unique, counts = np.unique(keys, return_counts=True)
    if (counts > 1).any():
        twice = int(np.flatnonzero(np.isin(keys, unique[counts > 1]))[-1])
        raise ConfigError(
            f"meter {intervals.meter[twice]} has the quarter-hour starting "
            f"{np.datetime64(int(intervals.time_s[twice]), 's')}Z both in a twin CSV file and in a German CSV"
            " or MSCONS file",
            file=", ".join(str(f) for f in own),
            allowed="each quarter-hour of a meter in one file",
        )


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


def _check_gas(data: MeterImport, gas: dict[str, str]) -> None:
    """A gas meter exports nothing: refuse an export, naming the file and line of the first."""
    if not gas:
        return
    first = next((r for r in data.rows if r.meter in gas and r.kind == "interval" and r.export_kwh != 0.0), None)
    for block in data.blocks if first is None else ():
        bad = np.flatnonzero(np.isin(block.meter, list(gas)) & (block.export_kwh > 0.0))
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
    meters = read_store_json(path, None, "meters file")
    if meters is None:
        raise ConfigError("the store does not know the site's meters yet: give --site FILE", file=str(store))
    if not isinstance(meters, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in meters.items()):
        raise ConfigError(
            "not a meters file: expected an object of meter id -> boundary",
            file=str(path),
            allowed="a file written by twin live, or give --site FILE",
        )
    return meters


def read_store_json(path: Path, default: Any, what: str) -> Any:
    """A JSON file of the store (``default`` when missing); a damaged one is a :class:`ConfigError`."""
    try:
        return read_json(path, default)
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise ConfigError(
            f"cannot read the store's {what}: {getattr(err, 'strerror', None) or err}",
            file=str(path),
            allowed="a file written by the twin",
        ) from None


def _stored_meter_points(store: Path) -> list[tuple[str, str]]:
    """The site's meter points ``twin live`` recorded in the store (none when it recorded none)."""
    path = store / METER_POINTS_FILE
    pairs = read_store_json(path, [], "meter points file")
    if not isinstance(pairs, list) or not all(
        isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) for x in p) for p in pairs
    ):
        raise ConfigError("not a meter points file: expected a list of [meter point, meter id]", file=str(path))
    return [(point, meter) for point, meter in pairs]
