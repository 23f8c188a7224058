"""A scenario's result folder: its file names, :class:`ScenarioResult` and the readers.

Every file of a result folder ``OUT/NAME/`` is named here and nowhere else; the writer
(:mod:`scenarios.writer`), the CLI and the dashboard go through these names and readers.

* ``result.nc`` (:data:`RESULT_NC`) - NetCDF4, float32, quantised and zlib-compressed, CF
  attributes, time as :data:`twin.core.schema.TIME_ENCODING`. Output level ``kpis``: the
  KPIs as scalar variables plus the substation's exchange, losses and curtailment over
  time; ``grid`` (default): plus every bus (``vm_pu``, ``p_bus_kw``, ``q_bus_kvar``, the
  assets summed per bus) and branch (``loading_percent``); ``full``: plus the groups
  ``assets`` (every asset's ``p_kw``, ``p_fuel_kw``, ``soc_frac``) and ``meters``
  (building meters and the substation).
* ``kpis.json`` (:data:`KPIS_JSON`) - the flat KPI dict.
* ``net.json`` (:data:`NET_JSON`) - the pandapower net with an element per asset, no
  profile tables; the result's ``bus`` coordinate is this net's bus index.
* ``scenario.resolved.yaml`` (:data:`RESOLVED_YAML`) - the scenario with every default
  filled in, the input files and the sha256 ``input_hash`` of scenario, district, grid
  and weather bytes and the package version.
* ``report.html`` (:data:`REPORT_HTML`) - see :mod:`scenarios.report`; it refers to one
  shared ``plotly.min.js`` (:data:`PLOTLY_JS`) in the folder of all results.

An ensemble's folder ``OUT/NAME-ensemble/`` holds ``members.csv`` (:data:`MEMBERS_CSV`: one row
per member, its record and its KPIs) and ``ensemble.json`` (:data:`ENSEMBLE_JSON`: settings,
P10/P50/P90 of every KPI and the probabilities; :mod:`scenarios.ensemble_summary`).

The readers import neither pandapower nor the runner: ``net.json`` is read as JSON text.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    import pandas as pd
    import xarray as xr

    from scenarios.apply import AppliedChanges
    from scenarios.config import Scenario

__all__ = [
    "ENSEMBLE_JSON",
    "ENSEMBLE_SUFFIX",
    "KPIS_JSON",
    "MEMBERS_CSV",
    "NETCDF_LOCK",
    "NET_JSON",
    "PLOTLY_JS",
    "REPORT_HTML",
    "RESOLVED_YAML",
    "RESULT_FILES",
    "RESULT_NC",
    "SHARED_PLOTLY_JS",
    "GridLayout",
    "ResultFolder",
    "ScenarioResult",
    "is_result_folder",
    "list_results",
    "read_kpis",
]

#: The result dataset (NetCDF4).
RESULT_NC: Final[str] = "result.nc"
#: The flat KPI dict (JSON).
KPIS_JSON: Final[str] = "kpis.json"
#: The grid the power flow ran on, with an element per asset (pandapower JSON).
NET_JSON: Final[str] = "net.json"
#: The scenario with every default filled in and the input hash (YAML).
RESOLVED_YAML: Final[str] = "scenario.resolved.yaml"
#: The scenario report (HTML).
REPORT_HTML: Final[str] = "report.html"
#: plotly.js, once in the folder of all results.
PLOTLY_JS: Final[str] = "plotly.min.js"
#: plotly.js as a report refers to it.
SHARED_PLOTLY_JS: Final[str] = f"../{PLOTLY_JS}"
#: Every file of a result folder.
RESULT_FILES: Final[tuple[str, ...]] = (RESULT_NC, KPIS_JSON, NET_JSON, RESOLVED_YAML, REPORT_HTML)
#: An ensemble's member table: record and KPIs of every member (CSV).
MEMBERS_CSV: Final[str] = "members.csv"
#: An ensemble's settings, percentiles and probabilities (JSON).
ENSEMBLE_JSON: Final[str] = "ensemble.json"
#: An ensemble's folder is the scenario's name plus this.
ENSEMBLE_SUFFIX: Final[str] = "-ensemble"
#: HDF5 (under netCDF4) is not thread-safe: concurrent opens from threads fail with
#: "NetCDF: HDF error". Every read of a result dataset holds this lock.
NETCDF_LOCK: Final = threading.Lock()


@dataclass(frozen=True)
class ScenarioResult:
    """Everything a scenario run computed (what :mod:`scenarios.writer` writes).

    Attributes
    ----------
    scenario : Scenario
    kpis : dict
        Flat KPI dict (see :func:`scenarios.runner.run_scenario`).
    assets : xarray.Dataset
        Every asset after dispatch and curtailment.
    grid : xarray.Dataset
        Power-flow results.
    net : pandapowerNet
        The grid the power flow ran on (grid changes applied).
    applied : AppliedChanges
    curtailed_kw : xarray.DataArray
        PV curtailed by the feed-in limit, over time. [kW]
    flows : xarray.Dataset, optional
        The energy flows at the substation the KPIs came from (:func:`twin.core.kpi.boundary_flows`).
    signal_state : xarray.DataArray, optional
        With a ``control:`` block: each building's signal state (time, building) as its controllers
        read it (:class:`twin.core.signal.SignalState` codes); not written to the result folder.
    """

    scenario: Scenario
    kpis: dict[str, Any]
    assets: xr.Dataset
    grid: xr.Dataset
    net: Any
    applied: AppliedChanges
    curtailed_kw: xr.DataArray
    flows: xr.Dataset | None = None
    signal_state: xr.DataArray | None = None


@dataclass(frozen=True)
class GridLayout:
    """The grid of a result as drawn: buses with coordinates, branches between buses, buildings at buses.

    ``buses``: index bus (int), columns ``name``, ``x`` (longitude), ``y`` (latitude);
    ``branches``: index branch id (``"line 3"``, ``"trafo 0"``, the result's ``branch``
    coordinate), columns ``kind``, ``from_bus``, ``to_bus``; ``building_bus``: building id -> bus.
    """

    buses: pd.DataFrame
    branches: pd.DataFrame
    building_bus: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ResultFolder:
    """One scenario result folder ``OUT/NAME/``.

    Attributes
    ----------
    folder : pathlib.Path
    name : str
        The scenario name (the folder's name).
    description : str
        The scenario's one-line description (from its KPIs).
    """

    folder: Path
    name: str = ""
    description: str = ""

    @classmethod
    def at(cls, folder: str | Path) -> ResultFolder:
        """The result folder at ``folder`` with its name and description."""
        path = Path(folder)
        return cls(path, path.name, str(read_result_kpis(path).get("description", "")))

    @property
    def dataset_path(self) -> Path:
        """The result dataset (``result.nc``)."""
        return self.folder / RESULT_NC

    @property
    def kpis_path(self) -> Path:
        """The KPI file (``kpis.json``)."""
        return self.folder / KPIS_JSON

    @property
    def net_path(self) -> Path:
        """The grid (``net.json``)."""
        return self.folder / NET_JSON

    @property
    def report_path(self) -> Path:
        """The report (``report.html``)."""
        return self.folder / REPORT_HTML

    def has_dataset(self) -> bool:
        """Whether the folder holds a result dataset."""
        return self.dataset_path.is_file()

    def has_grid(self) -> bool:
        """Whether the folder holds the grid the power flow ran on."""
        return self.net_path.is_file()

    def dataset_stamp(self) -> int:
        """Modification time of the result dataset, for cache keys, in ns.

        Raises
        ------
        FileNotFoundError
            When the folder holds no result dataset.
        """
        return self.dataset_path.stat().st_mtime_ns

    def grid_stamp(self) -> int:
        """Modification time of the grid file, for cache keys, in ns (FileNotFoundError when missing)."""
        return self.net_path.stat().st_mtime_ns

    def kpis(self) -> dict[str, Any]:
        """The flat KPI dict (empty when missing or unreadable)."""
        return read_result_kpis(self.folder)

    def open_dataset(self) -> xr.Dataset:
        """The root group of the result dataset, loaded into memory (the file is closed).

        Raises
        ------
        FileNotFoundError
            When the folder holds no result dataset.
        """
        import xarray as xr

        if not self.has_dataset():
            raise FileNotFoundError(str(self.dataset_path))
        with NETCDF_LOCK, xr.open_dataset(self.dataset_path) as ds:
            return ds.load()

    def time_series(self) -> pd.DataFrame:
        """The substation's time series of the result dataset, columns ``"NAME [UNIT]"``, index ``time_utc``.

        Raises
        ------
        FileNotFoundError
            When the folder holds no result dataset.
        """
        import pandas as pd

        ds = self.open_dataset()
        columns = [v for v in ds.data_vars if ds[v].dims == ("time",)]
        frame = ds[columns].to_dataframe()
        units = {v: ds[v].attrs.get("units", "") for v in columns}
        frame.columns = [f"{c} [{units[c]}]" if units[c] else c for c in frame.columns]
        frame.index = pd.DatetimeIndex(frame.index).tz_localize("UTC").rename("time_utc")
        return frame

    def grid_layout(self) -> GridLayout:
        """Buses, branches and building buses of the grid file (pandapower JSON, read as text).

        Branch ids follow the result's ``branch`` coordinate: ``"line I"`` / ``"trafo I"`` with
        the net's element index. Buildings come from the names of loads and generators,
        ``"BUILDING/..."``.

        Raises
        ------
        FileNotFoundError
            When the folder holds no grid file.
        """
        return _parse_net(json.loads(self.net_path.read_text(encoding="utf-8")))


def is_result_folder(folder: str | Path) -> bool:
    """Whether ``folder`` is a scenario result folder (it holds the KPI file)."""
    return (Path(folder) / KPIS_JSON).is_file()


def list_results(results_dir: str | Path) -> list[ResultFolder]:
    """The scenario result folders under ``results_dir`` (those holding the KPI file), by name."""
    root = Path(results_dir)
    if not root.is_dir():
        return []
    return [ResultFolder.at(path.parent) for path in sorted(root.glob(f"*/{KPIS_JSON}"))]


def read_kpis(folder: str | Path) -> dict[str, Any]:
    """Read the KPI file of a result folder (OSError when missing, ValueError when not JSON)."""
    return dict(json.loads((Path(folder) / KPIS_JSON).read_text(encoding="utf-8")))


def read_result_kpis(folder: str | Path) -> dict[str, Any]:
    """The flat KPI dict of a result folder (empty when missing or unreadable)."""
    try:
        data = json.loads((Path(folder) / KPIS_JSON).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _parse_net(net: dict[str, Any]) -> GridLayout:
    import numpy as np
    import pandas as pd

    tables = net.get("_object", net)
    bus = _net_table(tables, "bus")
    coords = bus["geo"].map(_point) if "geo" in bus else pd.Series([(np.nan, np.nan)] * len(bus), index=bus.index)
    buses = pd.DataFrame(
        {"name": bus.get("name"), "x": [c[0] for c in coords], "y": [c[1] for c in coords]}, index=bus.index
    )
    branch_rows = []
    for kind, from_col, to_col in (("line", "from_bus", "to_bus"), ("trafo", "hv_bus", "lv_bus")):
        table = _net_table(tables, kind)
        for index, row in table.iterrows():
            branch_rows.append((f"{kind} {index}", kind, int(row[from_col]), int(row[to_col])))
    branches = pd.DataFrame(branch_rows, columns=["branch", "kind", "from_bus", "to_bus"]).set_index("branch")
    building_bus: dict[str, int] = {}
    for kind in ("load", "sgen", "storage"):
        table = _net_table(tables, kind)
        if "name" in table and "bus" in table:
            for name, bus_index in zip(table["name"], table["bus"], strict=True):
                if isinstance(name, str) and "/" in name:
                    building_bus.setdefault(name.split("/", 1)[0], int(bus_index))
    return GridLayout(buses=buses.sort_index(), branches=branches, building_bus=building_bus)


def _net_table(tables: dict[str, Any], name: str) -> pd.DataFrame:
    """A pandapower JSON table (``{"_object": "<split-oriented frame JSON>"}``) as a DataFrame."""
    import pandas as pd

    entry = tables.get(name)
    if not isinstance(entry, dict):
        return pd.DataFrame()
    body = entry.get("_object", entry)
    split = json.loads(body) if isinstance(body, str) else body
    return pd.DataFrame(split.get("data", []), columns=split.get("columns", []), index=split.get("index", []))


def _point(geo: Any) -> tuple[float, float]:
    try:
        data = json.loads(geo) if isinstance(geo, str) else geo
        x, y = data["coordinates"][:2]
        return float(x), float(y)
    except (TypeError, ValueError, KeyError, IndexError):
        return (float("nan"), float("nan"))
