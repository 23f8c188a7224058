"""The one config loader: every file kind reports a broken field in one line with file, dotted field, allowed values."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel, Field, model_validator

from connectors.controller_map import CONTROLLER_MAP_FILE, load_controller_map
from connectors.maps import load_map
from connectors.site import load_site
from models.district import district_path, load_district
from scenarios.config import load_scenario
from twin.core.config_loader import LocatedError, load_config, read_config, record_fields
from twin.core.errors import ConfigError
from twin.core.yaml_files import parse_yaml

SITE: dict[str, Any] = {"devices": [{"id": "sub", "kind": "substation_meter", "port": 1502, "map": "sunspec_meter"}]}
DEVICE_MAP: dict[str, Any] = {
    "kind": "generic",
    "name": "g",
    "points": [{"name": "e", "address": 0, "data_type": "uint32", "unit": "kWh"}],
}


def _district() -> dict[str, Any]:
    data: dict[str, Any] = parse_yaml(district_path("beucha").read_text(encoding="utf-8"))
    return data


def _controller_map() -> dict[str, Any]:
    data: dict[str, Any] = parse_yaml(CONTROLLER_MAP_FILE.read_text(encoding="utf-8"))
    return data


#: kind -> (loader, a valid document, {broken case: (dotted field, value, text in the message)})
KINDS: dict[str, tuple[Callable[[Path], Any], Callable[[], dict[str, Any]], dict[str, tuple[str, Any, str]]]] = {
    "scenario": (
        load_scenario,
        lambda: {"name": "x"},
        {
            "unknown_field": ("changes.pv.colour", "red", "unknown field 'colour'"),
            "wrong_type": ("seed", "abc", "(got 'abc')"),
            "out_of_range": ("changes.pv.share_frac", 1.5, "1.5 is out of range (allowed: >= 0 and <= 1)"),
            "unknown_enum": ("output", "everything", "(allowed: kpis, grid, full)"),
        },
    ),
    "district": (
        load_district,
        _district,
        {
            "unknown_field": ("location.colour", "red", "unknown field 'colour'"),
            "wrong_type": ("buildings.0.floor_area_m2", "big", "(got 'big')"),
            "out_of_range": ("location.latitude_deg", 100, "100 is out of range (allowed: >= -90 and <= 90)"),
            "unknown_enum": ("buildings.0.type", "castle", "(allowed: SFH, TH, MFH, AB, school"),
        },
    ),
    "site": (
        load_site,
        lambda: copy.deepcopy(SITE),
        {
            "unknown_field": ("defaults.colour", "red", "unknown field 'colour'"),
            "wrong_type": ("devices.0.port", "abc", "(got 'abc')"),
            "out_of_range": ("defaults.timeout_s", 100, "100 is out of range (allowed: > 0 and <= 60)"),
            "unknown_enum": ("devices.0.kind", "windmill", "(allowed: substation_meter, building_meter, pv_inverter"),
        },
    ),
    "device_map": (
        load_map,
        lambda: copy.deepcopy(DEVICE_MAP),
        {
            "unknown_field": ("points.0.colour", "red", "unknown field 'colour'"),
            "wrong_type": ("max_gap", "abc", "(got 'abc')"),
            "out_of_range": ("points.0.address", -1, "-1 is out of range (allowed: >= 0 and <= 65535)"),
            "unknown_enum": ("points.0.data_type", "int128", "(allowed: int16, uint16, int32, uint32"),
        },
    ),
    "controller_map": (
        load_controller_map,
        _controller_map,
        {
            "unknown_field": ("district.colour", "red", "unknown field 'colour'"),
            "wrong_type": ("version", "abc", "(got 'abc')"),
            "out_of_range": ("building.stride", 0, "0 is out of range (allowed: >= 1 and <= 1000)"),
            "unknown_enum": ("district.points.0.data_type", "int128", "(allowed: uint16, int16, uint32, int32"),
        },
    ),
}
CASES = [(kind, case) for kind, (_, _, cases) in KINDS.items() for case in cases]


def _set(data: dict[str, Any], dotted: str, value: Any) -> None:
    node: Any = data
    *parents, last = dotted.split(".")
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


@pytest.mark.parametrize(("kind", "case"), CASES, ids=[f"{kind}-{case}" for kind, case in CASES])
def test_every_file_kind_names_file_field_and_allowed_values(tmp_path: Path, kind: str, case: str) -> None:
    loader, valid, cases = KINDS[kind]
    field, value, text = cases[case]
    data = valid()
    _set(data, field, value)
    path = tmp_path / f"{kind}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        loader(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: {field}: "), message
    assert text in message, message
    assert info.value.exit_code == 2


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_file_kind_accepts_its_valid_document(tmp_path: Path, kind: str) -> None:
    loader, valid, _ = KINDS[kind]
    path = tmp_path / f"{kind}.yaml"
    path.write_text(yaml.safe_dump(valid(), sort_keys=False), encoding="utf-8")
    assert loader(path) is not None


class _Inner(BaseModel, extra="forbid"):
    size: int = Field(default=1, ge=1)


class _Record(BaseModel, extra="forbid"):
    name: str = Field(pattern=r"^[a-z]+$", json_schema_extra={"allowed": "lower-case letters"})
    inner: _Inner = _Inner()
    items: list[_Inner] = Field(default_factory=list)

    @model_validator(mode="after")
    def _free(self) -> _Record:
        if self.name == "taken":
            raise LocatedError(["items", 0], "the name is taken", allowed="another name")
        return self


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "x.yaml: the thing is empty (allowed: keys name, inner, items)"),
        ("[1]", "x.yaml: a thing must be a mapping of keys, got list (allowed: keys name, inner, items)"),
        ("name: a\nname: b\n", "x.yaml: line 2, column 1: duplicate key 'name'"),
        ("name: [\n", "x.yaml: line 2, column 1: malformed YAML: expected the node content"),
        ("inner: {}\n", "x.yaml: name: required field is missing (allowed: fields name; optional inner, items)"),
        ("name: A1\n", "x.yaml: name: 'A1' is not a valid name (allowed: lower-case letters)"),
        ("name: a\nitems: [{size: 0}]\n", "x.yaml: items.0.size: 0 is out of range (allowed: >= 1)"),
        ("name: taken\n", "x.yaml: items.0: the name is taken (allowed: another name)"),
        ("name: a\nitems: 3\n", "x.yaml: items: must be a list (got 3)"),
        ("name: a\ninner: {sise: 2, size: 0}\n", "x.yaml: inner.sise: unknown field 'sise' (and 1 more problem(s))"),
    ],
)
def test_messages_of_the_loader(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "x.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path, _Record, what="thing", file="x.yaml")
    assert str(info.value).startswith(expected), str(info.value)


def test_unreadable_file_names_what_it_is(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"none\.yaml: cannot read the thing: No such file or directory"):
        read_config(tmp_path / "none.yaml", what="thing")


def test_record_fields_lists_required_then_optional() -> None:
    assert record_fields(_Record) == "fields name; optional inner, items"
    assert record_fields(_Record, keys=True) == "keys name, inner, items"
    assert record_fields(int) is None
    assert record_fields(_Inner) == "optional fields size"


def test_an_unknown_key_equal_to_a_literal_value_is_named(tmp_path: Path) -> None:
    # 'per_feeder' is a value of control.signal, not a key of the control block: the key is named
    path = tmp_path / "s.yaml"
    path.write_text("name: x\ncontrol: {per_feeder: true}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_scenario(path)
    expected = f"{path}: control.per_feeder: unknown field 'per_feeder' (allowed: optional fields battery"
    assert str(info.value).startswith(expected), str(info.value)
