"""Apply a scenario's changes to a district: which buildings get PV, batteries, heat pumps, retrofits, cars.

Each change picks its buildings among the candidates (e.g. gas-heated buildings for
heat pumps) in a seeded, deterministic order: the scenario's seed and the change's
name seed a :func:`numpy.random.default_rng` permutation of the candidates in file
order, and the first ``round(share x n)`` are taken. The same scenario therefore
always changes the same buildings, and a larger share adds buildings to a smaller
share's choice instead of drawing new ones. The result is a new, validated
:class:`models.district.District`; the loaded district is never changed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from models.building_estimates import (
    FLAT_ROOF_TILT_DEG,
    PV_AZIMUTH_RANGE_DEG,
    ROOF_M2_PER_KWP_FLAT,
    ROOF_M2_PER_KWP_PITCHED,
    estimate_building,
)
from models.district import (
    RESIDENTIAL_TYPES,
    Battery,
    Building,
    Charger,
    District,
    ElectricVehicle,
    Heating,
    LoadedDistrict,
    PvSystem,
)
from models.grid import GridChanges, apply_grid_changes
from scenarios.config import (
    EvChange,
    HeatPumpChange,
    HomeBatteryChange,
    PvChange,
    RetrofitChange,
    Scenario,
    ScenarioChanges,
)
from twin.core.errors import ConfigError

__all__ = ["AppliedChanges", "apply_changes", "changed_district", "grid_changes"]


@dataclass(frozen=True)
class AppliedChanges:
    """The changed district and what was added, for the cost KPI and the report.

    Attributes
    ----------
    district : District
    pv_added_kwp : float
        [kWp]
    batteries_added_kwh : float
        Home batteries. [kW h]
    heat_pumps_added : int
    heat_pumps_added_kw : float
        Thermal rating of the new heat pumps (estimated on the annual heat). [kW]
    retrofit_m2 : float
        Floor area refurbished. [m2]
    evs_added : int
    chargers_added : int
    """

    district: District
    pv_added_kwp: float = 0.0
    batteries_added_kwh: float = 0.0
    heat_pumps_added: int = 0
    heat_pumps_added_kw: float = 0.0
    retrofit_m2: float = 0.0
    evs_added: int = 0
    chargers_added: int = 0


def apply_changes(district: District, scenario: Scenario) -> AppliedChanges:
    """Return the district with the scenario's building changes.

    Parameters
    ----------
    district : District
        Today's district.
    scenario : Scenario
        The scenario (its ``changes`` and ``seed``).

    Returns
    -------
    applied : AppliedChanges
        The new district and the amounts added.

    Raises
    ------
    ConfigError
        If ``changes.pv.buildings`` names an unknown building.
    """
    changes: ScenarioChanges = scenario.changes
    buildings = list(district.buildings)
    totals = {"pv": 0.0, "bat": 0.0, "hp": 0, "hp_kw": 0.0, "m2": 0.0, "ev": 0, "chargers": 0}
    # the order matters: heat pumps see the retrofitted buildings, batteries the new PV
    if changes.retrofit is not None:
        _retrofit(buildings, changes.retrofit, scenario.seed, totals)
    if changes.heat_pumps is not None:
        _heat_pumps(buildings, changes.heat_pumps, scenario.seed, totals)
    if changes.pv is not None:
        _pv(buildings, changes.pv, scenario.seed, totals)
    if changes.home_batteries is not None:
        _home_batteries(buildings, changes.home_batteries, scenario.seed, totals)
    if changes.evs is not None:
        _evs(buildings, changes.evs, scenario.seed, totals)

    new = District.model_validate({**district.model_dump(), "buildings": [b.model_dump() for b in buildings]})
    return AppliedChanges(
        district=new,
        pv_added_kwp=float(totals["pv"]),
        batteries_added_kwh=float(totals["bat"]),
        heat_pumps_added=int(totals["hp"]),
        heat_pumps_added_kw=float(totals["hp_kw"]),
        retrofit_m2=float(totals["m2"]),
        evs_added=int(totals["ev"]),
        chargers_added=int(totals["chargers"]),
    )


def _retrofit(buildings: list[Building], change: RetrofitChange, seed: int, totals: dict[str, float]) -> None:
    """Apply ``changes.retrofit`` to ``buildings`` in place and add what it adds to ``totals``."""
    states = ("existing", "usual_refurbishment", "advanced_refurbishment")
    candidates = [
        i
        for i, b in enumerate(buildings)
        if b.type in RESIDENTIAL_TYPES
        and b.construction_year < change.built_before
        and states.index(b.retrofit) < states.index(change.state)
        and b.heat_kwh_per_a is None
    ]
    for i in _pick(candidates, change.share_frac, seed, "retrofit"):
        totals["m2"] += buildings[i].floor_area_m2
        buildings[i] = buildings[i].model_copy(update={"retrofit": change.state})


def _heat_pumps(buildings: list[Building], change_hp: HeatPumpChange, seed: int, totals: dict[str, float]) -> None:
    """Apply ``changes.heat_pumps`` to ``buildings`` in place and add what it adds to ``totals``."""
    candidates = [i for i, b in enumerate(buildings) if b.heating.system in change_hp.replaces]
    for i in _pick(candidates, change_hp.share_frac, seed, "heat_pumps"):
        heat_kwh = estimate_building(buildings[i]).heat_kwh_per_a
        rated = heat_kwh / change_hp.full_load_hours_h if change_hp.sizing == "full_load_hours" else None
        totals["hp"] += 1
        totals["hp_kw"] += heat_kwh / 2000.0 if rated is None else rated
        buildings[i] = buildings[i].model_copy(update={"heating": Heating(system="heat_pump", p_th_rated_kw=rated)})


def _pv(buildings: list[Building], change_pv: PvChange, seed: int, totals: dict[str, float]) -> None:
    """Apply ``changes.pv`` to ``buildings`` in place and add what it adds to ``totals``."""
    ids = [b.id for b in buildings]
    unknown = sorted(set(change_pv.buildings) - set(ids))
    if unknown:
        raise ConfigError(
            f"unknown building {unknown[0]!r}", field="changes.pv.buildings", allowed=f"ids such as {ids[0]}"
        )
    candidates = [i for i, b in enumerate(buildings) if _new_pv(b, change_pv.usable_frac, change_pv.min_kwp)]
    chosen = (
        [i for i in candidates if buildings[i].id in change_pv.buildings]
        if change_pv.buildings
        else _pick(candidates, change_pv.share_frac, seed, "pv")
    )
    for i in chosen:
        systems = _new_pv(buildings[i], change_pv.usable_frac, change_pv.min_kwp)
        totals["pv"] += sum(s.p_peak_kw for s in systems)
        buildings[i] = buildings[i].model_copy(update={"pv": (*buildings[i].pv, *systems)})


def _home_batteries(
    buildings: list[Building], change_bat: HomeBatteryChange, seed: int, totals: dict[str, float]
) -> None:
    """Apply ``changes.home_batteries`` to ``buildings`` in place and add what it adds to ``totals``."""
    candidates = [i for i, b in enumerate(buildings) if b.pv and not b.batteries]
    for i in _pick(candidates, change_bat.share_frac, seed, "home_batteries"):
        kwp = sum(s.p_peak_kw for s in buildings[i].pv)
        capacity = change_bat.capacity_kwh or (change_bat.kwh_per_kwp or 1.0) * kwp
        capacity = float(min(capacity, 10000.0))
        battery = Battery(capacity_kwh=capacity, p_rated_kw=min(capacity * change_bat.c_rate_per_h, 5000.0))
        totals["bat"] += capacity
        buildings[i] = buildings[i].model_copy(update={"batteries": (battery,)})


def _evs(buildings: list[Building], change_ev: EvChange, seed: int, totals: dict[str, float]) -> None:
    """Apply ``changes.evs`` to ``buildings`` in place and add what it adds to ``totals``."""
    candidates = [i for i, b in enumerate(buildings) if b.type in RESIDENTIAL_TYPES and not b.evs]
    share = change_ev.share_frac if change_ev.count is None else min(change_ev.count / max(len(candidates), 1), 1)
    chosen = _pick(candidates, share, seed, "evs")
    if change_ev.count is not None and change_ev.count > len(candidates):
        raise ConfigError(
            f"{change_ev.count} cars asked, but only {len(candidates)} residential buildings have none",
            field="changes.evs.count",
            allowed=f"<= {len(candidates)}",
        )
    for i in chosen:
        car = ElectricVehicle(capacity_kwh=change_ev.capacity_kwh, distance_km_per_a=change_ev.distance_km_per_a)
        update: dict[str, object] = {"evs": (car,)}
        totals["ev"] += 1
        if not buildings[i].chargers:
            update["chargers"] = (Charger(p_rated_kw=change_ev.charger_kw),)
            totals["chargers"] += 1
        buildings[i] = buildings[i].model_copy(update=update)


def changed_district(loaded: LoadedDistrict, scenario: Scenario) -> tuple[LoadedDistrict, AppliedChanges]:
    """Return the loaded district with the scenario's building and grid changes, and what they added.

    The buildings change as :func:`apply_changes` changes them (the same buildings for the same
    seed, as the runner builds them), the grid as :func:`models.grid.apply_grid_changes`
    reinforces it; ``loaded`` is not changed. What the runner adds beside the buildings (a
    community battery, a solar park, a feed-in limit) is not part of the district.
    """
    applied = apply_changes(loaded.district, scenario)
    changes = grid_changes(scenario)
    net = apply_grid_changes(loaded.net, changes) if changes is not None else loaded.net
    return LoadedDistrict(district=applied.district, net=net, source=loaded.source), applied


def grid_changes(scenario: Scenario) -> GridChanges | None:
    """The scenario's grid reinforcements as :class:`models.grid.GridChanges` (None without any)."""
    change = scenario.changes.grid
    if change is None:
        return None
    return GridChanges(
        transformer_s_rated_kva=change.transformer_s_rated_kva,
        line_std_type=change.line_std_type,
        parallel_cables=change.parallel_cables,
        lines=tuple(change.lines),
    )


