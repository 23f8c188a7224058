"""Which devices the simulated field has, and what each of them measures.

:func:`field_layout` turns a district and its assets dataset (the profiles of
:func:`models.profiles.district_profiles`) into device specifications: a device id,
its kind (:data:`connectors.site.DEVICE_KINDS`), register map, where it answers (its own
port, or a gateway port and a unit id) and what it measures as a weighted sum of
*sources* (:class:`PowerTerm`) - columns of the field's value table:

* :class:`AssetPower`: an asset's active power, load-positive [kW];
* :class:`AssetFuel`: a gas boiler's gas drawn [kW];
* :data:`GRID`: the power at the substation from the power flow (buildings + grid losses) [kW];
* :data:`COMMUNITY`: the community battery's actual power, set while the field runs [kW].

The devices (DESIGN.md section 4):

==========================  ==================================  =======================================
device                      one per                             measures
==========================  ==================================  =======================================
``<b>/meter``               building                            sum of the building's electric assets
``substation/meter``        district                            ``grid`` + ``community``
``<b>/pv<i>``               PV system                           the PV asset
``<b>/battery<i>``          home battery                        the battery asset and its SOC
``community_battery``       district (optional)                 its own setpoint, limits and SOC
``weather_station``         district (optional)                 the field's weather (:mod:`twin.field.station`)
``<b>/heat_pump_meter``     heat pump (SDM630)                  the heat-pump asset
``<b>/charger<i>``          charging point (SDM630)             the cars charging there
``<b>/flat<nn>``            flat of an MFH or AB (SDM630)       a share of the building's load
``<b>/gas_meter``           gas boiler                          the boiler's gas drawn (counter)
==========================  ==================================  =======================================

Households: the flats of multi-family buildings (TABULA ``MFH`` and ``AB``) get an SDM630
each, behind one Modbus TCP gateway per building (unit ids 1..n, as RS-485 meters behind
a gateway are wired). The building's ``load`` asset is split over its flats in
proportion to each household's BDEW annual estimate (:func:`models.building_estimates.
household_electricity_kwh_per_a`), so the flats' meters sum exactly to the building's
household load; common areas are not metered separately.

Charging points: car ``i`` of a building charges at the building's charger ``i`` (the
last charger if it has fewer); a building with cars and no charger gets one SDM630 at
its socket (``<b>/charger0``). Chargers without a car (public ones) read 0 kW. Every charging
point serves the ``wallbox`` map: the SDM630's registers (the site file names ``sdm630``) and
holding registers through which an external controller takes it over (:mod:`twin.field.control`).

Vendors: every third PV inverter speaks SunSpec 701 instead of 103, every second home
battery 701 + 802 instead of 103 + 124, so each SunSpec kind is in the field. Inverters
above 30 kWp serve ``W`` with scale factor 1 (int16 W would overflow at 32.7 kW).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Final

import xarray as xr

from connectors.site import DeviceKind
from models.battery import BatteryParameters, BatteryUnit
from models.building_estimates import household_electricity_kwh_per_a
from models.district import Building, District

__all__ = [
    "COMMUNITY",
    "COMMUNITY_BATTERY_ID",
    "DEFAULT_COMMUNITY_BATTERY",
    "GRID",
    "SUBSTATION_METER_ID",
    "WEATHER_STATION_ID",
    "AssetFuel",
    "AssetPower",
    "CommunityPower",
    "DeviceSpec",
    "GridPower",
    "PowerTerm",
    "Source",
    "field_layout",
]

#: Device id of the substation meter.
SUBSTATION_METER_ID: Final[str] = "substation/meter"
#: Device id of the community battery.
COMMUNITY_BATTERY_ID: Final[str] = "community_battery"
#: Device id of the district's weather station.
WEATHER_STATION_ID: Final[str] = "weather_station"
#: Building types whose flats get household meters.
FLAT_TYPES: Final[frozenset[str]] = frozenset({"MFH", "AB"})
#: PV systems above this peak power serve W with scale factor 1. [kW]
LARGE_INVERTER_KW: Final[float] = 30.0
#: The community battery of a field unless told otherwise: 200 kWh, 100 kW, 0.95 each way,
#: state of charge within 5-95 %, starting at 50 %.
DEFAULT_COMMUNITY_BATTERY: Final[BatteryUnit] = BatteryUnit(
    capacity_kwh=200.0,
    p_rated_kw=100.0,
    params=BatteryParameters(
        eta_charge_frac=0.95, eta_discharge_frac=0.95, soc_min_frac=0.05, soc_max_frac=0.95, soc_initial_frac=0.5
    ),
)


@dataclass(frozen=True)
class AssetPower:
    """An asset's active power [kW], load-positive."""

    asset: str


