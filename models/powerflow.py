"""Batch AC power flow for every step of a period, checked against pandapower.

The district's pandapower net is solved for thousands of steps in one call. A radial grid
with one slack (every LV feeder of the project) takes the fixed-point path of
:mod:`models.powerflow_zbus` on pandapower's own admittances: the factored load-bus
admittances once per grid, then a few microseconds per iteration, converged to 1e-12 p.u.
A step it does not converge (near voltage collapse), and any other grid, is solved by
lightsim2grid's C++ batch Newton-Raphson with KLU (``InjectionSweepCPP``). Each step starts
from the same no-load voltage, so the steps are independent: one that does not converge
cannot spoil the next and the result does not depend on the order of the steps.

The solver sees one constant-power load per bus carrying that bus's net demand
(``p_bus_kw`` / ``q_bus_kvar``: loads, generators and storage at the bus, the
external grid excluded, load-positive). Lines and transformers are pandapower's
own models, converted once. Results come back on the pandapower bus index of the
net the caller passed in, so any step can be re-checked with
``pandapower.runpp(net, lightsim2grid=False)``.

Measured (``bench/bench_powerflow.py``): a year of 15-minute steps on a
111-bus LV grid in 0.65 s of CPU on the fixed-point path (1.9 s with Newton-Raphson, whose
1e-8 MVA stopping mismatch leaves up to 6e-9 p.u. against the converged voltages).
"""

from __future__ import annotations

import copy
import logging
import warnings
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import numba
import numpy as np
import numpy.typing as npt
import pandas as pd
import xarray as xr

from models.powerflow_zbus import ZBusSystem, branch_results, build_zbus, solve_rows, solve_zbus
from twin.core.errors import ConfigError, ConvergenceError, ModelError, TwinWarning
from twin.core.schema import build_grid_results

__all__ = ["BatchPowerFlow", "PowerFlowOptions", "net_bus_injections"]

logger = logging.getLogger(__name__)

Algorithm = Literal["NR_KLU", "NR_SparseLU"]

_SQRT3: Final[float] = float(np.sqrt(3.0))
#: Element tables whose injections the solver replaces by one load per bus.
_INJECTION_TABLES: Final[tuple[str, ...]] = (
    "load",
    "sgen",
    "storage",
    "gen",
    "shunt",
    "motor",
    "asymmetric_load",
    "asymmetric_sgen",
    "ward",
    "xward",
)


@dataclass(frozen=True)
class PowerFlowOptions:
    """Settings of the batch power flow.

    Parameters
    ----------
    algorithm : {"NR_KLU", "NR_SparseLU"}
        lightsim2grid's Newton-Raphson with the KLU or Eigen sparse LU solver (steps off the
        fixed-point path, see the module's description).
    tol_mva : float
        Largest admissible power mismatch at any bus in Newton-Raphson. [MVA]
    max_iter : int
        Newton iterations before a step counts as not converged.
    threads : int
        Solver threads (use 1 inside Dask workers).
    on_divergence : {"raise", "flag"}
        ``"raise"``: a step that does not converge raises
        :class:`~twin.core.errors.ConvergenceError` naming the steps.
        ``"flag"``: the result keeps a ``converged`` variable, the step's values
        are NaN, and a :class:`~twin.core.errors.TwinWarning` names the steps.
    """

    algorithm: Algorithm = "NR_KLU"
    tol_mva: float = 1e-8
    max_iter: int = 30
    threads: int = 1
    on_divergence: Literal["raise", "flag"] = "raise"

    def __post_init__(self) -> None:
        if not self.tol_mva > 0:
            raise ConfigError(f"must be > 0, got {self.tol_mva!r}", field="tol_mva")
        if self.max_iter < 1 or self.threads < 1:
            raise ConfigError("max_iter and threads must be >= 1", field="max_iter")


