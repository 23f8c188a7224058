"""Scenario and sweep files: the YAML schema a planner writes, validated with one-line errors.

A **scenario file** names the district (a built-in name or a district file relative
to the scenario file), the weather, the calendar year and period, the step (15 min),
the seed, the output level and the changes against the district as it is today:
PV on roofs, home batteries, a community battery, heat pumps replacing gas boilers,
retrofits, EVs and chargers, grid reinforcements and a feed-in limit; then the CO2
and primary-energy factors and the prices and investment costs of the cost KPI.

A **sweep file** names a base scenario and parameters - dotted paths into the
scenario such as ``changes.pv.share_frac`` - with lists of values; their product
(``mode: product``) or their zip (``mode: list``) becomes the scenarios.

Every problem of a file - malformed YAML, an unknown or missing key, a value out of
range, a step other than 15 min, a period outside the year - is one
:class:`~twin.core.errors.ConfigError` naming the file, the dotted field and what is
allowed. The models are pydantic v2, frozen, unknown keys rejected.
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any, Final, Literal, get_args

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from models.district import BUILT_IN_DISTRICTS, load_district
from twin.core.errors import ConfigError
from twin.core.vocabulary import STEP_FREQ, STEP_MIN
from twin.core.yaml_files import YamlLimitError, parse_yaml, short_repr

__all__ = [
    "MAX_SWEEP_SCENARIOS",
    "MAX_SWEEP_VALUES",
    "OUTPUT_LEVELS",
    "BatteryStrategy",
    "CommunityBatteryChange",
    "Costs",
    "EvChange",
    "Factors",
    "FeedInLimit",
    "GridChange",
    "HeatPumpChange",
    "HomeBatteryChange",
    "OutputLevel",
    "PvChange",
    "RetrofitChange",
    "Scenario",
    "ScenarioChanges",
    "Sweep",
    "builtin_path",
    "builtin_scenarios",
    "check_districts",
    "expand_sweep",
    "is_sweep_file",
    "load_scenario",
    "load_sweep",
    "parse_scenario",
    "scenario_source",
]

OutputLevel = Literal["kpis", "grid", "full"]
#: What ``result.nc`` holds: ``kpis`` (KPIs and the substation), ``grid`` (plus every bus
#: and branch), ``full`` (plus every asset and meter).
OUTPUT_LEVELS: Final[tuple[str, ...]] = get_args(OutputLevel)
BatteryStrategy = Literal["self_consumption", "peak_shaving"]
#: Most scenarios a sweep may expand to; the count is the product (or zip) of the value lists
#: lengths, checked before any scenario is built.
MAX_SWEEP_SCENARIOS: Final[int] = 10000
#: Most values (keys, list items and scalars) all scenarios of a sweep may hold together,
#: checked with the count before any scenario is built.
MAX_SWEEP_VALUES: Final[int] = 2_000_000
_BUILTIN_PACKAGE: Final[str] = "scenarios"
_BUILTIN_FOLDER: Final[str] = "builtin"


class _Config(BaseModel):
    """Base of every scenario record: unknown keys rejected, frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class PvChange(_Config):
    """PV on roofs: every suitable face of the chosen buildings, sized from its usable area.

    Suitable faces are flat or face east to west (:mod:`models.building_estimates`);
    kWp = area x usable share / m2 per kWp (5.5 pitched, 8 flat). Faces that carry PV
    today keep it.
    """

    share_frac: float = Field(default=1.0, ge=0, le=1, description="Share of buildings with a suitable roof. [1]")
    buildings: tuple[str, ...] = Field(default=(), description="Building ids; overrides share_frac when given.")
    usable_frac: float | None = Field(default=None, gt=0, le=1, description="Overrides each roof's usable share. [1]")
    min_kwp: float = Field(default=1.0, ge=0, le=100, description="Smallest system worth building. [kWp]")


