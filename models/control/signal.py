"""The controller signal: SG-Ready's four states from surplus and grid stress, without flapping.

A pure state machine over simulated time; it knows no Modbus and no physics, only thresholds.
Its records (:class:`~twin.core.signal.SignalState`, :class:`~twin.core.signal.SignalReason`,
:class:`~twin.core.signal.GridStress`, :class:`~twin.core.signal.SignalStep`) are in the twin
core, where the controller server (:mod:`connectors.controller_server`) reads them; the live
twin gives the server this machine.

The rule (defaults of :class:`SignalConfig`; every threshold has an *enter* and a lower *leave*
value, a Schmitt trigger, so a value near a threshold cannot flip a condition back and forth):

1. **Grid stress from import** -> ``BLOCK`` (1): the substation imports and the highest
   transformer or line loading reaches 95 % (leaves below 85 %), or the lowest bus voltage falls
   to 0.93 p.u. (leaves above 0.95 p.u.).
2. **Grid stress from export** -> ``FORCED_ON`` (4): the substation exports and the highest
   transformer or line loading reaches 95 % (leaves below 85 %), or the highest bus voltage
   reaches 1.08 p.u. (leaves below 1.06 p.u.; the EN 50160 band ends at 1.10).
3. **Surplus** -> ``RECOMMENDED_ON`` (3): the surplus available now reaches 50 kW (leaves below
   20 kW).
4. Otherwise ``NORMAL`` (2).

The first condition that holds wins. A new state takes over only after the current one has held
for the minimum dwell time, **300 simulated seconds** (5 minutes), with two exceptions that act at
once: entering ``BLOCK`` (grid protection does not wait), and stale data. **Stale data** (no
snapshot update for 10 s of wall-clock time, judged by the caller) puts the signal to ``NORMAL``
at once and resets every condition; when fresh data returns the machine starts again from
``NORMAL`` with the dwell time counted from that moment. If simulated time goes backwards (the
field restarted), the dwell time counts from the new time.

The section 14a EnWG limit follows the signal: while ``BLOCK`` holds because of grid stress,
each controllable device is limited to 4.2 kW (the minimum the determination BK6-22-300 guarantees
one device, annex 1 no. 4.5.1; :mod:`models.control.section_14a` holds the rules for several
devices and for large heat pumps); otherwise to :attr:`SignalConfig.p_limit_free_kw`. It is never
below 4.2 kW.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from models.control.section_14a import P_LIMIT_14A_MIN_KW
from twin.core.signal import GridStress, SignalReason, SignalState, SignalStep

__all__ = [
    "P_LIMIT_14A_MIN_KW",
    "GridStress",
    "SignalConfig",
    "SignalMachine",
    "SignalReason",
    "SignalState",
    "SignalStep",
    "limit_14a_kw",
]


@dataclass(frozen=True)
class SignalConfig:
    """Thresholds of the signal rule (see the module docstring); enter > leave for each.

    Parameters
    ----------
    surplus_enter_kw, surplus_leave_kw : float
        Surplus that starts and ends ``RECOMMENDED_ON``. [kW]
    loading_enter_percent, loading_leave_percent : float
        Transformer or line loading that starts and ends grid stress. [%]
    vm_low_enter_pu, vm_low_leave_pu : float
        Undervoltage band (enter at or below, leave above). [p.u.]
    vm_high_enter_pu, vm_high_leave_pu : float
        Overvoltage band (enter at or above, leave below). [p.u.]
    min_dwell_s : float
        Simulated time a state holds before another may follow (at least 300). [s]
    stale_after_s : float
        Wall-clock time without a snapshot update after which data is stale (used by the caller). [s]
    p_limit_free_kw : float
        Section 14a limit when not dimmed. [kW]
    """

    surplus_enter_kw: float = 50.0
    surplus_leave_kw: float = 20.0
    loading_enter_percent: float = 95.0
    loading_leave_percent: float = 85.0
    vm_low_enter_pu: float = 0.93
    vm_low_leave_pu: float = 0.95
    vm_high_enter_pu: float = 1.08
    vm_high_leave_pu: float = 1.06
    min_dwell_s: float = 300.0
    stale_after_s: float = 10.0
    p_limit_free_kw: float = 100.0

    def __post_init__(self) -> None:
        if self.min_dwell_s < 300.0:
            raise ValueError(f"min_dwell_s = {self.min_dwell_s} s; at least 300 simulated seconds")
        for enter, leave, name in (
            (self.surplus_enter_kw, self.surplus_leave_kw, "surplus"),
            (self.loading_enter_percent, self.loading_leave_percent, "loading"),
            (self.vm_high_enter_pu, self.vm_high_leave_pu, "vm_high"),
            (self.vm_low_leave_pu, self.vm_low_enter_pu, "vm_low (leave > enter)"),
        ):
            if not enter > leave:
                raise ValueError(f"{name}: the enter threshold {enter} must lie beyond the leave threshold {leave}")
        if self.p_limit_free_kw < P_LIMIT_14A_MIN_KW:
            raise ValueError(f"p_limit_free_kw = {self.p_limit_free_kw} kW; at least {P_LIMIT_14A_MIN_KW}")
        if self.stale_after_s <= 0:
            raise ValueError(f"stale_after_s = {self.stale_after_s}; must be > 0")


@dataclass
class SignalMachine:
    """The signal's state with hysteresis and minimum dwell time; feed it with :meth:`update`.

    Parameters
    ----------
    config : SignalConfig, optional
        Thresholds.

    Examples
    --------
    >>> machine = SignalMachine()
    >>> machine.update(0.0, p_surplus_kw=80.0, stress=GridStress()).state
    <SignalState.NORMAL: 2>
    >>> machine.update(300.0, p_surplus_kw=80.0, stress=GridStress()).state
    <SignalState.RECOMMENDED_ON: 3>
    """

    config: SignalConfig = field(default_factory=SignalConfig)
    state: SignalState = SignalState.NORMAL
    since_s: float | None = None
    reasons: SignalReason = SignalReason.NONE

    @property
    def stale_after_s(self) -> float:
        """Return the wall-clock time [s] without a snapshot update after which the data is stale."""
        return self.config.stale_after_s

    def update(self, sim_time_s: float, *, p_surplus_kw: float, stress: GridStress, stale: bool = False) -> SignalStep:
        """Advance to ``sim_time_s`` with the latest inputs and return the signal.

        Parameters
        ----------
        sim_time_s : float
            Simulated time of the inputs. [s]
        p_surplus_kw : float
            Surplus available now, >= 0 (NaN counts as none). [kW]
        stress : GridStress
            Grid-stress inputs.
        stale : bool, optional
            The data is stale: fall back to ``NORMAL`` at once.

        Returns
        -------
        SignalStep
            State, reasons, entry time and section 14a limit.
        """
        if stale:
            self.reasons = SignalReason.STALE
            if self.state is not SignalState.NORMAL or self.since_s is None:
                self.state, self.since_s = SignalState.NORMAL, sim_time_s
            return self._step()
        if self.reasons & SignalReason.STALE:
            # fresh data again: start over from normal, the dwell counted from now
            self.reasons, self.state, self.since_s = SignalReason.NONE, SignalState.NORMAL, sim_time_s
        if self.since_s is None or sim_time_s < self.since_s:
            self.since_s = sim_time_s
        self.reasons = self._conditions(p_surplus_kw, stress)
        target = _target(self.reasons, stress)
        if target is not self.state:
            dwelt = sim_time_s - self.since_s >= self.config.min_dwell_s
            if dwelt or target is SignalState.BLOCK:
                self.state, self.since_s = target, sim_time_s
        return self._step()

    def _step(self) -> SignalStep:
        assert self.since_s is not None
        return SignalStep(self.state, self.reasons, self.since_s, limit_14a_kw(self.state, self.reasons, self.config))

    def _conditions(self, p_surplus_kw: float, stress: GridStress) -> SignalReason:
        c = self.config
        held = self.reasons
        reasons = SignalReason.NONE
        loading = (c.loading_enter_percent, c.loading_leave_percent)
        for flag, value, enter, leave in (
            (SignalReason.SURPLUS, p_surplus_kw, c.surplus_enter_kw, c.surplus_leave_kw),
            (SignalReason.TRANSFORMER, stress.trafo_loading_max_percent, *loading),
            (SignalReason.LINE, stress.line_loading_max_percent, *loading),
            (SignalReason.OVERVOLTAGE, stress.vm_max_pu, c.vm_high_enter_pu, c.vm_high_leave_pu),
            (SignalReason.UNDERVOLTAGE, -stress.vm_min_pu, -c.vm_low_enter_pu, -c.vm_low_leave_pu),
        ):
            if _above(value, leave if flag & held else enter, strict=bool(flag & held)):
                reasons |= flag
        return reasons


def limit_14a_kw(state: SignalState, reasons: SignalReason, config: SignalConfig | None = None) -> float:
    """Return the section 14a EnWG power limit per controllable device.

    Parameters
    ----------
    state : SignalState
        The signal in force.
    reasons : SignalReason
        Why.
    config : SignalConfig, optional
        Gives the limit when not dimmed.

    Returns
    -------
    float
        4.2 kW while ``BLOCK`` holds because of grid stress, else ``config.p_limit_free_kw``;
        never below 4.2 kW. [kW]
    """
    config = config or SignalConfig()
    grid = SignalReason.TRANSFORMER | SignalReason.LINE | SignalReason.UNDERVOLTAGE
    if state is SignalState.BLOCK and reasons & grid:
        return P_LIMIT_14A_MIN_KW
    return max(P_LIMIT_14A_MIN_KW, config.p_limit_free_kw)


def _above(value: float, threshold: float, *, strict: bool) -> bool:
    """``value`` beyond a threshold: enter at ``>=``, stay while ``>`` the leave value; NaN never."""
    if math.isnan(value):
        return False
    return value > threshold if strict else value >= threshold


def _target(reasons: SignalReason, stress: GridStress) -> SignalState:
    loading = reasons & (SignalReason.TRANSFORMER | SignalReason.LINE)
    exporting = stress.p_grid_kw < 0
    if reasons & SignalReason.UNDERVOLTAGE or (loading and not exporting):
        return SignalState.BLOCK
    if reasons & SignalReason.OVERVOLTAGE or (loading and exporting):
        return SignalState.FORCED_ON
    if reasons & SignalReason.SURPLUS:
        return SignalState.RECOMMENDED_ON
    return SignalState.NORMAL
