"""A read-only REST/JSON API beside the dashboard, behind the same login.

``/api/v1/...`` serves the live snapshot, the store's channels and their history at 1-minute,
15-minute, hourly or daily resolution (JSON, CSV or NetCDF), the energy KPIs of a boundary for
a period (``/kpis``), a boundary's measured data as a CSV or NetCDF file (``/export``), and the
scenario results. The
OpenAPI 3.1 description is at ``/api/v1/openapi.json``. Times are UTC (ISO 8601); hourly and
daily values are the sums of the 15-minute values for energy channels (``..._kwh``) and their
means otherwise, over the 15-minute values that exist (``count`` says how many; a bucket with
none is ``null``).

Grafana reads it with its JSON API / Infinity data source: URL
``http://HOST:8050/api/v1/history?channel=flow:substation/import_kwh&from=${__from:date:iso}&to=${__to:date:iso}&resolution=1h``,
basic authentication with a dashboard user.
"""

from __future__ import annotations

import functools
import io
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd
import xarray as xr
import yaml
from flask import Flask, Response, current_app, has_app_context, jsonify, request

from dashboard.data import DashboardConfig, load_snapshot
from scenarios.results import list_results
from twin.core.channels import Channel
from twin.core.kpi import energy_kpis
from twin.core.schema import SUBSTATION
from twin.core.store import read_table
from twin.core.vocabulary import FLOW_TERMS, STEP_FREQ

__all__ = [
    "RESOLUTIONS",
    "SERIES_CACHE_KEY",
    "ApiError",
    "SeriesCache",
    "install_api",
    "openapi_document",
    "period_frame",
]

#: Resolution name -> (table read, resample rule or None).
RESOLUTIONS: Final[dict[str, tuple[str, str | None]]] = {
    "1min": ("1min", None),
    "15min": ("15min", None),
    "1h": ("15min", "1h"),
    "1d": ("15min", "1D"),
}
#: Most channels one history request may ask for.
MAX_CHANNELS: Final[int] = 50
#: Longest period one history request may cover. [days]
MAX_DAYS: Final[int] = 400
PREFIX: Final[str] = "/api/v1"
#: Where the Flask app keeps its :class:`SeriesCache`.
SERIES_CACHE_KEY: Final[str] = "twin_api_series_cache"


