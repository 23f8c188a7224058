"""Ensembles of a scenario: members that differ in weather, seed and uncertain model parameters.

A **member** is (weather year, seed, parameter draws), written as a :class:`MemberRecord`:
the weather (a named test reference year, or ``resampled`` from ``weather_years`` with
``weather_seed``, :mod:`models.weather_years`), the scenario seed of the households, cars and
the other stochastic draws, and one value of each uncertain parameter
(:class:`models.variation.ModelVariation`). Member ``k`` of an ensemble with seed ``S`` draws
from ``numpy.random.default_rng([S, k])``, so a record alone re-runs its member exactly
(:func:`run_member`), and the first members of a larger ensemble are those of a smaller one.

Members run as Dask tasks like the scenarios of a sweep (:mod:`scenarios.parallel`): a worker
keeps the district, the grid's prepared power flows and the load shapes once
(:func:`scenarios.parallel.worker_shared`) and computes only the member's weather, heat shapes
and year. The district's annual space heat holds for the reference climate (Potsdam, TRY2010
region 4); a member scales it by its weather's heating degree days (:func:`heat_factor`), so a
cold year needs more heat - a single ``twin scenario run`` keeps the estimate on any weather.
Members write no result folders; their KPIs come back to the client, which writes the member
table and the summary (:mod:`scenarios.ensemble_summary`).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pandas as pd

from models.heat import HeatProfileType, space_heat_shapes
from models.profiles import HEAT_PROFILE, ProfileInputs
from models.variation import ModelVariation
from models.weather import Site
from models.weather_years import heating_degree_days, resampled_weather
from scenarios.ensemble_results import monthly_energy
from scenarios.ensemble_settings import PARAMETER_NAMES, EnsembleSettings
from scenarios.parallel import cluster_client, worker_shared
from scenarios.records import Scenario
from scenarios.runner import SharedInputs, compute_scenario
from twin.core.errors import ModelError, TwinError

__all__ = [
    "TIMING_KPIS",
    "MemberRecord",
    "draw_members",
    "heat_factor",
    "member_kpis",
    "run_member",
    "run_members",
]

#: KPIs that time a run rather than describe it: left out of members' KPIs (not reproducible).
TIMING_KPIS: Final[frozenset[str]] = frozenset(
    {"profiles_s", "dispatch_s", "power_flow_s", "kpis_s", "run_s", "write_s"}
)
#: Decimals a drawn parameter value is rounded to (the record holds the value run exactly).
_DECIMALS: Final[int] = 6

#: Called with (member number, KPIs or None, error text or None) after each member.
MemberProgress = Callable[[int, dict[str, Any] | None, str | None], None]


@dataclass(frozen=True)
class MemberRecord:
    """What makes a member: enough to re-run it exactly.

    Attributes
    ----------
    member : int
        Its number in the ensemble (from 0).
    weather : str
        A test reference year's name, or ``"resampled"``.
    weather_years : str
        The source years of a resampled year, joined by ``+`` (the name itself for a named year).
    weather_seed : int
        Seed of the resampled year's day draws (-1 for a named year).
    seed : int
        The scenario seed: households, cars and the other stochastic draws.
    hp_cop_scale, pv_losses_percent, battery_round_trip_frac : float
        The drawn model parameters (:class:`models.variation.ModelVariation`).
    """

    member: int
    weather: str
    weather_years: str
    weather_seed: int
    seed: int
    hp_cop_scale: float
    pv_losses_percent: float
    battery_round_trip_frac: float

    @property
    def variation(self) -> ModelVariation:
        """The member's model parameters."""
        return ModelVariation(
            hp_cop_scale=self.hp_cop_scale,
            pv_losses_percent=self.pv_losses_percent,
            battery_round_trip_frac=self.battery_round_trip_frac,
        )

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> MemberRecord:
        """A record from a row of the member table (extra columns, such as KPIs, ignored)."""
        types = {f.name: f.type for f in dataclasses.fields(cls)}
        convert = {"int": int, "str": str, "float": float}
        return cls(**{name: convert[str(kind)](row[name]) for name, kind in types.items()})


def draw_members(settings: EnsembleSettings) -> list[MemberRecord]:
    """The records of an ensemble's members, in order."""
    weather = settings.weather
    records = []
    for member in range(settings.members):
        rng = np.random.default_rng([settings.seed, member])
        weather_seed, seed = (int(v) for v in rng.integers(0, 2**31 - 1, size=2))
        draws = rng.random(len(PARAMETER_NAMES))
        values = {
            name: round(settings.parameters[name].quantile(float(u)), _DECIMALS)  # type: ignore[index]
            for name, u in zip(PARAMETER_NAMES, draws, strict=True)
        }
        if weather.mode == "resampled":
            name, years, wseed = "resampled", "+".join(weather.years), weather_seed
        else:
            name = years = weather.years[member % len(weather.years)]
            wseed = -1
        records.append(
            MemberRecord(member=member, weather=name, weather_years=years, weather_seed=wseed, seed=seed, **values)
        )
    return records


