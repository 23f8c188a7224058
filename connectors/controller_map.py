"""The controller register map: the twin's own Modbus registers for building controllers, as data.

``connectors/maps/controller/controller.yaml`` lays out a *district block* (from address 0; address 0 always
holds the map version) and one *building block* per building (building ``n``, 1-based in the
district's building order, starts at ``building.base + (n - 1) * building.stride``). Every point
gives its offset in its block, data type, unit, whether controllers may write it (and the range
they may write) and its meaning. :func:`load_controller_map` validates the file (unknown keys are
rejected; errors name the file and field); :func:`map_rows` and :func:`format_map` turn it into
the table that ``twin registers`` prints and the README shows.
"""

from __future__ import annotations

import csv
import functools
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from connectors.maps import DATA_TYPE_SIZES, MAPS_DIR, Point
from twin.core.config_loader import load_config
from twin.core.errors import ConfigError

__all__ = [
    "CONTROLLER_MAP_FILE",
    "MAP_FORMATS",
    "VERSION_ADDRESS",
    "ControllerMap",
    "ControllerPoint",
    "MapFormat",
    "format_map",
    "load_controller_map",
    "map_rows",
]

#: The built-in controller map.
CONTROLLER_MAP_FILE: Final[Path] = MAPS_DIR / "controller" / "controller.yaml"
#: Wire address of the map version (holding register, uint16), the same in every version.
VERSION_ADDRESS: Final[int] = 0
MapFormat = Literal["table", "markdown", "csv", "json"]
#: Output formats of :func:`format_map`.
MAP_FORMATS: Final[tuple[str, ...]] = ("table", "markdown", "csv", "json")

_ROW_FIELDS: Final[tuple[str, ...]] = (
    "address",
    "name",
    "data_type",
    "registers",
    "word_order",
    "unit",
    "scale",
    "access",
    "meaning",
)


@dataclass(frozen=True)
class ControllerPoint:
    """One value of the controller map.

    Parameters
    ----------
    block : {"district", "building"}
        The block the point belongs to.
    offset : int
        Offset from the block's start. [registers]
    point : Point
        Type, size, word order, unit, scale and write access; ``point.address`` is the offset.
    description : str
        What the value means, with its sign.
    """

    block: Literal["district", "building"]
    offset: int
    point: Point
    description: str

    @property
    def name(self) -> str:
        """The point's name (the key of values and writes)."""
        return self.point.name


@dataclass(frozen=True)
class ControllerMap:
    """A validated controller map.

    Parameters
    ----------
    version : int
        Map version, served at :data:`VERSION_ADDRESS`.
    unit_ids : tuple of int
        Unit ids that answer; any other unit id gets exception 11 (gateway target failed).
    district_size : int
        Registers of the district block (from address 0).
    building_base, building_stride, max_buildings : int
        Address of building 1's block, registers per building, most buildings served.
    district_points, building_points : tuple of ControllerPoint
        The points of each block, in address order.
    file : str
        The YAML file.
    """

    version: int
    unit_ids: tuple[int, ...]
    district_size: int
    building_base: int
    building_stride: int
    max_buildings: int
    district_points: tuple[ControllerPoint, ...]
    building_points: tuple[ControllerPoint, ...]
    file: str

    def building_address(self, building_number: int, offset: int = 0) -> int:
        """Return the wire address of ``offset`` in building ``building_number``'s block (1-based)."""
        if not 1 <= building_number <= self.max_buildings:
            raise ValueError(f"building number {building_number} outside 1..{self.max_buildings}")
        return self.building_base + (building_number - 1) * self.building_stride + offset

    def district_point(self, name: str) -> ControllerPoint:
        """Return a district point by name (``KeyError`` if unknown)."""
        return _by_name(self.district_points)[name]

    def building_point(self, name: str) -> ControllerPoint:
        """Return a building-block point by name (``KeyError`` if unknown)."""
        return _by_name(self.building_points)[name]