def _new_pv(building: Building, usable_frac: float | None, min_kwp: float) -> tuple[PvSystem, ...]:
    """PV systems for the suitable roof faces of a building that carry no PV today."""
    used = {system.roof for system in building.pv}
    systems = []
    for index, roof in enumerate(building.roofs):
        if index in used:
            continue
        usable_m2 = roof.area_m2 * (usable_frac if usable_frac is not None else roof.usable_frac)
        if roof.tilt_deg < FLAT_ROOF_TILT_DEG:
            kwp = usable_m2 / ROOF_M2_PER_KWP_FLAT
        elif PV_AZIMUTH_RANGE_DEG[0] <= roof.azimuth_deg <= PV_AZIMUTH_RANGE_DEG[1]:
            kwp = usable_m2 / ROOF_M2_PER_KWP_PITCHED
        else:
            continue
        if kwp >= max(min_kwp, 1e-3):
            systems.append(PvSystem(p_peak_kw=round(min(kwp, 5000.0), 2), roof=index))
    return tuple(systems)


def _pick(candidates: Sequence[int], share_frac: float, seed: int, change: str) -> list[int]:
    """The first ``round(share x n)`` candidates of a seeded permutation, in file order."""
    count = round(share_frac * len(candidates))
    if count <= 0:
        return []
    digest = hashlib.sha256(f"{change}:{seed}".encode()).digest()
    rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
    order = rng.permutation(len(candidates))[:count]
    return sorted(candidates[int(k)] for k in order)
