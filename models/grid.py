"""The district's pandapower net with every asset at its bus, and a year of power flow on it.

The district file names a grid (SimBench or a grid operator's pandapower JSON)
and, for each building, the bus it connects to. :func:`district_net` turns that
into the net a planner can re-check: the grid's loads and static generators are
replaced by the district's assets - a ``load`` per household/business load,
heat pump and car charger, an ``sgen`` per PV system, a ``storage`` per battery,
each named by its asset id - and the scenario's grid changes (transformer size,
cable upgrades) are applied. :func:`reactive_power_kvar` adds Q by the district's
assumptions: loads at a fixed inductive cos phi, PV by the cos phi(P)
characteristic of VDE-AR-N 4105 (under-excited, so the inverters absorb reactive
power when they feed in a lot).

:func:`run_power_flow` sums the assets per bus (``p_bus_kw`` / ``q_bus_kvar``,
load-positive) and solves every step in one batch (:mod:`models.powerflow`).
:func:`grid_kpis_of` hands the result to the twin core's grid KPIs with the
transformer's low-voltage busbar as the reference of the voltage rise.

Sign conventions at the pandapower boundary (STYLE.md section 4): ``load.p_mw``
= ``p_kw / 1000`` (consumer system), ``sgen.p_mw = -p_kw / 1000`` (generator
system), ``storage.p_mw = p_kw / 1000`` (charging positive).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numba
import numpy as np
import numpy.typing as npt
import pandas as pd
import xarray as xr

from models.district import ReactivePower
from models.net_tables import as_pandapower, district_net_json
from models.powerflow import BatchPowerFlow, PowerFlowOptions
from twin.core.errors import ConfigError
from twin.core.kpi import LOAD_KINDS, grid_kpis

__all__ = [
    "BusInjections",
    "GridChanges",
    "apply_grid_changes",
    "bus_injections",
    "bus_sums_kernel",
    "district_net",
    "grid_kpis_of",
    "lv_busbar",
    "reactive_power_kvar",
    "run_power_flow",
    "set_step",
    "write_district_net",
    "write_net_json",
]

#: pandapower element table of each electric asset kind.
ELEMENT_TABLE: Final[dict[str, str]] = {
    "load": "load",
    "heat_pump": "load",
    "ev": "load",
    "pv": "sgen",
    "battery": "storage",
}


@dataclass(frozen=True)
class GridChanges:
    """Reinforcements of the grid a scenario asks for.

    Parameters
    ----------
    transformer_s_rated_kva : float, optional
        New rating of the (each) transformer; short-circuit voltages in percent
        stay, no-load losses scale with the rating. [kVA]
    line_std_type : str, optional
        pandapower standard type for the upgraded cables, e.g. ``"NAYY 4x240 SE"``.
    parallel_cables : int, optional
        Cables in parallel on the upgraded lines (1 = as built).
    lines : tuple of str, optional
        Names of the lines to upgrade; empty = every line.
    """

    transformer_s_rated_kva: float | None = None
    line_std_type: str | None = None
    parallel_cables: int | None = None
    lines: tuple[str, ...] = ()


def apply_grid_changes(net: Any, changes: GridChanges) -> Any:
    """Return a copy of the net with the reinforcements applied.

    Raises
    ------
    ConfigError
        For an unknown cable type, an unknown line name or a non-positive rating.
    """
    net = copy.deepcopy(as_pandapower(net))
    if changes.transformer_s_rated_kva is not None:
        if changes.transformer_s_rated_kva <= 0:
            raise ConfigError("must be > 0", field="transformer_s_rated_kva")
        factor = changes.transformer_s_rated_kva / 1000.0 / net.trafo["sn_mva"]
        net.trafo["sn_mva"] = changes.transformer_s_rated_kva / 1000.0
        net.trafo["pfe_kw"] = net.trafo["pfe_kw"] * factor
        net.trafo["std_type"] = None
    if changes.line_std_type is None and changes.parallel_cables is None:
        return net
    if changes.lines:
        unknown = sorted(set(changes.lines) - set(net.line["name"].astype(str)))
        if unknown:
            raise ConfigError(f"line {unknown[0]!r} is not in the grid", field="lines")
        selected = net.line.index[net.line["name"].astype(str).isin(changes.lines)]
    else:
        selected = net.line.index
    if changes.line_std_type is not None:
        import pandapower as pp  # a second of imports, only to change a net

        if not pp.std_type_exists(net, changes.line_std_type, element="line"):
            known = sorted(pp.available_std_types(net, element="line").index)
            raise ConfigError(
                f"unknown cable type {changes.line_std_type!r}",
                field="line_std_type",
                allowed=", ".join(t for t in known if t.startswith("NAYY")),
            )
        for line in selected:
            pp.change_std_type(net, line, changes.line_std_type, element="line")
    if changes.parallel_cables is not None:
        if changes.parallel_cables < 1:
            raise ConfigError("must be >= 1", field="parallel_cables")
        net.line.loc[selected, "parallel"] = changes.parallel_cables
    return net


def district_net(net: Any, assets: xr.Dataset, changes: GridChanges | None = None) -> Any:
    """Return the district's net: the grid with an element per electric asset.

    Parameters
    ----------
    net : pandapowerNet
        The district's grid (from :func:`models.district.load_district`).
    assets : xarray.Dataset
        The district's assets; their ``bus`` coordinate names a bus of ``net``.
    changes : GridChanges, optional
        Reinforcements to apply.

    Returns
    -------
    net : pandapowerNet
        A copy: the grid's own loads, static generators and storage removed, one
        ``load``, ``sgen`` or ``storage`` per electric asset (name = asset id,
        power 0 until :func:`set_step`), gas boilers left out (no electric power).
    """
    import pandapower as pp  # a second of imports, only to build a net

    net = apply_grid_changes(net, changes) if changes else copy.deepcopy(as_pandapower(net))
    net.pop("profiles", None)
    for table in ("load", "sgen", "storage"):
        net[table] = net[table].iloc[0:0]
    bus_of = _bus_lookup(net)
    kinds = assets["kind"].values
    for table in ("load", "sgen", "storage"):
        picked = [i for i, kind in enumerate(kinds) if ELEMENT_TABLE.get(str(kind)) == table]
        if not picked:
            continue
        names = [str(assets["asset"].values[i]) for i in picked]
        buses = [bus_of[str(assets["bus"].values[i])] for i in picked]
        if table == "load":
            pp.create_loads(net, buses=buses, p_mw=0.0, q_mvar=0.0, name=names)
        elif table == "sgen":
            pp.create_sgens(net, buses=buses, p_mw=0.0, q_mvar=0.0, name=names)
        else:
            capacity = np.nan_to_num(assets["capacity_kwh"].values[picked] / 1000.0)
            pp.create_storages(net, buses=buses, p_mw=0.0, max_e_mwh=capacity, q_mvar=0.0, name=names)
    return net


def reactive_power_kvar(assets: xr.Dataset, reactive: ReactivePower) -> xr.DataArray:
    """Reactive power of every asset by the district's assumptions, load-positive.

    Parameters
    ----------
    assets : xarray.Dataset
        The assets (``p_kw`` load-positive; PV with ``p_peak_kw``).
    reactive : ReactivePower
        Load cos phi (inductive) and the PV cos phi(P) characteristic
        (under-excited).

    Returns
    -------
    q_kvar : xarray.DataArray
        (time x asset). Loads, heat pumps and chargers draw ``p tan(phi)`` > 0; PV
        absorbs ``|p| tan(phi(P))`` >= 0 (under-excited inverters consume
        reactive power); batteries and gas boilers 0. [kvar]
    """
    p = assets["p_kw"].values.astype(np.float64)
    kind = assets["kind"].values
    tan_load = float(np.tan(np.arccos(reactive.load_cos_phi)))
    q = np.zeros_like(p)
    is_load = np.isin(kind, LOAD_KINDS)
    q[:, is_load] = np.clip(p[:, is_load], 0, None) * tan_load
    is_pv = kind == "pv"
    if is_pv.any():
        generation = np.clip(-p[:, is_pv], 0, None)
        p_peak = assets["p_peak_kw"].values[is_pv].astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            p_frac = np.nan_to_num(np.clip(generation / p_peak, 0, 1), nan=0.0)
        points = reactive.pv_cos_phi_p
        cos_phi = np.interp(p_frac, [pt.p_frac for pt in points], [pt.cos_phi for pt in points])
        q[:, is_pv] = generation * np.tan(np.arccos(cos_phi))
    return xr.DataArray(
        q,
        dims=("time", "asset"),
        coords={name: coord for name, coord in assets["p_kw"].coords.items()},
        attrs={"units": "kvar", "long_name": "reactive power, load-positive", "sign_convention": "load_positive"},
    )


def bus_injections(assets: xr.Dataset, net: Any, reactive: ReactivePower) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Sum the assets' active and reactive power per bus of the net.

    The reactive power of each asset is :func:`reactive_power_kvar`'s, computed in
    the same pass as the sums (no (time x asset) array of it is built).

    Parameters
    ----------
    assets : xarray.Dataset
        The assets (``p_kw`` load-positive; PV with ``p_peak_kw``).
    net : pandapowerNet
        The grid; assets name their bus by the bus's ``name``.
    reactive : ReactivePower
        Load cos phi and the PV cos phi(P) characteristic.

    Returns
    -------
    p_bus_kw, q_bus_kvar : pandas.DataFrame
        (time x pandapower bus index) net demand per bus, load-positive; buses
        without assets are 0. [kW], [kvar]
    """
    plan = BusInjections(assets, net, reactive)
    p_bus, q_bus = plan.arrays(np.ascontiguousarray(assets["p_kw"].values))
    buses = plan.buses
    time = pd.DatetimeIndex(assets["time"].values)
    return pd.DataFrame(p_bus, index=time, columns=buses), pd.DataFrame(q_bus, index=time, columns=buses)


