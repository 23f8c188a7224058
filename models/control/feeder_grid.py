"""The feeders of a low-voltage grid and the grid's sensitivities to each building's load.

:class:`FeederMap` finds the feeders: the subtrees hanging off the transformer's low-voltage
busbar through its outgoing lines. :func:`sensitivities` measures, by power flows at an operating
point (the batch power flow of :mod:`models.powerflow`, one step per building bus moved up and
one moved down), how the transformer's and lines' loading and the bus voltages change with 1 kW
more load at each building. :mod:`models.control.feeder` reads both.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from twin.core.errors import ConfigError

__all__ = ["FeederMap", "Sensitivities", "sensitivities"]

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]

#: Share of the transformers' rating the default operating point draws. [1]
_OPERATING_SHARE: Final[float] = 0.8
#: Load cos phi of the default operating point. [1]
_OPERATING_COS_PHI: Final[float] = 0.95


@dataclass(frozen=True)
class FeederMap:
    """Which feeder (outgoing LV line from the transformer's LV busbar) each bus and line is on.

    Parameters
    ----------
    names : tuple of str
        Feeder names: the name of the feeder's first line (``"line <index>"`` without one).
    feeder_of_bus : numpy.ndarray of int64, shape (n_bus,)
        Feeder number (0-based, into ``names``) of each bus in the positional order of
        ``net.bus``; -1 for the transformer's LV busbar and everything on its MV side.
    feeder_of_line : numpy.ndarray of int64, shape (n_line,)
        Feeder number of each line in the positional order of ``net.line``.
    s_trafo_rated_kva : float
        Sum of the transformers' ratings. [kVA]
    bus_index : numpy.ndarray of int64, shape (n_bus,)
        The ``net.bus`` index labels, positional order.
    """

    names: tuple[str, ...]
    feeder_of_bus: Ints
    feeder_of_line: Ints
    s_trafo_rated_kva: float
    bus_index: Ints

    @property
    def n_feeders(self) -> int:
        """Return the number of feeders."""
        return len(self.names)

    @classmethod
    def from_net(cls, net: Any) -> FeederMap:
        """Find the feeders of a pandapower net.

        Lines out of service and lines behind an open line switch are not followed; closed
        bus-bus switches join their buses. A line leaving the LV busbar into buses another
        feeder already reached (a ring) joins that feeder.

        Parameters
        ----------
        net : pandapowerNet
            A low-voltage grid with at least one transformer.

        Returns
        -------
        FeederMap

        Raises
        ------
        ConfigError
            The net has no transformer in service, or a bus in service is reached neither from
            a transformer's LV busbar nor from its MV side (the error names the bus).
        """
        trafo = net.trafo[net.trafo["in_service"].astype(bool)]
        if trafo.empty:
            raise ConfigError("the grid has no transformer in service", field="trafo")
        bus_index = np.asarray(net.bus.index, dtype=np.int64)
        position = {int(b): i for i, b in enumerate(bus_index)}
        neighbours, line_ends = _graph(net, position)
        feeder_of_bus = np.full(len(bus_index), -2, dtype=np.int64)
        roots = {position[int(b)] for b in trafo["lv_bus"]}
        for root in sorted(roots):
            _flood(root, -1, neighbours, feeder_of_bus, through_lines=False)
        names: list[str] = []
        line_names = net.line["name"] if "name" in net.line else pd.Series(None, index=net.line.index)
        for i, (a, b) in enumerate(line_ends):
            if a < 0:
                continue
            inner, outer = (a, b) if feeder_of_bus[a] == -1 else (b, a)
            if feeder_of_bus[inner] != -1 or feeder_of_bus[outer] == -1 or feeder_of_bus[outer] >= 0:
                continue
            name = line_names.iloc[i]
            label = str(name) if isinstance(name, str) and name else f"line {net.line.index[i]}"
            names.append(label if label not in names else f"{label} ({net.line.index[i]})")
            _flood(outer, len(names) - 1, neighbours, feeder_of_bus, through_lines=True)
        for root in {position[int(b)] for b in trafo["hv_bus"]}:
            _flood(root, -1, neighbours, feeder_of_bus, through_lines=True)
        in_service = net.bus["in_service"].astype(bool).to_numpy()
        lost = np.flatnonzero((feeder_of_bus == -2) & in_service)
        if lost.size:
            bus = int(bus_index[lost[0]])
            bus_name = net.bus["name"].iloc[lost[0]] if "name" in net.bus else None
            more = f" (and {lost.size - 1} more)" if lost.size > 1 else ""
            raise ConfigError(f"bus {bus} ({bus_name}) is not connected to a transformer{more}", field=f"bus {bus}")
        feeder_of_bus[feeder_of_bus == -2] = -1
        feeder_of_line = np.array(
            [max(feeder_of_bus[a], feeder_of_bus[b]) if a >= 0 else -1 for a, b in line_ends], dtype=np.int64
        )
        s_rated = float((trafo["sn_mva"] * trafo.get("parallel", 1)).sum() * 1000.0)
        return cls(tuple(names), feeder_of_bus, feeder_of_line, s_rated, bus_index)

    def of_buses(self, bus_index: npt.ArrayLike) -> Ints:
        """Return the feeder of each bus given by its ``net.bus`` index label (-1: the busbar or MV side).

        Raises
        ------
        ConfigError
            A label is not a bus of the net.
        """
        position = {int(b): i for i, b in enumerate(self.bus_index)}
        out = []
        for bus in np.asarray(bus_index).ravel():
            if int(bus) not in position:
                raise ConfigError(f"bus {bus} is not a bus of the grid", field="bus")
            out.append(self.feeder_of_bus[position[int(bus)]])
        return np.asarray(out, dtype=np.int64)


@dataclass(frozen=True)
class Sensitivities:
    """Linear sensitivities of the grid state to 1 kW more load at each building's bus.

    Parameters
    ----------
    trafo_percent_per_kw : numpy.ndarray, shape (n_building,)
        Change of the (most loaded) transformer's loading. [%/kW]
    line_percent_per_kw : numpy.ndarray, shape (n_line, n_building)
        Change of each line's loading (positional order of ``net.line``). [%/kW]
    vm_pu_per_kw : numpy.ndarray, shape (n_bus, n_building)
        Change of each bus voltage (positional order of ``net.bus``); negative where more
        load lowers the voltage. [p.u./kW]
    """

    trafo_percent_per_kw: Floats
    line_percent_per_kw: Floats
    vm_pu_per_kw: Floats


def sensitivities(
    net: Any,
    building_bus: npt.ArrayLike,
    *,
    flow: Any = None,
    p_bus_kw: npt.ArrayLike | None = None,
    q_bus_kvar: npt.ArrayLike | None = None,
    dp_kw: float = 2.0,
    q_per_p: float = 0.0,
) -> Sensitivities:
    """Compute the sensitivities by power flows: one step per building bus, its load moved by ``+-dp_kw``.

    Parameters
    ----------
    net : pandapowerNet
        The grid.
    building_bus : array-like of int
        ``net.bus`` index label of each building (several buildings may share a bus).
    flow : models.powerflow.BatchPowerFlow, optional
        A solver already prepared for ``net``.
    p_bus_kw, q_bus_kvar : array-like, shape (n_bus,), optional
        The operating point, load-positive demand per bus (positional order of ``net.bus``).
        Default: the buildings draw 80 % of the transformers' rating together, in equal shares
        at cos phi 0.95. [kW], [kvar]
    dp_kw : float, optional
        Half the perturbation (central differences). [kW]
    q_per_p : float, optional
        Reactive power moved with each kW (0: active power only). [kvar/kW]

    Returns
    -------
    Sensitivities

    Raises
    ------
    ConfigError
        A building bus is not a bus of the net.
    models.powerflow errors
        The power flow at the operating point does not converge.
    """
    from models.powerflow import BatchPowerFlow, PowerFlowOptions

    solver = flow or BatchPowerFlow(net, PowerFlowOptions())
    bus_labels = np.asarray(net.bus.index, dtype=np.int64)
    position = {int(b): i for i, b in enumerate(bus_labels)}
    buses = np.asarray(building_bus, dtype=np.int64).ravel()
    missing = [int(b) for b in buses if int(b) not in position]
    if missing:
        raise ConfigError(f"bus {missing[0]} is not a bus of the grid", field="building_bus")
    p0, q0 = _operating_point(net, buses, position, p_bus_kw, q_bus_kvar)
    unique = np.unique(buses)
    n = len(unique)
    p = np.repeat(p0[None, :], 2 * n, axis=0)
    q = np.repeat(q0[None, :], 2 * n, axis=0)
    columns = np.array([position[int(b)] for b in unique])
    rows = np.arange(n)
    p[rows, columns] += dp_kw
    p[n + rows, columns] -= dp_kw
    q[rows, columns] += dp_kw * q_per_p
    q[n + rows, columns] -= dp_kw * q_per_p
    # the solver's columns follow its sorted bus index; ours follow net.bus's positions
    order = np.array([position[int(b)] for b in solver.bus_index])
    time = pd.date_range("2000-01-01", periods=2 * n, freq="min", tz=None)
    grid = solver.run(time, p[:, order], q[:, order])
    loading = grid["loading_percent"].values.astype(np.float64)
    vm_solver = grid["vm_pu"].values.astype(np.float64)
    vm = np.empty_like(vm_solver)
    vm[:, order] = vm_solver
    n_line = len(net.line)
    d_loading = (loading[:n] - loading[n:]) / (2.0 * dp_kw)
    d_vm = (vm[:n] - vm[n:]) / (2.0 * dp_kw)
    trafo = loading[:, n_line:]
    worst = int(np.argmax(np.nanmean(trafo, axis=0))) if trafo.shape[1] else 0
    which = np.searchsorted(unique, buses)
    return Sensitivities(
        trafo_percent_per_kw=np.ascontiguousarray(d_loading[which, n_line + worst]),
        line_percent_per_kw=np.ascontiguousarray(d_loading[which, :n_line].T),
        vm_pu_per_kw=np.ascontiguousarray(d_vm[which].T),
    )


# --- helpers ---------------------------------------------------------------------------------


def _graph(net: Any, position: dict[int, int]) -> tuple[list[list[tuple[int, bool]]], list[tuple[int, int]]]:
    """Adjacency (neighbour, through a line) of every bus, and the two ends of each usable line (-1: not usable)."""
    neighbours: list[list[tuple[int, bool]]] = [[] for _ in position]
    switch = net.switch if "switch" in net else pd.DataFrame(columns=["bus", "element", "et", "closed"])
    open_line_ends = {(int(s.element), int(s.bus)) for s in switch.itertuples() if s.et == "l" and not bool(s.closed)}
    line_ends: list[tuple[int, int]] = []
    for line in net.line.itertuples():
        usable = bool(line.in_service) and not (
            (int(line.Index), int(line.from_bus)) in open_line_ends
            or (int(line.Index), int(line.to_bus)) in open_line_ends
        )
        if not usable:
            line_ends.append((-1, -1))
            continue
        a, b = position[int(line.from_bus)], position[int(line.to_bus)]
        neighbours[a].append((b, True))
        neighbours[b].append((a, True))
        line_ends.append((a, b))
    for s in switch.itertuples():
        if s.et == "b" and bool(s.closed):
            a, b = position[int(s.bus)], position[int(s.element)]
            neighbours[a].append((b, False))
            neighbours[b].append((a, False))
    return neighbours, line_ends


def _flood(
    start: int, feeder: int, neighbours: list[list[tuple[int, bool]]], feeder_of_bus: Ints, *, through_lines: bool
) -> None:
    """Give ``feeder`` to ``start`` and every bus not yet reached behind it (through lines only if asked)."""
    if feeder_of_bus[start] != -2:
        return
    feeder_of_bus[start] = feeder
    queue = deque([start])
    while queue:
        bus = queue.popleft()
        for other, by_line in neighbours[bus]:
            if feeder_of_bus[other] == -2 and (through_lines or not by_line):
                feeder_of_bus[other] = feeder
                queue.append(other)


def _operating_point(
    net: Any,
    buses: Ints,
    position: dict[int, int],
    p_bus_kw: npt.ArrayLike | None,
    q_bus_kvar: npt.ArrayLike | None,
) -> tuple[Floats, Floats]:
    n_bus = len(position)
    if p_bus_kw is not None:
        p = np.asarray(p_bus_kw, dtype=np.float64)
        q = np.zeros(n_bus) if q_bus_kvar is None else np.asarray(q_bus_kvar, dtype=np.float64)
        if p.shape != (n_bus,) or q.shape != (n_bus,):
            raise ConfigError(f"the operating point needs one value per bus ({n_bus})", field="p_bus_kw")
        return p.copy(), q.copy()
    s_rated_kva = float((net.trafo["sn_mva"] * net.trafo.get("parallel", 1)).sum() * 1000.0)
    p = np.zeros(n_bus)
    share_kw = _OPERATING_SHARE * s_rated_kva * _OPERATING_COS_PHI / max(len(buses), 1)
    np.add.at(p, [position[int(b)] for b in buses], share_kw)
    return p, p * math.tan(math.acos(_OPERATING_COS_PHI))
