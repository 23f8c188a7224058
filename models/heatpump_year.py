"""Seasonal performance of heat pumps per building class over a test reference year.

:func:`seasonal_performance` gives every building of a district an air/water heat pump
sized at the norm outside temperature and returns heat, electricity, backup heat and
SPF per building class (retrofit state and emitter) over the year - the figures to
hold against field studies (Fraunhofer ISE "WPsmart im Bestand": SPF ~3.1).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from models.building_estimates import estimate_building
from models.building_heat import building_heat_demand
from models.district import District, Heating, district_path, parse_district
from models.heat import HeatProfileType, space_heat_shapes
from models.heatpump import HeatPumpParameters
from models.heatpump_district import SUMMARY_COLUMNS, by_class, district_heat_pumps
from models.profiles import DEFAULT_YEAR, HEAT_PROFILE
from models.weather import Site, read_weather
from twin.core.yaml_files import parse_yaml

__all__ = ["seasonal_performance"]


def seasonal_performance(
    district: District | str | Path = "beucha",
    *,
    weather: str | Path | None = None,
    year: int = DEFAULT_YEAR,
    params: HeatPumpParameters | None = None,
) -> pd.DataFrame:
    """SPF, heat and electricity per building class when every building of a district has a heat pump.

    Parameters
    ----------
    district : District, str or pathlib.Path, default "beucha"
        A district, a built-in district name or a district file.
    weather : str or pathlib.Path, optional
        Weather file; default the embedded DWD TRY2010 region 4 (the test reference year).
    year : int, default 2025
        Calendar year the weather is laid on.
    params : HeatPumpParameters, optional
        Heat-pump parameters.

    Returns
    -------
    performance : pandas.DataFrame
        Index building class (:func:`models.heatpump_district.building_class`, e.g.
        ``"existing/radiator"``) and ``"all"``; columns ``heat_kwh`` (space heat, hot
        water and its losses, delivered by unit and backup heater), ``electricity_kwh``
        (unit, standby and backup heater), ``backup_kwh`` over the year, ``spf`` (heat
        / electricity) and ``n_units``. Units are sized at the norm outside temperature.
    """
    if not isinstance(district, District):
        path = district_path(district)
        district = parse_district(parse_yaml(path.read_text(encoding="utf-8")), file=str(path))
    buildings = [b.model_copy(update={"heating": Heating(system="heat_pump")}) for b in district.buildings]
    location = district.location
    site = Site(
        latitude_deg=location.latitude_deg, longitude_deg=location.longitude_deg, altitude_m=location.altitude_m
    )
    temp = read_weather(weather, year=year, site=site)["temp_air_degc"]
    types = [HeatProfileType(HEAT_PROFILE[b.type]) for b in buildings]
    shapes = space_heat_shapes(temp, sorted(set(types), key=lambda t: t.key), timezone=location.timezone)
    estimates = {b.id: estimate_building(b) for b in buildings}
    heat = building_heat_demand(buildings, estimates, types, temp, shapes, location.timezone)
    run = district_heat_pumps(buildings, heat, temp, params=params)
    if run is None:  # pragma: no cover - every building was given a heat pump
        return pd.DataFrame(columns=[*SUMMARY_COLUMNS, "n_units"])
    return by_class(run.summary())
