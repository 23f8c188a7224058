"""Meter data as German portals and metering point operators export it (``twin import``).

The dialect: ``;`` between fields (tab or ``,`` are recognised too), a decimal comma with
thousands dots (``1.234,5``), UTF-8 with or without BOM (Windows-1252 when it is not UTF-8),
preamble lines before the table (``Zählpunkt;DE00...``, ``OBIS-Kennzahl;1-1:1.29.0``,
``Einheit;kWh``), local time (:data:`~twin.core.vocabulary.DEFAULT_TIMEZONE` or the site's)
with date and time in one column or two, and values as kWh per interval or as mean power (W,
kW). :func:`read_german_csv` finds the table's header (the first line with a time column),
recognises the columns by their German or English names (:data:`COLUMN_WORDS`) and returns one
:class:`PointValue` per interval and value column.

Local times on the 25-hour day are disambiguated by an offset column (``+02:00``, ``MESZ``),
an ``A``/``B`` marker after the time (``02:15A``: the first, summer-time hour) or a column
``A/B``, else by order: the first 02:15 of the day is the summer-time one, the second the
winter-time one. A local time that does not exist (02:00-02:59 on the 23-hour day) is refused.
What cannot be told from the file is given as :class:`CsvOptions` (unit, decimal mark, whether
times label the start or end of an interval, the meter point, the direction).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from twin.core.errors import ConfigError
from twin.core.vocabulary import DEFAULT_TIMEZONE, STEP_S

__all__ = [
    "COLUMN_WORDS",
    "MAX_CSV_BYTES",
    "UNITS_KWH",
    "CsvOptions",
    "PointValue",
    "obis_direction",
    "read_german_csv",
]

#: Largest file read. [bytes]
MAX_CSV_BYTES: Final[int] = 500_000_000
#: Unit -> (factor to kWh, whether it is a power: the value is a mean over the interval).
UNITS_KWH: Final[dict[str, tuple[float, bool]]] = {
    "kwh": (1.0, False),
    "wh": (1e-3, False),
    "mwh": (1e3, False),
    "kw": (1.0, True),
    "w": (1e-3, True),
    "mw": (1e3, True),
}
#: Words that name a column (lower case, umlauts folded), by role; the first match wins.
COLUMN_WORDS: Final[dict[str, tuple[str, ...]]] = {
    "meter_point": ("zaehlpunkt", "messlokation", "marktlokation", "melo", "malo", "metering point", "meter"),
    "obis": ("obis",),
    "offset": ("utc-offset", "utc offset", "offset", "zeitzone", "timezone"),
    "fold": ("a/b",),
    "status": ("status", "qualitaet", "quality", "messwertstatus"),
    "unit": ("einheit", "unit"),
    "end": ("bis", "ende", "end", "to"),
    "date": ("datum", "date", "tag"),
    "time": ("zeitstempel", "timestamp", "zeitpunkt", "uhrzeit", "zeit", "time", "von", "beginn", "start", "from"),
}
#: Words of a value column and the direction they say (``None``: the file or the options say).
_VALUE_WORDS: Final[tuple[tuple[str, str | None], ...]] = (
    ("einspeisung", "export"),
    ("lieferung", "export"),
    ("erzeugung", "export"),
    ("export", "export"),
    ("bezug", "import"),
    ("verbrauch", "import"),
    ("import", "import"),
    ("wert", None),
    ("menge", None),
    ("energie", None),
    ("arbeit", None),
    ("leistung", None),
    ("value", None),
    ("energy", None),
    ("power", None),
)
#: Status words and codes -> the status of a value (MSCONS qualifiers included).
_STATUS: Final[dict[str, str]] = {
    **dict.fromkeys(("", "w", "wahr", "wahrer wert", "220", "true", "ok", "gemessen", "messwert"), "true"),
    **dict.fromkeys(("e", "ersatzwert", "67", "substitute", "ersatz", "geschaetzt", "estimated"), "substitute"),
    **dict.fromkeys(("v", "vorschlagswert", "vorlaeufig", "201", "proposed"), "proposed"),
    **dict.fromkeys(("f", "fehlt", "fehlend", "ungueltig", "unbrauchbar", "20", "unusable", "missing"), "unusable"),
}
_OFFSETS: Final[dict[str, int]] = {"mez": 3600, "cet": 3600, "mesz": 7200, "cest": 7200, "utc": 0, "z": 0}
_OBIS: Final[re.Pattern[str]] = re.compile(r"(?:\d+-\d+:)?(\d+)\.(\d+)\.\d+")
_DATE: Final[re.Pattern[str]] = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4}|\d{2})|(\d{4})-(\d{2})-(\d{2})")
_TIME: Final[re.Pattern[str]] = re.compile(
    r"(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([ABab])?\s*(?:(Z|[+-]\d{1,2}(?::?\d{2})?))?(?:\s*\*?([ABab]))?"
)
_THOUSANDS_COMMA: Final[re.Pattern[str]] = re.compile(r"[+-]?\d{1,3}(\.\d{3})+(,\d*)?")
_THOUSANDS_POINT: Final[re.Pattern[str]] = re.compile(r"[+-]?\d{1,3}(,\d{3})+(\.\d*)?")
_SUM_WORDS: Final[tuple[str, ...]] = ("summe", "gesamt", "total", "sum")
_MAX_PREAMBLE_LINES: Final[int] = 60
#: Roles also recognised as a word within a longer name (``Datum von``, ``Zählpunktbezeichnung``).
_WORD_ROLES: Final[tuple[str, ...]] = ("meter_point", "status", "time", "date", "offset")


@dataclass(frozen=True)
class CsvOptions:
    """What a file may leave open; ``None``: detected from the file.

    Attributes
    ----------
    unit : str, optional
        Unit of the values: kWh, Wh, MWh (energy per interval) or kW, W, MW (mean power).
    decimal : {"comma", "point"}, optional
        The decimal mark.
    time_label : {"start", "end"}, optional
        Whether a single time column labels the start or the end of an interval (detected:
        ``24:00``, or rows from 00:15 to 00:00, mean end; otherwise start).
    meter_point : str, optional
        The meter point of a file that names none.
    direction : {"import", "export"}, optional
        Direction of a value column whose name says none (default import).
    timezone : str, optional
        Time zone of local times (default :data:`~twin.core.vocabulary.DEFAULT_TIMEZONE`).
    """

    unit: str | None = None
    decimal: Literal["comma", "point"] | None = None
    time_label: Literal["start", "end"] | None = None
    meter_point: str | None = None
    direction: Literal["import", "export"] | None = None
    timezone: str | None = None


@dataclass(frozen=True)
class PointValue:
    """One interval's energy of one meter point in one direction.

    Attributes
    ----------
    meter_point : str
        Meter point (MeLo, MaLo) or meter id as the file names it.
    direction : {"import", "export"}
        Seen from the grid at the meter.
    start_s : int
        Interval start, seconds since 1970-01-01 UTC.
    energy_kwh : float
        Energy of the interval (NaN for an unusable value). [kWh]
    status : str
        ``true``, ``substitute``, ``proposed`` or ``unusable``.
    file, where : str
        The file and the place in it (``line 14: column Wert``), for messages.
    product : str
        OBIS code where the file gives one.
    """

    meter_point: str
    direction: str
    start_s: int
    energy_kwh: float
    status: str
    file: str
    where: str
    product: str = ""


def obis_direction(code: str) -> str | None:
    """``import`` (1.29, 1.8) or ``export`` (2.29, 2.8) of an OBIS code; None for others."""
    match = _OBIS.fullmatch(code.strip())
    if match is None:
        return None
    return {"1": "import", "2": "export"}.get(match.group(1)) if match.group(2) in ("29", "8") else None


def _fold(text: str) -> str:
    folded = text.strip().strip('"').lower()
    for umlaut, plain in (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("ß", "ss")):
        folded = folded.replace(umlaut, plain)
    return folded


def _decode(path: Path) -> str:
    try:
        if path.stat().st_size > MAX_CSV_BYTES:
            raise ConfigError(f"meter data file larger than {MAX_CSV_BYTES:,} bytes", file=str(path))
        raw = path.read_bytes()
    except OSError as err:
        raise ConfigError(f"cannot read the meter data file: {err.strerror or err}", file=str(path)) from err
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


@dataclass
class _Column:
    index: int
    name: str
    direction: str | None
    unit: str | None
    product: str = ""


@dataclass
class _Layout:
    """The table's header: where each role is, the value columns, and what the preamble said."""

    header_line: int
    separator: str
    roles: dict[str, int]
    values: list[_Column]
    names: list[str]
    meter_point: str | None
    product: str
    unit: str | None


