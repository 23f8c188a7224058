"""Unit suffixes of variable names and the ``units`` attributes they imply.

Every dimensional quantity in the twin carries its unit in its name
(``p_kw``, ``energy_import_kwh``, ``vm_pu``), as pandapower's columns do, and
its ``units`` attribute in CF/UDUNITS spelling. This module holds the one table
that maps the first to the second (DESIGN.md section 3) and checks that a
dataset keeps both in agreement.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only the type of check_units' argument: importing the unit table costs no xarray
    import xarray as xr

__all__ = [
    "DIMENSIONLESS_NAMES",
    "UNIT_SUFFIXES",
    "check_units",
    "unit_for",
]

#: Name suffix -> ``units`` attribute. The first block is DESIGN.md section 3;
#: the second block adds the units the KPI, grid and district code also needs.
#: ``kvar`` and ``EUR`` are not UDUNITS units; they are the two allowed exceptions.
UNIT_SUFFIXES: dict[str, str] = {
    "_kw": "kW",
    "_kva": "kVA",
    "_kvar": "kvar",
    "_kwh": "kW h",
    "_h": "h",
    "_pu": "1",
    "_frac": "1",
    "_percent": "%",
    "_degc": "degC",
    "_w_m2": "W m-2",
    "_eur": "EUR",
    # additions
    "_kv": "kV",
    "_ka": "kA",
    "_kg": "kg",
    "_g_per_kwh": "g kW-1 h-1",
    "_kwh_per_kwp": "kW h kW-1",
    "_kwp": "kW",
    "_m2": "m2",
    "_deg": "degree",
    "_s": "s",
    "_m_s": "m s-1",
}

#: Variables and coordinates that are labels or counts, not quantities: they
#: carry no unit suffix and no ``units`` attribute.
DIMENSIONLESS_NAMES: frozenset[str] = frozenset(
    {
        "time",
        "asset",
        "meter",
        "bus",
        "branch",
        "scenario",
        "kind",
        "building",
        "boundary",
        "bus_name",
        "branch_kind",
        "quality",
        "name",
    }
)

# Longest suffix first, so "_kwh" wins over "_h" and "_g_per_kwh" over "_kwh".
_SUFFIXES_BY_LENGTH = sorted(UNIT_SUFFIXES, key=len, reverse=True)


def unit_for(name: Hashable) -> str | None:
    """Return the ``units`` attribute a variable name implies.

    Parameters
    ----------
    name : hashable
        A variable or coordinate name, e.g. ``"energy_import_kwh"``.

    Returns
    -------
    units : str or None
        The UDUNITS spelling (``"kW h"``), or None when the name carries no
        known unit suffix.

    Examples
    --------
    >>> unit_for("energy_import_kwh")
    'kW h'
    >>> unit_for("vm_pu")
    '1'
    >>> unit_for("kind") is None
    True
    """
    text = str(name)
    for suffix in _SUFFIXES_BY_LENGTH:
        if text.endswith(suffix):
            return UNIT_SUFFIXES[suffix]
    return None


def check_units(ds: xr.Dataset, *, names: Iterable[Hashable] | None = None) -> list[str]:
    """List every disagreement between names and ``units`` attributes.

    A variable or coordinate must either carry a known unit suffix and the
    matching ``units`` attribute, or be a label from
    :data:`DIMENSIONLESS_NAMES` without a ``units`` attribute.

    Parameters
    ----------
    ds : xarray.Dataset
        The dataset to check (data variables and coordinates).
    names : iterable of hashable, optional
        Check only these names; default all.

    Returns
    -------
    problems : list of str
        One line per problem; empty when the dataset is consistent.
    """
    problems: list[str] = []
    selected = list(ds.variables) if names is None else list(names)
    for name in selected:
        attrs = ds[name].attrs
        expected = unit_for(name)
        actual = attrs.get("units")
        if expected is None:
            if str(name) not in DIMENSIONLESS_NAMES:
                problems.append(f"{name}: no unit suffix (allowed: {', '.join(UNIT_SUFFIXES)})")
            elif actual is not None:
                problems.append(f"{name}: a label must not have units, has {actual!r}")
        elif actual != expected:
            problems.append(f"{name}: units {actual!r} do not match the suffix (expected {expected!r})")
    return problems
