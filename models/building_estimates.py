"""Annual demand and PV-potential estimates per building, from the TABULA inputs of the district file.

Three estimates, each with its source next to its numbers:

- household electricity by household size (BDEW 2021) with a lower value for flats
  (co2online Stromspiegel), non-residential electricity per m2;
- heat demand (space heating need q_h_nd plus domestic hot water q_w_nd) per m2 of
  TABULA reference floor area, by TABULA DE building type, construction-year class
  and refurbishment state (IWU, "Deutsche Wohngebäudetypologie", 2nd ed. 2015,
  national reference climate Potsdam; the values are the TABULA data set's), and for
  non-residential uses per m2 of floor area;
- roof PV potential in kWp from the usable area of roof faces that face east,
  south or west, or are flat.

A measured annual value in the district file (``electricity_kwh_per_a``,
``heat_kwh_per_a``) replaces the estimate. These are energy *needs* at the
building (useful heat, electricity at the meter), not fuel: a gas boiler's fuel
is heat divided by its efficiency, which the scenario models apply.
:func:`summarize_district` adds them up for ``twin district show``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from models.district import RESIDENTIAL_TYPES, Building, District, Roof

__all__ = [
    "AGE_CLASSES",
    "DHW_NEED_KWH_PER_M2A",
    "FLAT_ELECTRICITY_FACTOR",
    "FUEL_BOILER_EFFICIENCY_FRAC",
    "HEAT_NEED_KWH_PER_M2A",
    "HEAT_PUMP_SEASONAL_COP",
    "HOUSEHOLD_ELECTRICITY_KWH_PER_A",
    "NON_RESIDENTIAL_KWH_PER_M2A",
    "ROOF_M2_PER_KWP_FLAT",
    "ROOF_M2_PER_KWP_PITCHED",
    "BuildingEstimate",
    "DistrictSummary",
    "age_class",
    "estimate_building",
    "fuel_kwh_by_carrier",
    "heat_kwh_per_a",
    "household_electricity_kwh_per_a",
    "pv_potential_kwp",
    "summarize_district",
]

#: TABULA DE construction-year classes: (code, first year, last year).
AGE_CLASSES: tuple[tuple[str, int, int], ...] = (
    ("DE.01", 0, 1859),
    ("DE.02", 1860, 1918),
    ("DE.03", 1919, 1948),
    ("DE.04", 1949, 1957),
    ("DE.05", 1958, 1968),
    ("DE.06", 1969, 1978),
    ("DE.07", 1979, 1983),
    ("DE.08", 1984, 1994),
    ("DE.09", 1995, 2001),
    ("DE.10", 2002, 2009),
    ("DE.11", 2010, 2015),
    ("DE.12", 2016, 9999),
)

#: Annual household electricity by persons per household (5 = five or more), without
#: electric hot water. Source: BDEW, "Stromverbrauch im Haushalt", 2021:
#: 1,900 / 2,890 / 3,720 / 4,085 / 5,430 kWh/a (national averages over all dwellings). [kW h]
HOUSEHOLD_ELECTRICITY_KWH_PER_A: dict[int, float] = {1: 1900.0, 2: 2890.0, 3: 3720.0, 4: 4085.0, 5: 5430.0}
#: Flats use less than houses of the same household size: co2online Stromspiegel, mean class,
#: 2-person household without electric hot water: ~2,000 kWh/a in a flat vs ~3,000 kWh/a in a
#: house. We apply 0.7 to the BDEW figures for households in MFH and AB buildings
#: (1 person: 1,330 kWh/a; 5+: 3,800 kWh/a). [1]
FLAT_ELECTRICITY_FACTOR = 0.7

#: Energy need for space heating q_h_nd per m2 of TABULA reference floor area A_C,ref, as
#: (existing, usual_refurbishment, advanced_refurbishment), by type and age class. [kW h m-2 a-1]
#: Source: IWU TABULA DE typology (Loga, Stein, Diefenbach: "Deutsche Wohngebäudetypologie",
#: 2nd ed., IWU Darmstadt 2015), data set "tabula_DE" as redistributed with FZJ HiSim
#: (hisim/inputs/housing/data_raw/tabula_DE_complete.csv), variants
#: DE.N.<type>.<class>.Gen.ReEx.001.00{1,2,3}, column q_h_nd, national reference climate
#: (Potsdam). Classes DE.11 and DE.12 are new buildings; their three variants are the building
#: standards EnEV minimum / KfW-Effizienzhaus 70 (DE.11) or 55 (DE.12) / KfW-Effizienzhaus 40,
#: mapped here onto existing / usual / advanced. TABULA has no TH before 1860 and no AB before
#: 1860 or after 1978: those cells repeat the nearest class (TH, AB DE.01 = DE.02) or, for AB DE.07-DE.12,
#: scale the MFH cell of the same class by the AB/MFH ratio of the latest TABULA AB class
#: (DE.06: 0.823 / 0.817 / 0.823 for existing / usual / advanced; apartment blocks have less
#: envelope per m2 than MFH), marked "(filled)". TABULA's q_h_nd is a calculation under
#: standard conditions; for poorly insulated buildings it is known to exceed metered
#: consumption (IWU 2015 gives a calibration to typical consumption that is not applied here).
HEAT_NEED_KWH_PER_M2A: dict[str, dict[str, tuple[float, float, float]]] = {
    "SFH": {
        "DE.01": (282.7, 94.8, 49.0),
        "DE.02": (269.7, 98.5, 57.5),
        "DE.03": (218.5, 83.6, 50.7),
        "DE.04": (272.9, 119.2, 61.4),
        "DE.05": (265.3, 128.1, 69.9),
        "DE.06": (195.3, 91.5, 58.5),
        "DE.07": (130.6, 73.5, 45.5),
        "DE.08": (151.7, 96.5, 57.2),
        "DE.09": (98.2, 76.0, 57.8),
        "DE.10": (70.1, 61.3, 55.0),
        "DE.11": (82.2, 67.5, 42.0),
        "DE.12": (69.5, 61.0, 42.0),
    },
    "TH": {
        "DE.01": (199.5, 94.8, 51.8),  # (filled) = DE.02
        "DE.02": (199.5, 94.8, 51.8),
        "DE.03": (155.8, 68.0, 43.6),
        "DE.04": (193.4, 81.1, 51.7),
        "DE.05": (106.9, 59.4, 38.9),
        "DE.06": (137.6, 72.4, 47.2),
        "DE.07": (137.6, 86.8, 51.8),
        "DE.08": (95.4, 70.3, 43.2),
        "DE.09": (69.7, 57.3, 40.3),
        "DE.10": (62.0, 59.2, 50.7),
        "DE.11": (69.8, 57.2, 36.8),
        "DE.12": (58.8, 51.7, 36.8),
    },
    "MFH": {
        "DE.01": (284.9, 101.1, 48.5),
        "DE.02": (172.5, 80.0, 40.8),
        "DE.03": (218.5, 81.8, 47.6),
        "DE.04": (193.7, 78.5, 48.4),
        "DE.05": (140.2, 64.7, 40.3),
        "DE.06": (147.9, 72.6, 45.3),
        "DE.07": (122.6, 66.5, 42.0),
        "DE.08": (127.6, 70.5, 44.0),
        "DE.09": (80.6, 53.0, 44.0),
        "DE.10": (49.9, 44.9, 41.3),
        "DE.11": (72.7, 44.7, 35.3),
        "DE.12": (71.4, 49.1, 35.3),
    },
    "AB": {
        "DE.01": (134.5, 70.4, 36.5),  # (filled) = DE.02
        "DE.02": (134.5, 70.4, 36.5),
        "DE.03": (167.4, 69.1, 42.6),
        "DE.04": (164.0, 68.1, 41.8),
        "DE.05": (143.3, 63.1, 39.3),
        "DE.06": (121.7, 59.3, 37.3),
        "DE.07": (100.9, 54.3, 34.6),  # (filled) = MFH x AB/MFH of DE.06
        "DE.08": (105.0, 57.6, 36.2),  # (filled) = MFH x AB/MFH of DE.06
        "DE.09": (66.3, 43.3, 36.2),  # (filled) = MFH x AB/MFH of DE.06
        "DE.10": (41.1, 36.7, 34.0),  # (filled) = MFH x AB/MFH of DE.06
        "DE.11": (59.8, 36.5, 29.1),  # (filled) = MFH x AB/MFH of DE.06
        "DE.12": (58.8, 40.1, 29.1),  # (filled) = MFH x AB/MFH of DE.06
    },
}
#: Domestic hot water need per m2 of reference area: TABULA boundary conditions EU.SUH
#: (single-unit houses) 10 and EU.MUH (multi-unit houses) 15 kWh/(m2 a) (TABULA data set, q_w_nd).
DHW_NEED_KWH_PER_M2A: dict[str, float] = {"SFH": 10.0, "TH": 10.0, "MFH": 15.0, "AB": 15.0}

#: Non-residential heat and electricity per m2 of net floor area, existing state, as (heat, electricity).
#: ASSUMPTIONS of the right order of magnitude, not read from a table: the comparison values of the
#: BMWi/BMI "Bekanntmachung der Regeln für Energieverbrauchswerte und der Vergleichswerte im
#: Nichtwohngebäudebestand" (15 April 2021, replacing that of 7 April 2015) are the reference to
#: check them against. Schools and kindergartens use little electricity and much heat; the Kulturhaus
#: start-up centre (offices, co-working, an event hall) and small businesses (shop, bakery,
#: workshop, practice, restaurant) more electricity. Give ``electricity_kwh_per_a`` and
#: ``heat_kwh_per_a`` in the district file where meter readings exist. [kW h m-2 a-1]
NON_RESIDENTIAL_KWH_PER_M2A: dict[str, tuple[float, float]] = {
    "school": (105.0, 10.0),
    "kindergarten": (125.0, 20.0),
    "office": (90.0, 30.0),
    "business": (90.0, 45.0),
}
#: Heat of non-residential buildings by refurbishment state, relative to existing (assumption,
#: in line with the TABULA residential ratios of roughly 0.5 and 0.3), and for buildings built
#: 2002 or later under the EnEV (assumption: 0.6). [1]
NON_RESIDENTIAL_RETROFIT_FACTOR: dict[str, float] = {
    "existing": 1.0,
    "usual_refurbishment": 0.6,
    "advanced_refurbishment": 0.4,
}
NON_RESIDENTIAL_NEW_BUILD_FACTOR = 0.6

#: Usable roof area per kWp on pitched roofs: modules of ~210 Wp/m2 (a 400 W module of 1.9 m2)
#: laid flat on the roof, plus gaps and edges: ~5.5 m2/kWp (Verbraucherzentrale and installer
#: rules of thumb: 5-6 m2 per kWp). [m2]
ROOF_M2_PER_KWP_PITCHED = 5.5
#: On flat roofs modules stand on east-west racks with walkways: ~8 m2/kWp (assumption). [m2]
ROOF_M2_PER_KWP_FLAT = 8.0
#: Roof faces tilted less than this count as flat. [deg]
FLAT_ROOF_TILT_DEG = 10.0
#: Faces oriented between these azimuths (east through south to west) count for PV potential. [deg]
PV_AZIMUTH_RANGE_DEG = (90.0, 270.0)

#: Seasonal COP of air-source heat pumps in existing houses, for the heat-pump electricity
#: estimate: Fraunhofer ISE field test "WPsmart im Bestand" (2020-2022): mean ~3.1 for
#: air/water heat pumps. [1]
HEAT_PUMP_SEASONAL_COP = 3.1


#: Seasonal efficiency of oil and wood boilers by heating system and the carrier they burn.
#: Assumptions in the range of field measurements of German heating systems: older oil
#: low-temperature boilers ~0.85, log and pellet boilers ~0.7-0.85. [1]
FUEL_BOILER_EFFICIENCY_FRAC: dict[str, tuple[str, float]] = {"oil_boiler": ("oil", 0.85), "wood_boiler": ("wood", 0.75)}


def fuel_kwh_by_carrier(buildings: list[Building], heat_kwh: list[float]) -> dict[str, float]:
    """Oil and wood burnt for the heat of the buildings heated by oil or wood boilers.

    Parameters
    ----------
    buildings : list of Building
    heat_kwh : list of float
        Useful heat of each building over the period (space heating and hot water). [kW h]

    Returns
    -------
    fuel_kwh : dict
        ``{"oil": ..., "wood": ...}``: heat / seasonal efficiency summed per carrier. [kW h]
    """
    fuel = dict.fromkeys((carrier for carrier, _ in FUEL_BOILER_EFFICIENCY_FRAC.values()), 0.0)
    for building, heat in zip(buildings, heat_kwh, strict=True):
        if building.heating.system in FUEL_BOILER_EFFICIENCY_FRAC:
            carrier, efficiency = FUEL_BOILER_EFFICIENCY_FRAC[building.heating.system]
            fuel[carrier] += heat / efficiency
    return fuel


@dataclass(frozen=True)
class BuildingEstimate:
    """Annual estimates for one building.

    Attributes
    ----------
    electricity_kwh_per_a : float
        Household and business electricity, without heat pump and EV charging. [kW h]
    heat_kwh_per_a : float
        Useful heat for space heating and hot water. [kW h]
    heat_pump_electricity_kwh_per_a : float
        Electricity of today's heat pump (0 without one). [kW h]
    ev_electricity_kwh_per_a : float
        Charging energy of today's EVs. [kW h]
    roof_area_m2 : float
        Total roof area. [m2]
    pv_potential_kwp : float
        PV that fits on the usable east-, south-, west-facing and flat roof faces. [kWp]
    age_class : str
        TABULA DE construction-year class, e.g. ``"DE.06"``.
    """

    electricity_kwh_per_a: float
    heat_kwh_per_a: float
    heat_pump_electricity_kwh_per_a: float
    ev_electricity_kwh_per_a: float
    roof_area_m2: float
    pv_potential_kwp: float
    age_class: str


@dataclass(frozen=True)
class DistrictSummary:
    """The district in figures, for ``twin district show``.

    Attributes
    ----------
    n_buildings : int
    buildings_by_type : dict of str to int
    buildings_by_age_class : dict of str to int
        Keys are TABULA DE classes (``"DE.01"`` ...).
    n_households, n_persons : int
    roof_area_m2 : float
        [m2]
    pv_potential_kwp, pv_today_kwp : float
        [kWp]
    n_pv_systems, n_heat_pumps, n_gas_boilers, n_other_heating, n_evs, n_chargers, n_batteries : int
    battery_capacity_kwh : float
        [kW h]
    electricity_kwh_per_a, heat_kwh_per_a, heat_pump_electricity_kwh_per_a, ev_electricity_kwh_per_a : float
        Sums of :class:`BuildingEstimate`. [kW h]
    """

    n_buildings: int
    buildings_by_type: dict[str, int]
    buildings_by_age_class: dict[str, int]
    n_households: int
    n_persons: int
    roof_area_m2: float
    pv_potential_kwp: float
    pv_today_kwp: float
    n_pv_systems: int
    n_heat_pumps: int
    n_gas_boilers: int
    n_other_heating: int
    n_evs: int
    n_chargers: int
    n_batteries: int
    battery_capacity_kwh: float
    electricity_kwh_per_a: float
    heat_kwh_per_a: float
    heat_pump_electricity_kwh_per_a: float
    ev_electricity_kwh_per_a: float
    estimates: dict[str, BuildingEstimate] = field(default_factory=dict, repr=False)


def age_class(construction_year: int) -> str:
    """Return the TABULA DE construction-year class of a year.

    Parameters
    ----------
    construction_year : int
        Year of construction.

    Returns
    -------
    code : str
        ``"DE.01"`` (until 1859) to ``"DE.12"`` (2016 and later).
    """
    for code, first, last in AGE_CLASSES:
        if first <= construction_year <= last:
            return code
    return AGE_CLASSES[-1][0]


def household_electricity_kwh_per_a(persons: int, *, flat: bool) -> float:
    """Annual electricity of one household (BDEW 2021; flats x 0.7 after Stromspiegel).

    Parameters
    ----------
    persons : int
        Persons in the household; five and more use the five-person figure.
    flat : bool
        True for a flat in a multi-family building, False for a house.

    Returns
    -------
    energy_kwh : float
        Annual electricity without electric hot water, heat pump or EV. [kW h]
    """
    energy_kwh = HOUSEHOLD_ELECTRICITY_KWH_PER_A[min(max(persons, 1), 5)]
    return energy_kwh * (FLAT_ELECTRICITY_FACTOR if flat else 1.0)


def heat_kwh_per_a(building: Building) -> float:
    """Annual useful heat (space heating + hot water) of a building from its TABULA inputs.

    Parameters
    ----------
    building : Building
        Type, construction year, retrofit state and reference floor area are used;
        ``heat_kwh_per_a`` in the file, if given, is returned instead.

    Returns
    -------
    heat_kwh : float
        [kW h]
    """
    if building.heat_kwh_per_a is not None:
        return building.heat_kwh_per_a
    if building.type in NON_RESIDENTIAL_KWH_PER_M2A:
        specific = NON_RESIDENTIAL_KWH_PER_M2A[building.type][0] * NON_RESIDENTIAL_RETROFIT_FACTOR[building.retrofit]
        if building.construction_year >= 2002:
            specific *= NON_RESIDENTIAL_NEW_BUILD_FACTOR
        return specific * building.floor_area_m2
    states = ("existing", "usual_refurbishment", "advanced_refurbishment")
    space_kwh_per_m2 = HEAT_NEED_KWH_PER_M2A[building.type][age_class(building.construction_year)][
        states.index(building.retrofit)
    ]
    return (space_kwh_per_m2 + DHW_NEED_KWH_PER_M2A[building.type]) * building.floor_area_m2


def pv_potential_kwp(roofs: tuple[Roof, ...] | list[Roof]) -> float:
    """PV peak power that fits on the usable part of suitable roof faces.

    Faces count when flat (tilt < 10 deg, 8 m2/kWp) or facing east to west
    (azimuth 90-270 deg, 5.5 m2/kWp); north faces do not count.

    Parameters
    ----------
    roofs : sequence of Roof
        The building's roof faces.

    Returns
    -------
    p_peak_kw : float
        [kWp]
    """
    p_peak_kw = 0.0
    for roof in roofs:
        usable_m2 = roof.area_m2 * roof.usable_frac
        if roof.tilt_deg < FLAT_ROOF_TILT_DEG:
            p_peak_kw += usable_m2 / ROOF_M2_PER_KWP_FLAT
        elif PV_AZIMUTH_RANGE_DEG[0] <= roof.azimuth_deg <= PV_AZIMUTH_RANGE_DEG[1]:
            p_peak_kw += usable_m2 / ROOF_M2_PER_KWP_PITCHED
    return p_peak_kw


def estimate_building(building: Building) -> BuildingEstimate:
    """All annual estimates of one building.

    Parameters
    ----------
    building : Building
        A validated building.

    Returns
    -------
    estimate : BuildingEstimate
        Electricity, heat, heat-pump and EV electricity, roof area and PV potential.
    """
    flat = building.type in ("MFH", "AB")
    if building.electricity_kwh_per_a is not None:
        electricity_kwh = building.electricity_kwh_per_a
    else:
        electricity_kwh = sum(
            group.count * household_electricity_kwh_per_a(group.persons, flat=flat) for group in building.households
        )
        if building.type not in RESIDENTIAL_TYPES:
            electricity_kwh += NON_RESIDENTIAL_KWH_PER_M2A[building.type][1] * building.floor_area_m2
    heat_kwh = heat_kwh_per_a(building)
    heat_pump_kwh = heat_kwh / HEAT_PUMP_SEASONAL_COP if building.heating.system == "heat_pump" else 0.0
    ev_kwh = sum(ev.distance_km_per_a * ev.consumption_kwh_per_km for ev in building.evs)
    return BuildingEstimate(
        electricity_kwh_per_a=electricity_kwh,
        heat_kwh_per_a=heat_kwh,
        heat_pump_electricity_kwh_per_a=heat_pump_kwh,
        ev_electricity_kwh_per_a=ev_kwh,
        roof_area_m2=sum(roof.area_m2 for roof in building.roofs),
        pv_potential_kwp=pv_potential_kwp(building.roofs),
        age_class=age_class(building.construction_year),
    )


def summarize_district(district: District) -> DistrictSummary:
    """Count and add up a district's buildings, households, assets and estimates.

    Parameters
    ----------
    district : District
        A validated district.

    Returns
    -------
    summary : DistrictSummary
        Counts, sums and the per-building estimates (keyed by building id).
    """
    estimates = {building.id: estimate_building(building) for building in district.buildings}
    buildings = district.buildings
    systems = Counter(building.heating.system for building in buildings)
    return DistrictSummary(
        n_buildings=len(buildings),
        buildings_by_type=dict(Counter(building.type for building in buildings)),
        buildings_by_age_class=dict(sorted(Counter(e.age_class for e in estimates.values()).items())),
        n_households=sum(building.n_households for building in buildings),
        n_persons=sum(building.n_persons for building in buildings),
        roof_area_m2=sum(e.roof_area_m2 for e in estimates.values()),
        pv_potential_kwp=sum(e.pv_potential_kwp for e in estimates.values()),
        pv_today_kwp=sum(system.p_peak_kw for building in buildings for system in building.pv),
        n_pv_systems=sum(len(building.pv) for building in buildings),
        n_heat_pumps=systems["heat_pump"],
        n_gas_boilers=systems["gas_boiler"],
        n_other_heating=len(buildings) - systems["heat_pump"] - systems["gas_boiler"],
        n_evs=sum(len(building.evs) for building in buildings),
        n_chargers=sum(len(building.chargers) for building in buildings),
        n_batteries=sum(len(building.batteries) for building in buildings),
        battery_capacity_kwh=sum(b.capacity_kwh for building in buildings for b in building.batteries),
        electricity_kwh_per_a=sum(e.electricity_kwh_per_a for e in estimates.values()),
        heat_kwh_per_a=sum(e.heat_kwh_per_a for e in estimates.values()),
        heat_pump_electricity_kwh_per_a=sum(e.heat_pump_electricity_kwh_per_a for e in estimates.values()),
        ev_electricity_kwh_per_a=sum(e.ev_electricity_kwh_per_a for e in estimates.values()),
        estimates=estimates,
    )