class HomeBatteryChange(_Config):
    """Home batteries in buildings with PV that have none (self-consumption dispatch)."""

    share_frac: float = Field(default=1.0, ge=0, le=1, description="Share of PV buildings without a battery. [1]")
    kwh_per_kwp: float | None = Field(default=1.0, gt=0, le=10, description="Capacity per kWp of the building's PV.")
    capacity_kwh: float | None = Field(default=None, gt=0, le=1000, description="Fixed capacity instead. [kW h]")
    c_rate_per_h: float = Field(default=0.5, gt=0, le=4, description="Power = capacity x C-rate. [h-1]")


class CommunityBatteryChange(_Config):
    """A battery at a bus of the grid, dispatched on the district's net load at the substation."""

    capacity_kwh: float = Field(gt=0, le=100000, description="Usable capacity. [kW h]")
    p_rated_kw: float = Field(gt=0, le=50000, description="Charge and discharge power limit. [kW]")
    bus: str | None = Field(default=None, description="Bus name; default the transformer's LV busbar.")
    strategy: BatteryStrategy = Field(default="self_consumption", description="self_consumption or peak_shaving.")
    peak_limit_kw: float | None = Field(
        default=None, ge=0, le=50000, description="peak_shaving: import held below this. [kW]"
    )
    export_limit_kw: float | None = Field(
        default=None, ge=0, le=50000, description="peak_shaving: export held below this. [kW]"
    )
    target_soc_frac: float = Field(
        default=0.5, ge=0, le=1, description="peak_shaving: state of charge kept between peaks. [1]"
    )

    @model_validator(mode="after")
    def _limit_for_peak_shaving(self) -> CommunityBatteryChange:
        if self.strategy == "peak_shaving" and self.peak_limit_kw is None and self.export_limit_kw is None:
            raise ValueError("strategy peak_shaving needs peak_limit_kw, export_limit_kw or both")
        return self


class HeatPumpChange(_Config):
    """Air/water heat pumps replacing gas boilers."""

    share_frac: float = Field(default=1.0, ge=0, le=1, description="Share of the gas-heated buildings. [1]")
    sizing: Literal["design", "full_load_hours"] = Field(
        default="design", description="design: sized at the norm outside temperature; full_load_hours: heat / hours."
    )
    full_load_hours_h: float = Field(default=2000.0, gt=0, le=8760, description="For sizing full_load_hours. [h]")


class RetrofitChange(_Config):
    """Building envelope refurbishment (TABULA states) of residential buildings not yet at the target."""

    share_frac: float = Field(default=1.0, ge=0, le=1, description="Share of buildings below the target state. [1]")
    state: Literal["usual_refurbishment", "advanced_refurbishment"] = Field(default="advanced_refurbishment")
    built_before: int = Field(default=1995, ge=1500, le=2100, description="Only buildings built before this year.")


class EvChange(_Config):
    """Electric cars with a wallbox at residential buildings (one car per chosen building)."""

    count: int | None = Field(default=None, ge=0, le=5000, description="Number of new cars; overrides share_frac.")
    share_frac: float = Field(default=0.0, ge=0, le=1, description="Share of residential buildings. [1]")
    charger_kw: float = Field(default=11.0, gt=0, le=350, description="Wallbox power. [kW]")
    capacity_kwh: float = Field(default=60.0, gt=0, le=300, description="Car battery. [kW h]")
    distance_km_per_a: float = Field(default=12300.0, gt=0, le=100000, description="Annual distance (KBA mean). [km]")
    charging: Literal["uncontrolled", "pv_surplus"] = Field(
        default="uncontrolled", description="Charging rule of every car in the district."
    )


class GridChange(_Config):
    """Grid reinforcements (:class:`models.grid.GridChanges`)."""

    transformer_s_rated_kva: float | None = Field(default=None, gt=0, le=10000, description="New rating. [kVA]")
    line_std_type: str | None = Field(default=None, description="pandapower cable type, e.g. NAYY 4x240 SE.")
    parallel_cables: int | None = Field(default=None, ge=1, le=4, description="Cables in parallel.")
    lines: tuple[str, ...] = Field(default=(), description="Line names to upgrade; empty = all.")


