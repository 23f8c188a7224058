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
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from twin.core.errors import ConvergenceError
from twin.core.live_state import BoundaryState
from twin.core.schema import SUBSTATION

if TYPE_CHECKING:
    from connectors.site import Site

__all__ = ["FeederValues", "LiveFeeders"]

logger = logging.getLogger(__name__)

#: Site device kind -> section 14a device kind.
_CONTROLLABLE: Final[dict[str, str]] = {
    "heat_pump_meter": "heat_pump",
    "ev_charger_meter": "wallbox",
    "battery": "battery",
}
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

    Raises
    ------
    ConfigError
        A bus of the grid is not connected to a transformer.
    """

    def __init__(
        self, net: Any, flow: Any, building_bus: Mapping[str, int], site: Site | None = None, q_per_p: float = 0.0
    ) -> None:
        from models.control.feeder import FeederMap, FeederSignals
        from models.control.signal import SignalConfig

        self.buildings = list(building_bus)
        self.config = SignalConfig()
        p_min_kw = [_minimum_kw(site, b) for b in self.buildings]
        buses = [building_bus[b] for b in self.buildings]
        try:
            self.signals = FeederSignals.from_net(
                net, buses, self.config, p_min_kw=p_min_kw, q_per_p=q_per_p, flow=flow
            )
        except ConvergenceError as err:
            logger.warning("signals per feeder without sensitivities (limits at the minimum while blocked): %s", err)
            self.signals = FeederSignals(FeederMap.from_net(net), buses, self.config, p_min_kw=p_min_kw)
        self.fmap = self.signals.fmap
        #: Positions of the power flow's buses (sorted labels) in ``net.bus`` order.
        self._bus_order = np.searchsorted(np.asarray(flow.bus_index), np.asarray(net.bus.index, dtype=np.int64))
        self._n_line = len(net.line)

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
        result = self.signals.update(
            sim_time_s,
            trafo_loading_percent=float(np.nanmax(trafo)) if np.isfinite(trafo).any() else math.nan,
            line_loading_percent=loading_percent[: self._n_line],
            vm_pu=vm_pu[self._bus_order],
            p_grid_kw=p_grid,
            p_controllable_kw=[_controllable_kw(balance.get(b)) for b in self.buildings],
        )
        free_kw = self.config.p_limit_free_kw
        values = {}
        for i, building in enumerate(self.buildings):
            feeder = int(result.feeder[i])
            limit = float(result.p_limit_14a_kw[i])
            values[building] = FeederValues(
                feeder_number=feeder + 1,
                sg_ready_state=int(result.state[i]),
                signal_reasons=int(result.reasons[i]),
                p_limit_14a_kw=min(limit, free_kw),
                feeder_relief_kw=float(result.relief_kw[feeder]) if feeder >= 0 else 0.0,
            )
        return values


def _controllable_kw(terms: BoundaryState | None) -> float:
    """Return what a building's controllable devices draw [kW]: heat pump, EV charging, battery charging."""
    if terms is None:
        return 0.0
    values = (terms.p_heat_pump_kw, terms.p_ev_kw, terms.p_battery_kw)  # load-positive: discharge counts 0
    return sum(max(float(v), 0.0) for v in values if v is not None and math.isfinite(v))


def _minimum_kw(site: Site | None, building: str) -> float:
    """The BK6-22-300 minimum of a building's controllable devices (4.2 kW without a site or devices)."""
    from models.control.section_14a import P_LIMIT_14A_MIN_KW, ControllableDevice, dimmed_limit_kw

    if site is None:
        return P_LIMIT_14A_MIN_KW
    devices = [
        ControllableDevice(_CONTROLLABLE[d.kind], d.p_rated_kw or _UNRATED_KW)
        for d in site.devices
        if d.building == building and d.kind in _CONTROLLABLE
    ]
    limit = dimmed_limit_kw(devices)  # inf without a controllable device
    return limit if math.isfinite(limit) else P_LIMIT_14A_MIN_KW
