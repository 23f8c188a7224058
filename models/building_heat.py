"""The heat demand of a district's buildings: space heat and hot water from their annual estimates.

A building's annual heat (:mod:`models.building_estimates`) is split into hot water
(:func:`dhw_kwh_per_a`) and space heat, and both become profiles with
:func:`models.heat.heat_demand_kw`. The hot-water system loses heat on top of the
need: the store all year and, in apartment buildings, the circulation loop
(:func:`dhw_loss_kw`); measured hot-water energy is often twice the DIN V 18599 need.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd

from models.building_estimates import DHW_NEED_KWH_PER_M2A, BuildingEstimate
from models.district import RESIDENTIAL_TYPES, Building
from models.heat import HeatProfileType, heat_demand_kw

__all__ = [
    "DHW_CIRCULATION_LOSS_FRAC",
    "DHW_STORAGE_LOSS_KW",
    "BuildingHeat",
    "building_heat_demand",
    "dhw_kwh_per_a",
    "dhw_loss_kw",
]

#: Standby loss of the hot-water store by building type, a constant draw: ~1.2 kWh/d for
#: the 200-300 l store of a house (ErP class B-C), 2.4 kWh/d for the larger stores of
#: multi-family and apartment buildings (assumptions from ErP store ratings). [kW]
DHW_STORAGE_LOSS_KW: Final[dict[str, float]] = {"SFH": 0.05, "TH": 0.05, "MFH": 0.1, "AB": 0.1}

#: Circulation loss as a share of the hot-water need by building type: houses have no
#: circulation loop, multi-family and apartment buildings lose 60 % of the need in
#: theirs (DIN V 4701-10 / field measurements put loop losses at 50-100 % of the need;
#: assumption). Non-residential buildings draw little hot water: no losses added. [1]
DHW_CIRCULATION_LOSS_FRAC: Final[dict[str, float]] = {"SFH": 0.0, "TH": 0.0, "MFH": 0.6, "AB": 0.6}


@dataclass
class BuildingHeat:
    """Space heat, hot-water need and hot-water losses of every building, column per building id (kW)."""

    space_kw: pd.DataFrame
    dhw_kw: pd.DataFrame
    dhw_loss_kw: pd.DataFrame

    @property
    def dhw_total_kw(self) -> pd.DataFrame:
        """Hot-water heat the generator delivers: need plus storage and circulation losses, in kW."""
        return self.dhw_kw + self.dhw_loss_kw

    @property
    def total_kw(self) -> pd.DataFrame:
        """All heat the generator delivers: space heat, hot water and its losses, in kW."""
        return self.space_kw + self.dhw_kw + self.dhw_loss_kw


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
    loss = np.array([dhw_loss_kw(b, dhw[i]) for i, b in enumerate(buildings)])
    dhw_loss = pd.DataFrame(np.broadcast_to(loss, demand.dhw_kw.shape), index=temp.index, columns=demand.dhw_kw.columns)
    return BuildingHeat(demand.space_kw, demand.dhw_kw, dhw_loss)


def dhw_kwh_per_a(building: Building, heat_kwh: float) -> float:
    """Hot-water part of a building's annual heat.

    Residential: the TABULA hot-water need per m2 (:data:`DHW_NEED_KWH_PER_M2A`),
    at most 30 % of the total. Non-residential: 5 % of the total (schools, offices
    and shops draw little hot water; assumption).
    """
    if building.type in RESIDENTIAL_TYPES:
        return min(DHW_NEED_KWH_PER_M2A[building.type] * building.floor_area_m2, 0.3 * heat_kwh)
    return 0.05 * heat_kwh


def dhw_loss_kw(building: Building, dhw_kwh: float) -> float:
    """Mean storage and circulation loss of a building's hot-water system, in kW.

    :data:`DHW_STORAGE_LOSS_KW` plus :data:`DHW_CIRCULATION_LOSS_FRAC` of the annual
    need ``dhw_kwh`` spread over the year; 0 for non-residential buildings.
    """
    if building.type not in RESIDENTIAL_TYPES:
        return 0.0
    return DHW_STORAGE_LOSS_KW[building.type] + DHW_CIRCULATION_LOSS_FRAC[building.type] * dhw_kwh / 8760.0