def read_german_csv(path: str | Path, options: CsvOptions | None = None) -> list[PointValue]:
    """Every interval value of a German meter data CSV file.

    Raises
    ------
    ConfigError
        One line naming the file, the line and the column of the first problem.
    """
    options = options or CsvOptions()
    file = Path(path)
    name = str(file)
    lines = _decode(file).splitlines()
    layout = _layout(lines, name, options)
    rows = [
        (number, cells)
        for number, line in enumerate(lines[layout.header_line :], layout.header_line + 1)
        if (cells := [c.strip().strip('"') for c in line.split(layout.separator)]) and any(cells)
    ]
    rows = [(n, c) for n, c in rows if not _is_sum_row(c)]
    if not rows:
        raise ConfigError("no rows: the table has a header but no data", file=name, field=f"line {layout.header_line}")
    decimal = options.decimal or _decimal(rows, layout, name)
    label = options.time_label or _time_label(rows, layout)
    try:
        zone = ZoneInfo(options.timezone or DEFAULT_TIMEZONE)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"unknown time zone {options.timezone!r}", file=name, allowed=f"an IANA name such as {DEFAULT_TIMEZONE}"
        ) from None
    seen: dict[tuple[str, datetime], int] = {}
    out: list[PointValue] = []
    for number, cells in rows:
        if len(cells) < len(layout.names):
            cells = cells + [""] * (len(layout.names) - len(cells))
        point = _meter_point(cells, layout, options, name, number)
        row_product = cells[layout.roles["obis"]] if "obis" in layout.roles else ""
        start_s = _start_s(cells, layout, label, zone, seen, f"{point} {row_product}", name, number)
        status_text = cells[layout.roles["status"]] if "status" in layout.roles else ""
        status = _STATUS.get(_fold(status_text))
        if status is None:
            raise ConfigError(
                f"unknown status {status_text!r}",
                file=name,
                field=f"line {number}: column {layout.names[layout.roles['status']]}",
                allowed="W/wahr/220, E/Ersatzwert/67, V/Vorschlagswert/201, F/unbrauchbar/20",
            )
        row_unit = _fold(cells[layout.roles["unit"]]) if "unit" in layout.roles else None
        for column in layout.values:
            where = f"line {number}: column {column.name}"
            unit = column.unit or row_unit or layout.unit or (_fold(options.unit) if options.unit else None)
            if unit is None:
                raise ConfigError(
                    f"the unit of column {column.name!r} is not given (header, unit column or preamble)",
                    file=name,
                    field=where,
                    allowed="--unit kWh, Wh, kW or W",
                )
            if unit not in UNITS_KWH:
                raise ConfigError(f"unknown unit {unit!r}", file=name, field=where, allowed="kWh, Wh, MWh, kW, W, MW")
            product = column.product or row_product or layout.product
            direction = column.direction or obis_direction(product) or options.direction or "import"
            energy = _energy(cells[column.index], decimal, unit, status, name, where)
            out.append(PointValue(point, direction, start_s, energy, status, name, where, product))
    _check_quarter_hours(out, name)
    return out


