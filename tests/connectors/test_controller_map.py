from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
import yaml

from connectors.controller_map import (
    CONTROLLER_MAP_FILE,
    VERSION_ADDRESS,
    format_map,
    load_controller_map,
    map_rows,
)
from twin.core.errors import ConfigError


def test_load_controller_map_builtin_layout() -> None:
    cmap = load_controller_map()
    assert cmap.version >= 1
    version = cmap.district_point("map_version")
    assert (version.offset, version.point.data_type) == (VERSION_ADDRESS, "uint16")
    assert cmap.unit_ids[0] == 1
    assert cmap.building_address(1) == cmap.building_base
    assert cmap.building_address(3, 12) == cmap.building_base + 2 * cmap.building_stride + 12
    assert cmap.building_base >= cmap.district_size
    writable = {cp.name for cp in cmap.district_points + cmap.building_points if cp.point.writable}
    assert writable == {"battery_setpoint_kw", "battery_mode", "flexible_power_kw", "signal_ack"}


def test_load_controller_map_every_point_has_meaning_and_unit_suffix_agrees() -> None:
    for cpoint in load_controller_map().district_points + load_controller_map().building_points:
        assert cpoint.description
        if cpoint.name.endswith("_kw"):
            assert cpoint.point.unit == "kW", cpoint.name
        if cpoint.name.endswith("_percent"):
            assert cpoint.point.unit == "%", cpoint.name


def test_map_rows_cover_both_blocks() -> None:
    rows = map_rows(load_controller_map())
    assert rows[0]["address"] == "0" and rows[0]["name"] == "map_version"
    assert any(row["address"].startswith("B+") for row in rows)
    assert {row["access"].split()[0] for row in rows} == {"read", "read/write"}


@pytest.mark.parametrize("fmt", ["table", "markdown", "csv", "json"])
def test_format_map_formats(fmt: str) -> None:
    text = format_map(load_controller_map(), fmt)  # type: ignore[arg-type]
    assert "battery_setpoint_kw" in text
    if fmt == "json":
        document = json.loads(text)
        assert document["version_address"] == 0
        assert len(document["points"]) == len(map_rows(load_controller_map()))
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(text)))
        assert rows[0]["name"] == "map_version"


def test_readme_register_table_matches_the_map(repo_root: Path) -> None:
    readme = (repo_root / "README.md").read_text(encoding="utf-8")
    table = format_map(load_controller_map(), "markdown")
    assert table in readme, "README's controller register table drifted: paste `twin registers --format markdown`"


def _write_variant(tmp_path: Path, change: object) -> Path:
    raw = yaml.safe_load(CONTROLLER_MAP_FILE.read_text(encoding="utf-8"))
    change(raw)  # type: ignore[operator]
    path = tmp_path / "controller.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def test_load_controller_map_rejects_overlap(tmp_path: Path) -> None:
    def overlap(raw: dict) -> None:
        raw["district"]["points"][-1]["offset"] = 12

    with pytest.raises(ConfigError, match="overlaps"):
        load_controller_map(_write_variant(tmp_path, overlap))


def test_load_controller_map_needs_version_at_address_0(tmp_path: Path) -> None:
    def move(raw: dict) -> None:
        raw["district"]["points"][0]["offset"] = 99

    with pytest.raises(ConfigError, match="map_version"):
        load_controller_map(_write_variant(tmp_path, move))


def test_load_controller_map_rejects_unknown_keys(tmp_path: Path) -> None:
    def extra(raw: dict) -> None:
        raw["district"]["points"][0]["colour"] = "red"

    with pytest.raises(ConfigError, match="colour"):
        load_controller_map(_write_variant(tmp_path, extra))


def test_load_controller_map_writable_needs_range(tmp_path: Path) -> None:
    def no_range(raw: dict) -> None:
        for point in raw["building"]["points"]:
            point.pop("write_range", None)

    with pytest.raises(ConfigError, match="write_range"):
        load_controller_map(_write_variant(tmp_path, no_range))
