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
from dashboard.i18n import current_language, dropdown_labels, format_number, format_time, plotly_separators, t
from dashboard.pages.common import current, table, tile
from twin.core.calibration_outputs import DISTRICT

__all__ = ["NAME", "PATH", "calibration_view", "layout", "register_callbacks"]

PATH: Final[str] = "/calibration"
NAME: Final[str] = "Calibration"

#: The page's labels: message ids of the catalogue (:mod:`dashboard.i18n_calibration`).
TITLE: Final[str] = "calibration.title"
LABEL_BUILDING: Final[str] = "calibration.building"
LABEL_QUANTITY: Final[str] = "calibration.meter"
LABEL_DISTRICT: Final[str] = "calibration.district"
QUANTITIES: Final[dict[str, str]] = {"electricity": "calibration.electricity", "gas": "calibration.gas"}
NO_FILE: Final[str] = "calibration.no_file"
NOT_CONFIGURED: Final[str] = "calibration.not_configured"
STATUS: Final[str] = "calibration.status"
TILE_PERIOD: Final[str] = "calibration.period"
TILE_SUBSTATION_CV: Final[str] = "calibration.substation_cv"
TILE_SUBSTATION_NMBE: Final[str] = "calibration.substation_nmbe"
TILE_BUILDINGS_CV: Final[str] = "calibration.buildings_cv"
TILE_DRIFT: Final[str] = "calibration.drift"
NOTE_HELD_OUT_CV: Final[str] = "calibration.held_out_cv"
NOTE_HELD_OUT_NMBE: Final[str] = "calibration.held_out_nmbe"
NO_SUCH_FILE: Final[str] = "calibration.no_such_file"
NOTE_DRIFT: Final[str] = "calibration.drift_note"
NO_DRIFT: Final[str] = "calibration.no_drift"
DAILY_TITLE: Final[str] = "calibration.daily_title"
RESIDUAL_TITLE: Final[str] = "calibration.residual_title"
TRACES: Final[dict[str, str]] = {
    "meter_kwh": "calibration.trace_meter",
    "model_kwh": "calibration.trace_model",
    "calibrated_kwh": "calibration.trace_calibrated",
    "before": "calibration.trace_before",
    "after": "calibration.trace_after",
}
AXIS_DAY: Final[str] = "calibration.axis_day"
AXIS_KWH: Final[str] = "calibration.axis_kwh"
NO_DAILY: Final[str] = "calibration.no_daily"
NO_ROWS: Final[str] = "calibration.no_rows"
PV_TITLE: Final[str] = "calibration.pv_title"
PV_HEADER: Final[tuple[str, ...]] = (
    "calibration.pv_system",
    "calibration.calibrated",
    "calibration.last_drift",
    "calibration.alarm",
)
BUILDINGS_TITLE: Final[str] = "calibration.buildings_title"
BUILDINGS_HEADER: Final[tuple[str, ...]] = (
    "calibration.building",
    "calibration.household_electricity",
    "calibration.space_heat",
    "calibration.cv_change",
    "calibration.nmbe_change",
)
NOT_IDENTIFIABLE: Final[str] = "calibration.not_identifiable"
ALARM: Final[str] = "calibration.alarm_drift"