def _check_quarter_hours(values: list[PointValue], file: str) -> None:
    """Refuse hourly or daily values: each series' starts must come 15 minutes apart somewhere."""
    series: dict[tuple[str, str], list[int]] = {}
    for value in values:
        series.setdefault((value.meter_point, value.direction), []).append(value.start_s)
    for (point, direction), starts in series.items():
        steps = np.diff(np.unique(np.asarray(starts, dtype=np.int64)))
        if steps.size and int(steps.min()) > STEP_S:
            first = next(v for v in values if (v.meter_point, v.direction) == (point, direction))
            raise ConfigError(
                f"the {direction} values of {point} are {int(steps.min()) // 60} minutes apart, not quarter-hours",
                file=file,
                field=first.where,
                allowed="15-minute values (a load profile)",
            )


def _layout(lines: list[str], file: str, options: CsvOptions) -> _Layout:
    """Find the header line and the columns; read the preamble's meter point, OBIS code and unit."""
    meter_point: str | None = None
    product, unit = "", None
    for index, line in enumerate(lines[:_MAX_PREAMBLE_LINES]):
        separator = max(";\t,", key=line.count) if any(s in line for s in ";\t,") else ";"
        cells = [c.strip().strip('"') for c in line.split(separator)]
        names = [_fold(c) for c in cells]
        roles = _roles(names)
        if "time" in roles or "date" in roles:
            values = _value_columns(cells, names, roles)
            if values:
                return _Layout(index + 1, separator, roles, values, cells, meter_point, product, unit)
        key = names[0].rstrip(":") if names else ""
        rest = [c for c in cells[1:] if c]
        if not rest and ":" in (cells[0] if cells else ""):
            key, _, tail = cells[0].partition(":")
            key, rest = _fold(key), [tail.strip()] if tail.strip() else []
        if not rest:
            continue
        if any(word in key for word in COLUMN_WORDS["meter_point"]):
            meter_point = rest[0]
        elif "obis" in key:
            product = rest[0]
        elif key in COLUMN_WORDS["unit"]:
            unit = _fold(rest[0])
    raise ConfigError(
        f"no table header found in the first {_MAX_PREAMBLE_LINES} lines (a date or time column and a value column)",
        file=file,
        allowed="a header such as Datum;Uhrzeit;Wert or Zeitstempel;Verbrauch [kWh] (or Bezug, Einspeisung)",
    )