class FeedInLimit(_Config):
    """Export limit as a share of the PV peak power (e.g. 0.6 without a smart meter gateway).

    ``at: building`` limits each PV building's meter to ``frac x`` its kWp (the rule of
    the grid connection); ``at: district`` limits the substation's export to ``frac x``
    the district's kWp. PV is curtailed by the excess; the energy is a KPI.
    """

    frac_of_kwp: float = Field(ge=0, le=1, description="Largest export per kWp installed. [1]")
    at: Literal["building", "district"] = Field(default="building")


class ScenarioChanges(_Config):
    """What a scenario changes against today's district; each block is optional."""

    pv: PvChange | None = None
    home_batteries: HomeBatteryChange | None = None
    community_battery: CommunityBatteryChange | None = None
    heat_pumps: HeatPumpChange | None = None
    retrofit: RetrofitChange | None = None
    evs: EvChange | None = None
    grid: GridChange | None = None
    feed_in_limit: FeedInLimit | None = None


class Factors(_Config):
    """CO2 and primary-energy factors (:class:`twin.core.kpi.CarrierFactors`); default GEG 2024."""

    co2_grid_g_per_kwh: float = Field(default=560.0, ge=0, le=2000)
    co2_gas_g_per_kwh: float = Field(default=240.0, ge=0, le=2000)
    primary_energy_factor_grid: float = Field(default=1.8, ge=0, le=5)
    primary_energy_factor_gas: float = Field(default=1.1, ge=0, le=5)


class Costs(_Config):
    """Prices and investment costs of the cost KPI (2025 German figures, assumptions).

    ``annual_cost_eur`` = energy cost of the period scaled to a year + the annuity of
    the investment (interest ``interest_frac``, ``lifetime_a`` years).
    """

    import_eur_per_kwh: float = Field(default=0.35, ge=0, le=5, description="Household tariff. [EUR/kWh]")
    export_eur_per_kwh: float = Field(default=0.08, ge=0, le=5, description="Feed-in payment. [EUR/kWh]")
    gas_eur_per_kwh: float = Field(default=0.11, ge=0, le=5, description="Gas tariff. [EUR/kWh]")
    pv_eur_per_kwp: float = Field(default=1400.0, ge=0, le=10000)
    battery_eur_per_kwh: float = Field(default=700.0, ge=0, le=10000, description="Home battery.")
    community_battery_eur_per_kwh: float = Field(default=450.0, ge=0, le=10000)
    heat_pump_eur_per_kw: float = Field(default=1800.0, ge=0, le=20000, description="Per kW thermal, installed.")
    retrofit_eur_per_m2: float = Field(default=250.0, ge=0, le=5000, description="Per m2 floor area.")
    charger_eur: float = Field(default=1500.0, ge=0, le=100000, description="Per wallbox (cars not counted).")
    transformer_eur_per_kva: float = Field(default=60.0, ge=0, le=10000)
    cable_eur_per_km: float = Field(default=120000.0, ge=0, le=1e7)
    interest_frac: float = Field(default=0.03, ge=0, le=0.5)
    lifetime_a: int = Field(default=20, ge=1, le=100)


