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
from dashboard.pages.common import current, format_kpi, local_time, refresh_ms, shown, table, tile
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
            html.H2("Buildings"),
            html.Div(
                [
                    html.Label("Building", htmlFor="building-select"),
                    dcc.Dropdown(id="building-select", clearable=False),
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
) -> dict[str, Any]:
    """What the page shows for one building: ``tiles``, ``devices``, ``balance``, ``map``, ``history``, ``downloads``.

    ``period`` and ``until`` choose the history's period (:func:`dashboard.history.period_bounds`).
    """
    grid = _building_map(config, cache)
    snapshot = load_snapshot(config.store_dir)
    if not building:
        blank = empty_figure("choose a building")
        return {
            "tiles": [],
            "devices": [],
            "balance": blank,
            "map": _map(grid, None, snapshot),
            "history": blank,
            "downloads": [],
        }
    tz = display_timezone(snapshot)
    balance = snapshot.boundary(building) if snapshot is not None else None
    today = snapshot.kpis.today.get(building) if snapshot is not None else None
    year = snapshot.kpis.year.get(building) if snapshot is not None else None
    tiles = [
        tile("Self-sufficiency today", format_kpi("self_sufficiency_frac", _kpi(today, "self_sufficiency_frac"))),
        tile("Self-consumption today", format_kpi("self_consumption_frac", _kpi(today, "self_consumption_frac"))),
        tile("Import / export today", f"{_kwh(_kpi(today, 'import_kwh'))} / {_kwh(_kpi(today, 'export_kwh'))}"),
        tile("Balance this year", _kwh(_kpi(year, "energy_balance_kwh")), note="import + gas - export"),
        tile("Gas this year", _kwh(_kpi(year, "fuel_kwh"))),
    ]
    devices = {
        name: d for name, d in (snapshot.devices if snapshot is not None else {}).items() if d.building == building
    }
    rows = [_device_row(name, d, tz) for name, d in sorted(devices.items())]
    now = sim_time(snapshot)
    start, end = period_bounds(period, until, now, tz)
    try:
        history = (
            period_history(config.store_dir, building, period, start, end, live=not until, cache=cache)
            if now is not None or until
            else pd.DataFrame()
        )
        title = f"{building}, {period_title(period, until, start, end, tz)} [kW]"
        history_shown = history_figure(history, title=title, tz=tz)
    except StoreReadError as err:
        logger.error("buildings page: %s", err)
        history_shown = empty_figure(f"no history: {err}")
    return {
        "tiles": tiles,
        "devices": [
            html.H3(f"Devices of {building}"),
            table(
                ["device", "kind", "state", "values (units in the names)", "read"],
                rows,
                table_id="building-device-table",
            ),
        ],
        "balance": building_balance_figure(
            balance.terms() if balance is not None else None, title=f"{building}: power now"
        ),
        "map": _map(grid, building, snapshot),
        "history": history_shown,
        "downloads": download_links(building, period, start, end),
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


def _map(grid: GridMap | None, building: str | None, snapshot: LiveSnapshot | None) -> Any:
    if grid is None:
        return empty_figure(f"no grid map: the map comes from a scenario result's {NET_JSON}")
    bus = grid.building_bus.get(building) if building else None
    live = grid_map_from_snapshot(snapshot)
    return grid_figure(
        grid,
        vm_pu=live.buses["vm_pu"].astype(float) if live is not None else None,
        loading_percent=live.branches["loading_percent"].astype(float) if live is not None else None,
        title="Click a bus to choose its building (live voltages and loadings)",
        highlight_bus=bus,
    )


def _device_row(name: str, device: DeviceState, tz: str) -> tuple[str, str, str, str, str]:
    """A device's row: id, kind, state, its values (``-`` where missing) and the time of its last good read."""
    return (
        name,
        (device.kind or "").replace("_", " "),
        "ok" if device.ok else "failing",
        ", ".join(f"{key} {_value(value)}" for key, value in device.values.items()),
        local_time(device.read_utc, "%H:%M:%S", tz=tz),
    )


def _kpi(kpis: BoundaryKpis | None, name: str) -> float | None:
    """A KPI of the building, ``None`` when the snapshot has none."""
    return kpis.get(name) if kpis is not None else None


def _kwh(value: Any) -> str:
    return shown(value, ",.0f", "kWh")


def _value(value: float | None) -> str:
    return "-" if value is None else f"{value:,.2f}"