@dataclass
class _Prepared:
    net: Any
    grid: Any
    v_init: npt.NDArray[np.complex128]
    bus_index: npt.NDArray[np.int64]
    bus_position: dict[int, int]
    branch_ids: list[str] = field(default_factory=list)
    zbus: ZBusSystem | None = None
    branches: tuple[npt.NDArray[Any], ...] | None = None

    def branch_constants(self) -> tuple[npt.NDArray[Any], ...]:
        """Each branch's end buses, nominal voltages [kV] and ratings at both ends [kA] (computed once)."""
        if self.branches is None:
            net = self.net
            from_bus, to_bus, v1, v2 = _branch_ends(net, self)
            trafo = net.trafo
            line_ka = (net.line["max_i_ka"] * net.line["df"] * net.line["parallel"]).to_numpy(dtype=float)
            hv_ka = (trafo["sn_mva"] / (_SQRT3 * trafo["vn_hv_kv"]) * trafo["parallel"]).to_numpy(dtype=float)
            lv_ka = (trafo["sn_mva"] / (_SQRT3 * trafo["vn_lv_kv"]) * trafo["parallel"]).to_numpy(dtype=float)
            self.branches = (
                from_bus,
                to_bus,
                v1.astype(np.float64),
                v2.astype(np.float64),
                np.concatenate([line_ka, hv_ka]),
                np.concatenate([line_ka, lv_ka]),
            )
        return self.branches