class ApiError(Exception):
    """A bad request: HTTP 400 with a one-line message naming the parameter."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def install_api(server: Flask, config: DashboardConfig) -> None:
    """Register the API's routes on the dashboard's Flask server (the login applies to them)."""

    def route(path: str, name: str, view: Callable[[], Response]) -> None:
        def guarded() -> Response:
            try:
                return view()
            except ApiError as err:
                response = jsonify(error=str(err))
                response.status_code = err.status
                return response

        server.add_url_rule(f"{PREFIX}{path}", f"api_{name}", guarded)

    route("/openapi.json", "openapi", lambda: jsonify(openapi_document()))
    route("/snapshot", "snapshot", lambda: _snapshot(config))
    route("/channels", "channels", lambda: _channels(config))
    route("/history", "history", lambda: _history(config))
    route("/scenarios", "scenarios", lambda: _scenarios(config))
    route("/kpis", "kpis", lambda: _kpis(config))
    route("/export", "export", lambda: _export(config))


def _snapshot(config: DashboardConfig) -> Response:
    snapshot = load_snapshot(config.store_dir)
    if snapshot is None:
        raise ApiError("no live snapshot yet", status=404)
    return jsonify(snapshot.to_json())


def _channels(config: DashboardConfig) -> Response:
    return jsonify({table: _table_channels(config, table) for table in ("1min", "15min")})


def _history(config: DashboardConfig) -> Response:
    channels = request.args.getlist("channel")
    if not channels or len(channels) > MAX_CHANNELS:
        raise ApiError(f"channel: give 1 to {MAX_CHANNELS} channel parameters")
    resolution, start, end, form = _period_args(formats=("json", "csv", "nc"), default_format="json")
    frame, counts = period_frame(config.store_dir, list(dict.fromkeys(channels)), resolution, start, end)
    return _respond(frame, counts, form, resolution)


def _export(config: DashboardConfig) -> Response:
    """Every balance and flow channel of one boundary over a period, as a CSV or NetCDF file."""
    boundary = request.args.get("boundary", "")
    if not boundary:
        raise ApiError("boundary: give the boundary (substation or a building id)")
    resolution, start, end, form = _period_args(formats=("csv", "nc"), default_format="csv")
    table = RESOLUTIONS[resolution][0]
    channels = [c for c in _table_channels(config, table) if c.split(":", 1)[-1].split("/", 1)[0] == boundary]
    channels = [c for c in channels if c.startswith(("balance:", "flow:"))]
    if not channels:
        raise ApiError(f"boundary: {boundary!r} has no balance or flow channel in the {table} table", status=404)
    frame, counts = period_frame(config.store_dir, channels, resolution, start, end)
    response = _respond(frame, counts, form, resolution)
    stamp = f"{start:%Y%m%dT%H%MZ}-{end:%Y%m%dT%H%MZ}"
    response.headers["Content-Disposition"] = f'attachment; filename="{boundary}-{resolution}-{stamp}.{form}"'
    return response


def _kpis(config: DashboardConfig) -> Response:
    """The energy KPIs of one boundary over a period, from its 15-minute flows."""
    boundary = request.args.get("boundary", SUBSTATION)
    start, end = _time_arg("from"), _time_arg("to")
    _check_period(start, end)
    channels = [Channel.flow(boundary, term).key for term in FLOW_TERMS]
    present = set(_table_channels(config, "15min"))
    if not any(c in present for c in channels):
        raise ApiError(f"boundary: {boundary!r} has no flows in the 15min table", status=404)
    frame, _ = period_frame(config.store_dir, [c for c in channels if c in present], "15min", start, end)
    frame = frame.rename(columns=lambda c: Channel.parse(str(c)).name)
    grid = pd.date_range(
        start.tz_convert("UTC").tz_localize(None).ceil(STEP_FREQ),
        end.tz_convert("UTC").tz_localize(None),
        freq=STEP_FREQ,
        inclusive="left",
    )
    if grid.size < 2:
        raise ApiError("from/to: the period must cover at least two quarter-hours")
    frame = frame.reindex(grid)
    measured = int(frame.notna().any(axis=1).sum())
    flows = xr.Dataset(
        {
            term: ("time", frame[term].fillna(0.0).to_numpy() if term in frame else np.zeros(grid.size))
            for term in FLOW_TERMS
        },
        coords={"time": grid.values},
    )
    kpis = energy_kpis(flows, dim="time")
    values = {name: _plain_value(kpis[name].values) for name in kpis.data_vars}
    return jsonify(
        boundary=boundary,
        from_utc=_iso(start),
        to_utc=_iso(end),
        quarters=int(grid.size),
        quarters_measured=measured,
        kpis={k: v for k, v in values.items() if _plain(v)},
    )


def period_frame(
    store_dir: Path,
    channels: list[str],
    resolution: str,
    start: pd.Timestamp,
    end: pd.Timestamp,
    *,
    cache: SeriesCache | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Values of channels over ``[start, end)`` at a resolution of :data:`RESOLUTIONS`, and their counts.

    Through ``cache``, by default the app's :class:`SeriesCache` (whole channels, extended by
    appended rows; a new one outside an app).

    Raises
    ------
    ApiError
        404 for a channel the table lacks, 503 when the store cannot be read.
    """
    table, rule = RESOLUTIONS[resolution]
    if cache is None:
        cache = app_series_cache()
    naive_start, naive_end = start.tz_convert("UTC").tz_localize(None), end.tz_convert("UTC").tz_localize(None)
    columns = {}
    for channel in channels:
        series = cache.series(store_dir, table, channel)
        columns[channel] = _between(series, naive_start, naive_end)
    frame = pd.DataFrame(columns)
    frame.index.name = "time"
    counts = frame.notna().astype(int)
    if rule is not None:
        frame, counts = _resampled(frame, rule)
    return frame, counts


