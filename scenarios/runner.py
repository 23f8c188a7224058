"""Run one scenario: district -> profiles -> dispatch -> feed-in limit -> power flow -> KPIs -> files.

:func:`prepare_shared` computes what every scenario of a sweep on the same district,
weather and year shares - the loaded district and its grid, the weather and the
BDEW load and heat shapes (:func:`models.profiles.prepare_inputs`), and, lazily, one
prepared :class:`models.powerflow.BatchPowerFlow` per grid variant - plus a hash of
the input files. :func:`run_scenario` takes a scenario and those shared inputs and
returns the KPIs as a flat dict of plain numbers; with ``out_dir`` it writes the
result files (:mod:`scenarios.results`). It holds no live connections, so it pickles
for Dask.

The order inside a scenario: building changes (:mod:`scenarios.apply`), profiles
with the home batteries' self-consumption dispatch, the feed-in limit per building
(curtailing PV), the community battery on the district's net load at the
substation, the feed-in limit at the district if so configured, the batch power
flow, then the energy KPIs at the substation *including grid losses*
(:func:`twin.core.kpi.boundary_flows` with ``p_loss_kw``), the grid KPIs and costs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Final

import numba
import numpy as np
import pandas as pd
import xarray as xr

from models.battery import BatteryParameters, self_consumption_dispatch
from models.district import BUILT_IN_DISTRICTS, LoadedDistrict, district_path, load_district
from models.grid import GridChanges, apply_grid_changes, grid_kpis_of, lv_busbar, run_power_flow
from models.powerflow import BatchPowerFlow, PowerFlowOptions
from models.profiles import ProfileInputs, ProfileOptions, district_profiles, prepare_inputs
from models.weather import default_weather_path
from scenarios.apply import AppliedChanges, apply_changes, grid_changes
from scenarios.config import CommunityBatteryChange, Scenario
from twin.core.errors import ConfigError
from twin.core.kpi import LOAD_KINDS, CarrierFactors, boundary_flows, energy_kpis
from twin.core.schema import build_assets, step_hours

__all__ = ["PACKAGE", "ScenarioResult", "SharedInputs", "prepare_shared", "run_scenario", "shared_key"]

logger = logging.getLogger(__name__)

#: The distribution whose version enters the input hash.
PACKAGE: Final[str] = "beucha-twin"
#: Building id of the community battery's asset.
COMMUNITY: Final[str] = "community"


@dataclass
class SharedInputs:
    """What all scenarios on one district, weather and year share (computed once per sweep).

    Attributes
    ----------
    loaded : LoadedDistrict
        Today's district and its grid.
    inputs : ProfileInputs
        Weather and BDEW shapes.
    files_hash : str
        sha256 over the district file, a grid JSON file, the weather file and the package version.
    threads : int
        Power-flow solver threads (1 inside Dask workers).
    key : tuple, optional
        (district, weather, year) they were prepared for (:func:`shared_key`).
    """

    loaded: LoadedDistrict
    inputs: ProfileInputs
    files_hash: str
    threads: int = 1
    key: tuple[str, str | None, int] | None = None
    _flows: dict[GridChanges | None, tuple[Any, BatchPowerFlow]] = field(default_factory=dict, repr=False)

    def flow_for(self, changes: GridChanges | None) -> tuple[Any, BatchPowerFlow]:
        """The net with the grid changes applied and its prepared batch solver (cached)."""
        if changes not in self._flows:
            net = apply_grid_changes(self.loaded.net, changes) if changes else self.loaded.net
            options = PowerFlowOptions(threads=self.threads, on_divergence="flag")
            self._flows[changes] = (net, BatchPowerFlow(net, options))
        return self._flows[changes]


@dataclass(frozen=True)
class ScenarioResult:
    """Everything a scenario run computed (what :mod:`scenarios.results` writes).

    Attributes
    ----------
    scenario : Scenario
    kpis : dict
        Flat KPI dict (see :func:`run_scenario`).
    assets : xarray.Dataset
        Every asset after dispatch and curtailment.
    grid : xarray.Dataset
        Power-flow results.
    net : pandapowerNet
        The grid the power flow ran on (grid changes applied).
    applied : AppliedChanges
    curtailed_kw : xarray.DataArray
        PV curtailed by the feed-in limit, over time. [kW]
    """

    scenario: Scenario
    kpis: dict[str, Any]
    assets: xr.Dataset
    grid: xr.Dataset
    net: Any
    applied: AppliedChanges
    curtailed_kw: xr.DataArray


def shared_key(scenario: Scenario) -> tuple[str, str | None, int]:
    """What decides the shared inputs: (district, weather, year)."""
    return scenario.district, scenario.weather, scenario.year


def prepare_shared(district: str, weather: str | None, year: int, *, threads: int = 1) -> SharedInputs:
    """Load the district and compute the shared profile inputs once.

    Parameters
    ----------
    district : str
        Built-in district name or district file.
    weather : str, optional
        Weather file; default the embedded DWD TRY2010 region 4.
    year : int
        Calendar year.
    threads : int
        Power-flow solver threads.

    Returns
    -------
    shared : SharedInputs
    """
    loaded = load_district(district)
    inputs = prepare_inputs(loaded.district, weather=weather, year=year)
    digest = hashlib.sha256()
    try:
        digest.update(f"{PACKAGE} {version(PACKAGE)}\n".encode())
    except PackageNotFoundError:
        digest.update(f"{PACKAGE} unknown\n".encode())
    district_file = district_path(district)
    files = [district_file, Path(weather) if weather else default_weather_path()]
    grid_json = loaded.district.grid.pandapower_json
    if grid_json:
        files.append(district_file.parent / grid_json if not Path(grid_json).is_absolute() else Path(grid_json))
    for path in files:
        digest.update(path.name.encode() + b"\n" + path.read_bytes())
    if district in BUILT_IN_DISTRICTS:
        digest.update(f"built-in {district}".encode())
    return SharedInputs(
        loaded=loaded, inputs=inputs, files_hash=digest.hexdigest(), threads=threads, key=(district, weather, year)
    )


def input_hash(scenario: Scenario, shared: SharedInputs) -> str:
    """sha256 of the resolved scenario and the input files (see :class:`SharedInputs`)."""
    text = json.dumps(scenario.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256((text + shared.files_hash).encode()).hexdigest()


def run_scenario(
    scenario: Scenario,
    shared: SharedInputs,
    out_dir: str | Path | None = None,
    *,
    plotly_js: str | None = None,
) -> dict[str, Any]:
    """Run a scenario and return its KPIs; write its files under ``out_dir/NAME`` when given.

    Parameters
    ----------
    scenario : Scenario
        A validated scenario.
    shared : SharedInputs
        From :func:`prepare_shared` for the scenario's district, weather and year.
    out_dir : str or pathlib.Path, optional
        Folder of all scenario results; the scenario writes ``out_dir/NAME/``.
    plotly_js : str, optional
        Path of plotly.js relative to the report (default ``../plotly.min.js``, written once).

    Returns
    -------
    kpis : dict
        Flat dict of plain numbers: energy KPIs at the substation (losses included),
        grid KPIs, curtailment, assets installed, costs, ``input_hash`` and timings.

    Raises
    ------
    ConfigError
        If the scenario does not fit the shared inputs or names an unknown bus.
    """
    if shared.key is not None and shared_key(scenario) != shared.key:
        raise ConfigError(
            f"the shared inputs are for {shared.key}, the scenario needs {shared_key(scenario)}",
            field="district/weather/year",
        )
    started = time.perf_counter()
    result = compute_scenario(scenario, shared)
    result.kpis["run_s"] = round(time.perf_counter() - started, 3)
    if out_dir is not None:
        from scenarios.results import write_results

        started = time.perf_counter()
        write_results(result, Path(out_dir), plotly_js=plotly_js, files_hash=shared.files_hash)
        result.kpis["write_s"] = round(time.perf_counter() - started, 3)
    return result.kpis


def compute_scenario(scenario: Scenario, shared: SharedInputs) -> ScenarioResult:
    """All computations of :func:`run_scenario`, returning the datasets too (no files)."""
    clock = [time.perf_counter()]
    stages: dict[str, float] = {}

    def lap(name: str) -> None:
        now = time.perf_counter()
        stages[f"{name}_s"] = round(now - clock[0], 3)
        clock[0] = now

    applied = apply_changes(shared.loaded.district, scenario)
    start, end = scenario.period
    options = ProfileOptions(
        year=scenario.year,
        start=start,
        end=end,
        seed=scenario.seed,
        ev_charging=scenario.changes.evs.charging if scenario.changes.evs else "uncontrolled",
    )
    profiles = district_profiles(applied.district, shared.inputs, options)
    lap("profiles")
    assets = profiles.assets
    changes = grid_changes(scenario)
    net, flow = shared.flow_for(changes)
    curtailed = np.zeros(assets.sizes["time"])
    limit = scenario.changes.feed_in_limit
    if limit is not None and limit.at == "building":
        p_kw, curtailed = _limit_feed_in(assets, limit.frac_of_kwp, per_building=True)
        assets = _replace_power(assets, p_kw)
    battery = scenario.changes.community_battery
    if battery is not None:
        bus = battery.bus or str(net.bus.at[lv_busbar(net), "name"])
        if bus not in set(net.bus["name"].astype(str)):
            raise ConfigError(
                f"bus {bus!r} is not a bus of the grid", field="changes.community_battery.bus", allowed="a bus name"
            )
        assets = _add_community_battery(assets, battery, bus)
    if limit is not None and limit.at == "district":
        p_kw, curtailed = _limit_feed_in(assets, limit.frac_of_kwp, per_building=False)
        assets = _replace_power(assets, p_kw)
    assets.attrs.update({"source": "scenario", "scenario": scenario.name})
    lap("dispatch")
    grid = run_power_flow(net, assets, shared.loaded.district.reactive_power, flow=flow)
    lap("power_flow")
    p_loss = grid["p_loss_kw"].fillna(0.0)
    flows = boundary_flows(_substation_assets(assets), p_loss_kw=p_loss)
    p_peak = float(np.nansum(assets["p_peak_kw"].values))
    factors = CarrierFactors(**scenario.factors.model_dump())
    energy = energy_kpis(flows, factors=factors, p_peak_kw=p_peak or None)
    gridk = grid_kpis_of(grid, net)
    dt_h = float(flows.attrs["dt_h"])
    kpis: dict[str, Any] = {
        "scenario": scenario.name,
        "description": scenario.description,
        "period_start": str(start),
        "period_end": str(end),
        "steps": int(assets.sizes["time"]),
        "input_hash": input_hash(scenario, shared),
    }
    kpis.update({str(k): _plain(v) for k, v in energy.data_vars.items()})
    kpis["losses_kwh"] = float(p_loss.sum()) * dt_h
    kpis["battery_net_charge_kwh"] = float(assets["p_kw"].where(assets["kind"] == "battery", 0).sum()) * dt_h
    kpis["curtailed_kwh"] = float(curtailed.sum()) * dt_h
    kpis.update({str(k): _plain(v) for k, v in gridk.data_vars.items()})
    kpis["steps_not_converged"] = int(gridk.attrs.get("steps_not_converged", 0))
    lap("kpis")
    kpis.update(stages)
    kpis["transformer_s_rated_kva"] = float(net.trafo["sn_mva"].sum() * 1000.0)
    kpis.update(_installed(assets))
    kpis.update(_costs(scenario, applied, kpis, net, changes, hours=kpis["steps"] * dt_h))
    curtailed_kw = xr.DataArray(
        curtailed.astype(np.float32), dims="time", coords={"time": assets["time"].values}, attrs={"units": "kW"}
    )
    return ScenarioResult(scenario, kpis, assets, grid, net, applied, curtailed_kw)


def _plain(value: xr.DataArray) -> Any:
    item = value.values.item()
    if isinstance(item, bool | np.bool_):
        return bool(item)
    number = float(item)
    return None if not np.isfinite(number) else number


def _replace_power(assets: xr.Dataset, p_kw: np.ndarray) -> xr.Dataset:
    out = assets.copy()
    out["p_kw"] = assets["p_kw"].copy(data=p_kw.astype(np.float32, copy=False))
    return out


def _limit_feed_in(assets: xr.Dataset, frac: float, *, per_building: bool) -> tuple[np.ndarray, np.ndarray]:
    """Curtail PV so no building (or the district as a whole) exports more than ``frac`` x its kWp.

    Returns the limited power (time x asset) and the curtailed energy rate per step
    (>= 0: what PV no longer feeds in). [kW]
    """
    p_kw = assets["p_kw"].values
    is_pv = assets["kind"].values == "pv"
    if not is_pv.any():
        return p_kw, np.zeros(p_kw.shape[0])
    if per_building:
        _, group = np.unique(assets["building"].values.astype(str), return_inverse=True)
    else:
        group = np.zeros(p_kw.shape[1], dtype=np.int64)
    group = group.astype(np.int64)
    kwp = np.bincount(
        group[is_pv], weights=np.nan_to_num(assets["p_peak_kw"].values[is_pv]), minlength=int(group.max()) + 1
    )
    return _limit_feed_in_loop(np.ascontiguousarray(p_kw), group, is_pv, kwp, frac)


@numba.njit(cache=True)
def _limit_feed_in_loop(
    p_kw: np.ndarray, group: np.ndarray, is_pv: np.ndarray, kwp: np.ndarray, frac: float
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """Per step: each group's export beyond ``frac * kWp`` is taken off its PV in proportion."""
    n_steps, n_assets = p_kw.shape
    limited = p_kw.copy()
    curtailed = np.zeros(n_steps)
    net = np.zeros(len(kwp))
    generation = np.zeros(len(kwp))
    for t in range(n_steps):
        net[:] = 0.0
        generation[:] = 0.0
        for a in range(n_assets):
            p = float(p_kw[t, a])
            net[group[a]] += p
            if is_pv[a] and p < 0.0:
                generation[group[a]] -= p
        for a in range(n_assets):
            g = group[a]
            p = float(p_kw[t, a])
            if not is_pv[a] or p >= 0.0 or generation[g] <= 0.0:
                continue
            excess = -net[g] - frac * kwp[g]
            if excess > 0.0:
                limited[t, a] = p * (1.0 - min(excess / generation[g], 1.0))
                curtailed[t] += float(limited[t, a]) - p
    return limited, curtailed


