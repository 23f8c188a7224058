"""Encoding and decoding between engineering values and 16-bit registers.

One rule set for all map kinds: a point's raw value comes from its registers by pymodbus'
``convert_from_registers`` (data type and word order from the map); SunSpec points then scale by
``10^sf`` (the scale factor read from the device), generic points by their fixed ``scale``.
Not-implemented values (SunSpec sentinels, float NaN, a map's own ``not_implemented``) decode to
``None``. Quantities apply the map's factor (unit and sign) on top, so the twin sees kW, kWh and
the load-positive convention.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Final

from pymodbus.client import ModbusTcpClient

from connectors.maps import Point, Quantity, RegisterMap

__all__ = [
    "SUNSPEC_SF_NOT_IMPLEMENTED",
    "decode_point",
    "decode_quantity",
    "encode_point",
    "encode_quantity",
    "in_valid_range",
    "not_implemented_registers",
    "point_values",
    "raw_limits",
]

_DT = ModbusTcpClient.DATATYPE
_PYMODBUS_TYPES: Final[dict[str, ModbusTcpClient.DATATYPE]] = {
    "int16": _DT.INT16,
    "sunssf": _DT.INT16,
    "uint16": _DT.UINT16,
    "acc16": _DT.UINT16,
    "enum16": _DT.UINT16,
    "bitfield16": _DT.UINT16,
    "count": _DT.UINT16,
    "pad": _DT.UINT16,
    "int32": _DT.INT32,
    "uint32": _DT.UINT32,
    "acc32": _DT.UINT32,
    "enum32": _DT.UINT32,
    "bitfield32": _DT.UINT32,
    "int64": _DT.INT64,
    "uint64": _DT.UINT64,
    "acc64": _DT.UINT64,
    "float32": _DT.FLOAT32,
    "float64": _DT.FLOAT64,
}
#: Raw value of a SunSpec scale factor that is not implemented.
SUNSPEC_SF_NOT_IMPLEMENTED: Final[int] = -0x8000
#: SunSpec scale factors lie within -10..10; a value beyond (the sentinel, garbage) gives no value.
SUNSPEC_SF_LIMIT: Final[int] = 10
#: Raw "not implemented" value of each SunSpec integer type (as the signed/unsigned raw value).
_SENTINELS: Final[dict[str, int]] = {
    "int16": -0x8000,
    "sunssf": -0x8000,
    "pad": 0x8000,
    "uint16": 0xFFFF,
    "enum16": 0xFFFF,
    "bitfield16": 0xFFFF,
    "count": 0,
    "acc16": 0,
    "int32": -0x80000000,
    "uint32": 0xFFFFFFFF,
    "enum32": 0xFFFFFFFF,
    "bitfield32": 0xFFFFFFFF,
    "acc32": 0,
    "int64": -0x8000000000000000,
    "uint64": 0xFFFFFFFFFFFFFFFF,
    "acc64": 0,
}
_SIGNED_BITS: Final[dict[str, int]] = {"int16": 16, "sunssf": 16, "int32": 32, "int64": 64}
_UNSIGNED_BITS: Final[dict[str, int]] = {
    "uint16": 16,
    "acc16": 16,
    "enum16": 16,
    "bitfield16": 16,
    "count": 16,
    "pad": 16,
    "uint32": 32,
    "acc32": 32,
    "enum32": 32,
    "bitfield32": 32,
    "uint64": 64,
    "acc64": 64,
}


def raw_limits(point: Point, *, sunspec: bool) -> tuple[int, int]:
    """Return the smallest and largest raw integer a point can carry as a real value.

    Parameters
    ----------
    point : Point
        An integer point.
    sunspec : bool
        Exclude the SunSpec not-implemented sentinel (and 0 for accumulators).

    Returns
    -------
    tuple of int
        Inclusive raw limits.
    """
    if point.data_type in _SIGNED_BITS:
        bits = _SIGNED_BITS[point.data_type]
        low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    else:
        low, high = 0, (1 << _UNSIGNED_BITS[point.data_type]) - 1
    if sunspec:
        sentinel = _SENTINELS[point.data_type]
        low, high = (low + 1, high) if sentinel == low else (low, high - 1) if sentinel == high else (low, high)
        if point.data_type.startswith("acc"):
            low = 1
    if point.not_implemented is not None:
        if point.not_implemented == low:
            low += 1
        elif point.not_implemented > 0:
            high = min(high, point.not_implemented - 1)
    return low, high


def encode_point(point: Point, value: float | str, *, sf: int = 0, sunspec: bool = False) -> list[int]:
    """Return the registers that carry ``value`` in ``point``.

    Parameters
    ----------
    point : Point
        Where the value goes.
    value : float or str
        Engineering value in the point's unit (strings for string points). For scale-factor
        points, the scale factor itself.
    sf : int, optional
        SunSpec scale factor of the point: raw = value / 10^sf.
    sunspec : bool, optional
        Apply SunSpec rules (sentinels are not real values).

    Returns
    -------
    list of int
        ``point.size`` registers.

    Raises
    ------
    ValueError
        The value does not fit the data type with this scale (e.g. 40 kW in an int16 with
        ``W_SF = 0``): give the map a larger scale factor.
    """
    if point.data_type == "string":
        encoded = str(value).encode("utf-8")
        if len(encoded) > 2 * point.size:
            raise ValueError(f"{point.name}: {value!r} is longer than {2 * point.size} bytes")
        padded = encoded.ljust(2 * point.size, b"\0")
        return [int.from_bytes(padded[i : i + 2], "big") for i in range(0, len(padded), 2)]
    data_type = _PYMODBUS_TYPES[point.data_type]
    number = float(value) / (point.scale * 10.0**sf)
    if point.data_type.startswith("float"):
        return ModbusTcpClient.convert_to_registers(number, data_type, word_order=point.word_order)
    if not math.isfinite(number):
        raise ValueError(f"{point.name}: {value!r} is not a finite number")
    raw = round(number)
    if sunspec and raw == 0 and point.data_type.startswith("acc"):
        raise ValueError(f"{point.name}: a SunSpec accumulator at 0 means 'not implemented'; start it above 0")
    low, high = raw_limits(point, sunspec=sunspec)
    if not low <= raw <= high:
        raise ValueError(
            f"{point.name}: {value} {point.unit or ''} needs raw {raw}, outside {low}..{high} of"
            f" {point.data_type} (scale {point.scale}, sf {sf}); widen the scale"
        )
    return ModbusTcpClient.convert_to_registers(raw, data_type, word_order=point.word_order)


def decode_point(
    point: Point, registers: list[int], *, sf: int | None = 0, sunspec: bool = False
) -> float | str | None:
    """Return the engineering value of a point, or ``None`` if not implemented.

    Parameters
    ----------
    point : Point
        The point the registers belong to.
    registers : list of int
        Exactly ``point.size`` registers.
    sf : int or None, optional
        SunSpec scale factor (raw); ``None`` or the not-implemented value gives ``None``.
    sunspec : bool, optional
        Apply SunSpec rules (sentinels mean not implemented).

    Returns
    -------
    float, str or None
        Value in the point's unit (scale factors decode to their integer value).
    """
    if point.data_type == "string":
        text = b"".join(reg.to_bytes(2, "big") for reg in registers).rstrip(b"\0").decode("utf-8", "replace")
        return text or None
    raw = ModbusTcpClient.convert_from_registers(
        registers, _PYMODBUS_TYPES[point.data_type], word_order=point.word_order
    )
    assert isinstance(raw, int | float)
    if isinstance(raw, float):
        if math.isnan(raw):
            return None
        return raw * point.scale * 10.0 ** (sf or 0)
    if point.not_implemented is not None and raw == point.not_implemented:
        return None
    if sunspec and raw == _SENTINELS[point.data_type]:
        return None
    if point.data_type == "sunssf":
        return float(raw)
    if sf is None or not -SUNSPEC_SF_LIMIT <= sf <= SUNSPEC_SF_LIMIT:  # not implemented, or a device that lies
        return None
    return raw * point.scale * 10.0**sf


def not_implemented_registers(point: Point, *, sunspec: bool) -> list[int]:
    """Return the registers a device serves for a point it does not implement.

    Parameters
    ----------
    point : Point
        The point.
    sunspec : bool
        Use SunSpec sentinels; generic points use their ``not_implemented`` value or NaN.

    Returns
    -------
    list of int
        ``point.size`` registers.
    """
    if point.data_type == "string":
        return [0] * point.size
    data_type = _PYMODBUS_TYPES[point.data_type]
    if point.data_type.startswith("float"):
        return ModbusTcpClient.convert_to_registers(math.nan, data_type, word_order=point.word_order)
    if point.not_implemented is not None:
        return ModbusTcpClient.convert_to_registers(point.not_implemented, data_type, word_order=point.word_order)
    if sunspec:
        return ModbusTcpClient.convert_to_registers(_SENTINELS[point.data_type], data_type, word_order=point.word_order)
    return [0] * point.size


def encode_quantity(register_map: RegisterMap, name: str, value: float, *, sf: int = 0) -> tuple[Point, list[int]]:
    """Return the point and registers that carry a twin quantity.

    Parameters
    ----------
    register_map : RegisterMap
        The device's map.
    name : str
        Quantity name, e.g. ``"p_kw"``.
    value : float
        Value in the quantity's unit and the twin's load-positive convention (e.g. [kW]).
    sf : int, optional
        The device's SunSpec scale factor for the point.

    Returns
    -------
    tuple
        The point and its registers.
    """
    quantity = register_map.quantities[name]
    point = register_map.points[quantity.point]
    return point, encode_point(point, value / quantity.factor, sf=sf, sunspec=register_map.kind == "sunspec")


def decode_quantity(quantity: Quantity, point_value: float | str | None) -> float | None:
    """Return a quantity from its point's value: unit change and sign at the boundary.

    Parameters
    ----------
    quantity : Quantity
        The quantity.
    point_value : float or None
        The decoded point value in the point's unit (``None`` when not implemented).

    Returns
    -------
    float or None
        Value in the quantity's unit, load-positive.
    """
    if point_value is None or isinstance(point_value, str):
        return None
    return point_value * quantity.factor + 0.0


def in_valid_range(quantity: Quantity, value: float) -> bool:
    """Return whether a quantity's value lies within the physical range of its map."""
    if quantity.valid_range is None:
        return math.isfinite(value)
    low, high = quantity.valid_range
    return low <= value <= high


def point_values(register_map: RegisterMap, registers: Mapping[str, list[int]]) -> dict[str, float | str | None]:
    """Decode several points, reading SunSpec scale factors from the same registers.

    Parameters
    ----------
    register_map : RegisterMap
        The device's map.
    registers : mapping of str to list of int
        Point name -> its registers; scale-factor points needed by others must be present.

    Returns
    -------
    dict of str to value
        Point name -> value in the point's unit, ``None`` when not implemented.
    """
    sunspec = register_map.kind == "sunspec"
    values: dict[str, float | str | None] = {}
    for name, regs in registers.items():
        point = register_map.points[name]
        sf: int | None = 0
        if point.sf_point is not None:
            sf_regs = registers.get(point.sf_point)
            sf = None if sf_regs is None else int(ModbusTcpClient.convert_from_registers(sf_regs, _DT.INT16))  # type: ignore[arg-type]
        values[name] = decode_point(point, regs, sf=sf, sunspec=sunspec)
    return values
