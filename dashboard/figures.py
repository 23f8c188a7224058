"""Figure builders of the dashboard: plain functions from data to plotly figures.

Inputs are the twin's own structures (snapshot dicts, data frames with tz-aware UTC
indexes, result datasets); every builder converts times to Europe/Berlin for display, puts
units on every axis, and returns a figure that renders (with a note) when data are missing.
Long series are thinned on the server with ``coarsen`` (FIELD-NOTES: 40x faster than
``resample``) before they go to the browser.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import xarray as xr

from dashboard.data import GridMap, step_energy
from dashboard.i18n import date_formats, format_number, language, month_names, plotly_separators, t
from twin.core.vocabulary import DEFAULT_TIMEZONE, STEP_H

__all__ = [
    "COLOURS",
    "MAX_POINTS",
    "building_balance_figure",
    "duration_figure",
    "empty_figure",
    "flow_sankey",
    "grid_caption",
    "grid_figure",
    "history_figure",
    "monthly_exchange",
    "monthly_figure",
    "scenario_monthly_figure",
    "thin",
    "year_figure",
]

#: Points per trace sent to the browser at most (longer series are coarsened).
MAX_POINTS: Final[int] = 2000
#: One colour per balance term, the same on every page.
COLOURS: Final[dict[str, str]] = {
    "pv": "#f2b701",
    "grid_import": "#7f7f7f",
    "grid_export": "#3b8ea5",
    "battery": "#8e6c8a",
    "load": "#e07a5f",
    "heat_pump": "#d1495b",
    "ev": "#2a9d8f",
    "losses": "#bcbcbc",
    "gas": "#6d597a",
    "district": "#264653",
}
_LAYOUT: Final[dict[str, Any]] = {
    "template": "plotly_white",
    "margin": {"l": 60, "r": 20, "t": 40, "b": 40},
    "font": {"size": 13},
    "legend": {"orientation": "h", "y": -0.15},
}
#: Balance term, its message id (:mod:`dashboard.i18n`), its colour.
_TERMS: Final[tuple[tuple[str, str, str], ...]] = (
    ("p_load_kw", "term.households", "load"),
    ("p_heat_pump_kw", "term.heat_pumps", "heat_pump"),
    ("p_ev_kw", "term.evs", "ev"),
    ("p_battery_kw", "term.home_batteries", "battery"),
    ("p_community_battery_kw", "term.community_battery", "battery"),
    ("p_loss_kw", "term.grid_losses", "losses"),
    ("p_pv_kw", "term.pv", "pv"),
)
_PALETTE: Final[tuple[str, ...]] = ("#264653", "#e76f51", "#2a9d8f", "#e9c46a", "#8e6c8a", "#577590")
_LOADING_BANDS: Final[tuple[tuple[float, float, str, str], ...]] = (
    (-np.inf, 50.0, "#4c956c", "< 50 %"),
    (50.0, 80.0, "#f2b701", "50-80 %"),
    (80.0, 100.0, "#f08a24", "80-100 %"),
    (100.0, np.inf, "#c1121f", "> 100 %"),
)


def empty_figure(message: str, lang: str | None = None) -> go.Figure:
    """A blank figure that says why it is blank (``message`` in the page's language)."""
    fig = go.Figure()
    fig.update_layout(
        **_layout(lang),
        xaxis={"visible": False},
        yaxis={"visible": False},
        annotations=[{"text": message, "showarrow": False, "font": {"size": 15}, "xref": "paper", "yref": "paper"}],
    )
    return fig


def flow_sankey(balance: Mapping[str, Any] | None, *, title: str | None = None, lang: str | None = None) -> go.Figure:
    """The flows of one boundary now: sources (PV, grid import, battery discharge) into sinks.

    Parameters
    ----------
    balance : mapping
        A snapshot balance entry: ``p_grid_kw`` (import-positive), ``p_pv_kw``, ``p_battery_kw``,
        ``p_community_battery_kw``, ``p_heat_pump_kw``, ``p_ev_kw``, ``p_load_kw``, ``p_loss_kw``
        (load-positive; PV and discharge negative). [kW]

    Notes
    -----
    Meters do not say which source feeds which sink; the diagram routes every source into
    one district node and from there to every sink, so each link is a measured term.
    """
    if not balance:
        return empty_figure(t("fig.no_balance", lang), lang)
    value = {key: _number(balance.get(key)) for key in ("p_grid_kw", *(t[0] for t in _TERMS))}
    battery = value["p_battery_kw"] + value["p_community_battery_kw"]  # home batteries + community battery
    sources = [
        (t("term.pv", lang), -value["p_pv_kw"], COLOURS["pv"]),
        (t("term.grid_import", lang), value["p_grid_kw"], COLOURS["grid_import"]),
        (t("term.battery_discharge", lang), -battery, COLOURS["battery"]),
    ]
    sinks = [
        (t("term.households", lang), value["p_load_kw"], COLOURS["load"]),
        (t("term.heat_pumps", lang), value["p_heat_pump_kw"], COLOURS["heat_pump"]),
        (t("term.evs", lang), value["p_ev_kw"], COLOURS["ev"]),
        (t("term.battery_charge", lang), battery, COLOURS["battery"]),
        (t("term.grid_export", lang), -value["p_grid_kw"], COLOURS["grid_export"]),
        (t("term.grid_losses", lang), value["p_loss_kw"], COLOURS["losses"]),
    ]
    sources = [s for s in sources if s[1] > 1e-3]
    sinks = [s for s in sinks if s[1] > 1e-3]
    labels = [f"{name} {format_number(kw, 'kW', lang)}" for name, kw, _ in sources] + [t("term.district", lang)]
    labels += [f"{name} {format_number(kw, 'kW', lang)}" for name, kw, _ in sinks]
    hub = len(sources)
    link_source = list(range(hub)) + [hub] * len(sinks)
    link_target = [hub] * hub + list(range(hub + 1, hub + 1 + len(sinks)))
    link_value = [kw for _, kw, _ in sources] + [kw for _, kw, _ in sinks]
    colours = [c for _, _, c in sources] + [COLOURS["district"]] + [c for _, _, c in sinks]
    fig = go.Figure(
        go.Sankey(
            arrangement="fixed",
            valueformat=",.1f",
            valuesuffix=" kW",
            node={"label": labels, "color": colours, "pad": 18, "thickness": 18},
            link={"source": link_source, "target": link_target, "value": link_value, "color": "rgba(0,0,0,0.15)"},
        )
    )
    fig.update_layout(
        **{**_layout(lang), "margin": {"l": 10, "r": 10, "t": 40, "b": 10}},
        title=title if title is not None else t("fig.flows_now", lang),
        height=360,
    )
    return fig


def history_figure(
    frame: pd.DataFrame, *, title: str | None = None, tz: str = DEFAULT_TIMEZONE, lang: str | None = None
) -> go.Figure:
    """Consumers stacked above zero, generation and discharge below, grid exchange as a line.

    Parameters
    ----------
    frame : pandas.DataFrame
        Balance terms over time (tz-aware UTC index; columns as :data:`dashboard.data.HISTORY_TERMS`). [kW]
    tz : str, optional
        The time zone shown (the site's).
    """
    if frame is None or frame.empty:
        return empty_figure(t("fig.no_history", lang), lang)
    frame = _thin_frame(frame)
    x = frame.index.tz_convert(tz)
    fig = go.Figure()
    for column, key, colour in _TERMS:
        if column not in frame:
            continue
        name = t(key, lang)
        series = frame[column].astype(float)
        if column in ("p_battery_kw", "p_community_battery_kw"):
            parts = [
                (series.clip(lower=0), t("term.charge", lang, name=name), "pos"),
                (series.clip(upper=0), t("term.discharge", lang, name=name), "neg"),
            ]
        elif np.nansum(series.values) >= 0:
            parts = [(series.clip(lower=0), name, "pos")]
        else:
            parts = [(series.clip(upper=0), name, "neg")]
        for part, label, group in parts:
            if np.nansum(np.abs(part.values)) == 0:
                continue
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=part.values,
                    name=label,
                    stackgroup=group,
                    line={"width": 0.5, "color": COLOURS[colour]},
                    hovertemplate="%{y:,.1f} kW",
                )
            )
    if "p_grid_kw" in frame:
        fig.add_trace(
            go.Scatter(
                x=x,
                y=frame["p_grid_kw"].values,
                name=t("term.grid_exchange_import", lang),
                line={"color": "black", "width": 2},
                hovertemplate="%{y:,.1f} kW",
            )
        )
    fig.update_layout(
        **_layout(lang),
        title=f"{title if title is not None else t('fig.last_24h', lang)} · {tz}",
        yaxis_title=t("fig.power_axis", lang),
        xaxis=date_formats(lang),
    )
    return fig