class Scenario(_Config):
    """A scenario file."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=80, description="Folder name of results.")
    description: str = Field(default="", max_length=500)
    district: str = Field(default="beucha", description="Built-in district or a file relative to the scenario.")
    weather: str | None = Field(default=None, description="Weather file relative to the scenario; default TRY2010.")
    year: int = Field(default=2025, ge=1990, le=2100, description="Calendar year (UTC).")
    start: str | None = Field(default=None, description="Period start, ISO date or time (UTC).")
    end: str | None = Field(default=None, description="Period end, exclusive (UTC).")
    step_min: int = Field(default=STEP_MIN, description="Step length; only 15. [min]")
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    output: OutputLevel = Field(default="grid")
    changes: ScenarioChanges = Field(default_factory=ScenarioChanges)
    factors: Factors = Field(default_factory=Factors)
    costs: Costs = Field(default_factory=Costs)

    @model_validator(mode="after")
    def _period(self) -> Scenario:
        if self.step_min != STEP_MIN:
            raise _LocatedError(["step_min"], f"step {self.step_min} min is not supported", allowed=str(STEP_MIN))
        year_start = pd.Timestamp(f"{self.year}-01-01")
        year_end = pd.Timestamp(f"{self.year + 1}-01-01")
        stamps = {}
        for name, value, default in (("start", self.start, year_start), ("end", self.end, year_end)):
            try:
                stamp = default if value is None else pd.Timestamp(value)
            except (ValueError, TypeError):
                raise _LocatedError(
                    [name], f"{value!r} is not a date or time", allowed="ISO 8601, e.g. 2025-06-01"
                ) from None
            if stamp.tzinfo is not None:
                stamp = stamp.tz_convert("UTC").tz_localize(None)
            if stamp != stamp.floor(STEP_FREQ):
                raise _LocatedError([name], f"{value!r} is not on the 15-minute grid", allowed="a quarter hour")
            if not year_start <= stamp <= year_end:
                raise _LocatedError(
                    [name], f"{value!r} lies outside the year {self.year}", allowed=f"within {self.year}"
                )
            stamps[name] = stamp
        if stamps["end"] - stamps["start"] < pd.Timedelta(hours=1):
            raise _LocatedError(["end"], "the period must be at least one hour long", allowed="end > start + 1 h")
        return self

    @property
    def period(self) -> tuple[pd.Timestamp, pd.Timestamp]:
        """``[start, end)`` in UTC (tz-naive)."""
        start = pd.Timestamp(self.start) if self.start else pd.Timestamp(f"{self.year}-01-01")
        end = pd.Timestamp(self.end) if self.end else pd.Timestamp(f"{self.year + 1}-01-01")
        return _naive_utc(start), _naive_utc(end)


class Sweep(_Config):
    """A sweep file: a base scenario and parameters with value lists."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=60)
    description: str = Field(default="", max_length=500)
    base: str | dict[str, Any] = Field(description="Built-in scenario name, scenario file, or an inline scenario.")
    mode: Literal["product", "list"] = Field(default="product", description="product or list (zip).")
    parameters: dict[str, list[Any]] = Field(min_length=1, description="Dotted path -> list of values.")


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
    data = _read_yaml(path)
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
    return parse_scenario(_read_yaml(path), file=str(name_or_path), base=path.parent)


def parse_scenario(data: Any, *, file: str, base: Path | None = None) -> Scenario:
    """Validate parsed YAML as a scenario (paths resolved against ``base``)."""
    if not isinstance(data, dict):
        raise ConfigError(
            f"a scenario file must be a mapping of keys, got {type(data).__name__}",
            file=file,
            allowed="keys " + ", ".join(Scenario.model_fields),
        )
    data = _resolve_paths(data, base, file=file)
    try:
        return Scenario.model_validate(data)
    except ValidationError as err:
        raise _config_error(err, Scenario, file=file) from None


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
    data = _read_yaml(source)
    if not isinstance(data, dict):
        raise ConfigError(
            "a sweep file must be a mapping of keys", file=file, allowed="keys " + ", ".join(Sweep.model_fields)
        )
    try:
        sweep = Sweep.model_validate(data)
    except ValidationError as err:
        raise _config_error(err, Sweep, file=file) from None
    return sweep, expand_sweep(sweep, file=file, base=source.parent)


