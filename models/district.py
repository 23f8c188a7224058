"""The district description: buildings, households, roofs, today's assets, and the grid they connect to.

A district file (YAML) describes each building the way German planners do, by the
TABULA archetype inputs - building type, construction year, retrofit state and
reference floor area (IWU, "Deutsche Wohngebäudetypologie", 2015) - plus its
households, roof faces, heating system, today's PV, batteries, EVs and chargers,
and the name of the grid bus it connects to. The grid is a SimBench code or a grid
operator's pandapower JSON file. The schema is pydantic v2 (unknown keys rejected,
frozen); :func:`load_district` turns every problem - malformed YAML, a missing or
unknown field, a value out of range, a duplicate id, a bus that is not in the
grid, an unknown SimBench code, a grid file that is no pandapower net - into one
line naming the file, the field (``buildings.12.roofs.0.tilt_deg``) and what is
allowed. The built-in district ``beucha`` ships as ``models/data/beucha.yaml``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator

from models.cgmes_reader import load_cgmes
from models.grid_source import load_pandapower_excel, load_pandapower_json, load_simbench_net, place_net
from twin.core.config_loader import LocatedError, read_config, validate_config
from twin.core.errors import ConfigError
from twin.core.vocabulary import DEFAULT_TIMEZONE, check_timezone

__all__ = [
    "BUILDING_TYPES",
    "BUILT_IN_DISTRICTS",
    "NON_RESIDENTIAL_TYPES",
    "RESIDENTIAL_TYPES",
    "Battery",
    "Building",
    "BuildingType",
    "Charger",
    "CosPhiPoint",
    "District",
    "ElectricVehicle",
    "GridSource",
    "Heating",
    "HeatingSystem",
    "HouseholdGroup",
    "LoadedDistrict",
    "Location",
    "PvSystem",
    "ReactivePower",
    "RetrofitState",
    "Roof",
    "district_path",
    "load_district",
    "parse_district",
]

#: TABULA DE residential types: SFH detached house (EFH), TH terraced or semi-detached
#: house (RH, DHH), MFH multi-family house (3-12 flats), AB apartment block (GMH, > 12 flats).
RESIDENTIAL_TYPES = ("SFH", "TH", "MFH", "AB")
#: Non-residential uses; ``office`` covers the Kulturhaus start-up centre and similar.
NON_RESIDENTIAL_TYPES = ("school", "kindergarten", "business", "office")
BuildingType = Literal["SFH", "TH", "MFH", "AB", "school", "kindergarten", "business", "office"]
BUILDING_TYPES: tuple[str, ...] = get_args(BuildingType)
#: TABULA's three refurbishment variants: as built, usual and advanced refurbishment.
RetrofitState = Literal["existing", "usual_refurbishment", "advanced_refurbishment"]
#: Heat generators: gas, oil and wood boilers burn their carrier (counted in the all-carrier
#: balance); ``other`` (district heat, electric storage heaters, unknown) stays outside it.
HeatingSystem = Literal["gas_boiler", "heat_pump", "oil_boiler", "wood_boiler", "other"]

#: Built-in districts shipped in ``models/data``.
BUILT_IN_DISTRICTS = ("beucha",)
_WHAT = "district file"

_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


class _Record(BaseModel):
    """Base of every district record: unknown keys rejected, frozen after validation."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Location(_Record):
    """Where the district lies (for solar position and local time)."""

    latitude_deg: float = Field(ge=-90, le=90, description="Latitude, north positive. [deg]")
    longitude_deg: float = Field(ge=-180, le=180, description="Longitude, east positive. [deg]")
    altitude_m: float = Field(ge=-500, le=9000, description="Height above sea level. [m]")
    timezone: str = Field(description=f"IANA time zone, e.g. {DEFAULT_TIMEZONE}.")

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        return check_timezone(value)