def _roles(names: list[str]) -> dict[str, int]:
    roles: dict[str, int] = {}
    for index, name in enumerate(names):
        bare = re.sub(r"\s*[\[(].*?[\])]\s*", " ", name).strip()
        for role, words in COLUMN_WORDS.items():
            if role in roles:
                continue
            if bare in words or (role in _WORD_ROLES and _has(bare, words, whole=role != "meter_point")):
                roles[role] = index
                break
    return roles


def _has(name: str, words: tuple[str, ...], *, whole: bool) -> bool:
    end = "($|[^a-z])" if whole else ""
    return any(re.search(rf"(^|[^a-z]){re.escape(w)}{end}", name) for w in words)


def _value_columns(cells: list[str], names: list[str], roles: dict[str, int]) -> list[_Column]:
    taken = set(roles.values())
    columns = []
    for index, (cell, name) in enumerate(zip(cells, names, strict=True)):
        if index in taken or not name:
            continue
        unit_match = re.search(r"[\[(]\s*([a-z]+)\s*[\])]|\bin\s+([a-z]+)$", name)
        unit = next((u for u in (unit_match.groups() if unit_match else ()) if u), None)
        bare = re.sub(r"\s*[\[(].*?[\])]\s*", " ", name).strip()
        obis = _OBIS.search(bare)
        product = obis.group(0) if obis else ""
        direction = obis_direction(product) if product else None
        found = next(((word, d) for word, d in _VALUE_WORDS if word in bare), None)
        if found is None and bare in UNITS_KWH:
            found, unit = ("", None), bare
        if found is None and not product:
            continue
        columns.append(_Column(index, cell, direction or (found[1] if found else None), unit, product))
    return columns


