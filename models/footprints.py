"""Building footprints from GeoJSON, as OpenStreetMap and the Saxon cadastre (ALKIS) export them.

:func:`read_footprints` turns each Polygon or MultiPolygon feature into a row of the building
list (:mod:`models.building_list`): its id, type, storeys, construction year and roof shape
from the feature's properties, its footprint area, centroid and ridge direction from the
geometry. :mod:`models.building_import` then estimates the rest from the same tables as a
list with empty cells.

Properties read (the first one present wins):

=====================  ==========================================  ====================================
row column             OpenStreetMap tag                           ALKIS (AX_Gebaeude, GeoJSON export)
=====================  ==========================================  ====================================
``id``                 ``@id``, ``id``, ``osm_id``                 ``gml_id``
``type``               ``building`` (house, detached, ...)         ``gebaeudefunktion`` (code)
``storeys``            ``building:levels``                         ``anzahlDerOberirdischenGeschosse``
``construction_year``  ``start_date``, ``building:year``           ``baujahr``
``roof_shape``         ``roof:shape``                              ``dachform`` (code)
``name``               ``name``                                    ``name``
=====================  ==========================================  ====================================

Coordinates are WGS84 longitude/latitude (RFC 7946), or ETRS89 / UTM zone 32 or 33
(EPSG:25832, EPSG:25833: Saxony's cadastre) when the file says so in its ``crs`` member or
when the numbers are metres. The footprint area is the polygon's planar area (outer ring
minus holes) in a local metric projection.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from twin.core.errors import ConfigError

__all__ = ["ALKIS_TYPES", "OSM_TYPES", "read_footprints", "utm_to_wgs84"]

#: Largest GeoJSON file read. [bytes]
MAX_GEOJSON_BYTES: Final[int] = 200_000_000
#: OpenStreetMap ``building`` values -> building type (others: office when tagged commercial).
OSM_TYPES: Final[dict[str, str]] = {
    "house": "SFH",
    "detached": "SFH",
    "bungalow": "SFH",
    "farm": "SFH",
    "semidetached_house": "TH",
    "terrace": "TH",
    "apartments": "MFH",
    "residential": "MFH",
    "dormitory": "AB",
    "school": "school",
    "kindergarten": "kindergarten",
    "office": "office",
    "public": "office",
    "civic": "office",
    "commercial": "business",
    "retail": "business",
    "industrial": "business",
}
#: ALKIS ``gebaeudefunktion`` codes (AdV GeoInfoDok) -> building type.
ALKIS_TYPES: Final[dict[str, str]] = {
    "1000": "SFH",
    "1010": "SFH",
    "1020": "AB",
    "1100": "MFH",
    "2000": "business",
    "2010": "business",
    "2020": "office",
    "3000": "office",
    "3020": "school",
    "3021": "school",
    "3065": "kindergarten",
}
#: ALKIS ``dachform`` codes -> roof shape.
ALKIS_ROOFS: Final[dict[str, str]] = {"1000": "flat", "2100": "skillion", "3100": "gabled", "3200": "hipped"}
OSM_ROOFS: Final[dict[str, str]] = {"flat": "flat", "gabled": "gabled", "hipped": "hipped", "skillion": "skillion"}
_EARTH_RADIUS_M: Final[float] = 6_371_008.8


def read_footprints(path: str | Path, *, default_type: str = "SFH") -> list[dict[str, str]]:
    """Rows of the building list, one per footprint.

    Parameters
    ----------
    path : str or pathlib.Path
        A GeoJSON FeatureCollection.
    default_type : str
        Building type of features whose properties name none.

    Returns
    -------
    list of dict
        Building-list rows (text cells); ``_line`` is the feature's index.

    Raises
    ------
    ConfigError
        For a file that is no FeatureCollection, a feature without a polygon, or an
        unknown coordinate reference system; naming the file and the feature.
    """
    file = Path(path)
    try:
        if file.stat().st_size > MAX_GEOJSON_BYTES:
            raise ConfigError(f"GeoJSON larger than {MAX_GEOJSON_BYTES:,} bytes", file=str(file))
        data = json.loads(file.read_text(encoding="utf-8-sig"))
    except OSError as err:
        raise ConfigError(f"cannot read: {err.strerror}", file=str(file)) from err
    except ValueError as err:
        raise ConfigError(f"not JSON: {err}", file=str(file)) from err
    if (
        not isinstance(data, dict)
        or data.get("type") != "FeatureCollection"
        or not isinstance(data.get("features"), list)
    ):
        raise ConfigError("not a GeoJSON FeatureCollection", file=str(file), field="type")
    zone = _utm_zone(data.get("crs"), str(file))
    rows = []
    seen: set[str] = set()
    for index, feature in enumerate(data["features"]):
        where = f"features.{index}"
        if not isinstance(feature, dict):
            raise ConfigError("a feature is not an object", file=str(file), field=where)
        props = feature.get("properties") or {}
        rings = _outer_and_holes(feature.get("geometry"), str(file), where)
        if zone is None and abs(rings[0][0][0]) > 180:
            zone = 33  # metres without a crs member: Saxony's cadastre is in UTM 33
        row = _row(props, rings, zone, default_type, index)
        if row["id"] in seen:
            row["id"] = f"{row['id']}-{index}"
        seen.add(row["id"])
        rows.append(row)
    if not rows:
        raise ConfigError("the GeoJSON has no building footprints", file=str(file), field="features")
    return rows


def utm_to_wgs84(easting_m: float, northing_m: float, zone: int) -> tuple[float, float]:
    """(latitude, longitude) in degrees of an ETRS89/UTM point of the northern hemisphere (GRS80).

    The series of Krueger as in Snyder, "Map Projections - A Working Manual" (USGS 1395, 1987),
    eqs. 8-18 ff.; better than a millimetre within a zone.
    """
    a, f = 6_378_137.0, 1 / 298.257222101
    k0, e2 = 0.9996, f * (2 - f)
    ep2 = e2 / (1 - e2)
    x, y = easting_m - 500_000.0, northing_m
    m = y / k0
    mu = m / (a * (1 - e2 / 4 - 3 * e2**2 / 64 - 5 * e2**3 / 256))
    e1 = (1 - math.sqrt(1 - e2)) / (1 + math.sqrt(1 - e2))
    phi1 = (
        mu
        + (3 * e1 / 2 - 27 * e1**3 / 32) * math.sin(2 * mu)
        + (21 * e1**2 / 16 - 55 * e1**4 / 32) * math.sin(4 * mu)
        + (151 * e1**3 / 96) * math.sin(6 * mu)
        + (1097 * e1**4 / 512) * math.sin(8 * mu)
    )
    sin1, cos1, tan1 = math.sin(phi1), math.cos(phi1), math.tan(phi1)
    c1, t1 = ep2 * cos1**2, tan1**2
    n1 = a / math.sqrt(1 - e2 * sin1**2)
    r1 = a * (1 - e2) / (1 - e2 * sin1**2) ** 1.5
    d = x / (n1 * k0)
    lat = phi1 - (n1 * tan1 / r1) * (
        d**2 / 2
        - (5 + 3 * t1 + 10 * c1 - 4 * c1**2 - 9 * ep2) * d**4 / 24
        + (61 + 90 * t1 + 298 * c1 + 45 * t1**2 - 252 * ep2 - 3 * c1**2) * d**6 / 720
    )
    lon = (
        d - (1 + 2 * t1 + c1) * d**3 / 6 + (5 - 2 * c1 + 28 * t1 - 3 * c1**2 + 8 * ep2 + 24 * t1**2) * d**5 / 120
    ) / cos1
    return math.degrees(lat), (zone * 6 - 183) + math.degrees(lon)


def _utm_zone(crs: Any, file: str) -> int | None:
    if crs is None:
        return None
    name = str((crs.get("properties") or {}).get("name", "")) if isinstance(crs, dict) else str(crs)
    for code, zone in (("25832", 32), ("25833", 33), ("32632", 32), ("32633", 33)):
        if name.endswith(code) or name.endswith(f"EPSG::{code}"):
            return zone
    if "4326" in name or "CRS84" in name:
        return None
    raise ConfigError(
        f"unknown coordinate reference system {name!r}",
        file=file,
        field="crs",
        allowed="WGS84 (EPSG:4326, CRS84), EPSG:25832, EPSG:25833",
    )


def _outer_and_holes(geometry: Any, file: str, where: str) -> list[list[tuple[float, float]]]:
    """The rings of the feature's (largest) polygon, outer first."""
    if not isinstance(geometry, dict) or geometry.get("type") not in ("Polygon", "MultiPolygon"):
        raise ConfigError("the geometry is not a Polygon or MultiPolygon", file=file, field=f"{where}.geometry")
    coordinates = geometry.get("coordinates")
    try:
        polygons: list[Any] = [coordinates] if geometry["type"] == "Polygon" else list(coordinates or [])
        candidates = [[[(float(p[0]), float(p[1])) for p in ring] for ring in polygon] for polygon in polygons]
    except (TypeError, ValueError, IndexError):
        raise ConfigError("malformed coordinates", file=file, field=f"{where}.geometry.coordinates") from None
    candidates = [c for c in candidates if c and len(c[0]) >= 4]
    if not candidates:
        raise ConfigError("a polygon needs a ring of at least 4 positions", file=file, field=f"{where}.geometry")
    return max(candidates, key=lambda rings: abs(_shoelace(rings[0])))