# --- file schema -----------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _PointSpec(_Strict):
    name: str
    offset: Annotated[int, Field(ge=0, le=65535)]
    data_type: Literal["uint16", "int16", "uint32", "int32", "float32", "string"]
    size: Annotated[int, Field(ge=1, le=64)] | None = None
    word_order: Literal["big", "little"] = "big"
    unit: str | None = None
    scale: float = 1.0
    writable: bool = False
    write_range: tuple[float, float] | None = None
    description: str


class _DistrictSpec(_Strict):
    base: Literal[0] = 0
    size: Annotated[int, Field(ge=1, le=1000)]
    points: Annotated[list[_PointSpec], Field(min_length=1)]


class _BuildingSpec(_Strict):
    base: Annotated[int, Field(ge=1, le=65535)]
    stride: Annotated[int, Field(ge=1, le=1000)]
    max_buildings: Annotated[int, Field(ge=1)]
    points: Annotated[list[_PointSpec], Field(min_length=1)]


class _ControllerMapFile(_Strict):
    kind: Literal["controller"]
    name: str
    version: Annotated[int, Field(ge=1, le=65535)]
    description: str = ""
    unit_ids: Annotated[list[Annotated[int, Field(ge=1, le=255)]], Field(min_length=1)]
    district: _DistrictSpec
    building: _BuildingSpec


# --- public API ------------------------------------------------------------------------------


def load_controller_map(file: str | Path | None = None) -> ControllerMap:
    """Load and validate a controller map.

    Parameters
    ----------
    file : str or Path, optional
        A controller map file; default the built-in ``connectors/maps/controller/controller.yaml``.

    Returns
    -------
    ControllerMap
        The map with every point resolved.

    Raises
    ------
    ConfigError
        The file is missing or not YAML, a field is wrong, points overlap or leave their block,
        or address 0 does not hold ``map_version``.
    """
    return _load(str(Path(file or CONTROLLER_MAP_FILE).resolve()))


def map_rows(controller_map: ControllerMap) -> list[dict[str, Any]]:
    """Return one row per register point, district block first.

    Building rows give their address as ``B+offset`` with ``B = base + (n - 1) * stride``.

    Parameters
    ----------
    controller_map : ControllerMap
        The map.

    Returns
    -------
    list of dict
        Keys: address, name, data_type, registers, word_order, unit, scale, access, meaning.
    """
    rows = []
    for cpoint in controller_map.district_points + controller_map.building_points:
        point = cpoint.point
        address = str(cpoint.offset) if cpoint.block == "district" else f"B+{cpoint.offset}"
        access = "read"
        if point.writable:
            low, high = point.write_range or (float("-inf"), float("inf"))
            access = f"read/write (TLS) {low:g}..{high:g}"
        rows.append(
            {
                "address": address,
                "name": point.name,
                "data_type": point.data_type,
                "registers": point.size,
                "word_order": point.word_order if point.size > 1 and point.data_type != "string" else "-",
                "unit": point.unit or "-",
                "scale": point.scale,
                "access": access,
                "meaning": cpoint.description,
            }
        )
    return rows


def format_map(controller_map: ControllerMap, fmt: MapFormat = "table") -> str:
    """Return the map as text: a plain table, a Markdown table, CSV or JSON.

    Parameters
    ----------
    controller_map : ControllerMap
        The map.
    fmt : {"table", "markdown", "csv", "json"}
        Output format. JSON also carries the version, unit ids and block layout.

    Returns
    -------
    str
        The text, ending with a newline.
    """
    rows = map_rows(controller_map)
    cm = controller_map
    layout = (
        f"controller register map version {cm.version}: holding registers (FC 3 read; FC 6/16 write on the"
        f" TLS listener only), 0-based addresses, unit ids {', '.join(map(str, cm.unit_ids))}; district block"
        f" 0..{cm.district_size - 1}; building n (1-based) at B = {cm.building_base} + (n - 1) * {cm.building_stride}"
    )
    if fmt == "json":
        document = {
            "version": cm.version,
            "version_address": VERSION_ADDRESS,
            "register_type": "holding",
            "unit_ids": list(cm.unit_ids),
            "district_block": {"base": 0, "size": cm.district_size},
            "building_block": {
                "base": cm.building_base,
                "stride": cm.building_stride,
                "max_buildings": cm.max_buildings,
            },
            "points": rows,
        }
        return json.dumps(document, indent=2) + "\n"
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=_ROW_FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return buffer.getvalue()
    cells = [[str(row[key]) for key in _ROW_FIELDS] for row in rows]
    if fmt == "markdown":
        lines = ["| " + " | ".join(_ROW_FIELDS) + " |", "|" + "---|" * len(_ROW_FIELDS)]
        lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in cells]
        return "\n".join(lines) + "\n"
    if fmt != "table":
        raise ConfigError(f"unknown format {fmt!r}", field="--format", allowed=", ".join(MAP_FORMATS))
    widths = [max(len(key), *(len(row[i]) for row in cells)) for i, key in enumerate(_ROW_FIELDS[:-1])]
    lines = [layout, ""]
    header = [*_ROW_FIELDS]
    for row in [header, *cells]:
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[-1])
    return "\n".join(lines) + "\n"


