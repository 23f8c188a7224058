"""Scenario files: find a built-in or a file, read its YAML, validate it with one-line errors.

Every problem of a file - malformed YAML, an unknown or missing key, a value out of range, a
step other than 15 min, a period outside the year - is one
:class:`~twin.core.errors.ConfigError` naming the file, the dotted field and what is allowed
(:func:`config_error`). The district and weather paths are resolved against the scenario
file's folder.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any, Final, get_args

import yaml
from pydantic import BaseModel, ValidationError

from models.district import BUILT_IN_DISTRICTS, load_district
from scenarios.records import LocatedError, Scenario
from twin.core.errors import ConfigError
from twin.core.yaml_files import YamlLimitError, parse_yaml, short_repr

__all__ = [
    "builtin_path",
    "builtin_scenarios",
    "check_districts",
    "config_error",
    "is_sweep_file",
    "load_scenario",
    "model_in",
    "parse_scenario",
    "read_yaml",
    "resolve_paths",
    "scenario_source",
]

_BUILTIN_PACKAGE: Final[str] = "scenarios"
_BUILTIN_FOLDER: Final[str] = "builtin"


def builtin_path(name: str) -> Path | None:
    """Return the file of a built-in scenario or sweep, or None."""
    path = Path(str(resources.files(_BUILTIN_PACKAGE).joinpath(_BUILTIN_FOLDER, f"{name}.yaml")))
    return path if path.is_file() else None


def builtin_scenarios() -> dict[str, str]:
    """Return built-in scenario and sweep names with their one-line description."""
    folder = Path(str(resources.files(_BUILTIN_PACKAGE).joinpath(_BUILTIN_FOLDER)))
    out = {}
    for path in sorted(folder.glob("*.yaml")):
        data = parse_yaml(path.read_text(encoding="utf-8")) or {}
        kind = "sweep" if "parameters" in data else "scenario"
        out[path.stem] = f"[{kind}] " + " ".join(str(data.get("description", "")).split())
    return out


def scenario_source(name_or_path: str | Path) -> Path:
    """Resolve a built-in name or a file path to a file.

    Raises
    ------
    ConfigError
        If it is neither.
    """
    text = str(name_or_path)
    path = Path(text)
    if path.is_file():
        return path
    builtin = builtin_path(text)
    if builtin is not None:
        return builtin
    raise ConfigError(
        f"no scenario file {text!r} and no built-in scenario of that name",
        file=text,
        allowed="a file or one of " + ", ".join(builtin_scenarios()),
    )


def check_districts(scenarios: Iterable[Scenario], *, file: str) -> None:
    """Load each district file the scenarios name as a run does: YAML, schema, grid and buses.

    Parameters
    ----------
    scenarios : iterable of Scenario
        Scenarios read from ``file``.
    file : str
        The scenario or sweep file, for messages.

    Raises
    ------
    ConfigError
        ``FILE: district: <the district file's own one-line error>``.
    """
    for district in sorted({s.district for s in scenarios if s.district not in BUILT_IN_DISTRICTS}):
        try:
            load_district(district)
        except ConfigError as err:
            raise ConfigError(str(err), file=file, field="district") from None


def is_sweep_file(path: Path) -> bool:
    """True when a YAML file has a ``parameters`` key (a sweep)."""
    data = read_yaml(path)
    return isinstance(data, dict) and "parameters" in data


def load_scenario(name_or_path: str | Path) -> Scenario:
    """Read and validate a scenario file or built-in scenario.

    The district and weather paths are resolved against the scenario file's folder.

    Raises
    ------
    ConfigError
        One line: file, dotted field, allowed values.
    """
    path = scenario_source(name_or_path)
    return parse_scenario(read_yaml(path), file=str(name_or_path), base=path.parent)


def parse_scenario(data: Any, *, file: str, base: Path | None = None) -> Scenario:
    """Validate parsed YAML as a scenario (paths resolved against ``base``)."""
    if not isinstance(data, dict):
        raise ConfigError(
            f"a scenario file must be a mapping of keys, got {type(data).__name__}",
            file=file,
            allowed="keys " + ", ".join(Scenario.model_fields),
        )
    data = resolve_paths(data, base, file=file)
    try:
        return Scenario.model_validate(data)
    except ValidationError as err:
        raise config_error(err, Scenario, file=file) from None


def read_yaml(path: Path) -> Any:
    """Parse a YAML file; unreadable, malformed or empty is a :class:`ConfigError`."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"cannot read the file: {err}", file=str(path)) from None
    try:
        data = parse_yaml(text)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        kind = "" if isinstance(err, YamlLimitError) else "malformed YAML: "
        raise ConfigError(f"{where}{kind}{err.problem or err.context}", file=str(path)) from None
    except yaml.YAMLError as err:
        raise ConfigError(f"malformed YAML: {err}", file=str(path)) from None
    if data is None:
        raise ConfigError("the file is empty", file=str(path), allowed="keys " + ", ".join(Scenario.model_fields))
    return data