def building_balance_figure(balance: Mapping[str, Any] | None, *, title: str, lang: str | None = None) -> go.Figure:
    """One boundary's terms now as horizontal bars, load-positive [kW]."""
    if not balance:
        return empty_figure(t("fig.no_building_balance", lang), lang)
    rows = [(t("term.grid_exchange", lang), _number(balance.get("p_grid_kw")), COLOURS["grid_import"])]
    rows += [(t(name, lang), _number(balance.get(key)), COLOURS[c]) for key, name, c in _TERMS if key in balance]
    fig = go.Figure(
        go.Bar(
            x=[r[1] for r in rows],
            y=[r[0] for r in rows],
            orientation="h",
            marker_color=[r[2] for r in rows],
            text=[format_number(r[1], "kW", lang, decimals=2) for r in rows],
            textposition="auto",
        )
    )
    fig.update_layout(**_layout(lang), title=title, xaxis_title=t("fig.power_now_axis", lang), height=320)
    fig.update_yaxes(autorange="reversed")
    return fig


def year_figure(
    daily: pd.DataFrame,
    *,
    year: int,
    projection: pd.DataFrame | None = None,
    projection_label: str = "",
    tz: str = DEFAULT_TIMEZONE,
    lang: str | None = None,
) -> go.Figure:
    """Cumulative balance since 1 January (all carriers and electricity only) against net zero.

    Parameters
    ----------
    daily : pandas.DataFrame
        Energy per local day (index: local midnight), columns ``import_kwh``, ``export_kwh``,
        ``fuel_kwh``. [kW h]
    projection : pandas.DataFrame, optional
        The same columns for the days still to come (from the baseline scenario). [kW h]
    tz : str, optional
        The time zone of the local days (the site's).
    """
    start = pd.Timestamp(year=year, month=1, day=1, tz=tz)
    end = pd.Timestamp(year=year, month=12, day=31, tz=tz)
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=[start, end], y=[0, 0], name=t("fig.net_zero", lang), line={"color": "black", "dash": "dot", "width": 1}
        )
    )
    if daily is None or daily.empty:
        fig.add_annotation(text=t("fig.no_quarter_hours", lang), showarrow=False, xref="paper", yref="paper")
        last_all = last_el = 0.0
        last_day = start - pd.Timedelta(days=1)
    else:
        all_mwh, el_mwh = _cumulative_mwh(daily)
        fig.add_trace(
            go.Scatter(x=daily.index, y=all_mwh, name=t("fig.all_carriers", lang), line={"color": COLOURS["gas"]})
        )
        fig.add_trace(
            go.Scatter(
                x=daily.index, y=el_mwh, name=t("fig.electricity_only", lang), line={"color": COLOURS["grid_export"]}
            )
        )
        last_all, last_el, last_day = float(all_mwh[-1]), float(el_mwh[-1]), daily.index[-1]
    if projection is not None and not projection.empty:
        ahead = projection[projection.index > last_day]
        if not ahead.empty:
            all_mwh, el_mwh = _cumulative_mwh(ahead)
            x = [last_day, *ahead.index]
            label = projection_label or t("year.baseline", lang)
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=[last_all, *(all_mwh + last_all)],
                    name=t("fig.projection", lang, label=label),
                    line={"color": COLOURS["gas"], "dash": "dash"},
                )
            )
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=[last_el, *(el_mwh + last_el)],
                    name=t("fig.projection_electricity", lang, label=label),
                    line={"color": COLOURS["grid_export"], "dash": "dash"},
                )
            )
    fig.update_layout(
        **_layout(lang),
        title=t("fig.cumulative_title", lang, year=year),
        yaxis_title=t("fig.cumulative_axis", lang),
        xaxis={
            "title": t("fig.date_axis", lang, tz=tz),
            "range": [start, end],
            "tickformat": "%d.%m." if language(lang) == "de" else "%b %d",
            "hoverformat": date_formats(lang)["hoverformat"].split(" ")[0],
        },
    )
    return fig