def member_kpis(kpis: dict[str, Any]) -> dict[str, float | bool]:
    """The numeric KPIs of a run (flags as bool), without timings."""
    out: dict[str, float | bool] = {}
    for name, value in kpis.items():
        if name in TIMING_KPIS or isinstance(value, str) or value is None:
            continue
        if isinstance(value, bool | np.bool_):
            out[name] = bool(value)
        elif isinstance(value, int | float | np.integer | np.floating):
            out[name] = float(value)
    return out


def run_member(scenario: Scenario, record: MemberRecord) -> dict[str, float | bool]:
    """Run one member of ``scenario`` and return its numeric KPIs.

    The worker's shared inputs of the district and year are reused
    (:func:`scenarios.parallel.worker_shared`); the member's weather and heat shapes are its own,
    its space heat scaled by :func:`heat_factor` (returned as ``space_heat_factor``), and its
    import, export and gas per calendar month (:func:`scenarios.ensemble_results.monthly_energy`).
    """
    base = worker_shared(scenario.district, None, scenario.year)
    inputs = _member_inputs(scenario.district, scenario.year, record.weather, record.weather_years, record.weather_seed)
    shared = SharedInputs(
        loaded=base.loaded,
        inputs=inputs,
        files_hash=base.files_hash,
        threads=base.threads,
        key=None,
        _flows=base._flows,
    )
    member = scenario.model_copy(update={"seed": record.seed, "name": f"{scenario.name}-m{record.member:04d}"})
    result = compute_scenario(member, shared, variation=record.variation)
    kpis = member_kpis(result.kpis)
    location = base.loaded.district.location
    site = Site(location.latitude_deg, location.longitude_deg, location.altitude_m)
    kpis["space_heat_factor"] = heat_factor(inputs.weather, year=scenario.year, site=site)
    kpis.update(monthly_energy(result, timezone=location.timezone))
    return kpis


def run_member_task(scenario: Scenario, record: MemberRecord) -> dict[str, Any]:
    """One Dask task: a member's KPIs, or ``{"error": message}`` for a failure the project names."""
    try:
        return run_member(scenario, record)
    except TwinError as err:
        return {"error": str(err)}


def run_members(
    scenario: Scenario,
    records: Sequence[MemberRecord],
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: MemberProgress | None = None,
) -> list[dict[str, Any]]:
    """Run the members: ``workers=0`` in this process, else on Dask (a LocalCluster or ``scheduler``).

    Returns
    -------
    kpis : list of dict
        Per member, in the order of ``records``.

    Raises
    ------
    ModelError
        If a member failed (the message names how many and the first).
    """
    results: list[dict[str, Any]] = [{} for _ in records]
    if scheduler is None and workers == 0:
        for number, record in enumerate(records):
            results[number] = run_member_task(scenario, record)
            if progress:
                progress(number, results[number], results[number].get("error"))
    else:
        from dask.distributed import as_completed

        with cluster_client(workers=workers, scheduler=scheduler) as client:
            futures = [
                client.submit(run_member_task, scenario, r, key=f"member-{scenario.name}-{r.member}", pure=False)
                for r in records
            ]
            position = {future.key: number for number, future in enumerate(futures)}
            for future in as_completed(futures):
                number = position[future.key]
                results[number] = future.result()
                if progress:
                    progress(number, results[number], results[number].get("error"))
    failed = [(r.member, k["error"]) for r, k in zip(records, results, strict=True) if "error" in k]
    if failed:
        raise ModelError(f"{len(failed)} of {len(records)} members failed; member {failed[0][0]}: {failed[0][1]}")
    return results


@functools.lru_cache(maxsize=4)
def _member_inputs(district: str, year: int, weather: str, weather_years: str, weather_seed: int) -> ProfileInputs:
    """A member's weather and heat shapes on the district's load shapes."""
    base = worker_shared(district, None, year)
    location = base.loaded.district.location
    site = Site(location.latitude_deg, location.longitude_deg, location.altitude_m)
    names = weather_years.split("+") if weather == "resampled" else [weather]
    resample_seed = weather_seed if weather == "resampled" else None
    frame, source = resampled_weather(names, seed=resample_seed, year=year, site=site)
    types = {HeatProfileType(HEAT_PROFILE[b.type]) for b in base.loaded.district.buildings}
    heat_shapes = space_heat_shapes(
        frame["temp_air_degc"], sorted(types, key=lambda t: t.key), timezone=location.timezone
    )
    factor = heat_factor(frame, year=year, site=site)
    return ProfileInputs(frame, base.inputs.load_shapes, heat_shapes * factor, year, source)


def heat_factor(weather: pd.DataFrame, *, year: int, site: Site) -> float:
    """A member's space heat relative to the district's estimate: its degree days over those of ``try2010``.

    The district's annual space heat (TABULA) holds for the German reference climate of Potsdam,
    the station of DWD TRY2010 region 4; a member's weather scales it by the ratio of the heating
    degree days G20/15 (:func:`models.weather_years.heating_degree_days`).
    """
    reference, _ = _reference_weather(year, site)
    return heating_degree_days(weather["temp_air_degc"]) / heating_degree_days(reference["temp_air_degc"])


@functools.lru_cache(maxsize=2)
def _reference_weather(year: int, site: Site) -> tuple[pd.DataFrame, str]:
    return resampled_weather(["try2010"], seed=None, year=year, site=site)
