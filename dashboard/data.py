"""What the dashboard reads: the live snapshot, the state store and scenario result folders.

Everything here reads files through the twin core (:mod:`twin.core.store`) and the
result-folder readers of :mod:`scenarios.results`; nothing imports models or connectors
(nor pandapower). The live snapshot is read as a :class:`twin.core.live_state.LiveSnapshot`.
Times stay UTC here; the pages and figures show them in the site's time zone, which the
snapshot names (:func:`display_timezone`). Reads that are costly for a year of data go
through a :class:`DataCache` owned by the app (memoisation keyed by the file's state: the
committed row count of a store table, the modification time of a result file), so a
callback pays a full read only when the data changed.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TypeVar

import numpy as np
import pandas as pd
import xarray as xr

from scenarios.results import NETCDF_LOCK, ResultFolder, list_results, read_result_kpis
from twin.core.channels import Channel
from twin.core.errors import TwinError
from twin.core.live_state import LiveSnapshot, read_snapshot
from twin.core.store import SNAPSHOT_FILE, TABLES, read_json, read_table
from twin.core.vocabulary import BALANCE_TERMS, DEFAULT_TIMEZONE, EARLIER_BALANCE_TERMS, FLOW_TERMS, check_timezone

__all__ = [
    "BALANCE_TERMS",
    "FLOW_TERMS",
    "HISTORY_TERMS",
    "NETCDF_LOCK",
    "STORE_READ_ERRORS",
    "DashboardConfig",
    "DataCache",
    "GridMap",
    "ResultFolder",
    "StoreReadError",
    "balance_history",
    "daily_flows",
    "display_timezone",
    "grid_map_from_net",
    "grid_map_from_snapshot",
    "list_results",
    "load_snapshot",
    "open_result",
    "read_result_kpis",
    "sim_time",
    "step_energy",
]

#: What a read of a damaged store table raises: the store's own errors, and those of the file
#: formats below it (JSON and zarr metadata: ValueError; a missing array: KeyError; a chunk that
#: does not decompress: RuntimeError; a commit record of the wrong shape: TypeError).
STORE_READ_ERRORS: Final[tuple[type[Exception], ...]] = (
    TwinError,
    OSError,
    ValueError,
    LookupError,
    TypeError,
    RuntimeError,
)


class StoreReadError(Exception):
    """A store table the dashboard cannot read (damaged or unreadable); the message is one line."""


#: Balance terms of a boundary the history chart reads (load-positive; grid import-positive). [kW]
HISTORY_TERMS: Final[tuple[str, ...]] = (*BALANCE_TERMS, "p_community_battery_kw", "p_loss_kw")
#: Resolution of the last-24-hours chart when read from the 1-minute table. [min]
HISTORY_STEP_MIN: Final[int] = 5
_BUS_COLUMNS: Final[tuple[str, ...]] = ("name", "x", "y", "vm_pu")
_BRANCH_COLUMNS: Final[tuple[str, ...]] = ("kind", "from_bus", "to_bus", "loading_percent")

T = TypeVar("T")
logger = logging.getLogger(__name__)
#: The last snapshot read, keyed by its file's path, modification time, size and inode.
_SNAPSHOTS: dict[tuple[str, int, int, int], LiveSnapshot | None] = {}
_SNAPSHOT_LOCK = threading.Lock()


@dataclass(frozen=True)
class DashboardConfig:
    """Where the dashboard reads its data.

    Parameters
    ----------
    data_root : Path
        The twin's data root (the login file ``dashboard-users.json`` lives here).
    store_dir : Path
        The live twin's state store (``snapshot.json``, the tables of means).
    results_dir : Path
        Folder of scenario result folders (:mod:`scenarios.results`).
    refresh_s : float
        Seconds between updates of the live pages. [s]
    calibration_file : Path, optional
        The calibration file of the Calibration page (``twin calibrate --out``).
    """

    data_root: Path
    store_dir: Path
    results_dir: Path
    refresh_s: float = 3.0
    calibration_file: Path | None = None


class DataCache:
    """A small thread-safe LRU memo: ``get(key, loader)`` loads once per key.

    Keys carry the state of the file they stand for (row count, mtime), so a changed file
    is a new key and old entries fall out by age.
    """

    def __init__(self, size: int = 16) -> None:
        self.size = size
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, loader: Callable[[], T]) -> T:
        """Return the cached value of ``key`` or load, keep and return it."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = loader()
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return value


