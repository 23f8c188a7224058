"""Buildings page: one building's balance now, its devices, KPIs and history (a day to the year).

The building is chosen from a list or by clicking its bus on the grid map (the map and
the building-bus assignment come from a scenario result's ``net.json``, preferably the
baseline's; buildings are named ``BUILDING/...`` in the net's loads and generators). The live
values come from the snapshot (a :class:`twin.core.live_state.LiveSnapshot`), times in the
site's time zone; a value the snapshot lacks is shown as ``-``.
"""

from __future__ import annotations

import logging
from typing import Any, Final

import pandas as pd
from dash import Dash, Input, Output, State, dcc, html

from dashboard.data import (
    DashboardConfig,
    DataCache,
    GridMap,
    StoreReadError,
    display_timezone,
    grid_map_from_net,
    grid_map_from_snapshot,
    list_results,
    load_snapshot,
    sim_time,
)
from dashboard.figures import building_balance_figure, empty_figure, grid_figure, history_figure
from dashboard.history import download_links, period_bounds, period_controls, period_history, period_title
from dashboard.i18n import current_language, dropdown_labels, format_number, format_time, kind_label, t
from dashboard.pages.common import current, format_kpi, refresh_ms, table, tile
from scenarios.results import NET_JSON
from twin.core.live_state import BoundaryKpis, DeviceState, LiveSnapshot

__all__ = ["NAME", "PATH", "building_options", "building_view", "clicked_building", "layout", "register_callbacks"]

PATH: Final[str] = "/buildings"
NAME: Final[str] = "Buildings"

logger = logging.getLogger(__name__)


def layout() -> html.Div:
    """The page skeleton (no data: callbacks fill it)."""
    return html.Div(
        [
            dcc.Interval(id="building-interval", interval=refresh_ms(), n_intervals=0),
            html.H2(t("buildings.title")),
            html.Div(
                [
                    html.Label(t("buildings.building"), htmlFor="building-select"),
                    dcc.Dropdown(
                        id="building-select", clearable=False, labels=dropdown_labels(), placeholder=t("common.choose")
                    ),
                ],
                className="control",
            ),
            html.Div(id="building-tiles", className="tiles"),
            html.Div(
                [dcc.Graph(id="building-balance", className="half"), dcc.Graph(id="building-map", className="half")],
                className="row",
            ),
            html.Div(id="building-devices", className="panel"),
            period_controls("building"),
            dcc.Graph(id="building-history"),
        ]
    )


def building_options(config: DashboardConfig, cache: DataCache | None = None) -> list[dict[str, str]]:
    """Buildings of the snapshot's balance (else of the grid map), for the dropdown."""
    snapshot = load_snapshot(config.store_dir)
    names = snapshot.buildings if snapshot is not None else []
    if not names:
        grid = _building_map(config, cache)
        names = sorted(grid.building_bus) if grid else []
    return [{"label": name, "value": name} for name in sorted(names)]


def clicked_building(
    click: dict[str, Any] | None, config: DashboardConfig, cache: DataCache | None = None
) -> str | None:
    """The building at the bus clicked on the map (the first by name), or ``None``."""
    points = (click or {}).get("points") or []
    if not points or not points[0].get("customdata"):
        return None
    try:
        bus = int(points[0]["customdata"][0])
    except (TypeError, ValueError):
        return None
    grid = _building_map(config, cache)
    at_bus = sorted(b for b, b_bus in (grid.building_bus if grid else {}).items() if b_bus == bus)
    return at_bus[0] if at_bus else None


def building_view(
    building: str | None,
    config: DashboardConfig,
    cache: DataCache | None = None,
    *,
    period: str | None = "day",
    until: str | None = None,
    lang: str | None = None,
) -> dict[str, Any]:
    """What the page shows for one building: ``tiles``, ``devices``, ``balance``, ``map``, ``history``, ``downloads``.

    ``period`` and ``until`` choose the history's period (:func:`dashboard.history.period_bounds`).
    """
    lang = lang or current_language()
    grid = _building_map(config, cache)
    snapshot = load_snapshot(config.store_dir)
    if not building:
        blank = empty_figure(t("buildings.choose", lang), lang)
        return {
            "tiles": [],
            "devices": [],
            "balance": blank,
            "map": _map(grid, None, snapshot, lang),
            "history": blank,
            "downloads": [],
        }
    tz = display_timezone(snapshot)
    balance = snapshot.boundary(building) if snapshot is not None else None
    today = snapshot.kpis.today.get(building) if snapshot is not None else None
    year = snapshot.kpis.year.get(building) if snapshot is not None else None
    tiles = _tiles(today, year, lang)
    devices = {
        name: d for name, d in (snapshot.devices if snapshot is not None else {}).items() if d.building == building
    }
    rows = [_device_row(name, d, tz, lang) for name, d in sorted(devices.items())]
    now = sim_time(snapshot)
    start, end = period_bounds(period, until, now, tz)
    try:
        history = (
            period_history(config.store_dir, building, period, start, end, live=not until, cache=cache)
            if now is not None or until
            else pd.DataFrame()
        )
        title = t(
            "buildings.history_title", lang, building=building, period=period_title(period, until, start, end, tz, lang)
        )
        history_shown = history_figure(history, title=title, tz=tz, lang=lang)
    except StoreReadError as err:
        logger.error("buildings page: %s", err)
        history_shown = empty_figure(t("buildings.no_history", lang, error=err), lang)
    header = [t(f"col.{key}", lang) for key in ("device", "kind", "state", "values", "read")]
    return {
        "tiles": tiles,
        "devices": [
            html.H3(t("buildings.devices_of", lang, building=building)),
            table(header, rows, table_id="building-device-table"),
        ],
        "balance": building_balance_figure(
            balance.terms() if balance is not None else None,
            title=t("buildings.power_now", lang, building=building),
            lang=lang,
        ),
        "map": _map(grid, building, snapshot, lang),
        "history": history_shown,
        "downloads": download_links(building, period, start, end, lang),
    }