@dataclass(frozen=True)
class AssetFuel:
    """A gas boiler's gas drawn [kW]."""

    asset: str


@dataclass(frozen=True)
class GridPower:
    """The power [kW] at the substation from the power flow (buildings and grid losses), import-positive."""


@dataclass(frozen=True)
class CommunityPower:
    """The community battery's actual power [kW], load-positive, set while the field runs."""


#: A column of the field's value table.
Source = AssetPower | AssetFuel | GridPower | CommunityPower
#: The substation's power flow result.
GRID: Final[GridPower] = GridPower()
#: The community battery's power.
COMMUNITY: Final[CommunityPower] = CommunityPower()


@dataclass(frozen=True, kw_only=True)
class PowerTerm:
    """One weighted source of a device's measured power."""

    source: Source
    weight: float = 1.0


@dataclass(frozen=True, kw_only=True)
class DeviceSpec:
    """One device of the field: identity, register map, endpoint, and what it measures.

    Attributes
    ----------
    id, kind, building, bus : str
        As in the site file (``building`` is None for district devices).
    map_name : str
        Built-in register map.
    power : tuple of PowerTerm
        The measured power as a weighted sum of sources (module docstring), in the
        twin's sign: load-positive for assets, import-positive for meters. [kW]
    power_quantity : str or None
        The map's power quantity (``p_kw`` or ``p_meter_kw``); None for gas meters.
    gateway : str or None
        Devices with the same gateway share one port and differ by ``unit_id``.
    unit_id : int
        Modbus unit id.
    soc_asset : str or None
        Battery asset whose ``soc_frac`` the device serves.
    static : dict
        Point values set once (serial number, scale factors).
    capacity_kwh, p_rated_kw, p_peak_kw : float or None
        Ratings written to the site file.
    served_map : str or None
        The map the device serves where it differs from ``map_name`` (the site file's): a
        device with another SunSpec model chain, which the poller discovers.
    """

    id: str
    kind: DeviceKind
    map_name: str
    building: str | None
    bus: str | None
    power: tuple[PowerTerm, ...]
    power_quantity: str | None
    gateway: str | None = None
    unit_id: int = 1
    soc_asset: str | None = None
    static: dict[str, float | str] = field(default_factory=dict)
    capacity_kwh: float | None = None
    p_rated_kw: float | None = None
    p_peak_kw: float | None = None
    served_map: str | None = None


