"""Expected surplus for the next hours: clear-sky PV scaled by the measured clear-sky index.

A persistence-of-clearness forecast that uses only what is known now, never the field's own
future: the district's PV power now divided by its clear-sky PV power now gives the clear-sky
index; the next hours' PV is that index times their clear-sky PV (pvlib's Ineichen model with
the Linke turbidity that ships with pvlib, at Beucha); the load stays as it is now. The surplus
of an hour is the mean of max(0, -(load + PV)) over it.
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np
import pandas as pd
import pvlib

__all__ = ["BEUCHA", "clear_sky_ghi_w_m2", "expected_surplus_kw"]

#: Beucha (DESIGN.md section 1).
BEUCHA: Final[pvlib.location.Location] = pvlib.location.Location(51.324, 12.567, tz="UTC", altitude=129)
#: Below this clear-sky GHI the measured index is not trusted and ``night_index`` is used. [W/m2]
_MIN_GHI_W_M2: Final[float] = 50.0
_STEPS_PER_HOUR: Final[int] = 4
#: PVWatts' default 14 % system losses.
_PERFORMANCE_RATIO: Final[float] = 0.86


def clear_sky_ghi_w_m2(times: pd.DatetimeIndex, location: pvlib.location.Location = BEUCHA) -> np.ndarray:
    """Return clear-sky global horizontal irradiance at ``times`` (pvlib Ineichen), in W/m2."""
    return location.get_clearsky(times, model="ineichen")["ghi"].to_numpy(dtype=float)


def expected_surplus_kw(
    sim_time: pd.Timestamp,
    *,
    p_pv_kw: float,
    p_load_kw: float,
    p_peak_kw: float,
    hours: int = 6,
    night_index: float = 0.5,
    location: pvlib.location.Location = BEUCHA,
) -> tuple[tuple[float, ...], float]:
    """Return the expected surplus of each of the next hours and the clear-sky index used.

    Clear-sky PV of the district is ``p_peak_kw x GHI_clear / 1000 W/m2 x 0.86`` (PVWatts'
    14 % losses); the clear-sky index is measured PV / clear-sky PV now, clipped to 0-1.2, or
    ``night_index`` while clear-sky GHI is below 50 W/m2.

    Parameters
    ----------
    sim_time : pandas.Timestamp
        Now (simulated time; naive means UTC).
    p_pv_kw : float
        District PV power now, load-positive (generation < 0). [kW]
    p_load_kw : float
        District load now (> 0), held for the coming hours. [kW]
    p_peak_kw : float
        Installed PV peak power of the district. [kW]
    hours : int, optional
        Hours to forecast.
    night_index : float, optional
        Clear-sky index when the sun is too low to measure one (a climatological mean).
    location : pvlib.location.Location, optional
        Where (default Beucha).

    Returns
    -------
    tuple
        (expected surplus of each hour, the mean of 15-minute samples [kW]; the clear-sky index).
    """
    now = pd.Timestamp(sim_time)
    now = now.tz_localize("UTC") if now.tzinfo is None else now.tz_convert("UTC")
    offsets = pd.to_timedelta((np.arange(hours * _STEPS_PER_HOUR) + 0.5) / _STEPS_PER_HOUR, unit="h")
    times = pd.DatetimeIndex([now, *(now + offsets)])
    clear_pv_kw = p_peak_kw * clear_sky_ghi_w_m2(times, location) / 1000.0 * _PERFORMANCE_RATIO
    generation_kw = max(0.0, -p_pv_kw) if math.isfinite(p_pv_kw) else 0.0
    if clear_pv_kw[0] > 0 and clear_pv_kw[0] >= p_peak_kw * _MIN_GHI_W_M2 / 1000.0 * _PERFORMANCE_RATIO:
        index = min(1.2, generation_kw / clear_pv_kw[0])
    else:
        index = night_index
    load_kw = p_load_kw if math.isfinite(p_load_kw) else 0.0
    surplus = np.maximum(0.0, index * clear_pv_kw[1:] - load_kw).reshape(hours, _STEPS_PER_HOUR).mean(axis=1)
    return tuple(float(value) for value in surplus), float(index)
