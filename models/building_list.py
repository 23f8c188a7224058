"""A district's buildings as a table: one row per building, as a municipality keeps its list.

The building list is the district file's ``buildings`` as CSV (comma or semicolon, decimal
point or comma) or XLSX, one row per building, one column per field (:data:`COLUMNS`). Lists
inside a building are written compactly in one cell, items separated by ``;``:

==============  =====================================  ==================================
column          one item                               example
==============  =====================================  ==================================
``households``  ``COUNTxPERSONS``                      ``2x3;1x1`` (two of 3, one of 1)
``roofs``       ``AREA/TILT/AZIMUTH[/USABLE]``         ``40/35/180;40/35/0/0.5``
``pv``          ``KWP@ROOF[/YEAR]``                    ``8.5@0/2021``
``batteries``   ``CAPACITY_KWH/P_RATED_KW``            ``10/5``
``evs``         ``CAPACITY_KWH/KM_PER_A[/KWH_PER_KM]`` ``60/12000/0.18``
``chargers``    ``P_RATED_KW``                         ``11;22``
==============  =====================================  ==================================

Empty cells are missing: :mod:`models.building_import` estimates them (and says which).
:func:`write_building_list` writes a district's buildings so that reading them back gives
the same buildings; :func:`write_template` writes an annotated empty list.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from models.district import Building
from twin.core.errors import ConfigError

__all__ = [
    "COLUMNS",
    "Column",
    "read_building_list",
    "row_of_building",
    "write_building_list",
    "write_template",
]

#: Largest building list read. [bytes]
MAX_LIST_BYTES: Final[int] = 50_000_000


@dataclass(frozen=True)
class Column:
    """A column of the building list: its name, what it holds, and whether it may be left empty."""

    name: str
    description: str
    required: bool = False


COLUMNS: Final[tuple[Column, ...]] = (
    Column("id", "unique id (letters, digits, _ . -)", required=True),
    Column("name", "label, e.g. Kulturhaus"),
    Column("type", "SFH, TH, MFH, AB, school, kindergarten, business, office", required=True),
    Column("construction_year", "year of construction; empty: the list's median"),
    Column("retrofit", "existing, usual_refurbishment, advanced_refurbishment; empty: existing"),
    Column("floor_area_m2", "TABULA reference floor area [m2]; empty: from footprint x storeys or the type"),
    Column("footprint_m2", "ground area of the building [m2] (used only to estimate what is empty)"),
    Column("storeys", "storeys above ground (used only to estimate what is empty)"),
    Column("roof_shape", "flat, gabled, hipped, skillion (used only to estimate the roofs)"),
    Column("ridge_azimuth_deg", "direction of the ridge, clockwise from north [deg] (estimates the roofs)"),
    Column("bus", "grid bus; empty: the bus nearest to latitude/longitude"),
    Column("latitude_deg", "WGS84 latitude of the building [deg]"),
    Column("longitude_deg", "WGS84 longitude of the building [deg]"),
    Column("households", "COUNTxPERSONS;... ; empty for a residential building: estimated"),
    Column("roofs", "AREA_M2/TILT_DEG/AZIMUTH_DEG[/USABLE_FRAC];... ; empty: from footprint and roof shape"),
    Column("heating", "gas_boiler, heat_pump, oil_boiler, wood_boiler, other; empty: gas_boiler"),
    Column("heating_p_th_rated_kw", "rated heat output [kW]"),
    Column("pv", "KWP@ROOF_INDEX[/YEAR];..."),
    Column("batteries", "CAPACITY_KWH/P_RATED_KW;..."),
    Column("evs", "CAPACITY_KWH/KM_PER_A[/KWH_PER_KM];..."),
    Column("chargers", "P_RATED_KW;..."),
    Column("electricity_kwh_per_a", "measured annual electricity [kWh]"),
    Column("heat_kwh_per_a", "measured annual heat demand [kWh]"),
)
_NAMES: Final[frozenset[str]] = frozenset(column.name for column in COLUMNS)


def row_of_building(building: Building) -> dict[str, str]:
    """A building as a row of the list (every field the district file holds, nothing estimated)."""
    b = building
    return {
        "id": b.id,
        "name": b.name or "",
        "type": b.type,
        "construction_year": str(b.construction_year),
        "retrofit": b.retrofit,
        "floor_area_m2": _number(b.floor_area_m2),
        "bus": b.bus,
        "households": ";".join(f"{g.count}x{g.persons}" for g in b.households),
        "roofs": ";".join(
            "/".join(_number(v) for v in (r.area_m2, r.tilt_deg, r.azimuth_deg, r.usable_frac)) for r in b.roofs
        ),
        "heating": b.heating.system,
        "heating_p_th_rated_kw": _number(b.heating.p_th_rated_kw),
        "pv": ";".join(f"{_number(s.p_peak_kw)}@{s.roof}" + (f"/{s.year}" if s.year else "") for s in b.pv),
        "batteries": ";".join(f"{_number(x.capacity_kwh)}/{_number(x.p_rated_kw)}" for x in b.batteries),
        "evs": ";".join(
            "/".join(_number(v) for v in (e.capacity_kwh, e.distance_km_per_a, e.consumption_kwh_per_km)) for e in b.evs
        ),
        "chargers": ";".join(_number(c.p_rated_kw) for c in b.chargers),
        "electricity_kwh_per_a": _number(b.electricity_kwh_per_a),
        "heat_kwh_per_a": _number(b.heat_kwh_per_a),
    }


def write_building_list(buildings: Sequence[Building], path: str | Path) -> Path:
    """Write buildings as a list: ``.xlsx`` as a workbook, anything else as CSV (comma, UTF-8).

    Returns
    -------
    pathlib.Path
        The file written.
    """
    rows = [row_of_building(b) for b in buildings]
    return _write(Path(path), rows, notes=False)


def write_template(path: str | Path) -> Path:
    """Write an empty building list whose second row (CSV: comment lines) explains each column."""
    example = {
        "id": "h001",
        "type": "SFH",
        "construction_year": "1965",
        "footprint_m2": "110",
        "storeys": "2",
        "roof_shape": "gabled",
        "latitude_deg": "51.3241",
        "longitude_deg": "12.5668",
        "households": "1x3",
        "heating": "gas_boiler",
        "pv": "",
    }
    return _write(Path(path), [example], notes=True)


def read_building_list(path: str | Path) -> list[dict[str, str]]:
    """Read a building list (CSV in the dialects portals export, or XLSX) as rows of text cells.

    Parameters
    ----------
    path : str or pathlib.Path
        ``.xlsx`` (first sheet) or CSV: comma or semicolon separated, UTF-8 with or without
        BOM (or Windows-1252), lines starting with ``#`` ignored, decimal commas accepted in
        number cells.

    Returns
    -------
    list of dict
        One dict per row, keyed by column name (unknown columns are refused); each row also
        carries ``_line`` (its line or row number in the file) for messages.

    Raises
    ------
    ConfigError
        Naming the file, and the line and column where it applies.
    """
    file = Path(path)
    try:
        size = file.stat().st_size
    except OSError as err:
        raise ConfigError(f"cannot read the building list: {err.strerror}", file=str(file)) from err
    if size > MAX_LIST_BYTES:
        raise ConfigError(f"building list of {size:,} bytes is larger than {MAX_LIST_BYTES:,}", file=str(file))
    table = _read_xlsx(file) if file.suffix.lower() == ".xlsx" else _read_csv(file)
    if not table:
        raise ConfigError("the building list has no header row", file=str(file))
    (header_line, header), body = table[0], table[1:]
    names = [cell.strip() for cell in header]
    unknown = [n for n in names if n and n not in _NAMES]
    if unknown:
        raise ConfigError(
            f"line {header_line}: unknown column {unknown[0]!r}", file=str(file), allowed=", ".join(sorted(_NAMES))
        )
    missing = [c.name for c in COLUMNS if c.required and c.name not in names]
    if missing:
        raise ConfigError(f"line {header_line}: column {missing[0]!r} is missing", file=str(file))
    rows = []
    for line, cells in body:
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) > len(names):
            raise ConfigError(f"line {line}: {len(cells)} cells, the header has {len(names)}", file=str(file))
        row = {name: cell.strip() for name, cell in zip(names, cells, strict=False) if name}
        row["_line"] = str(line)
        rows.append(row)
    if not rows:
        raise ConfigError("the building list has no buildings", file=str(file))
    return rows


# --- cells -----------------------------------------------------------------------------------


def number_cell(text: str, *, field: str, file: str, line: str) -> float | None:
    """A number cell (decimal point or comma; empty: None)."""
    if not text:
        return None
    try:
        value = float(text.replace(",", ".")) if text.count(",") == 1 and "." not in text else float(text)
    except ValueError:
        raise ConfigError(f"line {line}: {text!r} is not a number", file=file, field=field) from None
    if not math.isfinite(value):
        raise ConfigError(f"line {line}: {text!r} is not a finite number", file=file, field=field)
    return value


def list_cell(
    text: str,
    parse: Callable[[list[float]], dict[str, Any]],
    *,
    sizes: tuple[int, ...],
    sep: str,
    field: str,
    file: str,
    line: str,
    at: bool = False,
) -> list[dict[str, Any]]:
    """Items of a compact list cell (``;`` between items, ``sep`` between an item's numbers).

    ``at`` accepts ``@`` for the first separator as well (``KWP@ROOF/YEAR`` in the ``pv`` column);
    other columns refuse it.
    """
    items = []
    for item in filter(None, (part.strip() for part in text.split(";"))):
        parts = [p.strip() for p in (item.replace("@", sep, 1) if at else item).split(sep)]
        if len(parts) not in sizes:
            raise ConfigError(
                f"line {line}: item {item!r} has {len(parts)} numbers, expected {' or '.join(map(str, sizes))}",
                file=file,
                field=field,
                allowed=_FORMATS.get(field, ""),
            )
        values = [number_cell(p, field=field, file=file, line=line) for p in parts]
        if any(v is None for v in values):
            raise ConfigError(f"line {line}: item {item!r} has an empty number", file=file, field=field)
        items.append(parse([float(v) for v in values if v is not None]))
    return items


_FORMATS: Final[dict[str, str]] = {
    "households": "COUNTxPERSONS;...",
    "roofs": "AREA/TILT/AZIMUTH[/USABLE];...",
    "pv": "KWP@ROOF[/YEAR];...",
    "batteries": "CAPACITY_KWH/P_RATED_KW;...",
    "evs": "CAPACITY_KWH/KM_PER_A[/KWH_PER_KM];...",
    "chargers": "P_RATED_KW;...",
}


def _number(value: float | None) -> str:
    """Shortest text that reads back as the same float."""
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else repr(float(value))


def _write(path: Path, rows: list[dict[str, str]], *, notes: bool) -> Path:
    names = [column.name for column in COLUMNS]
    if path.suffix.lower() == ".xlsx":
        from openpyxl import Workbook

        book = Workbook()
        sheet = book.active
        assert sheet is not None
        sheet.title = "buildings"
        sheet.append(names)
        for row in rows:
            sheet.append([row.get(name, "") for name in names])
        if notes:
            columns = book.create_sheet("columns")
            columns.append(["column", "required", "what it holds"])
            for column in COLUMNS:
                columns.append([column.name, "yes" if column.required else "", column.description])
        book.save(path)
        return path
    buffer = io.StringIO()
    if notes:
        for column in COLUMNS:
            buffer.write(f"# {column.name}{' (required)' if column.required else ''}: {column.description}\n")
    writer = csv.DictWriter(buffer, fieldnames=names, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


def _read_csv(file: Path) -> list[tuple[int, list[str]]]:
    raw = file.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("cp1252", errors="replace")
    lines = [(number, line) for number, line in enumerate(text.splitlines(), start=1) if not line.startswith("#")]
    content = [line for _, line in lines if line.strip()]
    if not content:
        return []
    delimiter = ";" if content[0].count(";") > content[0].count(",") else ","
    numbers = [number for number, line in lines if line.strip()]
    csv.field_size_limit(1_000_000)
    try:
        parsed = list(csv.reader(content, delimiter=delimiter))
    except csv.Error as err:
        raise ConfigError(f"malformed CSV: {err}", file=str(file)) from err
    return list(zip(numbers, parsed, strict=True))


def _read_xlsx(file: Path) -> list[tuple[int, list[str]]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(file, read_only=True, data_only=True)
    except Exception as err:  # openpyxl raises many types for a damaged workbook
        raise ConfigError(f"not a readable XLSX workbook: {type(err).__name__}: {err}", file=str(file)) from err
    sheet = book.worksheets[0]
    table: list[tuple[int, list[str]]] = []
    for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
        cells = ["" if v is None else _number(v) if isinstance(v, float) else str(v) for v in values]
        while cells and not cells[-1]:
            cells.pop()
        if cells or table:
            table.append((number, cells))
    book.close()
    return table
