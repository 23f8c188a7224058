"""Register maps as data: YAML device maps, resolved into flat point and quantity tables.

A device map (``connectors/maps/*.yaml``) says where a device keeps its values and how they
become the twin's quantities. Two kinds exist:

- ``sunspec``: the device serves SunSpec models (the map lists their ids in order, e.g. ``[1,
  103]``); point names, offsets, types, scale-factor points and units come from the model JSON
  that ships with pysunspec2, so no address is written by hand. Points are named
  ``"<model id>.<point>"`` (``"103.W"``), plus the ``"SunS"`` marker and ``"end.ID"``/``"end.L"``.
- ``generic``: each point gives its wire address (0-based), register type (holding or input),
  data type, word order, fixed scale and unit. The Eastron SDM630, gas meters, the field's clock
  block and the community-battery setpoint use it.

Both kinds map points to *quantities*: the twin's unit-suffixed names (``p_kw``,
``energy_import_kwh``, ``soc_frac``) in the twin's units, with the device's sign convention
declared as ``positive_is: consumption`` (consumption, import and charging positive, as the twin)
or ``positive_is: generation`` (generation, export and discharge positive: negated at the
boundary), an optional physical ``valid_range`` in the quantity's units, and ``counter: true``
for energy counters that may only grow.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from connectors.derived_points import DerivedRule
from twin.core.config_loader import load_config
from twin.core.errors import ConfigError
from twin.core.units import unit_for

__all__ = [
    "DATA_TYPE_SIZES",
    "MAPS_DIR",
    "SUNSPEC_BASE_ADDRESS",
    "DataType",
    "Point",
    "Quantity",
    "RegisterMap",
    "RegisterType",
    "WordOrder",
    "builtin_map_names",
    "load_map",
    "sunspec_model_at",
    "sunspec_model_points",
]

logger = logging.getLogger(__name__)

#: Folder of the built-in device maps.
MAPS_DIR: Final[Path] = Path(__file__).resolve().parent / "maps"
#: Holding register (0-based wire address) of the "SunS" marker.
SUNSPEC_BASE_ADDRESS: Final[int] = 40000

RegisterType = Literal["holding", "input"]
WordOrder = Literal["big", "little"]
DataType = Literal[
    "int16",
    "uint16",
    "int32",
    "uint32",
    "int64",
    "uint64",
    "float32",
    "float64",
    "string",
    "sunssf",
    "acc16",
    "acc32",
    "acc64",
    "enum16",
    "enum32",
    "bitfield16",
    "bitfield32",
    "count",
    "pad",
]

#: Registers per value of each fixed-size data type (strings give their own size).
DATA_TYPE_SIZES: Final[dict[str, int]] = {
    "int16": 1,
    "uint16": 1,
    "sunssf": 1,
    "acc16": 1,
    "enum16": 1,
    "bitfield16": 1,
    "count": 1,
    "pad": 1,
    "int32": 2,
    "uint32": 2,
    "acc32": 2,
    "enum32": 2,
    "bitfield32": 2,
    "float32": 2,
    "int64": 4,
    "uint64": 4,
    "acc64": 4,
    "float64": 4,
}

#: (point unit, quantity unit) -> factor from the point's to the quantity's unit.
_UNIT_FACTORS: Final[dict[tuple[str, str], float]] = {
    ("W", "kW"): 1e-3,
    ("Wh", "kW h"): 1e-3,
    ("kWh", "kW h"): 1.0,
    ("VA", "kVA"): 1e-3,
    ("var", "kvar"): 1e-3,
    ("Var", "kvar"): 1e-3,
    ("%", "1"): 1e-2,
    ("%", "%"): 1.0,
    ("kW", "kW"): 1.0,
    ("s", "s"): 1.0,
    ("C", "degC"): 1.0,
    ("W/m2", "W m-2"): 1.0,
    ("m/s", "m s-1"): 1.0,
    ("mps", "m s-1"): 1.0,
}
_SUNSPEC_IGNORED_TYPES: Final[frozenset[str]] = frozenset({"ipaddr", "ipv6addr", "eui48"})


@dataclass(frozen=True)
class Point:
    """One value in a device's registers, in the device's own units.

    Parameters
    ----------
    name : str
        ``"103.W"`` for SunSpec points, the map's name for generic points.
    register : {"holding", "input"}
        Register table (function code 3 or 4).
    address : int
        0-based wire address of the first register.
    data_type : str
        One of :data:`DataType`.
    size : int
        Number of 16-bit registers.
    word_order : {"big", "little"}
        Order of the registers of a multi-register value.
    unit : str or None
        Unit of the engineering value (``"W"``, ``"Wh"``, ``"%"``...).
    scale : float
        Fixed factor: value = raw x scale (generic maps; for SunSpec 1, or ``10^sf`` where the
        model fixes a point's scale factor as a number).
    sf_point : str or None
        Name of the SunSpec scale-factor point: value = raw x 10^sf.
    writable : bool
        Whether clients may write this point.
    write_range : tuple of float, optional
        Values a write may set, in the point's unit; others are rejected (exception 3).
    not_implemented : int, optional
        A raw value that means "not implemented" besides the type's own sentinel.
    """

    name: str
    register: RegisterType
    address: int
    data_type: str
    size: int
    word_order: WordOrder = "big"
    unit: str | None = None
    scale: float = 1.0
    sf_point: str | None = None
    writable: bool = False
    write_range: tuple[float, float] | None = None
    not_implemented: int | None = None


@dataclass(frozen=True)
class Quantity:
    """A point seen as one of the twin's quantities.

    Parameters
    ----------
    name : str
        Unit-suffixed twin name, e.g. ``"p_kw"``.
    point : str
        The point that holds it.
    unit : str
        The quantity's unit (UDUNITS spelling, e.g. ``"kW"``).
    factor : float
        Quantity = point value x factor; includes the unit change and the sign (negative
        when the device counts generation positive).
    counter : bool
        An energy counter that may only grow.
    valid_range : tuple of float, optional
        Physically possible values in the quantity's unit; others are flagged invalid.
    """

    name: str
    point: str
    unit: str
    factor: float
    counter: bool = False
    valid_range: tuple[float, float] | None = None


@dataclass(frozen=True)
class RegisterMap:
    """A resolved device map: every point with its address, and the quantities.

    Parameters
    ----------
    name : str
        The map's name (file stem for built-in maps).
    kind : {"sunspec", "generic"}
        How the map was described.
    points : mapping of str to Point
        Every point the device serves, by name, in address order (read-only).
    quantities : mapping of str to Quantity
        The twin quantities the map defines (read-only).
    static : mapping
        Values the device serves that never change (model headers, names, scale factors), in
        the points' units.
    max_registers_per_request : int
        Longest read the device accepts.
    max_gap : int
        Unused registers a poller may read to join two points into one request.
    models : tuple of int
        SunSpec model ids in order (empty for generic maps).
    file : str or None
        The YAML file the map came from.
    derived : mapping of str to str
        Points a simulated device derives from its live values, and the rule
        (:mod:`connectors.derived_points`).
    """

    name: str
    kind: Literal["sunspec", "generic"]
    points: Mapping[str, Point]
    quantities: Mapping[str, Quantity]
    static: Mapping[str, float | str] = field(default_factory=dict)
    max_registers_per_request: int = 100
    max_gap: int = 16
    models: tuple[int, ...] = ()
    file: str | None = None
    derived: Mapping[str, str] = field(default_factory=dict)

    def point_of(self, quantity: str) -> Point:
        """Return the point behind a quantity (raises ``KeyError`` for unknown names)."""
        return self.points[self.quantities[quantity].point]


# --- file schema -----------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class QuantitySpec(_Strict):
    """A quantity as written in a map file."""

    point: str
    positive_is: Literal["consumption", "generation"] | None = None
    unit: str | None = None
    counter: bool = False
    valid_range: tuple[float, float] | None = None


class GenericPointSpec(_Strict):
    """A generic point as written in a map file; unset fields come from ``defaults``."""

    name: str
    address: Annotated[int, Field(ge=0, le=65535)]
    register_type: RegisterType | None = None
    data_type: DataType | None = None
    word_order: WordOrder | None = None
    size: Annotated[int, Field(ge=1, le=125)] | None = None
    scale: float = 1.0
    unit: str | None = None
    writable: bool = False
    write_range: tuple[float, float] | None = None
    not_implemented: int | None = None


class GenericDefaults(_Strict):
    """Defaults applied to every point of a generic map."""

    register_type: RegisterType = "holding"
    data_type: DataType = "uint16"
    word_order: WordOrder = "big"


class _MapFile(_Strict):
    name: str
    description: str = ""
    max_registers_per_request: Annotated[int, Field(ge=1, le=125)] = 100
    max_gap: Annotated[int, Field(ge=0, le=100)] = 16
    static: dict[str, float | str] = Field(default_factory=dict)
    quantities: dict[str, QuantitySpec] = Field(default_factory=dict)


class SunSpecMapFile(_MapFile):
    """A SunSpec device map file."""

    kind: Literal["sunspec"]
    models: Annotated[list[int], Field(min_length=1)]
    derived: dict[str, DerivedRule] = Field(default_factory=dict)


class GenericMapFile(_MapFile):
    """A generic device map file."""

    kind: Literal["generic"]
    defaults: GenericDefaults = GenericDefaults()
    points: Annotated[list[GenericPointSpec], Field(min_length=1)]


_MapFileAdapter = Annotated[SunSpecMapFile | GenericMapFile, Field(discriminator="kind")]


# --- public API ------------------------------------------------------------------------------


def builtin_map_names() -> list[str]:
    """Return the names of the maps shipped in ``connectors/maps/``."""
    return sorted(path.stem for path in MAPS_DIR.glob("*.yaml"))


def load_map(name_or_file: str | Path) -> RegisterMap:
    """Load, validate and resolve a device map.

    Parameters
    ----------
    name_or_file : str or Path
        A built-in map name (``"sunspec_inverter"``) or a YAML file.

    Returns
    -------
    RegisterMap
        Points with addresses and quantities with factors.

    Raises
    ------
    ConfigError
        The file is missing, is not YAML, or a field is wrong; the one-line message names the
        file and the field.
    """
    path = Path(name_or_file)
    if not path.suffix and not path.exists():
        path = MAPS_DIR / f"{name_or_file}.yaml"
        if not path.exists():
            raise ConfigError(f"unknown register map {name_or_file!r}", allowed=", ".join(builtin_map_names()))
    return _load_map_file(str(path.resolve()))


@functools.cache
def sunspec_model_points(model_id: int) -> tuple[dict[str, Any], ...]:
    """Return the fixed points of a SunSpec model as pysunspec2's JSON defines them.

    Parameters
    ----------
    model_id : int
        SunSpec model id, e.g. 103.

    Returns
    -------
    tuple of dict
        Point definitions (``name``, ``type``, ``size``, ``sf``, ``units``, ``access``) in
        register order, starting with ``ID`` and ``L``; repeating groups are not included.

    Raises
    ------
    ConfigError
        pysunspec2 has no definition of the model.
    """
    resource = importlib.resources.files("sunspec2") / "models" / "json" / f"model_{model_id}.json"
    try:
        definition = json.loads(resource.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise ConfigError(f"SunSpec model {model_id} is not defined in pysunspec2") from err
    return tuple(definition["group"]["points"])


# --- helpers ---------------------------------------------------------------------------------


@functools.cache
def _load_map_file(path: str) -> RegisterMap:
    spec: SunSpecMapFile | GenericMapFile = load_config(path, _MapFileAdapter, what="register map file")
    if isinstance(spec, SunSpecMapFile):
        points = _sunspec_points(spec, path)
        models: tuple[int, ...] = tuple(spec.models)
    else:
        points = _generic_points(spec, path)
        models = ()
    quantities = {name: _quantity(name, qspec, points, path) for name, qspec in spec.quantities.items()}
    for key in spec.static:
        if key not in points:
            raise ConfigError(f"unknown point {key!r}", file=path, field=f"static.{key}")
    derived = dict(spec.derived) if isinstance(spec, SunSpecMapFile) else {}
    quantity_points = {quantity.point for quantity in quantities.values()}
    for key in derived:
        if key not in points or key in quantity_points or key in spec.static:
            raise ConfigError(
                f"cannot derive {key!r}",
                file=path,
                field=f"derived.{key}",
                allowed="a point that is no quantity or static",
            )
    logger.debug("loaded register map %s from %s: %d points", spec.name, path, len(points))
    # loaded maps are cached and shared: hand out read-only views
    return RegisterMap(
        name=spec.name,
        kind=spec.kind,
        points=MappingProxyType(points),
        quantities=MappingProxyType(quantities),
        static=MappingProxyType({**_sunspec_headers(points), **spec.static}),
        max_registers_per_request=spec.max_registers_per_request,
        max_gap=spec.max_gap,
        models=models,
        file=path,
        derived=MappingProxyType(derived),
    )


def _sunspec_points(spec: SunSpecMapFile, path: str) -> dict[str, Point]:
    points: dict[str, Point] = {"SunS": Point("SunS", "holding", SUNSPEC_BASE_ADDRESS, "uint32", 2)}
    address = SUNSPEC_BASE_ADDRESS + 2
    for index, model_id in enumerate(spec.models):
        if any(name.startswith(f"{model_id}.") for name in points):
            raise ConfigError(f"model {model_id} appears twice", file=path, field=f"models.{index}")
        try:
            model_points, length = sunspec_model_at(model_id, address)
        except ConfigError as err:
            raise ConfigError(err.message, file=path, field=f"models.{index}") from err
        points.update(model_points)
        address += length
    points["end.ID"] = Point("end.ID", "holding", address, "uint16", 1)
    points["end.L"] = Point("end.L", "holding", address + 1, "uint16", 1)
    return points


def sunspec_model_at(model_id: int, address: int) -> tuple[dict[str, Point], int]:
    """The fixed points of a SunSpec model whose ``ID`` register is at ``address``.

    Parameters
    ----------
    model_id : int
        SunSpec model id, e.g. 103.
    address : int
        0-based wire address of the model's ``ID`` register.

    Returns
    -------
    points : dict of str to Point
        Named ``"<model>.<point>"``, scale factors as ``sf_point``.
    length : int
        Registers of the fixed part, ``ID`` and ``L`` included.

    Raises
    ------
    ConfigError
        pysunspec2 has no definition of the model.
    """
    points: dict[str, Point] = {}
    offset = 0
    for definition in sunspec_model_points(model_id):
        data_type = definition["type"]
        size = int(definition.get("size") or DATA_TYPE_SIZES.get(data_type, 1))
        if data_type not in _SUNSPEC_IGNORED_TYPES:
            sf = definition.get("sf")
            name = f"{model_id}.{definition['name']}"
            points[name] = Point(
                name=name,
                register="holding",
                address=address + offset,
                data_type=data_type,
                size=size,
                unit=definition.get("units"),
                # a model may fix a point's scale factor as a number (308's temperatures: -1)
                scale=10.0 ** int(sf) if isinstance(sf, int) else 1.0,
                sf_point=f"{model_id}.{sf}" if isinstance(sf, str) else None,
            )
        offset += size
    return points, offset


def _sunspec_headers(points: Mapping[str, Point]) -> dict[str, float | str]:
    """Model ids, lengths, the "SunS" marker and the end marker of a SunSpec map."""
    if "SunS" not in points:
        return {}
    headers: dict[str, float | str] = {"SunS": 0x53756E53, "end.ID": 0xFFFF, "end.L": 0}
    ids = [name for name in points if name.endswith(".ID") and name != "end.ID"]
    starts = [points[name].address for name in ids] + [points["end.ID"].address]
    for name, start, next_start in zip(ids, starts, starts[1:], strict=False):
        headers[name] = int(name.split(".")[0])
        headers[name.replace(".ID", ".L")] = next_start - start - 2
    return headers


def _generic_points(spec: GenericMapFile, path: str) -> dict[str, Point]:
    points: dict[str, Point] = {}
    used: dict[tuple[str, int], str] = {}
    for index, pspec in enumerate(spec.points):
        data_type = pspec.data_type or spec.defaults.data_type
        if data_type == "string" and pspec.size is None:
            raise ConfigError("a string point needs a size [registers]", file=path, field=f"points.{index}.size")
        size = pspec.size or DATA_TYPE_SIZES[data_type]
        register = pspec.register_type or spec.defaults.register_type
        if pspec.name in points:
            raise ConfigError(f"point name {pspec.name!r} used twice", file=path, field=f"points.{index}.name")
        for address in range(pspec.address, pspec.address + size):
            if (register, address) in used:
                raise ConfigError(
                    f"{pspec.name} overlaps {used[register, address]} at {register} register {address}",
                    file=path,
                    field=f"points.{index}.address",
                )
            used[register, address] = pspec.name
        if pspec.write_range is not None and not pspec.writable:
            raise ConfigError("write_range needs writable: true", file=path, field=f"points.{index}.write_range")
        if pspec.writable and register == "input":
            raise ConfigError("input registers cannot be written", file=path, field=f"points.{index}.writable")
        if pspec.scale == 0:
            raise ConfigError("scale must not be 0", file=path, field=f"points.{index}.scale")
        points[pspec.name] = Point(
            name=pspec.name,
            register=register,
            address=pspec.address,
            data_type=data_type,
            size=size,
            word_order=pspec.word_order or spec.defaults.word_order,
            unit=pspec.unit,
            scale=pspec.scale,
            writable=pspec.writable,
            write_range=pspec.write_range,
            not_implemented=pspec.not_implemented,
        )
    return dict(sorted(points.items(), key=lambda item: (item[1].register, item[1].address)))


def _quantity(name: str, spec: QuantitySpec, points: Mapping[str, Point], path: str) -> Quantity:
    where = f"quantities.{name}"
    if spec.point not in points:
        raise ConfigError(f"unknown point {spec.point!r}", file=path, field=f"{where}.point")
    point = points[spec.point]
    if point.data_type in {"string", "sunssf", "pad"}:
        raise ConfigError(f"point {spec.point} of type {point.data_type} is no number", file=path, field=where)
    unit = spec.unit or unit_for(name)
    if unit is None:
        raise ConfigError("give the quantity a unit suffix (e.g. _kw) or a unit field", file=path, field=where)
    point_unit = point.unit or unit
    if point_unit.startswith("%"):
        point_unit = "%"
    factor = 1.0 if point_unit == unit else _UNIT_FACTORS.get((point_unit, unit))
    if factor is None:
        raise ConfigError(
            f"cannot convert the point's unit {point_unit!r} to {unit!r}",
            file=path,
            field=where,
            allowed=", ".join(f"{a}->{b}" for a, b in _UNIT_FACTORS),
        )
    if spec.counter and spec.positive_is == "generation":
        raise ConfigError("counters count up; name the direction (import/export) instead", file=path, field=where)
    if spec.valid_range is not None and spec.valid_range[0] > spec.valid_range[1]:
        raise ConfigError("valid_range must be [low, high]", file=path, field=f"{where}.valid_range")
    sign = -1.0 if spec.positive_is == "generation" else 1.0
    return Quantity(name, spec.point, unit, sign * factor, spec.counter, spec.valid_range)