def _add_community_battery(assets: xr.Dataset, battery: CommunityBatteryChange, bus: str) -> xr.Dataset:
    """Dispatch a battery on the district's net load at the substation.

    ``self_consumption``: charge from district surplus, discharge into district
    import (:func:`models.battery.self_consumption_dispatch`). ``peak_shaving``:
    discharge what the import exceeds ``peak_limit_kw`` by, charge what the export
    exceeds ``export_limit_kw`` by, and between peaks drift back to
    ``target_soc_frac`` without pushing the exchange past either limit
    (:func:`_peak_shaving`).
    """
    net_kw = assets["p_kw"].values.sum(axis=1, dtype=np.float64)
    time_index = pd.DatetimeIndex(assets["time"].values)
    capacity_kwh, p_rated_kw = battery.capacity_kwh, battery.p_rated_kw
    if battery.strategy == "self_consumption":
        dispatch = self_consumption_dispatch(
            pd.DataFrame({"b": net_kw}, index=time_index), [capacity_kwh], [p_rated_kw]
        )
        p_battery, soc_battery = dispatch.p_kw.to_numpy()[:, 0], dispatch.soc_frac.to_numpy()[:, 0]
    else:
        params = BatteryParameters()
        p_battery, soc_battery = _peak_shaving(
            net_kw,
            capacity_kwh,
            p_rated_kw,
            np.inf if battery.peak_limit_kw is None else battery.peak_limit_kw,
            np.inf if battery.export_limit_kw is None else battery.export_limit_kw,
            battery.target_soc_frac,
            step_hours(time_index),
            params.eta_charge_frac,
            params.eta_discharge_frac,
            params.soc_min_frac,
            params.soc_max_frac,
            params.soc_initial_frac,
        )
    n = assets.sizes["asset"]
    soc = assets["soc_frac"].values if "soc_frac" in assets else np.full(assets["p_kw"].shape, np.nan, np.float32)
    out = build_assets(
        assets["time"].values,
        asset=[*assets["asset"].values.tolist(), f"{COMMUNITY}/battery0"],
        kind=[*assets["kind"].values.tolist(), "battery"],
        building=[*assets["building"].values.tolist(), COMMUNITY],
        bus=[*assets["bus"].values.tolist(), bus],
        p_kw=np.column_stack([assets["p_kw"].values, p_battery]),
        p_fuel_kw=np.column_stack([assets["p_fuel_kw"].values, np.zeros(len(time_index))]),
        soc_frac=np.column_stack([soc, soc_battery]),
        p_rated_kw=[*assets["p_rated_kw"].values[:n], p_rated_kw],
        p_peak_kw=[*assets["p_peak_kw"].values[:n], np.nan],
        capacity_kwh=[*assets["capacity_kwh"].values[:n], capacity_kwh],
        source="scenario",
    )
    out.attrs = {**assets.attrs, **out.attrs}
    return out