def monthly_figure(daily: pd.DataFrame, *, year: int, lang: str | None = None) -> go.Figure:
    """Monthly electricity import, export (below zero) and gas as bars [MWh]."""
    if daily is None or daily.empty:
        return empty_figure(t("fig.no_quarter_hours", lang), lang)
    months = daily.groupby(daily.index.month).sum(min_count=1)
    names = month_names(lang)
    labels = [names[int(m) - 1] for m in months.index]
    fig = go.Figure()
    for column, name, colour, sign in (
        ("import_kwh", t("fig.electricity_import", lang), COLOURS["grid_import"], 1.0),
        ("export_kwh", t("fig.electricity_export", lang), COLOURS["grid_export"], -1.0),
        ("fuel_kwh", t("fig.gas", lang), COLOURS["gas"], 1.0),
    ):
        if column in months:
            fig.add_trace(go.Bar(x=labels, y=sign * months[column].values / 1000.0, name=name, marker_color=colour))
    fig.update_layout(
        **_layout(lang),
        barmode="relative",
        title=t("fig.monthly_title", lang, year=year),
        yaxis_title=t("fig.energy_axis", lang),
        xaxis={"categoryorder": "array", "categoryarray": names, "range": [-0.5, 11.5]},
    )
    return fig


def grid_figure(
    grid: GridMap,
    *,
    vm_pu: pd.Series | None = None,
    loading_percent: pd.Series | None = None,
    title: str = "",
    highlight_bus: int | None = None,
    lang: str | None = None,
) -> go.Figure:
    """The LV grid on its map coordinates: buses coloured by voltage, branches by loading.

    Parameters
    ----------
    grid : GridMap
        Buses with ``x``/``y`` (longitude/latitude), branches with ``from_bus``/``to_bus``.
    vm_pu : pandas.Series, optional
        Voltage per bus index. [1]
    loading_percent : pandas.Series, optional
        Loading per branch id. [%]
    """
    buses = grid.buses.dropna(subset=["x", "y"])
    if buses.empty:
        return empty_figure(t("fig.no_coordinates", lang), lang)
    fig = go.Figure()
    for trace in _branch_traces(grid, buses, loading_percent, lang):
        fig.add_trace(trace)
    voltage = vm_pu.reindex(buses.index) if vm_pu is not None else pd.Series(np.nan, index=buses.index)
    names = buses["name"].astype(str) if "name" in buses else buses.index.astype(str)
    fig.add_trace(
        go.Scatter(
            x=buses["x"],
            y=buses["y"],
            mode="markers",
            name=t("fig.bus_voltage", lang),
            customdata=np.stack([buses.index.astype(str), names, voltage.values], axis=-1),
            hovertemplate=t("fig.bus", lang)
            + " %{customdata[0]} %{customdata[1]}<br>%{customdata[2]:.4f} p.u.<extra></extra>",
            marker={
                "size": 9,
                "color": voltage.values,
                "colorscale": "RdBu_r",
                "cmin": 0.94,
                "cmax": 1.06,
                "colorbar": {"title": {"text": t("fig.voltage_axis", lang)}},
                "line": {"width": 0.5, "color": "#333"},
            },
        )
    )
    if highlight_bus is not None and highlight_bus in buses.index:
        spot = buses.loc[highlight_bus]
        fig.add_trace(
            go.Scatter(
                x=[spot["x"]],
                y=[spot["y"]],
                mode="markers",
                name=t("fig.chosen_building", lang),
                marker={"size": 20, "symbol": "circle-open", "color": "black", "line": {"width": 3}},
            )
        )
    fig.update_layout(
        **_layout(lang),
        title=title,
        xaxis_title=t("fig.longitude", lang),
        yaxis_title=t("fig.latitude", lang),
        height=560,
    )
    fig.update_yaxes(scaleanchor="x", scaleratio=1.6)
    _add_caption(fig, grid_caption(buses, lang))
    return fig


