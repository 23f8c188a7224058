"""The power flow of one step again, inside a pass: what the controllers of the next step read.

A pass of the controlled year (:func:`models.control.loop.run_steps`) reads the grid state of the
step before from the previous pass's batch power flow. Where the controllers changed that step's
power, :class:`StepFlow` solves the step again with the new power (the same solver and the same
numbers as the batch power flow, :meth:`models.powerflow.BatchPowerFlow.solve_arrays`) and puts
the result into the grid state the signal and the relief read, so every step's signal follows
the real power flow of the step before, not a linear estimate of it, and one pass settles.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
import numpy.typing as npt
import xarray as xr

from models.control.relief import GridState
from models.grid import BusInjections, bus_sums_kernel
from models.powerflow_zbus import kernel_system, rows_kernel

__all__ = ["StepFlow"]

Array = npt.NDArray[np.float64]


class StepFlow:
    """Solve one step's power flow with the devices' new power and write it into a grid state.

    Parameters
    ----------
    net : pandapowerNet
        The grid (``flow`` is prepared for it).
    assets : xarray.Dataset
        The assets (their buses, kinds and PV peaks).
    reactive : ReactivePower
        The district's reactive-power assumptions.
    flow : models.powerflow.BatchPowerFlow
        The prepared solver.
    columns : numpy.ndarray of int
        The devices' asset columns.
    state : GridState
        The grid state the controllers read; the step's row is replaced in place.

    Attributes
    ----------
    basis : numpy.ndarray, shape (time, asset)
        The assets' power besides the devices' (set before each pass). [kW]
    solved : int
        Steps solved so far.
    """

    def __init__(
        self, net: Any, assets: xr.Dataset, reactive: Any, flow: Any, columns: npt.NDArray[np.int64], state: GridState
    ) -> None:
        self.injections = BusInjections(assets, net, reactive)
        self.net, self.reactive = net, reactive
        self.flow = flow
        self.columns = columns
        self.state = state
        self.basis: Array = np.zeros((0, 0))
        self.solved = 0
        self._kept: dict[int, tuple[Any, ...]] = {}
        fixed = flow.fixed_point()
        #: The fixed-point path's system as the step's kernel takes it and the branch constants (None: Newton only).
        self._fixed = None if fixed is None else (kernel_system(fixed[0]), fixed[1])
        i = self.injections
        #: The bus sums' plan as the step's kernel takes it.
        self._plan = ((i.positions, i.code, i.p_peak_kw, i.p_frac_points, i.cos_phi_points), i.tan_load, len(i.buses))
        branches = list(flow.branch_ids)
        self._trafo = np.array([i for i, b in enumerate(branches) if b.startswith("trafo ")], dtype=np.int64)
        self._line = np.array([branches.index(f"line {i}") for i in net.line.index], dtype=np.int64)
        self._bus = np.searchsorted(np.asarray(flow.bus_index), np.asarray(net.bus.index, dtype=np.int64))

    def __call__(self, k: int, p_kw: Array) -> None:
        """Solve step ``k`` with the devices drawing ``p_kw`` [kW] and put its grid state in row ``k``."""
        if self._fixed is None:
            row = self.basis[k].astype(np.float32)  # the power as the assets store it (float32)
            row[self.columns] = p_kw
            solved = self.flow.solve_arrays(*self.injections.arrays(row[None, :]))
        else:
            row, solved = self._solve_fixed_point(k, p_kw)
        vm, loading, _p_loss, p_grid, _q_grid, converged = solved
        self.solved += 1
        self._kept[k] = (row, solved)
        # the values the batch power flow's dataset holds: float32, NaN where a step did not converge
        vm_pu = vm[0, self._bus].astype(np.float32) if converged[0] else np.nan
        values = loading[0]  # float32
        s = self.state
        s.trafo_percent[k] = np.fmax.reduce(values[self._trafo]) if len(self._trafo) else np.nan  # NaN left out
        s.line_percent[k] = values[self._line]
        s.vm_pu[k] = vm_pu
        s.p_grid_kw[k] = np.float32(p_grid[0])

    def _solve_fixed_point(self, k: int, p_kw: Array) -> tuple[npt.NDArray[np.float32], tuple[npt.NDArray[Any], ...]]:
        """Step ``k``'s power row (float32) and :meth:`BatchPowerFlow.solve_arrays` of it, in one compiled call.

        The same operations as the assets' row, :class:`models.grid.BusInjections` and the solver's
        fixed-point path; a step it does not converge goes to :meth:`BatchPowerFlow.solve_arrays`.
        """
        assert self._fixed is not None
        system, branch = self._fixed
        plan, tan_load, n_bus = self._plan
        row, p_bus, q_bus, *rows = _step_kernel(
            self.basis[k], self.columns, p_kw, plan, tan_load, n_bus, system, branch
        )
        if not rows[1][0]:
            return row, self.flow.solve_arrays(p_bus, q_bus)
        return row, self.flow.fixed_point_solved(p_bus, q_bus, tuple(rows))

    def grid(self, assets: xr.Dataset, steps: npt.NDArray[np.int64], p_kw: npt.NDArray[np.float32]) -> xr.Dataset:
        """The power flow dataset of ``steps`` with the assets' power ``p_kw`` (step, asset) [kW].

        What :func:`models.grid.run_power_flow` gives for them: a step last solved here with
        this power is taken as solved, the others are solved now.
        """
        p_bus, q_bus = self.injections.arrays(p_kw)
        solved: list[tuple[npt.NDArray[Any], ...] | None] = [None] * len(steps)
        have = [(i, self._kept[int(k)]) for i, k in enumerate(steps) if int(k) in self._kept]
        if have:  # the rows solved with the same power, compared at once
            rows = np.stack([entry[0] for _, entry in have])
            same = (rows == p_kw[[i for i, _ in have]]).all(axis=1)
            for (i, entry), equal in zip(have, same, strict=True):
                solved[i] = entry[1] if equal else None
        rest = [i for i, done in enumerate(solved) if done is None]
        if rest:
            again = self.flow.solve_arrays(p_bus[rest], q_bus[rest])
            for j, i in enumerate(rest):
                solved[i] = tuple(values[j : j + 1] for values in again)
        stacked = tuple(np.concatenate([s[j] for s in solved if s is not None]) for j in range(6))
        return self.flow.results(assets["time"].values[steps], p_bus, q_bus, stacked)


@numba.njit(cache=True)
def _step_kernel(
    basis_row: Array,
    columns: npt.NDArray[np.int64],
    p_kw: Array,
    plan: tuple[npt.NDArray[Any], ...],
    tan_load: float,
    n_bus: int,
    system: tuple[Any, ...],
    branch: tuple[Array, ...],
) -> tuple[npt.NDArray[Any], ...]:  # pragma: no cover - compiled
    """One step: the assets' row (float32) with the devices' power, its bus sums and the fixed-point solve."""
    row = basis_row.astype(np.float32)
    for j in range(columns.shape[0]):
        row[columns[j]] = p_kw[j]
    positions, code, p_peak_kw, p_frac_points, cos_phi_points = plan
    p_bus, q_bus = bus_sums_kernel(
        row.reshape((1, row.shape[0])), positions, code, p_peak_kw, tan_load, p_frac_points, cos_phi_points, n_bus
    )
    lu, start, ends, base_mva = system
    p_pu, q_pu = (p_bus / 1000.0) / base_mva, (q_bus / 1000.0) / base_mva
    voltages = np.empty(p_pu.shape, dtype=np.complex128)
    converged = np.zeros(1, dtype=np.bool_)
    loading = np.empty((1, ends[0].shape[0]), dtype=np.float32)
    p_loss_kw, q_loss_kvar = np.empty(1), np.empty(1)
    rows_kernel(p_pu, q_pu, lu, start, ends, base_mva, branch, voltages, converged, loading, p_loss_kw, q_loss_kvar)
    return row, p_bus, q_bus, voltages, converged, loading, p_loss_kw, q_loss_kvar