@dataclass(frozen=True)
class GridMap:
    """The LV grid as drawn: buses with coordinates, branches between buses, buildings at buses.

    ``buses``: index bus (int), columns ``name``, ``x`` (longitude), ``y`` (latitude);
    ``branches``: index branch id (``"line 3"``, ``"trafo 0"``), columns ``kind``,
    ``from_bus``, ``to_bus``; ``building_bus``: building id -> bus.
    """

    buses: pd.DataFrame
    branches: pd.DataFrame
    building_bus: dict[str, int] = field(default_factory=dict)


def load_snapshot(store_dir: Path) -> LiveSnapshot | None:
    """The live snapshot, or ``None`` before the first poll (or while it cannot be read: logged).

    The file is read again only when it changed (its modification time and size): the pages of
    one refresh share one read. The snapshot is frozen, so sharing it between threads is safe.
    """
    path = Path(store_dir) / SNAPSHOT_FILE
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    except OSError as err:
        logger.warning("live snapshot not read: %s", err)
        return None
    key = (str(path), stat.st_mtime_ns, stat.st_size, stat.st_ino)
    with _SNAPSHOT_LOCK:
        if key in _SNAPSHOTS:
            return _SNAPSHOTS[key]
    try:
        snapshot = read_snapshot(store_dir)
    except (OSError, ValueError) as err:  # a SnapshotError is a ValueError naming the file and field
        logger.warning("live snapshot not read: %s", err)
        snapshot = None
    with _SNAPSHOT_LOCK:
        _SNAPSHOTS.clear()  # the latest file of each store is what counts: keep one
        _SNAPSHOTS[key] = snapshot
    return snapshot


def sim_time(snapshot: LiveSnapshot | None) -> pd.Timestamp | None:
    """The snapshot's (simulated) time, tz-aware UTC."""
    if snapshot is None or snapshot.sim_time_utc is None:
        return None
    return pd.Timestamp(snapshot.sim_time_utc).tz_convert("UTC")


def display_timezone(snapshot: LiveSnapshot | None) -> str:
    """The time zone the dashboard shows: the site's, as the snapshot names it, else the default.

    A snapshot written before it named the time zone, or naming one this machine does not know,
    gives :data:`twin.core.vocabulary.DEFAULT_TIMEZONE`.
    """
    if snapshot is None or not snapshot.timezone:
        return DEFAULT_TIMEZONE
    try:
        return check_timezone(snapshot.timezone)
    except ValueError as err:
        logger.warning("live snapshot: %s; times shown in %s", err, DEFAULT_TIMEZONE)
        return DEFAULT_TIMEZONE