def _branch_traces(
    grid: GridMap, buses: pd.DataFrame, loading_percent: pd.Series | None, lang: str | None
) -> list[go.Scatter]:
    """One line trace per loading band (:data:`_LOADING_BANDS`) with the branches in it."""
    traces: list[go.Scatter] = []
    branches = grid.branches[grid.branches["from_bus"].isin(buses.index) & grid.branches["to_bus"].isin(buses.index)]
    loading = (loading_percent if loading_percent is not None else pd.Series(dtype=float)).reindex(branches.index)
    band = np.digitize(loading.fillna(-1.0).to_numpy(dtype=float), [b[1] for b in _LOADING_BANDS[:-1]])
    x_from, y_from = buses.loc[branches["from_bus"], "x"].to_numpy(), buses.loc[branches["from_bus"], "y"].to_numpy()
    x_to, y_to = buses.loc[branches["to_bus"], "x"].to_numpy(), buses.loc[branches["to_bus"], "y"].to_numpy()
    for index, (_, _, colour, label) in enumerate(_LOADING_BANDS):
        chosen = band == index
        if not chosen.any():
            continue
        gap = np.full(int(chosen.sum()), np.nan)
        xs = np.column_stack([x_from[chosen], x_to[chosen], gap]).ravel()
        ys = np.column_stack([y_from[chosen], y_to[chosen], gap]).ravel()
        traces.append(
            go.Scatter(
                x=xs,
                y=ys,
                mode="lines",
                line={"color": colour, "width": 3},
                name=t("fig.loading", lang, band=label),
                hoverinfo="skip",
            )
        )
    return traces


