"""Meter-point ids (MeLo, MaLo) and their mapping to the site's meters (``twin import --meter-map``).

A metering point operator names its data by the metering location (MeLo, ``DE`` and 31 digits
or capital letters, 33 characters) or the market location (MaLo, 11 digits, the last a check
digit), and the direction by an OBIS code (``1-1:1.29.0`` import, ``1-1:2.29.0`` export). The
meter map says which meter of the site each meter point and direction is (CSV, ``,`` or ``;``,
one header line, ``#`` comments)::

    meter_point;direction;meter
    DE0001234567890000000000000000001;;sfh01/meter
    51238696781;import;substation/meter
    51238696781;1-1:2.29.0;substation/meter

An empty direction maps both directions. :func:`resolve` turns interval values of meter points
(:class:`connectors.german_csv.PointValue`, also from MSCONS) into the meters' intervals,
with the status of each value as a quality flag.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np

from connectors.german_csv import PointValue, obis_direction
from connectors.meter_import import IntervalBlock
from twin.core.errors import ConfigError
from twin.core.vocabulary import QUALITY_FLAGS

__all__ = [
    "STATUS_FLAGS",
    "MeterMap",
    "Resolved",
    "is_malo",
    "is_melo",
    "read_meter_map",
    "resolve",
    "site_meter_points",
]

#: Status of a value -> the quality flag it is stored with (an unusable value is stored as missing).
STATUS_FLAGS: Final[dict[str, int]] = {
    "true": QUALITY_FLAGS["ok"],
    "substitute": QUALITY_FLAGS["estimated"],
    "proposed": QUALITY_FLAGS["estimated"],
    "unusable": QUALITY_FLAGS["missing"],
}
_MELO: Final[re.Pattern[str]] = re.compile(r"[A-Z]{2}[0-9A-Z]{31}")
_MALO: Final[re.Pattern[str]] = re.compile(r"\d{11}")
_MISSING: Final[int] = QUALITY_FLAGS["missing"]
_DIRECTIONS: Final[tuple[str, ...]] = ("import", "export")


def is_melo(text: str) -> bool:
    """Whether ``text`` is a metering location id (MeLo: two letters and 31 digits or capitals)."""
    return _MELO.fullmatch(text) is not None


def is_malo(text: str) -> bool:
    """Whether ``text`` is a market location id (MaLo: 11 digits with a valid check digit)."""
    if _MALO.fullmatch(text) is None:
        return False
    digits = [int(c) for c in text]
    total = sum(digits[0:10:2]) + 2 * sum(digits[1:10:2])
    return (10 - total % 10) % 10 == digits[10]


@dataclass(frozen=True)
class MeterMap:
    """(meter point, direction or None for both) -> meter id, and the map file's name."""

    entries: dict[tuple[str, str | None], str]
    file: str = ""

    def meter(self, point: str, direction: str) -> str | None:
        """The meter of a meter point's direction, None when the map has none."""
        return self.entries.get((point, direction)) or self.entries.get((point, None))

    @classmethod
    def of(cls, pairs: Iterable[tuple[str, str]], file: str = "") -> MeterMap:
        """A map of (``ID``, ``ID:import`` or ``ID:export``; meter id) pairs, as site files give them."""
        entries: dict[tuple[str, str | None], str] = {}
        for entry, meter in pairs:
            point, _, direction = entry.partition(":")
            entries[(point, direction or None)] = meter
        return cls(entries, file)

    def then(self, other: MeterMap) -> MeterMap:
        """The entries of both maps (``other`` wins where both map a meter point)."""
        return MeterMap({**self.entries, **other.entries}, other.file or self.file)