def balance_history(
    store_dir: Path, boundary: str, end: pd.Timestamp, *, hours: float = 24.0, cache: DataCache | None = None
) -> pd.DataFrame:
    """The balance terms of a boundary over the last hours before ``end``.

    From the 1-minute table (averaged to 5 minutes); from the 15-minute table when the
    1-minute one holds nothing for the period (imported meter data only). Only the table's
    last rows are read (live rows arrive in time order), so a year-long table costs no more
    than a day-long one; when those rows do not reach back far enough, the whole table is read.

    Returns
    -------
    pandas.DataFrame
        Index: interval start (tz-aware UTC); columns: the terms present of
        :data:`HISTORY_TERMS` (load-positive). [kW]

    Raises
    ------
    StoreReadError
        When a table cannot be read (one line naming the store, the table and the cause).
    """
    end_s = int(end.timestamp())
    start_s = end_s - int(hours * 3600)
    wanted = [Channel.balance(boundary, term).key for term in HISTORY_TERMS]
    earlier = [Channel.balance(boundary, old).key for old, new in EARLIER_BALANCE_TERMS.items() if new in HISTORY_TERMS]
    for table, resolution_s in TABLES.items():
        with _store_read(store_dir, table):
            rows = _table_rows(store_dir, table)
            tail = int(1.5 * hours * 3600 / resolution_s) + 16
            key = ("history", str(store_dir), table, rows, boundary, start_s // 60, end_s // 60)
            load = functools.partial(
                _read_recent, store_dir, table, wanted + earlier, start_s, end_s, max(rows - tail, 0)
            )
            frame = _cached(cache, key, load)
        if len(frame):
            frame = _current_terms(frame)
            if table == "1min":
                frame = frame.resample(f"{HISTORY_STEP_MIN}min").mean().dropna(how="all")
            return frame
    return pd.DataFrame(columns=list(HISTORY_TERMS), index=pd.DatetimeIndex([], tz="UTC"))


class _DailySums:
    """Daily sums of a boundary's flows, extended by the rows appended since the last read."""

    def __init__(self) -> None:
        self.rows = 0
        self.seen: set[int] = set()
        self.days = pd.DataFrame()
        self.lock = threading.Lock()


def daily_flows(
    store_dir: Path, boundary: str, year: int, *, cache: DataCache | None = None, tz: str = DEFAULT_TIMEZONE
) -> pd.DataFrame:
    """A boundary's energy flows per local day (time zone ``tz``) of ``year`` from the 15-minute table.

    With a cache, the sums are kept and later calls read only the rows appended since
    (a quarter-hour already counted keeps its first value, as :func:`read_table` does).

    Returns
    -------
    pandas.DataFrame
        Index: local dates (``DatetimeIndex`` at local midnight in ``tz``); columns
        :data:`FLOW_TERMS`; days without data are left out. [kW h]

    Raises
    ------
    StoreReadError
        When the table cannot be read (one line naming the store and the cause).
    """
    sums = _cached(cache, ("daily", str(store_dir), boundary, year, tz), _DailySums)
    with sums.lock:
        with _store_read(store_dir, "15min"):
            if sums.rows == 0 or sums.rows != _table_rows(store_dir, "15min"):
                _extend_daily(sums, store_dir, boundary, year, tz)
        return sums.days.copy()


def _extend_daily(sums: _DailySums, store_dir: Path, boundary: str, year: int, tz: str) -> None:
    start = pd.Timestamp(year=year, month=1, day=1, tz=tz).tz_convert("UTC")
    end = pd.Timestamp(year=year + 1, month=1, day=1, tz=tz).tz_convert("UTC")
    wanted = [Channel.flow(boundary, term).key for term in FLOW_TERMS]
    ds = read_table(
        store_dir,
        "15min",
        start_s=int(start.timestamp()),
        end_s=int(end.timestamp()),
        channels=wanted,
        start_row=sums.rows,
    )
    sums.rows = int(ds.attrs.get("rows", sums.rows))
    times = ds["time"].values.astype("datetime64[s]").astype(np.int64)
    new = np.asarray([t not in sums.seen for t in times.tolist()], dtype=bool)
    if not new.any():
        return
    sums.seen.update(times[new].tolist())
    frame = pd.DataFrame(
        ds["value"].values[new],
        index=pd.DatetimeIndex(ds["time"].values[new]).tz_localize("UTC").tz_convert(tz),
        columns=[Channel.parse(str(channel)).name for channel in ds["channel"].values],
    ).dropna(how="all")
    if frame.empty:
        return
    days = frame.groupby(frame.index.normalize()).sum(min_count=1)
    merged = days if sums.days.empty else sums.days.add(days, fill_value=0.0)
    sums.days = merged.sort_index().dropna(how="all")


def step_energy(p_kw: np.ndarray, dt_h: float) -> tuple[np.ndarray, np.ndarray]:
    """Import and export energy per step from net power at a boundary (never netted across steps).

    Parameters
    ----------
    p_kw : numpy.ndarray
        Net power at the boundary, import-positive. [kW]
    dt_h : float
        Step length. [h]

    Returns
    -------
    import_kwh, export_kwh : numpy.ndarray
        Non-negative energies per step. [kW h]
    """
    p = np.nan_to_num(np.asarray(p_kw, dtype=np.float64))
    return np.clip(p, 0.0, None) * dt_h, np.clip(-p, 0.0, None) * dt_h


def open_result(folder: Path, *, cache: DataCache | None = None) -> xr.Dataset:
    """The root group of a result's dataset, loaded into memory (:meth:`ResultFolder.open_dataset`).

    Raises
    ------
    FileNotFoundError
        When the folder holds no result dataset.
    """
    result = ResultFolder(folder)
    stamp = result.dataset_stamp()
    return _cached(cache, ("result", str(result.dataset_path), stamp), result.open_dataset)


def grid_map_from_net(folder: Path, *, cache: DataCache | None = None) -> GridMap:
    """Buses, branches and building buses of a result's grid (:meth:`ResultFolder.grid_layout`)."""
    result = ResultFolder(folder)
    stamp = result.grid_stamp()

    def load() -> GridMap:
        layout = result.grid_layout()
        return GridMap(buses=layout.buses, branches=layout.branches, building_bus=layout.building_bus)

    return _cached(cache, ("net", str(result.net_path), stamp), load)


def grid_map_from_snapshot(snapshot: LiveSnapshot | None) -> GridMap | None:
    """The grid drawn from the live snapshot's ``grid`` section (``None`` when the snapshot has none).

    A value the snapshot lacks (a bus without position or voltage) is NaN in the frames.
    """
    grid = snapshot.grid if snapshot is not None else None
    if grid is None or not grid.buses:
        return None
    buses = pd.DataFrame.from_dict(
        {int(key): bus.to_json() for key, bus in grid.buses.items()}, orient="index", columns=list(_BUS_COLUMNS)
    )
    branches = pd.DataFrame.from_dict(
        {key: branch.to_json() for key, branch in grid.branches.items()}, orient="index", columns=list(_BRANCH_COLUMNS)
    )
    for frame, numeric in ((buses, ("x", "y", "vm_pu")), (branches, ("loading_percent",))):
        for column in numeric:
            frame[column] = frame[column].astype(float)
    return GridMap(buses=buses.sort_index(), branches=branches)


@contextlib.contextmanager
def _store_read(store_dir: Path, table: str) -> Iterator[None]:
    """Turn what a read of a damaged table raises into a one-line :class:`StoreReadError`."""
    try:
        yield
    except STORE_READ_ERRORS as err:
        text = " ".join(str(err).split())  # the store's own errors are one line and name the repair command
        text = (text if isinstance(err, TwinError) else text[:300]) or type(err).__name__
        label = {"1min": "1-minute", "15min": "15-minute"}.get(table, table)
        raise StoreReadError(f"the {label} table of {store_dir} cannot be read ({type(err).__name__}: {text})") from err


def _table_rows(store_dir: Path, table: str) -> int:
    try:
        commit = read_json(store_dir / f"means_{table}.commit.json", {"rows": 0})
    except ValueError:  # a torn commit record: the read that follows names it
        return -1
    return int(commit.get("rows", 0)) if isinstance(commit, dict) else 0


def _current_terms(frame: pd.DataFrame) -> pd.DataFrame:
    """Balance terms stored under their earlier names (:data:`EARLIER_BALANCE_TERMS`) joined to the names now."""
    if not any(old in frame for old in EARLIER_BALANCE_TERMS):
        return frame
    frame = frame.copy()  # the cached frame stays as read
    for old, new in EARLIER_BALANCE_TERMS.items():
        if old in frame:
            frame[new] = frame[new].combine_first(frame[old]) if new in frame else frame[old]
            frame = frame.drop(columns=old)
    return frame


def _read_frame(store_dir: Path, table: str, wanted: list[str], start_s: int, end_s: int) -> pd.DataFrame:
    return _frame(read_table(store_dir, table, start_s=start_s, end_s=end_s, channels=wanted))


def _frame(ds: xr.Dataset) -> pd.DataFrame:
    frame = pd.DataFrame(
        ds["value"].values,
        index=pd.DatetimeIndex(ds["time"].values).tz_localize("UTC"),
        columns=[Channel.parse(str(channel)).name for channel in ds["channel"].values],
    )
    return frame.dropna(how="all")


def _read_recent(
    store_dir: Path, table: str, wanted: list[str], start_s: int, end_s: int, start_row: int
) -> pd.DataFrame:
    """Rows of ``[start_s, end_s)`` from the table's last rows; all rows when those do not reach back."""
    if start_row > 0:
        ds = read_table(store_dir, table, channels=wanted, start_row=start_row)
        times = ds["time"].values.astype("datetime64[s]").astype(np.int64)
        if times.size and times.min() <= start_s:
            keep = (times >= start_s) & (times < end_s)
            return _frame(ds.isel(time=keep))
    return _read_frame(store_dir, table, wanted, start_s, end_s)


def _cached(cache: DataCache | None, key: Hashable, loader: Callable[[], T]) -> T:
    return loader() if cache is None else cache.get(key, loader)
