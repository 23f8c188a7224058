"""Run one scenario: district -> profiles -> dispatch -> feed-in limit -> power flow -> KPIs -> files.

:func:`prepare_shared` computes what every scenario of a sweep on the same district,
weather and year shares - the loaded district and its grid, the weather and the
BDEW load and heat shapes (:func:`models.profiles.prepare_inputs`), and, lazily, one
prepared :class:`models.powerflow.BatchPowerFlow` per grid variant - plus a hash of
the input files. :func:`run_scenario` takes a scenario and those shared inputs and
returns the KPIs as a flat dict of plain numbers; with ``out_dir`` it writes the
result files (:mod:`scenarios.writer`). It holds no live connections, so it pickles
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

import numpy as np
import xarray as xr

from models.battery import BatteryUnit
from models.building_estimates import fuel_kwh_by_carrier
from models.calibration_file import calibrated_district
from models.community_battery import add_community_battery
from models.control.battery import battery_strategy
from models.district import BUILT_IN_DISTRICTS, District, LoadedDistrict, district_path, load_district
from models.ev import ChargingMode
from models.feed_in import limit_feed_in
from models.grid import GridChanges, apply_grid_changes, grid_kpis_of, lv_busbar
from models.powerflow import BatchPowerFlow, PowerFlowOptions
from models.profiles import ProfileInputs, ProfileOptions, district_profiles, prepare_inputs
from models.solar_park import add_solar_park
from models.variation import ModelVariation
from models.weather import default_weather_path
from scenarios.apply import apply_changes, grid_changes
from scenarios.config import Scenario
from scenarios.controlled import HeatInputs, run_controlled
from scenarios.costs import scenario_costs
from scenarios.kpis import heat_pump_kpis, installed, plain, substation_assets
from scenarios.results import ScenarioResult
from twin.core.errors import ConfigError, ModelError
from twin.core.kpi import CarrierFactors, add_fuel_carriers, boundary_flows, energy_kpis

__all__ = ["PACKAGE", "ScenarioResult", "SharedInputs", "prepare_shared", "run_scenario", "shared_key"]

logger = logging.getLogger(__name__)

#: The distribution whose version enters the input hash.
PACKAGE: Final[str] = "beucha-twin"


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
    # keys added later are left out while unset, so that older scenarios keep their hash
    exclude = {key for key in ("control", "calibration") if getattr(scenario, key) is None}
    text = json.dumps(scenario.model_dump(mode="json", exclude=exclude), sort_keys=True)
    if scenario.calibration is not None:
        text += hashlib.sha256(Path(scenario.calibration).read_bytes()).hexdigest()
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
        If the scenario names an unknown bus.
    ModelError
        If the shared inputs were prepared for another district, weather or year, or the
        grid's no-load power flow fails.
    """
    if shared.key is not None and shared_key(scenario) != shared.key:
        raise ModelError(
            f"the shared inputs are for {shared.key}, the scenario needs {shared_key(scenario)}",
            field="district/weather/year",
        )
    started = time.perf_counter()
    result = compute_scenario(scenario, shared)
    result.kpis["run_s"] = round(time.perf_counter() - started, 3)
    if out_dir is not None:
        from scenarios.writer import write_results

        started = time.perf_counter()
        write_results(result, Path(out_dir), plotly_js=plotly_js, files_hash=shared.files_hash)
        result.kpis["write_s"] = round(time.perf_counter() - started, 3)
    return result.kpis


def compute_scenario(
    scenario: Scenario, shared: SharedInputs, *, variation: ModelVariation | None = None
) -> ScenarioResult:
    """All computations of :func:`run_scenario`, returning the datasets too (no files).

    ``variation`` sets the uncertain model parameters (an ensemble member's draw); default the models' own.
    """
    variation = variation or ModelVariation()
    clock = [time.perf_counter()]
    stages: dict[str, float] = {}

    def lap(name: str) -> None:
        now = time.perf_counter()
        stages[f"{name}_s"] = round(now - clock[0], 3)
        clock[0] = now

    applied = apply_changes(_calibrated(shared.loaded.district, scenario), scenario)
    start, end = scenario.period
    options = ProfileOptions(
        year=scenario.year,
        start=start,
        end=end,
        seed=scenario.seed,
        ev_charging=_ev_charging(scenario),
        variation=variation,
    )
    profiles = district_profiles(applied.district, shared.inputs, options)
    lap("profiles")
    assets = profiles.assets
    changes = grid_changes(scenario)
    net, flow = shared.flow_for(changes)
    curtailed = np.zeros(assets.sizes["time"])
    limit = scenario.changes.feed_in_limit
    if limit is not None and limit.at == "building":
        p_kw, curtailed = limit_feed_in(assets, limit.frac_of_kwp, per_building=True)
        assets = _replace_power(assets, p_kw)
    assets = _add_community_assets(scenario, shared, net, assets, variation)
    if limit is not None and limit.at == "district":
        p_kw, curtailed = limit_feed_in(assets, limit.frac_of_kwp, per_building=False)
        assets = _replace_power(assets, p_kw)
    assets.attrs.update({"source": "scenario", "scenario": scenario.name})
    lap("dispatch")
    heat = None if scenario.control is None else HeatInputs.of(profiles.heat_kw, applied.district.buildings)
    assets, grid, control_kpis, signal_state = _run_control(scenario, shared, variation, (net, flow), assets, heat)
    lap("power_flow")
    p_loss = grid["p_loss_kw"].fillna(0.0)
    flows = boundary_flows(substation_assets(assets), p_loss_kw=p_loss)
    p_peak = float(np.nansum(assets["p_peak_kw"].values))
    factors = CarrierFactors(**scenario.factors.model_dump())
    energy = energy_kpis(flows, factors=factors, p_peak_kw=p_peak or None)
    buildings = list(applied.district.buildings)
    heat_kwh = profiles.heat_kw[[b.id for b in buildings]].to_numpy().sum(axis=0) * float(flows.attrs["dt_h"])
    energy = add_fuel_carriers(energy, fuel_kwh_by_carrier(buildings, list(heat_kwh)), factors)
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
    kpis.update({str(k): plain(v) for k, v in energy.data_vars.items()})
    kpis["losses_kwh"] = float(p_loss.sum()) * dt_h
    kpis["battery_net_charge_kwh"] = float(assets["p_kw"].where(assets["kind"] == "battery", 0).sum()) * dt_h
    kpis["curtailed_kwh"] = float(curtailed.sum()) * dt_h
    kpis.update({str(k): plain(v) for k, v in gridk.data_vars.items()})
    kpis["steps_not_converged"] = int(gridk.attrs.get("steps_not_converged", 0))
    kpis.update(control_kpis)
    lap("kpis")
    kpis.update(stages)
    kpis["transformer_s_rated_kva"] = float(net.trafo["sn_mva"].sum() * 1000.0)
    kpis.update(installed(assets))
    kpis.update(heat_pump_kpis(profiles.heat_pumps))
    kpis.update(scenario_costs(scenario, applied, kpis, net, changes, hours=kpis["steps"] * dt_h))
    curtailed_kw = xr.DataArray(
        curtailed.astype(np.float32), dims="time", coords={"time": assets["time"].values}, attrs={"units": "kW"}
    )
    return ScenarioResult(scenario, kpis, assets, grid, net, applied, curtailed_kw, flows, signal_state)