def _is_sum_row(cells: list[str]) -> bool:
    """A closing line such as ``Summe;;1.234,5``."""
    first = _fold(cells[0]) if cells else ""
    return any(first.startswith(word) for word in _SUM_WORDS)


def _decimal(rows: list[tuple[int, list[str]]], layout: _Layout, file: str) -> Literal["comma", "point"]:
    """The decimal mark: a comma in any value, else a point unless every point may be a thousands dot.

    With ``;`` between fields (chosen because the comma is the decimal mark) such points are
    thousands dots; with a tab or ``,`` they are ambiguous.
    """
    cells = [cells[c.index] for _, cells in rows for c in layout.values if c.index < len(cells)]
    if any("," in cell for cell in cells):
        return "comma"
    dotted = [cell for cell in cells if "." in cell]
    if not dotted or any(not re.fullmatch(r"[+-]?[1-9]\d{0,2}(\.\d{3})+", cell) for cell in dotted):
        return "point"
    if layout.separator == ";":
        return "comma"
    raise ConfigError(
        f"the decimal mark is ambiguous ({dotted[0]!r} may be a thousands dot)",
        file=file,
        field=f"column {layout.values[0].name}",
        allowed="--decimal comma or --decimal point",
    )


def _time_label(rows: list[tuple[int, list[str]]], layout: _Layout) -> Literal["start", "end"]:
    """End when only an end column is given, a time reads 24:00, or whole days run from 00:15 to 00:00."""
    if "end" in layout.roles and "time" not in layout.roles:
        return "end"
    column = layout.roles.get("time", layout.roles.get("date"))
    if column is None:
        return "start"
    times = [cells[column] for _, cells in rows if column < len(cells)]
    if any("24:00" in text for text in times):
        return "end"
    first, last = (_TIME.search(text.split(" ")[-1] if " " in text else text) for text in (times[0], times[-1]))
    if first and last and len(times) > 1 and first.group(1, 2) in (("00", "15"), ("0", "15")):
        return "end" if last.group(1, 2) in (("00", "00"), ("0", "00")) else "start"
    return "start"


def _meter_point(cells: list[str], layout: _Layout, options: CsvOptions, file: str, line: int) -> str:
    point = cells[layout.roles["meter_point"]] if "meter_point" in layout.roles else None
    point = point or layout.meter_point or options.meter_point
    if not point:
        raise ConfigError(
            "the file names no meter point (a column Zählpunkt/MeLo/MaLo or a preamble line)",
            file=file,
            field=f"line {line}",
            allowed="--meter-point ID",
        )
    return point


def _start_s(
    cells: list[str],
    layout: _Layout,
    label: str,
    zone: ZoneInfo,
    seen: dict[tuple[str, datetime], int],
    series: str,
    file: str,
    line: int,
) -> int:
    """The interval's start (UTC seconds) from the row's date, time, offset and A/B marker."""
    roles = layout.roles
    if "time" in roles:
        column, use_end = roles["time"], label == "end"
    elif "end" in roles:
        column, use_end = roles["end"], True
    else:
        column, use_end = roles["date"], label == "end"
    time_text = cells[column]
    date_text = cells[roles["date"]] if "date" in roles and roles["date"] != column else ""
    where = f"line {line}: column {layout.names[column]}"
    text = f"{date_text} {time_text}".strip()
    date = _DATE.search(text)
    clock = _TIME.search(text[date.end() :] if date else text)
    if date is None or clock is None:
        raise ConfigError(f"not a date and time: {text[:40]!r}", file=file, field=where, allowed="31.12.2025 23:45")
    day, month, year = (date.group(1), date.group(2), date.group(3)) if date.group(1) else date.group(6, 5, 4)
    hour, minute, second = int(clock.group(1)), int(clock.group(2)), int(clock.group(3) or 0)
    try:
        naive = datetime(int(year) + (2000 if len(year) == 2 else 0), int(month), int(day))
        naive += timedelta(hours=hour, minutes=minute, seconds=second)
    except ValueError:
        raise ConfigError(f"not a date and time: {text[:40]!r}", file=file, field=where) from None
    if hour > 24 or minute > 59 or (hour == 24 and (minute or second)):
        raise ConfigError(f"not a time of day: {time_text[:20]!r}", file=file, field=where)
    offset = _offset(clock.group(5), cells, layout, file, line)
    marker = (clock.group(4) or clock.group(6) or (cells[roles["fold"]] if "fold" in roles else "")).upper()
    if offset is not None:
        stamp = naive.replace(tzinfo=UTC) - timedelta(seconds=offset)
    else:
        stamp = _local_to_utc(naive, zone, marker, seen, series, file, where)
    start = int(stamp.timestamp()) - (STEP_S if use_end else 0)
    if start % STEP_S:
        raise ConfigError(f"time {text[:40]!r} is not on a quarter-hour", file=file, field=where)
    return start