def register_callbacks(app: Dash) -> None:
    """Attach the page's callbacks to ``app``."""

    @app.callback(
        Output("building-select", "options"),
        Output("building-select", "value"),
        Input("building-select", "id"),
        Input("building-map", "clickData"),
        State("building-select", "value"),
    )
    def _choose(_id: str, click: dict[str, Any] | None, value: str | None) -> tuple[Any, Any]:
        config, cache = current()
        options = building_options(config, cache)
        chosen = clicked_building(click, config, cache) or value or (options[0]["value"] if options else None)
        return options, chosen

    @app.callback(
        Output("building-tiles", "children"),
        Output("building-devices", "children"),
        Output("building-balance", "figure"),
        Output("building-map", "figure"),
        Output("building-history", "figure"),
        Output("building-downloads", "children"),
        Input("building-select", "value"),
        Input("building-interval", "n_intervals"),
        Input("building-period", "value"),
        Input("building-until", "date"),
    )
    def _update(building: str | None, _n: int, period: str | None, until: str | None) -> tuple[Any, ...]:
        view = building_view(building, *current(), period=period, until=until)
        return view["tiles"], view["devices"], view["balance"], view["map"], view["history"], view["downloads"]


def _building_map(config: DashboardConfig, cache: DataCache | None) -> GridMap | None:
    results = list_results(config.results_dir)
    results.sort(key=lambda r: (r.name != "baseline", r.name))
    for result in results:
        if result.has_grid():
            return grid_map_from_net(result.folder, cache=cache)
    return None


def _map(grid: GridMap | None, building: str | None, snapshot: LiveSnapshot | None, lang: str) -> Any:
    if grid is None:
        return empty_figure(t("buildings.no_map", lang, file=NET_JSON), lang)
    bus = grid.building_bus.get(building) if building else None
    live = grid_map_from_snapshot(snapshot)
    return grid_figure(
        grid,
        vm_pu=live.buses["vm_pu"].astype(float) if live is not None else None,
        loading_percent=live.branches["loading_percent"].astype(float) if live is not None else None,
        title=t("buildings.map_title", lang),
        highlight_bus=bus,
        lang=lang,
    )


def _device_row(name: str, device: DeviceState, tz: str, lang: str) -> tuple[str, str, str, str, str]:
    """A device's row: id, kind, state, its values (``-`` where missing) and the time of its last good read."""
    return (
        name,
        kind_label(device.kind, lang) if device.kind else "",
        t("state.ok" if device.ok else "state.failing", lang),
        ", ".join(f"{key} {_value(value, lang)}" for key, value in device.values.items()),
        format_time(device.read_utc, lang, precision="clock_s", tz=tz),
    )


def _tiles(today: BoundaryKpis | None, year: BoundaryKpis | None, lang: str) -> list[Any]:
    """The tiles: today's self-sufficiency, self-consumption, import and export; the year's balance and gas."""
    return [
        tile(
            t("live.self_sufficiency_today", lang),
            format_kpi("self_sufficiency_frac", _kpi(today, "self_sufficiency_frac"), lang),
        ),
        tile(
            t("live.self_consumption_today", lang),
            format_kpi("self_consumption_frac", _kpi(today, "self_consumption_frac"), lang),
        ),
        tile(
            t("buildings.import_export_today", lang),
            f"{_kwh(_kpi(today, 'import_kwh'), lang)} / {_kwh(_kpi(today, 'export_kwh'), lang)}",
        ),
        tile(
            t("buildings.balance_year", lang),
            _kwh(_kpi(year, "energy_balance_kwh"), lang),
            note=t("buildings.balance_note", lang),
        ),
        tile(t("buildings.gas_year", lang), _kwh(_kpi(year, "fuel_kwh"), lang)),
    ]


def _kpi(kpis: BoundaryKpis | None, name: str) -> float | None:
    """A KPI of the building, ``None`` when the snapshot has none."""
    return kpis.get(name) if kpis is not None else None


def _kwh(value: Any, lang: str) -> str:
    return format_number(value, "kWh", lang, decimals=0)


def _value(value: float | None, lang: str) -> str:
    return "-" if value is None else format_number(value, "", lang, decimals=2)
