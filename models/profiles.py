"""A period of 15-minute profiles for every asset of a district, as one assets dataset.

This is the adapter between the district file and the physics (pvlib's third
layer, like ``ModelChain``): it reads what each building has and calls the
vectorised model functions once per kind of asset for all buildings together.

* ``load``: one per building, household and business electricity from BDEW
  profiles (:mod:`models.load`), scaled to the building's annual estimate; the
  households of a building as stochastic individual households;
* ``pv``: one per PV system, on its roof face's tilt and azimuth (:mod:`models.pv`);
* ``heat_pump``: one per building heated by a heat pump, space heating and hot
  water from :mod:`models.heat`, electricity from :mod:`models.heatpump`;
* ``gas_boiler``: one per building heated by gas, ``p_fuel_kw`` = heat / efficiency
  (:mod:`models.gas`), no electric power;
* ``ev``: one per car, home charging at the building's charger (:mod:`models.ev`);
* ``battery``: one per battery, self-consumption dispatch against the building's
  net load of all other assets (:mod:`models.battery`).

Buildings heated by other means (oil, wood, district heat: ``other``) carry no
heating asset: their fuel is outside the twin's carriers.

The inputs that do not depend on the buildings' assets - the weather, the BDEW
load shapes and the heat shapes - are computed once by :func:`prepare_inputs`
and can be reused across the scenarios of a sweep. Profiles are always computed
for the whole calendar year, so that a day taken out of it is the same day as in
the year's run (shapes are normalised per year; heat pumps are sized on the
year), and then cut to the requested period.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
import pandas as pd
import xarray as xr

from models.battery import self_consumption_dispatch, with_standby_kw
from models.building_estimates import BuildingEstimate, estimate_building
from models.building_heat import BuildingHeat, building_heat_demand
from models.district import Building, District
from models.ev import EVParameters, ev_fleet_charging_kw
from models.gas import gas_boiler_fuel_kw
from models.heat import HeatProfileType, space_heat_shapes
from models.heatpump_district import HeatPumpRun, district_heat_pumps
from models.load import bdew_shapes, electricity_load_kw, household_load_kw
from models.pv import PVParameters, pv_power_kw
from models.threads import side_thread
from models.variation import ModelVariation
from models.weather import Site, read_weather
from twin.core.errors import ConfigError
from twin.core.schema import build_assets, meters_from_assets

__all__ = [
    "DEFAULT_YEAR",
    "ELECTRICITY_PROFILE",
    "HEAT_PROFILE",
    "PROFILE_STAGES",
    "DistrictProfiles",
    "ProfileInputs",
    "ProfileOptions",
    "district_profiles",
    "prepare_inputs",
]

#: The BDEW profile households follow on average (:func:`models.load.household_load_kw`).
HOUSEHOLD_PROFILE: Final[str] = "h0_dyn"

#: The calendar year profiles are computed for unless a scenario says otherwise.
DEFAULT_YEAR: Final[int] = 2025

#: BDEW electricity profile per building type: H0 (dynamised) for homes, G1 (weekdays 8-18 h) for school,
#: kindergarten and offices, G0 (trade in general) for businesses.
ELECTRICITY_PROFILE: Final[dict[str, str]] = {
    "SFH": "h0_dyn",
    "TH": "h0_dyn",
    "MFH": "h0_dyn",
    "AB": "h0_dyn",
    "school": "g1",
    "kindergarten": "g1",
    "business": "g0",
    "office": "g1",
}

#: BDEW heat (gas) profile type per building type: EFH single-family, MFH multi-family, GKO public bodies
#: (school, kindergarten), GHA retail and trade, GBD offices and services.
HEAT_PROFILE: Final[dict[str, str]] = {
    "SFH": "EFH",
    "TH": "EFH",
    "MFH": "MFH",
    "AB": "MFH",
    "school": "GKO",
    "kindergarten": "GKO",
    "business": "GHA",
    "office": "GBD",
}

#: Share of the days on which a car is used: 5 weekdays x 0.8 + 2 weekend days x 0.6 (the defaults of
#: :class:`models.ev.EVParameters`), to turn a car's annual distance into its mean distance on a day of use.
_USE_DAYS_PER_YEAR: Final[float] = 365.0 * (5 * 0.8 + 2 * 0.6) / 7
#: Charger power of a car whose building lists no charger: a household socket. [kW]
SOCKET_KW: Final[float] = 3.7

ChargingMode = Literal["uncontrolled", "pv_surplus"]


@dataclass(frozen=True)
class ProfileOptions:
    """How the profiles of a district are computed.

    Parameters
    ----------
    year : int
        Calendar year (UTC) the weather and the profiles are laid on.
    start, end : str or pandas.Timestamp, optional
        The period within the year, ``[start, end)`` in UTC; default the whole year.
    seed : int
        Seed of the per-building variation of loads and of the EV mobility draws.
    ev_charging : {"uncontrolled", "pv_surplus"}
        Charging rule of every car.
    boiler_efficiency : str or float
        Seasonal gas boiler efficiency, a name of :data:`models.gas.BOILER_EFFICIENCY_FRAC` or a number. [1]
    variation : ModelVariation
        Heat-pump COP level, PV losses and battery efficiency; default the models' own.
    """

    year: int = DEFAULT_YEAR
    start: str | pd.Timestamp | None = None
    end: str | pd.Timestamp | None = None
    seed: int = 0
    ev_charging: ChargingMode = "uncontrolled"
    boiler_efficiency: str | float = "condensing"
    variation: ModelVariation = field(default_factory=ModelVariation)


@dataclass(frozen=True)
class ProfileInputs:
    """What all scenarios of one district, weather and year share.

    Attributes
    ----------
    weather : pandas.DataFrame
        :func:`models.weather.read_weather` output for the year.
    load_shapes : pandas.DataFrame
        BDEW electricity shapes of every profile the district uses.
    heat_shapes : pandas.DataFrame
        Normalised space-heating shapes of every heat profile type used.
    year : int
        The calendar year.
    weather_source : str
        The weather file, or ``"DWD TRY2010 region 4 (embedded)"``.
    """

    weather: pd.DataFrame
    load_shapes: pd.DataFrame
    heat_shapes: pd.DataFrame
    year: int
    weather_source: str


@dataclass(frozen=True)
class DistrictProfiles:
    """The profiles of a district for a period.

    Attributes
    ----------
    assets : xarray.Dataset
        Every asset's ``p_kw`` (load-positive) and ``p_fuel_kw``, with ratings (:func:`twin.core.schema.build_assets`).
    heat_kw : pandas.DataFrame
        (time x building) heat demand: space heating, hot water and its storage and circulation losses. [kW]
    heat_pumps : pandas.DataFrame, optional
        Per heat-pump building over the period: heat delivered, electricity, backup
        heat and SPF (:meth:`models.heatpump_district.HeatPumpRun.summary`).
    """

    assets: xr.Dataset
    heat_kw: pd.DataFrame
    heat_pumps: pd.DataFrame | None = None

    @cached_property
    def meters(self) -> xr.Dataset:
        """A meter per building (the sum of its assets) and ``substation``.

        ``substation`` is the district sum before grid losses
        (:func:`twin.core.schema.meters_from_assets`); built on first use.
        """
        return meters_from_assets(self.assets)


Progress = Callable[[str], None]

#: The stages :func:`district_profiles` reports to its ``progress`` callback, in order.
PROFILE_STAGES: Final[tuple[str, ...]] = (
    "household and business electricity",
    "PV",
    "heat demand",
    "heat pumps",
    "gas boilers",
    "EV charging",
    "batteries",
    "assets and meters",
)


def prepare_inputs(
    district: District,
    *,
    weather: str | Path | None = None,
    year: int = DEFAULT_YEAR,
) -> ProfileInputs:
    """Read the weather and compute the shapes that every scenario of a district shares.

    Parameters
    ----------
    district : District
        The validated district (its location and building types are used).
    weather : str or pathlib.Path, optional
        A weather file (DWD TRY2010 ``.dat``, EPW, TMY3 ``.csv``, PVGIS ``.json``);
        default the embedded DWD TRY2010 region 4.
    year : int
        Calendar year of the profiles.

    Returns
    -------
    inputs : ProfileInputs
    """
    location = district.location
    site = Site(
        latitude_deg=location.latitude_deg,
        longitude_deg=location.longitude_deg,
        altitude_m=location.altitude_m,
    )
    frame = read_weather(weather, year=year, site=site)
    types = {building.type for building in district.buildings}
    load_shapes = bdew_shapes(sorted({ELECTRICITY_PROFILE[t] for t in types}), [year], timezone=location.timezone)
    heat_types = sorted({_heat_type(building) for building in district.buildings}, key=lambda t: t.key)
    heat_shapes = space_heat_shapes(frame["temp_air_degc"], heat_types, timezone=location.timezone)
    source = str(weather) if weather is not None else "DWD TRY2010 region 4 (embedded)"
    return ProfileInputs(frame, load_shapes, heat_shapes, year, source)


def district_profiles(
    district: District,
    inputs: ProfileInputs,
    options: ProfileOptions | None = None,
    *,
    progress: Progress | None = None,
) -> DistrictProfiles:
    """Compute every asset's profile for a period.

    Parameters
    ----------
    district : District
        The validated district.
    inputs : ProfileInputs
        Weather and shapes from :func:`prepare_inputs` (same year as ``options``).
    options : ProfileOptions, optional
        Period, seed, EV charging rule, boiler efficiency.
    progress : callable, optional
        Called with a short label before each stage (for progress displays).

    Returns
    -------
    profiles : DistrictProfiles
        Assets, meters and the heat demand.

    Raises
    ------
    ConfigError
        If the period lies outside the inputs' year or is empty.
    """
    options = options or ProfileOptions(year=inputs.year)
    if options.year != inputs.year:
        raise ConfigError(f"inputs are for {inputs.year}, options ask for {options.year}", field="year")
    step = progress or (lambda label: None)
    weather, index = inputs.weather, inputs.weather.index
    temp = weather["temp_air_degc"]
    buildings = district.buildings
    estimates = {b.id: estimate_building(b) for b in buildings}
    seed = _seed(options.seed, district.name)
    columns: list[_Columns] = []
    step("household and business electricity")
    # on a spare core: its random draws and noise filter free the GIL while PV and heat compute
    with side_thread("electricity") as pool:
        electricity = pool.submit(_load_columns, buildings, estimates, index, seed, inputs.load_shapes)
        step("PV")
        pv = _pv_columns(buildings, weather, options.variation.pv_parameters())
        step("heat demand")
        heat_types, zone = [_heat_type(b) for b in buildings], district.location.timezone
        heat = building_heat_demand(buildings, estimates, heat_types, temp, inputs.heat_shapes, zone)
        step("heat pumps")
        heat_pumps = district_heat_pumps(buildings, heat, temp, params=options.variation.heat_pump_parameters())
        columns.append(electricity.result())
    columns.extend(pv)

    columns.extend(_heat_pump_columns(buildings, heat_pumps))

    step("gas boilers")
    columns.extend(_gas_boiler_columns(buildings, heat, index, options.boiler_efficiency))

    step("EV charging")
    columns.extend(_ev_columns(buildings, index, columns, options, seed, district.location.timezone))

    step("batteries")
    batteries, soc = _battery_columns(buildings, columns, index, options.variation)
    columns.extend(batteries)

    step("assets and meters")
    period = _period(index, options)
    assets = _assemble(columns, soc, period)
    assets.attrs.update(
        {
            "district": district.name,
            "weather": inputs.weather_source,
            "year": inputs.year,
            "seed": options.seed,
            "ev_charging": options.ev_charging,
        }
    )
    summary = None if heat_pumps is None else heat_pumps.summary(period)
    return DistrictProfiles(assets=assets, heat_kw=heat.total_kw.loc[period], heat_pumps=summary)


@dataclass
class _Columns:
    """Profiles of one kind of asset, column per asset, with their buildings and ratings."""

    p_kw: pd.DataFrame
    kind: str
    buildings: Sequence[Building]
    p_fuel_kw: Any = None
    p_rated_kw: Sequence[float] | None = None
    p_peak_kw: Sequence[float] | None = None
    capacity_kwh: Sequence[float] | None = None


def _load_columns(
    buildings: Sequence[Building],
    estimates: dict[str, BuildingEstimate],
    index: pd.DatetimeIndex,
    seed: int,
    shapes: pd.DataFrame,
) -> _Columns:
    """Household and business electricity of every building (households stochastic, :mod:`models.load`)."""
    homes = [b for b in buildings if b.households and ELECTRICITY_PROFILE[b.type] == HOUSEHOLD_PROFILE]
    others = [b for b in buildings if b not in homes]
    energy = {b.id: estimates[b.id].electricity_kwh_per_a for b in buildings}
    frames = []
    if homes:
        counts = [b.n_households for b in homes]
        names = [f"{b.id}/load" for b in homes]
        frames.append(
            household_load_kw(
                index,
                [energy[b.id] for b in homes],
                counts,
                seed=seed,
                profile=HOUSEHOLD_PROFILE,
                names=names,
                shapes=shapes,
            )
        )
    if others:
        profiles = [ELECTRICITY_PROFILE[b.type] for b in others]
        names = [f"{b.id}/load" for b in others]
        frames.append(
            electricity_load_kw(index, [energy[b.id] for b in others], profiles, seed=seed, names=names, shapes=shapes)
        )
    load_kw = pd.concat(frames, axis=1)[[f"{b.id}/load" for b in buildings]]
    return _Columns(load_kw, "load", [b for b in buildings])


def _pv_columns(buildings: Sequence[Building], weather: pd.DataFrame, params: PVParameters | None) -> list[_Columns]:
    """Every PV system's output (none without PV)."""
    pv_buildings = [(b, system) for b in buildings for system in b.pv]
    if not pv_buildings:
        return []
    pv_kw = pv_power_kw(
        weather,
        [b.roofs[s.roof].tilt_deg for b, s in pv_buildings],
        [b.roofs[s.roof].azimuth_deg for b, s in pv_buildings],
        [s.p_peak_kw for _, s in pv_buildings],
        names=[f"{b.id}/pv{i}" for b, i in _numbered(pv_buildings)],
        params=params,
    )
    return [_Columns(pv_kw, "pv", [b for b, _ in pv_buildings], p_peak_kw=[s.p_peak_kw for _, s in pv_buildings])]


