"""The model side of the validation report: each quantity computed with the models' own functions.

Every function takes a :class:`ValidationContext` (the embedded weather year and the
shapes, read once) and returns one number in the unit of its reference in
``models/data/validation_references.yaml``. The PV reference is computed here too, by
an independent pvlib ``ModelChain`` built from pvlib's own objects (not through
:mod:`models.pv`), and the SimBench planning case from the grid's own study-case table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import cached_property

import numpy as np
import pandas as pd
import pvlib

from models.battery import BatteryParameters, self_consumption_dispatch, with_standby_kw
from models.building_estimates import (
    DHW_NEED_KWH_PER_M2A,
    HEAT_NEED_KWH_PER_M2A,
    estimate_building,
    household_electricity_kwh_per_a,
)
from models.building_heat import dhw_kwh_per_a
from models.district import ElectricVehicle, LoadedDistrict, load_district
from models.ev import EVParameters, ev_charging_kw
from models.heat import HeatProfileType, heat_demand_kw, space_heat_shapes
from models.heatpump import COP_MODELS, HeatPumpParameters, heat_pump_power_kw
from models.load import bdew_shapes, electricity_load_kw, household_load_kw
from models.profiles import ELECTRICITY_PROFILE, HOUSEHOLD_PROFILE
from models.pv import pv_specific_ac_kw_per_kwp
from models.weather import BEUCHA, read_weather
from twin.core.vocabulary import STEP_H

__all__ = ["COMPUTED_REFERENCES", "MODEL_QUANTITIES", "ValidationContext"]

#: The calendar year of the embedded weather the quantities are computed for.
VALIDATION_YEAR = 2025
#: Orientations of the PV quantities: (tilt, azimuth) in degrees.
PV_ORIENTATIONS: dict[str, tuple[float, float]] = {
    "south": (35.0, 180.0),
    "east": (35.0, 90.0),
    "west": (35.0, 270.0),
    "flat": (10.0, 180.0),
}
#: Mean annual distance of a German car, KBA "Verkehr in Kilometern" 2023. [km]
KBA_KM_PER_A = 12320.0
#: The reference house of the heat-pump quantities: TABULA SFH 1958-68, 140 m2.
_SFH_AREA_M2 = 140.0


class ValidationContext:
    """Inputs shared by the quantities, computed on first use."""

    @cached_property
    def weather(self) -> pd.DataFrame:
        """The embedded DWD TRY2010 year at 15 min."""
        return read_weather(None, year=VALIDATION_YEAR)

    @cached_property
    def index(self) -> pd.DatetimeIndex:
        """The year's UTC index."""
        return pd.DatetimeIndex(self.weather.index)

    @cached_property
    def load_shapes(self) -> pd.DataFrame:
        """BDEW H0 (dynamised) of the year."""
        return bdew_shapes(["h0_dyn"], [VALIDATION_YEAR])

    @cached_property
    def district(self) -> LoadedDistrict:
        """The built-in district and its grid."""
        return load_district("beucha")

    @cached_property
    def pv_specific_kwh(self) -> dict[str, float]:
        """Annual AC yield per kWp of :data:`PV_ORIENTATIONS` by :mod:`models.pv`."""
        tilt, azimuth = zip(*PV_ORIENTATIONS.values(), strict=True)
        ac = pv_specific_ac_kw_per_kwp(self.weather, list(tilt), list(azimuth))
        return dict(zip(PV_ORIENTATIONS, ac.sum(axis=0) * STEP_H, strict=True))


def _spf(ctx: ValidationContext, state: str) -> float:
    """SPF of an air/water heat pump in the reference SFH (DE.05) in a retrofit state."""
    variant = ("existing", "usual_refurbishment", "advanced_refurbishment").index(state)
    space_kwh = HEAT_NEED_KWH_PER_M2A["SFH"]["DE.05"][variant] * _SFH_AREA_M2
    dhw_kwh = DHW_NEED_KWH_PER_M2A["SFH"] * _SFH_AREA_M2
    temp = ctx.weather["temp_air_degc"]
    kind = HeatProfileType("EFH")
    shapes = space_heat_shapes(temp, [kind])
    demand = heat_demand_kw(temp, [space_kwh], kind, [dhw_kwh], shapes=shapes)
    result = heat_pump_power_kw(temp, demand.space_kw, demand.dhw_kw, state)
    heat = float(demand.space_kw.to_numpy().sum() + demand.dhw_kw.to_numpy().sum())
    return heat / float(result.p_kw.to_numpy().sum())


def _cop(temp_air_degc: float, flow_temp_degc: float) -> float:
    """COP of the heat-pump model's default COP function at one rating point."""
    model = HeatPumpParameters().cop_model
    function = COP_MODELS[model] if isinstance(model, str) else model
    return float(function(np.array([temp_air_degc]), np.array([flow_temp_degc]))[0])


