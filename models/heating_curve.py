"""Heating curves: the flow temperature a building's emitters need at an outside temperature.

An emitter (radiator, floor heating) gives off heat in proportion to the excess of its
mean water temperature over the room to the power of its exponent ``n``; the building
loses heat in proportion to ``T_room - T_out``. At the norm outside temperature the
flow reaches the design flow temperature; at milder weather the relative load
``phi = (T_room - T_out) / (T_room - T_norm)`` needs the mean excess ``dT_design *
phi ** (1 / n)`` and half the spread ``phi * spread / 2`` on top. The controller does
not go below a minimum flow (the heat pump's lowest useful flow, the room needs a
margin): about 30 degC for radiators, 25 degC for floor heating.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from twin.core.errors import ConfigError

__all__ = [
    "EMITTERS",
    "FLOOR_HEATING_FROM_YEAR",
    "NORM_OUTSIDE_TEMP_DEGC",
    "Emitter",
    "design_flow_temp_degc",
    "emitter_of",
    "heating_curve_flow_temp_degc",
]

#: Norm outside temperature of Leipzig (DIN/TS 12831-1 climate data), the design point. [degC]
NORM_OUTSIDE_TEMP_DEGC: Final[float] = -14.0

#: Room temperature the curves are laid out for (DIN EN 12831). [degC]
ROOM_TEMP_DEGC: Final[float] = 20.0

#: Buildings from this construction year on have floor heating, older ones radiators
#: (floor heating became the rule in German new single-family houses around 2000; assumption).
FLOOR_HEATING_FROM_YEAR: Final[int] = 2000


@dataclass(frozen=True)
class Emitter:
    """A kind of heat emitter and its heating curves.

    Parameters
    ----------
    name : str
        ``"radiator"`` or ``"floor"``.
    design_flow_degc : dict of str to float
        Flow temperature at the norm outside temperature by TABULA retrofit state. [degC]
    spread_k : float
        Flow minus return at the design point. [K]
    exponent : float
        Emitter exponent ``n`` (EN 442: radiators ~1.3, floor heating ~1.1). [1]
    min_flow_degc : float
        Lowest flow the controller sets. [degC]
    """

    name: str
    design_flow_degc: dict[str, float]
    spread_k: float
    exponent: float
    min_flow_degc: float


#: The emitters. Radiators of an unrefurbished house are run at 55 degC flow at the norm
#: temperature (the usual layout for heat pumps in existing homes; 70 degC and more
#: before); a refurbishment leaves the radiators and lowers the load, so the same
#: radiators need 50 degC (usual) or 45 degC (advanced). Floor heating: 35 degC.
EMITTERS: Final[dict[str, Emitter]] = {
    "radiator": Emitter(
        "radiator",
        {"existing": 55.0, "usual_refurbishment": 50.0, "advanced_refurbishment": 45.0},
        spread_k=10.0,
        exponent=1.3,
        min_flow_degc=30.0,
    ),
    "floor": Emitter(
        "floor",
        {"existing": 35.0, "usual_refurbishment": 35.0, "advanced_refurbishment": 35.0},
        spread_k=7.0,
        exponent=1.1,
        min_flow_degc=25.0,
    ),
}


def emitter_of(construction_year: int) -> str:
    """The emitter a building of that construction year has (:data:`FLOOR_HEATING_FROM_YEAR`)."""
    return "floor" if construction_year >= FLOOR_HEATING_FROM_YEAR else "radiator"


def design_flow_temp_degc(emitters: Sequence[str], retrofits: Sequence[str]) -> npt.NDArray[np.float64]:
    """Design flow temperature per building from its emitter and retrofit state.

    Raises
    ------
    ConfigError
        For an unknown emitter or retrofit state.
    """
    values = []
    for emitter, retrofit in zip(emitters, retrofits, strict=True):
        if emitter not in EMITTERS:
            raise ConfigError(f"unknown emitter {emitter!r}", field="emitter", allowed=", ".join(EMITTERS))
        table = EMITTERS[emitter].design_flow_degc
        if retrofit not in table:
            raise ConfigError(f"unknown retrofit state {retrofit!r}", field="retrofit", allowed=", ".join(table))
        values.append(table[retrofit])
    return np.asarray(values, dtype=float)


def heating_curve_flow_temp_degc(
    temp_air_degc: npt.ArrayLike,
    design_flow_degc: float,
    *,
    emitter: str = "radiator",
    norm_outside_temp_degc: float = NORM_OUTSIDE_TEMP_DEGC,
    room_temp_degc: float = ROOM_TEMP_DEGC,
) -> npt.NDArray[np.float64]:
    """Flow temperature of a heating curve.

    Parameters
    ----------
    temp_air_degc : array_like
        Outside air temperature. [degC]
    design_flow_degc : float
        Flow temperature at the norm outside temperature. [degC]
    emitter : str, default "radiator"
        Key of :data:`EMITTERS` (exponent, spread, minimum flow).
    norm_outside_temp_degc : float, default -14
        Design outside temperature. [degC]
    room_temp_degc : float, default 20
        Room temperature. [degC]

    Returns
    -------
    flow_temp_degc : numpy.ndarray
        ``T_room + (T_design_mean - T_room) * phi ** (1/n) + spread / 2 * phi``, with
        ``phi`` the relative load clipped to [0, 1] (held below the norm temperature),
        at least the emitter's minimum flow. [degC]
    """
    spec = EMITTERS[emitter]
    temp = np.asarray(temp_air_degc, dtype=float)
    phi = np.clip((room_temp_degc - temp) / (room_temp_degc - norm_outside_temp_degc), 0.0, 1.0)
    mean_excess_k = design_flow_degc - spec.spread_k / 2.0 - room_temp_degc
    flow = room_temp_degc + mean_excess_k * phi ** (1.0 / spec.exponent) + spec.spread_k / 2.0 * phi
    return np.asarray(np.maximum(flow, spec.min_flow_degc), dtype=float)