def _heat_pump_columns(buildings: Sequence[Building], heat_pumps: HeatPumpRun | None) -> list[_Columns]:
    """Every heat pump's electric power (none without heat pumps)."""
    if heat_pumps is None:
        return []
    result = heat_pumps.result
    hp_buildings = [b for b in buildings if b.heating.system == "heat_pump"]
    return [
        _Columns(
            result.p_kw.set_axis([f"{b.id}/heat_pump" for b in hp_buildings], axis=1),
            "heat_pump",
            hp_buildings,
            p_rated_kw=list(result.p_design_kw.to_numpy()),
        )
    ]


def _gas_boiler_columns(
    buildings: Sequence[Building], heat: BuildingHeat, index: pd.DatetimeIndex, efficiency: str | float
) -> list[_Columns]:
    """Every gas boiler: no electric power, the fuel it burns (none without boilers)."""
    gas_buildings = [b for b in buildings if b.heating.system == "gas_boiler"]
    if not gas_buildings:
        return []
    names = [b.id for b in gas_buildings]
    fuel_kw = gas_boiler_fuel_kw(heat.total_kw[names], efficiency)
    return [
        _Columns(
            pd.DataFrame(0.0, index=index, columns=[f"{n}/gas_boiler" for n in names]),
            "gas_boiler",
            gas_buildings,
            p_fuel_kw=fuel_kw.to_numpy(),
        )
    ]


