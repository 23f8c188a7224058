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
from dashboard.i18n import current_language, format_number, format_time, kind_label, t
from dashboard.pages.common import current, format_kpi, format_kw, refresh_ms, table, tile
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
            html.H2(t("live.title")),
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
    config: DashboardConfig,
    cache: DataCache | None = None,
    *,
    period: str | None = "day",
    until: str | None = None,
    lang: str | None = None,
) -> dict[str, Any]:
    """Everything the live page shows, from the snapshot and the store, in ``lang`` (default: the request's).

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
    lang = lang or current_language()
    snapshot = load_snapshot(config.store_dir)
    if snapshot is None:
        message = t("live.no_snapshot", lang, path=config.store_dir)
        return {
            "status": message,
            "alerts": [html.Div(message, className="alert warn")],
            "tiles": [],
            "health": [],
            "sankey": empty_figure(t("common.no_live_data", lang), lang),
            "history": empty_figure(t("common.no_live_data", lang), lang),
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
        history, unreadable = None, [html.Div(t("live.no_history", lang, error=err), className="alert bad")]
    status = t(
        "live.status",
        lang,
        site=snapshot.site or t("live.site", lang),
        time=format_time(snapshot.sim_time_utc, lang, precision="second", tz=tz),
        tz=tz,
        wall=format_time(snapshot.written_utc, lang, precision="clock_s", tz=tz),
    )
    return {
        "status": status,
        "alerts": unreadable
        + [html.Div(text, className=f"alert {level}") for level, text in alerts(snapshot, lang=lang)]
        or [html.Div(t("live.no_alerts", lang), className="alert ok")],
        "tiles": _tiles(snapshot, substation, tz, lang),
        "health": _health(snapshot, tz, lang),
        "sankey": flow_sankey(
            substation.terms() if substation is not None else None, title=t("live.sankey_title", lang), lang=lang
        ),
        "history": empty_figure(t("live.store_unreadable", lang), lang)
        if history is None
        else history_figure(
            history,
            title=t("live.history_title", lang, period=period_title(period, until, start, end, tz, lang)),
            tz=tz,
            lang=lang,
        ),
        "downloads": download_links(SUBSTATION, period, start, end, lang),
    }


def alerts(
    snapshot: LiveSnapshot, *, now_wall: pd.Timestamp | None = None, lang: str | None = None
) -> list[tuple[str, str]]:
    """Alerts as (level, text): devices down, grid limits, the live twin's own (store writes), stale data.

    The texts are in ``lang`` (default: the request's); the live twin's own alerts as it wrote them.
    """
    lang = lang or current_language()
    found: list[tuple[str, str]] = []
    failing = list(snapshot.failing)
    if failing:
        shown = ", ".join(failing[:8])
        if len(failing) > 8:
            shown = t("live.and_more", lang, names=shown, n=len(failing) - 8)
        found.append(("bad", t("live.devices_down", lang, n=len(failing), names=shown)))
    grid = snapshot.grid
    if grid is not None:
        found += _grid_alerts(grid, lang)
        if grid.converged is False:
            found.append(("warn", t("live.not_converged", lang)))
    found += _quality_alerts(snapshot.district, lang)
    for alert in snapshot.alerts:  # the live twin's own (e.g. failing store writes)
        if alert.text:
            found.append(("bad" if alert.level == "bad" else "warn", alert.text))
    written = snapshot.written_utc
    if written is not None:
        wall = now_wall if now_wall is not None else pd.Timestamp.now(tz="UTC")
        age_s = (wall - pd.Timestamp(written).tz_convert("UTC")).total_seconds()
        if age_s > STALE_AFTER_S:
            found.append(("warn", t("live.stale", lang, age=format_number(age_s, "s", lang, decimals=0))))
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


def _quality_alerts(district: BoundaryState | None, lang: str) -> list[tuple[str, str]]:
    """The district balance's quality per quantity: the grid exchange by the substation meter, sums partial."""
    if district is None or district.quality is None or district.quality is Quality.OK:
        return []
    if district.quality is Quality.PARTIAL:
        missing = district.inputs_missing if district.inputs_missing is not None else t("live.some", lang)
        return [("warn", t("live.partial", lang, missing=missing))]
    return [("bad", t("live.meter_bad", lang, quality=district.quality.name.lower()))]


def _grid_alerts(grid: GridState, lang: str) -> list[tuple[str, str]]:
    """The live power flow's limits passed: loadings above 100 %, voltages outside the EN 50160 band."""
    found: list[tuple[str, str]] = []
    trafo, line = grid.trafo_loading_max_percent, grid.line_loading_max_percent
    vmin, vmax = grid.vm_min_pu, grid.vm_max_pu
    low, high = (format_number(limit, "pu", lang) for limit in VOLTAGE_BAND_PU)
    if trafo is not None and trafo > 100.0:
        found.append(("bad", t("live.trafo_over", lang, value=format_number(trafo, "%", lang, decimals=0))))
    if line is not None and line > 100.0:
        found.append(("bad", t("live.line_over", lang, value=format_number(line, "%", lang, decimals=0))))
    if vmin is not None and vmin < VOLTAGE_BAND_PU[0]:
        found.append(("bad", t("live.v_low", lang, value=format_number(vmin, "pu", lang, decimals=3), limit=low)))
    if vmax is not None and vmax > VOLTAGE_BAND_PU[1]:
        found.append(("bad", t("live.v_high", lang, value=format_number(vmax, "pu", lang, decimals=3), limit=high)))
    return found


def _tiles(snapshot: LiveSnapshot, substation: BoundaryState | None, tz: str, lang: str) -> list[html.Div]:
    today = snapshot.kpis.today.get(SUBSTATION)
    p_grid_kw = substation.p_grid_kw if substation is not None else None
    if p_grid_kw is None:
        exchange, note = "-", t("common.unknown", lang)
    else:
        exchange = format_kw(abs(p_grid_kw), lang)
        note = t("live.import", lang) if p_grid_kw >= 0 else t("live.export", lang)
    controller = snapshot.controller
    signal = controller.signal if controller is not None else None
    since = controller.since_utc if controller is not None else None
    signal_note = (
        t("live.since", lang, time=format_time(since, lang, precision="clock", tz=tz))
        if signal
        else t("live.no_controller", lang)
    )
    return [
        tile(
            t("live.self_sufficiency_today", lang),
            format_kpi("self_sufficiency_frac", today.self_sufficiency_frac if today is not None else None, lang),
            note=t("live.self_sufficiency_note", lang),
        ),
        tile(
            t("live.self_consumption_today", lang),
            format_kpi("self_consumption_frac", today.self_consumption_frac if today is not None else None, lang),
            note=t("live.self_consumption_note", lang),
        ),
        tile(t("live.grid_now", lang), exchange, note=note),
        tile(t("live.signal", lang), str(signal) if signal else "-", note=signal_note, tone="signal"),
        tile(
            t("live.devices_ok", lang),
            f"{_count(snapshot.devices_ok)} / {_count(snapshot.devices_total)}",
            tone="bad" if snapshot.failing else "",
        ),
    ]


def _health(snapshot: LiveSnapshot, tz: str, lang: str) -> list[Any]:
    devices = snapshot.devices
    by_kind: dict[str, list[int]] = {}
    for device in devices.values():
        counts = by_kind.setdefault(device.kind or "other", [0, 0])
        counts[0 if device.ok else 1] += 1
    failing = [(name, devices.get(name)) for name in snapshot.failing]
    rows = [(kind_label(kind, lang), ok, bad) for kind, (ok, bad) in sorted(by_kind.items())]
    header = [t("col.kind", lang), t("col.ok", lang), t("col.failing", lang)]
    parts: list[Any] = [html.H3(t("live.health", lang)), table(header, rows, table_id="live-health-table")]
    if failing:
        parts += [
            html.H4(t("live.failing", lang)),
            table(
                [t("col.device", lang), t("col.kind", lang), t("col.error", lang), t("col.last_good", lang)],
                [
                    (
                        name,
                        kind_label(d.kind, lang) if d is not None and d.kind else "",
                        (d.error or "") if d is not None else "",
                        format_time(d.read_utc if d is not None else None, lang, tz=tz),
                    )
                    for name, d in failing
                ],
                table_id="live-failing-table",
            ),
        ]
    else:
        parts.append(html.P(t("live.all_ok", lang), id="live-all-ok"))
    return parts


def _count(value: int | None) -> str:
    return "-" if value is None else str(value)
