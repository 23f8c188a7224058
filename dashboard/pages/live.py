"""Live page: the quarter's flows now, KPI tiles, the last 24 hours, device health and alerts.

Refreshed every few seconds by a ``dcc.Interval`` from the live snapshot and the store,
without a page reload.
"""

from __future__ import annotations

import logging
from typing import Any, Final

import pandas as pd
from dash import Dash, Input, Output, dcc, html

from dashboard.data import (
    LOCAL_TZ,
    DashboardConfig,
    DataCache,
    StoreReadError,
    balance_history,
    load_snapshot,
    sim_time,
)
from dashboard.figures import empty_figure, flow_sankey, history_figure
from dashboard.pages.common import current, format_frac, format_kw, local_time, refresh_ms, table, tile

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
            dcc.Graph(id="live-history"),
        ]
    )


def live_view(config: DashboardConfig, cache: DataCache | None = None) -> dict[str, Any]:
    """Everything the live page shows, from the snapshot and the store.

    Returns
    -------
    dict
        ``status`` (text), ``alerts``, ``tiles``, ``health`` (components), ``sankey`` and
        ``history`` (figures).
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
        }
    substation = (snapshot.get("balance") or {}).get("substation") or {}
    now = sim_time(snapshot)
    unreadable: list[html.Div] = []
    try:
        history = (
            balance_history(config.store_dir, "substation", now, cache=cache) if now is not None else pd.DataFrame()
        )
    except StoreReadError as err:
        logger.error("live page: %s", err)
        history, unreadable = None, [html.Div(f"No history: {err}", className="alert bad")]
    status = (
        f"{snapshot.get('site', 'site')} · time {local_time(snapshot.get('sim_time_utc'), '%d.%m.%Y %H:%M:%S')}"
        f" ({LOCAL_TZ}) · snapshot written {local_time(snapshot.get('written_utc'), '%H:%M:%S')}"
    )
    return {
        "status": status,
        "alerts": unreadable + [html.Div(text, className=f"alert {level}") for level, text in alerts(snapshot)]
        or [html.Div("no alerts", className="alert ok")],
        "tiles": _tiles(snapshot, substation),
        "health": _health(snapshot),
        "sankey": flow_sankey(substation, title="District power flows now [kW]"),
        "history": empty_figure("the stored history cannot be read")
        if history is None
        else history_figure(history, title="District, last 24 hours [kW]"),
    }


def alerts(snapshot: dict[str, Any], *, now_wall: pd.Timestamp | None = None) -> list[tuple[str, str]]:
    """Alerts as (level, text): devices down, grid limits, the live twin's own (store writes), stale data."""
    found: list[tuple[str, str]] = []
    failing = list(snapshot.get("failing") or [])
    if failing:
        shown = ", ".join(failing[:8]) + (f" and {len(failing) - 8} more" if len(failing) > 8 else "")
        found.append(("bad", f"{len(failing)} device(s) down: {shown}"))
    grid = snapshot.get("grid") or {}
    trafo = _float(grid.get("trafo_loading_max_percent"))
    if trafo is not None and trafo > 100.0:
        found.append(("bad", f"transformer loaded {trafo:.0f} % (above 100 %)"))
    line = _float(grid.get("line_loading_max_percent"))
    if line is not None and line > 100.0:
        found.append(("bad", f"a line is loaded {line:.0f} % (above 100 %)"))
    vmin, vmax = _float(grid.get("vm_min_pu")), _float(grid.get("vm_max_pu"))
    if vmin is not None and vmin < VOLTAGE_BAND_PU[0]:
        found.append(("bad", f"voltage {vmin:.3f} p.u. below the EN 50160 band ({VOLTAGE_BAND_PU[0]} p.u.)"))
    if vmax is not None and vmax > VOLTAGE_BAND_PU[1]:
        found.append(("bad", f"voltage {vmax:.3f} p.u. above the EN 50160 band ({VOLTAGE_BAND_PU[1]} p.u.)"))
    if grid and grid.get("converged") is False:
        found.append(("warn", "the live power flow did not converge"))
    for alert in snapshot.get("alerts") or []:  # the live twin's own (e.g. failing store writes)
        if isinstance(alert, dict) and alert.get("text"):
            found.append(("bad" if alert.get("level") == "bad" else "warn", str(alert["text"])))
    written = snapshot.get("written_utc")
    if written:
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
        Input("live-interval", "n_intervals"),
    )
    def _update(_n: int) -> tuple[Any, ...]:
        view = live_view(*current())
        return view["status"], view["alerts"], view["tiles"], view["health"], view["sankey"], view["history"]


def _tiles(snapshot: dict[str, Any], substation: dict[str, Any]) -> list[html.Div]:
    today = ((snapshot.get("kpis") or {}).get("today") or {}).get("substation") or {}
    p_grid_kw = _float(substation.get("p_grid_kw"))
    if p_grid_kw is None:
        exchange, note = "-", "unknown"
    else:
        exchange, note = format_kw(abs(p_grid_kw)), "import from the grid" if p_grid_kw >= 0 else "export to the grid"
    controller = snapshot.get("controller") or {}
    signal = controller.get("signal")
    signal_note = (
        f"since {local_time(controller.get('since_utc'), '%H:%M')}" if signal else "no controller data in the snapshot"
    )
    return [
        tile("Self-sufficiency today", format_frac(today.get("self_sufficiency_frac")), note="1 - import / load"),
        tile("Self-consumption today", format_frac(today.get("self_consumption_frac")), note="1 - export / PV"),
        tile("Grid exchange now", exchange, note=note),
        tile("Signal to controllers", str(signal) if signal else "-", note=signal_note, tone="signal"),
        tile(
            "Devices ok",
            f"{snapshot.get('devices_ok', '-')} / {snapshot.get('devices_total', '-')}",
            tone="bad" if snapshot.get("failing") else "",
        ),
    ]


def _health(snapshot: dict[str, Any]) -> list[Any]:
    devices: dict[str, Any] = snapshot.get("devices") or {}
    by_kind: dict[str, list[int]] = {}
    for device in devices.values():
        counts = by_kind.setdefault(str(device.get("kind", "other")), [0, 0])
        counts[0 if device.get("ok") else 1] += 1
    failing = [(name, devices.get(name, {})) for name in snapshot.get("failing") or []]
    rows = [(kind.replace("_", " "), ok, bad) for kind, (ok, bad) in sorted(by_kind.items())]
    parts: list[Any] = [html.H3("Device health"), table(["kind", "ok", "failing"], rows, table_id="live-health-table")]
    if failing:
        parts += [
            html.H4("Failing"),
            table(
                ["device", "kind", "error", "last good value"],
                [
                    (name, str(d.get("kind", "")), str(d.get("error") or ""), local_time(d.get("read_utc")))
                    for name, d in failing
                ],
                table_id="live-failing-table",
            ),
        ]
    else:
        parts.append(html.P("All devices answer.", id="live-all-ok"))
    return parts


def _float(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None