def resolve_paths(data: Any, base: Path | None, *, file: str) -> Any:
    """Make the district and weather paths absolute (relative to the scenario file)."""
    if not isinstance(data, dict) or base is None:
        return data
    data = dict(data)
    district = data.get("district")
    if isinstance(district, str) and district not in BUILT_IN_DISTRICTS:
        allowed = "a built-in district (" + ", ".join(BUILT_IN_DISTRICTS) + ") or a district file"
        data["district"] = _existing_file(district, base, file=file, field="district", allowed=allowed)
    weather = data.get("weather")
    if isinstance(weather, str):
        allowed = "a DWD TRY .dat, EPW, TMY3 .csv or PVGIS .json file, or null for the embedded TRY2010"
        data["weather"] = _existing_file(weather, base, file=file, field="weather", allowed=allowed)
    return data


def _existing_file(value: str, base: Path, *, file: str, field: str, allowed: str) -> str:
    """``value`` as an absolute path (relative to ``base``) to a file that exists, or a one-line error."""
    path = Path(value) if Path(value).is_absolute() else base / value
    if not path.is_file():
        raise ConfigError(f"{field} file {value!r} not found", file=file, field=field, allowed=allowed)
    return str(path.resolve())


def config_error(err: ValidationError, model: type[BaseModel], *, file: str) -> ConfigError:
    """Turn the first pydantic error into one line: file, dotted field, allowed values."""
    errors = err.errors(include_url=False)
    first = min(errors, key=lambda e: e["type"] != "extra_forbidden")
    loc: list[Any] = [part for part in first["loc"] if not str(part).startswith("function-")]
    kind, ctx = first["type"], first.get("ctx") or {}
    cause = ctx.get("error")
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    allowed: str | None = None
    if isinstance(cause, LocatedError):
        loc, message, allowed = loc + cause.loc, cause.message, cause.allowed
    elif kind == "missing":
        message, allowed = "required field is missing", _fields(model, loc[:-1])
    elif kind == "extra_forbidden":
        message, allowed = f"unknown field {loc[-1]!r}", _fields(model, loc[:-1])
    elif kind == "literal_error":
        message, allowed = f"{short_repr(first['input'])} is not allowed", str(ctx.get("expected", "")).replace("'", "")
    elif kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        message = f"{short_repr(first['input'])} is out of range"
        allowed = " and ".join(f"{sym} {ctx[key]}" for key, sym in _BOUNDS if key in ctx)
    elif kind == "string_pattern_mismatch":
        message, allowed = f"{short_repr(first['input'])} is not a valid name", "letters, digits, '_', '.', '-'"
    elif isinstance(cause, Exception):
        message = str(cause)
    else:
        message = f"{first['msg']} (got {short_repr(first.get('input'))})"
    field = ".".join(str(part) for part in loc if not str(part).startswith(("literal[", "dict[", "str")))
    return ConfigError(message + more, file=file, field=field or None, allowed=allowed)


_BOUNDS: Final[tuple[tuple[str, str], ...]] = (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"))


def _fields(model: type[BaseModel], loc: list[Any]) -> str:
    current: Any = model
    for part in loc:
        fields = getattr(current, "model_fields", None)
        if not fields or part not in fields:
            return ""
        current = model_in(fields[part].annotation)
    fields = getattr(current, "model_fields", None)
    return "fields " + ", ".join(fields) if fields else ""


def model_in(annotation: Any) -> Any:
    """The pydantic record inside a field's annotation (``PvChange | None`` -> ``PvChange``), or None."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = model_in(arg)
        if found is not None:
            return found
    return None
