"""Builders and validators of the twin's datasets (DESIGN.md section 3).

Three kinds of dataset carry every number the twin moves around, live or
simulated, so that one plotting and KPI code serves both:

* **assets** (dims ``time`` x ``asset``): what produces or consumes. ``p_kw`` is
  active power, load-positive (consuming > 0; PV and discharge < 0); gas
  boilers draw ``p_fuel_kw`` and no electric power. Ratings are coordinates.
* **meters** (dims ``time`` x ``meter``): what measures a boundary, a building
  connection or the ``substation``. ``p_meter_kw`` is import-positive and the
  energy counters ``energy_import_kwh`` / ``energy_export_kwh`` only grow.
  Meters are not assets and never enter an asset sum.
* **grid results** (dims ``time`` x ``bus`` / ``branch``): ``vm_pu``,
  ``loading_percent``, ``p_loss_kw``, ``p_grid_kw`` (substation, import > 0),
  ``p_bus_kw`` / ``q_bus_kvar`` (the net demand at each bus, external grid
  excluded, so that the sum over buses plus the losses is ``p_grid_kw``).

Time is a tz-naive ``datetime64[ns]`` that means UTC, labels mark the interval
start, and values are means over ``[t, t + dt)``. ``quality`` is an int8 CF flag
variable. Each builder returns a dataset that passes its validator.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
import xarray as xr

from twin.core.errors import ConfigError
from twin.core.units import check_units, unit_for
from twin.core.vocabulary import ASSET_KINDS, QUALITY_FLAGS, AssetKind

__all__ = [
    "ASSET_KINDS",
    "QUALITY_FLAGS",
    "SOURCES",
    "SUBSTATION",
    "TIME_ENCODING",
    "AssetKind",
    "Source",
    "append_asset",
    "as_utc_time",
    "build_assets",
    "build_grid_results",
    "build_meters",
    "meters_from_assets",
    "quality_variable",
    "step_hours",
    "validate_assets",
    "validate_grid_results",
    "validate_meters",
]

Source = Literal["measured", "simulated", "scenario"]

#: Where a dataset's numbers come from (the ``source`` attribute).
SOURCES: Final[tuple[str, ...]] = ("measured", "simulated", "scenario")
#: The boundary name of the district's grid connection.
SUBSTATION: Final[str] = "substation"
#: How time is written to NetCDF and Zarr.
TIME_ENCODING: Final[dict[str, str]] = {
    "units": "seconds since 1970-01-01 00:00:00",
    "calendar": "proleptic_gregorian",
}

_LONG_NAMES: Final[dict[str, str]] = {
    "p_kw": "active power at the asset terminal, load-positive",
    "p_fuel_kw": "fuel (gas) power drawn by the asset",
    "soc_frac": "battery state of charge",
    "p_rated_kw": "rated active power",
    "p_peak_kw": "PV peak power (DC, STC)",
    "capacity_kwh": "usable battery capacity",
    "p_meter_kw": "active power through the meter, import-positive",
    "energy_import_kwh": "imported energy counter",
    "energy_export_kwh": "exported energy counter",
    "vm_pu": "bus voltage magnitude",
    "loading_percent": "branch loading",
    "p_loss_kw": "active power losses of the grid",
    "p_grid_kw": "active power exchange at the substation, import-positive",
    "p_bus_kw": "net active power demand at the bus (loads, generators, storage; external grid excluded)",
    "q_bus_kvar": "net reactive power demand at the bus (external grid excluded)",
    "vn_kv": "nominal voltage",
    "s_rated_kva": "rated apparent power (transformers)",
    "i_rated_ka": "rated current (lines)",
    "quality": "data quality",
}
_SIGNS: Final[dict[str, str]] = {
    "p_kw": "load_positive",
    "p_meter_kw": "import_positive",
    "p_grid_kw": "import_positive",
    "p_bus_kw": "load_positive",
    "q_bus_kvar": "load_positive",
}


def as_utc_time(time: Any) -> pd.DatetimeIndex:
    """Return time stamps as the twin stores them: tz-naive, meaning UTC.

    Parameters
    ----------
    time : array-like of datetime
        Tz-aware stamps (converted to UTC) or tz-naive stamps (taken as UTC).

    Returns
    -------
    time : pandas.DatetimeIndex
        Tz-naive, nanosecond resolution, UTC.
    """
    index = pd.DatetimeIndex(time)
    if index.tz is not None:
        index = index.tz_convert("UTC").tz_localize(None)
    return index.as_unit("ns")


def step_hours(time: Any) -> float:
    """Return the length of one step of a regular time axis.

    Parameters
    ----------
    time : array-like of datetime
        Interval-start labels, at least two, equally spaced.

    Returns
    -------
    dt_h : float
        Step length. [h]

    Raises
    ------
    ConfigError
        If the axis has fewer than two stamps or is not equally spaced.
    """
    index = as_utc_time(time)
    if len(index) < 2:
        raise ConfigError("needs at least two time stamps to know the step length", field="time")
    steps = np.diff(index.asi8)
    if steps.min() <= 0 or steps.min() != steps.max():
        raise ConfigError(
            f"time steps must be equal and increasing, found {pd.Timedelta(int(steps.min()))} to "
            f"{pd.Timedelta(int(steps.max()))}",
            field="time",
        )
    return float(steps[0]) / 3.6e12


def quality_variable(flags: npt.ArrayLike, dims: Sequence[str]) -> xr.Variable:
    """Return an int8 CF flag variable from quality flags.

    Parameters
    ----------
    flags : array-like of int or str
        Flag values (0-3) or meanings (``"ok"``, ``"stale"``, ``"missing"``,
        ``"invalid"``).
    dims : sequence of str
        The variable's dimensions.

    Returns
    -------
    quality : xarray.Variable
        int8 values with ``flag_values`` and ``flag_meanings`` attributes.
    """
    values = np.asarray(flags)
    if values.dtype.kind in "OUS":
        unknown = sorted(set(values.ravel().tolist()) - set(QUALITY_FLAGS))
        if unknown:
            raise ConfigError(f"unknown quality flag {unknown[0]!r}", field="quality", allowed=", ".join(QUALITY_FLAGS))
        values = np.vectorize(QUALITY_FLAGS.__getitem__, otypes=[np.int8])(values)
    values = values.astype(np.int8)
    if values.size and (values.min() < 0 or values.max() > max(QUALITY_FLAGS.values())):
        raise ConfigError("quality flag out of range", field="quality", allowed=f"0 to {max(QUALITY_FLAGS.values())}")
    return xr.Variable(
        dims,
        values,
        attrs={
            "long_name": _LONG_NAMES["quality"],
            "flag_values": np.array(list(QUALITY_FLAGS.values()), dtype=np.int8),
            "flag_meanings": " ".join(QUALITY_FLAGS),
        },
    )


def build_assets(
    time: Any,
    *,
    asset: Sequence[str],
    kind: Sequence[str],
    building: Sequence[str],
    bus: Sequence[str],
    p_kw: npt.ArrayLike,
    p_fuel_kw: npt.ArrayLike | None = None,
    soc_frac: npt.ArrayLike | None = None,
    p_rated_kw: npt.ArrayLike | None = None,
    p_peak_kw: npt.ArrayLike | None = None,
    capacity_kwh: npt.ArrayLike | None = None,
    quality: npt.ArrayLike | None = None,
    source: Source = "simulated",
    copy: bool = True,
) -> xr.Dataset:
    """Build an assets dataset (dims ``time`` x ``asset``).

    Parameters
    ----------
    time : array-like of datetime
        Interval-start labels, UTC (tz-aware or naive meaning UTC).
    asset, kind, building, bus : sequence of str
        Per asset: unique id, kind (one of :data:`ASSET_KINDS`), the building
        it belongs to, and the name of the bus it connects to.
    p_kw : array-like, shape (time, asset)
        Active power, load-positive: consumption and battery charging > 0,
        PV generation and battery discharge < 0. [kW]
    p_fuel_kw : array-like, shape (time, asset), optional
        Fuel (gas) drawn, >= 0; zero for electric assets. Default zeros. [kW]
    soc_frac : array-like, shape (time, asset), optional
        Battery state of charge, 0-1; NaN for other assets. [1]
    p_rated_kw, p_peak_kw, capacity_kwh : array-like, shape (asset,), optional
        Ratings, stored as coordinates; NaN where they do not apply.
        [kW], [kW] (PV peak, DC), [kWh]
    quality : array-like, shape (time, asset), optional
        Quality flags (see :func:`quality_variable`).
    source : {"measured", "simulated", "scenario"}
        Where the numbers come from.
    copy : bool
        False: float32 C-ordered arrays are taken over, not copied (the caller
        built them for this dataset and no longer changes them).

    Returns
    -------
    assets : xarray.Dataset
        float32 power variables with CF attributes; passes :func:`validate_assets`.
    """
    index = as_utc_time(time)
    n_asset = len(asset)
    dims = ("time", "asset")
    shape = (len(index), n_asset)
    data_vars: dict[str, Any] = {"p_kw": (dims, _as_float32(p_kw, shape, "p_kw", copy))}
    fuel = np.zeros(shape, np.float32) if p_fuel_kw is None else _as_float32(p_fuel_kw, shape, "p_fuel_kw", copy)
    data_vars["p_fuel_kw"] = (dims, fuel)
    if soc_frac is not None:
        data_vars["soc_frac"] = (dims, _as_float32(soc_frac, shape, "soc_frac", copy))
    if quality is not None:
        data_vars["quality"] = quality_variable(np.broadcast_to(np.asarray(quality), shape), dims)
    coords: dict[str, Any] = {
        "time": index,
        "asset": np.asarray(asset, dtype=object),
        "kind": ("asset", np.asarray(kind, dtype=object)),
        "building": ("asset", np.asarray(building, dtype=object)),
        "bus": ("asset", np.asarray(bus, dtype=object)),
    }
    for name, rating in (("p_rated_kw", p_rated_kw), ("p_peak_kw", p_peak_kw), ("capacity_kwh", capacity_kwh)):
        values = np.full(n_asset, np.nan) if rating is None else np.asarray(rating, dtype=float)
        coords[name] = ("asset", _check_shape(values, (n_asset,), name))
    ds = xr.Dataset(data_vars, coords=coords, attrs={"source": source, "title": "assets"})
    _decorate(ds)
    validate_assets(ds)
    return ds


def append_asset(
    assets: xr.Dataset,
    *,
    asset: str,
    kind: str,
    building: str,
    bus: str,
    p_kw: npt.ArrayLike,
    soc_frac: npt.ArrayLike | None = None,
    p_rated_kw: float = np.nan,
    p_peak_kw: float = np.nan,
    capacity_kwh: float = np.nan,
    source: Source = "scenario",
) -> xr.Dataset:
    """``assets`` with one electric asset appended (no fuel), each array copied once.

    Parameters
    ----------
    assets : xarray.Dataset
        An assets dataset (see :func:`build_assets`); its attributes are kept.
    asset, kind, building, bus : str
        The new asset's id, kind, building and bus.
    p_kw : array-like, shape (time,)
        Its active power, load-positive. [kW]
    soc_frac : array-like, shape (time,), optional
        Its state of charge (batteries). [1]
    p_rated_kw, p_peak_kw, capacity_kwh : float
        Its ratings; NaN where they do not apply. [kW], [kW], [kWh]
    source : {"measured", "simulated", "scenario"}
        Where the new dataset's numbers come from.

    Returns
    -------
    assets : xarray.Dataset
        Passes :func:`validate_assets`.
    """
    n = assets.sizes["asset"]

    def widened(name: str, column: npt.ArrayLike, fill: float) -> npt.NDArray[np.float32]:
        out = np.empty((assets.sizes["time"], n + 1), dtype=np.float32)
        out[:, :-1] = assets[name].transpose("time", "asset").values if name in assets else fill
        out[:, -1] = column
        return out

    soc = None
    if soc_frac is not None or "soc_frac" in assets:
        soc = widened("soc_frac", np.nan if soc_frac is None else soc_frac, np.nan)
    out = build_assets(
        assets["time"].values,
        asset=[*assets["asset"].values.tolist(), asset],
        kind=[*assets["kind"].values.tolist(), kind],
        building=[*assets["building"].values.tolist(), building],
        bus=[*assets["bus"].values.tolist(), bus],
        p_kw=widened("p_kw", p_kw, np.nan),
        p_fuel_kw=widened("p_fuel_kw", 0.0, 0.0),
        soc_frac=soc,
        p_rated_kw=[*assets["p_rated_kw"].values[:n], p_rated_kw],
        p_peak_kw=[*assets["p_peak_kw"].values[:n], p_peak_kw],
        capacity_kwh=[*assets["capacity_kwh"].values[:n], capacity_kwh],
        source=source,
        copy=False,
    )
    out.attrs = {**assets.attrs, **out.attrs}
    return out


def validate_assets(ds: xr.Dataset) -> None:
    """Check an assets dataset against DESIGN.md section 3.

    Raises
    ------
    ConfigError
        Naming the variable and what is allowed, on the first problem found.
    """
    _require(ds, ("p_kw", "p_fuel_kw"), ("kind", "building", "bus"), ("time", "asset"), "assets")
    _require_unique(ds, "asset")
    kinds = set(np.asarray(ds["kind"].values).tolist())
    unknown = sorted(kinds - set(ASSET_KINDS))
    if unknown:
        raise ConfigError(f"unknown asset kind {unknown[0]!r}", field="kind", allowed=", ".join(ASSET_KINDS))
    # column-wise reductions (no temporary (time x asset) arrays): fmin/fmax skip NaN, min/max keep it
    gas = np.asarray(ds["kind"].values == "gas_boiler", dtype=bool)
    fuel = ds["p_fuel_kw"].transpose("time", "asset").values
    p_kw = ds["p_kw"].transpose("time", "asset").values
    if fuel.size and bool((np.fmin.reduce(fuel, axis=0) < 0).any()):
        raise ConfigError("fuel drawn must be >= 0", field="p_fuel_kw")
    if fuel.size and bool(_nonzero_columns(fuel)[~gas].any()):
        raise ConfigError("only gas boilers draw fuel", field="p_fuel_kw")
    if p_kw.size and bool(_nonzero_columns(p_kw)[gas].any()):
        raise ConfigError("gas boilers draw no electric power", field="p_kw")
    if "soc_frac" in ds and ds["soc_frac"].size:
        soc = ds["soc_frac"].transpose("time", "asset").values
        if bool((np.fmin.reduce(soc, axis=0) < 0).any()) or bool((np.fmax.reduce(soc, axis=0) > 1).any()):
            raise ConfigError("state of charge outside 0-1", field="soc_frac", allowed="0 to 1")
    _validate_common(ds)


def build_meters(
    time: Any,
    *,
    meter: Sequence[str],
    boundary: Sequence[str],
    p_meter_kw: npt.ArrayLike,
    energy_import_kwh: npt.ArrayLike | None = None,
    energy_export_kwh: npt.ArrayLike | None = None,
    quality: npt.ArrayLike | None = None,
    source: Source = "simulated",
) -> xr.Dataset:
    """Build a meters dataset (dims ``time`` x ``meter``).

    Parameters
    ----------
    time : array-like of datetime
        Interval-start labels, UTC, equally spaced.
    meter : sequence of str
        Unique meter ids.
    boundary : sequence of str
        Per meter, what it measures: a building id or ``"substation"``.
    p_meter_kw : array-like, shape (time, meter)
        Mean active power over each step, import-positive. [kW]
    energy_import_kwh, energy_export_kwh : array-like, shape (time, meter), optional
        Counter readings at the end of each step; they never decrease.
        Default: integrated from ``p_meter_kw`` starting at zero. [kWh]
    quality : array-like, shape (time, meter), optional
        Quality flags.
    source : {"measured", "simulated", "scenario"}
        Where the numbers come from.

    Returns
    -------
    meters : xarray.Dataset
        Passes :func:`validate_meters`.
    """
    index = as_utc_time(time)
    dims = ("time", "meter")
    shape = (len(index), len(meter))
    power = _as_float32(p_meter_kw, shape, "p_meter_kw")
    if energy_import_kwh is None or energy_export_kwh is None:
        dt_h = step_hours(index)
        p64 = power.astype(np.float64)
        imported = np.cumsum(np.clip(p64, 0, None) * dt_h, axis=0)
        exported = np.cumsum(np.clip(-p64, 0, None) * dt_h, axis=0)
    if energy_import_kwh is not None:
        imported = _check_shape(np.asarray(energy_import_kwh, dtype=np.float64), shape, "energy_import_kwh")
    if energy_export_kwh is not None:
        exported = _check_shape(np.asarray(energy_export_kwh, dtype=np.float64), shape, "energy_export_kwh")
    data_vars: dict[str, Any] = {
        "p_meter_kw": (dims, power),
        # counters stay float64: float32 loses whole kWh above ~16 GWh
        "energy_import_kwh": (dims, imported),
        "energy_export_kwh": (dims, exported),
    }
    if quality is not None:
        data_vars["quality"] = quality_variable(np.broadcast_to(np.asarray(quality), shape), dims)
    coords = {
        "time": index,
        "meter": np.asarray(meter, dtype=object),
        "boundary": ("meter", np.asarray(boundary, dtype=object)),
    }
    ds = xr.Dataset(data_vars, coords=coords, attrs={"source": source, "title": "meters"})
    _decorate(ds)
    validate_meters(ds)
    return ds


def validate_meters(ds: xr.Dataset) -> None:
    """Check a meters dataset against DESIGN.md section 3.

    Raises
    ------
    ConfigError
        If a variable is missing, a counter decreases, or ids repeat.
    """
    _require(ds, ("p_meter_kw", "energy_import_kwh", "energy_export_kwh"), ("boundary",), ("time", "meter"), "meters")
    _require_unique(ds, "meter")
    for name in ("energy_import_kwh", "energy_export_kwh"):
        counter = ds[name]
        if bool((counter < 0).any()):
            raise ConfigError("energy counters must be >= 0", field=name)
        if ds.sizes["time"] > 1 and bool((counter.diff("time") < 0).any()):
            decreasing = (counter.diff("time") < 0).any("time").values
            meter = counter["meter"].values[int(np.argmax(decreasing))]
            raise ConfigError(f"energy counter of meter {meter!r} decreases", field=name, allowed="non-decreasing")
    _validate_common(ds)


def meters_from_assets(assets: xr.Dataset, *, p_loss_kw: npt.ArrayLike | None = None) -> xr.Dataset:
    """Derive the meter tree from assets: one meter per building and the substation.

    A building meter measures the sum of that building's assets (netted within
    each step at the building boundary); the substation meter measures the sum
    of all building meters plus the grid losses.

    Parameters
    ----------
    assets : xarray.Dataset
        An assets dataset (see :func:`build_assets`).
    p_loss_kw : array-like, shape (time,), optional
        Grid losses; default zero (the district sum before grid losses). [kW]

    Returns
    -------
    meters : xarray.Dataset
        Meters ``"<building>"`` with boundary the building id, and
        ``"substation"`` with boundary ``"substation"``; counters start at zero.
    """
    validate_assets(assets)
    p_building = assets["p_kw"].astype(np.float64).groupby("building").sum("asset")
    buildings = [str(b) for b in p_building["building"].values]
    losses = np.zeros(assets.sizes["time"]) if p_loss_kw is None else np.asarray(p_loss_kw, dtype=np.float64)
    p_substation = p_building.sum("building").values + _check_shape(losses, (assets.sizes["time"],), "p_loss_kw")
    power = np.column_stack([p_building.transpose("time", "building").values, p_substation])
    return build_meters(
        assets["time"].values,
        meter=[*buildings, SUBSTATION],
        boundary=[*buildings, SUBSTATION],
        p_meter_kw=power,
        source=assets.attrs.get("source", "simulated"),
    )


def build_grid_results(
    time: Any,
    *,
    bus: Sequence[int],
    branch: Sequence[str],
    vm_pu: npt.ArrayLike,
    loading_percent: npt.ArrayLike,
    p_bus_kw: npt.ArrayLike,
    q_bus_kvar: npt.ArrayLike,
    p_loss_kw: npt.ArrayLike,
    p_grid_kw: npt.ArrayLike,
    bus_name: Sequence[str] | None = None,
    branch_kind: Sequence[str] | None = None,
    vn_kv: npt.ArrayLike | None = None,
    s_rated_kva: npt.ArrayLike | None = None,
    i_rated_ka: npt.ArrayLike | None = None,
    source: Source = "scenario",
) -> xr.Dataset:
    """Build a grid-results dataset (dims ``time`` x ``bus`` / ``branch``).

    Parameters
    ----------
    time : array-like of datetime
        Interval-start labels, UTC.
    bus : sequence of int
        Bus index of the pandapower net as written to ``net.json``.
    branch : sequence of str
        Branch ids, e.g. ``"line 3"`` or ``"trafo 0"``.
    vm_pu : array-like, shape (time, bus)
        Voltage magnitude. [1]
    loading_percent : array-like, shape (time, branch)
        Loading of each line and transformer. [%]
    p_bus_kw, q_bus_kvar : array-like, shape (time, bus)
        Net demand at each bus, load-positive, external grid excluded. [kW], [kvar]
    p_loss_kw : array-like, shape (time,)
        Active power losses of lines and transformers. [kW]
    p_grid_kw : array-like, shape (time,)
        Exchange at the substation, import-positive. [kW]
    bus_name : sequence of str, optional
        Bus names (how buildings refer to buses).
    branch_kind : sequence of str, optional
        ``"line"`` or ``"trafo"`` per branch; default from the id's first word.
    vn_kv : array-like, shape (bus,), optional
        Nominal voltage. [kV]
    s_rated_kva, i_rated_ka : array-like, shape (branch,), optional
        Transformer rating and line rating; NaN where they do not apply. [kVA], [kA]
    source : {"measured", "simulated", "scenario"}
        Where the numbers come from.

    Returns
    -------
    grid : xarray.Dataset
        Passes :func:`validate_grid_results`.
    """
    index = as_utc_time(time)
    n_t, n_bus, n_branch = len(index), len(bus), len(branch)
    kinds = [str(b).split()[0] for b in branch] if branch_kind is None else list(branch_kind)
    data_vars: dict[str, Any] = {
        "vm_pu": (("time", "bus"), _as_float32(vm_pu, (n_t, n_bus), "vm_pu")),
        "loading_percent": (("time", "branch"), _as_float32(loading_percent, (n_t, n_branch), "loading_percent")),
        "p_bus_kw": (("time", "bus"), _as_float32(p_bus_kw, (n_t, n_bus), "p_bus_kw")),
        "q_bus_kvar": (("time", "bus"), _as_float32(q_bus_kvar, (n_t, n_bus), "q_bus_kvar")),
        "p_loss_kw": (("time",), _as_float32(p_loss_kw, (n_t,), "p_loss_kw")),
        "p_grid_kw": (("time",), _as_float32(p_grid_kw, (n_t,), "p_grid_kw")),
    }
    optional: Mapping[str, tuple[str, npt.ArrayLike | None, int]] = {
        "vn_kv": ("bus", vn_kv, n_bus),
        "s_rated_kva": ("branch", s_rated_kva, n_branch),
        "i_rated_ka": ("branch", i_rated_ka, n_branch),
    }
    coords = _grid_coords(index, bus, branch, kinds, bus_name, optional)
    ds = xr.Dataset(data_vars, coords=coords, attrs={"source": source, "title": "grid results"})
    _decorate(ds)
    validate_grid_results(ds)
    return ds


def _grid_coords(
    index: pd.DatetimeIndex,
    bus: Sequence[int],
    branch: Sequence[str],
    kinds: Sequence[str],
    bus_name: Sequence[str] | None,
    optional: Mapping[str, tuple[str, npt.ArrayLike | None, int]],
) -> dict[str, Any]:
    """The coordinates of a grid-results dataset; ``optional``: name -> (dim, values or None, size)."""
    coords: dict[str, Any] = {
        "time": index,
        "bus": np.asarray(bus, dtype=np.int64),
        "branch": np.asarray(branch, dtype=object),
        "branch_kind": ("branch", np.asarray(kinds, dtype=object)),
    }
    if bus_name is not None:
        coords["bus_name"] = ("bus", np.asarray(bus_name, dtype=object))
    for name, (dim, values, size) in optional.items():
        if values is not None:
            coords[name] = (dim, _check_shape(np.asarray(values, dtype=float), (size,), name))
    return coords


def validate_grid_results(ds: xr.Dataset) -> None:
    """Check a grid-results dataset against DESIGN.md section 3.

    Raises
    ------
    ConfigError
        If a variable is missing, ids repeat, or voltages are not positive.
    """
    _require(
        ds,
        ("vm_pu", "loading_percent", "p_bus_kw", "q_bus_kvar", "p_loss_kw", "p_grid_kw"),
        ("branch_kind",),
        ("time", "bus", "branch"),
        "grid results",
    )
    _require_unique(ds, "bus")
    _require_unique(ds, "branch")
    kinds = sorted(set(np.asarray(ds["branch_kind"].values).tolist()) - {"line", "trafo"})
    if kinds:
        raise ConfigError(f"unknown branch kind {kinds[0]!r}", field="branch_kind", allowed="line, trafo")
    if bool((ds["vm_pu"] <= 0).any()):
        raise ConfigError("bus voltages must be > 0 (a non-converged step must not be stored)", field="vm_pu")
    _validate_common(ds)


def _decorate(ds: xr.Dataset) -> None:
    for name in ds.variables:
        key = str(name)
        units = unit_for(key)
        if units is not None:
            ds[key].attrs["units"] = units
        if key in _LONG_NAMES:
            ds[key].attrs.setdefault("long_name", _LONG_NAMES[key])
        if key in _SIGNS:
            ds[key].attrs["sign_convention"] = _SIGNS[key]
    ds["time"].encoding.update(TIME_ENCODING)
    ds["time"].attrs["long_name"] = "interval start (UTC)"


def _nonzero_columns(values: npt.NDArray[Any]) -> npt.NDArray[np.bool_]:
    """Per column (last axis): holds a value other than zero (NaN counts as non-zero)."""
    return (values.min(axis=0) != 0) | (values.max(axis=0) != 0)


def _validate_common(ds: xr.Dataset) -> None:
    source = ds.attrs.get("source")
    if source not in SOURCES:
        raise ConfigError(f"source attribute is {source!r}", field="source", allowed=", ".join(SOURCES))
    if ds["time"].dtype.kind != "M":
        raise ConfigError("time must be datetime64 (UTC, tz-naive)", field="time")
    if not bool(ds.indexes["time"].is_monotonic_increasing) or not ds.indexes["time"].is_unique:
        raise ConfigError("time stamps must be unique and increasing", field="time")
    problems = check_units(ds)
    if problems:
        raise ConfigError(problems[0], field="units")
    if "quality" in ds and (ds["quality"].dtype != np.int8 or "flag_meanings" not in ds["quality"].attrs):
        raise ConfigError("quality must be int8 with CF flag_values and flag_meanings", field="quality")


def _require(ds: xr.Dataset, variables: Sequence[str], coords: Sequence[str], dims: Sequence[str], what: str) -> None:
    for name in (*dims, *coords, *variables):
        if name not in ds.variables:
            raise ConfigError(f"{what} dataset lacks {name!r}", field=name)


def _require_unique(ds: xr.Dataset, dim: str) -> None:
    index = ds.indexes[dim]
    if not index.is_unique:
        duplicated = index[index.duplicated()][0]
        raise ConfigError(f"duplicate id {duplicated!r}", field=dim, allowed="unique ids")


def _as_float32(values: npt.ArrayLike, shape: tuple[int, ...], name: str, copy: bool = True) -> npt.NDArray[np.float32]:
    # one copy (never the caller's memory) unless the caller hands its float32 array over
    array = np.array(values, dtype=np.float32, order="C", copy=True if copy else None)
    return _check_shape(np.broadcast_to(array, shape).copy() if array.ndim == 0 else array, shape, name)


def _check_shape(values: npt.NDArray[Any], shape: tuple[int, ...], name: str) -> npt.NDArray[Any]:
    if values.shape != shape:
        raise ConfigError(f"has shape {values.shape}, expected {shape}", field=name)
    return values
