"""Points a simulated SunSpec device derives from its live values (the mandatory points).

Certified SunSpec devices implement every mandatory point of their models: per-phase
currents and voltages, temperatures, event bits, an operating state. A register map names
the points its device derives and by which rule (``derived:`` in the map file); the device
computes them from its power, its phase voltage and its capacity whenever those change, so
that they stay consistent with what it serves (a balanced three-phase connection).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final, Literal

__all__ = ["DERIVED_RULES", "DerivedInputs", "DerivedRule", "derived_value"]

DerivedRule = Literal[
    "ac_current_a",
    "phase_current_a",
    "phase_voltage_v",
    "line_voltage_v",
    "operating_state",
    "dc_power_w",
    "dc_current_a",
    "charge_capacity_ah",
]

#: Every rule a map may name under ``derived:``.
DERIVED_RULES: Final[tuple[str, ...]] = DerivedRule.__args__  # type: ignore[attr-defined]

#: Phase voltage served while the device has no measured one. [V]
V_PHASE_NOMINAL_V: Final[float] = 230.0

#: SunSpec 103 operating states: producing (MPPT) and standby.
STATE_PRODUCING: Final[int] = 4
STATE_STANDBY: Final[int] = 8

#: Below this power an inverter reports standby. [kW]
STANDBY_BELOW_KW: Final[float] = 0.001


@dataclass(frozen=True)
class DerivedInputs:
    """What the derived points follow.

    Attributes
    ----------
    p_kw : float
        The device's active power, load-positive (the twin's sign). [kW]
    v_phase_v : float
        Phase-to-neutral AC voltage. [V]
    v_dc_v : float or None
        DC bus voltage of a battery bank, where the map serves one. [V]
    capacity_kwh : float or None
        Usable energy of a battery, where the map serves it. [kWh]
    """

    p_kw: float
    v_phase_v: float = V_PHASE_NOMINAL_V
    v_dc_v: float | None = None
    capacity_kwh: float | None = None


def derived_value(rule: str, inputs: DerivedInputs) -> float | None:
    """The value of a derived point in its own unit, or None where it cannot be derived.

    Parameters
    ----------
    rule : str
        One of :data:`DERIVED_RULES`.
    inputs : DerivedInputs
        The device's present values.

    Returns
    -------
    float or None
        Currents [A] and voltages [V] of a balanced three-phase connection; DC power [W]
        and current [A] positive when the bank discharges (SunSpec 802); the charge
        capacity [A h]; the operating state (SunSpec 103 enumeration).
    """
    p_w = inputs.p_kw * 1000.0
    v = inputs.v_phase_v if inputs.v_phase_v > 0 else V_PHASE_NOMINAL_V
    if rule == "ac_current_a":
        return abs(p_w) / v
    if rule == "phase_current_a":
        return abs(p_w) / (3.0 * v)
    if rule == "phase_voltage_v":
        return v
    if rule == "line_voltage_v":
        return v * math.sqrt(3.0)
    if rule == "operating_state":
        return float(STATE_PRODUCING if abs(inputs.p_kw) >= STANDBY_BELOW_KW else STATE_STANDBY)
    if rule == "dc_power_w":
        return -p_w
    if rule in ("dc_current_a", "charge_capacity_ah"):
        if not inputs.v_dc_v:
            return None
        if rule == "dc_current_a":
            return -p_w / inputs.v_dc_v
        return None if inputs.capacity_kwh is None else inputs.capacity_kwh * 1000.0 / inputs.v_dc_v
    raise ValueError(f"unknown derived-point rule {rule!r}; allowed: {', '.join(DERIVED_RULES)}")
