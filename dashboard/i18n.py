"""Languages of the dashboard: German (the default) and English, labels, numbers and dates.

Every text the dashboard shows comes from :data:`MESSAGES`, a catalogue of message ids, each
with its German and English text (a test checks that no id lacks one). A page asks for a text
with :func:`t` (``t("live.title", lang)``); texts may hold ``str.format`` fields, filled from
the keyword arguments (``t("live.devices_down", lang, n=3, names="pv_1")``). Numbers with a
unit go through :func:`format_number` (``1.234,5 kWh`` in German, ``1,234.5 kWh`` in English),
times through :func:`format_time` (``02.12.2026 05:30`` in German, ``2026-12-02 05:30`` in
English), KPIs of the catalogue (:data:`twin.core.vocabulary.KPI_CATALOGUE`) through
:func:`kpi_label` and :func:`format_kpi`. Figures take :func:`plotly_separators` so their axes
and hover values use the same decimal mark.

The language of a request is the cookie :data:`COOKIE` (``de`` or ``en``), set by the switch
in the header (:data:`SWITCH_ROUTE`) and kept for a year in that browser; without it, or with
another value, German. :func:`current_language` reads it (outside a request: German), so a
callback needs no extra input. To add a label: add an id to :data:`MESSAGES` with both texts
(``"page.what"``: lower case, dot between page and name), and show ``t("page.what", lang)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

import pandas as pd
from flask import has_request_context, request

from twin.core.vocabulary import DEFAULT_TIMEZONE, KPI_CATALOGUE, kpi

__all__ = [
    "COOKIE",
    "DEFAULT_LANGUAGE",
    "LANGUAGES",
    "MESSAGES",
    "SWITCH_ROUTE",
    "current_language",
    "format_kpi",
    "format_number",
    "format_time",
    "kpi_label",
    "language",
    "plotly_separators",
    "t",
    "texts",
]

#: The dashboard's languages; the first is the default.
LANGUAGES: Final[tuple[str, ...]] = ("de", "en")
DEFAULT_LANGUAGE: Final[str] = "de"
#: The cookie that remembers a browser's language.
COOKIE: Final[str] = "twin_lang"
#: The route of the language switch: ``/language/<lang>?next=/path`` sets the cookie and goes back.
SWITCH_ROUTE: Final[str] = "/language/<lang>"
#: Time formats per language: date, minute, second and hour-minute.
_TIME_FORMATS: Final[dict[str, dict[str, str]]] = {
    "de": {"date": "%d.%m.%Y", "minute": "%d.%m.%Y %H:%M", "second": "%d.%m.%Y %H:%M:%S", "clock": "%H:%M"},
    "en": {"date": "%Y-%m-%d", "minute": "%Y-%m-%d %H:%M", "second": "%Y-%m-%d %H:%M:%S", "clock": "%H:%M"},
}
#: Decimal mark and thousands separator per language (plotly's ``separators`` order).
_SEPARATORS: Final[dict[str, str]] = {"de": ",.", "en": ".,"}

#: Message id -> language -> text. German first; both required.
MESSAGES: Final[dict[str, dict[str, str]]] = {
    # frame, header, login
    "app.title": {"de": "Quartierszwilling Beucha", "en": "Beucha district twin"},
    "app.times_in": {"de": "Zeiten in {tz}", "en": "times in {tz}"},
    "app.language": {"de": "Sprache", "en": "Language"},
    "app.user": {"de": "angemeldet als {user} ({role})", "en": "signed in as {user} ({role})"},
    "role.manager": {"de": "Energiemanager", "en": "energy manager"},
    "role.viewer": {"de": "nur lesen", "en": "read-only"},
    "app.read_only": {
        "de": "Nur-Lesen-Zugang: Änderungen sind Energiemanagern vorbehalten",
        "en": "read-only access: changes are reserved for energy managers",
    },
    "login.required": {"de": "Anmeldung erforderlich", "en": "Login required"},
    "login.forbidden": {
        "de": "Nicht erlaubt: die Rolle {role} darf nichts ändern",
        "en": "Forbidden: the role {role} cannot change anything",
    },
    "nav.live": {"de": "Live", "en": "Live"},
    "nav.buildings": {"de": "Gebäude", "en": "Buildings"},
    "nav.year": {"de": "Jahr", "en": "Year"},
    "nav.grid": {"de": "Netz", "en": "Grid"},
    "nav.scenarios": {"de": "Szenarien", "en": "Scenarios"},
    # shared
    "common.unknown": {"de": "unbekannt", "en": "unknown"},
    "common.no_data": {"de": "keine Daten", "en": "no data"},
    "common.no_live_data": {"de": "keine Live-Daten", "en": "no live data"},
    # KPI labels (twin.core.vocabulary.KPI_CATALOGUE): filled below from _KPI_LABELS
}

#: German labels of the KPI catalogue (the English ones are the catalogue's own).
_KPI_LABELS_DE: Final[dict[str, str]] = {
    "energy_balance_kwh": "Bilanz aller Energieträger",
    "electricity_balance_kwh": "Strombilanz",
    "energy_neutral": "energieneutral",
    "import_kwh": "Netzbezug",
    "export_kwh": "Netzeinspeisung",
    "fuel_kwh": "Gas",
    "load_kwh": "Last",
    "generation_kwh": "PV",
    "losses_kwh": "Netzverluste",
    "curtailed_kwh": "abgeregelt",
    "self_sufficiency_frac": "Autarkiegrad",
    "self_consumption_frac": "Eigenverbrauchsquote",
    "peak_import_kw": "Spitzenbezug",
    "peak_export_kw": "Spitzeneinspeisung",
    "trafo_loading_max_percent": "max. Trafoauslastung",
    "trafo_loading_p99_percent": "p99 Trafoauslastung",
    "line_loading_max_percent": "max. Leitungsauslastung",
    "vm_min_pu": "min. Spannung",
    "vm_max_pu": "max. Spannung",
    "outside_band_h": "Stunden außerhalb ±10 %",
    "rise_above_limit_h": "Stunden Anhebung > 3 %",
    "co2_kg": "CO2",
    "pv_kwp": "PV",
    "home_battery_kwh": "Heimspeicher",
    "community_battery_kwh": "Quartiersspeicher",
    "n_heat_pumps": "Wärmepumpen",
    "hp_heat_kwh": "Wärme der Wärmepumpen",
    "hp_electricity_kwh": "Strom der Wärmepumpen",
    "hp_spf": "JAZ der Wärmepumpen",
    "hp_backup_frac": "Anteil Heizstab",
    "n_evs": "E-Autos",
    "investment_eur": "Investition",
    "annual_cost_eur": "Jahreskosten",
}
#: Units shown in German where they differ from the English ones.
_UNITS_DE: Final[dict[str, str]] = {"kEUR": "T€", "kEUR/a": "T€/a", "EUR": "€", "pu": "p.u.", "h": "h"}
_UNITS_EN: Final[dict[str, str]] = {"pu": "p.u."}

for _spec in KPI_CATALOGUE:
    MESSAGES[f"kpi.{_spec.name}"] = {"de": _KPI_LABELS_DE.get(_spec.name, ""), "en": _spec.label}


def language(value: Any) -> str:
    """``value`` if it names a language of :data:`LANGUAGES`, else the default (German)."""
    return value if isinstance(value, str) and value in LANGUAGES else DEFAULT_LANGUAGE


def current_language() -> str:
    """The language of the current request (cookie :data:`COOKIE`); German outside a request."""
    if not has_request_context():
        return DEFAULT_LANGUAGE
    return language(request.cookies.get(COOKIE))


def t(key: str, lang: str | None = None, /, **values: Any) -> str:
    """The text of message ``key`` in ``lang`` (default: :func:`current_language`), fields filled from ``values``.

    Raises
    ------
    KeyError
        When the catalogue has no message ``key``.
    """
    text = MESSAGES[key][language(lang) if lang is not None else current_language()]
    return text.format(**values) if values else text


def format_number(value: Any, unit: str = "", lang: str | None = None, *, decimals: int = 1) -> str:
    """A number with thousands separators, ``decimals`` decimals and ``unit``; ``-`` when it is not a number.

    ``format_number(1234.5, "kWh", "de")`` -> ``1.234,5 kWh``; ``format_number(1234.5, "kWh", "en")`` ->
    ``1,234.5 kWh``. Units are shown as the language writes them (``kEUR`` -> ``T€`` in German).
    """
    lang = language(lang) if lang is not None else current_language()
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "-"
    if number != number:
        return "-"
    decimals = max(decimals, 0)
    if round(number, decimals) == 0:
        number = 0.0  # no "-0,0"
    text = f"{number:,.{decimals}f}"
    if lang == "de":
        text = text.replace(",", "\0").replace(".", ",").replace("\0", ".")
    shown_unit = (_UNITS_DE if lang == "de" else _UNITS_EN).get(unit, unit)
    return f"{text} {shown_unit}".rstrip()


def format_time(
    stamp: pd.Timestamp | datetime | str | None,
    lang: str | None = None,
    *,
    precision: str = "minute",
    tz: str = DEFAULT_TIMEZONE,
) -> str:
    """A UTC time in the time zone ``tz``; ``precision`` is ``date``, ``minute``, ``second`` or ``clock``.

    ``02.12.2026 06:30`` in German, ``2026-12-02 06:30`` in English; ``-`` when unknown.
    """
    if stamp is None or (isinstance(stamp, str) and not stamp):
        return "-"
    lang = language(lang) if lang is not None else current_language()
    ts = pd.Timestamp(stamp)
    if ts is pd.NaT:
        return "-"
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts
    return ts.tz_convert(tz).strftime(_TIME_FORMATS[lang][precision])


def kpi_label(name: str, lang: str | None = None, *, with_unit: bool = False) -> str:
    """The label of a KPI of the catalogue, with its displayed unit in brackets if ``with_unit``."""
    lang = language(lang) if lang is not None else current_language()
    label = t(f"kpi.{name}", lang)
    unit = kpi(name).display_unit
    if with_unit and unit:
        return f"{label} [{(_UNITS_DE if lang == 'de' else _UNITS_EN).get(unit, unit)}]"
    return label


def format_kpi(name: str, value: Any, lang: str | None = None, *, with_unit: bool = True) -> str:
    """A KPI scaled and formatted as the catalogue says, in the language's number format (``54,3 %``)."""
    spec = kpi(name)
    try:
        number = float(value) * spec.scale
    except (TypeError, ValueError):
        return "-"
    return format_number(number, spec.display_unit if with_unit else "", lang, decimals=_decimals(spec.fmt))


def plotly_separators(lang: str | None = None) -> str:
    """Plotly's ``layout.separators`` for ``lang``: decimal mark, then thousands separator."""
    return _SEPARATORS[language(lang) if lang is not None else current_language()]


def texts(lang: str) -> Mapping[str, str]:
    """Every message in ``lang`` (id -> text)."""
    return {key: value[language(lang)] for key, value in MESSAGES.items()}


def _decimals(fmt: str) -> int:
    """Decimals of a format spec such as ``,.1f`` (0 when it names none)."""
    _, dot, rest = fmt.partition(".")
    digits = "".join(ch for ch in rest if ch.isdigit())
    return int(digits) if dot and digits else 0
