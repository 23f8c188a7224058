"""Sweep files: a base scenario and parameters with value lists, expanded into scenarios.

The parameters are dotted paths into the scenario such as ``changes.pv.share_frac``; their
product (``mode: product``) or their zip (``mode: list``) becomes the scenarios, named
``<sweep>-000``, ``<sweep>-001``, ... A sweep file's ``ensemble:`` block (keys of
:mod:`scenarios.ensemble_settings`, over the base scenario's own block) makes every point an
ensemble: each point's scenario carries the block, and ``weather`` swept by test reference year
name becomes the only source year of that point's members. Each problem is one
:class:`~twin.core.errors.ConfigError` naming the file, the parameter and what is allowed.
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Final

from pydantic import ValidationError

from scenarios.records import Scenario, Sweep
from scenarios.scenario_files import (
    SCENARIO_FILE,
    model_in,
    parse_scenario,
    resolve_paths,
    resolve_weather,
    scenario_source,
)
from twin.core.config_loader import config_error, read_config, validate_config
from twin.core.errors import ConfigError
from twin.core.yaml_files import short_repr

__all__ = ["MAX_SWEEP_SCENARIOS", "MAX_SWEEP_VALUES", "expand_sweep", "load_sweep"]

#: What a sweep file is called in messages.
SWEEP_FILE: Final[str] = "sweep file"
#: Most scenarios a sweep may expand to; the count is the product (or zip) of the value lists
#: lengths, checked before any scenario is built.
MAX_SWEEP_SCENARIOS: Final[int] = 10000
#: Most values (keys, list items and scalars) all scenarios of a sweep may hold together,
#: checked with the count before any scenario is built.
MAX_SWEEP_VALUES: Final[int] = 2_000_000


def load_sweep(path: str | Path) -> tuple[Sweep, list[Scenario]]:
    """Read a sweep file and expand it into scenarios.

    Returns
    -------
    sweep : Sweep
    scenarios : list of Scenario
        Named ``<sweep>-000``, ``<sweep>-001``, ... in expansion order.

    Raises
    ------
    ConfigError
        For a bad sweep file or a parameter value that makes a bad scenario.
    """
    source = scenario_source(path)
    file = str(path)
    sweep: Sweep = validate_config(read_config(source, what=SWEEP_FILE), Sweep, file=file, what=SWEEP_FILE)
    return sweep, expand_sweep(sweep, file=file, base=source.parent)


def expand_sweep(sweep: Sweep, *, file: str, base: Path) -> list[Scenario]:
    """Turn a sweep into its scenarios (product or zip of the parameter values)."""
    if isinstance(sweep.base, dict):
        base_data = resolve_paths(sweep.base, base, file=file)
        base_file = file
    else:
        candidate = base / sweep.base
        source = candidate if candidate.is_file() else scenario_source(sweep.base)
        base_data = resolve_paths(read_config(source, what=SCENARIO_FILE), source.parent, file=str(source))
        base_file = str(source)
    parse_scenario(base_data, file=base_file)  # the base must be valid on its own
    block = _ensemble_block(sweep, base_data, file=file)
    paths = list(sweep.parameters)
    values = [sweep.parameters[p] for p in paths]
    for path, options in zip(paths, values, strict=True):
        _check_parameter(path, options, file=file, ensemble=block is not None)
        if path == "weather":
            values[paths.index(path)] = options = [
                resolve_weather(v, base, file=file, field=f"parameters.weather.{i}") if isinstance(v, str) else v
                for i, v in enumerate(options)
            ]
    if sweep.mode == "list":
        lengths = {len(v) for v in values}
        if len(lengths) > 1:
            raise ConfigError(
                f"mode list needs value lists of equal length, got {sorted(lengths)}",
                file=file,
                field="parameters",
                allowed="equal lengths, or mode: product",
            )
        count = len(values[0])
        combos: Iterable[tuple[Any, ...]] = zip(*values, strict=True)
    else:
        count = math.prod(len(v) for v in values)
        combos = itertools.product(*values)
    if count > MAX_SWEEP_SCENARIOS:
        raise ConfigError(
            f"{count} scenarios is too many", file=file, field="parameters", allowed=f"<= {MAX_SWEEP_SCENARIOS}"
        )
    size = _value_count(base_data) + sum(max(_value_count(v) for v in options) for options in values)
    if count * size > MAX_SWEEP_VALUES:
        raise ConfigError(
            f"{count} scenarios of up to {size} values each is too much",
            file=file,
            field="parameters",
            allowed=f"<= {MAX_SWEEP_VALUES} values in all: fewer scenarios or a smaller base",
        )
    scenarios = []
    for number, combo in enumerate(combos):
        data = copy.deepcopy(base_data)
        for path, value in zip(paths, combo, strict=True):
            _set_path(data, path, value, file=file)
        if block is not None:
            data["ensemble"] = _point_block(block, paths, combo)
        data["name"] = f"{sweep.name}-{number:03d}"
        labels = ", ".join(f"{_short_path(p)}={_compact(v)}" for p, v in zip(paths, combo, strict=True))
        data["description"] = f"{sweep.name}: {labels}"[:500]
        try:
            scenarios.append(Scenario.model_validate(data))
        except ValidationError as err:
            error = config_error(err, Scenario, file=file)
            raise ConfigError(
                f"{labels[:200]}: {error.message}",
                file=file,
                field=f"parameters ({error.field})",
                allowed=error.allowed,
            ) from None
    return scenarios


def _check_parameter(path: str, options: list[Any], *, file: str, ensemble: bool) -> None:
    """A swept parameter must name a field a sweep may vary and have values."""
    if not options:
        raise ConfigError("needs at least one value", file=file, field=f"parameters.{path}")
    _check_path(path, file=file)
    if path.split(".")[0] in ("name", "district", "year", "ensemble"):
        raise ConfigError(
            "a sweep varies changes, control, factors, costs, period, seed, weather or output;"
            " not name, district or year",
            file=file,
            field=f"parameters.{path}",
        )
    if path == "weather" and ensemble:
        from models.weather_years import REFERENCE_YEARS

        for number, value in enumerate(options):
            if value not in REFERENCE_YEARS:
                raise ConfigError(
                    f"{_compact(value)!r}: an ensemble sweep varies its members' weather by test reference year",
                    file=file,
                    field=f"parameters.weather.{number}",
                    allowed=", ".join(REFERENCE_YEARS),
                )


def _ensemble_block(sweep: Sweep, base_data: dict[str, Any], *, file: str) -> dict[str, Any] | None:
    """The ensemble block of every point: the base's, with the sweep's keys over it; checked here."""
    base_block = base_data.get("ensemble")
    if sweep.ensemble is None and base_block is None:
        return None
    from scenarios.ensemble_settings import ensemble_settings

    block = dict(base_block or {}) if isinstance(base_block, dict) else {}
    for key, value in (sweep.ensemble or {}).items():
        if key == "parameters" and isinstance(value, dict) and isinstance(block.get(key), dict):
            value = {**block[key], **value}
        block[key] = value
    ensemble_settings(block, file=file)
    return block


def _point_block(block: dict[str, Any], paths: list[str], combo: tuple[Any, ...]) -> dict[str, Any]:
    """A point's ensemble block: a swept weather year becomes its members' only source year."""
    point = copy.deepcopy(block)
    if "weather" in paths:
        from models.weather_years import REFERENCE_YEARS, reference_year_path
        from scenarios.ensemble_settings import default_settings_path

        names = {str(reference_year_path(name)): name for name in REFERENCE_YEARS}
        value = combo[paths.index("weather")]
        if not isinstance(point.get("weather"), dict):
            point["weather"] = read_config(default_settings_path(), what="ensemble file")["weather"]
        point["weather"] = {**point["weather"], "years": [names.get(value, value)]}
    return point


def _value_count(data: Any) -> int:
    """Keys, list items and scalars in parsed YAML, shared parts counted at every use."""
    count, stack = 0, [data]
    while stack:
        item = stack.pop()
        count += 1
        if isinstance(item, dict):
            count += len(item)
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
        if count > MAX_SWEEP_VALUES:
            break
    return count


def _short_path(path: str) -> str:
    """A parameter's label: its path without the leading ``changes.`` (``pv.share_frac``)."""
    return path.removeprefix("changes.")