def _battery_columns(
    buildings: Sequence[Building], columns: list[_Columns], index: pd.DatetimeIndex, variation: ModelVariation
) -> tuple[list[_Columns], pd.DataFrame | None]:
    """Home batteries on their building's net load (self-consumption), and their state of charge."""
    battery_units = [(b, unit) for b in buildings for unit in b.batteries]
    if not battery_units:
        return [], None
    net_by_building = _net_load_by_building(columns, index)
    net_load = pd.DataFrame(
        {f"{b.id}/battery{i}": net_by_building[b.id] / _count(battery_units, b) for b, i in _numbered(battery_units)}
    )
    dispatch = self_consumption_dispatch(
        net_load,
        [u.capacity_kwh for _, u in battery_units],
        [u.p_rated_kw for _, u in battery_units],
        params=variation.battery_parameters(),
    )
    batteries = _Columns(
        with_standby_kw(dispatch.p_kw),
        "battery",
        [b for b, _ in battery_units],
        p_rated_kw=[u.p_rated_kw for _, u in battery_units],
        capacity_kwh=[u.capacity_kwh for _, u in battery_units],
    )
    return [batteries], dispatch.soc_frac


def _heat_type(building: Building) -> HeatProfileType:
    return HeatProfileType(HEAT_PROFILE[building.type])