def _run_control(
    scenario: Scenario,
    shared: SharedInputs,
    variation: ModelVariation,
    grid: tuple[Any, Any],
    assets: xr.Dataset,
    heat: HeatInputs | None,
) -> tuple[xr.Dataset, xr.Dataset, dict[str, Any], xr.DataArray | None]:
    """The power flow of the assets with the scenario's controllers in the loop (:func:`run_controlled`)."""
    reactive, unit = shared.loaded.district.reactive_power, _community_unit(scenario, variation)
    return run_controlled(scenario.control, grid[0], assets, reactive, grid[1], unit, heat)


def _calibrated(district: District, scenario: Scenario) -> District:
    """The district with the scenario's calibration file applied, if it names one."""
    return district if scenario.calibration is None else calibrated_district(district, scenario.calibration)


def _add_community_assets(
    scenario: Scenario, shared: SharedInputs, net: Any, assets: xr.Dataset, variation: ModelVariation
) -> xr.Dataset:
    """The assets plus the scenario's solar park and community battery (dispatched on the net load with the park)."""
    park = scenario.changes.solar_park
    if park is not None:
        hv_bus = str(net.bus.at[int(net.trafo["hv_bus"].iloc[0]), "name"])
        bus = _bus_name(net, park.bus or hv_bus, "solar_park")
        orientation = {"tilt_deg": park.tilt_deg, "azimuth_deg": park.azimuth_deg}
        params = variation.pv_parameters()
        assets = add_solar_park(assets, shared.inputs.weather, park.p_peak_kw, bus, **orientation, params=params)
    battery = scenario.changes.community_battery
    if battery is not None:
        bus = _bus_name(net, battery.bus or str(net.bus.at[lv_busbar(net), "name"]), "community_battery")
        unit = _community_unit(scenario, variation)
        assert unit is not None
        strategy = battery.strategy
        if scenario.control is not None and scenario.control.battery in ("self_consumption", "peak_shaving"):
            strategy = scenario.control.battery
        assets = add_community_battery(assets, unit, battery_strategy(strategy, battery.model_dump()), bus)
    return assets


def _community_unit(scenario: Scenario, variation: ModelVariation) -> BatteryUnit | None:
    """The scenario's community battery as a device record (None without one)."""
    battery = scenario.changes.community_battery
    if battery is None:
        return None
    params = variation.battery_parameters()
    return BatteryUnit(capacity_kwh=battery.capacity_kwh, p_rated_kw=battery.p_rated_kw, params=params)


def _ev_charging(scenario: Scenario) -> ChargingMode:
    """The cars' charging rule: the ``control:`` block's if it names one, else ``changes.evs.charging``."""
    control = scenario.control
    if control is not None and control.ev in ("uncontrolled", "pv_surplus"):
        return "pv_surplus" if control.ev == "pv_surplus" else "uncontrolled"
    return scenario.changes.evs.charging if scenario.changes.evs else "uncontrolled"


def _bus_name(net: Any, bus: str, change: str) -> str:
    """``bus`` if it names a bus of ``net``; else a ConfigError naming ``changes.<change>.bus``."""
    if bus not in set(net.bus["name"].astype(str)):
        raise ConfigError(f"bus {bus!r} is not a bus of the grid", field=f"changes.{change}.bus", allowed="a bus name")
    return bus


def _replace_power(assets: xr.Dataset, p_kw: np.ndarray) -> xr.Dataset:
    out = assets.copy()
    out["p_kw"] = assets["p_kw"].copy(data=p_kw.astype(np.float32, copy=False))
    return out
