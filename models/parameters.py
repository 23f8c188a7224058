"""Per-asset parameters given as numbers or as names from a documented table."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from twin.core.errors import ConfigError

__all__ = ["per_asset_values"]


def per_asset_values(
    values: npt.ArrayLike | str | Sequence[str],
    table: Mapping[str, float],
    *,
    n_assets: int,
    field: str,
    what: str,
) -> npt.NDArray[np.float64]:
    """Return one number per asset from numbers or names.

    Parameters
    ----------
    values : array_like, str or sequence of str
        One value for all assets or one per asset; a string is looked up in ``table``.
    table : mapping of str to float
        The documented values by name.
    n_assets : int
        Number of assets.
    field : str
        Field name for error messages.
    what : str
        What a name denotes, for error messages (e.g. ``"retrofit state"``).

    Returns
    -------
    numbers : numpy.ndarray
        Shape (n_assets,).

    Raises
    ------
    ConfigError
        For an unknown name or a length that is neither 1 nor ``n_assets``.
    """
    items = list(np.atleast_1d(np.asarray([values] if isinstance(values, str) else values, dtype=object)))
    if len(items) == 1:
        items = items * n_assets
    if len(items) != n_assets:
        raise ConfigError(f"{len(items)} values of {field} for {n_assets} assets", field=field)
    numbers = []
    for item in items:
        if isinstance(item, str):
            if item not in table:
                raise ConfigError(f"unknown {what} {item!r}", field=field, allowed=", ".join(table))
            numbers.append(float(table[item]))
        else:
            numbers.append(float(item))
    return np.asarray(numbers, dtype=float)