def _ev_columns(
    buildings: Sequence[Building],
    index: pd.DatetimeIndex,
    columns: list[_Columns],
    options: ProfileOptions,
    seed: int,
    timezone: str,
) -> list[_Columns]:
    """Every car's charging power (none without cars)."""
    cars = [(b, ev) for b in buildings for ev in b.evs]
    if not cars:
        return []
    charger_kw = [b.chargers[0].p_rated_kw if b.chargers else SOCKET_KW for b, _ in cars]
    names = [f"{b.id}/ev{i}" for b, i in _numbered(cars)]
    surplus = None
    if options.ev_charging == "pv_surplus":  # the building's export, shared by its cars
        net = _net_load_by_building(columns, index)
        export = {b.id: np.where(-net[b.id].to_numpy() >= 0, -net[b.id].to_numpy(), 0.0) for b, _ in cars}
        shares = np.stack([export[b.id] / _count(cars, b) for b, _ in cars])  # car x time, as the model reads it
        surplus = pd.DataFrame(shares.T, index=index, columns=names)
    params = [
        EVParameters(
            battery_kwh=car.capacity_kwh,
            consumption_kwh_per_km=car.consumption_kwh_per_km,
            daily_distance_mean_km=car.distance_km_per_a / _USE_DAYS_PER_YEAR,
        )
        for _, car in cars
    ]
    result = ev_fleet_charging_kw(
        index,
        charger_kw,
        seeds=[seed + 7919 * (number + 1) for number in range(len(cars))],
        params=params,
        mode=options.ev_charging,
        surplus_kw=surplus,
        names=names,
        timezone=timezone,
    )
    return [_Columns(result.p_kw, "ev", [b for b, _ in cars], p_rated_kw=charger_kw)]


