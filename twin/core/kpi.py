"""Energy and grid KPIs, one implementation for live data and scenarios.

Every energy KPI is taken at a *boundary*: the district (its substation) or one
building (its meter). The code works on per-step energies at that boundary:
imported and exported electricity, which come from net power in a simulation
(:func:`flows_from_power`, :func:`boundary_flows`) or from the meters' separate
counters live (:func:`energy_from_counters`), plus the energy used by loads,
heat pumps and EV chargers, the PV generation and the fuel (gas) drawn. Import
and export are never netted across steps; within a step they are netted at the
boundary, so two buildings that trade in the same step do so inside the
district but not at their own meters.

Batteries are storage, neither load nor generation: their losses show as more
import or less export. Energy-neutral counts every carrier: gas drawn is
imported energy too (DESIGN.md section 6).

All functions are vectorised with xarray: any dimension besides the time
dimension (``scenario``, ``meter``, ``building``) is kept.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Final

import numpy as np
import xarray as xr

from twin.core.errors import ConfigError, TwinWarning
from twin.core.schema import SUBSTATION, step_hours, validate_assets
from twin.core.vocabulary import FLOW_TERMS, LOAD_KINDS

__all__ = [
    "GEG_2024",
    "LOAD_KINDS",
    "UBA_MIX",
    "CarrierFactors",
    "add_fuel_carriers",
    "boundary_flows",
    "energy_from_counters",
    "energy_kpis",
    "flows_from_power",
    "grid_kpis",
]


@dataclass(frozen=True)
class CarrierFactors:
    """Emission and primary-energy factors of the imported carriers.

    Parameters
    ----------
    co2_grid_g_per_kwh : float
        CO2 of grid electricity. [g kW-1 h-1]
    co2_gas_g_per_kwh : float
        CO2 of natural gas (per kWh of fuel, lower heating value). [g kW-1 h-1]
    primary_energy_factor_grid : float
        Non-renewable primary-energy factor of grid electricity. [1]
    primary_energy_factor_gas : float
        Primary-energy factor of natural gas. [1]
    co2_oil_g_per_kwh, co2_wood_g_per_kwh : float
        CO2 of heating oil and of wood (logs, chips, pellets), per kWh of fuel. [g kW-1 h-1]
    primary_energy_factor_oil, primary_energy_factor_wood : float
        Non-renewable primary-energy factors of heating oil and wood. [1]
    """

    co2_grid_g_per_kwh: float = 560.0
    co2_gas_g_per_kwh: float = 240.0
    primary_energy_factor_grid: float = 1.8
    primary_energy_factor_gas: float = 1.1
    co2_oil_g_per_kwh: float = 310.0
    co2_wood_g_per_kwh: float = 20.0
    primary_energy_factor_oil: float = 1.1
    primary_energy_factor_wood: float = 0.2

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if not np.isfinite(value) or value < 0:
                raise ConfigError(f"must be a finite number >= 0, got {value!r}", field=name)


#: GEG 2024 Anlage 4 (primary energy) and Anlage 9 (CO2): the default.
GEG_2024: Final[CarrierFactors] = CarrierFactors()
#: Umweltbundesamt German electricity mix (~380 g/kWh, 2023 emission factor)
#: with GEG gas and primary-energy factors.
UBA_MIX: Final[CarrierFactors] = CarrierFactors(co2_grid_g_per_kwh=380.0)


def flows_from_power(
    p_boundary_kw: xr.DataArray,
    *,
    load_kw: xr.DataArray | float = 0.0,
    generation_kw: xr.DataArray | float = 0.0,
    fuel_kw: xr.DataArray | float = 0.0,
    dt_h: float | None = None,
    dim: str = "time",
) -> xr.Dataset:
    """Return per-step energy flows at a boundary from mean powers.

    Parameters
    ----------
    p_boundary_kw : xarray.DataArray
        Net power through the boundary, import-positive, mean over each step. [kW]
    load_kw : xarray.DataArray or float
        Power used by loads, heat pumps and EV chargers, >= 0. [kW]
    generation_kw : xarray.DataArray or float
        PV generation, >= 0 (generation-positive here). [kW]
    fuel_kw : xarray.DataArray or float
        Fuel (gas) drawn, >= 0. [kW]
    dt_h : float, optional
        Step length; default from the time coordinate. [h]
    dim : str
        The time dimension.

    Returns
    -------
    flows : xarray.Dataset
        ``import_kwh``, ``export_kwh``, ``load_kwh``, ``generation_kwh`` and
        ``fuel_kwh`` per step, with ``dt_h`` as an attribute. [kWh]
    """
    step = step_hours(p_boundary_kw[dim].values) if dt_h is None else float(dt_h)
    p = p_boundary_kw.astype(np.float64)
    flows = xr.Dataset(
        {
            "import_kwh": p.clip(min=0) * step,
            "export_kwh": (-p).clip(min=0) * step,
            "load_kwh": xr.zeros_like(p) + xr.DataArray(load_kw).astype(np.float64) * step,
            "generation_kwh": xr.zeros_like(p) + xr.DataArray(generation_kw).astype(np.float64) * step,
            "fuel_kwh": xr.zeros_like(p) + xr.DataArray(fuel_kw).astype(np.float64) * step,
        },
        attrs={"dt_h": step, "time_dim": dim},
    )
    for name in flows.data_vars:
        if bool((flows[name] < 0).any()):
            raise ConfigError("energy flows must be >= 0 (check the sign convention)", field=str(name))
        flows[name].attrs["units"] = "kW h"
    return flows


def boundary_flows(
    assets: xr.Dataset,
    boundary: str = SUBSTATION,
    *,
    p_loss_kw: xr.DataArray | None = None,
) -> xr.Dataset:
    """Return per-step energy flows at a boundary from an assets dataset.

    Parameters
    ----------
    assets : xarray.Dataset
        Assets (``p_kw`` load-positive, ``p_fuel_kw``), see
        :func:`twin.core.schema.build_assets`.
    boundary : str
        ``"substation"`` for the district, or a building id.
    p_loss_kw : xarray.DataArray, optional
        Grid losses over ``time``; they count at the substation only, in the
        import and in E_load (energy used inside the district). [kW]

    Returns
    -------
    flows : xarray.Dataset
        As :func:`flows_from_power`, plus ``p_boundary_kw``. Within a step,
        import and export are netted at the boundary.

    Raises
    ------
    ConfigError
        If the boundary is neither the substation nor a building of the assets.
    """
    validate_assets(assets)
    if boundary == SUBSTATION:
        selected = assets
    else:
        mask = (assets["building"] == boundary).values
        if not mask.any():
            buildings = sorted(set(assets["building"].values.tolist()))
            raise ConfigError(
                f"unknown boundary {boundary!r}",
                field="boundary",
                allowed=f"{SUBSTATION} or a building id ({_first(buildings)})",
            )
        selected = assets.isel(asset=mask)
    p = selected["p_kw"].astype(np.float64)
    kind = selected["kind"]
    p_boundary = p.sum("asset")
    if p_loss_kw is not None and boundary == SUBSTATION:
        p_boundary = p_boundary + p_loss_kw.astype(np.float64)
    consumer = kind.isin([*LOAD_KINDS, "pv"])
    load = p.where(consumer, 0).clip(min=0).sum("asset")
    if p_loss_kw is not None and boundary == SUBSTATION:
        # the grid's losses are used inside the district boundary: without them in E_load an
        # import that only covers losses would push self-sufficiency below zero
        load = load + p_loss_kw.astype(np.float64).clip(min=0)
    generation = (-p.where(kind == "pv", 0)).clip(min=0).sum("asset")
    fuel = selected["p_fuel_kw"].astype(np.float64).sum("asset")
    flows = flows_from_power(p_boundary, load_kw=load, generation_kw=generation, fuel_kw=fuel)
    flows["p_boundary_kw"] = p_boundary.assign_attrs(units="kW", sign_convention="import_positive")
    flows.attrs["boundary"] = boundary
    return flows


def energy_from_counters(
    counter_kwh: xr.DataArray, *, initial_kwh: xr.DataArray | float | None = None, dim: str = "time"
) -> xr.DataArray:
    """Return per-step energy from a meter's cumulative counter.

    Parameters
    ----------
    counter_kwh : xarray.DataArray
        Counter readings at the end of each step (``energy_import_kwh`` or
        ``energy_export_kwh``). [kWh]
    initial_kwh : xarray.DataArray or float, optional
        Reading at the start of the first step. Without it, the first step's
        energy is unknown (NaN) and KPIs skip it. [kWh]
    dim : str
        The time dimension.

    Returns
    -------
    energy_kwh : xarray.DataArray
        Energy per step, >= 0; NaN where a counter went backwards (meter
        exchanged or reset), with a :class:`~twin.core.errors.TwinWarning`. [kWh]
    """
    counter = counter_kwh.astype(np.float64)
    previous = counter.shift({dim: 1})
    if initial_kwh is not None:
        first = {dim: 0}
        previous[first] = xr.DataArray(initial_kwh).astype(np.float64)
    energy = counter - previous
    backwards = energy < 0
    if bool(backwards.any()):
        warnings.warn(
            f"{int(backwards.sum())} step(s) where an energy counter went backwards are left out",
            TwinWarning,
            stacklevel=2,
        )
        energy = energy.where(~backwards)
    return energy.assign_attrs(units="kW h")


def energy_kpis(
    flows: xr.Dataset,
    *,
    factors: CarrierFactors = GEG_2024,
    p_peak_kw: float | xr.DataArray | None = None,
    dim: str | None = None,
) -> xr.Dataset:
    """Compute the energy KPIs of DESIGN.md section 6 at one boundary.

    Parameters
    ----------
    flows : xarray.Dataset
        Per-step ``import_kwh``, ``export_kwh``, ``load_kwh``,
        ``generation_kwh`` and ``fuel_kwh`` (see :func:`flows_from_power`). [kWh]
    factors : CarrierFactors
        CO2 and primary-energy factors of grid electricity and gas.
    p_peak_kw : float or xarray.DataArray, optional
        Installed PV peak power inside the boundary, for full-load hours. [kW]
    dim : str, optional
        The time dimension; default the flows' ``time_dim`` attribute or ``"time"``.

    Returns
    -------
    kpis : xarray.Dataset
        Totals ``import_kwh``, ``export_kwh``, ``load_kwh``, ``generation_kwh``,
        ``fuel_kwh``; ``self_sufficiency_frac`` = 1 - E_import / E_load;
        ``self_consumption_frac`` = 1 - E_export / E_generation;
        ``electricity_balance_kwh`` = E_import - E_export;
        ``net_zero_degree_frac`` = 1 + (E_export - E_import) / E_load;
        ``energy_balance_kwh`` = E_import + E_fuel - E_export (all carriers;
        <= 0 is energy-neutral) and the booleans ``energy_neutral`` and
        ``electricity_neutral``; ``load_cover_frac`` and ``supply_cover_frac``
        (time-resolved match of generation and load, storage not counted);
        ``peak_import_kw``, ``peak_export_kw``; ``full_load_hours_h``;
        ``co2_kg`` of what is imported (grid and gas), ``co2_avoided_kg`` by
        export (reported, never subtracted); ``primary_energy_kwh``.
        A ratio whose denominator is zero is NaN.
    """
    time_dim = dim or str(flows.attrs.get("time_dim", "time"))
    dt_h = float(flows.attrs["dt_h"]) if "dt_h" in flows.attrs else step_hours(flows[time_dim].values)
    per_step = {name: flows[name].astype(np.float64) for name in _FLOW_NAMES}
    total = {name: values.sum(time_dim, skipna=True) for name, values in per_step.items()}
    e_import, e_export = total["import_kwh"], total["export_kwh"]
    e_load, e_gen, e_fuel = total["load_kwh"], total["generation_kwh"], total["fuel_kwh"]
    load_step, gen_step = per_step["load_kwh"], per_step["generation_kwh"]
    matched = xr.where(load_step < gen_step, load_step, gen_step).sum(time_dim, skipna=True)
    energy_balance = e_import + e_fuel - e_export
    kpis = xr.Dataset(
        {
            **total,
            "self_sufficiency_frac": 1 - _ratio(e_import, e_load),
            "self_consumption_frac": 1 - _ratio(e_export, e_gen),
            "electricity_balance_kwh": e_import - e_export,
            "net_zero_degree_frac": 1 + _ratio(e_export - e_import, e_load),
            "energy_balance_kwh": energy_balance,
            "energy_neutral": energy_balance <= 0,
            "electricity_neutral": (e_import - e_export) <= 0,
            "load_cover_frac": _ratio(matched, e_load),
            "supply_cover_frac": _ratio(matched, e_gen),
            "peak_import_kw": per_step["import_kwh"].max(time_dim) / dt_h,
            "peak_export_kw": per_step["export_kwh"].max(time_dim) / dt_h,
            "co2_kg": (e_import * factors.co2_grid_g_per_kwh + e_fuel * factors.co2_gas_g_per_kwh) / 1000,
            "co2_avoided_kg": e_export * factors.co2_grid_g_per_kwh / 1000,
            "primary_energy_kwh": e_import * factors.primary_energy_factor_grid
            + e_fuel * factors.primary_energy_factor_gas,
        },
        attrs={**flows.attrs, "co2_grid_g_per_kwh": factors.co2_grid_g_per_kwh},
    )
    if p_peak_kw is not None:
        kpis["full_load_hours_h"] = _ratio(e_gen, xr.DataArray(p_peak_kw).astype(np.float64))
    for name in kpis.data_vars:
        units = _KPI_UNITS.get(str(name))
        if units:
            kpis[name].attrs["units"] = units
    return kpis


#: Fuels besides gas that buildings burn without an asset in the twin (their fuel is not metered).
FUEL_CARRIERS: Final[tuple[str, ...]] = ("oil", "wood")


def add_fuel_carriers(kpis: xr.Dataset, fuel_kwh: dict[str, float], factors: CarrierFactors = GEG_2024) -> xr.Dataset:
    """Add heating oil and wood burnt inside the boundary to the all-carrier KPIs.

    Parameters
    ----------
    kpis : xarray.Dataset
        The result of :func:`energy_kpis`.
    fuel_kwh : dict
        Fuel drawn over the same period per carrier of :data:`FUEL_CARRIERS`. [kW h]
    factors : CarrierFactors
        The same factors as for :func:`energy_kpis`.

    Returns
    -------
    kpis : xarray.Dataset
        With ``fuel_oil_kwh`` and ``fuel_wood_kwh``; ``energy_balance_kwh``,
        ``energy_neutral``, ``co2_kg`` and ``primary_energy_kwh`` count them too
        (``fuel_kwh`` stays the gas drawn by the boilers among the assets).

    Raises
    ------
    ConfigError
        For an unknown carrier or a negative amount.
    """
    unknown = set(fuel_kwh) - set(FUEL_CARRIERS)
    if unknown or any(not np.isfinite(v) or v < 0 for v in fuel_kwh.values()):
        raise ConfigError("fuel must be finite amounts >= 0 of oil and wood", field="fuel_kwh")
    oil, wood = (float(fuel_kwh.get(carrier, 0.0)) for carrier in FUEL_CARRIERS)
    out = kpis.copy()
    out["fuel_oil_kwh"] = xr.DataArray(oil, attrs={"units": "kW h"})
    out["fuel_wood_kwh"] = xr.DataArray(wood, attrs={"units": "kW h"})
    out["energy_balance_kwh"] = kpis["energy_balance_kwh"] + oil + wood
    out["energy_neutral"] = out["energy_balance_kwh"] <= 0
    co2_g = oil * factors.co2_oil_g_per_kwh + wood * factors.co2_wood_g_per_kwh
    out["co2_kg"] = kpis["co2_kg"] + co2_g / 1000
    pe_kwh = oil * factors.primary_energy_factor_oil + wood * factors.primary_energy_factor_wood
    out["primary_energy_kwh"] = kpis["primary_energy_kwh"] + pe_kwh
    for name in ("energy_balance_kwh", "co2_kg", "primary_energy_kwh"):
        out[name].attrs = kpis[name].attrs
    return out


def grid_kpis(
    vm_pu: xr.DataArray,
    loading_percent: xr.DataArray,
    *,
    reference_bus: object,
    dt_h: float | None = None,
    band_pu: float = 0.10,
    rise_limit_pu: float = 0.03,
    dim: str = "time",
) -> xr.Dataset:
    """Compute the grid KPIs from bus voltages and branch loadings.

    Parameters
    ----------
    vm_pu : xarray.DataArray
        Bus voltage magnitudes, dims (``time``, ``bus``). [1]
    loading_percent : xarray.DataArray
        Branch loadings, dims (``time``, ``branch``), with a ``branch_kind``
        coordinate (``"line"`` or ``"trafo"``). [%]
    reference_bus : object
        The ``bus`` label of the substation's LV busbar, the reference of the
        voltage rise.
    dt_h : float, optional
        Step length; default from the time coordinate. [h]
    band_pu : float
        Half-width of the EN 50160 voltage band around 1 p.u. [1]
    rise_limit_pu : float
        Admissible voltage rise against the busbar (VDE-AR-N 4105: 3 %). [1]
    dim : str
        The time dimension.

    Returns
    -------
    kpis : xarray.Dataset
        ``trafo_loading_max_percent``, ``trafo_loading_p99_percent``,
        ``line_loading_max_percent``, ``line_loading_p99_percent`` (99th
        percentile over time of the most loaded branch of each kind),
        ``trafo_utilisation_frac`` (mean transformer loading),
        ``vm_min_pu``, ``vm_max_pu``, ``outside_band_h`` (time with any bus
        outside 1 +- band), ``voltage_rise_max_pu`` (largest rise of any bus
        above the busbar) and ``rise_above_limit_h``.
    """
    if "branch_kind" not in loading_percent.coords:
        raise ConfigError("loading_percent needs a branch_kind coordinate", field="branch_kind", allowed="line, trafo")
    if reference_bus not in vm_pu["bus"].values:
        raise ConfigError(f"reference bus {reference_bus!r} is not a bus of vm_pu", field="reference_bus")
    step = step_hours(vm_pu[dim].values) if dt_h is None else float(dt_h)
    vm = vm_pu.astype(np.float64)
    loading = loading_percent.astype(np.float64)
    out: dict[str, xr.DataArray] = {}
    for kind in ("trafo", "line"):
        worst = loading.where(loading["branch_kind"] == kind).max("branch", skipna=True)
        out[f"{kind}_loading_max_percent"] = worst.max(dim)
        out[f"{kind}_loading_p99_percent"] = worst.quantile(0.99, dim=dim).drop_vars("quantile")
    out["trafo_utilisation_frac"] = loading.where(loading["branch_kind"] == "trafo").mean("branch").mean(dim) / 100
    out["vm_min_pu"] = vm.min((dim, "bus"))
    out["vm_max_pu"] = vm.max((dim, "bus"))
    outside = (abs(vm - 1.0) > band_pu).any("bus")
    out["outside_band_h"] = outside.sum(dim) * step
    rise = (vm - vm.sel(bus=reference_bus)).max("bus")
    out["voltage_rise_max_pu"] = rise.max(dim)
    out["rise_above_limit_h"] = (rise > rise_limit_pu).sum(dim) * step
    kpis = xr.Dataset(out, attrs={"dt_h": step, "band_pu": band_pu, "rise_limit_pu": rise_limit_pu})
    for name in kpis.data_vars:
        kpis[name].attrs["units"] = _KPI_UNITS[str(name)]
    return kpis


_FLOW_NAMES: Final[tuple[str, ...]] = FLOW_TERMS

_KPI_UNITS: Final[dict[str, str]] = {
    **dict.fromkeys(_FLOW_NAMES, "kW h"),
    "self_sufficiency_frac": "1",
    "self_consumption_frac": "1",
    "electricity_balance_kwh": "kW h",
    "net_zero_degree_frac": "1",
    "energy_balance_kwh": "kW h",
    "load_cover_frac": "1",
    "supply_cover_frac": "1",
    "peak_import_kw": "kW",
    "peak_export_kw": "kW",
    "full_load_hours_h": "h",
    "co2_kg": "kg",
    "co2_avoided_kg": "kg",
    "primary_energy_kwh": "kW h",
    "trafo_loading_max_percent": "%",
    "trafo_loading_p99_percent": "%",
    "line_loading_max_percent": "%",
    "line_loading_p99_percent": "%",
    "trafo_utilisation_frac": "1",
    "vm_min_pu": "1",
    "vm_max_pu": "1",
    "outside_band_h": "h",
    "voltage_rise_max_pu": "1",
    "rise_above_limit_h": "h",
}


def _first(names: list[str], count: int = 5) -> str:
    return ", ".join(names[:count]) + (", ..." if len(names) > count else "")


def _ratio(numerator: xr.DataArray, denominator: xr.DataArray) -> xr.DataArray:
    safe = denominator.where(denominator > 0)
    return numerator / safe
