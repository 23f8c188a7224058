from __future__ import annotations

import pytest
from pymodbus.client import ModbusTcpClient

from connectors.codec import (
    decode_point,
    decode_quantity,
    encode_point,
    encode_quantity,
    not_implemented_registers,
    point_values,
)
from connectors.maps import Point, load_map


def _point(data_type: str, size: int, **kwargs: object) -> Point:
    return Point("x", "holding", 0, data_type, size, **kwargs)


@pytest.mark.parametrize("word_order", ["big", "little"])
@pytest.mark.parametrize(
    ("data_type", "size", "value", "scale"),
    [
        ("int16", 1, -1234.0, 1.0),
        ("uint16", 1, 65534.0, 1.0),
        ("int32", 2, -123456.7, 0.1),
        ("uint32", 2, 4_000_000_000.0, 1.0),
        ("int64", 4, -9_000_000_000_000.0, 1.0),
        ("uint64", 4, 1_780_000_000_123.0, 0.001),
        ("float32", 2, 229.875, 1.0),
        ("float64", 4, 1234.56789012345, 1.0),
    ],
)
def test_encode_point_round_trip_generic(
    data_type: str, size: int, value: float, scale: float, word_order: str
) -> None:
    point = _point(data_type, size, scale=scale, word_order=word_order)
    registers = encode_point(point, value)
    assert len(registers) == size
    assert all(0 <= reg <= 0xFFFF for reg in registers)
    assert decode_point(point, registers) == pytest.approx(value, rel=1e-12, abs=scale / 2)


def test_encode_point_word_order_is_pymodbus_convention() -> None:
    big = encode_point(_point("uint32", 2), 0x12345678)
    little = encode_point(_point("uint32", 2, word_order="little"), 0x12345678)
    assert big == [0x1234, 0x5678]
    assert little == [0x5678, 0x1234]
    float_regs = encode_point(_point("float32", 2), 1.0)
    assert float_regs == ModbusTcpClient.convert_to_registers(1.0, ModbusTcpClient.DATATYPE.FLOAT32) == [0x3F80, 0]


@pytest.mark.parametrize(("value", "sf"), [(-3210.0, 0), (12.34, -2), (327_600.0, 1), (0.0, -3)])
def test_encode_point_sunspec_scale_factor(value: float, sf: int) -> None:
    point = _point("int16", 1, sf_point="sf")
    registers = encode_point(point, value, sf=sf, sunspec=True)
    assert decode_point(point, registers, sf=sf, sunspec=True) == pytest.approx(value)


@pytest.mark.parametrize(
    ("data_type", "size", "registers"),
    [
        ("int16", 1, [0x8000]),
        ("uint16", 1, [0xFFFF]),
        ("enum16", 1, [0xFFFF]),
        ("int32", 2, [0x8000, 0]),
        ("uint32", 2, [0xFFFF, 0xFFFF]),
        ("acc32", 2, [0, 0]),
        ("uint64", 4, [0xFFFF] * 4),
        ("float32", 2, [0x7FC0, 0]),
        ("string", 4, [0, 0, 0, 0]),
    ],
)
def test_decode_point_sunspec_not_implemented(data_type: str, size: int, registers: list[int]) -> None:
    point = _point(data_type, size)
    assert decode_point(point, registers, sunspec=True) is None
    assert not_implemented_registers(point, sunspec=True) == registers


def test_decode_point_scale_factor_not_implemented() -> None:
    point = _point("int16", 1, sf_point="sf")
    assert decode_point(point, [100], sf=-0x8000, sunspec=True) is None
    assert decode_point(point, [100], sf=None, sunspec=True) is None
    assert decode_point(point, [100], sf=16_000, sunspec=True) is None  # a lying device: no overflow, no value
    assert decode_point(point, [100], sf=-11, sunspec=True) is None
    assert decode_point(point, [100], sf=10, sunspec=True) == pytest.approx(1e12)


@pytest.mark.parametrize(("data_type", "value", "sf"), [("int16", 40_000.0, 0), ("uint16", -1.0, 0), ("int16", 1e9, 2)])
def test_encode_point_overflow_or_sentinel_raises(data_type: str, value: float, sf: int) -> None:
    with pytest.raises(ValueError, match="widen the scale"):
        encode_point(_point(data_type, 2 if data_type == "acc32" else 1), value, sf=sf, sunspec=True)


def test_encode_point_string_round_trip() -> None:
    point = _point("string", 8)
    assert decode_point(point, encode_point(point, "Beucha 1")) == "Beucha 1"
    with pytest.raises(ValueError, match="longer than 16 bytes"):
        encode_point(point, "x" * 17)


def test_encode_quantity_load_positive_at_the_boundary() -> None:
    inverter = load_map("sunspec_inverter")
    point, registers = encode_quantity(inverter, "p_kw", -3.2)  # generating 3.2 kW
    assert point.name == "103.W"
    assert decode_point(point, registers, sunspec=True) == pytest.approx(3200.0)  # device: W > 0 generating
    assert decode_quantity(inverter.quantities["p_kw"], 3200.0) == pytest.approx(-3.2)
    meter = load_map("sunspec_meter")
    assert decode_quantity(meter.quantities["p_meter_kw"], 1500.0) == pytest.approx(1.5)  # 203: import > 0
    battery = load_map("community_battery")
    point, registers = encode_quantity(battery, "p_setpoint_kw", 50.0)  # charge 50 kW
    assert decode_point(point, registers) == pytest.approx(-50_000.0)  # device: discharge > 0


def test_point_values_sunspec_scale_factors_from_the_same_read() -> None:
    inverter = load_map("sunspec_inverter")
    registers = {
        "103.W": [1234],
        "103.W_SF": [ModbusTcpClient.convert_to_registers(-1, ModbusTcpClient.DATATYPE.INT16)[0]],
    }
    values = point_values(inverter, registers)
    assert values["103.W"] == pytest.approx(123.4)
    assert values["103.W_SF"] == -1.0
    assert point_values(inverter, {"103.W": [1234]})["103.W"] is None  # scale factor not read


def test_encode_point_sunspec_accumulator_zero_is_not_implemented() -> None:
    with pytest.raises(ValueError, match="start it above 0"):
        encode_point(_point("acc32", 2), 0.4, sunspec=True)