class BatchPowerFlow:
    """A pandapower net prepared once, solved for many steps.

    Parameters
    ----------
    net : pandapowerNet
        The grid. It is copied and not changed; its bus index may have gaps.
    options : PowerFlowOptions, optional
        Solver settings.

    Raises
    ------
    ConfigError
        If the net has no external grid in service or buses without connection to it.
    ModelError
        If the no-load power flow that seeds the solver fails.

    Examples
    --------
    >>> flow = BatchPowerFlow(net)  # doctest: +SKIP
    >>> grid = flow.run(time, p_bus_kw, q_bus_kvar)  # doctest: +SKIP
    >>> grid["vm_pu"].min()  # doctest: +SKIP
    """

    def __init__(self, net: Any, options: PowerFlowOptions | None = None) -> None:
        self.options = options or PowerFlowOptions()
        self._prepared = _prepare(net)

    @property
    def bus_index(self) -> npt.NDArray[np.int64]:
        """Pandapower bus index of the caller's net, in result order."""
        return self._prepared.bus_index

    @property
    def branch_ids(self) -> list[str]:
        """Branch ids in result order: ``"line <index>"`` then ``"trafo <index>"``."""
        return list(self._prepared.branch_ids)

    def run(
        self,
        time: Any,
        p_bus_kw: npt.ArrayLike | pd.DataFrame,
        q_bus_kvar: npt.ArrayLike | pd.DataFrame,
    ) -> xr.Dataset:
        """Solve the power flow for every step.

        Parameters
        ----------
        time : array-like of datetime
            Interval-start labels, UTC.
        p_bus_kw : array-like or DataFrame, shape (time, bus)
            Net active demand per bus, load-positive (PV feed-in < 0). A
            DataFrame's columns are pandapower bus indices (missing buses get
            zero); an array's columns follow :attr:`bus_index`. [kW]
        q_bus_kvar : array-like or DataFrame, shape (time, bus)
            Net reactive demand per bus, load-positive (inductive > 0). [kvar]

        Returns
        -------
        grid : xarray.Dataset
            Grid results (:func:`twin.core.schema.build_grid_results`) with
            ``vm_pu``, ``loading_percent``, ``p_loss_kw``, ``p_grid_kw``,
            ``q_grid_kvar``, ``p_bus_kw``, ``q_bus_kvar`` and ``converged``.

        Raises
        ------
        ConvergenceError
            If a step does not converge and ``on_divergence="raise"``.
        """
        index = pd.DatetimeIndex(time)
        p_kw = self._as_bus_matrix(p_bus_kw, len(index), "p_bus_kw")
        q_kvar = self._as_bus_matrix(q_bus_kvar, len(index), "q_bus_kvar")
        return self.results(index, p_kw, q_kvar, _solve(self._prepared, p_kw, q_kvar, self.options))

    def results(
        self,
        time: Any,
        p_kw: npt.NDArray[np.float64],
        q_kvar: npt.NDArray[np.float64],
        solved: tuple[npt.NDArray[Any], ...],
    ) -> xr.Dataset:
        """The dataset :meth:`run` gives for steps solved already (:meth:`solve_arrays` or :meth:`run`'s solver).

        ``p_kw``, ``q_kvar`` are the steps' bus injections in :attr:`bus_index` order; ``solved`` is
        what :meth:`solve_arrays` returns for them. Warns (or raises) as :meth:`run` for steps that
        did not converge.
        """
        prepared = self._prepared
        index = pd.DatetimeIndex(time)
        vm_pu, loading_percent, p_loss_kw, p_grid_kw, q_grid_kvar, converged = solved
        if not converged.all():
            failed = np.flatnonzero(~converged)
            stamps = ", ".join(str(index[i]) for i in failed[:5]) + (", ..." if len(failed) > 5 else "")
            reason = _why(p_kw[failed], prepared)
            message = f"power flow did not converge in {len(failed)} of {len(index)} steps ({stamps}): {reason}"
            if self.options.on_divergence == "raise":
                raise ConvergenceError(message, field="power flow")
            warnings.warn(message, TwinWarning, stacklevel=2)
        net = prepared.net
        grid = build_grid_results(
            index,
            bus=prepared.bus_index.tolist(),
            branch=prepared.branch_ids,
            vm_pu=np.where(converged[:, None], vm_pu, 1.0),
            loading_percent=loading_percent,
            p_bus_kw=p_kw,
            q_bus_kvar=q_kvar,
            p_loss_kw=p_loss_kw,
            p_grid_kw=p_grid_kw,
            bus_name=net.bus["name"].astype(str).to_numpy(),
            vn_kv=net.bus["vn_kv"].to_numpy(),
            s_rated_kva=_branch_column(net, trafo=net.trafo["sn_mva"].to_numpy() * 1000.0),
            i_rated_ka=_branch_column(
                net, line=(net.line["max_i_ka"] * net.line["df"] * net.line["parallel"]).to_numpy()
            ),
            source="scenario",
        )
        grid["vm_pu"] = grid["vm_pu"].where(xr.DataArray(converged, dims="time"))
        grid["q_grid_kvar"] = xr.DataArray(
            q_grid_kvar.astype(np.float32),
            dims="time",
            attrs={
                "units": "kvar",
                "long_name": "reactive power exchange at the substation",
                "sign_convention": "import_positive",
            },
        )
        grid["converged"] = xr.DataArray(converged, dims="time", attrs={"long_name": "power flow converged"})
        return grid

    def fixed_point(self) -> tuple[ZBusSystem, tuple[npt.NDArray[np.float64], ...]] | None:
        """The fixed-point path's system and the branches' voltages and ratings (:func:`solve_rows`' ``branch``).

        None where the net is solved by Newton-Raphson only. For callers that solve one step at a
        time in their own compiled code (:class:`models.control.reflow.StepFlow`).
        """
        prepared = self._prepared
        return None if prepared.zbus is None else (prepared.zbus, prepared.branch_constants()[2:])

    def solve_arrays(
        self, p_bus_kw: npt.NDArray[np.float64], q_bus_kvar: npt.NDArray[np.float64]
    ) -> tuple[npt.NDArray[Any], ...]:
        """Solve steps given as arrays in :attr:`bus_index` order, without building a dataset.

        The same solver and numbers as :meth:`run` (each step on its own), for a few steps at a
        time (the controlled year's steps whose power the controllers changed); :meth:`results`
        makes the dataset of them.

        Returns
        -------
        vm_pu, loading_percent, p_loss_kw, p_grid_kw, q_grid_kvar, converged : numpy.ndarray
            Shapes (step, bus), (step, branch), (step,) ...; a step that did not converge has NaN
            loading, losses and exchange (its voltages are the solver's last iterate).
        """
        p_kw = np.asarray(p_bus_kw, dtype=np.float64)
        q_kvar = np.asarray(q_bus_kvar, dtype=np.float64)
        prepared = self._prepared
        if (
            prepared.zbus is not None
        ):  # the fixed-point path of _solve in one call, without what these callers do not read
            rows = solve_rows(prepared.zbus, p_kw / 1000.0, q_kvar / 1000.0, prepared.branch_constants()[2:])
            if rows[1].all():
                return self.fixed_point_solved(p_kw, q_kvar, rows)
        return _solve(prepared, p_kw, q_kvar, self.options)

    def fixed_point_solved(
        self, p_kw: npt.NDArray[np.float64], q_kvar: npt.NDArray[np.float64], rows: tuple[npt.NDArray[Any], ...]
    ) -> tuple[npt.NDArray[Any], ...]:
        """What :meth:`solve_arrays` returns for steps the fixed point solved, all converged.

        ``rows`` are :func:`models.powerflow_zbus.solve_rows`' voltages, converged, loading and
        losses [kW], [kvar] of the steps whose bus injections are ``p_kw``, ``q_kvar``.
        """
        voltages, converged, loading, p_loss_kw, q_loss_kvar = rows
        vm_pu = np.abs(voltages)[:, : len(self._prepared.bus_index)]
        p_grid_kw, q_grid_kvar = p_kw.sum(axis=1) + p_loss_kw, q_kvar.sum(axis=1) + q_loss_kvar
        return vm_pu, loading, p_loss_kw, p_grid_kw, q_grid_kvar, converged

    def _as_bus_matrix(self, values: npt.ArrayLike | pd.DataFrame, n_steps: int, name: str) -> npt.NDArray[np.float64]:
        buses = self._prepared.bus_index
        if isinstance(values, pd.DataFrame):
            unknown = sorted(set(values.columns) - set(buses.tolist()))
            if unknown:
                raise ConfigError(f"bus {unknown[0]!r} is not a bus of the net", field=name)
            values = values.reindex(columns=buses, fill_value=0.0).to_numpy()
        matrix = np.asarray(values, dtype=np.float64)
        if matrix.shape != (n_steps, len(buses)):
            raise ConfigError(f"has shape {matrix.shape}, expected {(n_steps, len(buses))}", field=name)
        if not np.isfinite(matrix).all():
            raise ConfigError("contains NaN or infinite values", field=name)
        return matrix