def _offset(written: str | None, cells: list[str], layout: _Layout, file: str, line: int) -> int | None:
    """UTC offset of the row in seconds (from the time or an offset column), None when local."""
    text = written or (cells[layout.roles["offset"]] if "offset" in layout.roles else "")
    folded = _fold(text)
    if not folded:
        return None
    if folded in _OFFSETS:
        return _OFFSETS[folded]
    folded = folded.removeprefix("utc").strip()
    match = re.fullmatch(r"([+-])(\d{1,2}):?(\d{2})?", folded)
    if match is None:
        column = layout.names[layout.roles["offset"]] if "offset" in layout.roles and not written else "time"
        raise ConfigError(
            f"not a UTC offset: {text!r}", file=file, field=f"line {line}: column {column}", allowed="+01:00, MEZ, MESZ"
        )
    seconds = int(match.group(2)) * 3600 + int(match.group(3) or 0) * 60
    return -seconds if match.group(1) == "-" else seconds


def _local_to_utc(
    naive: datetime,
    zone: ZoneInfo,
    marker: str,
    seen: dict[tuple[str, datetime], int],
    series: str,
    file: str,
    where: str,
) -> datetime:
    first, second = naive.replace(tzinfo=zone, fold=0), naive.replace(tzinfo=zone, fold=1)
    if first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != naive:
        raise ConfigError(
            f"local time {naive:%d.%m.%Y %H:%M} does not exist in {zone.key} (the clocks go forward)",
            file=file,
            field=where,
            allowed="a time that exists, or a UTC offset column",
        )
    if first.utcoffset() == second.utcoffset():
        return first.astimezone(UTC)
    if marker in ("A", "B"):
        return (first if marker == "A" else second).astimezone(UTC)
    count = seen.get((series, naive), 0)  # the repeated hour: the first one is summer time
    seen[(series, naive)] = count + 1
    return (first if count % 2 == 0 else second).astimezone(UTC)


def _energy(cell: str, decimal: str, unit: str, status: str, file: str, where: str) -> float:
    """The cell's energy in kWh (a power is a mean over the quarter-hour); NaN for an unusable or empty value."""
    if not cell or status == "unusable":
        if not cell and status != "unusable":
            raise ConfigError("value is empty", file=file, field=where, allowed="a number, or status F/unbrauchbar")
        return math.nan
    text = cell.replace(" ", "").replace("\u00a0", "")
    if decimal == "comma":
        text = text.replace(".", "") if _THOUSANDS_COMMA.fullmatch(text) else text
        if "." in text:
            raise ConfigError(f"not a number with a decimal comma: {cell[:40]!r}", file=file, field=where)
        text = text.replace(",", ".")
    elif _THOUSANDS_POINT.fullmatch(text):
        text = text.replace(",", "")
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"not a number: {cell[:40]!r}", file=file, field=where) from None
    if not math.isfinite(value) or value < 0:
        raise ConfigError(f"must be a finite number >= 0, got {cell[:40]}", file=file, field=where)
    factor, power = UNITS_KWH[unit]
    return value * factor * (STEP_S / 3600.0 if power else 1.0)