def app_series_cache() -> SeriesCache:
    """The running app's :class:`SeriesCache` (a new, unshared one outside an app)."""
    if not has_app_context():
        return SeriesCache()
    cache: SeriesCache = current_app.config.setdefault(SERIES_CACHE_KEY, SeriesCache())
    return cache


def table_channels(store_dir: Path, table: str) -> list[str]:
    """The channel names of a store table (empty when it cannot be read)."""
    try:
        data = read_table(store_dir, table, start_row=10**12)  # no rows: the channel names only
    except (OSError, ValueError, KeyError):
        return []
    return [str(c) for c in data["channel"].values]


def _between(series: pd.Series, start: pd.Timestamp, end: pd.Timestamp) -> pd.Series:
    """The rows of a time-sorted series in ``[start, end)`` (binary search: no full-length mask)."""
    index = series.index
    if index.is_monotonic_increasing:
        lo, hi = index.searchsorted(start, side="left"), index.searchsorted(end, side="left")
        return series.iloc[lo:hi]
    return series[(index >= start) & (index < end)]


def _period_args(*, formats: tuple[str, ...], default_format: str) -> tuple[str, pd.Timestamp, pd.Timestamp, str]:
    resolution = request.args.get("resolution", "15min")
    if resolution not in RESOLUTIONS:
        raise ApiError(f"resolution: {resolution!r} is not one of {', '.join(RESOLUTIONS)}")
    start, end = _time_arg("from"), _time_arg("to")
    _check_period(start, end)
    form = request.args.get("format", default_format)
    if form not in formats:
        raise ApiError(f"format: {form!r} is not one of {', '.join(formats)}")
    return resolution, start, end, form


def _check_period(start: pd.Timestamp, end: pd.Timestamp) -> None:
    if end <= start or (end - start) > pd.Timedelta(days=MAX_DAYS):
        raise ApiError(f"from/to: the period must be positive and at most {MAX_DAYS} days")


def _table_channels(config: DashboardConfig, table: str) -> list[str]:
    return table_channels(config.store_dir, table)


def _iso(stamp: pd.Timestamp) -> str:
    return stamp.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ")


def _plain_value(value: Any) -> Any:
    item = np.asarray(value).item()
    return bool(item) if isinstance(item, np.bool_) else item


class SeriesCache:
    """Whole channels of a table kept in memory and extended by the rows appended since.

    A history request reads a channel's rows once; later requests read only the rows appended
    since (``start_row``), so a year costs what its first read cost only once per channel and
    worker. While the table's commit record is the same file as at the last read (its
    modification time, size and inode), nothing was appended and the store is not read at all.
    A table whose row count went down (pruned, repaired) is read again.
    """

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self._items: OrderedDict[tuple[str, str, str], tuple[int, pd.Series, tuple[int, ...] | None]] = OrderedDict()
        self._lock = threading.Lock()

    def series(self, store_dir: Path, table: str, channel: str) -> pd.Series:
        """The channel's values by time (tz-naive UTC); ApiError 404 when the table has no such channel."""
        key = (str(store_dir), table, channel)
        stamp = _commit_stamp(store_dir, table)  # before the read: a commit after it makes the next call read
        with self._lock:
            cached = self._items.get(key)
            if cached is not None and stamp is not None and cached[2] == stamp:
                self._items.move_to_end(key)
                return cached[1]
        try:
            start_row = cached[0] if cached is not None else 0
            data = read_table(store_dir, table, channels=[channel], start_row=start_row)
        except (OSError, ValueError, KeyError) as err:
            raise ApiError(f"the store cannot be read: {err}", status=503) from err
        rows = int(data.attrs.get("rows", 0))
        if channel not in data["channel"].values:
            raise ApiError(f"channel: {channel!r} is not a channel of the {table} table", status=404)
        new = pd.Series(data["value"].sel(channel=channel).values, index=pd.DatetimeIndex(data["time"].values))
        if cached is not None and cached[0] > rows:  # fewer rows than before: rewritten, read it all again
            with self._lock:
                self._items.pop(key, None)
            return self.series(store_dir, table, channel)
        series = new if cached is None or new.empty else cached[1].combine_first(new)  # the earlier value wins
        with self._lock:
            self._items[key] = (rows, series, stamp)
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return series