def layout() -> html.Div:
    """The page skeleton (no data: the callback fills it when the page opens)."""
    return html.Div(
        [
            html.H2(t(TITLE)),
            html.Div(id="calibration-status", className="status-line"),
            html.Div(id="calibration-tiles", className="tiles"),
            html.Div(
                [
                    html.Label(t(LABEL_BUILDING)),
                    dcc.Dropdown(
                        id="calibration-building",
                        options=[{"label": t(LABEL_DISTRICT), "value": DISTRICT}],
                        value=DISTRICT,
                        clearable=False,
                        labels=dropdown_labels(),
                        style={"width": "22rem"},
                    ),
                    html.Label(t(LABEL_QUANTITY)),
                    dcc.RadioItems(
                        id="calibration-quantity",
                        options=[{"label": t(label), "value": key} for key, label in QUANTITIES.items()],
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
    lang: str | None = None,
) -> dict[str, Any]:
    """Everything the page shows, from the calibration file and the files beside it.

    Returns
    -------
    dict
        ``status`` (text), ``tiles``, ``options`` (of the building list), ``pv``, ``buildings``
        (components), ``daily`` and ``residual`` (figures).
    """
    lang = lang or current_language()
    files = load_calibration_files(config.calibration_file, cache)
    record = files.record
    district = [{"label": t(LABEL_DISTRICT, lang), "value": DISTRICT}]
    if record is None:
        message = t(NO_FILE, lang, problem=_problem(files, lang))
        return {
            "status": message,
            "tiles": [],
            "options": district,
            "daily": empty_figure(message, lang),
            "residual": empty_figure(message, lang),
            "pv": [],
            "buildings": [],
        }
    period = record.get("period") or {}
    status = t(
        STATUS,
        lang,
        district=record.get("district"),
        store=record.get("store", "-"),
        start=period.get("from_utc", "-"),
        end=period.get("to_utc", "-"),
        path=files.path,
    )
    building = building or DISTRICT
    quantity = quantity if quantity in QUANTITIES else "electricity"
    daily, residual = _figures(files, building, quantity, lang)
    return {
        "status": status,
        "tiles": _tiles(files, lang),
        "options": district + [{"label": b, "value": b} for b in sorted(record.get("buildings") or {})],
        "daily": daily,
        "residual": residual,
        "pv": [
            html.H3(t(PV_TITLE, lang)),
            table([t(h, lang) for h in PV_HEADER], _pv_rows(files, lang), table_id="calibration-pv-table"),
        ],
        "buildings": [
            html.H3(t(BUILDINGS_TITLE, lang)),
            table(
                [t(h, lang) for h in BUILDINGS_HEADER],
                _building_rows(record, lang),
                table_id="calibration-buildings-table",
            ),
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


def _tiles(files: CalibrationFiles, lang: str) -> list[html.Div]:
    record = files.record or {}
    period = record.get("period") or {}
    holdout = record.get("holdout") or {}
    gof = record.get("goodness_of_fit") or {}
    station = gof.get("substation") or {}
    buildings = gof.get("buildings") or {}
    days = "-" if files.daily is None else str(files.daily["day"].nunique())
    weeks = ", ".join(str(w) for w in holdout.get("held_out_weeks") or []) or "-"
    hours = station.get("hours", "-")
    tiles = [
        tile(
            t(TILE_PERIOD, lang),
            t(
                "calibration.period_value",
                lang,
                start=format_time(period.get("from_utc"), lang, precision="date", tz="UTC"),
                end=format_time(period.get("to_utc"), lang, precision="date", tz="UTC"),
            ),
            note=t("calibration.period_note", lang, days=days, weeks=weeks),
        ),
        tile(
            t(TILE_SUBSTATION_CV, lang),
            _change(station, "cv_rmse", lang),
            note=t(NOTE_HELD_OUT_CV, lang, hours=hours),
            tone="" if station.get("target_met", True) else "bad",
        ),
        tile(
            t(TILE_SUBSTATION_NMBE, lang),
            _change(station, "nmbe", lang, signed=True),
            note=t(NOTE_HELD_OUT_NMBE, lang, hours=hours),
        ),
        tile(
            t(TILE_BUILDINGS_CV, lang),
            _change(buildings, "cv_rmse", lang),
            note=t("calibration.buildings_n", lang, n=buildings.get("n", "-")),
        ),
    ]
    drift = files.drift
    if drift is None:
        tiles.append(tile(t(TILE_DRIFT, lang), "-", note=t(NO_DRIFT, lang)))
        return tiles
    tiles.append(
        tile(
            t(TILE_DRIFT, lang),
            t("calibration.drift_value", lang, alarms=len(drift.alarms), systems=len(drift.systems)),
            note=t(
                NOTE_DRIFT,
                lang,
                days=drift.days,
                end=format_time(drift.to_utc, lang, precision="date", tz="UTC"),
                threshold=format_number(100 * drift.threshold_frac, "%", lang, decimals=0),
            ),
            tone="bad" if drift.alarms else "",
        )
    )
    return tiles


def _figures(files: CalibrationFiles, building: str, quantity: str, lang: str) -> tuple[go.Figure, go.Figure]:
    """The daily energies (meter, model before and after) and the residuals of one building or the district."""
    what = t(LABEL_DISTRICT, lang) if building == DISTRICT else building
    if files.daily is None:
        message = t(NO_DAILY, lang, problem=_problem(files, lang))
        return empty_figure(message, lang), empty_figure(message, lang)
    daily = files.daily
    rows = daily[(daily["building"] == building) & (daily["quantity"] == quantity)].sort_values("day")
    if rows.empty:
        message = t(NO_ROWS, lang, quantity=t(QUANTITIES[quantity], lang), what=what)
        return empty_figure(message, lang), empty_figure(message, lang)
    days = pd.to_datetime(rows["day"])
    energy = go.Figure()
    for column, style in (
        ("meter_kwh", {"color": "#222222", "width": 2}),
        ("model_kwh", {"color": COLOURS["grid_import"], "dash": "dash"}),
        ("calibrated_kwh", {"color": COLOURS["district"]}),
    ):
        energy.add_trace(go.Scatter(x=days, y=rows[column], name=t(TRACES[column], lang), mode="lines", line=style))
    energy.update_layout(**_layout(t(DAILY_TITLE, lang, what=what), lang))
    before = rows["meter_kwh"] - rows["model_kwh"]
    after = rows["meter_kwh"] - rows["calibrated_kwh"]
    residual = go.Figure()
    for name, values, colour in (("before", before, COLOURS["grid_import"]), ("after", after, COLOURS["district"])):
        residual.add_trace(go.Bar(x=days, y=values, name=t(TRACES[name], lang), marker_color=colour))
    total = float(rows["meter_kwh"].sum())
    title = t(
        RESIDUAL_TITLE,
        lang,
        before=_share(float(before.sum()), total, lang),
        after=_share(float(after.sum()), total, lang),
    )
    residual.update_layout(**_layout(title, lang), barmode="group")
    return energy, residual


def _layout(title: str, lang: str) -> dict[str, Any]:
    return {
        "template": "plotly_white",
        "margin": {"l": 60, "r": 20, "t": 40, "b": 40},
        "font": {"size": 13},
        "legend": {"orientation": "h", "y": -0.2},
        "separators": plotly_separators(lang),
        "title": title,
        "xaxis_title": t(AXIS_DAY, lang),
        "yaxis_title": t(AXIS_KWH, lang),
    }


def _signed(value: Any, unit: str, lang: str, decimals: int = 1) -> str:
    """A number with its sign (``+8,1 %``); ``-`` when unknown."""
    text = format_number(value, unit, lang, decimals=decimals)
    return f"+{text}" if text[:1].isdigit() and float(value) > 0 else text


def _share(residual_kwh: float, total_kwh: float, lang: str) -> str:
    """A residual sum in kWh and as a share of the meter's sum."""
    kwh = _signed(residual_kwh, "kWh", lang, decimals=0)
    if not total_kwh:
        return kwh
    return t("calibration.share", lang, kwh=kwh, share=_signed(100.0 * residual_kwh / total_kwh, "%", lang))


def _pv_rows(files: CalibrationFiles, lang: str) -> list[tuple[str, ...]]:
    record = files.record or {}
    drift = {s.system: s for s in files.drift.systems} if files.drift is not None else {}
    rows: list[tuple[str, ...]] = []
    for system, estimate in sorted((record.get("pv") or {}).items()):
        found = drift.get(system)
        rows.append(
            (
                system,
                _factor(estimate, lang),
                "-" if found is None else format_number(found.ratio, "", lang, decimals=2),
                t(ALARM, lang) if found is not None and found.alarm else "",
            )
        )
    return rows


def _building_rows(record: dict[str, Any], lang: str) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for building, entry in sorted((record.get("buildings") or {}).items()):
        entry = entry or {}
        fit = entry.get("goodness_of_fit") or {}
        rows.append(
            (
                building,
                _factor(entry.get("household_electricity"), lang),
                _factor(entry.get("space_heat"), lang),
                _change(fit, "cv_rmse", lang, decimals=0),
                _change(fit, "nmbe", lang, signed=True),
            )
        )
    return rows


def _factor(estimate: dict[str, Any] | None, lang: str) -> str:
    """A factor with its standard error, or why there is none."""
    if not estimate:
        return "-"
    if estimate.get("factor") is None:
        return t(NOT_IDENTIFIABLE, lang)
    factor = format_number(estimate["factor"], "", lang, decimals=2)
    se = estimate.get("se")
    return (
        factor
        if se is None
        else t("calibration.factor", lang, factor=factor, se=format_number(se, "", lang, decimals=2))
    )


def _change(statistics: dict[str, Any], name: str, lang: str, *, signed: bool = False, decimals: int = 1) -> str:
    """A statistic before and after calibration (``5,7 % -> 4,8 %``)."""
    before, after = (
        (_signed if signed else _unsigned)(statistics.get(f"{name}_{when}_pct"), "%", lang, decimals)
        for when in ("before", "after")
    )
    return t("calibration.change", lang, before=before, after=after)


def _unsigned(value: Any, unit: str, lang: str, decimals: int = 1) -> str:
    return format_number(value, unit, lang, decimals=decimals)


def _problem(files: CalibrationFiles, lang: str) -> str:
    """Why the calibration or its daily comparison is not shown, in ``lang``."""
    if files.missing is not None:
        return t(NO_SUCH_FILE, lang, path=files.missing)
    return files.problem or t(NOT_CONFIGURED, lang)
