"""COP of air/water heat pumps across the whole temperature range, checked against datasheet points.

The COP is a share of the Carnot COP of the lift between the air (source) and the
flow (sink) temperature, ``COP = eta(lift) * T_flow / lift`` (temperatures in kelvin),
with a quality grade ``eta`` that falls linearly with the lift (compressors lose
efficiency at high pressure ratios), times a defrost factor for humid air around
0 degC. The two coefficients of ``eta`` are fitted to EN 14511 test points of a
common air/water unit (:data:`DATASHEET_POINTS`); unlike hplib's generic model,
whose linear fit reaches COP 1 at about -8 degC and 55 degC flow, it stays valid
down to the units' operating limit (-20 degC and below).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = [
    "DATASHEET_POINTS",
    "DATASHEET_SOURCE",
    "DEFAULT_RH_FRAC",
    "EN14511_RH_FRAC",
    "CopParameters",
    "cop",
    "defrost_factor",
]

#: Where the datasheet points come from: EN 14511 COPs of the Daikin Altherma 3 R
#: monobloc EPRA08EAV3 (8 kW) and split ERLA11DAV3 (11 kW), as collected from
#: Daikin's datasheets in the daikin_cycle_ml project.
DATASHEET_SOURCE: Final[str] = (
    "Daikin Altherma 3 R EPRA08EAV3 / ERLA11DAV3, EN 14511 datasheet COPs, collected in "
    "https://github.com/elRadix/daikin_cycle_ml/blob/0c7a7879150b236f00b50ca025cb93e9347b9eb0/"
    "custom_components/daikin_cycle_ml/data/datasheets.json"
)

#: EN 14511 test points ``(temp_air_degc, flow_temp_degc): (cop EPRA08EAV3, cop ERLA11DAV3)``
#: of :data:`DATASHEET_SOURCE`. The A2 point includes the unit's defrost cycles.
DATASHEET_POINTS: Final[dict[tuple[float, float], tuple[float, float]]] = {
    (7.0, 35.0): (4.92, 4.83),
    (2.0, 35.0): (4.08, 3.65),
    (-7.0, 35.0): (3.04, 2.92),
    (7.0, 55.0): (2.94, 2.94),
    (-7.0, 55.0): (2.05, 1.82),
}

#: Relative humidity of the EN 14511 A2 test (dry bulb 2 degC, wet bulb 1 degC). [1]
EN14511_RH_FRAC: Final[float] = 0.84

_KELVIN: Final[float] = 273.15


@dataclass(frozen=True)
class CopParameters:
    """Coefficients of the Carnot-share COP model.

    Parameters
    ----------
    eta_at_zero_lift_frac : float, default 0.505
        Quality grade extrapolated to zero lift. [1]
    eta_per_lift_k : float, default 0.00209
        Fall of the quality grade per kelvin of lift. The two coefficients are the
        least-squares fit of ``eta = COP * lift / T_flow`` at the four test points
        without defrost (A7/W35, A-7/W35, A7/W55, A-7/W55; mean of the two units of
        :data:`DATASHEET_POINTS`). [K-1]
    min_lift_k : float, default 20
        The lift is taken as at least this much: at small lifts fans, pumps and
        controls dominate and datasheet COPs stay below ~7 (assumption). [K]
    defrost_max_frac : float, default 0.10
        Largest COP loss from defrosting, at +1 degC outside and saturated air
        (field measurements of air/water units show 5-15 % around 0 degC; assumption
        within that range). [1]
    defrost_half_width_k : float, default 6
        The defrost loss falls linearly to zero 6 K either side of +1 degC, so frost
        forms from -5 to +7 degC (colder air holds too little water). [K]
    defrost_rh_from_frac : float, default 0.6
        Relative humidity below which no frost forms; the loss grows linearly to its
        maximum at 90 %. [1]
    """

    eta_at_zero_lift_frac: float = 0.505
    eta_per_lift_k: float = 0.00209
    min_lift_k: float = 20.0
    defrost_max_frac: float = 0.10
    defrost_half_width_k: float = 6.0
    defrost_rh_from_frac: float = 0.6


#: Relative humidity assumed where the weather has none: winter air in central Germany
#: around 0 degC is mostly at 80-90 % (DWD climate normals, Leipzig). [1]
DEFAULT_RH_FRAC: Final[float] = 0.85


def defrost_factor(
    temp_air_degc: npt.ArrayLike,
    rh_frac: npt.ArrayLike = DEFAULT_RH_FRAC,
    *,
    params: CopParameters | None = None,
) -> npt.NDArray[np.float64]:
    """Share of the COP left after defrosting the outdoor coil.

    Parameters
    ----------
    temp_air_degc : array_like
        Outside air temperature. [degC]
    rh_frac : array_like, default 0.85
        Relative humidity of the outside air. [1]
    params : CopParameters, optional
        Defrost coefficients.

    Returns
    -------
    factor : numpy.ndarray
        ``1 - max_frac * tri(T) * humid(rh)``, 1 outside -5..+7 degC or in dry air. [1]
    """
    params = params or CopParameters()
    temp = np.asarray(temp_air_degc, dtype=float)
    tri = np.clip(1.0 - np.abs(temp - 1.0) / params.defrost_half_width_k, 0.0, 1.0)
    humid = np.clip((np.asarray(rh_frac, dtype=float) - params.defrost_rh_from_frac) / 0.3, 0.0, 1.0)
    return np.asarray(1.0 - params.defrost_max_frac * tri * humid, dtype=float)


def cop(
    t_source_degc: npt.ArrayLike,
    t_flow_degc: npt.ArrayLike,
    *,
    rh_frac: npt.ArrayLike = DEFAULT_RH_FRAC,
    params: CopParameters | None = None,
) -> npt.NDArray[np.float64]:
    """COP of an air/water heat pump at full load, defrost included.

    Parameters
    ----------
    t_source_degc : array_like
        Outside air temperature. [degC]
    t_flow_degc : array_like
        Flow (supply) temperature, broadcast against ``t_source_degc``. [degC]
    rh_frac : array_like, default 0.85
        Relative humidity of the outside air (for defrost). [1]
    params : CopParameters, optional
        Model coefficients.

    Returns
    -------
    cop : numpy.ndarray
        ``eta(lift) * T_flow / lift * defrost_factor``, with ``lift = max(T_flow -
        T_air, min_lift_k)`` and ``eta = eta_at_zero_lift - eta_per_lift * lift``;
        at least 1. [1]

    Notes
    -----
    Against :data:`DATASHEET_POINTS`: A7/W35 4.92 (datasheets 4.92/4.83), A2/W35 3.80
    at the test's 84 % humidity (4.08/3.65), A-7/W35 3.06 (3.04/2.92), A7/W55 2.77
    (2.94/2.94), A-7/W55 1.99 (2.05/1.82); A-10/W55 1.86, A-20/W55 1.52.
    """
    params = params or CopParameters()
    t_flow_k = np.asarray(t_flow_degc, dtype=float) + _KELVIN
    t_air_k = np.asarray(t_source_degc, dtype=float) + _KELVIN
    lift_k = np.maximum(t_flow_k - t_air_k, params.min_lift_k)
    eta = params.eta_at_zero_lift_frac - params.eta_per_lift_k * lift_k
    value = eta * t_flow_k / lift_k * defrost_factor(t_source_degc, rh_frac, params=params)
    return np.asarray(np.maximum(value, 1.0), dtype=float)
