"""A pandapower net's tables in a form that pickles, reads and writes ``net.json`` without pandapower.

Importing pandapower costs a new process about a second of CPU, most of it for parts a
scenario run never calls: a run on prepared shared inputs only reads the net's tables
(``net.bus``, ``net.trafo``, ``net.line``) and writes the district's net as pandapower
JSON. :class:`NetTables` is a plain dict of those tables with attribute access, as
pandapower's own net is; the shared-input cache stores nets as NetTables
(:func:`light_net`), each with a :class:`NetJsonTemplate` made by pandapower when the
cache file is written, so that :func:`district_net_json` writes exactly the text
``pandapower.to_json`` would for the district's net without importing pandapower. Code
that changes a net through pandapower converts it first (:func:`as_pandapower`).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pandas as pd
import xarray as xr

__all__ = ["INJECTION_TABLES", "NetJsonTemplate", "NetTables", "as_pandapower", "district_net_json", "light_net"]

#: The element tables that hold the district's assets in its net (:func:`models.grid.district_net`).
INJECTION_TABLES: Final[tuple[str, ...]] = ("load", "sgen", "storage")
#: Name of the element each table's template row is created with.
_PROBE_NAME: Final[str] = "probe"


@dataclass(frozen=True)
class NetJsonTemplate:
    """pandapower's JSON of a net whose injection tables are empty, and one element of each such table.

    Attributes
    ----------
    document : dict
        The parsed ``pandapower.to_json`` of the net without profiles and with empty
        ``load``, ``sgen`` and ``storage`` tables.
    rows : dict of str to pandas.DataFrame
        Per injection table, the one-row table pandapower creates for an element with
        power 0 (a storage with ``max_e_mwh`` 1).
    """

    document: dict[str, Any]
    rows: dict[str, pd.DataFrame]


class NetTables(dict[str, Any]):
    """The tables and settings of a pandapower net, read as ``net.bus`` or ``net["bus"]``.

    Attributes
    ----------
    json_template : NetJsonTemplate or None
        Set by :func:`light_net`; lets :func:`district_net_json` write without pandapower.
    """

    json_template: NetJsonTemplate | None = None

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __reduce__(self) -> tuple[Any, ...]:
        return (_restore, (dict(self), self.json_template))


def _restore(tables: dict[str, Any], template: NetJsonTemplate | None) -> NetTables:
    net = NetTables(tables)
    net.json_template = template
    return net


def light_net(net: Any) -> NetTables:
    """A pandapower net's tables as :class:`NetTables` (sharing them), with its JSON template.

    Imports pandapower (the template is pandapower's own JSON); a NetTables is returned as it is.
    """
    if isinstance(net, NetTables):
        return net
    out = NetTables(net.items())
    out.json_template = _json_template(net)
    return out


def as_pandapower(net: Any) -> Any:
    """A pandapower net of the same tables (shared, not copied); a pandapower net is returned as it is."""
    if not isinstance(net, NetTables):
        return net
    from pandapower.auxiliary import pandapowerNet

    out = pandapowerNet.__new__(pandapowerNet)
    out.__setstate__((dict(net), False))
    return out


def district_net_json(net: Any, assets: xr.Dataset, element_table: dict[str, str]) -> str | None:
    """``pandapower.to_json`` of the district's net (:func:`models.grid.district_net`), built from the template.

    Parameters
    ----------
    net : NetTables
        The unchanged grid, from :func:`light_net`.
    assets : xarray.Dataset
        The district's assets (``kind``, ``bus`` as a bus name, ``capacity_kwh``).
    element_table : dict
        pandapower element table of each electric asset kind.

    Returns
    -------
    text : str or None
        The JSON text; None when ``net`` has no template (then pandapower writes it).
    """
    template = net.json_template if isinstance(net, NetTables) else None
    if template is None:
        return None
    document = copy.deepcopy(template.document)
    bus_of = dict(zip(net.bus["name"].astype(str), net.bus.index.astype(int), strict=False))
    kinds = assets["kind"].values
    for table in INJECTION_TABLES:
        picked = [i for i, kind in enumerate(kinds) if element_table.get(str(kind)) == table]
        if not picked:
            continue
        row = template.rows[table]
        frame = row.loc[row.index.repeat(len(picked))].reset_index(drop=True)
        frame["name"] = [str(assets["asset"].values[i]) for i in picked]
        frame["bus"] = [bus_of[str(assets["bus"].values[i])] for i in picked]
        if table == "storage":
            frame["max_e_mwh"] = np.nan_to_num(assets["capacity_kwh"].values[picked] / 1000.0)
        frame = frame.astype(row.dtypes.to_dict())
        entry = document["_object"][table]
        entry["_object"] = frame.to_json(orient="split", default_handler=str, double_precision=15)
        entry["dtype"] = frame.dtypes.astype("str").to_dict()
    return json.dumps(document, indent=2)


def _json_template(net: Any) -> NetJsonTemplate:
    """The pandapower JSON of ``net`` with empty injection tables, and one created element per table."""
    import pandapower as pp

    base = copy.deepcopy(net)
    base.pop("profiles", None)
    for table in INJECTION_TABLES:
        base[table] = base[table].iloc[0:0]
    document = json.loads(pp.to_json(base))
    rows: dict[str, pd.DataFrame] = {}
    bus = [int(base.bus.index[0])]
    for table in INJECTION_TABLES:
        probe = copy.deepcopy(base)
        if table == "load":
            pp.create_loads(probe, buses=bus, p_mw=0.0, q_mvar=0.0, name=[_PROBE_NAME])
        elif table == "sgen":
            pp.create_sgens(probe, buses=bus, p_mw=0.0, q_mvar=0.0, name=[_PROBE_NAME])
        else:
            pp.create_storages(probe, buses=bus, p_mw=0.0, max_e_mwh=[1.0], q_mvar=0.0, name=[_PROBE_NAME])
        rows[table] = probe[table]
    return NetJsonTemplate(document, rows)