def _add_caption(fig: go.Figure, text: str) -> None:
    """A small note above the plot area, left-aligned."""
    fig.add_annotation(
        text=text,
        showarrow=False,
        xref="paper",
        yref="paper",
        x=0.0,
        y=1.0,
        xanchor="left",
        yanchor="bottom",
        font={"size": 11, "color": "#555"},
    )


def grid_caption(buses: pd.DataFrame, lang: str | None = None) -> str:
    """Where the map sits: the buses' centroid, SimBench geodata shifted to the district's location."""
    lat, lon = float(buses["y"].astype(float).mean()), float(buses["x"].astype(float).mean())
    north = f"{format_number(abs(lat), '', lang, decimals=3)} {'N' if lat >= 0 else 'S'}"
    east_mark = "E" if language(lang) == "en" else "O"
    east = f"{format_number(abs(lon), '', lang, decimals=3)} {east_mark if lon >= 0 else 'W'}"
    return t("fig.grid_caption", lang, lat=north, lon=east)


def monthly_exchange(p_grid_kw: xr.DataArray) -> pd.DataFrame:
    """Monthly import and export energy from a result's ``p_grid_kw`` (local months).

    Returns
    -------
    pandas.DataFrame
        Index month number 1-12; columns ``import_kwh``, ``export_kwh``. [kW h]
    """
    times = pd.DatetimeIndex(p_grid_kw["time"].values).tz_localize("UTC")
    dt_h = float(np.median(np.diff(times.asi8))) / 3.6e12 if times.size > 1 else STEP_H
    import_kwh, export_kwh = step_energy(p_grid_kw.values, dt_h)
    frame = pd.DataFrame({"import_kwh": import_kwh, "export_kwh": export_kwh}, index=times.tz_convert(DEFAULT_TIMEZONE))
    return frame.groupby(frame.index.month).sum()


