"""Scenario files: find a built-in or a file, read its YAML, validate it with one-line errors.

Every problem of a file - malformed YAML, an unknown or missing key, a value out of range, a
step other than 15 min, a period outside the year - is one
:class:`~twin.core.errors.ConfigError` naming the file, the dotted field and what is allowed
(:func:`twin.core.config_loader.load_config`). The district and weather paths are resolved against the scenario
file's folder.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any, Final, get_args

from pydantic import BaseModel

from models.district import BUILT_IN_DISTRICTS, load_district
from scenarios.records import Scenario
from twin.core.config_loader import read_config, validate_config
from twin.core.errors import ConfigError
from twin.core.yaml_files import parse_yaml

__all__ = [
    "SCENARIO_FILE",
    "builtin_path",
    "builtin_scenarios",
    "check_districts",
    "is_sweep_file",
    "load_scenario",
    "model_in",
    "parse_scenario",
    "resolve_paths",
    "scenario_source",
]

#: What a scenario file is called in messages.
SCENARIO_FILE: Final[str] = "scenario file"
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
    data = read_config(path, what=SCENARIO_FILE)
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
    data = read_config(path, what=SCENARIO_FILE)
    return parse_scenario(data, file=str(name_or_path), base=path.parent)


def parse_scenario(data: Any, *, file: str, base: Path | None = None) -> Scenario:
    """Validate parsed YAML as a scenario (paths resolved against ``base``)."""
    scenario: Scenario = validate_config(resolve_paths(data, base, file=file), Scenario, file=file, what=SCENARIO_FILE)
    return scenario


def resolve_paths(data: Any, base: Path | None, *, file: str) -> Any:
    """Make the district, weather and calibration paths absolute (relative to the scenario file)."""
    if not isinstance(data, dict) or base is None:
        return data
    data = dict(data)
    district = data.get("district")
    if isinstance(district, str) and district not in BUILT_IN_DISTRICTS:
        allowed = "a built-in district (" + ", ".join(BUILT_IN_DISTRICTS) + ") or a district file"
        data["district"] = _existing_file(district, base, file=file, field="district", allowed=allowed)
    weather = data.get("weather")
    if isinstance(weather, str):
        data["weather"] = resolve_weather(weather, base, file=file, field="weather")
    calibration = data.get("calibration")
    if isinstance(calibration, str):
        allowed = "a calibration file written by twin calibrate"
        data["calibration"] = _existing_file(calibration, base, file=file, field="calibration", allowed=allowed)
    return data


def resolve_weather(weather: str, base: Path, *, file: str, field: str) -> str:
    """A weather file (relative to ``base``) or a test reference year's name, as an absolute path."""
    from models.weather_years import REFERENCE_YEARS, reference_year_path

    if weather in REFERENCE_YEARS:
        return str(reference_year_path(weather))
    allowed = "a DWD TRY .dat, EPW, TMY3 .csv or PVGIS .json file, or " + ", ".join(REFERENCE_YEARS)
    return _existing_file(weather, base, file=file, field=field, allowed=allowed)


def _existing_file(value: str, base: Path, *, file: str, field: str, allowed: str) -> str:
    """``value`` as an absolute path (relative to ``base``) to a file that exists, or a one-line error."""
    path = Path(value) if Path(value).is_absolute() else base / value
    if not path.is_file():
        raise ConfigError(f"{field} file {value!r} not found", file=file, field=field, allowed=allowed)
    return str(path.resolve())


def model_in(annotation: Any) -> Any:
    """The pydantic record inside a field's annotation (``PvChange | None`` -> ``PvChange``), or None."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = model_in(arg)
        if found is not None:
            return found
    return None
