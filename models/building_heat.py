"""The heat demand of a district's buildings: space heat and hot water from their annual estimates.

A building's annual heat (:mod:`models.building_estimates`) is split into hot water
(:func:`dhw_kwh_per_a`) and space heat, and both become profiles with
:func:`models.heat.heat_demand_kw`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.building_estimates import DHW_NEED_KWH_PER_M2A, BuildingEstimate
from models.district import RESIDENTIAL_TYPES, Building
from models.heat import HeatProfileType, heat_demand_kw

__all__ = ["BuildingHeat", "building_heat_demand", "dhw_kwh_per_a"]


@dataclass
class BuildingHeat:
    """Space heat and hot water of every building, column per building id (kW)."""

    space_kw: pd.DataFrame
    dhw_kw: pd.DataFrame


def building_heat_demand(
    buildings: Sequence[Building],
    estimates: Mapping[str, BuildingEstimate],
    heat_types: Sequence[HeatProfileType],
    temp: pd.Series,
    shapes: pd.DataFrame,
    timezone: str,
) -> BuildingHeat:
    """Space heat and hot water of every building; the estimate's total split by the TABULA hot-water share.

    ``heat_types`` holds each building's heat profile, in the order of ``buildings``.
    """
    total = np.array([estimates[b.id].heat_kwh_per_a for b in buildings])
    dhw = np.array([dhw_kwh_per_a(b, estimates[b.id].heat_kwh_per_a) for b in buildings])
    demand = heat_demand_kw(
        temp,
        total - dhw,
        list(heat_types),
        dhw,
        names=[b.id for b in buildings],
        shapes=shapes,
        timezone=timezone,
    )
    return BuildingHeat(demand.space_kw, demand.dhw_kw)


def dhw_kwh_per_a(building: Building, heat_kwh: float) -> float:
    """Hot-water part of a building's annual heat.

    Residential: the TABULA hot-water need per m2 (:data:`DHW_NEED_KWH_PER_M2A`),
    at most 30 % of the total. Non-residential: 5 % of the total (schools, offices
    and shops draw little hot water; assumption).
    """
    if building.type in RESIDENTIAL_TYPES:
        return min(DHW_NEED_KWH_PER_M2A[building.type] * building.floor_area_m2, 0.3 * heat_kwh)
    return 0.05 * heat_kwh