def field_layout(
    district: District,
    assets: xr.Dataset,
    *,
    lv_busbar: str,
    community_battery: BatteryUnit | None,
    weather_station: bool = True,
) -> list[DeviceSpec]:
    """Specify every device of the district's simulated field.

    Parameters
    ----------
    district : District
        The validated district (households and buses of the buildings).
    assets : xarray.Dataset
        The district's assets (coordinates ``kind``, ``building``, ``bus`` and ratings).
    lv_busbar : str
        Bus name of the transformer's low-voltage busbar (substation meter, community battery).
    community_battery : BatteryUnit or None
        The community battery, if the field has one.
    weather_station : bool
        Whether the field has a weather station (SunSpec 1 + 308, no power; at the LV busbar).

    Returns
    -------
    devices : list of DeviceSpec
        In site-file order: substation, community battery, weather station, then building by building.
    """
    kinds = [str(kind) for kind in assets["kind"].values]
    names = [str(name) for name in assets["asset"].values]
    owner = [str(b) for b in assets["building"].values]
    of_building: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for name, kind, building in zip(names, kinds, owner, strict=True):
        of_building[building].append((kind, name))
    rating = {
        key: dict(zip(names, (float(v) for v in assets[key].values), strict=True))
        for key in ("p_peak_kw", "p_rated_kw", "capacity_kwh")
    }
    # a heat pump's meter states its electric rating: the largest draw of the year, backup heater
    # included (its asset's p_rated_kw is the thermal rating); section 14a counts it (BK6-22-300 A1 2.4.1)
    electric = assets["p_kw"].max("time").values
    rating["p_electric_kw"] = dict(zip(names, (float(v) for v in electric), strict=True))
    substation_power = [PowerTerm(source=GRID)]
    if community_battery is not None:
        substation_power.append(PowerTerm(source=COMMUNITY))
    devices = [
        DeviceSpec(
            id=SUBSTATION_METER_ID,
            kind="substation_meter",
            map_name="sunspec_meter_substation",
            building=None,
            bus=lv_busbar,
            power=tuple(substation_power),
            power_quantity="p_meter_kw",
            static={"1.SN": "SUB-0001"},
        )
    ]
    if community_battery is not None:
        devices.append(
            DeviceSpec(
                id=COMMUNITY_BATTERY_ID,
                kind="community_battery",
                map_name="community_battery",
                building=None,
                bus=lv_busbar,
                power=(PowerTerm(source=COMMUNITY),),
                power_quantity="p_kw",
                capacity_kwh=community_battery.capacity_kwh,
                p_rated_kw=community_battery.p_rated_kw,
            )
        )
    if weather_station:
        devices.append(_weather_station(lv_busbar))
    counters: dict[str, int] = defaultdict(int)
    for house in district.buildings:
        devices.extend(_building_devices(house, of_building.get(house.id, []), rating, counters))
    return devices


def _weather_station(lv_busbar: str) -> DeviceSpec:
    """The district's weather station at the substation (no power; :mod:`twin.field.station`)."""
    return DeviceSpec(
        id=WEATHER_STATION_ID,
        kind="weather_station",
        map_name="weather_station",
        building=None,
        bus=lv_busbar,
        power=(),
        power_quantity=None,
        static={"1.SN": "MET-0001"},
    )


def _building_devices(
    building: Building,
    assets: list[tuple[str, str]],
    rating: dict[str, dict[str, float]],
    counters: dict[str, int],
) -> list[DeviceSpec]:
    bid, bus = building.id, building.bus
    electric = tuple(PowerTerm(source=AssetPower(name)) for kind, name in assets if kind != "gas_boiler")
    devices = [
        DeviceSpec(
            id=f"{bid}/meter",
            kind="building_meter",
            map_name="sunspec_meter",
            building=bid,
            bus=bus,
            power=electric,
            power_quantity="p_meter_kw",
            static=_sn("BM", counters),
        )
    ]
    for kind, name in assets:
        local = name.split("/", 1)[1]
        if kind == "pv":
            devices.append(_inverter(bid, bus, name, local, rating["p_peak_kw"][name], counters))
        elif kind == "battery":
            devices.append(
                _battery(bid, bus, name, local, rating["capacity_kwh"][name], rating["p_rated_kw"][name], counters)
            )
        elif kind == "heat_pump":
            devices.append(
                DeviceSpec(
                    id=f"{bid}/heat_pump_meter",
                    kind="heat_pump_meter",
                    map_name="sdm630",
                    building=bid,
                    bus=bus,
                    power=(PowerTerm(source=AssetPower(name)),),
                    power_quantity="p_kw",
                    p_rated_kw=rating["p_electric_kw"][name],
                )
            )
        elif kind == "gas_boiler":
            devices.append(
                DeviceSpec(
                    id=f"{bid}/gas_meter",
                    kind="gas_meter",
                    map_name="gas_meter",
                    building=bid,
                    bus=bus,
                    power=(PowerTerm(source=AssetFuel(name)),),
                    power_quantity=None,
                )
            )
    devices.extend(_charger_meters(building, bid, bus, [name for kind, name in assets if kind == "ev"]))
    load = [name for kind, name in assets if kind == "load"]
    if building.type in FLAT_TYPES and load:
        devices.extend(_flat_meters(building, bid, bus, load[0]))
    return devices