def _substation_assets(assets: xr.Dataset) -> xr.Dataset:
    """Four pseudo-assets whose flows at the substation equal those of all assets, exactly.

    :func:`twin.core.kpi.boundary_flows` clips each asset before summing (load = positive
    part of loads, heat pumps, EVs and PV; generation = negative part of PV); summing the
    clipped parts first gives the same totals and saves the (time x asset) xarray work.
    """
    kind = assets["kind"].values
    code = np.zeros(len(kind), dtype=np.int64)
    code[np.isin(kind, LOAD_KINDS)] = 1
    code[kind == "pv"] = 2
    p_kw = assets["p_kw"].values
    parts = _substation_sums(np.ascontiguousarray(p_kw), code)
    fuel = assets["p_fuel_kw"].values.sum(axis=1, dtype=np.float64)
    return build_assets(
        assets["time"].values,
        asset=["consumption", "generation", "rest", "fuel"],
        kind=["load", "pv", "battery", "gas_boiler"],
        building=["district"] * 4,
        bus=["substation"] * 4,
        p_kw=np.column_stack([parts, np.zeros_like(fuel)]),
        p_fuel_kw=np.column_stack([np.zeros((len(fuel), 3)), fuel]),
        source="scenario",
    )


@numba.njit(cache=True)
def _substation_sums(p_kw: np.ndarray, code: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    """Sum the assets' power into (time x 3) columns: consumption, generation, the rest.

    Consumption: positive part of loads and PV; generation: negative part of PV; the rest:
    negative part of loads, batteries and all else.
    """
    n_steps, n_assets = p_kw.shape
    out = np.zeros((n_steps, 3))
    for t in range(n_steps):
        for a in range(n_assets):
            p = float(p_kw[t, a])
            if code[a] == 0:
                out[t, 2] += p
            elif p > 0.0:
                out[t, 0] += p
            elif code[a] == 2:
                out[t, 1] += p
            else:
                out[t, 2] += p
    return out


@numba.njit(cache=True)
def _peak_shaving(
    net: np.ndarray,
    capacity: float,
    p_max: float,
    import_limit: float,
    export_limit: float,
    target: float,
    dt_h: float,
    eta_c: float,
    eta_d: float,
    soc_min: float,
    soc_max: float,
    soc_initial: float,
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """Peak-shaving loop: battery power (load-positive) and state of charge at the end of each step."""
    n = net.shape[0]
    p_kw = np.zeros(n)
    soc = np.zeros(n)
    energy = soc_initial * capacity
    for t in range(n):
        room = max((soc_max * capacity - energy) / (eta_c * dt_h), 0.0)
        available = max((energy - soc_min * capacity) * eta_d / dt_h, 0.0)
        if net[t] > import_limit:
            p = -min(net[t] - import_limit, p_max, available)
        elif -net[t] > export_limit:
            p = min(-net[t] - export_limit, p_max, room)
        elif energy > target * capacity:
            # discharge towards the target, never exporting more than the export limit
            excess = (energy - target * capacity) * eta_d / dt_h
            p = -min(excess, p_max, available, max(net[t] + export_limit, 0.0))
        else:
            # charge towards the target, never importing more than the import limit
            missing = (target * capacity - energy) / (eta_c * dt_h)
            p = min(missing, p_max, room, max(import_limit - net[t], 0.0))
        energy += p * eta_c * dt_h if p > 0 else p / eta_d * dt_h
        p_kw[t] = p
        soc[t] = energy / capacity
    return p_kw, soc


def _installed(assets: xr.Dataset) -> dict[str, float]:
    kind = assets["kind"].values
    building = assets["building"].values
    home = (kind == "battery") & (building != COMMUNITY)
    return {
        "pv_kwp": float(np.nansum(assets["p_peak_kw"].values[kind == "pv"])),
        "home_battery_kwh": float(np.nansum(assets["capacity_kwh"].values[home])),
        "community_battery_kwh": float(np.nansum(assets["capacity_kwh"].values[building == COMMUNITY])),
        "n_heat_pumps": int((kind == "heat_pump").sum()),
        "n_gas_boilers": int((kind == "gas_boiler").sum()),
        "n_evs": int((kind == "ev").sum()),
    }


def _costs(
    scenario: Scenario,
    applied: AppliedChanges,
    kpis: dict[str, Any],
    net: Any,
    changes: GridChanges | None,
    *,
    hours: float,
) -> dict[str, float]:
    """Energy cost of the period scaled to a year, investment, its annuity and the annual cost."""
    costs = scenario.costs
    energy_eur = (
        kpis["import_kwh"] * costs.import_eur_per_kwh
        + kpis["fuel_kwh"] * costs.gas_eur_per_kwh
        - kpis["export_kwh"] * costs.export_eur_per_kwh
    )
    per_year = 8760.0 / hours
    investment = (
        applied.pv_added_kwp * costs.pv_eur_per_kwp
        + applied.batteries_added_kwh * costs.battery_eur_per_kwh
        + kpis["community_battery_kwh"] * costs.community_battery_eur_per_kwh
        + applied.heat_pumps_added_kw * costs.heat_pump_eur_per_kw
        + applied.retrofit_m2 * costs.retrofit_eur_per_m2
        + applied.chargers_added * costs.charger_eur
    )
    if changes is not None:
        if changes.transformer_s_rated_kva is not None:
            investment += changes.transformer_s_rated_kva * costs.transformer_eur_per_kva
        if changes.line_std_type is not None or changes.parallel_cables is not None:
            names = net.line["name"].astype(str)
            chosen = names.isin(changes.lines) if changes.lines else np.ones(len(names), bool)
            investment += float(net.line.loc[chosen, "length_km"].sum()) * costs.cable_eur_per_km
    rate, years = costs.interest_frac, costs.lifetime_a
    factor = 1.0 / years if rate == 0 else rate * (1 + rate) ** years / ((1 + rate) ** years - 1)
    annuity = investment * factor
    return {
        "energy_cost_eur": float(energy_eur),
        "energy_cost_per_year_eur": float(energy_eur * per_year),
        "investment_eur": float(investment),
        "annuity_eur": float(annuity),
        "annual_cost_eur": float(energy_eur * per_year + annuity),
    }