def _row(
    props: dict[str, Any], rings: list[list[tuple[float, float]]], zone: int | None, default_type: str, index: int
) -> dict[str, str]:
    if zone is not None:  # metric already; centroid back to WGS84
        metric = rings
        cx, cy = _centroid(rings[0])
        latitude, longitude = utm_to_wgs84(cx, cy, zone)
    else:
        longitude, latitude = _centroid(rings[0])
        scale = math.cos(math.radians(latitude))
        metric = [
            [
                (math.radians(x - longitude) * _EARTH_RADIUS_M * scale, math.radians(y - latitude) * _EARTH_RADIUS_M)
                for x, y in ring
            ]
            for ring in rings
        ]
    area = abs(_shoelace(metric[0])) - sum(abs(_shoelace(hole)) for hole in metric[1:])
    ident = _first(props, "@id", "id", "osm_id", "gml_id") or f"b{index + 1:04d}"
    kind = OSM_TYPES.get(str(props.get("building", "")).lower()) or ALKIS_TYPES.get(
        str(props.get("gebaeudefunktion", ""))
    )
    storeys = _first(props, "building:levels", "anzahlDerOberirdischenGeschosse")
    year = _first(props, "start_date", "building:year", "baujahr")
    roof = OSM_ROOFS.get(str(props.get("roof:shape", ""))) or ALKIS_ROOFS.get(str(props.get("dachform", "")))
    return {
        "_line": f"feature {index}",
        "id": "".join(c if c.isalnum() or c in "_.-" else "_" for c in ident.replace("/", "-"))[:64],
        "name": str(props.get("name") or ""),
        "type": kind or default_type,
        "storeys": storeys or "",
        "construction_year": year[:4] if year and year[:4].isdigit() else "",
        "roof_shape": roof or "",
        "footprint_m2": f"{area:.1f}",
        "ridge_azimuth_deg": f"{_longest_side_azimuth(metric[0]):.0f}",
        "latitude_deg": f"{latitude:.6f}",
        "longitude_deg": f"{longitude:.6f}",
    }