def _inverter(bid: str, bus: str, name: str, local: str, p_peak_kw: float, counters: dict[str, int]) -> DeviceSpec:
    sunspec_701 = counters["pv"] % 3 == 2
    # every sixth inverter (from the second) carries the float model 113: the site file names the
    # integer map, and the poller finds the float points by walking the device's model chain
    sunspec_float = counters["pv"] % 6 == 1
    model = "701" if sunspec_701 else "103"
    static = _sn("PV", counters)
    if p_peak_kw > LARGE_INVERTER_KW and not sunspec_float:
        static[f"{model}.W_SF"] = 1
    return DeviceSpec(
        id=f"{bid}/{local}",
        kind="pv_inverter",
        map_name="sunspec_inverter_701" if sunspec_701 else "sunspec_inverter",
        building=bid,
        bus=bus,
        power=(PowerTerm(source=AssetPower(name)),),
        power_quantity="p_kw",
        static=static,
        p_peak_kw=p_peak_kw,
        served_map="sunspec_inverter_float" if sunspec_float else None,
    )


def _battery(
    bid: str, bus: str, name: str, local: str, capacity_kwh: float, p_rated_kw: float, counters: dict[str, int]
) -> DeviceSpec:
    sunspec_701 = counters["battery"] % 2 == 1
    static = _sn("BT", counters)
    if sunspec_701:
        static["802.WChaRteMax"] = p_rated_kw * 1000.0
        static["802.WDisChaRteMax"] = p_rated_kw * 1000.0
    else:
        static["124.WChaMax"] = p_rated_kw * 1000.0
    return DeviceSpec(
        id=f"{bid}/{local}",
        kind="battery",
        map_name="sunspec_battery_701" if sunspec_701 else "sunspec_battery",
        building=bid,
        bus=bus,
        power=(PowerTerm(source=AssetPower(name)),),
        power_quantity="p_kw",
        soc_asset=name,
        static=static,
        capacity_kwh=capacity_kwh,
        p_rated_kw=p_rated_kw,
    )


def _charger_meters(building: Building, bid: str, bus: str, cars: list[str]) -> list[DeviceSpec]:
    chargers = list(building.chargers)
    points = max(len(chargers), 1 if cars else 0)
    power: list[list[PowerTerm]] = [[] for _ in range(points)]
    for number, car in enumerate(cars):
        power[min(number, points - 1)].append(PowerTerm(source=AssetPower(car)))
    return [
        DeviceSpec(
            id=f"{bid}/charger{index}",
            kind="ev_charger_meter",
            map_name="sdm630",
            building=bid,
            bus=bus,
            power=tuple(power[index]),
            power_quantity="p_kw",
            p_rated_kw=chargers[index].p_rated_kw if index < len(chargers) else None,
            served_map="wallbox",
        )
        for index in range(points)
    ]


def _flat_meters(building: Building, bid: str, bus: str, load: str) -> list[DeviceSpec]:
    persons = [group.persons for group in building.households for _ in range(group.count)]
    if not 0 < len(persons) <= 247:
        return []
    energy = [household_electricity_kwh_per_a(n, flat=True) for n in persons]
    total = sum(energy)
    return [
        DeviceSpec(
            id=f"{bid}/flat{number:02d}",
            kind="household_meter",
            map_name="sdm630",
            building=bid,
            bus=bus,
            power=(PowerTerm(source=AssetPower(load), weight=share / total),),
            power_quantity="p_kw",
            gateway=f"{bid}/gateway",
            unit_id=number,
        )
        for number, share in enumerate(energy, start=1)
    ]


def _sn(prefix: str, counters: dict[str, int]) -> dict[str, float | str]:
    """A serial number for the SunSpec common model, counting per prefix."""
    key = {"PV": "pv", "BT": "battery", "BM": "meter"}[prefix]
    counters[key] += 1
    return {"1.SN": f"{prefix}-{counters[key]:05d}"}
