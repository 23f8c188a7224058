"""Generate the built-in district file ``models/data/beucha.yaml`` (seeded, run once, output committed).

No public building list of the Beucha quarter exists, so this script draws an
assumed one - a village quarter of detached and semi-detached houses, Gründerzeit
and post-1990 multi-family houses, four GDR apartment blocks, a school, a
kindergarten, small businesses and the Kulturhaus start-up centre - and maps it
onto the load buses of SimBench ``1-LV-semiurb5--0-sw``: apartment blocks and
multi-family houses on the buses with the largest SimBench loads, non-residential
uses on the buses whose SimBench profile is commercial (G1..G6), houses on the
rest, today's PV on the buses where SimBench has PV generators (with their sizes).
Every assumption is written next to its number, here and in the header of the
generated file. The committed YAML is the source of truth; rerunning this script
with the same seed and package versions reproduces it::

    .venv/bin/python -m models.data.make_beucha
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from models.building_estimates import AGE_CLASSES, heat_kwh_per_a
from models.district import Building
from models.grid_source import load_simbench_net
from twin.core.vocabulary import DEFAULT_TIMEZONE

__all__ = ["SEED", "SIMBENCH_CODE", "build_district", "main"]

logger = logging.getLogger(__name__)

SEED = 20261127
SIMBENCH_CODE = "1-LV-semiurb5--0-sw"
OUTPUT = Path(__file__).with_name("beucha.yaml")

#: Building counts by type (assumed village mix; Zensus 2011 for Brandis: most residential
#: buildings are one- and two-family houses).
N_SFH = 62
N_TH = 18
N_MFH = 14
N_AB = 4

#: Construction-year class weights (TABULA DE classes) per residential type (assumption:
#: an old village core, 1920s-30s settlement houses, GDR blocks, and the post-1990 estates
#: typical of Leipzig's suburbs).
AGE_WEIGHTS: dict[str, dict[str, float]] = {
    "SFH": {
        "DE.02": 0.14,
        "DE.03": 0.14,
        "DE.04": 0.04,
        "DE.05": 0.06,
        "DE.06": 0.07,
        "DE.07": 0.04,
        "DE.08": 0.05,
        "DE.09": 0.22,
        "DE.10": 0.14,
        "DE.11": 0.05,
        "DE.12": 0.05,
    },
    "TH": {"DE.03": 0.3, "DE.09": 0.4, "DE.10": 0.2, "DE.11": 0.1},
    "MFH": {"DE.02": 0.4, "DE.03": 0.2, "DE.09": 0.3, "DE.10": 0.1},
}
#: Refurbishment state of buildings built before 1995 (assumption: most East German houses were
#: modernised after 1990): existing 30 %, usual refurbishment 55 %, advanced 15 %.
RETROFIT_WEIGHTS = {"existing": 0.30, "usual_refurbishment": 0.55, "advanced_refurbishment": 0.15}
#: Persons per household in houses and in flats (assumption after Zensus 2022 Saxony: ~45 % of
#: households are single; families live mostly in houses).
PERSONS_HOUSE = {1: 0.15, 2: 0.40, 3: 0.20, 4: 0.20, 5: 0.05}
PERSONS_FLAT = {1: 0.45, 2: 0.35, 3: 0.12, 4: 0.06, 5: 0.02}


def build_district(net: Any, rng: np.random.Generator) -> dict[str, Any]:
    """Draw the assumed Beucha district onto the SimBench net's load buses.

    Parameters
    ----------
    net : pandapower.auxiliary.pandapowerNet
        SimBench ``1-LV-semiurb5--0-sw``.
    rng : numpy.random.Generator
        Seeded generator.

    Returns
    -------
    document : dict
        The district as plain data, ready for YAML.
    """
    loads = net.load.assign(bus_name=net.bus.loc[net.load.bus, "name"].to_numpy())
    commercial = loads[loads.profile.str.startswith("G")].sort_values(["profile", "bus_name"])
    household = loads[~loads.profile.str.startswith("G")].sort_values(["p_mw", "bus_name"], ascending=[False, True])
    sgen_kwp = {
        str(net.bus.at[bus, "name"]): round(float(p_mw) * 1000.0, 1)
        for bus, p_mw in zip(net.sgen.bus, net.sgen.p_mw, strict=True)
    }
    buildings: list[dict[str, Any]] = []

    # Non-residential uses on the commercial SimBench buses, by profile (G1 weekday 8-18, G3 continuous,
    # G4 shop/hairdresser, G5 bakery, G6 weekend business).
    g_buses = {profile: list(group.bus_name) for profile, group in commercial.groupby("profile")}
    specials = [
        ("school", "Grundschule", "G1-C", 1910, "usual_refurbishment", 2400.0, "school"),
        ("kulturhaus", "Kulturhaus (start-up centre)", "G1-C", 1928, "usual_refurbishment", 1200.0, "office"),
        ("kita", "Kindergarten", "G3-A", 1978, "usual_refurbishment", 650.0, "kindergarten"),
        ("bakery", "Bakery", "G5-A", 1905, "usual_refurbishment", 220.0, "business"),
        ("hairdresser", "Hairdresser and shop", "G4-B", 1935, "existing", 140.0, "business"),
        ("workshop", "Car workshop", "G3-A", 1992, "existing", 450.0, "business"),
        ("practice", "Doctor's practice", "G3-A", 1996, "existing", 260.0, "business"),
        ("restaurant", "Restaurant", "G6-A", 1900, "usual_refurbishment", 300.0, "business"),
    ]
    for building_id, name, profile, year, retrofit, area_m2, kind in specials:
        bus = g_buses[profile].pop(0)
        buildings.append(_non_residential(building_id, name, kind, year, retrofit, area_m2, bus, rng))
    remaining_g = [bus for buses in g_buses.values() for bus in buses]

    house_buses = list(household.bus_name)
    ab_buses, house_buses = house_buses[:N_AB], house_buses[N_AB:]
    n_mfh_on_h0 = N_MFH - len(remaining_g)
    mfh_buses, house_buses = remaining_g + house_buses[:n_mfh_on_h0], house_buses[n_mfh_on_h0:]

    for index, (bus, year) in enumerate(zip(ab_buses, (1972, 1978, 1983, 1986), strict=True)):
        units = int(rng.integers(24, 41))
        buildings.append(_residential(f"ab{index + 1:02d}", "AB", year, "usual_refurbishment", units, bus, rng))
    for index, bus in enumerate(mfh_buses):
        year = _draw_year("MFH", rng)
        buildings.append(
            _residential(
                f"mfh{index + 1:02d}", "MFH", year, _draw_retrofit(year, rng), int(rng.integers(3, 11)), bus, rng
            )
        )
    # Houses: 2 buses carry a pair of semi-detached halves each, every other bus one house.
    n_pairs = N_SFH + N_TH - len(house_buses)
    types = ["TH"] * N_TH + ["SFH"] * N_SFH
    house_bus_list = [bus for bus in house_buses[:n_pairs] for _ in range(2)] + house_buses[n_pairs:]
    counters = {"SFH": 0, "TH": 0}
    for kind, bus in zip(types, house_bus_list, strict=True):
        counters[kind] += 1
        year = _draw_year(kind, rng)
        units = 2 if kind == "SFH" and rng.random() < 0.1 else 1
        buildings.append(
            _residential(f"{kind.lower()}{counters[kind]:02d}", kind, year, _draw_retrofit(year, rng), units, bus, rng)
        )

    _add_today_assets(buildings, sgen_kwp, rng)
    return {
        "name": "Beucha",
        "description": (
            "Assumed building stock of the Zukunftsquartier Beucha (Brandis, Landkreis Leipzig) on SimBench "
            f"{SIMBENCH_CODE}; generated by models/data/make_beucha.py (seed {SEED}). Replace with the "
            "municipality's building list and the grid operator's net."
        ),
        "location": {
            "latitude_deg": 51.324,
            "longitude_deg": 12.567,
            "altitude_m": 129.0,
            "timezone": DEFAULT_TIMEZONE,
        },
        "grid": {"simbench_code": SIMBENCH_CODE},
        "reactive_power": {
            "load_cos_phi": 0.93,
            "pv_cos_phi_p": [
                {"p_frac": 0.0, "cos_phi": 1.0},
                {"p_frac": 0.5, "cos_phi": 1.0},
                {"p_frac": 1.0, "cos_phi": 0.95},
            ],
        },
        "buildings": buildings,
    }


def main() -> None:
    """Write ``beucha.yaml`` next to this script."""
    logging.basicConfig(level=logging.INFO)
    document = build_district(load_simbench_net(SIMBENCH_CODE), np.random.default_rng(SEED))
    body = yaml.safe_dump(document, sort_keys=False, default_flow_style=None, width=118, allow_unicode=True)
    OUTPUT.write_text(HEADER + body, encoding="utf-8")
    logger.info("wrote %s (%d buildings)", OUTPUT, len(document["buildings"]))


def _residential(
    building_id: str, kind: str, year: int, retrofit: str, units: int, bus: str, rng: np.random.Generator
) -> dict[str, Any]:
    """A residential building with its households and roof."""
    flat = kind in ("MFH", "AB")
    weights = PERSONS_FLAT if flat else PERSONS_HOUSE
    persons = rng.choice(list(weights), size=units, p=list(weights.values()))
    groups = [
        {"count": int(count), "persons": int(size)}
        for size, count in zip(*np.unique(persons, return_counts=True), strict=True)
    ]
    if kind == "SFH":
        area_m2 = float(rng.integers(120, 201)) + (60.0 if units == 2 else 0.0)
    elif kind == "TH":
        area_m2 = float(rng.integers(100, 141))
    else:
        area_m2 = float(units * (62 if kind == "AB" else 75))
    storeys = {"SFH": 1.6, "TH": 2.0, "MFH": 3.0, "AB": 5.0}[kind]
    roofs = _flat_roof(area_m2 / storeys) if kind == "AB" else _gable_roof(area_m2 / storeys, year, rng)
    return {
        "id": building_id,
        "type": kind,
        "construction_year": year,
        "retrofit": retrofit,
        "floor_area_m2": area_m2,
        "bus": bus,
        "households": groups,
        "roofs": roofs,
        "heating": {"system": "gas_boiler"},
    }


def _non_residential(
    building_id: str, name: str, kind: str, year: int, retrofit: str, area_m2: float, bus: str, rng: np.random.Generator
) -> dict[str, Any]:
    """A non-residential building; the school and the Kulturhaus have large flat roof parts."""
    footprint_m2 = area_m2 / 2.0
    roofs = _flat_roof(footprint_m2) if kind in ("school", "kindergarten") else _gable_roof(footprint_m2, year, rng)
    return {
        "id": building_id,
        "name": name,
        "type": kind,
        "construction_year": year,
        "retrofit": retrofit,
        "floor_area_m2": area_m2,
        "bus": bus,
        "roofs": roofs,
        "heating": {"system": "gas_boiler"},
    }


def _gable_roof(footprint_m2: float, year: int, rng: np.random.Generator) -> list[dict[str, Any]]:
    """Two faces of a gable roof: tilt 35-50 deg before 1949, 25-45 deg after; ridge in any direction."""
    tilt_deg = float(rng.integers(35, 51) if year < 1949 else rng.integers(25, 46))
    azimuth_deg = float(rng.integers(90, 271))
    face_m2 = round(footprint_m2 / 2.0 / math.cos(math.radians(tilt_deg)), 1)
    return [
        {"area_m2": face_m2, "tilt_deg": tilt_deg, "azimuth_deg": azimuth_deg},
        {"area_m2": face_m2, "tilt_deg": tilt_deg, "azimuth_deg": (azimuth_deg + 180.0) % 360.0},
    ]


def _flat_roof(footprint_m2: float) -> list[dict[str, Any]]:
    """One flat roof face, 70 % usable (parapets, skylights, technical equipment)."""
    return [{"area_m2": round(footprint_m2, 1), "tilt_deg": 2.0, "azimuth_deg": 180.0, "usable_frac": 0.7}]


def _draw_year(kind: str, rng: np.random.Generator) -> int:
    """A construction year: a TABULA class by weight, then a year inside it (2016+ capped at 2025)."""
    weights = AGE_WEIGHTS[kind]
    code = str(rng.choice(list(weights), p=list(weights.values())))
    first, last = next((first, last) for c, first, last in AGE_CLASSES if c == code)
    return int(rng.integers(first, min(last, 2025) + 1))


def _draw_retrofit(year: int, rng: np.random.Generator) -> str:
    """Refurbishment state: buildings from 1995 on are as built."""
    if year >= 1995:
        return "existing"
    return str(rng.choice(list(RETROFIT_WEIGHTS), p=list(RETROFIT_WEIGHTS.values())))


def _south_face(building: dict[str, Any]) -> int:
    """Index of the roof face closest to south."""
    return min(range(len(building["roofs"])), key=lambda i: abs(building["roofs"][i]["azimuth_deg"] - 180.0))


def _add_today_assets(buildings: list[dict[str, Any]], sgen_kwp: dict[str, float], rng: np.random.Generator) -> None:
    """Today's PV, batteries, heat pumps, other heating, EVs and chargers (assumed, see the file header)."""
    by_bus: dict[str, list[dict[str, Any]]] = {}
    for building in buildings:
        by_bus.setdefault(building["bus"], []).append(building)
    # PV where SimBench has its generators, with their sizes (older systems, 2009-2019).
    for bus, p_kwp in sorted(sgen_kwp.items()):
        building = by_bus[bus][0]
        building["pv"] = [{"p_peak_kw": p_kwp, "roof": _south_face(building), "year": int(rng.integers(2009, 2020))}]
    houses = [b for b in buildings if b["type"] in ("SFH", "TH") and "pv" not in b]
    # Newer rooftop PV 2020-2025 on 14 houses, 6-12 kWp, 70 % with a battery (~1 kWh per kWp, 0.5 C).
    for index in rng.choice(len(houses), size=14, replace=False):
        building = houses[int(index)]
        p_kwp = float(rng.integers(12, 25)) / 2.0
        building["pv"] = [{"p_peak_kw": p_kwp, "roof": _south_face(building), "year": int(rng.integers(2020, 2026))}]
        if rng.random() < 0.7:
            building["batteries"] = [{"capacity_kwh": p_kwp, "p_rated_kw": round(p_kwp / 2.0, 1)}]
    # Heat pumps: houses built 2010 or later, plus two after advanced refurbishment.
    candidates = [b for b in buildings if b["type"] in ("SFH", "TH") and b["construction_year"] >= 2010]
    candidates += [b for b in buildings if b["type"] == "SFH" and b["retrofit"] == "advanced_refurbishment"][:2]
    for building in candidates:
        heat_kwh = heat_kwh_per_a(Building.model_validate(building))
        # ~2,000 full-load hours for space heating and hot water (assumption after VDI 4645 sizing).
        building["heating"] = {"system": "heat_pump", "p_th_rated_kw": round(max(heat_kwh / 2000.0, 4.0), 1)}
    # Oil boilers in four and wood (log, pellet) boilers in two old houses.
    old_houses = [b for b in buildings if b["type"] == "SFH" and b["construction_year"] < 1949]
    for number, building in enumerate(old_houses[:6]):
        building["heating"] = {"system": "oil_boiler" if number < 4 else "wood_boiler"}
    # Electric cars in 10 houses, preferably with PV: 50-77 kWh, 10,000-15,000 km/a
    # (KBA: ~12,300 km/a mean of private cars), an 11 kW wallbox each.
    with_pv = [b for b in buildings if b["type"] in ("SFH", "TH") and "pv" in b]
    without_pv = [b for b in buildings if b["type"] in ("SFH", "TH") and "pv" not in b]
    for building in with_pv[:7] + without_pv[:3]:
        building["evs"] = [
            {
                "capacity_kwh": float(rng.choice([50.0, 58.0, 64.0, 77.0])),
                "distance_km_per_a": float(rng.integers(10, 16) * 1000),
            }
        ]
        building["chargers"] = [{"p_rated_kw": 11.0}]
    # Two public 22 kW charging points at the Kulturhaus.
    next(b for b in buildings if b["id"] == "kulturhaus")["chargers"] = [{"p_rated_kw": 22.0}, {"p_rated_kw": 22.0}]