def _first(props: dict[str, Any], *names: str) -> str | None:
    for name in names:
        value = props.get(name)
        if value not in (None, ""):
            return str(value)
    return None


def _shoelace(ring: Sequence[tuple[float, float]]) -> float:
    return 0.5 * sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(ring, [*ring[1:], ring[0]], strict=True))


def _centroid(ring: Sequence[tuple[float, float]]) -> tuple[float, float]:
    x0, y0 = ring[0]  # relative to the first vertex: no loss of digits on UTM metres
    pairs = list(zip(ring, [*ring[1:], ring[0]], strict=True))
    cross = [(xa - x0) * (yb - y0) - (xb - x0) * (ya - y0) for (xa, ya), (xb, yb) in pairs]
    area = sum(cross) / 2
    if abs(area) < 1e-12:
        return sum(x for x, _ in ring) / len(ring), sum(y for _, y in ring) / len(ring)
    cx = sum((xa + xb - 2 * x0) * c for ((xa, _), (xb, _)), c in zip(pairs, cross, strict=True)) / (6 * area)
    cy = sum((ya + yb - 2 * y0) * c for ((_, ya), (_, yb)), c in zip(pairs, cross, strict=True)) / (6 * area)
    return x0 + cx, y0 + cy


def _longest_side_azimuth(ring: Sequence[tuple[float, float]]) -> float:
    """Direction of the ring's longest side, clockwise from north, in [0, 180) degrees."""
    sides = zip(ring, [*ring[1:], ring[0]], strict=True)
    (xa, ya), (xb, yb) = max(sides, key=lambda s: math.dist(s[0], s[1]))
    return math.degrees(math.atan2(xb - xa, yb - ya)) % 180.0