def read_meter_map(path: str | Path, known: Collection[str]) -> MeterMap:
    """Read a meter map; every meter it names must be one of ``known``.

    Raises
    ------
    ConfigError
        One line naming the map file, the line and the column.
    """
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"cannot read the meter map: {getattr(err, 'strerror', None) or err}", file=name) from None
    lines = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip() and not line.startswith("#")]
    if not lines:
        raise ConfigError("empty meter map", file=name, allowed="meter_point;direction;meter")
    separator = ";" if ";" in lines[0][1] else ","
    header = [c.strip().lower() for c in lines[0][1].split(separator)]
    if header[:3] != ["meter_point", "direction", "meter"]:
        raise ConfigError(
            f"header {lines[0][1][:60]!r}",
            file=name,
            field=f"line {lines[0][0]}",
            allowed="meter_point;direction;meter",
        )
    entries: dict[tuple[str, str | None], str] = {}
    for number, line in lines[1:]:
        cells = [c.strip() for c in line.split(separator)]
        if len(cells) != 3:
            raise ConfigError(f"{len(cells)} values for 3 columns", file=name, field=f"line {number}")
        point, direction_text, meter = cells
        if not (is_melo(point) or is_malo(point)):
            raise ConfigError(
                f"not a MeLo or MaLo id: {point[:40]!r}" + (" (wrong check digit)" if _MALO.fullmatch(point) else ""),
                file=name,
                field=f"line {number}: column meter_point",
                allowed="DE and 31 digits/capitals (MeLo), or 11 digits with their check digit (MaLo)",
            )
        direction = direction_text.lower() if direction_text.lower() in _DIRECTIONS else None
        if direction_text and direction is None:
            direction = obis_direction(direction_text)
            if direction is None:
                raise ConfigError(
                    f"unknown direction {direction_text!r}",
                    file=name,
                    field=f"line {number}: column direction",
                    allowed="import, export, an OBIS code (1-1:1.29.0, 1-1:2.29.0) or empty for both",
                )
        if meter not in known:
            raise ConfigError(
                f"meter {meter!r} is not a meter of the site",
                file=name,
                field=f"line {number}: column meter",
                allowed=", ".join(sorted(known)[:6]) + (", ..." if len(known) > 6 else ""),
            )
        if (point, direction) in entries:
            raise ConfigError(f"meter point {point} mapped twice", file=name, field=f"line {number}")
        entries[(point, direction)] = meter
    return MeterMap(entries, name)


def site_meter_points(devices: Iterable[Any]) -> list[tuple[str, str]]:
    """(meter point entry, meter id) of the site's devices that name their meter points."""
    return [(entry, device.id) for device in devices for entry in getattr(device, "meter_points", ())]


@dataclass
class Resolved:
    """The meters' intervals of some meter-point values, and what was dropped or flagged."""

    block: IntervalBlock
    duplicates: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    unmapped: dict[str, int] = field(default_factory=dict)


def resolve(
    values: Iterable[PointValue], mapping: MeterMap, known: Collection[str], *, skip_unmapped: bool = False
) -> Resolved:
    """The meters' intervals (import and export per quarter-hour, with flags) of meter-point values.

    A meter point the map names goes to its meter; one that is itself a meter id of the site
    stays. Equal repeated values are dropped (counted); a value repeated with another value or
    status is refused, naming both places.

    Raises
    ------
    ConfigError
        An unmapped meter point (unless ``skip_unmapped``: then counted), or a conflicting repeat.
    """
    rows: dict[tuple[str, int], list[float]] = {}  # import, export, import flag, export flag, line
    seen: dict[tuple[str, str, int], PointValue] = {}
    result = Resolved(IntervalBlock.empty())
    for value in values:
        meter = mapping.meter(value.meter_point, value.direction)
        if meter is None and value.meter_point in known:
            meter = value.meter_point
        if meter is None:
            if not skip_unmapped:
                raise ConfigError(
                    f"meter point {value.meter_point!r} ({value.direction}) is not mapped to a meter of the site",
                    file=value.file,
                    field=value.where,
                    allowed="a line in --meter-map FILE, or --skip-unmapped",
                )
            result.unmapped[value.meter_point] = result.unmapped.get(value.meter_point, 0) + 1
            continue
        key = (meter, value.direction, value.start_s)
        earlier = seen.get(key)
        if earlier is not None:
            if _same(earlier.energy_kwh, value.energy_kwh) and earlier.status == value.status:
                result.duplicates += 1
                continue
            raise ConfigError(
                f"{value.direction} of meter {meter} ({value.meter_point}) for the quarter-hour starting "
                f"{np.datetime64(value.start_s, 's')}Z given twice with other values (also {earlier.file} "
                f"{earlier.where})",
                file=value.file,
                field=value.where,
            )
        seen[key] = value
        result.statuses[value.status] = result.statuses.get(value.status, 0) + 1
        row = rows.setdefault(
            (meter, value.start_s), [math.nan, math.nan, QUALITY_FLAGS["missing"], QUALITY_FLAGS["missing"], 0]
        )
        column = 0 if value.direction == "import" else 1
        row[column], row[2 + column] = value.energy_kwh, STATUS_FLAGS[value.status]
        row[4] = row[4] or _line(value.where)
    keys = list(rows)
    table = np.asarray([rows[k] for k in keys], dtype=np.float64).reshape(-1, 5)
    result.block = IntervalBlock(
        "",
        np.asarray([k[0] for k in keys], dtype=object),
        np.asarray([k[1] for k in keys], dtype=np.int64),
        table[:, 0].copy(),
        table[:, 1].copy(),
        table[:, 4].astype(np.int64),
        table[:, 2].astype(np.int8),
        table[:, 3].astype(np.int8),
    )
    return result


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or abs(a - b) <= 1e-9 * max(1.0, abs(a))


def _line(where: str) -> int:
    match = re.match(r"(?:line|segment) (\d+)", where)
    return int(match.group(1)) if match else 0
