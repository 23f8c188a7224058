"""Write the result files of a scenario run, each atomically, under ``OUT/NAME/``.

What the files hold and their names are documented in :mod:`scenarios.results`.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
import xarray as xr
import yaml

from models.grid import write_district_net
from scenarios.report import write_plotly_js, write_report
from scenarios.results import (
    KPIS_JSON,
    NET_JSON,
    REPORT_HTML,
    RESOLVED_YAML,
    RESULT_NC,
    SHARED_PLOTLY_JS,
    ScenarioResult,
)
from twin.core.schema import TIME_ENCODING, meters_from_assets

__all__ = ["result_dataset", "write_results"]

_COMPRESSION: Final[dict[str, Any]] = {"zlib": True, "complevel": 1, "shuffle": True}
#: Decimal digits kept per unit before compression (netCDF4 quantisation): 1e-5 p.u., 0.01 %,
#: 1 W / 1 var; far below model accuracy, and it makes the files 3-4x smaller.
_DIGITS: Final[dict[str, int]] = {"1": 5, "%": 2, "kW": 3, "kvar": 3}
_KPI_UNITS: Final[dict[str, str]] = {"_kwh": "kW h", "_kw": "kW", "_frac": "1", "_pu": "1", "_percent": "%"}


def write_results(result: ScenarioResult, out_dir: Path, *, plotly_js: str | None = None, files_hash: str = "") -> Path:
    """Write every result file of a scenario into ``out_dir/NAME/`` and return that folder."""
    folder = out_dir / result.scenario.name
    folder.mkdir(parents=True, exist_ok=True)
    dataset = result_dataset(result)
    # netCDF4 compresses without the GIL: result.nc is written beside the other files
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="result-nc") as pool:
        netcdf = pool.submit(_atomic, folder / RESULT_NC, lambda tmp: _to_netcdf(dataset, result, tmp))
        _write_other_files(result, folder, out_dir, plotly_js=plotly_js, files_hash=files_hash)
        netcdf.result()
    return folder


def _write_other_files(
    result: ScenarioResult, folder: Path, out_dir: Path, *, plotly_js: str | None, files_hash: str
) -> None:
    """Every result file but ``result.nc``."""
    _atomic(folder / KPIS_JSON, lambda tmp: tmp.write_text(json.dumps(result.kpis, indent=1), encoding="utf-8"))
    write_district_net(result.net, result.assets, folder / NET_JSON)
    resolved = {
        **result.scenario.model_dump(mode="json", exclude={"control"} if result.scenario.control is None else None),
        "inputs": {
            "files_hash": files_hash,
            "weather_source": str(result.assets.attrs.get("weather", "")),
        },
        "input_hash": result.kpis["input_hash"],
    }
    text = "# The scenario with every default filled in; input_hash = sha256 of it and the input files.\n"
    text += yaml.safe_dump(resolved, sort_keys=False, allow_unicode=True)
    _atomic(folder / RESOLVED_YAML, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    if plotly_js is None:
        write_plotly_js(out_dir)
        plotly_js = SHARED_PLOTLY_JS
    write_report(result, folder / REPORT_HTML, plotly_js=plotly_js)


def result_dataset(result: ScenarioResult) -> xr.Dataset:
    """The root group of ``result.nc`` at the scenario's output level."""
    level = result.scenario.output
    grid = result.grid
    time_only = ["p_grid_kw", "p_loss_kw", "q_grid_kvar", "converged"]
    keep = [name for name in time_only if name in grid] + (
        ["vm_pu", "loading_percent", "p_bus_kw", "q_bus_kvar"] if level != "kpis" else []
    )
    ds = grid[keep]
    if level == "kpis":
        ds = ds.drop_dims(["bus", "branch"], errors="ignore")
    ds = ds.copy()
    ds["converged"] = ds["converged"].astype(np.int8).assign_attrs(long_name="power flow converged", units="1")
    ds["curtailed_kw"] = result.curtailed_kw.assign_attrs(long_name="PV curtailed by the feed-in limit", units="kW")
    scalars: dict[str, xr.DataArray] = {}  # added in one step: one merge instead of one per KPI
    for key, value in result.kpis.items():
        if isinstance(value, bool):
            scalars[key] = xr.DataArray(np.int8(value), attrs={"long_name": key.replace("_", " "), "units": "1"})
        elif isinstance(value, int | float) and key not in ("steps",):
            units = next((u for suffix, u in _KPI_UNITS.items() if key.endswith(suffix)), None)
            units = units or (
                "h" if key.endswith("_h") else "EUR" if key.endswith("_eur") else "s" if key.endswith("_s") else "1"
            )
            scalars["kpi_" + key] = xr.DataArray(np.float64(np.nan if value is None else value), attrs={"units": units})
    ds = ds.assign(scalars)
    ds.attrs = {
        "title": f"scenario {result.scenario.name}",
        "source": "scenario",
        "scenario": result.scenario.name,
        "description": result.scenario.description,
        "output_level": level,
        "input_hash": result.kpis["input_hash"],
        "Conventions": "CF-1.10",
        "sign_convention": "load-positive at assets and buses, import-positive at the substation",
    }
    return ds


def _to_netcdf(ds: xr.Dataset, result: ScenarioResult, path: Path) -> None:
    _clean_attrs(ds)
    _write_netcdf(ds, path, mode="w")
    if result.scenario.output != "full":
        return
    assets = result.assets.rename({"bus": "asset_bus"})
    meters = meters_from_assets(result.assets, p_loss_kw=result.grid["p_loss_kw"].fillna(0.0).values)
    for group, data in (("assets", assets), ("meters", meters)):
        data = data.copy()
        _clean_attrs(data)
        _write_netcdf(data, path, mode="a", group=group)


def _write_netcdf(ds: xr.Dataset, path: Path, *, mode: Literal["w", "a"], group: str | None = None) -> None:
    """``ds.to_netcdf(path, mode=mode, group=group, engine="netcdf4", format="NETCDF4")`` with :func:`_encoding`.

    The same file, through the same netCDF4 store, with the process-wide netCDF lock:
    ``to_netcdf`` would first ask dask which scheduler runs, and that imports
    ``dask.distributed`` (a third of a second) in a process that has no Dask.
    """
    from xarray.backends import NetCDF4DataStore
    from xarray.backends.netCDF4_ import NETCDF4_PYTHON_LOCK

    store = NetCDF4DataStore.open(str(path), mode=mode, format="NETCDF4", lock=NETCDF4_PYTHON_LOCK)
    try:
        target = store.get_child_store(group) if group is not None else store
        ds.dump_to_store(target, encoding=_encoding(ds))
    finally:
        store.close()


def _encoding(ds: xr.Dataset) -> dict[str, dict[str, Any]]:
    encoding: dict[str, dict[str, Any]] = {}
    for name, variable in ds.variables.items():
        if name == "time":
            encoding["time"] = dict(TIME_ENCODING)
        elif variable.dtype.kind == "f" and variable.ndim > 0:
            digits = _DIGITS.get(str(variable.attrs.get("units")), 3)
            encoding[str(name)] = {**_COMPRESSION, "dtype": "float32", "least_significant_digit": digits}
    return encoding


def _clean_attrs(ds: xr.Dataset) -> None:
    targets: list[Any] = [ds, *ds.variables.values()]
    for target in targets:
        for key, value in list(target.attrs.items()):
            if isinstance(value, bool):
                target.attrs[key] = int(value)
            elif value is None:
                target.attrs[key] = ""


def _atomic(path: Path, write: Any) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