def _commit_stamp(store_dir: Path, table: str) -> tuple[int, ...] | None:
    """Modification time, size and inode of a table's commit record (``None`` when it cannot be seen)."""
    try:
        stat = (Path(store_dir) / f"means_{table}.commit.json").stat()
    except OSError:
        return None
    return (stat.st_mtime_ns, stat.st_size, stat.st_ino)


def _resampled(frame: pd.DataFrame, rule: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    counts = frame.notna().astype(int).resample(rule).sum()
    sums = frame.resample(rule).sum(min_count=1)
    means = frame.resample(rule).mean()
    energy = [c for c in frame.columns if str(c).endswith("_kwh")]
    out = means.copy()
    out[energy] = sums[energy]
    return out, counts


def _respond(frame: pd.DataFrame, counts: pd.DataFrame, form: str, resolution: str) -> Response:
    if form == "csv":
        buffer = io.StringIO()
        frame.to_csv(buffer, index_label="time_utc", date_format="%Y-%m-%dT%H:%M:%SZ")
        return Response(buffer.getvalue(), mimetype="text/csv")
    if form == "nc":
        dataset = frame.rename_axis(index="time", columns="channel").stack(future_stack=True).to_xarray()
        return Response(bytes(dataset.to_dataset(name="value").to_netcdf()), mimetype="application/x-netcdf")
    times = [f"{t}Z" for t in np.datetime_as_string(frame.index.to_numpy(dtype="datetime64[s]"), unit="s")]
    series = {}
    for c in frame.columns:
        values = frame[c].to_numpy(dtype=float)
        series[str(c)] = {
            "values": _nullable(values),
            "count": counts[c].to_numpy().tolist(),
        }
    return jsonify(resolution=resolution, time_utc=times, channels=series)


def _nullable(values: np.ndarray) -> list[float | None]:
    """Values as JSON numbers, NaN as null."""
    out: list[float | None] = values.tolist()
    for index in np.flatnonzero(~np.isfinite(values)):
        out[index] = None
    return out


def _time_arg(name: str) -> pd.Timestamp:
    text = request.args.get(name)
    if not text:
        raise ApiError(f"{name}: an ISO 8601 time is required")
    try:
        stamp = pd.Timestamp(text)
    except (ValueError, TypeError):
        raise ApiError(f"{name}: {text!r} is not an ISO 8601 time") from None
    if stamp is pd.NaT or not 1990 <= stamp.year <= 2100:
        raise ApiError(f"{name}: {text!r} is outside 1990-2100")
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _scenarios(config: DashboardConfig) -> Response:
    rows = []
    for result in list_results(config.results_dir):
        try:
            kpis = result.kpis()
        except (OSError, ValueError):
            continue
        rows.append({"name": result.name, "kpis": {k: v for k, v in kpis.items() if _plain(v)}})
    return jsonify(scenarios=rows)


def _plain(value: Any) -> bool:
    return value is None or isinstance(value, str | bool | int) or (isinstance(value, float) and np.isfinite(value))


@functools.cache
def openapi_document() -> dict[str, Any]:
    """The API's OpenAPI 3.1 description (``dashboard/openapi.yaml``)."""
    text = Path(__file__).with_name("openapi.yaml").read_text(encoding="utf-8")
    document: dict[str, Any] = yaml.safe_load(text)
    return document