HEADER = """\
# The built-in district "beucha": an ASSUMED building stock of the Zukunftsquartier Beucha
# (Brandis, Landkreis Leipzig), 51.324 N, 12.567 E, 129 m, Europe/Berlin.
# Generated by models/data/make_beucha.py (seed 20261127); this file is the source of truth.
# Replace it with the municipality's building list and the grid operator's pandapower net:
# see README ("twin district show FILE") and models/district.py for the schema.
#
# Assumptions (sources in models/data/make_beucha.py and models/building_estimates.py):
# - grid: SimBench 1-LV-semiurb5--0-sw (111 buses, 6 feeders, 104 loads, 630 kVA, slack 1.025 p.u.);
#   buildings name their bus; GDR blocks and multi-family houses sit on the buses with the
#   largest SimBench loads, non-residential uses on the commercial (G-profile) buses.
# - building mix: 62 detached (SFH), 18 semi-detached/terraced (TH), 14 multi-family (MFH, 3-10
#   flats), 4 GDR apartment blocks (AB, 24-40 flats, 1972-1986, refurbished in the 1990s), a
#   primary school, a kindergarten, 5 small businesses and the Kulturhaus start-up centre.
# - floor_area_m2 is the TABULA reference floor area: SFH 120-200 m2 (+60 with a granny flat),
#   TH 100-140 m2, MFH 75 m2 per flat, AB 62 m2 per flat.
# - construction years by TABULA class weights; before 1995: existing 30 %, usual refurbishment
#   55 %, advanced 15 % (most East German houses were modernised after 1990).
# - household sizes: houses 1-5 persons 15/40/20/20/5 %, flats 45/35/12/6/2 % (Zensus 2022 Saxony:
#   ~45 % single households).
# - roofs: gable roofs, two faces, tilt 35-50 deg before 1949 else 25-45 deg, ridge in any direction;
#   flat roofs on AB, school and kindergarten (70 % usable); pitched faces 60 % usable.
# - today's PV: the 9 SimBench generators (3.5-51 kWp, 2009-2019) plus 14 house systems of 6-12 kWp
#   (2020-2025), 70 % of those with a battery of ~1 kWh/kWp at 0.5 C.
# - heating: gas boilers, except heat pumps in houses built since 2010 and two after advanced
#   refurbishment (rated ~annual heat / 2,000 full-load hours), and oil (4) and wood (2) boilers in six old houses.
# - EVs: 10 cars (50-77 kWh, 10,000-15,000 km/a; KBA mean ~12,300 km/a) with 11 kW wallboxes;
#   two public 22 kW charging points at the Kulturhaus.
# - reactive power: loads cos phi 0.93 inductive, as SimBench's loads of this grid (q/p = 0.395);
#   PV cos phi(P) after the VDE-AR-N 4105 standard characteristic: 1 up to 50 % of rated power,
#   falling linearly to 0.95 under-excited at 100 % (the curve of small systems up to 13.8 kVA;
#   larger systems go to 0.90 - one curve for all systems is a simplification).
# - demand estimates (twin district show): models/building_estimates.py - household electricity
#   BDEW 2021 by household size (flats x 0.7, co2online Stromspiegel), heat from the TABULA DE
#   q_h_nd by type, age class and refurbishment state plus 10/15 kWh/m2a hot water.
"""


if __name__ == "__main__":
    main()
