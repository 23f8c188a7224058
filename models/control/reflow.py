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

import numpy as np
import numpy.typing as npt
import xarray as xr

from models.control.relief import GridState
from models.grid import BusInjections

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
        branches = list(flow.branch_ids)
        self._trafo = np.array([i for i, b in enumerate(branches) if b.startswith("trafo ")], dtype=np.int64)
        self._line = np.array([branches.index(f"line {i}") for i in net.line.index], dtype=np.int64)
        self._bus = np.searchsorted(np.asarray(flow.bus_index), np.asarray(net.bus.index, dtype=np.int64))

    def __call__(self, k: int, p_kw: Array) -> None:
        """Solve step ``k`` with the devices drawing ``p_kw`` [kW] and put its grid state in row ``k``."""
        row = self.basis[k].astype(np.float32)  # the power as the assets store it (float32)
        row[self.columns] = p_kw
        p_bus, q_bus = self.injections.arrays(row[None, :])
        solved = self.flow.solve_arrays(p_bus, q_bus)
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

    def grid(self, assets: xr.Dataset, steps: npt.NDArray[np.int64], p_kw: npt.NDArray[np.float32]) -> xr.Dataset:
        """The power flow dataset of ``steps`` with the assets' power ``p_kw`` (step, asset) [kW].

        What :func:`models.grid.run_power_flow` gives for them: a step last solved here with
        this power is taken as solved, the others are solved now.
        """
        p_bus, q_bus = self.injections.arrays(p_kw)
        solved: list[tuple[npt.NDArray[Any], ...] | None] = [None] * len(steps)
        for i, k in enumerate(steps):
            entry = self._kept.get(int(k))
            if entry is not None and np.array_equal(entry[0], p_kw[i]):
                solved[i] = entry[1]
        rest = [i for i, done in enumerate(solved) if done is None]
        if rest:
            again = self.flow.solve_arrays(p_bus[rest], q_bus[rest])
            for j, i in enumerate(rest):
                solved[i] = tuple(values[j : j + 1] for values in again)
        stacked = tuple(np.concatenate([s[j] for s in solved if s is not None]) for j in range(6))
        return self.flow.results(assets["time"].values[steps], p_bus, q_bus, stacked)
