"""Calibration page: measured against modelled, per building and for the district.

Shows what ``twin calibrate`` found (:mod:`dashboard.calibration_data`: the calibration file of
``twin dashboard --calibration``, default ``DATA_ROOT/calibration.yaml``, and the files beside
it): the goodness of fit at the substation and of the buildings (ASHRAE Guideline 14, held-out
weeks), the daily energies of a building or the district, meter against the model before (the
district file) and after calibration, their residuals, every building's factors and every PV
system's performance ratio (measured over modelled) with its last drift check. The page reads
small files only; it never runs the model.
"""

from __future__ import annotations

from typing import Any, Final

import pandas as pd
import plotly.graph_objects as go
from dash import Dash, Input, Output, dcc, html

from dashboard.calibration_data import CalibrationFiles, load_calibration_files
from dashboard.data import DashboardConfig, DataCache
from dashboard.figures import COLOURS, empty_figure
from dashboard.pages.common import current, shown, table, tile
from twin.core.calibration_outputs import DISTRICT

__all__ = ["NAME", "PATH", "calibration_view", "layout", "register_callbacks"]

PATH: Final[str] = "/calibration"
NAME: Final[str] = "Calibration"

#: The page's labels.
TITLE: Final[str] = "Measured against modelled"
LABEL_BUILDING: Final[str] = "Building"
LABEL_QUANTITY: Final[str] = "Meter"
LABEL_DISTRICT: Final[str] = "District (sum of the buildings)"
QUANTITIES: Final[dict[str, str]] = {"electricity": "electricity (import - export)", "gas": "gas"}
NO_FILE: Final[str] = "No calibration: {problem}. Write one with 'twin calibrate --store DIR --out FILE'."
STATUS: Final[str] = "Calibration of {district} from {store}, {start} to {end} ({path})"
TILE_PERIOD: Final[str] = "Calibration period"
TILE_SUBSTATION_CV: Final[str] = "Substation CV(RMSE), before -> after"
TILE_SUBSTATION_NMBE: Final[str] = "Substation NMBE, before -> after"
TILE_BUILDINGS_CV: Final[str] = "Buildings CV(RMSE), median"
TILE_DRIFT: Final[str] = "PV drift"
NOTE_HELD_OUT: Final[str] = "{hours} held-out hours; target {target}"
NOTE_DRIFT: Final[str] = "{days} days to {end}, more than {threshold} below"
NO_DRIFT: Final[str] = "no drift check beside the calibration file"
DAILY_TITLE: Final[str] = "Daily energy of {what}: meter and model [kWh]"
RESIDUAL_TITLE: Final[str] = "Residual meter - model per day [kWh] (sum: before {before}, after {after})"
TRACE_METER: Final[str] = "meter"
TRACE_MODEL: Final[str] = "model (district file)"
TRACE_CALIBRATED: Final[str] = "model (calibrated)"
TRACE_BEFORE: Final[str] = "before calibration"
TRACE_AFTER: Final[str] = "after calibration"
AXIS_DAY: Final[str] = "day (UTC)"
AXIS_KWH: Final[str] = "energy [kWh]"
NO_DAILY: Final[str] = "no daily comparison: {problem}"
NO_ROWS: Final[str] = "no {quantity} meter data of {what}"
PV_TITLE: Final[str] = "PV performance ratio per system (measured / modelled)"
PV_HEADER: Final[tuple[str, ...]] = ("PV system", "calibrated", "last drift check", "alarm")
BUILDINGS_TITLE: Final[str] = "Factors and goodness of fit per building"
BUILDINGS_HEADER: Final[tuple[str, ...]] = (
    "building",
    "household electricity",
    "space heat",
    "CV(RMSE) before -> after",
    "NMBE before -> after",
)
NOT_IDENTIFIABLE: Final[str] = "not identifiable"
ALARM: Final[str] = "DRIFT"


def layout() -> html.Div:
    """The page skeleton (no data: the callback fills it when the page opens)."""
    return html.Div(
        [
            html.H2(TITLE),
            html.Div(id="calibration-status", className="status-line"),
            html.Div(id="calibration-tiles", className="tiles"),
            html.Div(
                [
                    html.Label(LABEL_BUILDING),
                    dcc.Dropdown(id="calibration-building", value=DISTRICT, clearable=False, style={"width": "22rem"}),
                    html.Label(LABEL_QUANTITY),
                    dcc.RadioItems(
                        id="calibration-quantity",
                        options=[{"label": label, "value": key} for key, label in QUANTITIES.items()],
                        value="electricity",
                        inline=True,
                    ),
                ],
                className="controls",
            ),
            html.Div(
                [
                    dcc.Graph(id="calibration-daily", className="half"),
                    dcc.Graph(id="calibration-residual", className="half"),
                ],
                className="row",
            ),
            html.Div(
                [
                    html.Div(id="calibration-pv", className="half panel"),
                    html.Div(id="calibration-buildings", className="half panel"),
                ],
                className="row",
            ),
        ]
    )