def _pv_modelchain_kwh(ctx: ValidationContext, ref_id: str) -> float:
    """Annual AC yield per kWp of an independent pvlib ModelChain (PVWatts, close-mount SAPM)."""
    tilt, azimuth = PV_ORIENTATIONS[ref_id.split("_")[2]]
    frame = ctx.weather
    # ModelChain computes the sun's position at the stamps: stamp the middle of each interval
    weather = pd.DataFrame(
        {
            "ghi": frame["ghi_w_m2"].to_numpy(),
            "dni": frame["dni_w_m2"].to_numpy(),
            "dhi": frame["dhi_w_m2"].to_numpy(),
            "temp_air": frame["temp_air_degc"].to_numpy(),
            "wind_speed": frame["wind_speed_m_s"].to_numpy(),
        },
        index=ctx.index + pd.Timedelta(minutes=7.5),
    )
    system = pvlib.pvsystem.PVSystem(
        surface_tilt=tilt,
        surface_azimuth=azimuth,
        albedo=0.2,
        module_parameters={"pdc0": 1.0, "gamma_pdc": -0.0037},
        inverter_parameters={"pdc0": 1.0 / 1.1 / 0.96, "eta_inv_nom": 0.96},
        temperature_model_parameters=pvlib.temperature.TEMPERATURE_MODEL_PARAMETERS["sapm"]["close_mount_glass_glass"],
    )
    location = pvlib.location.Location(BEUCHA.latitude_deg, BEUCHA.longitude_deg, altitude=BEUCHA.altitude_m)
    chain = pvlib.modelchain.ModelChain(
        system,
        location,
        transposition_model="perez",
        aoi_model="physical",
        spectral_model="no_loss",
        losses_model="pvwatts",
    )
    chain.run_model(weather)
    ac = np.clip(np.asarray(chain.results.ac, dtype=float), 0.0, None)
    return float(np.nan_to_num(ac).sum() * STEP_H)


def _round_trip(ctx: ValidationContext) -> float:
    """AC energy out over AC energy in of a full cycle of the default home battery."""
    params = replace(BatteryParameters(), soc_initial_frac=BatteryParameters().soc_min_frac, standby_kw=0.0)
    net = np.r_[np.full(24, -2.0), np.full(36, 2.0)]
    index = ctx.index[: len(net)]
    p_kw = self_consumption_dispatch(pd.DataFrame({"b": net}, index=index), 5.0, 2.5, params=params).p_kw["b"]
    return float(-p_kw[p_kw < 0].sum() / p_kw[p_kw > 0].sum())


def _self_sufficiency(ctx: ValidationContext, battery_kwh: float) -> float:
    """Mean self-sufficiency of 20 stochastic 4,000 kWh/a homes with 5 kWp south (and a battery)."""
    n_homes = 20
    load = household_load_kw(
        ctx.index, np.full(n_homes, 4000.0), np.ones(n_homes), seed=16, shapes=ctx.load_shapes
    ).to_numpy()
    pv = 5.0 * pv_specific_ac_kw_per_kwp(ctx.weather, [35.0], [180.0])
    net = load - pv
    if battery_kwh > 0:
        battery = self_consumption_dispatch(pd.DataFrame(net, index=ctx.index), battery_kwh, battery_kwh / 2.0)
        net = net + with_standby_kw(battery.p_kw).to_numpy()
    imported = np.clip(net, 0.0, None).sum(axis=0)
    return float(np.mean(1.0 - imported / load.sum(axis=0)))


def _household_kwh(ctx: ValidationContext, persons: int) -> float:
    """Annual energy of one household's stochastic profile (a house, not a flat)."""
    energy = household_electricity_kwh_per_a(persons, flat=False)
    load = household_load_kw(ctx.index, [energy], [1], seed=persons, shapes=ctx.load_shapes)
    return float(load.to_numpy().sum() * STEP_H)


def _admd(ctx: ValidationContext) -> float:
    """Coincident 15-min peak per household of the district's first 100 households."""
    energies = [
        household_electricity_kwh_per_a(group.persons, flat=building.type in ("MFH", "AB"))
        for building in ctx.district.district.buildings
        for group in building.households
        for _ in range(group.count)
    ][:100]
    load = household_load_kw(ctx.index, energies, np.ones(len(energies)), seed=100, shapes=ctx.load_shapes)
    return float(load.to_numpy().sum(axis=1).max() / len(energies))


def _space_heat(ctx: ValidationContext, kind: str, age_class: str, variant: int) -> float:
    """Space heat per m2 of a TABULA cell's year profile."""
    temp = ctx.weather["temp_air_degc"]
    profile = HeatProfileType("EFH" if kind in ("SFH", "TH") else "MFH")
    annual_kwh = HEAT_NEED_KWH_PER_M2A[kind][age_class][variant] * 100.0
    demand = heat_demand_kw(temp, [annual_kwh], profile, [0.0], shapes=space_heat_shapes(temp, [profile]))
    return float(demand.space_kw.to_numpy().sum() * STEP_H / 100.0)