def _net_load_by_building(columns: list[_Columns], index: pd.DatetimeIndex) -> dict[str, pd.Series]:
    """Sum of the electric power of the assets computed so far, per building id."""
    sums: dict[str, np.ndarray] = {}  # on arrays: pandas' per-column arithmetic cost more
    for group in columns:
        frame = group.p_kw if group.p_kw.index.equals(index) else group.p_kw.reindex(index, fill_value=0.0)
        values = frame.to_numpy(dtype=np.float64)
        for j, building in enumerate(group.buildings):
            sums[building.id] = sums[building.id] + values[:, j] if building.id in sums else values[:, j].copy()
    return {k: pd.Series(v, index=index) for k, v in sums.items()}


def _assemble(columns: list[_Columns], soc: pd.DataFrame | None, period: slice) -> xr.Dataset:
    index = columns[0].p_kw.index
    rows = _rows(index, period)
    time = index[rows]
    names = [name for group in columns for name in group.p_kw.columns]
    n_time = len(time)
    # filled column block by column block into C order: the power flow and KPIs run along time steps
    p_kw = np.empty((n_time, len(names)), dtype=np.float32)
    fuel = np.zeros((n_time, len(names)), dtype=np.float32)
    position = 0
    ratings: dict[str, list[float]] = {"p_rated_kw": [], "p_peak_kw": [], "capacity_kwh": []}
    kinds: list[str] = []
    buildings: list[str] = []
    buses: list[str] = []
    for group in columns:
        width = group.p_kw.shape[1]
        frame = group.p_kw if group.p_kw.index.equals(index) else group.p_kw.reindex(index, fill_value=0.0)
        p_kw[:, position : position + width] = frame.to_numpy()[rows]
        if group.p_fuel_kw is not None:
            fuel[:, position : position + width] = np.asarray(group.p_fuel_kw)[rows]
        for name in ratings:
            values = getattr(group, name)
            ratings[name].extend([np.nan] * width if values is None else [float(v) for v in values])
        kinds.extend([group.kind] * width)
        buildings.extend(b.id for b in group.buildings)
        buses.extend(b.bus for b in group.buildings)
        position += width
    soc_frac = None
    if soc is not None:
        soc_frac = np.full(p_kw.shape, np.nan, dtype=np.float32)
        where = [names.index(c) for c in soc.columns]
        soc_frac[:, where] = soc.to_numpy()[rows]
    return build_assets(
        time,
        asset=names,
        kind=kinds,
        building=buildings,
        bus=buses,
        p_kw=p_kw,
        p_fuel_kw=fuel,
        soc_frac=soc_frac,
        p_rated_kw=ratings["p_rated_kw"],
        p_peak_kw=ratings["p_peak_kw"],
        capacity_kwh=ratings["capacity_kwh"],
        source="simulated",
        copy=False,
    )