def calibration_view(
    config: DashboardConfig,
    cache: DataCache | None = None,
    *,
    building: str | None = DISTRICT,
    quantity: str | None = "electricity",
) -> dict[str, Any]:
    """Everything the page shows, from the calibration file and the files beside it.

    Returns
    -------
    dict
        ``status`` (text), ``tiles``, ``options`` (of the building list), ``pv``, ``buildings``
        (components), ``daily`` and ``residual`` (figures).
    """
    files = load_calibration_files(config.calibration_file, cache)
    record = files.record
    if record is None:
        message = NO_FILE.format(problem=files.problem)
        return {
            "status": message,
            "tiles": [],
            "options": [{"label": LABEL_DISTRICT, "value": DISTRICT}],
            "daily": empty_figure(message),
            "residual": empty_figure(message),
            "pv": [],
            "buildings": [],
        }
    period = record.get("period") or {}
    status = STATUS.format(
        district=record.get("district"),
        store=record.get("store", "-"),
        start=period.get("from_utc", "-"),
        end=period.get("to_utc", "-"),
        path=files.path,
    )
    building = building or DISTRICT
    quantity = quantity if quantity in QUANTITIES else "electricity"
    daily, residual = _figures(files, building, quantity)
    return {
        "status": status,
        "tiles": _tiles(files),
        "options": [{"label": LABEL_DISTRICT, "value": DISTRICT}]
        + [{"label": b, "value": b} for b in sorted(record.get("buildings") or {})],
        "daily": daily,
        "residual": residual,
        "pv": [html.H3(PV_TITLE), table(PV_HEADER, _pv_rows(files), table_id="calibration-pv-table")],
        "buildings": [
            html.H3(BUILDINGS_TITLE),
            table(BUILDINGS_HEADER, _building_rows(record), table_id="calibration-buildings-table"),
        ],
    }


def register_callbacks(app: Dash) -> None:
    """Attach the page's callback to ``app``."""

    @app.callback(
        Output("calibration-status", "children"),
        Output("calibration-tiles", "children"),
        Output("calibration-building", "options"),
        Output("calibration-daily", "figure"),
        Output("calibration-residual", "figure"),
        Output("calibration-pv", "children"),
        Output("calibration-buildings", "children"),
        Input("calibration-building", "value"),
        Input("calibration-quantity", "value"),
    )
    def _update(building: str | None, quantity: str | None) -> tuple[Any, ...]:
        view = calibration_view(*current(), building=building, quantity=quantity)
        keys = ("status", "tiles", "options", "daily", "residual", "pv", "buildings")
        return tuple(view[key] for key in keys)


def _tiles(files: CalibrationFiles) -> list[html.Div]:
    record = files.record or {}
    period = record.get("period") or {}
    holdout = record.get("holdout") or {}
    gof = record.get("goodness_of_fit") or {}
    station = gof.get("substation") or {}
    buildings = gof.get("buildings") or {}
    days = None if files.daily is None else files.daily["day"].nunique()
    tiles = [
        tile(
            TILE_PERIOD,
            f"{str(period.get('from_utc', '-'))[:10]} - {str(period.get('to_utc', '-'))[:10]}",
            note=f"{days if days is not None else '-'} days; held-out weeks {holdout.get('held_out_weeks', '-')}",
        ),
        tile(
            TILE_SUBSTATION_CV,
            _change(station, "cv_rmse", ".1f"),
            note=NOTE_HELD_OUT.format(hours=station.get("hours", "-"), target="<= 15 %"),
            tone="" if station.get("target_met", True) else "bad",
        ),
        tile(
            TILE_SUBSTATION_NMBE,
            _change(station, "nmbe", "+.1f"),
            note=NOTE_HELD_OUT.format(hours=station.get("hours", "-"), target="|NMBE| <= 5 %"),
        ),
        tile(
            TILE_BUILDINGS_CV,
            _change(buildings, "cv_rmse", ".1f"),
            note=f"n = {buildings.get('n', '-')}",
        ),
    ]
    drift = files.drift
    if drift is None:
        tiles.append(tile(TILE_DRIFT, "-", note=NO_DRIFT))
    else:
        tiles.append(
            tile(
                TILE_DRIFT,
                f"{len(drift.alarms)} / {len(drift.systems)}",
                note=NOTE_DRIFT.format(
                    days=drift.days, end=drift.to_utc[:10], threshold=f"{100 * drift.threshold_frac:.0f} %"
                ),
                tone="bad" if drift.alarms else "",
            )
        )
    return tiles