class BusInjections:
    """The assets' power summed per bus of the net (:func:`bus_injections`), for any rows of power.

    Parameters
    ----------
    assets : xarray.Dataset
        The assets (their buses, kinds and PV peaks; the power is given to :meth:`arrays`).
    net : pandapowerNet
        The grid.
    reactive : ReactivePower
        Load cos phi and the PV cos phi(P) characteristic.
    """

    def __init__(self, assets: xr.Dataset, net: Any, reactive: ReactivePower) -> None:
        bus_of = _bus_lookup(net)
        self.buses = np.asarray(sorted(net.bus.index), dtype=np.int64)
        column = {bus: position for position, bus in enumerate(self.buses)}
        self.positions = np.array([column[bus_of[str(b)]] for b in assets["bus"].values], dtype=np.int64)
        kind = assets["kind"].values
        # 0: P only (batteries), 1: draws Q at the load cos phi, 2: PV on cos phi(P), 3: no electric power
        self.code = np.zeros(len(kind), dtype=np.int64)
        self.code[np.isin(kind, LOAD_KINDS)] = 1
        self.code[kind == "pv"] = 2
        self.code[kind == "gas_boiler"] = 3
        points = reactive.pv_cos_phi_p
        self.p_peak_kw = np.asarray(assets["p_peak_kw"].values, dtype=np.float64)
        self.tan_load = float(np.tan(np.arccos(reactive.load_cos_phi)))
        self.p_frac_points = np.array([pt.p_frac for pt in points], dtype=np.float64)
        self.cos_phi_points = np.array([pt.cos_phi for pt in points], dtype=np.float64)

    def arrays(self, p_kw: npt.NDArray[np.floating[Any]]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Return the net demand per bus [kW], [kvar] of the assets' power ``p_kw`` (time x asset) [kW]."""
        return bus_sums_kernel(
            p_kw,
            self.positions,
            self.code,
            self.p_peak_kw,
            self.tan_load,
            self.p_frac_points,
            self.cos_phi_points,
            len(self.buses),
        )


@numba.njit(cache=True)
def bus_sums_kernel(
    p_kw: npt.NDArray[np.floating[Any]],
    position: npt.NDArray[np.int64],
    code: npt.NDArray[np.int64],
    p_peak_kw: npt.NDArray[np.float64],
    tan_load: float,
    p_frac_points: npt.NDArray[np.float64],
    cos_phi_points: npt.NDArray[np.float64],
    n_bus: int,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:  # pragma: no cover - compiled
    """Per-bus sums of P and of Q by :func:`reactive_power_kvar`'s rules, in one pass."""
    n_steps, n_assets = p_kw.shape
    p_bus = np.zeros((n_steps, n_bus))
    q_bus = np.zeros((n_steps, n_bus))
    for t in range(n_steps):
        for a in range(n_assets):
            kind = code[a]
            if kind == 3:
                continue
            p = float(p_kw[t, a])
            bus = position[a]
            p_bus[t, bus] += p
            if kind == 1 and p > 0.0:
                q_bus[t, bus] += p * tan_load
            elif kind == 2 and p < 0.0:
                generation = -p
                peak = p_peak_kw[a]
                if np.isnan(peak):
                    frac = 0.0
                elif peak > 0.0:
                    frac = min(generation / peak, 1.0)
                else:
                    frac = 1.0
                cos_phi = _interp(frac, p_frac_points, cos_phi_points)
                q_bus[t, bus] += generation * np.sqrt(1.0 - cos_phi * cos_phi) / cos_phi
    return p_bus, q_bus


@numba.njit(cache=True)
def _interp(x: float, xp: npt.NDArray[np.float64], fp: npt.NDArray[np.float64]) -> float:  # pragma: no cover
    """``numpy.interp`` for one value (constant beyond the ends)."""
    if x <= xp[0]:
        return float(fp[0])
    for i in range(1, len(xp)):
        if x <= xp[i]:
            return float(fp[i - 1] + (fp[i] - fp[i - 1]) * (x - xp[i - 1]) / (xp[i] - xp[i - 1]))
    return float(fp[-1])


def run_power_flow(
    net: Any,
    assets: xr.Dataset,
    reactive: ReactivePower,
    *,
    options: PowerFlowOptions | None = None,
    flow: BatchPowerFlow | None = None,
) -> xr.Dataset:
    """Solve the power flow of every step of the assets on the net.

    Parameters
    ----------
    net : pandapowerNet
        The district's grid (with or without the asset elements).
    assets : xarray.Dataset
        The district's assets.
    reactive : ReactivePower
        The district's reactive-power assumptions.
    options : PowerFlowOptions, optional
        Solver settings.
    flow : BatchPowerFlow, optional
        A solver already prepared for this net (reuse it across scenarios).

    Returns
    -------
    grid : xarray.Dataset
        Grid results, ``bus`` = pandapower bus index of ``net``.
    """
    p_bus, q_bus = bus_injections(assets, net, reactive)
    solver = flow or BatchPowerFlow(net, options)
    return solver.run(assets["time"].values, p_bus, q_bus)


def set_step(net: Any, assets: xr.Dataset, q_kvar: xr.DataArray, step: int) -> None:
    """Write one step of the assets into the net's elements (to re-check with ``pandapower.runpp``).

    Parameters
    ----------
    net : pandapowerNet
        A net from :func:`district_net` (elements named by asset id).
    assets : xarray.Dataset
        The assets the net was built from.
    q_kvar : xarray.DataArray
        Their reactive power (:func:`reactive_power_kvar`).
    step : int
        Position of the step on the time axis.
    """
    p = pd.Series(assets["p_kw"].values[step].astype(np.float64), index=assets["asset"].values)
    q = pd.Series(q_kvar.values[step], index=assets["asset"].values)
    for table, sign in (("load", 1.0), ("sgen", -1.0), ("storage", 1.0)):
        names = net[table]["name"]
        net[table]["p_mw"] = sign * p.loc[names].to_numpy() / 1000.0
        net[table]["q_mvar"] = sign * q.loc[names].to_numpy() / 1000.0


def lv_busbar(net: Any) -> int:
    """Return the pandapower index of the (first) transformer's low-voltage busbar."""
    if net.trafo.empty:
        raise ConfigError("the grid has no transformer", field="trafo")
    return int(net.trafo["lv_bus"].iloc[0])


def grid_kpis_of(grid: xr.Dataset, net: Any) -> xr.Dataset:
    """Grid KPIs of a power-flow result (:func:`twin.core.kpi.grid_kpis`).

    Non-converged steps are left out; their count is the ``steps_not_converged``
    attribute.
    """
    converged = grid["converged"] if "converged" in grid else xr.ones_like(grid["p_grid_kw"], dtype=bool)
    ok = grid if bool(converged.all()) else grid.isel(time=converged.values)
    kpis = grid_kpis(ok["vm_pu"], ok["loading_percent"], reference_bus=lv_busbar(net))
    kpis.attrs["steps_not_converged"] = int((~converged).sum())
    return kpis


def write_net_json(net: Any, path: str | Path) -> Path:
    """Write the net as pandapower JSON (no profile tables), atomically.

    The result's ``bus`` coordinate is the bus index of this file's net.
    """
    target = Path(path)
    if "profiles" in net:  # leave the caller's net as it is
        net = copy.deepcopy(net)
        net.pop("profiles", None)
    import pandapower as pp  # a second of imports, only to write a net

    text = pp.to_json(as_pandapower(net))
    json.loads(text)  # never write a file that does not parse
    tmp = target.with_suffix(target.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(target)
    return target


def write_district_net(net: Any, assets: xr.Dataset, path: str | Path) -> Path:
    """Write :func:`district_net` of the net and assets as pandapower JSON, atomically.

    A net of the shared-input cache (:class:`models.net_tables.NetTables`) is written from
    its template, without importing pandapower; the text is the same.
    """
    text = district_net_json(net, assets, ELEMENT_TABLE)
    if text is None:
        return write_net_json(district_net(net, assets), path)
    target = Path(path)
    tmp = target.with_suffix(target.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(target)
    return target


def _bus_lookup(net: Any) -> dict[str, int]:
    names = net.bus["name"].astype(str)
    duplicated = names[names.duplicated()]
    if not duplicated.empty:
        raise ConfigError(f"bus name {duplicated.iloc[0]!r} is used twice in the grid", field="bus")
    return dict(zip(names, net.bus.index.astype(int), strict=True))
