"""MSCONS load-profile messages, as German metering point operators deliver 15-minute values.

MSCONS (UN/EDIFACT D.04B, in the EDI@Energy profile 2.4 used by German market
communication) carries, per metering location (``LOC+172``), line items (``LIN``) whose
product (``PIA+5``) is an OBIS code such as ``1-1:1.29.0`` (active energy import per period)
or ``1-1:2.29.0`` (export), and per interval a quantity (``QTY+qualifier:value:unit``) with
its start (``DTM+163``) and end (``DTM+164``). The quantity qualifier says what the value is:
220 a true value, 67 a substitute value, 201 a proposed value, 20 a value not to be used.

:func:`read_mscons` parses an interchange (several messages, several metering locations)
with its own small EDIFACT tokenizer: the service string advice ``UNA``, the release
character (``?+00`` in a time offset) and segment terminators with or without line breaks.
No EDIFACT library on PyPI reads the EDI@Energy profile directly, and the subset needed
here is small; every value keeps its segment number for messages.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from twin.core.errors import ConfigError

__all__ = ["MSCONS_STATUS", "IntervalValue", "read_mscons", "segments"]

#: QTY qualifier -> status of the value.
MSCONS_STATUS: Final[dict[str, str]] = {"220": "true", "67": "substitute", "201": "proposed", "20": "unusable"}
#: Units of QTY and their factor to kWh.
_UNITS: Final[dict[str, float]] = {"KWH": 1.0, "WH": 1e-3, "MWH": 1e3}
#: OBIS measured quantity (C.D of A-B:C.D.E) -> direction seen from the grid at the meter.
_OBIS_DIRECTIONS: Final[dict[str, str]] = {"1.29": "import", "1.8": "import", "2.29": "export", "2.8": "export"}
#: Largest interchange read. [bytes]
MAX_MSCONS_BYTES: Final[int] = 200_000_000


@dataclass(frozen=True)
class IntervalValue:
    """One interval's energy of one metering location.

    Attributes
    ----------
    location : str
        Metering location id (``LOC+172``), e.g. a MeLo or meter-point id.
    product : str
        The line item's product (an OBIS code such as ``1-1:1.29.0``, or the code as sent).
    direction : str or None
        ``import`` or ``export`` when the OBIS code says so, else None.
    start_utc, end_utc : datetime.datetime
        The interval, tz-aware UTC.
    energy_kwh : float
        Energy in the interval. [kW h]
    status : str
        ``true``, ``substitute``, ``proposed`` or ``unusable`` (:data:`MSCONS_STATUS`).
    segment : int
        Number of the QTY segment in the file (1-based), for messages.
    """

    location: str
    product: str
    direction: str | None
    start_utc: dt.datetime
    end_utc: dt.datetime
    energy_kwh: float
    status: str
    segment: int


def read_mscons(path: str | Path) -> list[IntervalValue]:
    """Every interval value of an MSCONS interchange.

    Raises
    ------
    ConfigError
        Naming the file and the segment (number and tag) for a malformed or unsupported part:
        no UNB/UNH, a message other than MSCONS, a QTY outside a line item, an unknown
        qualifier or unit, a missing or malformed interval time.
    """
    file = Path(path)
    try:
        if file.stat().st_size > MAX_MSCONS_BYTES:
            raise ConfigError(f"MSCONS interchange larger than {MAX_MSCONS_BYTES:,} bytes", file=str(file))
        text = file.read_bytes().decode("latin-1")
    except OSError as err:
        raise ConfigError(f"cannot read: {err.strerror}", file=str(file)) from err
    values: list[IntervalValue] = []
    location = product = None
    pending: tuple[int, float, str] | None = None
    start: dt.datetime | None = None
    seen_unh = False
    for number, tag, elements in segments(text, str(file)):
        where = f"segment {number} ({tag})"
        if tag == "UNH":
            kind = _component(elements, 1, 0)
            if kind != "MSCONS":
                raise ConfigError(f"{where}: message type {kind!r} is not MSCONS", file=str(file))
            seen_unh, location, product = True, None, None
        elif tag == "LOC" and _component(elements, 0, 0) == "172":
            _no_open_quantity(pending, where, str(file))
            location, product = _component(elements, 1, 0), None
        elif tag == "PIA" and _component(elements, 0, 0) == "5":
            product = ":".join(c for c in elements[1] if c) if len(elements) > 1 else ""
        elif tag == "QTY":
            _no_open_quantity(pending, where, str(file))
            if location is None or product is None:
                raise ConfigError(f"{where}: a quantity outside a metering location's line item", file=str(file))
            energy, status = _quantity(elements, where, str(file))
            pending, start = (number, energy, status), None
        elif tag == "DTM" and pending is not None:
            qualifier = _component(elements, 0, 0)
            if qualifier == "163":
                start = _time(elements, where, str(file))
            elif qualifier == "164":
                end = _time(elements, where, str(file))
                segment, energy, status = pending
                if start is None:
                    raise ConfigError(f"{where}: interval end without its start (DTM+163)", file=str(file))
                if end <= start:
                    raise ConfigError(f"{where}: interval ends at or before its start", file=str(file))
                assert location is not None and product is not None
                values.append(
                    IntervalValue(location, product, _direction(product), start, end, energy, status, segment)
                )
                pending, start = None, None
        elif tag in ("LIN", "LOC", "UNT", "UNS", "NAD"):
            _no_open_quantity(pending, where, str(file))
    if not seen_unh:
        raise ConfigError("no MSCONS message (UNH) in the file", file=str(file))
    return values


def segments(text: str, file: str) -> Iterator[tuple[int, str, list[list[str]]]]:
    """Segments of an EDIFACT interchange: (number, tag, elements as lists of components)."""
    component, element, release, terminator = ":", "+", "?", "'"
    body = text.lstrip("\ufeff")
    if body.startswith("UNA"):
        if len(body) < 9:
            raise ConfigError("truncated service string advice (UNA)", file=file)
        advice = body[3:9]  # component, element, decimal mark, release, reserved, segment terminator
        component, element, release, terminator = advice[0], advice[1], advice[3], advice[5]
        body = body[9:]
    number = 0
    segment: list[list[str]] = [[""]]
    escaped = False
    for char in body:
        if escaped:
            segment[-1][-1] += char
            escaped = False
        elif char == release:
            escaped = True
        elif char == terminator:
            number += 1
            tag = segment[0][0].strip()
            if not tag.isalnum() or len(tag) != 3:
                raise ConfigError(f"segment {number}: malformed tag {tag[:10]!r}", file=file)
            yield number, tag, segment[1:]
            segment = [[""]]
        elif char == element:
            segment.append([""])
        elif char == component:
            segment[-1].append("")
        elif char in "\r\n" and segment == [[""]]:
            continue
        else:
            segment[-1][-1] += char
    if any(part.strip() for parts in segment for part in parts):
        raise ConfigError(f"segment {number + 1}: the file ends inside a segment (torn interchange?)", file=file)


def _component(elements: list[list[str]], element: int, component: int) -> str:
    try:
        return elements[element][component]
    except IndexError:
        return ""


def _quantity(elements: list[list[str]], where: str, file: str) -> tuple[float, str]:
    qualifier, raw, unit = (_component(elements, 0, i) for i in range(3))
    if qualifier not in MSCONS_STATUS:
        raise ConfigError(
            f"{where}: unknown quantity qualifier {qualifier!r}", file=file, allowed=", ".join(MSCONS_STATUS)
        )
    factor = _UNITS.get(unit.upper() or "KWH")
    if factor is None:
        raise ConfigError(f"{where}: unknown unit {unit!r}", file=file, allowed=", ".join(_UNITS))
    try:
        value = float(raw.replace(",", "."))
    except ValueError:
        raise ConfigError(f"{where}: quantity {raw!r} is not a number", file=file) from None
    return value * factor, MSCONS_STATUS[qualifier]


def _time(elements: list[list[str]], where: str, file: str) -> dt.datetime:
    """A DTM value in format 303 (CCYYMMDDHHMM with the offset, e.g. ``202503301200+00``) or 203."""
    value, form = _component(elements, 0, 1), _component(elements, 0, 2)
    try:
        if form == "303":
            local = _stamp(value[:12])
            offset = value[12:]
            hours = int(offset[:3]) if offset else 0
            return local - dt.timedelta(hours=hours)
        if form == "203":
            return _stamp(value)
    except ValueError:
        raise ConfigError(f"{where}: malformed time {value!r} (format {form})", file=file) from None
    raise ConfigError(f"{where}: time format {form!r} not supported", file=file, allowed="303, 203")


def _stamp(text: str) -> dt.datetime:
    """CCYYMMDDHHMM as a UTC datetime (ValueError when malformed; faster than strptime)."""
    if len(text) != 12 or not text.isdigit():
        raise ValueError(text)
    return dt.datetime(int(text[:4]), int(text[4:6]), int(text[6:8]), int(text[8:10]), int(text[10:12]), tzinfo=dt.UTC)


def _direction(product: str) -> str | None:
    measured = product.split(":", 1)[-1].rsplit(".", 1)[0] if ":" in product else ""
    return _OBIS_DIRECTIONS.get(measured)


def _no_open_quantity(pending: tuple[int, float, str] | None, where: str, file: str) -> None:
    if pending is not None:
        raise ConfigError(
            f"{where}: the previous quantity (segment {pending[0]}) has no interval end (DTM+164)", file=file
        )
