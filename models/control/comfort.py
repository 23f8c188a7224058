"""Is the controlled year acceptable for the occupants? The comfort verdict of a run's heat-pump buildings.

Each building's indoor temperature is its store's (:mod:`models.control.thermal`): the set point
the heat demand assumes, 20 degC (:data:`SET_POINT_DEGC`), plus the store's
deviation ``dT``. It is rated by the indoor environment categories of **EN 16798-1:2019** (Annex B,
default design values of the operative temperature for residential buildings, living spaces, in
the heating season: sedentary, about 1.2 met and 1.0 clo). Lowest operative temperature of each
category (:data:`CATEGORY_MIN_DEGC`):

======== ========== ==================================================
category lowest     EN 16798-1's meaning
======== ========== ==================================================
I        21 degC    high expectation
II       20 degC    normal expectation (the set point)
III      18 degC    moderate expectation
IV       17 degC    values outside I-III, for a limited part of the year
======== ========== ==================================================

**The verdict** (:func:`comfort_kpis`, a rule of this project stated on the standard's figures):
a run is acceptable for the occupants when no building falls below category IV's 17 degC (3 K
under the set point) at any time, and none spends more than :data:`ALLOWED_BELOW_BOUND_H` (a day
in the whole run) below category III's 18 degC, the moderate expectation (2 K under the set point).
A control that keeps its own comfort bound (``comfort_low_k``, default 1 K under the set point;
any bound of -2 K or above keeps category III) passes; section 14a dimming does not keep it (a
dimmed heat pump does not override its limit, BK6-22-300), so a grid held by dimming can fail.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import numpy as np
import numpy.typing as npt

__all__ = [
    "ALLOWED_BELOW_BOUND_H",
    "BOUND_CATEGORY",
    "CATEGORY_MIN_DEGC",
    "OUTSIDE",
    "SET_POINT_DEGC",
    "category_of",
    "comfort_kpis",
    "comfort_warning",
]

#: Indoor set point the heat demand assumes (DIN EN 12831-1, living rooms): category II's lowest. [degC]
SET_POINT_DEGC: Final[float] = 20.0
#: Lowest operative temperature of each category, residential living spaces, heating season
#: (EN 16798-1:2019, Annex B). [degC]
CATEGORY_MIN_DEGC: Final[dict[str, float]] = {"I": 21.0, "II": 20.0, "III": 18.0, "IV": 17.0}
#: The category a controlled run must keep: III, the moderate expectation.
BOUND_CATEGORY: Final[str] = "III"
#: Most hours a building may spend below :data:`BOUND_CATEGORY` in a run (this project's rule). [h]
ALLOWED_BELOW_BOUND_H: Final[float] = 24.0
#: The category of a temperature below category IV's.
OUTSIDE: Final[str] = "below IV"


def category_of(temp_degc: float) -> str:
    """Return the best EN 16798-1 category whose lowest operative temperature ``temp_degc`` [degC] keeps.

    ``"below IV"`` under 17 degC.
    """
    for name, low in CATEGORY_MIN_DEGC.items():
        if temp_degc >= low - 1e-9:
            return name
    return OUTSIDE


def comfort_kpis(dt_k: npt.NDArray[np.float64], buildings: Sequence[str], step_h: float) -> dict[str, Any]:
    """Return the comfort verdict of a run as KPIs (module docstring).

    Parameters
    ----------
    dt_k : numpy.ndarray, shape (time, heat pump)
        Each store's indoor temperature against the set point after each step. [K]
    buildings : sequence of str
        The building of each store.
    step_h : float
        Step length. [h]

    Returns
    -------
    dict
        ``control_comfort_ok`` (bool), ``control_comfort_category`` (the category of the coldest
        temperature any building reached), ``control_comfort_coldest_building`` (``""``: no store),
        ``control_comfort_coldest_degc``, ``control_comfort_coldest_below_bound_h`` (that building's
        hours below category III) and ``control_comfort_below_bound_max_h`` (the most hours any
        building spent below it).
    """
    bound_k = CATEGORY_MIN_DEGC[BOUND_CATEGORY] - SET_POINT_DEGC
    floor_k = CATEGORY_MIN_DEGC["IV"] - SET_POINT_DEGC
    coldest_k, name, coldest_h, max_h = 0.0, "", 0.0, 0.0
    if dt_k.size:
        lowest = dt_k.min(axis=0)
        below_h = np.count_nonzero(dt_k < bound_k - 1e-9, axis=0) * step_h
        worst = int(np.argmin(lowest))
        if lowest[worst] < 0.0:  # a building cooled below its set point
            coldest_k, name = float(lowest[worst]), str(buildings[worst])
        coldest_h, max_h = float(below_h[worst]), float(below_h.max())
    coldest_degc = SET_POINT_DEGC + coldest_k
    return {
        "control_comfort_ok": bool(coldest_k >= floor_k - 1e-9 and max_h <= ALLOWED_BELOW_BOUND_H),
        "control_comfort_category": category_of(coldest_degc),
        "control_comfort_coldest_building": name,
        "control_comfort_coldest_degc": coldest_degc,
        "control_comfort_coldest_below_bound_h": coldest_h,
        "control_comfort_below_bound_max_h": max_h,
    }


def comfort_warning(kpis: Mapping[str, Any]) -> str | None:
    """Return the one-line warning of a run that fails the comfort verdict (None: it passes or has none)."""
    if kpis.get("control_comfort_ok", True) is not False:
        return None
    coldest = float(kpis["control_comfort_coldest_degc"])
    bound = CATEGORY_MIN_DEGC[BOUND_CATEGORY]
    text = (
        f"{kpis.get('scenario', '')}: indoor comfort below EN 16798-1 category {BOUND_CATEGORY}: "
        f"building {kpis['control_comfort_coldest_building']} down to {coldest:.1f} degC "
        f"({SET_POINT_DEGC - coldest:.1f} K below its {SET_POINT_DEGC:g} degC set point, category "
        f"{kpis['control_comfort_category']}), {float(kpis['control_comfort_coldest_below_bound_h']):,.1f} h "
        f"below {bound:g} degC"
    )
    most = float(kpis["control_comfort_below_bound_max_h"])
    if most > float(kpis["control_comfort_coldest_below_bound_h"]):
        text += f" (the most in one building: {most:,.1f} h)"
    return text