# --- helpers ---------------------------------------------------------------------------------


@functools.cache
def _load(path: str) -> ControllerMap:
    spec: _ControllerMapFile = load_config(path, _ControllerMapFile, what="controller map file")
    district = _points("district", spec.district.points, spec.district.size, path)
    building = _points("building", spec.building.points, spec.building.stride, path)
    if not any(cp.name == "map_version" and cp.offset == VERSION_ADDRESS for cp in district):
        raise ConfigError(f"address {VERSION_ADDRESS} must hold map_version (uint16)", file=path, field="district")
    if spec.building.base < spec.district.size:
        raise ConfigError("the building blocks overlap the district block", file=path, field="building.base")
    last = spec.building.base + spec.building.max_buildings * spec.building.stride
    if last > 65536:
        raise ConfigError(f"{spec.building.max_buildings} buildings end at {last} > 65536", file=path, field="building")
    return ControllerMap(
        version=spec.version,
        unit_ids=tuple(spec.unit_ids),
        district_size=spec.district.size,
        building_base=spec.building.base,
        building_stride=spec.building.stride,
        max_buildings=spec.building.max_buildings,
        district_points=district,
        building_points=building,
        file=path,
    )


def _points(
    block: Literal["district", "building"], specs: list[_PointSpec], size: int, path: str
) -> tuple[ControllerPoint, ...]:
    used: dict[int, str] = {}
    names: set[str] = set()
    result = []
    for index, spec in enumerate(specs):
        where = f"{block}.points.{index}"
        if spec.name in names:
            raise ConfigError(f"point name {spec.name!r} used twice", file=path, field=f"{where}.name")
        names.add(spec.name)
        if spec.data_type == "string" and spec.size is None:
            raise ConfigError("a string point needs a size [registers]", file=path, field=f"{where}.size")
        n_regs = spec.size or DATA_TYPE_SIZES[spec.data_type]
        if spec.offset + n_regs > size:
            raise ConfigError(f"{spec.name} ends past the block's {size} registers", file=path, field=where)
        for offset in range(spec.offset, spec.offset + n_regs):
            if offset in used:
                raise ConfigError(f"{spec.name} overlaps {used[offset]}", file=path, field=f"{where}.offset")
            used[offset] = spec.name
        if spec.write_range is not None and (not spec.writable or spec.write_range[0] > spec.write_range[1]):
            raise ConfigError("write_range needs writable: true and low <= high", file=path, field=where)
        if spec.writable and spec.write_range is None:
            raise ConfigError("a writable point needs a write_range", file=path, field=where)
        if spec.scale == 0:
            raise ConfigError("scale must not be 0", file=path, field=f"{where}.scale")
        point = Point(
            name=spec.name,
            register="holding",
            address=spec.offset,
            data_type=spec.data_type,
            size=n_regs,
            word_order=spec.word_order,
            unit=spec.unit,
            scale=spec.scale,
            writable=spec.writable,
            write_range=spec.write_range,
        )
        result.append(ControllerPoint(block, spec.offset, point, spec.description))
    return tuple(sorted(result, key=lambda cp: cp.offset))


def _by_name(points: tuple[ControllerPoint, ...]) -> dict[str, ControllerPoint]:
    return {cp.name: cp for cp in points}
