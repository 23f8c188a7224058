"""The live twin's signals per feeder: each building's SG-Ready state and section 14a limit.

:class:`LiveFeeders` runs beside the live power flow (:class:`twin.live_grid.LiveGrid`, in the
worker process): it finds the grid's feeders and the grid's sensitivities to each metered
building's load once (:mod:`models.control.feeder`), and at every power-flow step advances one
signal per feeder with that step's transformer and line loadings and bus voltages, the exchange
at the substation meter and what each building's controllable devices drew (heat pump, EV
charging and home-battery charging from its live balance). The result per building goes to the
controller server's building blocks (:mod:`twin.live_controllers`): its feeder's state and
reasons, its limit (the unlimited value of :class:`models.control.signal.SignalConfig` while not
limited) and its feeder's relief.

Each building's minimum while dimmed is the BK6-22-300 minimum for its controllable devices in
the site file (:func:`models.control.section_14a.dimmed_limit_kw`, one energy management system
per building): heat pump meters, EV charger meters and home batteries, each with its
``p_rated_kw`` (a device without one counts as one controllable device of 11 kW). Where the
power flow at the sensitivities' operating point does not converge (a grid too weak for 80 % of
its transformer's rating), the signals run without them and a block limits every building of
the feeder to its minimum; a warning says so.

With a ``control:`` block (``twin live --control FILE``, :mod:`twin.live_control`) the signals are
the scenario runner's and the simulated field's source for that block
(:func:`scenarios.controlled.signal_maker`): its thresholds, per feeder or district-wide, its
limits released step by step (by the simulated time between two live steps) and pre-heating. Each
live step reads the power flow as a one-step grid state, as the field reads its quarter hour.
The minimum of a building while dimmed counts the devices the block dims (all controllable ones
with ``section_14a``, the EV chargers with ``ev: dimmed``; none: 4.2 kW) per device or per
energy management system (``section_14a_control``); what they can draw together is the sum of
their ratings, and a building's extra draw when pre-heating follows from its heat-pump meters'
ratings (:func:`scenarios.controlled.preheat_boost_kw`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal

import numpy as np

from twin.core.errors import ConvergenceError
from twin.core.live_state import BoundaryState
from twin.core.schema import SUBSTATION

if TYPE_CHECKING:
    from connectors.site import Site
    from scenarios.records import Control

__all__ = ["FeederValues", "LiveFeeders"]

logger = logging.getLogger(__name__)

#: Site device kind -> section 14a device kind.
_CONTROLLABLE: Final[dict[str, str]] = {
    "heat_pump_meter": "heat_pump",
    "ev_charger_meter": "wallbox",
    "battery": "battery",
}
#: The warning when the sensitivities' operating point does not converge.
_NO_SENSITIVITIES: Final[str] = "signals per feeder without sensitivities (limits at the minimum while blocked): %s"
#: The step a release ramp counts when simulated time did not advance (the ramp needs one > 0). [s]
_STOOD_S: Final[float] = 1e-6
#: Rated power of a controllable device whose site entry gives none. [kW]
_UNRATED_KW: Final[float] = 11.0


@dataclass(frozen=True)
class FeederValues:
    """One building's signal at one live step.

    Parameters
    ----------
    feeder_number : int
        The building's feeder, 1-based; 0 at the transformer's busbar.
    sg_ready_state : int
        The feeder's SG-Ready state (1-4).
    signal_reasons : int
        Why (:class:`twin.core.signal.SignalReason` bits).
    p_limit_14a_kw : float
        What the building's controllable devices may draw together (the unlimited value while
        not limited). [kW]
    feeder_relief_kw : float
        Reduction of the controllable draw the feeder's limits ask for. [kW]
    """

    feeder_number: int
    sg_ready_state: int
    signal_reasons: int
    p_limit_14a_kw: float
    feeder_relief_kw: float


class LiveFeeders:
    """One signal per feeder of the live grid, advanced at every live power flow.

    Parameters
    ----------
    net : pandapowerNet
        The district's grid.
    flow : models.powerflow.BatchPowerFlow
        The live power flow's solver for ``net``.
    building_bus : mapping of str to int
        Building id -> ``net.bus`` index label (the buildings the live power flow knows).
    site : Site, optional
        The site file: the controllable devices of each building.
    q_per_p : float, optional
        Reactive power the live power flow gives each kW of load. [kvar/kW]
    control : Control, optional
        The ``control:`` block the signals run (module docstring); default the live twin's
        (per feeder, the thresholds of :class:`models.control.signal.SignalConfig`).

    Raises
    ------
    ConfigError
        A bus of the grid is not connected to a transformer; pre-heating without the grid's
        sensitivities (their operating point does not converge).
    """

    def __init__(
        self,
        net: Any,
        flow: Any,
        building_bus: Mapping[str, int],
        site: Site | None = None,
        q_per_p: float = 0.0,
        control: Control | None = None,
    ) -> None:
        from models.control.feeder import FeederMap, FeederSignals

        self.buildings = list(building_bus)
        self.control = control
        buses = [building_bus[b] for b in self.buildings]
        #: The block's signal source maker (:func:`scenarios.controlled.signal_maker`); None: the defaults.
        self._make: Any = None
        self._saved: Any = None
        self._last_s = math.nan
        if control is not None:
            self._with_control(net, flow, buses, site, q_per_p, control)
        else:
            from models.control.signal import SignalConfig

            self.config = SignalConfig()
            p_min_kw = [_minimum_kw(site, b) for b in self.buildings]
            try:
                self.signals = FeederSignals.from_net(
                    net, buses, self.config, p_min_kw=p_min_kw, q_per_p=q_per_p, flow=flow
                )
            except ConvergenceError as err:
                logger.warning(_NO_SENSITIVITIES, err)
                self.signals = FeederSignals(FeederMap.from_net(net), buses, self.config, p_min_kw=p_min_kw)
        self.fmap = self.signals.fmap
        #: Positions of the power flow's buses (sorted labels) in ``net.bus`` order.
        self._bus_order = np.searchsorted(np.asarray(flow.bus_index), np.asarray(net.bus.index, dtype=np.int64))
        self._n_line = len(net.line)

    def _with_control(
        self, net: Any, flow: Any, buses: list[int], site: Site | None, q_per_p: float, control: Control
    ) -> None:
        """The signals of a ``control:`` block: the runner's source on the live grid and site."""
        from models.control.feeder import FeederMap, sensitivities
        from models.control.thermal import RECOVER_FRAC
        from scenarios.controlled import feeder_signals, preheat_boost_kw, signal_config, signal_maker
        from twin.core.errors import ConfigError

        self.config = signal_config(control)
        sens = None
        if (control.signal == "per_feeder" or control.preheat is not None) and buses:
            try:
                sens = sensitivities(net, np.asarray(buses, dtype=np.int64), flow=flow, q_per_p=q_per_p)
            except ConvergenceError as err:
                if control.preheat is not None:
                    raise ConfigError(
                        f"pre-heating needs the grid's sensitivities: {err}", field="control.preheat"
                    ) from err
                logger.warning(_NO_SENSITIVITIES, err)
        kinds = _dimmed_kinds(control)
        p_min_kw = [_minimum_kw(site, b, kinds, control.section_14a_control) for b in self.buildings]
        free_kw = np.array([_rated_kw(site, b, kinds) for b in self.buildings])
        hp_kw = np.array([_rated_kw(site, b, frozenset({"heat_pump_meter"})) for b in self.buildings])
        boost_kw = preheat_boost_kw(np.arange(len(buses)), hp_kw, len(buses), RECOVER_FRAC)
        fmap = FeederMap.from_net(net)
        self.signals = feeder_signals(control, fmap, buses, sens, p_min_kw)
        self._make = signal_maker(control, fmap, buses, sens, p_min_kw, free_kw, boost_kw)

    def step(
        self,
        sim_time_s: float,
        balance: Mapping[str, BoundaryState],
        *,
        loading_percent: np.ndarray,
        vm_pu: np.ndarray,
        p_grid_kw: float,
    ) -> dict[str, FeederValues]:
        """Advance the feeders' signals with one live power flow; return each building's values.

        Parameters
        ----------
        sim_time_s : float
            Simulated time of the balance. [s]
        balance : mapping of str to BoundaryState
            The snapshot's balance (the buildings' heat pump, EV and battery powers; the
            substation meter's exchange).
        loading_percent : numpy.ndarray
            The power flow's branch loadings, lines in ``net.line`` order then transformers. [%]
        vm_pu : numpy.ndarray
            The power flow's bus voltages in its bus order (sorted labels). [p.u.]
        p_grid_kw : float
            The power flow's exchange at the substation, used where the meter has none. [kW]
        """
        if not self.buildings:
            return {}
        district = balance.get(SUBSTATION)
        metered = district.p_grid_kw if district is not None else None
        p_grid = float(metered) if metered is not None and math.isfinite(metered) else p_grid_kw
        trafo = loading_percent[self._n_line :]
        trafo_max = float(np.nanmax(trafo)) if np.isfinite(trafo).any() else math.nan
        draw = [_controllable_kw(balance.get(b)) for b in self.buildings]
        if self._make is None:
            result = self.signals.update(
                sim_time_s,
                trafo_loading_percent=trafo_max,
                line_loading_percent=loading_percent[: self._n_line],
                vm_pu=vm_pu[self._bus_order],
                p_grid_kw=p_grid,
                p_controllable_kw=draw,
            )
            state, limits = result.state, result.p_limit_14a_kw
        else:
            state, limits = self._source_step(sim_time_s, trafo_max, loading_percent, vm_pu, p_grid, draw)
            last = self.signals.last_step
            assert last is not None  # the source's step updated the signals
            result = last
        free_kw = self.config.p_limit_free_kw
        values = {}
        for i, building in enumerate(self.buildings):
            feeder = int(result.feeder[i])
            limit = float(limits[i])
            values[building] = FeederValues(
                feeder_number=feeder + 1,
                sg_ready_state=int(state[i]),
                signal_reasons=int(result.reasons[i]),
                p_limit_14a_kw=min(limit, free_kw),
                feeder_relief_kw=float(result.relief_kw[feeder]) if feeder >= 0 else 0.0,
            )
        return values

    def _source_step(
        self,
        sim_time_s: float,
        trafo_max: float,
        loading_percent: np.ndarray,
        vm_pu: np.ndarray,
        p_grid_kw: float,
        draw: list[float],
    ) -> tuple[np.ndarray, np.ndarray]:
        """One step of the block's signal source on this power flow (a one-step grid state, as the field's)."""
        from models.control.relief import GridState

        state = GridState(
            trafo_percent=np.array([trafo_max]),
            line_percent=np.asarray(loading_percent[: self._n_line], dtype=np.float64)[None, :],
            vm_pu=np.asarray(vm_pu[self._bus_order], dtype=np.float64)[None, :],
            p_grid_kw=np.array([p_grid_kw]),
        )
        since = sim_time_s - self._last_s
        # the limits rise by the simulated time since the last step (none when time stood or went back)
        step_s = since if math.isfinite(since) and since > 0 else _STOOD_S
        self._last_s = sim_time_s
        source = self._make(state, step_s=step_s, signals=self.signals)
        if self._saved is not None:
            source.restore(self._saved)
        out_state, out_limit = source.step(sim_time_s, 0, None, np.asarray(draw, dtype=np.float64))
        self._saved = source.save()
        return np.asarray(out_state), np.asarray(out_limit, dtype=np.float64)