def _figures(files: CalibrationFiles, building: str, quantity: str) -> tuple[go.Figure, go.Figure]:
    """The daily energies (meter, model before and after) and the residuals of one building or the district."""
    what = LABEL_DISTRICT if building == DISTRICT else building
    if files.daily is None:
        message = NO_DAILY.format(problem=files.problem)
        return empty_figure(message), empty_figure(message)
    daily = files.daily
    rows = daily[(daily["building"] == building) & (daily["quantity"] == quantity)].sort_values("day")
    if rows.empty:
        message = NO_ROWS.format(quantity=QUANTITIES[quantity], what=what)
        return empty_figure(message), empty_figure(message)
    days = pd.to_datetime(rows["day"])
    energy = go.Figure()
    for column, name, style in (
        ("meter_kwh", TRACE_METER, {"color": "#222222", "width": 2}),
        ("model_kwh", TRACE_MODEL, {"color": COLOURS["grid_import"], "dash": "dash"}),
        ("calibrated_kwh", TRACE_CALIBRATED, {"color": COLOURS["district"]}),
    ):
        energy.add_trace(go.Scatter(x=days, y=rows[column], name=name, mode="lines", line=style))
    energy.update_layout(**_layout(DAILY_TITLE.format(what=what)))
    before = rows["meter_kwh"] - rows["model_kwh"]
    after = rows["meter_kwh"] - rows["calibrated_kwh"]
    residual = go.Figure()
    residual.add_trace(go.Bar(x=days, y=before, name=TRACE_BEFORE, marker_color=COLOURS["grid_import"]))
    residual.add_trace(go.Bar(x=days, y=after, name=TRACE_AFTER, marker_color=COLOURS["district"]))
    total = rows["meter_kwh"].sum()
    residual.update_layout(
        **_layout(
            RESIDUAL_TITLE.format(
                before=_share(before.sum(), total),
                after=_share(after.sum(), total),
            )
        ),
        barmode="group",
    )
    return energy, residual


def _layout(title: str) -> dict[str, Any]:
    return {
        "template": "plotly_white",
        "margin": {"l": 60, "r": 20, "t": 40, "b": 40},
        "font": {"size": 13},
        "legend": {"orientation": "h", "y": -0.2},
        "title": title,
        "xaxis_title": AXIS_DAY,
        "yaxis_title": AXIS_KWH,
    }


def _share(residual_kwh: float, total_kwh: float) -> str:
    """A residual sum in kWh and as a share of the meter's sum."""
    share = f" ({100.0 * residual_kwh / total_kwh:+.1f} %)" if total_kwh else ""
    return f"{residual_kwh:+,.0f} kWh{share}"


def _pv_rows(files: CalibrationFiles) -> list[tuple[str, ...]]:
    record = files.record or {}
    drift = {s.system: s for s in files.drift.systems} if files.drift is not None else {}
    rows: list[tuple[str, ...]] = []
    for system, estimate in sorted((record.get("pv") or {}).items()):
        found = drift.get(system)
        rows.append(
            (
                system,
                _factor(estimate),
                "-" if found is None else shown(found.ratio, ".2f"),
                ALARM if found is not None and found.alarm else "",
            )
        )
    return rows


def _building_rows(record: dict[str, Any]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for building, entry in sorted((record.get("buildings") or {}).items()):
        entry = entry or {}
        fit = entry.get("goodness_of_fit") or {}
        rows.append(
            (
                building,
                _factor(entry.get("household_electricity")),
                _factor(entry.get("space_heat")),
                _change(fit, "cv_rmse", ".0f"),
                _change(fit, "nmbe", "+.1f"),
            )
        )
    return rows


def _factor(estimate: dict[str, Any] | None) -> str:
    """A factor with its standard error, or why there is none."""
    if not estimate:
        return "-"
    if estimate.get("factor") is None:
        return NOT_IDENTIFIABLE
    se = estimate.get("se")
    return f"{estimate['factor']:.2f}" + (f" +- {se:.2f}" if se is not None else "")


def _change(statistics: dict[str, Any], name: str, spec: str) -> str:
    """A statistic before and after calibration (``5.7 % -> 4.8 %``)."""
    before, after = (shown(statistics.get(f"{name}_{when}_pct"), spec, "%") for when in ("before", "after"))
    return f"{before} -> {after}"