def _compact(value: Any) -> str:
    """A parameter value in a label, at most 60 characters."""
    if isinstance(value, dict):
        text = "/".join(_compact(v) for v in itertools.islice(value.values(), 8))
        return text if len(text) <= 60 else text[:57] + "..."
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if value is None:
        return "none"
    return value[:60] if isinstance(value, str) else short_repr(value)


def _check_path(path: str, *, file: str) -> None:
    """A parameter path must name a field of the scenario through its blocks."""
    current: Any = Scenario
    parts = path.split(".")
    for depth, part in enumerate(parts):
        fields = current.model_fields
        if part not in fields:
            raise ConfigError(
                f"unknown field {part!r}", file=file, field=f"parameters.{path}", allowed="fields " + ", ".join(fields)
            )
        current = model_in(fields[part].annotation)
        if current is None and depth < len(parts) - 1:
            raise ConfigError(f"{part!r} is not a block of the scenario", file=file, field=f"parameters.{path}")


def _set_path(data: dict[str, Any], path: str, value: Any, *, file: str) -> None:
    parts = path.split(".")
    node: Any = data
    for part in parts[:-1]:
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise ConfigError(f"{part!r} is not a block of the scenario", file=file, field=f"parameters.{path}")
        node = child
    node[parts[-1]] = value
