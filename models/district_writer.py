"""A district file from a building list or footprints, written and checked like any district file."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from models.building_import import buildings_from_rows, nearest_buses
from models.building_list import read_building_list
from models.district import District, load_district, parse_district
from models.footprints import read_footprints
from twin.core.errors import ConfigError

__all__ = ["ImportedDistrict", "district_yaml", "import_district"]


@dataclass(frozen=True)
class ImportedDistrict:
    """The district written, the fields estimated per building id, and the time it took [s]."""

    district: District
    defaulted: dict[str, tuple[str, ...]]
    seconds: float


def import_district(
    file: str | Path, *, like: str, out: str | Path, name: str | None = None, default_type: str = "SFH"
) -> ImportedDistrict:
    """Read buildings, complete them, write a district file and check it loads.

    Parameters
    ----------
    file : str or pathlib.Path
        A building list (``.csv``, ``.xlsx``) or footprints (``.geojson``, ``.json``).
    like : str
        A district (built-in name or file) whose location, grid and reactive-power settings the
        new district takes; buildings without a bus connect to its nearest bus.
    out : str or pathlib.Path
        The district file to write (the file is replaced only when the new one loads).
    name : str, optional
        The new district's name (default: the list's file name).
    default_type : str
        Building type of footprints whose properties name none.

    Returns
    -------
    ImportedDistrict

    Raises
    ------
    ConfigError
        Naming the file, line or feature and the column.
    """
    started = time.perf_counter()
    source = Path(file)
    template = load_district(like)
    if source.suffix.lower() in (".geojson", ".json"):
        rows = read_footprints(source, default_type=default_type)
    else:
        rows = read_building_list(source)
    imported = buildings_from_rows(rows, file=str(source), buses=nearest_buses(template.net))
    base = template.district
    grid = base.grid.model_dump(mode="json", exclude_none=True)
    for key in ("pandapower_json", "pandapower_excel", "cgmes"):
        if grid.get(key) and not Path(grid[key]).is_absolute():
            grid[key] = str((Path(template.source).parent / grid[key]).resolve())
    data = {
        "name": name or source.stem,
        "description": f"Imported from {source.name} ({len(imported.buildings)} buildings) on the grid of {base.name}.",
        "location": base.location.model_dump(mode="json"),
        "grid": grid,
        "reactive_power": base.reactive_power.model_dump(mode="json"),
        "buildings": [b.model_dump(mode="json", exclude_none=True) for b in imported.buildings],
    }
    district = parse_district(data, file=str(source))
    _write_checked(Path(out), district_yaml(district, source=source.name, defaulted=imported.defaulted))
    return ImportedDistrict(district, dict(imported.defaulted), time.perf_counter() - started)


def district_yaml(district: District, *, source: str, defaulted: Mapping[str, tuple[str, ...]]) -> str:
    """The district as YAML, with a header that says where it came from and what was estimated."""
    n = sum(1 for fields in defaulted.values() if fields)
    header = (
        f"# District imported from {source} by `twin district import`: {len(district.buildings)} buildings,\n"
        f"# {n} with estimated fields (models/building_import.py says how; `twin district import` lists them).\n"
    )
    body: dict[str, Any] = district.model_dump(mode="json", exclude_none=True)
    return header + yaml.safe_dump(body, sort_keys=False, allow_unicode=True, width=120)


def _write_checked(path: Path, text: str) -> None:
    """Write beside ``path``, load it as a district (grid and buses too), then replace ``path``."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".yaml")
    except OSError as err:
        raise ConfigError(f"cannot write the district file: {err.strerror}", file=str(path)) from err
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        load_district(temporary)
        Path(temporary).replace(path)
    except OSError as err:
        raise ConfigError(f"cannot write the district file: {err.strerror}", file=str(path)) from err
    finally:
        Path(temporary).unlink(missing_ok=True)