def net_bus_injections(net: Any) -> tuple[pd.Series, pd.Series]:
    """Return the net demand per bus of a pandapower net's elements as they stand.

    Parameters
    ----------
    net : pandapowerNet
        A net with loads, static generators and storage.

    Returns
    -------
    p_bus_kw, q_bus_kvar : pandas.Series
        Indexed by bus, load-positive (loads and charging > 0, sgen < 0),
        external grid excluded; buses without elements are 0. [kW], [kvar]
    """
    p = pd.Series(0.0, index=net.bus.index)
    q = pd.Series(0.0, index=net.bus.index)
    for table, sign in (("load", 1.0), ("storage", 1.0), ("sgen", -1.0)):
        frame = net[table]
        if frame.empty:
            continue
        active = frame[frame["in_service"]]
        scaling = active.get("scaling", 1.0)
        p = p.add((sign * active["p_mw"] * scaling * 1000.0).groupby(active["bus"]).sum(), fill_value=0.0)
        q = q.add((sign * active["q_mvar"] * scaling * 1000.0).groupby(active["bus"]).sum(), fill_value=0.0)
    return p, q


def _prepare(net: Any) -> _Prepared:
    import pandapower as pp  # a second of imports, only to prepare a net
    import pandapower.toolbox

    from models.net_tables import as_pandapower

    if net.ext_grid.empty or not net.ext_grid["in_service"].any():
        raise ConfigError("the net has no external grid in service", field="ext_grid")
    solver_net = copy.deepcopy(as_pandapower(net))
    solver_net.pop("profiles", None)
    bus_index = np.asarray(solver_net.bus.sort_index().index, dtype=np.int64)
    lookup = pandapower.toolbox.create_continuous_bus_index(solver_net, start=0)
    for table in _INJECTION_TABLES:
        if table in solver_net and not solver_net[table].empty:
            solver_net[table] = solver_net[table].iloc[0:0]
    pp.create_loads(solver_net, buses=np.arange(len(bus_index)), p_mw=0.0, q_mvar=0.0)
    _merge_parallel(solver_net)
    for table in ("line", "trafo", "ext_grid", "load", "bus", "gen", "sgen", "storage"):
        for column in ("min_p_mw", "max_p_mw", "min_q_mvar", "max_q_mvar"):
            if table in solver_net and column in solver_net[table]:
                solver_net[table][column] = pd.to_numeric(solver_net[table][column], errors="coerce").astype(float)
    try:
        # one no-load flow seeds the batch solver: without numba it takes ~0.1 s instead of the
        # 3-6 s numba spends compiling pandapower's Newton-Raphson in every new process
        pp.runpp(solver_net, lightsim2grid=False, numba=False)
    except Exception as err:
        raise ModelError(f"the grid's no-load power flow fails: {err}", field="grid") from err
    v_init = (solver_net.res_bus["vm_pu"] * np.exp(1j * np.deg2rad(solver_net.res_bus["va_degree"]))).to_numpy()
    if not np.isfinite(v_init).all():
        raise ConfigError("the grid has buses without connection to the external grid", field="grid")
    from lightsim2grid.network import init_from_pandapower

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its notes on switches and NaN limits concern OPF data
        grid = init_from_pandapower(solver_net)
    branch_ids = [f"line {i}" for i in net.line.index] + [f"trafo {i}" for i in net.trafo.index]
    v_init = np.ascontiguousarray(v_init.astype(np.complex128))
    return _Prepared(
        net=net,
        grid=grid,
        v_init=v_init,
        bus_index=bus_index,
        bus_position={int(old): int(new) for old, new in lookup.items()},
        branch_ids=branch_ids,
        zbus=build_zbus(solver_net, v_init, len(branch_ids)),
    )


