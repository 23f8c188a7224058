"""Live page: the quarter's flows now, KPI tiles, the history, device health and alerts.

The history chart shows the last 24 hours, or a week, a month or the year (ending now or on a
chosen day) with the period picker of :mod:`dashboard.history`, beside links to its measured data.

Refreshed every few seconds by a ``dcc.Interval`` from the live snapshot (a
:class:`twin.core.live_state.LiveSnapshot`) and the store, without a page reload. Times are shown
in the site's time zone; a value the snapshot lacks is shown as ``-``.
"""

from __future__ import annotations

import logging
from typing import Any, Final

import pandas as pd
from dash import Dash, Input, Output, dcc, html

from dashboard.data import (
    DashboardConfig,
    DataCache,
    StoreReadError,
    display_timezone,
    load_snapshot,
    sim_time,
)
from dashboard.figures import empty_figure, flow_sankey, history_figure
from dashboard.history import download_links, period_bounds, period_controls, period_history, period_title
from dashboard.pages.common import current, format_kpi, format_kw, local_time, refresh_ms, table, tile
from twin.core.live_state import BoundaryState, GridState, LiveSnapshot
from twin.core.schema import SUBSTATION
from twin.core.vocabulary import Quality

__all__ = ["NAME", "PATH", "alerts", "layout", "live_view", "register_callbacks"]

PATH: Final[str] = "/"
NAME: Final[str] = "Live"

logger = logging.getLogger(__name__)
#: Voltage band of EN 50160 (+-10 % of nominal). [1]
VOLTAGE_BAND_PU: Final[tuple[float, float]] = (0.9, 1.1)
#: A snapshot older than this (wall time) means the live twin stopped writing. [s]
STALE_AFTER_S: Final[float] = 30.0


def layout() -> html.Div:
    """The page skeleton (no data: callbacks fill it)."""
    return html.Div(
        [
            dcc.Interval(id="live-interval", interval=refresh_ms(), n_intervals=0),
            html.H2("Live"),
            html.Div(id="live-status", className="status-line"),
            html.Div(id="live-alerts"),
            html.Div(id="live-tiles", className="tiles"),
            html.Div(
                [dcc.Graph(id="live-sankey", className="half"), html.Div(id="live-health", className="half panel")],
                className="row",
            ),
            period_controls("live"),
            dcc.Graph(id="live-history"),
        ]
    )


def live_view(
    config: DashboardConfig, cache: DataCache | None = None, *, period: str | None = "day", until: str | None = None
) -> dict[str, Any]:
    """Everything the live page shows, from the snapshot and the store.

    Parameters
    ----------
    period, until : str, optional
        The history's period (:data:`dashboard.history.PERIODS`) and its last local day
        (``YYYY-MM-DD``; default: the period ends now).

    Returns
    -------
    dict
        ``status`` (text), ``alerts``, ``tiles``, ``health``, ``downloads`` (components),
        ``sankey`` and ``history`` (figures).
    """
    snapshot = load_snapshot(config.store_dir)
    if snapshot is None:
        message = f"no live snapshot in {config.store_dir} yet (is 'twin live' running?)"
        return {
            "status": message,
            "alerts": [html.Div(message, className="alert warn")],
            "tiles": [],
            "health": [],
            "sankey": empty_figure("no live data"),
            "history": empty_figure("no live data"),
            "downloads": [],
        }
    substation = snapshot.district
    tz = display_timezone(snapshot)
    now = sim_time(snapshot)
    unreadable: list[html.Div] = []
    start, end = period_bounds(period, until, now, tz)
    try:
        history = (
            period_history(config.store_dir, SUBSTATION, period, start, end, live=not until, cache=cache)
            if now is not None or until
            else pd.DataFrame()
        )
    except StoreReadError as err:
        logger.error("live page: %s", err)
        history, unreadable = None, [html.Div(f"No history: {err}", className="alert bad")]
    status = (
        f"{snapshot.site or 'site'} · simulated time {local_time(snapshot.sim_time_utc, '%d.%m.%Y %H:%M:%S', tz=tz)}"
        f" ({tz}) · last update {local_time(snapshot.written_utc, '%H:%M:%S', tz=tz)} wall-clock time"
    )
    return {
        "status": status,
        "alerts": unreadable + [html.Div(text, className=f"alert {level}") for level, text in alerts(snapshot)]
        or [html.Div("no alerts", className="alert ok")],
        "tiles": _tiles(snapshot, substation, tz),
        "health": _health(snapshot, tz),
        "sankey": flow_sankey(
            substation.terms() if substation is not None else None, title="District power flows now [kW]"
        ),
        "history": empty_figure("the stored history cannot be read")
        if history is None
        else history_figure(history, title=f"District, {period_title(period, until, start, end, tz)} [kW]", tz=tz),
        "downloads": download_links(SUBSTATION, period, start, end),
    }


def alerts(snapshot: LiveSnapshot, *, now_wall: pd.Timestamp | None = None) -> list[tuple[str, str]]:
    """Alerts as (level, text): devices down, grid limits, the live twin's own (store writes), stale data."""
    found: list[tuple[str, str]] = []
    failing = list(snapshot.failing)
    if failing:
        shown = ", ".join(failing[:8]) + (f" and {len(failing) - 8} more" if len(failing) > 8 else "")
        found.append(("bad", f"{len(failing)} device(s) down: {shown}"))
    grid = snapshot.grid
    if grid is not None:
        found += _grid_alerts(grid)
        if grid.converged is False:
            found.append(("warn", "the live power flow did not converge"))
    found += _quality_alerts(snapshot.district)
    for alert in snapshot.alerts:  # the live twin's own (e.g. failing store writes)
        if alert.text:
            found.append(("bad" if alert.level == "bad" else "warn", alert.text))
    written = snapshot.written_utc
    if written is not None:
        wall = now_wall if now_wall is not None else pd.Timestamp.now(tz="UTC")
        age_s = (wall - pd.Timestamp(written).tz_convert("UTC")).total_seconds()
        if age_s > STALE_AFTER_S:
            found.append(("warn", f"the snapshot is {age_s:,.0f} s old: is 'twin live' still running?"))
    return found


