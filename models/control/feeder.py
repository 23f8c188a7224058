"""Signals per feeder: SG-Ready and the section 14a limit from the loading and voltage of each feeder.

A *feeder* is the part of the low-voltage grid that hangs off the transformer's low-voltage
busbar through one outgoing line (:class:`FeederMap`). Each feeder gets its own SG-Ready signal,
with the rule, hysteresis and dwell time of :class:`models.control.signal.SignalMachine`, read on
the feeder's own lines and buses plus the transformer (:class:`FeederSignals`): a line stressed in
one feeder blocks that feeder's buildings only. A stressed transformer blocks, besides the
feeders blocked already, as many feeders as its relief needs, those with the largest
controllable draw first (``transformer_relief="needed"``); with ``"all"``, or without the
sensitivities or the draw, it blocks every feeder.

Section 14a EnWG per building. The Bundesnetzagentur's determination BK6-22-300 lets the grid
operator reduce controllable consumers only as far as needed ("im erforderlichen Umfang") and
never below the minimum of annex 1 no. 4.5 (:func:`models.control.section_14a.dimmed_limit_kw`).
So while a feeder blocks, each of its buildings' limit is computed from the grid state measured
in the last power flow and the linear sensitivities of the grid to each building's load
(:func:`sensitivities`, from power flows at an operating point):

- every quantity of the blocking feeder (the transformer's loading, each of its lines' loading,
  each of its buses' voltage) is compared with its *target*, half-way between the signal's enter
  and leave thresholds (90 % loading, 0.94 p.u.); the excess (or the headroom, negative) in its
  unit is turned into power with the sensitivities and shared among the buildings that act on
  it: an excess in proportion to what each can still give up (its controllable draw above its
  minimum), a headroom in proportion to what each draws plus its minimum;
- each building takes the largest reduction any quantity asks of it; its limit is its
  controllable draw in the last step minus that reduction, never below its minimum.

The limits follow the measurement step by step (lower where a target is exceeded, higher where
there is headroom), so they settle at the draw that holds the target. While a feeder's limits
bind (its dimmed devices draw at their limit), the stress that blocked it counts as still there:
without the limits it would be, so the block is not released by the relief it gives (the
transformer's stress holds while any feeder's limits bind). Once the devices draw less than
their limits, the signal's usual leave threshold and dwell time release the block.

Without the controllable draw (``p_controllable_kw`` not given), without sensitivities, or with
``per_feeder=False``, every building of a blocking feeder gets its minimum while the block holds
for grid stress: the district-wide rule of :func:`models.control.signal.limit_14a_kw`, and with
``per_feeder=False`` exactly :func:`models.control.year.signal_series`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt

from models.control.feeder_grid import FeederMap, Sensitivities, sensitivities
from models.control.feeder_kernel import advance, as_draw, buildings_step
from models.control.section_14a import P_LIMIT_14A_MIN_KW
from models.control.signal import SignalConfig
from twin.core.errors import ConfigError
from twin.core.signal import SignalReason, SignalState

__all__ = ["FeederMap", "FeederSignals", "FeederStep", "Sensitivities", "sensitivities"]

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
TransformerRelief = Literal["all", "needed"]

#: Reasons that make a block a grid-stress block (section 14a dims only then).
_GRID_REASONS: Final[int] = int(SignalReason.TRANSFORMER | SignalReason.LINE | SignalReason.UNDERVOLTAGE)
#: A limit binds while the building's controllable devices draw within this of it. [kW]
_BINDING_KW: Final[float] = 0.05
#: Placeholders of the compiled step where there are no sensitivities or no draw.
_NO_FLOATS: Final[Floats] = np.zeros(0)
_NO_ROWS: Final[tuple[Ints, Ints, Floats]] = (np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0))
#: A building acts on a quantity when its sensitivity is at least this share of the largest one. [1]
_ACTS_SHARE: Final[float] = 0.05


@dataclass(frozen=True)
class FeederStep:
    """What the controllers of each building read at one step.

    Parameters
    ----------
    state : numpy.ndarray of int8, shape (n_building,)
        SG-Ready state of the building's feeder (:class:`twin.core.signal.SignalState` values).
    p_limit_14a_kw : numpy.ndarray, shape (n_building,)
        What the building's controllable devices may draw together; ``inf``: not limited. [kW]
    relief_kw : numpy.ndarray, shape (n_feeder,)
        Reduction of the controllable draw the feeder's limits ask for, >= 0. [kW]
    reasons : numpy.ndarray of int64, shape (n_building,)
        The reasons of the building's feeder signal (:class:`twin.core.signal.SignalReason` bits).
    feeder : numpy.ndarray of int64, shape (n_building,)
        The building's feeder (0-based; -1: at the busbar, it follows the district-wide signal).
    since_s : numpy.ndarray, shape (n_building,)
        Simulated time the building's feeder signal entered its state. [s]
    """

    state: npt.NDArray[np.int8]
    p_limit_14a_kw: Floats
    relief_kw: Floats
    reasons: Ints
    feeder: Ints
    since_s: Floats


class FeederSignals:
    """One SG-Ready signal per feeder, each on its own feeder's lines and voltages plus the transformer.

    Parameters
    ----------
    fmap : FeederMap
        The grid's feeders.
    building_bus : array-like of int
        ``net.bus`` index label of each building.
    config : SignalConfig, optional
        Thresholds, hysteresis and dwell time (the live twin's by default).
    sens : Sensitivities, optional
        For limits "only as low as needed"; without them every building of a blocking feeder
        gets its minimum.
    per_feeder : bool, optional
        ``False``: one district-wide signal for every building and the flat limit (its minimum
        while the signal blocks for grid stress), as :func:`models.control.year.signal_series`.
    p_min_kw : array-like, shape (n_building,), optional
        The least each building's controllable devices keep while dimmed
        (:func:`models.control.section_14a.dimmed_limit_kw`); default 4.2 kW. [kW]
    target_loading_percent : float, optional
        Loading the limits aim at; default half-way between the enter and leave thresholds. [%]
    target_vm_pu : float, optional
        Lowest voltage the limits aim at; default half-way between the undervoltage thresholds. [p.u.]
    transformer_relief : {"needed", "all"}, optional
        ``"needed"`` (default; it acts with sensitivities and the controllable draw, else as
        ``"all"``): a stressed transformer blocks, besides the feeders blocked already, only as
        many feeders as its relief needs, those with the largest controllable draw first (the
        relief in kW is the loading over its target divided by the mean sensitivity); the other
        feeders stay as they are. ``"all"``: a stressed transformer blocks every feeder.

    Examples
    --------
    >>> signals = FeederSignals(FeederMap.from_net(net), building_bus)  # doctest: +SKIP
    >>> step = signals.update(0.0, trafo_loading_percent=97.0, line_loading_percent=loading,
    ...                       vm_pu=vm, p_grid_kw=400.0)  # doctest: +SKIP
    """

    def __init__(
        self,
        fmap: FeederMap,
        building_bus: npt.ArrayLike,
        config: SignalConfig | None = None,
        sens: Sensitivities | None = None,
        per_feeder: bool = True,
        *,
        p_min_kw: npt.ArrayLike | None = None,
        target_loading_percent: float | None = None,
        target_vm_pu: float | None = None,
        transformer_relief: TransformerRelief = "needed",
    ) -> None:
        if transformer_relief not in ("all", "needed"):
            raise ConfigError(
                f"unknown transformer relief {transformer_relief!r}", field="transformer_relief", allowed="all, needed"
            )
        self.transformer_relief = transformer_relief
        self.fmap = fmap
        self.config = config or SignalConfig()
        self.per_feeder = per_feeder
        self.building_bus = np.asarray(building_bus, dtype=np.int64).ravel()
        n_building = len(self.building_bus)
        self.p_min_kw = _per_building(p_min_kw, n_building, P_LIMIT_14A_MIN_KW, "p_min_kw")
        if (self.p_min_kw < P_LIMIT_14A_MIN_KW).any():
            raise ConfigError(
                f"p_min_kw below {P_LIMIT_14A_MIN_KW} kW (BK6-22-300 annex 1 no. 4.5.1)", field="p_min_kw"
            )
        c = self.config
        self.target_loading_percent = (
            0.5 * (c.loading_enter_percent + c.loading_leave_percent)
            if target_loading_percent is None
            else float(target_loading_percent)
        )
        self.target_vm_pu = (
            0.5 * (c.vm_low_enter_pu + c.vm_low_leave_pu) if target_vm_pu is None else float(target_vm_pu)
        )
        if per_feeder:
            # one machine per feeder, and one more on the whole grid for buildings at the busbar
            self.feeder_of_bus = fmap.feeder_of_bus.copy()
            self.feeder_of_line = fmap.feeder_of_line.copy()
            self.n_machines = fmap.n_feeders + 1
            feeder = fmap.of_buses(self.building_bus)
            self.building_machine = np.where(feeder >= 0, feeder, fmap.n_feeders)
        else:
            self.feeder_of_bus = np.full(len(fmap.feeder_of_bus), -1, dtype=np.int64)
            self.feeder_of_line = np.full(len(fmap.feeder_of_line), -1, dtype=np.int64)
            self.n_machines = 1
            feeder = np.zeros(n_building, dtype=np.int64)
            self.building_machine = feeder
        self.building_feeder = feeder
        self.sens = sens
        self._rows: Floats | None = None
        if sens is not None and per_feeder:
            _check_sens(sens, n_building, len(fmap.feeder_of_line), len(fmap.feeder_of_bus))
            self._prepare_rows(sens)
        self._state = np.full(self.n_machines, int(SignalState.NORMAL), dtype=np.int64)
        self._since = np.full(self.n_machines, np.nan)
        self._reasons = np.zeros(self.n_machines, dtype=np.int64)
        self._limit = np.full(n_building, np.inf)
        self._limited = False
        #: What :meth:`update` gave last (None before the first update).
        self.last_step: FeederStep | None = None
        self._thresholds = np.array(
            [
                c.surplus_enter_kw,
                c.surplus_leave_kw,
                c.loading_enter_percent,
                c.loading_leave_percent,
                c.vm_high_enter_pu,
                c.vm_high_leave_pu,
                -c.vm_low_enter_pu,
                -c.vm_low_leave_pu,
                c.min_dwell_s,
            ]
        )

    @classmethod
    def from_net(
        cls,
        net: Any,
        building_bus: npt.ArrayLike,
        config: SignalConfig | None = None,
        *,
        per_feeder: bool = True,
        p_min_kw: npt.ArrayLike | None = None,
        q_per_p: float = 0.0,
        flow: Any = None,
        transformer_relief: TransformerRelief = "needed",
    ) -> FeederSignals:
        """Find the feeders, compute the sensitivities at the default operating point, and start the signals.

        The live twin and the scenarios' year build their signals this way, so both act alike.

        Parameters
        ----------
        net : pandapowerNet
            The grid.
        building_bus : array-like of int
            ``net.bus`` index label of each building.
        config : SignalConfig, optional
            Thresholds (the live twin's by default).
        per_feeder : bool, optional
            ``False``: the district-wide signal (no sensitivities computed).
        p_min_kw : array-like, optional
            Each building's minimum while dimmed. [kW]
        q_per_p : float, optional
            Reactive power that goes with each kW of load (``tan(arccos(load_cos_phi))``). [kvar/kW]
        flow : models.powerflow.BatchPowerFlow, optional
            A solver already prepared for ``net``.
        transformer_relief : {"all", "needed"}, optional
            Which feeders a stressed transformer blocks (see the class).
        """
        buses = np.asarray(building_bus, dtype=np.int64).ravel()
        sens = sensitivities(net, buses, flow=flow, q_per_p=q_per_p) if per_feeder and len(buses) else None
        return cls(
            FeederMap.from_net(net),
            buses,
            config,
            sens,
            per_feeder,
            p_min_kw=p_min_kw,
            transformer_relief=transformer_relief,
        )

    @property
    def n_feeders(self) -> int:
        """Return the number of feeders."""
        return self.fmap.n_feeders

    def update(
        self,
        t_s: float,
        *,
        trafo_loading_percent: float,
        line_loading_percent: npt.ArrayLike,
        vm_pu: npt.ArrayLike,
        p_grid_kw: float,
        p_controllable_kw: npt.ArrayLike | None = None,
        p_surplus_kw: float | None = None,
        stale: bool = False,
    ) -> FeederStep:
        """Advance every feeder's signal to ``t_s`` with the grid state measured in the previous step.

        Parameters
        ----------
        t_s : float
            Simulated time. [s]
        trafo_loading_percent : float
            Highest transformer loading (NaN: not known). [%]
        line_loading_percent : array-like, shape (n_line,)
            Loading of each line, positional order of ``net.line`` (NaN: not known). [%]
        vm_pu : array-like, shape (n_bus,)
            Voltage of each bus, positional order of ``net.bus`` (NaN: not known). [p.u.]
        p_grid_kw : float
            Exchange at the substation, import > 0 (NaN counts as 0). [kW]
        p_controllable_kw : array-like, shape (n_building,), optional
            What each building's controllable devices drew (for limits only as low as needed). [kW]
        p_surplus_kw : float, optional
            Surplus available now; default the export, ``max(-p_grid_kw, 0)``. [kW]
        stale : bool, optional
            The data is stale: every signal to ``NORMAL`` at once, no limit.

        Returns
        -------
        FeederStep
        """
        p_grid = float(p_grid_kw) if math.isfinite(p_grid_kw) else 0.0
        surplus = max(-p_grid, 0.0) if p_surplus_kw is None else float(p_surplus_kw)
        line = np.asarray(line_loading_percent, dtype=np.float64)
        vm = np.asarray(vm_pu, dtype=np.float64)
        trafo = float(trafo_loading_percent)
        binding = np.zeros(self.n_machines, dtype=np.bool_)
        draw = None
        raw = p_controllable_kw if self._rows is not None else None
        # the draw matters only where limits were in force or the transformer may be stressed
        if raw is not None and (self._limited or trafo > self.config.loading_leave_percent):
            draw = _as_draw(raw)
            held = draw >= self._limit - _BINDING_KW  # inf limits never bind
            binding[self.building_machine[held]] = True
        advance(
            self._state,
            self._since,
            self._reasons,
            float(t_s),
            surplus,
            self._trafo_inputs(trafo, p_grid, draw, stale),
            p_grid,
            line,
            self.feeder_of_line,
            vm,
            self.feeder_of_bus,
            self._thresholds,
            stale,
            binding,
        )
        if draw is None and raw is not None and bool((self._state == int(SignalState.BLOCK)).any()):
            draw = _as_draw(raw)
        return self._step(draw, (trafo, line, vm))

    def _trafo_inputs(self, trafo: float, p_grid: float, draw: Floats | None, stale: bool) -> Floats:
        """Return the transformer loading each machine reads (NaN: a feeder the relief does not need).

        Every machine reads it, except with ``transformer_relief="needed"`` under import stress:
        then only the feeders blocked already and those the relief needs.
        """
        inputs = np.full(self.n_machines, trafo)
        if self.transformer_relief != "needed" or draw is None or stale or not math.isfinite(trafo) or p_grid < 0:
            return inputs
        c = self.config
        held = bool((self._reasons & int(SignalReason.TRANSFORMER)).any())
        if not (trafo >= c.loading_enter_percent or (held and trafo > c.loading_leave_percent)):
            return inputs
        n = self.fmap.n_feeders
        inside = self.building_feeder >= 0
        feeder_draw = np.bincount(self.building_feeder[inside], draw[inside], minlength=n)
        candidate = (self._state[:n] != int(SignalState.BLOCK)) & (feeder_draw > 0.0)
        need_kw = max(trafo - self.target_loading_percent, 0.0) / self._trafo_percent_per_kw
        order = np.flatnonzero(candidate)[np.argsort(-feeder_draw[candidate], kind="stable")]
        before = np.cumsum(feeder_draw[order]) - feeder_draw[order]  # what the feeders ahead give
        chosen = order[before < need_kw]
        left_out = np.setdiff1d(np.flatnonzero(self._state[:n] != int(SignalState.BLOCK)), chosen)
        inputs[left_out] = np.nan
        return inputs

    def _step(self, draw: Floats | None, measured: tuple[float, Floats, Floats]) -> FeederStep:
        """Each building's signal after the machines advanced, and its limit."""
        if self._rows is None:
            rows, quantities = _NO_ROWS, (_NO_FLOATS, _NO_FLOATS)
        else:
            rows, quantities = (self._row_ptr, self._cols, self._vals), (self._sign, self._targets)
        trafo, line, vm = measured
        state, reasons, since, limit, relief, limited = buildings_step(
            (self._state, self._reasons, self._since),
            self.building_machine,
            (int(SignalState.BLOCK), _GRID_REASONS),
            _NO_FLOATS if draw is None else draw,
            rows,
            (float(trafo), np.asarray(line, dtype=np.float64), np.asarray(vm, dtype=np.float64)),
            quantities,
            self.p_min_kw,
            self.building_feeder,
            self.fmap.n_feeders,
        )
        self._limit, self._limited = limit, bool(limited)
        self.last_step = FeederStep(state, limit, relief, reasons, self.building_feeder, since)
        return self.last_step

    def _prepare_rows(self, sens: Sensitivities) -> None:
        """Stack the quantities' sensitivities (transformer, lines, voltages) and who acts on each."""
        self._rows = np.vstack([sens.trafo_percent_per_kw[None, :], sens.line_percent_per_kw, -sens.vm_pu_per_kw])
        # the transformer is every building's; a line or bus is its feeder's buildings' (none at the busbar)
        owner = np.concatenate(([-1], self.fmap.feeder_of_line, self.fmap.feeder_of_bus))
        owner[1:][owner[1:] < 0] = -2
        eligible = (owner[:, None] == -1) | (owner[:, None] == self.building_feeder[None, :])
        rows = np.where(eligible, self._rows, 0.0)
        strongest = rows.max(axis=1, initial=0.0)
        acts = eligible & (rows > 0.0) & (rows >= _ACTS_SHARE * strongest[:, None])
        # who acts on each quantity, as compressed rows: buildings and their sensitivities
        self._row_ptr = np.concatenate(([0], np.cumsum(acts.sum(axis=1)))).astype(np.int64)
        quantity, building = np.nonzero(acts)
        self._cols = building.astype(np.int64)
        self._vals = np.ascontiguousarray(self._rows[quantity, building])
        self._targets = np.concatenate(
            (
                [self.target_loading_percent],
                np.full(len(self.fmap.feeder_of_line), self.target_loading_percent),
                np.full(len(self.fmap.feeder_of_bus), -self.target_vm_pu),
            )
        )
        mean_sens = float(np.mean(sens.trafo_percent_per_kw)) if sens.trafo_percent_per_kw.size else 0.0
        self._trafo_percent_per_kw = mean_sens if mean_sens > 0.0 else math.inf
        self._sign = np.concatenate(
            ([1.0], np.ones(len(self.fmap.feeder_of_line)), -np.ones(len(self.fmap.feeder_of_bus)))
        )


# --- helpers ---------------------------------------------------------------------------------


def _as_draw(p_kw: npt.ArrayLike) -> Floats:
    """Return the controllable draw [kW]: NaN as 0, feed-in as 0."""
    return as_draw(np.asarray(p_kw, dtype=np.float64))


def _per_building(values: npt.ArrayLike | None, n: int, default: float, name: str) -> Floats:
    if values is None:
        return np.full(n, default)
    array = np.broadcast_to(np.asarray(values, dtype=np.float64), (n,)).copy()
    if not np.isfinite(array).all():
        raise ConfigError("must be finite", field=name)
    return array


def _check_sens(sens: Sensitivities, n_building: int, n_line: int, n_bus: int) -> None:
    shapes = (
        (sens.trafo_percent_per_kw.shape, (n_building,), "trafo_percent_per_kw"),
        (sens.line_percent_per_kw.shape, (n_line, n_building), "line_percent_per_kw"),
        (sens.vm_pu_per_kw.shape, (n_bus, n_building), "vm_pu_per_kw"),
    )
    for shape, expected, name in shapes:
        if shape != expected:
            raise ConfigError(f"has shape {shape}, expected {expected}", field=name)