def _merge_parallel(net: Any) -> None:
    """Replace ``parallel`` lines and transformers by one equivalent element (lightsim2grid needs 1).

    n equal cables in parallel: resistance and reactance / n, capacitance,
    conductance and current rating * n. n equal transformers: rating and no-load
    losses * n at the same per-unit short-circuit voltages.
    """
    line = net.line
    n = line["parallel"].astype(float)
    if (n != 1).any():
        for column in ("r_ohm_per_km", "x_ohm_per_km"):
            line[column] = line[column] / n
        for column in ("c_nf_per_km", "g_us_per_km", "max_i_ka"):
            if column in line:
                line[column] = line[column] * n
        line["parallel"] = 1
    trafo = net.trafo
    n = trafo["parallel"].astype(float)
    if (n != 1).any():
        trafo["sn_mva"] = trafo["sn_mva"] * n
        trafo["pfe_kw"] = trafo["pfe_kw"] * n
        trafo["parallel"] = 1


def _solve(
    prepared: _Prepared,
    p_kw: npt.NDArray[np.float64],
    q_kvar: npt.NDArray[np.float64],
    options: PowerFlowOptions,
) -> tuple[npt.NDArray[Any], ...]:
    p_mw, q_mvar = p_kw / 1000.0, q_kvar / 1000.0  # solver loads are in bus order 0..n-1 (see _prepare)
    computer, zbus = None, prepared.zbus
    if zbus is None:
        computer = _newton(prepared, p_mw, q_mvar, options)
        voltages = np.asarray(computer.get_voltages(), dtype=np.complex128)
        converged = np.asarray(computer.converged_mask(), dtype=bool)
    else:
        voltages, converged = solve_zbus(zbus, p_mw, q_mvar)
        hard = np.flatnonzero(~converged)
        if len(hard):  # near voltage collapse the fixed point is slow or fails: Newton-Raphson decides
            newton = _newton(prepared, p_mw[hard], q_mvar[hard], options)
            voltages[hard] = newton.get_voltages()
            converged[hard] = np.asarray(newton.converged_mask(), dtype=bool)
    vm_pu = np.abs(voltages)
    from_bus, to_bus, v1_kv, v2_kv, rating1_ka, rating2_ka = prepared.branch_constants()
    if zbus is not None:
        loading, p_loss_kw, q_loss_kvar = branch_results(zbus, voltages, v1_kv, v2_kv, rating1_ka, rating2_ka)
    elif computer is not None:
        branch = np.ascontiguousarray(computer.compute_branch_results(), dtype=np.float64)  # (T, branch, [p1 q1 p2 q2])
        loading, p_loss_kw, q_loss_kvar = _branch_loading(
            branch, np.ascontiguousarray(vm_pu), from_bus, to_bus, v1_kv, v2_kv, rating1_ka, rating2_ka
        )
    p_grid_kw = p_kw.sum(axis=1) + p_loss_kw
    q_grid_kvar = q_kvar.sum(axis=1) + q_loss_kvar
    bad = ~converged
    for values in (loading, p_loss_kw, p_grid_kw, q_grid_kvar):
        values[bad] = np.nan
    return vm_pu[:, : len(prepared.bus_index)], loading, p_loss_kw, p_grid_kw, q_grid_kvar, converged


def _newton(
    prepared: _Prepared, p_mw: npt.NDArray[np.float64], q_mvar: npt.NDArray[np.float64], options: PowerFlowOptions
) -> Any:
    """lightsim2grid's batch Newton-Raphson, solved: every step from the no-load voltage."""
    from lightsim2grid.algorithm import AlgorithmType
    from lightsim2grid.injectionSweep import InjectionSweepCPP

    computer = InjectionSweepCPP(prepared.grid)
    algorithm = getattr(AlgorithmType, options.algorithm)
    if algorithm not in computer.available_default_algorithms():
        raise ModelError(f"solver algorithm {options.algorithm} is not available in this lightsim2grid build")
    computer.change_algorithm(algorithm)
    computer.nb_thread = options.threads
    n_steps = p_mw.shape[0]
    computer.modify_load_p(np.ascontiguousarray(p_mw))
    computer.modify_load_q(np.ascontiguousarray(q_mvar))
    computer.modify_gen_p(np.zeros((n_steps, len(prepared.grid.get_generators())), dtype=np.float64))
    computer.compute(prepared.v_init, options.max_iter, options.tol_mva)
    return computer


