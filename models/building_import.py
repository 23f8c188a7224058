"""Buildings from a municipality's list or footprints: what is given, what is estimated, and where it connects.

:func:`buildings_from_rows` turns rows of :func:`models.building_list.read_building_list` (or of
:func:`models.footprints.read_footprints`) into validated :class:`~models.district.Building`
records. Every field a row leaves empty is estimated and named in the result's ``defaulted``:

- ``construction_year``: the median of the list's given years (1970 without any);
- ``retrofit``: ``existing`` (the TABULA state of an unrefurbished building);
- ``floor_area_m2``: the TABULA reference floor area is the energy reference area
  A_N = 0.32 m^-1 x V_e (IWU, "Deutsche Wohngebaeudetypologie", 2015, after EnEV/GEG), with the
  heated volume V_e = footprint x storeys x 3.0 m: 0.96 x footprint x storeys. Without a
  footprint: the type's value of the built-in district (SFH 160 m2, TH 120 m2, MFH 75 m2 and
  AB 62 m2 per flat, school 2,400, kindergarten 650, office 1,200, business 300 m2);
- ``households``: one household in a house, one per 75 m2 (MFH) or 62 m2 (AB) in apartment
  buildings; 3 persons per house household, 2 per flat (the built-in district's means, 2.6 and
  1.8, rounded; Zensus 2022 Saxony);
- ``roofs``: from the footprint and roof shape (default: flat on AB, schools and kindergartens,
  gabled elsewhere), as the built-in district assumes them: flat roofs 2 deg with 70 % usable,
  gabled and hipped roofs two faces at 35 deg across the ridge (its direction from the
  footprint's longest side, else east-west) with 60 % usable, a skillion one face at 15 deg;
- ``heating``: ``gas_boiler`` (most of the quarter's buildings);
- ``bus``: the grid bus nearest to the building's location.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from models.building_list import list_cell, number_cell
from models.district import RESIDENTIAL_TYPES, Building
from twin.core.config_loader import validate_config
from twin.core.errors import ConfigError

__all__ = ["ImportedBuildings", "buildings_from_rows", "nearest_buses"]

FLOOR_AREA_PER_FOOTPRINT_STOREY: Final[float] = 0.32 * 3.0
TYPICAL_FLOOR_AREA_M2: Final[dict[str, float]] = {
    "SFH": 160.0,
    "TH": 120.0,
    "school": 2400.0,
    "kindergarten": 650.0,
    "office": 1200.0,
    "business": 300.0,
}
FLOOR_AREA_PER_FLAT_M2: Final[dict[str, float]] = {"MFH": 75.0, "AB": 62.0}
TYPICAL_FLATS: Final[dict[str, int]] = {"MFH": 6, "AB": 30}
TYPICAL_STOREYS: Final[dict[str, int]] = {"SFH": 2, "TH": 2, "MFH": 3, "AB": 5}
PERSONS_PER_HOUSEHOLD: Final[dict[str, int]] = {"house": 3, "flat": 2}
FLAT_ROOF_TYPES: Final[frozenset[str]] = frozenset({"AB", "school", "kindergarten"})
DEFAULT_YEAR: Final[int] = 1970


@dataclass(frozen=True)
class ImportedBuildings:
    """Buildings read from a list, and per building the fields that were estimated."""

    buildings: tuple[Building, ...]
    defaulted: Mapping[str, tuple[str, ...]]


def buildings_from_rows(
    rows: Sequence[Mapping[str, str]], *, file: str, buses: Mapping[str, tuple[float, float]] | None = None
) -> ImportedBuildings:
    """Validated buildings from rows of text cells, missing fields estimated.

    Parameters
    ----------
    rows : sequence of mapping
        Column name -> cell text (empty: missing), with ``_line`` for messages.
    file : str
        The list's file, for messages.
    buses : mapping of str to (latitude, longitude), optional
        Grid buses with their location, for rows without a bus.

    Returns
    -------
    ImportedBuildings

    Raises
    ------
    ConfigError
        One line naming the file, the line and the column.
    """
    years = [int(y) for row in rows if (y := _num(row, "construction_year", file)) is not None]
    median_year = int(statistics.median(years)) if years else DEFAULT_YEAR
    buildings: list[Building] = []
    defaulted: dict[str, tuple[str, ...]] = {}
    for row in rows:
        data, missing = _building_data(row, file, median_year, buses)
        line = row.get("_line", "?")
        try:
            building = validate_config(data, Building, file=file, what="building list")
        except ConfigError as err:
            raise ConfigError(f"line {line}: {err.message}", file=file, field=err.field, allowed=err.allowed) from None
        buildings.append(building)
        if missing:
            defaulted[building.id] = tuple(missing)
    return ImportedBuildings(tuple(buildings), defaulted)


def nearest_buses(net: Any) -> dict[str, tuple[float, float]]:
    """Low-voltage buses of a net that have coordinates: name -> (latitude, longitude)."""
    import json

    out: dict[str, tuple[float, float]] = {}
    if "geo" not in net.bus:
        return out
    for name, vn_kv, geo in zip(net.bus["name"].astype(str), net.bus["vn_kv"], net.bus["geo"], strict=True):
        if vn_kv > 1.0 or not isinstance(geo, str):
            continue
        try:
            coordinates = json.loads(geo).get("coordinates")
        except (ValueError, AttributeError):
            continue
        if isinstance(coordinates, list) and len(coordinates) >= 2:
            out[name] = (float(coordinates[1]), float(coordinates[0]))
    return out


# --- one row -----------------------------------------------------------------------------------


def _building_data(
    row: Mapping[str, str], file: str, median_year: int, buses: Mapping[str, tuple[float, float]] | None
) -> tuple[dict[str, Any], list[str]]:
    line = row.get("_line", "?")
    kind = row.get("type", "")
    missing: list[str] = []

    def given(name: str, estimate: Any) -> Any:
        if row.get(name, ""):
            return row[name]
        missing.append(name)
        return estimate

    footprint = _num(row, "footprint_m2", file)
    storeys = _num(row, "storeys", file) or TYPICAL_STOREYS.get(kind, 2)
    floor = _num(row, "floor_area_m2", file)
    if floor is None:
        missing.append("floor_area_m2")
        floor = _estimated_floor_area(kind, footprint, storeys)
    if footprint is None:
        footprint = floor / FLOOR_AREA_PER_FOOTPRINT_STOREY / storeys
    data: dict[str, Any] = {
        "id": row.get("id", ""),
        "name": row.get("name") or None,
        "type": kind,
        "construction_year": given("construction_year", median_year),
        "retrofit": given("retrofit", "existing"),
        "floor_area_m2": floor,
        "bus": row.get("bus") or _bus(row, file, buses, missing),
        "heating": {"system": given("heating", "gas_boiler")},
    }
    rated = _num(row, "heating_p_th_rated_kw", file)
    if rated is not None:
        data["heating"]["p_th_rated_kw"] = rated
    data["households"] = _cells(row, "households", file, line) or _estimated_households(kind, floor, missing)
    data["roofs"] = _cells(row, "roofs", file, line) or _estimated_roofs(row, kind, footprint, file, missing)
    for name in ("pv", "batteries", "evs", "chargers"):
        data[name] = _cells(row, name, file, line)
    for name in ("electricity_kwh_per_a", "heat_kwh_per_a"):
        value = _num(row, name, file)
        if value is not None:
            data[name] = value
    if data["construction_year"] is not None:
        data["construction_year"] = int(float(data["construction_year"]))
    return data, missing


def _num(row: Mapping[str, str], name: str, file: str) -> float | None:
    return number_cell(row.get(name, ""), field=name, file=file, line=row.get("_line", "?"))


def _cells(row: Mapping[str, str], name: str, file: str, line: str) -> list[dict[str, Any]]:
    text = row.get(name, "")
    if not text:
        return []
    options: dict[str, tuple[Any, tuple[int, ...], str]] = {
        "households": (lambda v: {"count": int(v[0]), "persons": int(v[1])}, (2,), "x"),
        "roofs": (
            lambda v: (
                {"area_m2": v[0], "tilt_deg": v[1], "azimuth_deg": v[2]} | ({"usable_frac": v[3]} if len(v) > 3 else {})
            ),
            (3, 4),
            "/",
        ),
        "pv": (
            lambda v: {"p_peak_kw": v[0], "roof": int(v[1])} | ({"year": int(v[2])} if len(v) > 2 else {}),
            (2, 3),
            "/",
        ),
        "batteries": (lambda v: {"capacity_kwh": v[0], "p_rated_kw": v[1]}, (2,), "/"),
        "evs": (
            lambda v: (
                {"capacity_kwh": v[0], "distance_km_per_a": v[1]}
                | ({"consumption_kwh_per_km": v[2]} if len(v) > 2 else {})
            ),
            (2, 3),
            "/",
        ),
        "chargers": (lambda v: {"p_rated_kw": v[0]}, (1,), "/"),
    }
    parse, sizes, sep = options[name]
    return list_cell(text, parse, sizes=sizes, sep=sep, field=name, file=file, line=line, at=name == "pv")


def _estimated_floor_area(kind: str, footprint: float | None, storeys: float) -> float:
    if footprint is not None:
        return round(footprint * storeys * FLOOR_AREA_PER_FOOTPRINT_STOREY, 1)
    if kind in FLOOR_AREA_PER_FLAT_M2:
        return FLOOR_AREA_PER_FLAT_M2[kind] * TYPICAL_FLATS[kind]
    return TYPICAL_FLOOR_AREA_M2.get(kind, 150.0)


def _estimated_households(kind: str, floor: float, missing: list[str]) -> list[dict[str, int]]:
    if kind not in RESIDENTIAL_TYPES:
        return []
    missing.append("households")
    if kind in FLOOR_AREA_PER_FLAT_M2:
        flats = max(2, round(floor / FLOOR_AREA_PER_FLAT_M2.get(kind, 75.0)))
        return [{"count": flats, "persons": PERSONS_PER_HOUSEHOLD["flat"]}]
    return [{"count": 1, "persons": PERSONS_PER_HOUSEHOLD["house"]}]


def _estimated_roofs(
    row: Mapping[str, str], kind: str, footprint: float, file: str, missing: list[str]
) -> list[dict[str, float]]:
    missing.append("roofs")
    shape = row.get("roof_shape") or ("flat" if kind in FLAT_ROOF_TYPES else "gabled")
    ridge = _num(row, "ridge_azimuth_deg", file)
    ridge = 90.0 if ridge is None else ridge % 180.0
    area = round(footprint, 1)
    if shape == "flat":
        return [{"area_m2": area, "tilt_deg": 2.0, "azimuth_deg": 180.0, "usable_frac": 0.7}]
    if shape == "skillion":
        face = round(area / math.cos(math.radians(15.0)), 1)
        return [{"area_m2": face, "tilt_deg": 15.0, "azimuth_deg": (ridge + 90.0) % 360.0, "usable_frac": 0.6}]
    if shape not in ("gabled", "hipped"):
        raise ConfigError(
            f"line {row.get('_line', '?')}: unknown roof shape {shape!r}",
            file=file,
            field="roof_shape",
            allowed="flat, gabled, hipped, skillion",
        )
    face = round(area / 2.0 / math.cos(math.radians(35.0)), 1)
    return [
        {"area_m2": face, "tilt_deg": 35.0, "azimuth_deg": (ridge + 90.0) % 360.0, "usable_frac": 0.6},
        {"area_m2": face, "tilt_deg": 35.0, "azimuth_deg": (ridge + 270.0) % 360.0, "usable_frac": 0.6},
    ]


def _bus(row: Mapping[str, str], file: str, buses: Mapping[str, tuple[float, float]] | None, missing: list[str]) -> str:
    latitude, longitude = _num(row, "latitude_deg", file), _num(row, "longitude_deg", file)
    line = row.get("_line", "?")
    if latitude is None or longitude is None:
        raise ConfigError(
            f"line {line}: bus is empty and the building has no location",
            file=file,
            field="bus",
            allowed="a bus name, or latitude_deg and longitude_deg",
        )
    if not buses:
        raise ConfigError(f"line {line}: bus is empty and the grid's buses have no coordinates", file=file, field="bus")
    missing.append("bus")
    scale = math.cos(math.radians(latitude))
    return min(buses, key=lambda n: (buses[n][0] - latitude) ** 2 + ((buses[n][1] - longitude) * scale) ** 2)
