"""A read-only REST/JSON API beside the dashboard, behind the same login.

``/api/v1/...`` serves the live snapshot, the store's channels and their history at 1-minute,
15-minute, hourly or daily resolution (JSON, CSV or NetCDF), and the scenario results. The
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
import yaml
from flask import Flask, Response, current_app, jsonify, request

from dashboard.data import DashboardConfig, load_snapshot
from scenarios.results import list_results
from twin.core.store import read_table

__all__ = ["RESOLUTIONS", "install_api", "openapi_document"]

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


def _snapshot(config: DashboardConfig) -> Response:
    snapshot = load_snapshot(config.store_dir)
    if snapshot is None:
        raise ApiError("no live snapshot yet", status=404)
    return jsonify(snapshot.to_json())


def _channels(config: DashboardConfig) -> Response:
    out: dict[str, list[str]] = {}
    for table in ("1min", "15min"):
        try:
            data = read_table(config.store_dir, table, start_row=10**12)  # no rows: the channel names only
            out[table] = [str(c) for c in data["channel"].values]
        except (OSError, ValueError, KeyError):
            out[table] = []
    return jsonify(out)


def _history(config: DashboardConfig) -> Response:
    channels = request.args.getlist("channel")
    if not channels or len(channels) > MAX_CHANNELS:
        raise ApiError(f"channel: give 1 to {MAX_CHANNELS} channel parameters")
    resolution = request.args.get("resolution", "15min")
    if resolution not in RESOLUTIONS:
        raise ApiError(f"resolution: {resolution!r} is not one of {', '.join(RESOLUTIONS)}")
    start, end = _time_arg("from"), _time_arg("to")
    if end <= start or (end - start) > pd.Timedelta(days=MAX_DAYS):
        raise ApiError(f"from/to: the period must be positive and at most {MAX_DAYS} days")
    form = request.args.get("format", "json")
    if form not in ("json", "csv", "nc"):
        raise ApiError(f"format: {form!r} is not one of json, csv, nc")
    table, rule = RESOLUTIONS[resolution]
    cache: SeriesCache = current_app.config.setdefault(SERIES_CACHE_KEY, SeriesCache())
    naive_start, naive_end = start.tz_localize(None), end.tz_localize(None)
    columns = {}
    for channel in dict.fromkeys(channels):
        series = cache.series(config.store_dir, table, channel)
        columns[channel] = series[(series.index >= naive_start) & (series.index < naive_end)]
    frame = pd.DataFrame(columns)
    frame.index.name = "time"
    counts = frame.notna().astype(int)
    if rule is not None:
        frame, counts = _resampled(frame, rule)
    return _respond(frame, counts, form, resolution)


class SeriesCache:
    """Whole channels of a table kept in memory and extended by the rows appended since.

    A history request reads a channel's rows once; later requests read only the rows appended
    since (``start_row``), so a year costs what its first read cost only once per channel and
    worker. A table whose row count went down (pruned, repaired) is read again.
    """

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self._items: OrderedDict[tuple[str, str, str], tuple[int, pd.Series]] = OrderedDict()
        self._lock = threading.Lock()

    def series(self, store_dir: Path, table: str, channel: str) -> pd.Series:
        """The channel's values by time (tz-naive UTC); ApiError 404 when the table has no such channel."""
        key = (str(store_dir), table, channel)
        with self._lock:
            cached = self._items.get(key)
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
        series = new if cached is None else cached[1].combine_first(new)  # the earlier value of a time wins
        with self._lock:
            self._items[key] = (rows, series)
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return series


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
