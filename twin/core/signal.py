"""The controller signal's vocabulary: SG-Ready states, the reasons, the inputs and the outcome.

The records the signal's state machine (:mod:`models.control.signal`) reads and writes and
the controller server (:mod:`connectors.controller_server`) encodes: the four SG-Ready
operating states (the register values), the reasons as bit flags, the grid-stress inputs of
the latest power flow and the signal after one update.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum, IntFlag

__all__ = ["GridStress", "SignalReason", "SignalState", "SignalStep"]


class SignalState(IntEnum):
    """SG-Ready operating states (the register value)."""

    BLOCK = 1
    NORMAL = 2
    RECOMMENDED_ON = 3
    FORCED_ON = 4


class SignalReason(IntFlag):
    """Why the signal is what it is (the ``signal_reasons`` register's bits)."""

    NONE = 0
    SURPLUS = 1
    TRANSFORMER = 2
    LINE = 4
    UNDERVOLTAGE = 8
    OVERVOLTAGE = 16
    STALE = 32


@dataclass(frozen=True)
class GridStress:
    """Grid-stress inputs from the latest power flow (NaN: not known, counts as no stress).

    Parameters
    ----------
    trafo_loading_max_percent : float
        Highest transformer loading. [%]
    line_loading_max_percent : float
        Highest line loading. [%]
    vm_min_pu, vm_max_pu : float
        Lowest and highest bus voltage. [p.u.]
    p_grid_kw : float
        Exchange at the substation, import > 0 (tells import stress from export stress). [kW]
    """

    trafo_loading_max_percent: float = math.nan
    line_loading_max_percent: float = math.nan
    vm_min_pu: float = math.nan
    vm_max_pu: float = math.nan
    p_grid_kw: float = 0.0


@dataclass(frozen=True)
class SignalStep:
    """The signal after one update.

    Parameters
    ----------
    state : SignalState
        The state in force.
    reasons : SignalReason
        The conditions that hold (after hysteresis), or ``STALE``.
    since_s : float
        Simulated time the state was entered. [s]
    p_limit_14a_kw : float
        Section 14a limit per controllable device. [kW]
    """

    state: SignalState
    reasons: SignalReason
    since_s: float
    p_limit_14a_kw: float
