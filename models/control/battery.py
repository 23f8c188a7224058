"""Battery strategies behind one registry: self-consumption, peak shaving, setpoint following.

A strategy is the rule that turns what a battery sees into its power. It is looked up by
name (:func:`battery_strategy`, names in :data:`BATTERY_STRATEGIES`) and applied to one
battery, described by its device record :class:`models.battery.BatteryUnit` (ratings,
efficiencies, state-of-charge window), in one of two ways:

- :meth:`BatteryStrategy.dispatch` over a whole period (the scenarios' community battery,
  :func:`community_battery_dispatch`),
- :meth:`BatteryStrategy.step` for one step from the state of charge now (the simulated
  field's community battery, which follows the setpoints the live twin writes).

Both apply the same rule with the same limits and the same energy update
(:func:`models.battery.advance_soc`); stepping through a period reproduces its dispatch.

What the strategy sees (``input_kw``):

``self_consumption``
    The net load at the battery's connection without the battery, import-positive: charge
    from the surplus, discharge into the import (:func:`models.battery.self_consumption_dispatch`).
``peak_shaving``
    The same net load: discharge what the import exceeds ``peak_limit_kw`` by, charge what the
    export exceeds ``export_limit_kw`` by, and between peaks drift back to ``target_soc_frac``
    without pushing the exchange past either limit.
``follow_setpoint``
    The power asked for, load-positive: the setpoint within the rated power and the SOC
    window (:func:`models.battery.follow_setpoint`).

Battery power is load-positive (charging > 0).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from types import MappingProxyType
from typing import Any, ClassVar, Final, Protocol

import numba
import numpy as np
import numpy.typing as npt
import pandas as pd

from models.battery import BatteryUnit, advance_soc, follow_setpoint, self_consumption_dispatch
from twin.core.errors import ConfigError
from twin.core.schema import step_hours

__all__ = [
    "BATTERY_STRATEGIES",
    "BatteryStrategy",
    "FollowSetpoint",
    "PeakShaving",
    "SelfConsumption",
    "battery_strategy",
    "community_battery_dispatch",
]

Series = npt.NDArray[np.float64]


class BatteryStrategy(Protocol):
    """The rule that sets a battery's power (see the module docstring)."""

    #: The strategy's name in :data:`BATTERY_STRATEGIES`.
    name: ClassVar[str]

    def dispatch(self, input_kw: Series, time_index: pd.DatetimeIndex, battery: BatteryUnit) -> tuple[Series, Series]:
        """The battery's power and state of charge over a period.

        Parameters
        ----------
        input_kw : numpy.ndarray
            What the strategy sees, per step (see the module docstring). [kW]
        time_index : pandas.DatetimeIndex
            The steps (regular).
        battery : BatteryUnit
            Ratings and parameters; the SOC starts at ``params.soc_initial_frac``.

        Returns
        -------
        p_kw : numpy.ndarray
            Battery power, load-positive. [kW]
        soc_frac : numpy.ndarray
            State of charge at the end of each step. [1]
        """
        ...

    def step(self, input_kw: float, soc_frac: float, dt_h: float, battery: BatteryUnit) -> float:
        """Return the battery's power [kW] for the next ``dt_h`` hours from the state of charge ``soc_frac``."""
        ...


@dataclass(frozen=True)
class SelfConsumption:
    """Charge from the surplus, discharge into the import (``input_kw``: net load, import-positive)."""

    name: ClassVar[str] = "self_consumption"

    def dispatch(self, input_kw: Series, time_index: pd.DatetimeIndex, battery: BatteryUnit) -> tuple[Series, Series]:
        """The greedy self-consumption dispatch over the period (see :class:`BatteryStrategy`)."""
        dispatch = self_consumption_dispatch(
            pd.DataFrame({"b": input_kw}, index=time_index),
            [battery.capacity_kwh],
            [battery.p_rated_kw],
            params=battery.params,
        )
        return dispatch.p_kw.to_numpy()[:, 0], dispatch.soc_frac.to_numpy()[:, 0]

    def step(self, input_kw: float, soc_frac: float, dt_h: float, battery: BatteryUnit) -> float:
        """Take up the surplus or cover the import, within the limits (see :class:`BatteryStrategy`)."""
        return follow_setpoint(battery, -input_kw, soc_frac, dt_h)


