"""The heat pumps of a district: sizing, running and their seasonal performance per building class.

:func:`district_heat_pumps` runs every heat-pump building's unit on its heat demand
(emitter from the construction year, design flow from the retrofit state, rating from
the district file or sized at the norm outside temperature) and returns a
:class:`HeatPumpRun`; :meth:`HeatPumpRun.summary` gives heat, electricity, backup and
SPF per unit over a period, :func:`by_class` the sums per building class.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from models.building_heat import BuildingHeat
from models.district import Building
from models.heating_curve import emitter_of
from models.heatpump import HeatPumpParameters, HeatPumpResult, heat_pump_power_kw, sized_rating_kw

__all__ = ["SUMMARY_COLUMNS", "HeatPumpRun", "building_class", "by_class", "district_heat_pumps", "spf"]

#: Columns of :meth:`HeatPumpRun.summary` and :func:`seasonal_performance` (energies in kWh).
SUMMARY_COLUMNS = ("heat_kwh", "electricity_kwh", "backup_kwh", "spf")


def building_class(building: Building) -> str:
    """The heat-pump class of a building: retrofit state and emitter, e.g. ``"existing/radiator"``."""
    return f"{building.retrofit}/{emitter_of(building.construction_year)}"


def spf(heat_kwh: float, electricity_kwh: float) -> float:
    """Seasonal performance factor: all heat delivered (unit + backup) over all electricity (NaN without)."""
    return heat_kwh / electricity_kwh if electricity_kwh > 0 else float("nan")


@dataclass(frozen=True)
class HeatPumpRun:
    """The heat pumps of a district over the profiles' whole year.

    Attributes
    ----------
    result : HeatPumpResult
        Profiles, one column per heat-pump building id.
    classes : list of str
        :func:`building_class` of each column.
    """

    result: HeatPumpResult
    classes: list[str]

    def summary(self, period: slice | None = None) -> pd.DataFrame:
        """Heat, electricity and backup heat (kWh) and SPF per unit over ``period`` (a ``.loc`` slice).

        Returns
        -------
        summary : pandas.DataFrame
            Index building id, columns :data:`SUMMARY_COLUMNS` and ``class``.
        """
        rows = slice(None) if period is None else period
        index = self.result.p_kw.index
        dt_h = (index[1] - index[0]) / pd.Timedelta(hours=1)
        heat = self.result.heat_kw.loc[rows].sum() * dt_h
        electricity = self.result.p_kw.loc[rows].sum() * dt_h
        backup = self.result.p_backup_kw.loc[rows].sum() * dt_h
        frame = pd.DataFrame({"heat_kwh": heat, "electricity_kwh": electricity, "backup_kwh": backup})
        frame["spf"] = [spf(h, e) for h, e in zip(frame["heat_kwh"], frame["electricity_kwh"], strict=True)]
        frame["class"] = self.classes
        return frame


def district_heat_pumps(
    buildings: Sequence[Building],
    heat: BuildingHeat,
    temp_air_degc: pd.Series,
    *,
    params: HeatPumpParameters | None = None,
) -> HeatPumpRun | None:
    """Run the heat pump of every heat-pump building (None without any).

    The rating is the district file's ``heating.p_th_rated_kw``, else the design heat
    load at the norm outside temperature of the year's space heat plus the hot-water
    surcharge (:func:`models.heatpump.design_heat_load_kw`).
    """
    hp_buildings = [b for b in buildings if b.heating.system == "heat_pump"]
    if not hp_buildings:
        return None
    names = [b.id for b in hp_buildings]
    space, dhw = heat.space_kw[names], heat.dhw_total_kw[names]
    retrofits = [b.retrofit for b in hp_buildings]
    emitters = [emitter_of(b.construction_year) for b in hp_buildings]
    sized = sized_rating_kw(temp_air_degc, space, dhw, params=params)
    rated = [
        b.heating.p_th_rated_kw if b.heating.p_th_rated_kw is not None else float(sized[i])
        for i, b in enumerate(hp_buildings)
    ]
    result = heat_pump_power_kw(
        temp_air_degc, space, dhw, retrofits, emitter=emitters, p_design_kw=rated, params=params
    )
    return HeatPumpRun(result, [building_class(b) for b in hp_buildings])


def by_class(summary: pd.DataFrame) -> pd.DataFrame:
    """Sum a :meth:`HeatPumpRun.summary` per class (plus ``"all"``) with the SPF of the sums and the unit count."""
    sums = summary.groupby("class")[["heat_kwh", "electricity_kwh", "backup_kwh"]].sum()
    sums.loc["all"] = summary[["heat_kwh", "electricity_kwh", "backup_kwh"]].sum()
    sums["spf"] = [spf(h, e) for h, e in zip(sums["heat_kwh"], sums["electricity_kwh"], strict=True)]
    sums["n_units"] = [*summary.groupby("class").size(), len(summary)]
    return sums