def register_callbacks(app: Dash) -> None:
    """Attach the page's callbacks to ``app``."""

    @app.callback(
        Output("live-status", "children"),
        Output("live-alerts", "children"),
        Output("live-tiles", "children"),
        Output("live-health", "children"),
        Output("live-sankey", "figure"),
        Output("live-history", "figure"),
        Output("live-downloads", "children"),
        Input("live-interval", "n_intervals"),
        Input("live-period", "value"),
        Input("live-until", "date"),
    )
    def _update(_n: int, period: str | None, until: str | None) -> tuple[Any, ...]:
        view = live_view(*current(), period=period, until=until)
        return (
            view["status"],
            view["alerts"],
            view["tiles"],
            view["health"],
            view["sankey"],
            view["history"],
            view["downloads"],
        )


def _quality_alerts(district: BoundaryState | None) -> list[tuple[str, str]]:
    """The district balance's quality per quantity: the grid exchange by the substation meter, sums partial."""
    if district is None or district.quality is None or district.quality is Quality.OK:
        return []
    if district.quality is Quality.PARTIAL:
        missing = district.inputs_missing if district.inputs_missing is not None else "some"
        return [
            (
                "warn",
                f"district sums partial: {missing} input(s) not ok (PV, load and battery cover the devices that"
                " answer); the grid exchange is measured",
            )
        ]
    return [("bad", f"the substation meter is {district.quality.name.lower()}: the grid exchange is not measured now")]


def _grid_alerts(grid: GridState) -> list[tuple[str, str]]:
    """The live power flow's limits passed: loadings above 100 %, voltages outside the EN 50160 band."""
    found: list[tuple[str, str]] = []
    trafo, line = grid.trafo_loading_max_percent, grid.line_loading_max_percent
    vmin, vmax = grid.vm_min_pu, grid.vm_max_pu
    if trafo is not None and trafo > 100.0:
        found.append(("bad", f"transformer loaded {trafo:.0f} % (above 100 %)"))
    if line is not None and line > 100.0:
        found.append(("bad", f"a line is loaded {line:.0f} % (above 100 %)"))
    if vmin is not None and vmin < VOLTAGE_BAND_PU[0]:
        found.append(("bad", f"voltage {vmin:.3f} p.u. below the EN 50160 band ({VOLTAGE_BAND_PU[0]} p.u.)"))
    if vmax is not None and vmax > VOLTAGE_BAND_PU[1]:
        found.append(("bad", f"voltage {vmax:.3f} p.u. above the EN 50160 band ({VOLTAGE_BAND_PU[1]} p.u.)"))
    return found


def _tiles(snapshot: LiveSnapshot, substation: BoundaryState | None, tz: str) -> list[html.Div]:
    today = snapshot.kpis.today.get(SUBSTATION)
    p_grid_kw = substation.p_grid_kw if substation is not None else None
    if p_grid_kw is None:
        exchange, note = "-", "unknown"
    else:
        exchange, note = format_kw(abs(p_grid_kw)), "import from the grid" if p_grid_kw >= 0 else "export to the grid"
    controller = snapshot.controller
    signal = controller.signal if controller is not None else None
    since = controller.since_utc if controller is not None else None
    signal_note = f"since {local_time(since, '%H:%M', tz=tz)}" if signal else "no controller data in the snapshot"
    return [
        tile(
            "Self-sufficiency today",
            format_kpi("self_sufficiency_frac", today.self_sufficiency_frac if today is not None else None),
            note="1 - import / load",
        ),
        tile(
            "Self-consumption today",
            format_kpi("self_consumption_frac", today.self_consumption_frac if today is not None else None),
            note="1 - export / PV",
        ),
        tile("Grid exchange now", exchange, note=note),
        tile("Signal to controllers", str(signal) if signal else "-", note=signal_note, tone="signal"),
        tile(
            "Devices ok",
            f"{_count(snapshot.devices_ok)} / {_count(snapshot.devices_total)}",
            tone="bad" if snapshot.failing else "",
        ),
    ]


def _health(snapshot: LiveSnapshot, tz: str) -> list[Any]:
    devices = snapshot.devices
    by_kind: dict[str, list[int]] = {}
    for device in devices.values():
        counts = by_kind.setdefault(device.kind or "other", [0, 0])
        counts[0 if device.ok else 1] += 1
    failing = [(name, devices.get(name)) for name in snapshot.failing]
    rows = [(kind.replace("_", " "), ok, bad) for kind, (ok, bad) in sorted(by_kind.items())]
    parts: list[Any] = [html.H3("Device health"), table(["kind", "ok", "failing"], rows, table_id="live-health-table")]
    if failing:
        parts += [
            html.H4("Failing"),
            table(
                ["device", "kind", "error", "last good value"],
                [
                    (
                        name,
                        (d.kind or "") if d is not None else "",
                        (d.error or "") if d is not None else "",
                        local_time(d.read_utc if d is not None else None, tz=tz),
                    )
                    for name, d in failing
                ],
                table_id="live-failing-table",
            ),
        ]
    else:
        parts.append(html.P("All devices answer.", id="live-all-ok"))
    return parts


def _count(value: int | None) -> str:
    return "-" if value is None else str(value)