@numba.njit(cache=True)
def _branch_loading(
    branch: npt.NDArray[np.float64],
    vm_pu: npt.NDArray[np.float64],
    from_bus: npt.NDArray[np.int64],
    to_bus: npt.NDArray[np.int64],
    v1_kv: npt.NDArray[np.float64],
    v2_kv: npt.NDArray[np.float64],
    rating1_ka: npt.NDArray[np.float64],
    rating2_ka: npt.NDArray[np.float64],
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float64], npt.NDArray[np.float64]]:  # pragma: no cover - compiled
    """Branch loading and grid losses in one pass over the branch flows.

    The current at each end is ``|S| / (sqrt(3) V_n vm)``; loading is the larger of
    both ends against its rating (lines: ``max_i_ka * df * parallel`` at both ends;
    transformers: rated current on the HV and on the LV side), in percent. Losses
    are the sum of what enters each branch at both ends. [%], [kW], [kvar]
    """
    n_steps, n_branch = branch.shape[0], branch.shape[1]
    loading = np.empty((n_steps, n_branch), dtype=np.float32)
    p_loss_kw = np.empty(n_steps)
    q_loss_kvar = np.empty(n_steps)
    sqrt3 = np.sqrt(3.0)
    for t in range(n_steps):
        p_sum = 0.0
        q_sum = 0.0
        for b in range(n_branch):
            p1, q1, p2, q2 = branch[t, b, 0], branch[t, b, 1], branch[t, b, 2], branch[t, b, 3]
            i1_ka = np.sqrt(p1 * p1 + q1 * q1) / (sqrt3 * v1_kv[b] * max(vm_pu[t, from_bus[b]], 1e-9))
            i2_ka = np.sqrt(p2 * p2 + q2 * q2) / (sqrt3 * v2_kv[b] * max(vm_pu[t, to_bus[b]], 1e-9))
            loading[t, b] = max(i1_ka / rating1_ka[b], i2_ka / rating2_ka[b]) * 100.0
            p_sum += p1 + p2
            q_sum += q1 + q2
        p_loss_kw[t] = p_sum * 1000.0
        q_loss_kvar[t] = q_sum * 1000.0
    return loading, p_loss_kw, q_loss_kvar


def _branch_ends(net: Any, prepared: _Prepared) -> tuple[npt.NDArray[np.int64], ...]:
    position = prepared.bus_position
    vn = net.bus["vn_kv"]
    from_bus = np.array(
        [position[b] for b in net.line["from_bus"]] + [position[b] for b in net.trafo["hv_bus"]], dtype=np.int64
    )
    to_bus = np.array(
        [position[b] for b in net.line["to_bus"]] + [position[b] for b in net.trafo["lv_bus"]], dtype=np.int64
    )
    v1_kv = np.concatenate([vn.loc[net.line["from_bus"]].to_numpy(), vn.loc[net.trafo["hv_bus"]].to_numpy()])
    v2_kv = np.concatenate([vn.loc[net.line["to_bus"]].to_numpy(), vn.loc[net.trafo["lv_bus"]].to_numpy()])
    return from_bus, to_bus, v1_kv, v2_kv


def _branch_column(
    net: Any, *, line: npt.NDArray[Any] | None = None, trafo: npt.NDArray[Any] | None = None
) -> npt.NDArray[np.float64]:
    lines = np.full(len(net.line), np.nan) if line is None else np.asarray(line, dtype=float)
    trafos = np.full(len(net.trafo), np.nan) if trafo is None else np.asarray(trafo, dtype=float)
    return np.concatenate([lines, trafos])


def _why(p_kw_failed: npt.NDArray[np.float64], prepared: _Prepared) -> str:
    total_kw = p_kw_failed.sum(axis=1)
    rating_kva = float(prepared.net.trafo["sn_mva"].sum() * 1000.0) or float("nan")
    worst = float(np.abs(total_kw).max())
    return (
        f"the largest net demand in these steps is {worst:,.0f} kW against {rating_kva:,.0f} kVA of transformers; "
        "the voltage collapses (demand beyond what the grid can carry)"
    )
