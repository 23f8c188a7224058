"""Which devices the simulated field has, and what each of them measures.

:func:`field_layout` turns a district and its assets dataset (the profiles of
:func:`models.profiles.district_profiles`) into device specifications: a device id,
its kind (:data:`connectors.site.DEVICE_KINDS`), register map, where it answers (its own
port, or a gateway port and a unit id) and what it measures as a weighted sum of
*sources* - columns of the field's value table:

* ``p:<asset>``: an asset's active power, load-positive [kW];
* ``fuel:<asset>``: a gas boiler's gas drawn [kW];
* ``grid``: the power at the substation from the power flow (buildings + grid losses) [kW];
* ``community``: the community battery's actual power, set while the field runs [kW].

The devices (DESIGN.md section 4):

==========================  ==================================  =======================================
device                      one per                             measures
==========================  ==================================  =======================================
``<b>/meter``               building                            sum of the building's electric assets
``substation/meter``        district                            ``grid`` + ``community``
``<b>/pv<i>``               PV system                           the PV asset
``<b>/battery<i>``          home battery                        the battery asset and its SOC
``community_battery``       district (optional)                 its own setpoint, limits and SOC
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
its socket (``<b>/charger0``). Chargers without a car (public ones) read 0 kW.

Vendors: every third PV inverter speaks SunSpec 701 instead of 103, every second home
battery 701 + 802 instead of 103 + 124, so each SunSpec kind is in the field. Inverters
above 30 kWp serve ``W`` with scale factor 1 (int16 W would overflow at 32.7 kW).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Final

import xarray as xr

from models.building_estimates import household_electricity_kwh_per_a
from models.district import Building, District

__all__ = [
    "COMMUNITY_BATTERY_ID",
    "SUBSTATION_METER_ID",
    "CommunityBattery",
    "DeviceSpec",
    "field_layout",
]

#: Device id of the substation meter.
SUBSTATION_METER_ID: Final[str] = "substation/meter"
#: Device id of the community battery.
COMMUNITY_BATTERY_ID: Final[str] = "community_battery"
#: Building types whose flats get household meters.
FLAT_TYPES: Final[frozenset[str]] = frozenset({"MFH", "AB"})
#: PV systems above this peak power serve W with scale factor 1. [kW]
LARGE_INVERTER_KW: Final[float] = 30.0


@dataclass(frozen=True)
class CommunityBattery:
    """The community battery at the transformer's low-voltage busbar.

    Parameters
    ----------
    capacity_kwh : float
        Usable capacity. [kW h]
    p_rated_kw : float
        Largest charge and discharge power. [kW]
    efficiency_frac : float
        Efficiency of charging and of discharging, each way. [1]
    soc_min_frac, soc_max_frac : float
        State-of-charge window. [1]
    soc_start_frac : float
        State of charge at the field's start. [1]
    """

    capacity_kwh: float = 200.0
    p_rated_kw: float = 100.0
    efficiency_frac: float = 0.95
    soc_min_frac: float = 0.05
    soc_max_frac: float = 0.95
    soc_start_frac: float = 0.5


@dataclass(frozen=True)
class DeviceSpec:
    """One device of the field: identity, register map, endpoint, and what it measures.

    Attributes
    ----------
    id, kind, building, bus : str
        As in the site file (``building`` is None for district devices).
    map_name : str
        Built-in register map.
    power : tuple of (str, float)
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
    """

    id: str
    kind: str
    map_name: str
    building: str | None
    bus: str | None
    power: tuple[tuple[str, float], ...]
    power_quantity: str | None
    gateway: str | None = None
    unit_id: int = 1
    soc_asset: str | None = None
    static: dict[str, float | str] = field(default_factory=dict)
    capacity_kwh: float | None = None
    p_rated_kw: float | None = None
    p_peak_kw: float | None = None


def field_layout(
    district: District, assets: xr.Dataset, *, lv_busbar: str, community_battery: CommunityBattery | None
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
    community_battery : CommunityBattery or None
        The community battery, if the field has one.

    Returns
    -------
    devices : list of DeviceSpec
        In site-file order: substation, community battery, then building by building.
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

    substation_power: list[tuple[str, float]] = [("grid", 1.0)]
    devices: list[DeviceSpec] = []
    if community_battery is not None:
        substation_power.append(("community", 1.0))
    devices.append(
        DeviceSpec(
            SUBSTATION_METER_ID,
            "substation_meter",
            "sunspec_meter_substation",
            None,
            lv_busbar,
            tuple(substation_power),
            "p_meter_kw",
            static={"1.SN": "SUB-0001"},
        )
    )
    if community_battery is not None:
        devices.append(
            DeviceSpec(
                COMMUNITY_BATTERY_ID,
                "community_battery",
                "community_battery",
                None,
                lv_busbar,
                (("community", 1.0),),
                "p_kw",
                capacity_kwh=community_battery.capacity_kwh,
                p_rated_kw=community_battery.p_rated_kw,
            )
        )
    counters: dict[str, int] = defaultdict(int)
    for house in district.buildings:
        devices.extend(_building_devices(house, of_building.get(house.id, []), rating, counters))
    return devices


def _building_devices(
    building: Building,
    assets: list[tuple[str, str]],
    rating: dict[str, dict[str, float]],
    counters: dict[str, int],
) -> list[DeviceSpec]:
    b = building
    bid, bus = b.id, b.bus
    electric = tuple((f"p:{name}", 1.0) for kind, name in assets if kind != "gas_boiler")
    devices = [
        DeviceSpec(
            f"{bid}/meter",
            "building_meter",
            "sunspec_meter",
            bid,
            bus,
            electric,
            "p_meter_kw",
            static=_sn("BM", counters),
        )
    ]
    for kind, name in assets:
        local = name.split("/", 1)[1]
        if kind == "pv":
            devices.append(_inverter(bid, bus, name, local, rating["p_peak_kw"][name], counters))
        elif kind == "battery":
            number = counters["battery"]
            sunspec_701 = number % 2 == 1
            static = _sn("BT", counters)
            if sunspec_701:
                static["802.WChaRteMax"] = rating["p_rated_kw"][name] * 1000.0
                static["802.WDisChaRteMax"] = rating["p_rated_kw"][name] * 1000.0
            else:
                static["124.WChaMax"] = rating["p_rated_kw"][name] * 1000.0
            devices.append(
                DeviceSpec(
                    f"{bid}/{local}",
                    "battery",
                    "sunspec_battery_701" if sunspec_701 else "sunspec_battery",
                    bid,
                    bus,
                    ((f"p:{name}", 1.0),),
                    "p_kw",
                    soc_asset=name,
                    static=static,
                    capacity_kwh=rating["capacity_kwh"][name],
                    p_rated_kw=rating["p_rated_kw"][name],
                )
            )
        elif kind == "heat_pump":
            devices.append(
                DeviceSpec(
                    f"{bid}/heat_pump_meter",
                    "heat_pump_meter",
                    "sdm630",
                    bid,
                    bus,
                    ((f"p:{name}", 1.0),),
                    "p_kw",
                    p_rated_kw=rating["p_rated_kw"][name],
                )
            )
        elif kind == "gas_boiler":
            devices.append(
                DeviceSpec(f"{bid}/gas_meter", "gas_meter", "gas_meter", bid, bus, ((f"fuel:{name}", 1.0),), None)
            )
    devices.extend(_charger_meters(b, bid, bus, [name for kind, name in assets if kind == "ev"]))
    load = [name for kind, name in assets if kind == "load"]
    if b.type in FLAT_TYPES and load:
        devices.extend(_flat_meters(b, bid, bus, load[0]))
    return devices


def _inverter(bid: str, bus: str, name: str, local: str, p_peak_kw: float, counters: dict[str, int]) -> DeviceSpec:
    sunspec_701 = counters["pv"] % 3 == 2
    model = "701" if sunspec_701 else "103"
    static = _sn("PV", counters)
    if p_peak_kw > LARGE_INVERTER_KW:
        static[f"{model}.W_SF"] = 1
    return DeviceSpec(
        f"{bid}/{local}",
        "pv_inverter",
        "sunspec_inverter_701" if sunspec_701 else "sunspec_inverter",
        bid,
        bus,
        ((f"p:{name}", 1.0),),
        "p_kw",
        static=static,
        p_peak_kw=p_peak_kw,
    )


def _charger_meters(building: Building, bid: str, bus: str, cars: list[str]) -> list[DeviceSpec]:
    chargers = list(building.chargers)
    points = max(len(chargers), 1 if cars else 0)
    power: list[list[tuple[str, float]]] = [[] for _ in range(points)]
    for number, car in enumerate(cars):
        power[min(number, points - 1)].append((f"p:{car}", 1.0))
    return [
        DeviceSpec(
            f"{bid}/charger{index}",
            "ev_charger_meter",
            "sdm630",
            bid,
            bus,
            tuple(power[index]),
            "p_kw",
            p_rated_kw=chargers[index].p_rated_kw if index < len(chargers) else None,
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
            f"{bid}/flat{number:02d}",
            "household_meter",
            "sdm630",
            bid,
            bus,
            ((f"p:{load}", share / total),),
            "p_kw",
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