@dataclass(frozen=True)
class PeakShaving:
    """Hold the import and the export at the connection within limits.

    Parameters
    ----------
    peak_limit_kw : float, optional
        Import held below this (None: no limit). [kW]
    export_limit_kw : float, optional
        Export held below this (None: no limit). [kW]
    target_soc_frac : float, default 0.5
        State of charge kept between peaks. [1]
    """

    name: ClassVar[str] = "peak_shaving"
    peak_limit_kw: float | None = None
    export_limit_kw: float | None = None
    target_soc_frac: float = 0.5

    def dispatch(self, input_kw: Series, time_index: pd.DatetimeIndex, battery: BatteryUnit) -> tuple[Series, Series]:
        """The peak-shaving dispatch over the period (one compiled loop; see :class:`BatteryStrategy`)."""
        params = battery.params
        return _peak_shaving(
            input_kw,
            battery.capacity_kwh,
            battery.p_rated_kw,
            *self._limits_kw(),
            self.target_soc_frac,
            step_hours(time_index),
            params.eta_charge_frac,
            params.eta_discharge_frac,
            params.soc_min_frac,
            params.soc_max_frac,
            params.soc_initial_frac,
        )

    def step(self, input_kw: float, soc_frac: float, dt_h: float, battery: BatteryUnit) -> float:
        """One step of the peak-shaving rule from ``soc_frac`` (see :class:`BatteryStrategy`)."""
        params = battery.params
        return float(
            _peak_shaving_power(
                float(input_kw),
                soc_frac * battery.capacity_kwh,
                battery.capacity_kwh,
                battery.p_rated_kw,
                *self._limits_kw(),
                self.target_soc_frac,
                dt_h,
                params.eta_charge_frac,
                params.eta_discharge_frac,
                params.soc_min_frac,
                params.soc_max_frac,
            )
        )

    def _limits_kw(self) -> tuple[float, float]:
        """Return the import and export limit [kW], infinite where none is set."""
        return (
            math.inf if self.peak_limit_kw is None else self.peak_limit_kw,
            math.inf if self.export_limit_kw is None else self.export_limit_kw,
        )


@dataclass(frozen=True)
class FollowSetpoint:
    """Deliver the setpoint (``input_kw``, load-positive) within the rated power and the SOC window."""

    name: ClassVar[str] = "follow_setpoint"

    def dispatch(self, input_kw: Series, time_index: pd.DatetimeIndex, battery: BatteryUnit) -> tuple[Series, Series]:
        """The setpoints step by step over the period (see :class:`BatteryStrategy`)."""
        dt_h = step_hours(time_index)
        p_kw, soc = np.zeros(len(input_kw)), np.zeros(len(input_kw))
        soc_frac = battery.params.soc_initial_frac
        for t, setpoint_kw in enumerate(np.asarray(input_kw, dtype=float)):
            p_kw[t] = self.step(float(setpoint_kw), soc_frac, dt_h, battery)
            soc_frac = soc[t] = advance_soc(battery, soc_frac, float(p_kw[t]), dt_h)
        return p_kw, soc

    def step(self, input_kw: float, soc_frac: float, dt_h: float, battery: BatteryUnit) -> float:
        """The setpoint within the limits (:func:`models.battery.follow_setpoint`)."""
        return follow_setpoint(battery, input_kw, soc_frac, dt_h)


#: The battery strategies by name.
BATTERY_STRATEGIES: Final[Mapping[str, type[SelfConsumption | PeakShaving | FollowSetpoint]]] = MappingProxyType(
    {cls.name: cls for cls in (SelfConsumption, PeakShaving, FollowSetpoint)}
)