def scenario_monthly_figure(monthly: Mapping[str, pd.DataFrame], lang: str | None = None) -> go.Figure:
    """Monthly electricity exchange of several scenarios side by side, export below zero [MWh]."""
    if not monthly:
        return empty_figure(t("fig.choose_results", lang), lang)
    fig = go.Figure()
    names = month_names(lang)
    for index, (name, frame) in enumerate(monthly.items()):
        labels = [names[int(m) - 1] for m in frame.index]
        colour = _PALETTE[index % len(_PALETTE)]
        fig.add_trace(
            go.Bar(
                x=labels,
                y=frame["import_kwh"] / 1000.0,
                name=t("fig.scenario_import", lang, name=name),
                marker_color=colour,
                offsetgroup=name,
            )
        )
        fig.add_trace(
            go.Bar(
                x=labels,
                y=-frame["export_kwh"] / 1000.0,
                name=t("fig.scenario_export", lang, name=name),
                marker={"color": colour, "pattern": {"shape": "/"}},
                offsetgroup=name,
            )
        )
    fig.update_layout(
        **_layout(lang),
        barmode="relative",
        title=t("fig.monthly_exchange", lang),
        yaxis_title=t("fig.energy_axis", lang),
    )
    return fig


def duration_figure(series: Mapping[str, np.ndarray], *, dt_h: float = STEP_H, lang: str | None = None) -> go.Figure:
    """Load duration curves of the substation exchange (import +), sorted high to low.

    Parameters
    ----------
    series : mapping of str to numpy.ndarray
        Scenario name -> ``p_grid_kw`` per step. [kW]
    dt_h : float
        Step length. [h]
    """
    if not series:
        return empty_figure(t("fig.choose_results", lang), lang)
    fig = go.Figure()
    for index, (name, values) in enumerate(series.items()):
        ordered = np.sort(np.asarray(values, dtype=np.float64))[::-1]
        hours = np.arange(ordered.size) * dt_h
        x, y = thin(hours), thin(ordered)
        fig.add_trace(go.Scatter(x=x, y=y, name=name, line={"color": _PALETTE[index % len(_PALETTE)]}))
    fig.add_hline(y=0, line={"color": "black", "width": 1})
    fig.update_layout(
        **_layout(lang),
        title=t("fig.duration_title", lang),
        xaxis_title=t("fig.hours_axis", lang),
        yaxis_title=t("fig.exchange_axis", lang),
    )
    return fig


def thin(values: np.ndarray, max_points: int = MAX_POINTS) -> np.ndarray:
    """Average runs of a long 1-D series down to at most ``max_points`` (``xarray.coarsen``)."""
    array = np.asarray(values, dtype=np.float64)
    if array.size <= max_points:
        return array
    window = int(np.ceil(array.size / max_points))
    return np.asarray(xr.DataArray(array, dims="step").coarsen(step=window, boundary="pad").mean().values)


def _layout(lang: str | None) -> dict[str, Any]:
    """The common layout with the language's decimal mark and thousands separator."""
    return {**_LAYOUT, "separators": plotly_separators(lang)}


def _thin_frame(frame: pd.DataFrame) -> pd.DataFrame:
    if len(frame) <= MAX_POINTS:
        return frame
    window = int(np.ceil(len(frame) / MAX_POINTS))
    data = xr.Dataset.from_dataframe(frame.tz_convert("UTC").tz_localize(None).rename_axis("time"))
    thinned = data.coarsen(time=window, boundary="trim").mean().to_dataframe()
    thinned.index = pd.DatetimeIndex(thinned.index).tz_localize("UTC")
    return thinned


def _cumulative_mwh(daily: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    imp = daily.get("import_kwh", pd.Series(0.0, index=daily.index)).fillna(0.0).values
    exp = daily.get("export_kwh", pd.Series(0.0, index=daily.index)).fillna(0.0).values
    gas = daily.get("fuel_kwh", pd.Series(0.0, index=daily.index)).fillna(0.0).values
    electricity = np.cumsum(imp - exp) / 1000.0
    return electricity + np.cumsum(gas) / 1000.0, electricity


def _number(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0
    return number if np.isfinite(number) else 0.0