class GridSource(_Record):
    """The grid: exactly one of a SimBench code, a pandapower JSON or Excel file, or a CGMES zip."""

    simbench_code: str | None = Field(default=None, description="SimBench code, e.g. 1-LV-semiurb5--0-sw.")
    pandapower_json: str | None = Field(
        default=None, description="Path of a pandapower JSON file, relative to the district file."
    )
    pandapower_excel: str | None = Field(
        default=None,
        description="Path of a pandapower Excel file (pandapower.to_excel), relative to the district file.",
    )
    cgmes: str | None = Field(
        default=None,
        description="Path of a CIM/CGMES zip (EQ, SSH, TP, GL profiles), relative to the district file.",
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> GridSource:
        sources = (self.simbench_code, self.pandapower_json, self.pandapower_excel, self.cgmes)
        if sum(v is not None for v in sources) != 1:
            raise ValueError("give exactly one of simbench_code, pandapower_json or pandapower_excel or cgmes")
        return self

    @property
    def file(self) -> str | None:
        """The grid file (JSON, Excel or CGMES zip), or None for a SimBench grid."""
        return self.pandapower_json or self.pandapower_excel or self.cgmes


class CosPhiPoint(_Record):
    """One point of a PV cos phi(P) characteristic (under-excited: the inverter absorbs reactive power)."""

    p_frac: float = Field(ge=0, le=1, description="Active power as a fraction of the rated power. [1]")
    cos_phi: float = Field(ge=0.8, le=1, description="Power factor at that power, under-excited. [1]")


class ReactivePower(_Record):
    """Reactive-power assumptions for loads and PV inverters."""

    load_cos_phi: float = Field(ge=0.8, le=1, description="Power factor of household and business loads, inductive.")
    pv_cos_phi_p: tuple[CosPhiPoint, ...] = Field(
        min_length=2, description="PV cos phi(P) characteristic, points with rising p_frac."
    )

    @field_validator("pv_cos_phi_p")
    @classmethod
    def _rising(cls, points: tuple[CosPhiPoint, ...]) -> tuple[CosPhiPoint, ...]:
        fracs = [point.p_frac for point in points]
        if any(b <= a for a, b in itertools.pairwise(fracs)):
            raise ValueError(f"p_frac must rise strictly from point to point, got {fracs}")
        return points


class HouseholdGroup(_Record):
    """Households of the same size in one building."""

    count: int = Field(ge=1, le=500, description="Number of households.")
    persons: int = Field(ge=1, le=12, description="Persons per household.")


class Roof(_Record):
    """One roof face (pvlib orientation: azimuth 180 = south, tilt 0 = flat)."""

    area_m2: float = Field(gt=0, le=20000, description="Area of the roof face. [m2]")
    tilt_deg: float = Field(ge=0, le=90, description="Tilt from horizontal. [deg]")
    azimuth_deg: float = Field(ge=0, lt=360, description="Orientation, clockwise from north; 180 = south. [deg]")
    usable_frac: float = Field(
        default=0.6,
        gt=0,
        le=1,
        description="Share of the face usable for PV (edges, chimneys, windows, shade removed). [1]",
    )


class PvSystem(_Record):
    """A PV system on one of the building's roof faces."""

    p_peak_kw: float = Field(
        gt=0,
        le=5000,
        validation_alias=AliasChoices("p_peak_kw", "p_peak_kwp"),
        description="DC peak power (kWp); district files may still call it p_peak_kwp. [kW]",
    )
    roof: int = Field(default=0, ge=0, description="Index of the roof face in the building's roofs.")
    year: int | None = Field(default=None, ge=1990, le=2100, description="Year of commissioning.")


class Battery(_Record):
    """A stationary battery behind the building's meter."""

    capacity_kwh: float = Field(gt=0, le=10000, description="Usable capacity. [kW h]")
    p_rated_kw: float = Field(gt=0, le=5000, description="Rated charge and discharge power. [kW]")


class ElectricVehicle(_Record):
    """An electric car registered at the building."""

    capacity_kwh: float = Field(gt=0, le=300, description="Usable battery capacity. [kW h]")
    distance_km_per_a: float = Field(gt=0, le=100000, description="Annual driving distance. [km]")
    consumption_kwh_per_km: float = Field(default=0.18, gt=0, le=1, description="Energy per km at the plug. [kW h]")


class Charger(_Record):
    """A charging point (wallbox) at the building."""

    p_rated_kw: float = Field(gt=0, le=350, description="Rated charging power. [kW]")


class Heating(_Record):
    """The building's heat generator."""

    system: HeatingSystem = Field(
        description="gas_boiler, heat_pump, oil_boiler, wood_boiler or other (district heat, electric...)."
    )
    p_th_rated_kw: float | None = Field(default=None, gt=0, le=5000, description="Rated heat output. [kW]")


class Building(_Record):
    """A building: TABULA archetype inputs, households, roofs, today's assets and its grid bus."""

    id: str = Field(
        pattern=_ID_PATTERN,
        max_length=64,
        description="Unique id within the district.",
        json_schema_extra={"allowed": "letters, digits, '_', '.' and '-', starting with a letter or digit"},
    )
    name: str | None = Field(default=None, max_length=120, description="Optional label, e.g. Kulturhaus.")
    type: BuildingType = Field(description="TABULA building type or non-residential use.")
    construction_year: int = Field(ge=1500, le=2100, description="Year of construction.")
    retrofit: RetrofitState = Field(default="existing", description="TABULA refurbishment state.")
    floor_area_m2: float = Field(gt=0, le=100000, description="TABULA reference floor area A_C,ref. [m2]")
    bus: str = Field(min_length=1, description="Name of the grid bus the building connects to.")
    households: tuple[HouseholdGroup, ...] = Field(default=(), description="Households living in the building.")
    roofs: tuple[Roof, ...] = Field(default=(), description="Roof faces.")
    heating: Heating = Field(description="Heat generator.")
    pv: tuple[PvSystem, ...] = Field(default=(), description="Today's PV systems.")
    batteries: tuple[Battery, ...] = Field(default=(), description="Today's batteries.")
    evs: tuple[ElectricVehicle, ...] = Field(default=(), description="Today's electric cars.")
    chargers: tuple[Charger, ...] = Field(default=(), description="Today's charging points.")
    electricity_kwh_per_a: float | None = Field(
        default=None, ge=0, le=1e8, description="Measured annual electricity use (overrides the estimate). [kW h]"
    )
    heat_kwh_per_a: float | None = Field(
        default=None, ge=0, le=1e8, description="Measured annual heat demand (overrides the estimate). [kW h]"
    )

    @field_validator("id", "bus", mode="before")
    @classmethod
    def _number_as_name(cls, value: Any) -> Any:
        """Accept ``bus: 12`` for a bus named "12" (YAML reads unquoted digits as numbers)."""
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @model_validator(mode="after")
    def _consistent(self) -> Building:
        for index, system in enumerate(self.pv):
            if system.roof >= len(self.roofs):
                allowed = f"0..{len(self.roofs) - 1}" if self.roofs else "none: add a roof face to roofs first"
                raise LocatedError(
                    ["pv", index, "roof"],
                    f"roof face {system.roof} does not exist; the building has {len(self.roofs)} roof face(s)",
                    allowed=allowed,
                )
        if self.type in RESIDENTIAL_TYPES and not self.households:
            raise LocatedError(
                ["households"],
                f"a residential building ({self.type}) needs at least one household group",
                allowed="a list of {count, persons}",
            )
        return self

    @property
    def n_households(self) -> int:
        """Number of households in the building."""
        return sum(group.count for group in self.households)

    @property
    def n_persons(self) -> int:
        """Number of residents."""
        return sum(group.count * group.persons for group in self.households)


class District(_Record):
    """A district: location, grid, reactive-power assumptions and buildings."""

    name: str = Field(min_length=1, max_length=120, description="Name of the district.")
    description: str = Field(default="", description="What the district is and where its numbers come from.")
    location: Location
    grid: GridSource
    reactive_power: ReactivePower
    buildings: tuple[Building, ...] = Field(min_length=1, description="The buildings.")

    @model_validator(mode="after")
    def _unique_ids(self) -> District:
        seen: dict[str, int] = {}
        for index, building in enumerate(self.buildings):
            if building.id in seen:
                raise LocatedError(
                    ["buildings", index, "id"],
                    f"duplicate building id {building.id!r}, first used by buildings.{seen[building.id]}",
                    allowed="an id no other building uses",
                )
            seen[building.id] = index
        return self


@dataclass(frozen=True)
class LoadedDistrict:
    """A validated district with its grid.

    Attributes
    ----------
    district : District
        The validated description.
    net : pandapower.auxiliary.pandapowerNet
        The grid; every building's ``bus`` names one of its buses.
    source : str
        The file the district was read from.
    """

    district: District
    net: Any
    source: str


def district_path(name_or_path: str | Path) -> Path:
    """Return the file of a built-in district name or the given path.

    Parameters
    ----------
    name_or_path : str or pathlib.Path
        A built-in name (``"beucha"``) or the path of a district YAML file.

    Returns
    -------
    path : pathlib.Path
        The district file.

    Raises
    ------
    ConfigError
        If it is neither a built-in name nor an existing file.
    """
    text = str(name_or_path)
    if text in BUILT_IN_DISTRICTS:
        return Path(str(resources.files("models").joinpath("data", f"{text}.yaml")))
    path = Path(text)
    if path.is_file():
        return path
    raise ConfigError(
        f"no district file {text!r} and no built-in district of that name",
        file=text,
        allowed="a built-in name (" + ", ".join(BUILT_IN_DISTRICTS) + ") or the path of a district YAML file",
    )


def parse_district(data: Any, *, file: str) -> District:
    """Validate parsed YAML as a district, raising one-line errors.

    Parameters
    ----------
    data : Any
        The parsed document.
    file : str
        The file it came from, for error messages.

    Returns
    -------
    district : District
        The validated district (the grid is not checked here; see :func:`load_district`).

    Raises
    ------
    ConfigError
        Naming the file, the field path and what is allowed.
    """
    district: District = validate_config(data, District, file=file, what=_WHAT)
    return district


def read_district(name_or_path: str | Path) -> District:
    """Read and validate a district file without building its grid (the file's own checks only).

    Parameters
    ----------
    name_or_path : str or pathlib.Path
        ``"beucha"`` or the path of a district YAML file.

    Raises
    ------
    ConfigError
        One line naming the file, the field and what is allowed (as :func:`load_district`,
        without the checks against the grid).
    """
    path, file = _district_file(name_or_path)
    return parse_district(read_config(path, what=_WHAT, file=file), file=file)


def _district_file(name_or_path: str | Path) -> tuple[Path, str]:
    """The district file's path and the name errors give it (a built-in district's name)."""
    path = district_path(name_or_path)
    return path, str(name_or_path) if str(name_or_path) in BUILT_IN_DISTRICTS else str(path)


def load_district(name_or_path: str | Path) -> LoadedDistrict:
    """Read, validate and connect a district: the built-in name or a YAML file.

    Parameters
    ----------
    name_or_path : str or pathlib.Path
        ``"beucha"`` or the path of a district YAML file.

    Returns
    -------
    loaded : LoadedDistrict
        The district, its grid, and the file it came from.

    Raises
    ------
    ConfigError
        One line naming the file, the field and what is allowed, for a missing or
        malformed file, an invalid field, a duplicate building id, an unknown
        SimBench code, a grid file that is no pandapower net, or a bus that is not
        in the grid.
    """
    path, file = _district_file(name_or_path)
    district = read_district(name_or_path)
    net = _load_grid(district.grid, base=path.parent, file=file)
    if district.grid.simbench_code is not None:  # SimBench's own coordinates are near 53.4 N, 11.8 E
        place_net(net, district.location.latitude_deg, district.location.longitude_deg)
    _check_buses(district, net, file=file)
    return LoadedDistrict(district=district, net=net, source=file)


def _load_grid(grid: GridSource, *, base: Path, file: str) -> Any:
    """Return the net named by a grid source."""
    if grid.simbench_code is not None:
        return load_simbench_net(grid.simbench_code, file=file, field="grid.simbench_code")
    assert grid.file is not None  # the schema guarantees exactly one
    path = Path(grid.file)
    if not path.is_absolute():
        path = base / path
    if grid.pandapower_excel is not None:
        return load_pandapower_excel(path, file=file, field="grid.pandapower_excel")
    if grid.cgmes is not None:
        return load_cgmes(path, file=file, field="grid.cgmes")
    return load_pandapower_json(path, file=file, field="grid.pandapower_json")


def _check_buses(district: District, net: Any, *, file: str) -> None:
    """Check that every building's bus names exactly one bus of the grid."""
    if net.bus["name"].isna().all():
        raise ConfigError(
            "the grid's buses have no names; buildings refer to buses by name",
            file=file,
            field="grid",
            allowed="a pandapower net whose bus table has a name for every bus a building connects to",
        )
    names = net.bus["name"].astype(str)
    duplicated = set(names[names.duplicated()])
    known = set(names)
    for index, building in enumerate(district.buildings):
        if building.bus not in known:
            load_buses = sorted(set(net.bus.loc[net.load.bus, "name"].astype(str)))
            examples = ", ".join(load_buses[:3]) if load_buses else ", ".join(sorted(known)[:3])
            raise ConfigError(
                f"bus {building.bus!r} is not a bus of the grid",
                file=file,
                field=f"buildings.{index}.bus",
                allowed=f"a bus name of the grid ({len(known)} buses, e.g. {examples})",
            )
        if building.bus in duplicated:
            raise ConfigError(
                f"bus name {building.bus!r} occurs more than once in the grid; names must be unique",
                file=file,
                field=f"buildings.{index}.bus",
            )