def battery_strategy(name: str, settings: Mapping[str, Any] | None = None) -> BatteryStrategy:
    """The strategy ``name`` with its settings.

    Parameters
    ----------
    name : str
        A key of :data:`BATTERY_STRATEGIES`.
    settings : mapping, optional
        Settings by name; those the strategy does not take are ignored, so one record can
        carry the settings of every strategy (e.g. a scenario's community battery).

    Returns
    -------
    BatteryStrategy

    Raises
    ------
    ConfigError
        For an unknown name (the message lists the known ones).
    """
    cls = BATTERY_STRATEGIES.get(name)
    if cls is None:
        raise ConfigError(
            f"unknown battery strategy {name!r}", field="strategy", allowed=", ".join(sorted(BATTERY_STRATEGIES))
        )
    taken = {f.name for f in fields(cls)}
    return cls(**{key: value for key, value in (settings or {}).items() if key in taken})


def community_battery_dispatch(
    net_kw: np.ndarray, time_index: pd.DatetimeIndex, battery: BatteryUnit, strategy: BatteryStrategy
) -> tuple[np.ndarray, np.ndarray]:
    """Dispatch the battery on the district's net load.

    Parameters
    ----------
    net_kw : numpy.ndarray
        The district's net load at the substation per step, import-positive. [kW]
    time_index : pandas.DatetimeIndex
        The steps (regular).
    battery : BatteryUnit
        Ratings and parameters.
    strategy : BatteryStrategy
        From :func:`battery_strategy`.

    Returns
    -------
    p_kw : numpy.ndarray
        Battery power, load-positive. [kW]
    soc_frac : numpy.ndarray
        State of charge at the end of each step. [1]
    """
    return strategy.dispatch(net_kw, time_index, battery)


@numba.njit(cache=True)
def _peak_shaving_power(
    net: float,
    energy: float,
    capacity: float,
    p_max: float,
    import_limit: float,
    export_limit: float,
    target: float,
    dt_h: float,
    eta_c: float,
    eta_d: float,
    soc_min: float,
    soc_max: float,
) -> float:  # pragma: no cover - compiled
    """One step of peak shaving: the battery power (load-positive) at stored energy ``energy``."""
    room = max((soc_max * capacity - energy) / (eta_c * dt_h), 0.0)
    available = max((energy - soc_min * capacity) * eta_d / dt_h, 0.0)
    if net > import_limit:
        return -min(net - import_limit, p_max, available)
    if -net > export_limit:
        return min(-net - export_limit, p_max, room)
    if energy > target * capacity:
        # discharge towards the target, never exporting more than the export limit
        excess = (energy - target * capacity) * eta_d / dt_h
        return -min(excess, p_max, available, max(net + export_limit, 0.0))
    # charge towards the target, never importing more than the import limit
    missing = (target * capacity - energy) / (eta_c * dt_h)
    return min(missing, p_max, room, max(import_limit - net, 0.0))


@numba.njit(cache=True)
def _peak_shaving(
    net: Series,
    capacity: float,
    p_max: float,
    import_limit: float,
    export_limit: float,
    target: float,
    dt_h: float,
    eta_c: float,
    eta_d: float,
    soc_min: float,
    soc_max: float,
    soc_initial: float,
) -> tuple[Series, Series]:  # pragma: no cover - compiled
    """Peak-shaving loop: battery power (load-positive) and state of charge at the end of each step."""
    n = net.shape[0]
    p_kw = np.zeros(n)
    soc = np.zeros(n)
    energy = soc_initial * capacity
    for t in range(n):
        p = _peak_shaving_power(
            net[t], energy, capacity, p_max, import_limit, export_limit, target, dt_h, eta_c, eta_d, soc_min, soc_max
        )
        energy += p * eta_c * dt_h if p > 0 else p / eta_d * dt_h
        p_kw[t] = p
        soc[t] = energy / capacity
    return p_kw, soc