def _controllable_kw(terms: BoundaryState | None) -> float:
    """Return what a building's controllable devices draw [kW]: heat pump, EV charging, battery charging."""
    if terms is None:
        return 0.0
    values = (terms.p_heat_pump_kw, terms.p_ev_kw, terms.p_battery_kw)  # load-positive: discharge counts 0
    return sum(max(float(v), 0.0) for v in values if v is not None and math.isfinite(v))


def _minimum_kw(
    site: Site | None,
    building: str,
    kinds: frozenset[str] = frozenset(_CONTROLLABLE),
    control: Literal["ems", "direct"] = "ems",
) -> float:
    """The BK6-22-300 minimum of a building's controllable devices of ``kinds`` (4.2 kW without any)."""
    from models.control.section_14a import P_LIMIT_14A_MIN_KW, ControllableDevice, dimmed_limit_kw

    if site is None:
        return P_LIMIT_14A_MIN_KW
    devices = [
        ControllableDevice(_CONTROLLABLE[d.kind], d.p_rated_kw or _UNRATED_KW)
        for d in site.devices
        if d.building == building and d.kind in kinds
    ]
    limit = dimmed_limit_kw(devices, control=control)  # inf without a controllable device
    return limit if math.isfinite(limit) else P_LIMIT_14A_MIN_KW


def _rated_kw(site: Site | None, building: str, kinds: frozenset[str]) -> float:
    """The summed rating of a building's devices of ``kinds`` in the site file [kW] (unrated: 11 kW each)."""
    if site is None:
        return 0.0
    return float(sum(d.p_rated_kw or _UNRATED_KW for d in site.devices if d.building == building and d.kind in kinds))


def _dimmed_kinds(control: Control) -> frozenset[str]:
    """The site device kinds a block dims: every controllable one with section 14a, EV chargers with ``ev: dimmed``."""
    if control.section_14a:
        return frozenset(_CONTROLLABLE)
    return frozenset({"ev_charger_meter"}) if control.ev == "dimmed" else frozenset()