def _dhw_per_person(ctx: ValidationContext) -> float:
    """Hot-water need per resident of the district's houses (SFH, TH)."""
    houses = [b for b in ctx.district.district.buildings if b.type in ("SFH", "TH")]
    dhw_kwh = sum(dhw_kwh_per_a(b, estimate_building(b).heat_kwh_per_a) for b in houses)
    return dhw_kwh / sum(b.n_persons for b in houses)


def _ev_kwh(ctx: ValidationContext) -> float:
    """Annual home charging of a car driven the KBA mean distance, as the district's cars are modelled."""
    car = ElectricVehicle(capacity_kwh=60.0, distance_km_per_a=KBA_KM_PER_A)
    weekday, weekend = EVParameters.use_probability_weekday_frac, EVParameters.use_probability_weekend_frac
    use_days = 365.0 * (5 * weekday + 2 * weekend) / 7
    params = EVParameters(
        battery_kwh=car.capacity_kwh,
        consumption_kwh_per_km=car.consumption_kwh_per_km,
        daily_distance_mean_km=car.distance_km_per_a / use_days,
    )
    result = ev_charging_kw(ctx.index, np.full(20, 11.0), seed=20, params=params)
    return float(result.p_kw.to_numpy().sum() * STEP_H / 20)


def _district_base_peak_kw(ctx: ValidationContext) -> float:
    """Year peak of the district's household and business load at 15 min, as the profiles draw it."""
    buildings = list(ctx.district.district.buildings)
    energy = {b.id: estimate_building(b).electricity_kwh_per_a for b in buildings}
    homes = [b for b in buildings if b.households and ELECTRICITY_PROFILE[b.type] == HOUSEHOLD_PROFILE]
    others = [b for b in buildings if b not in homes]
    shapes = bdew_shapes(sorted({ELECTRICITY_PROFILE[b.type] for b in buildings}), [VALIDATION_YEAR])
    household = household_load_kw(
        ctx.index, [energy[b.id] for b in homes], [b.n_households for b in homes], seed=1, shapes=shapes
    )
    business = electricity_load_kw(
        ctx.index, [energy[b.id] for b in others], [ELECTRICITY_PROFILE[b.type] for b in others], seed=2, shapes=shapes
    )
    return float((household.to_numpy().sum(axis=1) + business.to_numpy().sum(axis=1)).max())


def _simbench_hl_kw(ctx: ValidationContext, ref_id: str) -> float:
    """The grid's loads in SimBench's high-load study case (hL), in kW."""
    net = ctx.district.net
    return float(net.load["p_mw"].sum() * net.loadcases.loc["hL", "pload"] * 1000.0)


#: The model quantities by reference id.
MODEL_QUANTITIES: dict[str, Callable[[ValidationContext], float]] = {
    "hp_spf_existing": lambda ctx: _spf(ctx, "existing"),
    "hp_spf_usual": lambda ctx: _spf(ctx, "usual_refurbishment"),
    "hp_spf_advanced": lambda ctx: _spf(ctx, "advanced_refurbishment"),
    "hp_cop_a10w55": lambda ctx: _cop(-10.0, 55.0),
    "hp_cop_a2w35": lambda ctx: _cop(2.0, 35.0),
    "hp_cop_a7w35": lambda ctx: _cop(7.0, 35.0),
    **{
        f"pv_yield_{name}_pvlib": (lambda ctx, name=name: ctx.pv_specific_kwh[name])  # type: ignore[misc]
        for name in PV_ORIENTATIONS
    },
    "pv_yield_south_published": lambda ctx: ctx.pv_specific_kwh["south"],
    "battery_round_trip_ac": _round_trip,
    "self_sufficiency_pv": lambda ctx: _self_sufficiency(ctx, 0.0),
    "self_sufficiency_pv_battery": lambda ctx: _self_sufficiency(ctx, 5.0),
    **{
        f"household_kwh_{n}p": (lambda ctx, n=n: _household_kwh(ctx, n))  # type: ignore[misc]
        for n in range(1, 6)
    },
    "household_admd_100": _admd,
    "space_heat_sfh_de05_existing": lambda ctx: _space_heat(ctx, "SFH", "DE.05", 0),
    "space_heat_mfh_de08_usual": lambda ctx: _space_heat(ctx, "MFH", "DE.08", 1),
    "space_heat_ab_de06_usual": lambda ctx: _space_heat(ctx, "AB", "DE.06", 1),
    "space_heat_ab_de07_usual": lambda ctx: _space_heat(ctx, "AB", "DE.07", 1),
    "dhw_per_person": _dhw_per_person,
    "ev_kwh_per_car": _ev_kwh,
    "simbench_planning_peak": _district_base_peak_kw,
}

#: References computed at run time, by the name used as ``value`` in the reference file.
COMPUTED_REFERENCES: dict[str, Callable[[ValidationContext, str], float]] = {
    "modelchain": _pv_modelchain_kwh,
    "simbench_hl": _simbench_hl_kw,
}
