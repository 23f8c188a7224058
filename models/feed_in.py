"""The feed-in limit: curtail PV so a building (or the district) exports at most a share of its kWp.

German practice for PV without a controllable connection (EEG 2023 section 9, formerly
the 70 % rule): the exchange with the grid may not exceed ``frac`` x the installed
peak power. Curtailment takes the excess off the group's PV systems in proportion to
what each produces; loads, batteries and all else stay as they are. One compiled loop
over time.
"""

from __future__ import annotations

import numba
import numpy as np
import xarray as xr

from twin.core.errors import ConfigError

__all__ = ["limit_feed_in"]


def limit_feed_in(assets: xr.Dataset, frac: float, *, per_building: bool) -> tuple[np.ndarray, np.ndarray]:
    """Curtail PV so no building (or the district as a whole) exports more than ``frac`` x its kWp.

    Parameters
    ----------
    assets : xarray.Dataset
        Assets dataset (``time`` x ``asset``) with ``p_kw``, ``kind``, ``building`` and ``p_peak_kw``.
    frac : float
        Highest export as a share of the group's installed PV peak power. [1]
    per_building : bool
        Limit each building's export (True) or the district's as a whole (False).

    Returns
    -------
    p_kw : numpy.ndarray
        The limited power (time x asset), load-positive. [kW]
    curtailed_kw : numpy.ndarray
        Curtailed power per step (>= 0: what PV no longer feeds in). [kW]

    Raises
    ------
    ConfigError
        If ``frac`` is negative.
    """
    if not frac >= 0:
        raise ConfigError(f"feed-in limit must be >= 0, got {frac}", field="frac")
    p_kw = assets["p_kw"].values
    is_pv = assets["kind"].values == "pv"
    if not is_pv.any():
        return p_kw, np.zeros(p_kw.shape[0])
    if per_building:
        _, group = np.unique(assets["building"].values.astype(str), return_inverse=True)
    else:
        group = np.zeros(p_kw.shape[1], dtype=np.int64)
    group = group.astype(np.int64)
    kwp = np.bincount(
        group[is_pv], weights=np.nan_to_num(assets["p_peak_kw"].values[is_pv]), minlength=int(group.max()) + 1
    )
    return _limit_feed_in_loop(np.ascontiguousarray(p_kw), group, is_pv, kwp, frac)


@numba.njit(cache=True)
def _limit_feed_in_loop(
    p_kw: np.ndarray, group: np.ndarray, is_pv: np.ndarray, kwp: np.ndarray, frac: float
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """Per step: each group's export beyond ``frac * kWp`` is taken off its PV in proportion."""
    n_steps, n_assets = p_kw.shape
    limited = p_kw.copy()
    curtailed = np.zeros(n_steps)
    net = np.zeros(len(kwp))
    generation = np.zeros(len(kwp))
    for t in range(n_steps):
        net[:] = 0.0
        generation[:] = 0.0
        for a in range(n_assets):
            p = float(p_kw[t, a])
            net[group[a]] += p
            if is_pv[a] and p < 0.0:
                generation[group[a]] -= p
        for a in range(n_assets):
            g = group[a]
            p = float(p_kw[t, a])
            if not is_pv[a] or p >= 0.0 or generation[g] <= 0.0:
                continue
            excess = -net[g] - frac * kwp[g]
            if excess > 0.0:
                limited[t, a] = p * (1.0 - min(excess / generation[g], 1.0))
                curtailed[t] += float(limited[t, a]) - p
    return limited, curtailed