def _rows(index: pd.DatetimeIndex, period: slice) -> slice | np.ndarray:
    return index.slice_indexer(period.start, period.stop)


def _period(index: pd.DatetimeIndex, options: ProfileOptions) -> slice:
    start = index[0] if options.start is None else _utc(options.start)
    end = index[-1] + (index[1] - index[0]) if options.end is None else _utc(options.end)
    if not (index[0] <= start < end <= index[-1] + (index[1] - index[0])):
        raise ConfigError(
            f"period {start} to {end} is empty or outside {options.year}",
            field="start",
            allowed=f"{index[0]} <= start < end <= {index[-1] + (index[1] - index[0])}",
        )
    # .loc slices include the end label: stop one step before `end`
    return slice(start, end - (index[1] - index[0]))


def _utc(value: str | pd.Timestamp) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _numbered(items: Sequence[tuple[Building, Any]]) -> list[tuple[Building, int]]:
    """(building, n-th item of that building) for each item."""
    seen: dict[str, int] = {}
    out = []
    for building, _ in items:
        out.append((building, seen.get(building.id, 0)))
        seen[building.id] = seen.get(building.id, 0) + 1
    return out


def _count(items: Sequence[tuple[Building, Any]], building: Building) -> int:
    return sum(1 for b, _ in items if b.id == building.id)


def _seed(seed: int, name: str) -> int:
    """A per-district seed, stable across processes (unlike ``hash``)."""
    digest = hashlib.sha256(f"{name}:{seed}".encode()).digest()
    return int.from_bytes(digest[:4], "little")
