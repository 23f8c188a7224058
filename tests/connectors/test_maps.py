from __future__ import annotations

from pathlib import Path

import pytest

from connectors.maps import SUNSPEC_BASE_ADDRESS, builtin_map_names, load_map, sunspec_model_points
from twin.core.errors import ConfigError

# Model lengths and point offsets from the model start (ID at +0), as measured in FIELD-NOTES.
MODEL_LENGTHS = {1: 66, 103: 50, 203: 105, 124: 24, 701: 153, 802: 62}
OFFSETS_103 = {
    "A": 2,
    "A_SF": 6,
    "PhVphA": 10,
    "V_SF": 13,
    "W": 14,
    "W_SF": 15,
    "Hz": 16,
    "Hz_SF": 17,
    "WH": 24,
    "WH_SF": 26,
    "St": 38,
}
OFFSETS_203 = {"W": 18, "W_SF": 22, "TotWhExp": 38, "TotWhImp": 46, "TotWh_SF": 54}
SDM630 = {
    "v_l1": 0x00,
    "v_l2": 0x02,
    "v_l3": 0x04,
    "i_l1": 0x06,
    "p_l1": 0x0C,
    "p_total": 0x34,
    "va_total": 0x38,
    "var_total": 0x3C,
    "pf_total": 0x3E,
    "frequency": 0x46,
    "energy_import": 0x48,
    "energy_export": 0x4A,
    "energy_total": 0x156,
}


@pytest.mark.parametrize("name", builtin_map_names())
def test_load_map_builtin(name: str) -> None:
    register_map = load_map(name)
    assert register_map.name == name
    assert register_map.quantities
    for quantity in register_map.quantities.values():
        assert quantity.point in register_map.points


def test_load_map_sunspec_layout_matches_field_notes() -> None:
    meter = load_map("sunspec_meter")
    assert meter.points["SunS"].address == SUNSPEC_BASE_ADDRESS
    assert meter.static["SunS"] == 0x53756E53
    start_1 = SUNSPEC_BASE_ADDRESS + 2
    start_203 = start_1 + 2 + MODEL_LENGTHS[1]
    assert meter.points["1.ID"].address == start_1
    assert meter.points["203.ID"].address == start_203
    assert meter.static["203.L"] == MODEL_LENGTHS[203]
    for point, offset in OFFSETS_203.items():
        assert meter.points[f"203.{point}"].address == start_203 + offset, point
    assert meter.points["end.ID"].address == start_203 + 2 + MODEL_LENGTHS[203]
    inverter = load_map("sunspec_inverter")
    start_103 = start_1 + 2 + MODEL_LENGTHS[1]
    for point, offset in OFFSETS_103.items():
        assert inverter.points[f"103.{point}"].address == start_103 + offset, point
    assert inverter.points["103.WH"].data_type == "acc32"
    assert inverter.points["103.W"].sf_point == "103.W_SF"


@pytest.mark.parametrize("model_id", sorted(MODEL_LENGTHS))
def test_sunspec_model_points_length(model_id: int) -> None:
    points = sunspec_model_points(model_id)
    assert sum(int(point.get("size", 1)) for point in points) - 2 == MODEL_LENGTHS[model_id]


def test_load_map_battery_models_in_order() -> None:
    battery = load_map("sunspec_battery_701")
    assert battery.models == (1, 701, 802)
    assert battery.points["701.ID"].address < battery.points["802.ID"].address
    assert battery.static["802.L"] == MODEL_LENGTHS[802]


def test_load_map_signs_declared_in_the_map() -> None:
    # device frames: 103/701 W > 0 generating or discharging; 203 W > 0 import; SDM630 P > 0 import
    assert load_map("sunspec_inverter").quantities["p_kw"].factor == pytest.approx(-1e-3)
    assert load_map("sunspec_battery").quantities["p_kw"].factor == pytest.approx(-1e-3)
    assert load_map("sunspec_meter").quantities["p_meter_kw"].factor == pytest.approx(1e-3)
    assert load_map("sdm630").quantities["p_kw"].factor == pytest.approx(1e-3)
    assert load_map("community_battery").quantities["p_setpoint_kw"].factor == pytest.approx(-1e-3)


def test_load_map_sdm630_addresses() -> None:
    sdm = load_map("sdm630")
    for point, address in SDM630.items():
        assert sdm.points[point].address == address
        assert sdm.points[point].register == "input"
        assert sdm.points[point].data_type == "float32"
        assert sdm.points[point].word_order == "big"


GOOD_GENERIC = """kind: generic
name: test
points:
  - {name: e, address: 0, data_type: uint32, unit: kWh}
quantities:
  energy_import_kwh: {point: e, counter: true}
"""


@pytest.mark.parametrize(
    ("text", "field", "match"),
    [
        (
            GOOD_GENERIC.replace("kind: generic", "kind: modbus"),
            "kind",
            r"'modbus' is not allowed \(allowed: sunspec, generic\)",
        ),
        (GOOD_GENERIC + "colour: red\n", "colour", "unknown field 'colour'"),
        (
            GOOD_GENERIC.replace("address: 0", "address: -1"),
            "points.0.address",
            r"-1 is out of range \(allowed: >= 0 and <= 65535\)",
        ),
        (
            GOOD_GENERIC.replace("uint32", "int128"),
            "points.0.data_type",
            r"'int128' is not allowed \(allowed: .*uint32",
        ),
        (GOOD_GENERIC.replace("{point: e,", "{point: x,"), "quantities.energy_import_kwh.point", "unknown point"),
        (GOOD_GENERIC.replace("energy_import_kwh:", "energy_import:"), "quantities.energy_import", "unit suffix"),
        (GOOD_GENERIC.replace("unit: kWh", "unit: m3"), "quantities.energy_import_kwh", "cannot convert"),
        (GOOD_GENERIC.replace("unit: kWh}", "unit: kWh, write_range: [0, 1]}"), "points.0.write_range", "writable"),
        ("kind: sunspec\nname: s\nmodels: [1, 99999]\n", "models.1", "not defined in pysunspec2"),
        ("kind: sunspec\nname: s\nmodels: [1, 103]\nstatic: {103.Watts: 1}\n", "static.103.Watts", "unknown point"),
        (
            "kind: sunspec\nname: s\nmodels: [1, 103]\nderived: {103.A: amps}\n",
            "derived.103.A",
            "'amps' is not allowed",
        ),
        (
            "kind: sunspec\nname: s\nmodels: [1, 103]\nderived: {103.W: dc_power_w}\n"
            "quantities: {p_kw: {point: 103.W, positive_is: generation}}\n",
            "derived.103.W",
            "cannot derive",
        ),
        ("- just a list\n", None, "mapping"),
        ("kind: [unclosed\n", None, "malformed YAML"),
    ],
)
def test_load_map_bad_file(tmp_path: Path, text: str, field: str | None, match: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=match) as info:
        load_map(path)
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message
    if field is not None:
        assert info.value.field == field


def test_load_map_overlapping_points(tmp_path: Path) -> None:
    path = tmp_path / "overlap.yaml"
    path.write_text(GOOD_GENERIC.replace("quantities:", "  - {name: f, address: 1}\nquantities:"), encoding="utf-8")
    with pytest.raises(ConfigError, match="overlaps e") as info:
        load_map(path)
    assert info.value.field == "points.1.address"


def test_load_map_unknown_name() -> None:
    with pytest.raises(ConfigError, match=r"unknown register map .sdm999.*allowed: .*sdm630"):
        load_map("sdm999")
