"""The district's model with free factors, as the calibration fits it (:mod:`twin.calibrate`).

:class:`FactorModel` computes a district's year once (:func:`models.profiles.district_profiles`)
and then predicts each building's meter (net electricity, import-positive) and each gas-heated
building's gas for any household-electricity factor ``a``, PV factors ``p`` (one per system)
and space-heat factors ``f``:

    net = a x load + sum(p_i x pv_i) + heat_pump(f) + ev + battery(net of the others)

The heat pumps are run again with the space heat times ``f`` (sized on it, as a building with
that demand would be); the home batteries are dispatched again on the new net load
(self-consumption), so the prediction is what the field or a scenario would compute for those
factors. Besides the load as the model draws it (stochastic households), the model keeps its
expectation, the BDEW shape times the annual estimate (``smooth_load``): the instrument that lets
the fit tell a household's level from its random peaks.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from models.battery import self_consumption_dispatch, with_standby_kw
from models.building_estimates import estimate_building
from models.building_heat import BuildingHeat, building_heat_demand
from models.district import District
from models.gas import gas_boiler_fuel_kw
from models.heat import HeatProfileType
from models.heatpump_district import district_heat_pumps
from models.profiles import (
    ELECTRICITY_PROFILE,
    HEAT_PROFILE,
    HOUSEHOLD_PROFILE,
    DistrictProfiles,
    ProfileInputs,
    ProfileOptions,
    district_profiles,
    prepare_inputs,
)
from models.variation import ModelVariation
from twin.core.vocabulary import STEP_H

__all__ = ["QUARTERS_PER_HOUR", "FactorModel"]

#: Quarter hours per hour (the fit works on hourly energies).
QUARTERS_PER_HOUR: Final[int] = round(1 / STEP_H)
_DT_H: Final[float] = STEP_H


@dataclass(frozen=True)
class Factors:
    """Factors of every building and PV system, in the model's column order.

    Attributes
    ----------
    electricity : numpy.ndarray
        Per building, on household electricity. [1]
    pv : numpy.ndarray
        Per PV system. [1]
    heat : numpy.ndarray
        Per building, on space heat. [1]
    """

    electricity: npt.NDArray[np.float64]
    pv: npt.NDArray[np.float64]
    heat: npt.NDArray[np.float64]


class FactorModel:
    """A district's year with free factors (see the module docstring).

    Parameters
    ----------
    district : District
        The district (as planned, or with a calibration applied).
    year : int
        Calendar year (UTC).
    weather : str or Path, optional
        Weather file; default the embedded DWD TRY2010 region 4.
    seed : int
        Seed of the profiles (as the field's ``--seed``).
    """

    def __init__(self, district: District, *, year: int, weather: str | Path | None, seed: int) -> None:
        self.district = district
        self.year = year
        self.seed = seed
        self.inputs: ProfileInputs = prepare_inputs(district, weather=weather, year=year)
        self.profiles: DistrictProfiles = district_profiles(district, self.inputs, ProfileOptions(year=year, seed=seed))
        assets = self.profiles.assets
        self.index = pd.DatetimeIndex(assets["time"].values).tz_localize("UTC")
        self.buildings = [b.id for b in district.buildings]
        column = {b: i for i, b in enumerate(self.buildings)}
        names = [str(a) for a in assets["asset"].values]
        kinds = [str(k) for k in assets["kind"].values]
        owner = [str(b) for b in assets["building"].values]
        p_kw = assets["p_kw"].to_numpy().astype(np.float64)
        n_time, n_b = p_kw.shape[0], len(self.buildings)
        self.load_kw = np.zeros((n_time, n_b))
        self.ev_kw = np.zeros((n_time, n_b))
        pv = [i for i, k in enumerate(kinds) if k == "pv"]
        self.pv_ids = [names[i] for i in pv]
        self.pv_building = np.array([column[owner[i]] for i in pv], dtype=np.int64)
        self.pv_kw = p_kw[:, pv]
        for i, kind in enumerate(kinds):
            if kind == "load":
                self.load_kw[:, column[owner[i]]] += p_kw[:, i]
            elif kind == "ev":
                self.ev_kw[:, column[owner[i]]] += p_kw[:, i]
        estimates = {b.id: estimate_building(b) for b in district.buildings}
        shapes = self.inputs.load_shapes
        self.smooth_load_kw = np.column_stack(
            [
                shapes[HOUSEHOLD_PROFILE if b.households else ELECTRICITY_PROFILE[b.type]].to_numpy()
                * estimates[b.id].electricity_kwh_per_a
                for b in district.buildings
            ]
        )
        self.heating = {b.id: b.heating.system for b in district.buildings}
        self.heat_pump_ids = [b.id for b in district.buildings if b.heating.system == "heat_pump"]
        self.gas_ids = [b.id for b in district.buildings if b.heating.system == "gas_boiler"]
        self.battery_of = [(column[b.id], u) for b in district.buildings for u in b.batteries]
        self._column = column

    # --- heat ----------------------------------------------------------------------------

    @cached_property
    def heat(self) -> BuildingHeat:
        """Space heat and hot water of every building (the model's year)."""
        buildings = self.district.buildings
        estimates = {b.id: estimate_building(b) for b in buildings}
        return building_heat_demand(
            buildings,
            estimates,
            [HeatProfileType(HEAT_PROFILE[b.type]) for b in buildings],
            self.inputs.weather["temp_air_degc"],
            self.inputs.heat_shapes,
            self.district.location.timezone,
        )

    def gas_parts_kw(self) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """(space-heat part, hot-water part) of every gas-heated building's gas, (time x gas building) [kW]."""
        heat = self.heat
        space = gas_boiler_fuel_kw(heat.space_kw[self.gas_ids]).to_numpy()
        water = gas_boiler_fuel_kw(heat.dhw_total_kw[self.gas_ids]).to_numpy()
        return space, water

    def heat_pump_kw(self, heat_factor: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Heat-pump electricity of every building (time x building; 0 without) for space-heat factors [kW]."""
        out = np.zeros_like(self.load_kw)
        if not self.heat_pump_ids:
            return out
        heat = self.heat
        columns = [self._column[b] for b in self.heat_pump_ids]
        space = heat.space_kw[self.heat_pump_ids] * heat_factor[columns]
        scaled = BuildingHeat(space, heat.dhw_kw[self.heat_pump_ids], heat.dhw_loss_kw[self.heat_pump_ids])
        buildings = [b for b in self.district.buildings if b.heating.system == "heat_pump"]
        run = district_heat_pumps(
            buildings,
            scaled,
            self.inputs.weather["temp_air_degc"],
            params=ModelVariation().heat_pump_parameters(),
        )
        assert run is not None
        out[:, columns] = run.result.p_kw.to_numpy()
        return out

    # --- electricity ---------------------------------------------------------------------

    def net_kw(
        self, factors: Factors, *, heat_pump_kw: npt.NDArray[np.float64] | None = None
    ) -> npt.NDArray[np.float64]:
        """Every building's meter for the factors (time x building), import-positive [kW]."""
        net = factors.electricity[np.newaxis, :] * self.load_kw + self.ev_kw
        if self.pv_ids:
            np.add.at(net.T, self.pv_building, (self.pv_kw * factors.pv[np.newaxis, :]).T)
        net += self.heat_pump_kw(factors.heat) if heat_pump_kw is None else heat_pump_kw
        if self.battery_of:
            counts = np.bincount([c for c, _ in self.battery_of], minlength=net.shape[1])
            frame = pd.DataFrame(np.column_stack([net[:, c] / counts[c] for c, _ in self.battery_of]), index=self.index)
            dispatch = self_consumption_dispatch(
                frame,
                [u.capacity_kwh for _, u in self.battery_of],
                [u.p_rated_kw for _, u in self.battery_of],
                params=ModelVariation().battery_parameters(),
            )
            p_battery = with_standby_kw(dispatch.p_kw).to_numpy()
            for j, (c, _) in enumerate(self.battery_of):
                net[:, c] += p_battery[:, j]
        return net

    def ones(self) -> Factors:
        """Every factor 1 (the district as it is)."""
        n_b = len(self.buildings)
        return Factors(np.ones(n_b), np.ones(len(self.pv_ids)), np.ones(n_b))

    def hourly_kwh(self, kw: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Quarter-hour means (time x column) as hourly energies [kW h]."""
        rows = kw.shape[0] // QUARTERS_PER_HOUR * QUARTERS_PER_HOUR
        return kw[:rows].reshape(-1, QUARTERS_PER_HOUR, *kw.shape[1:]).sum(axis=1) * _DT_H