def expand_sweep(sweep: Sweep, *, file: str, base: Path) -> list[Scenario]:
    """Turn a sweep into its scenarios (product or zip of the parameter values)."""
    if isinstance(sweep.base, dict):
        base_data = _resolve_paths(sweep.base, base, file=file)
        base_file = file
    else:
        candidate = base / sweep.base
        source = candidate if candidate.is_file() else scenario_source(sweep.base)
        base_data = _resolve_paths(_read_yaml(source), source.parent, file=str(source))
        base_file = str(source)
    parse_scenario(base_data, file=base_file)  # the base must be valid on its own
    paths = list(sweep.parameters)
    values = [sweep.parameters[p] for p in paths]
    for path, options in zip(paths, values, strict=True):
        if not options:
            raise ConfigError("needs at least one value", file=file, field=f"parameters.{path}")
        _check_path(path, file=file)
        if path.split(".")[0] in ("name", "district", "weather", "year"):
            raise ConfigError(
                "a sweep varies changes, factors, costs, period, seed or output; not name, district, weather or year",
                file=file,
                field=f"parameters.{path}",
            )
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
        data["name"] = f"{sweep.name}-{number:03d}"
        labels = ", ".join(f"{_short_path(p)}={_compact(v)}" for p, v in zip(paths, combo, strict=True))
        data["description"] = f"{sweep.name}: {labels}"[:500]
        try:
            scenarios.append(Scenario.model_validate(data))
        except ValidationError as err:
            error = _config_error(err, Scenario, file=file)
            raise ConfigError(
                f"{labels[:200]}: {error.message}",
                file=file,
                field=f"parameters ({error.field})",
                allowed=error.allowed,
            ) from None
    return scenarios


class _LocatedError(ValueError):
    """A model-level error that knows the field it concerns."""

    def __init__(self, loc: list[str | int], message: str, *, allowed: str | None = None) -> None:
        self.loc = loc
        self.message = message
        self.allowed = allowed
        super().__init__(message)


def _naive_utc(stamp: pd.Timestamp) -> pd.Timestamp:
    return stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo is not None else stamp


def _read_yaml(path: Path) -> Any:
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


def _resolve_paths(data: Any, base: Path | None, *, file: str) -> Any:
    """Make the district and weather paths absolute (relative to the scenario file)."""
    if not isinstance(data, dict) or base is None:
        return data
    data = dict(data)
    district = data.get("district")
    if isinstance(district, str) and district not in BUILT_IN_DISTRICTS:
        path = Path(district) if Path(district).is_absolute() else base / district
        if not path.is_file():
            raise ConfigError(
                f"district file {district!r} not found",
                file=file,
                field="district",
                allowed="a built-in district (" + ", ".join(BUILT_IN_DISTRICTS) + ") or a district file",
            )
        data["district"] = str(path.resolve())
    weather = data.get("weather")
    if isinstance(weather, str):
        path = Path(weather) if Path(weather).is_absolute() else base / weather
        if not path.is_file():
            raise ConfigError(
                f"weather file {weather!r} not found",
                file=file,
                field="weather",
                allowed="a DWD TRY .dat, EPW, TMY3 .csv or PVGIS .json file, or null for the embedded TRY2010",
            )
        data["weather"] = str(path.resolve())
    return data


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
        current = _model_in(fields[part].annotation)
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


def _config_error(err: ValidationError, model: type[BaseModel], *, file: str) -> ConfigError:
    """Turn the first pydantic error into one line: file, dotted field, allowed values."""
    errors = err.errors(include_url=False)
    first = min(errors, key=lambda e: e["type"] != "extra_forbidden")
    loc: list[Any] = [part for part in first["loc"] if not str(part).startswith("function-")]
    kind, ctx = first["type"], first.get("ctx") or {}
    cause = ctx.get("error")
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    allowed: str | None = None
    if isinstance(cause, _LocatedError):
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
        current = _model_in(fields[part].annotation)
    fields = getattr(current, "model_fields", None)
    return "fields " + ", ".join(fields) if fields else ""


def _model_in(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None
