"""Languages of the dashboard: German (the default) and English, labels, numbers and dates.

Every text the dashboard shows comes from :data:`MESSAGES`, a catalogue of message ids, each
with its German and English text (a test checks that no id lacks one). A page asks for a text
with :func:`t` (``t("live.title", lang)``); texts may hold ``str.format`` fields, filled from
the keyword arguments (``t("live.devices_down", lang, n=3, names="pv_1")``). Numbers with a
unit go through :func:`format_number` (``1.234,5 kWh`` in German, ``1,234.5 kWh`` in English),
times through :func:`format_time` (``02.12.2026 05:30``, day first in both languages), KPIs
of the catalogue (:data:`twin.core.vocabulary.KPI_CATALOGUE`) through :func:`kpi_label` and
:func:`format_kpi`, device kinds through :func:`kind_label`. Figures take :func:`plotly_separators` so their axes
and hover values use the same decimal mark.

The language of a request is the cookie :data:`COOKIE` (``de`` or ``en``), set by the switch
in the header (:data:`SWITCH_ROUTE`) and kept for a year in that browser; without it, or with
another value, German. :func:`current_language` reads it (outside a request: German), so a
callback needs no extra input (the period picker's and the ensemble views' messages live in
:mod:`dashboard.i18n_views`). To add a label: add an id to :data:`MESSAGES` with both texts
(``"page.what"``: lower case, dot between page and name), and show ``t("page.what", lang)``;
a view function takes ``lang`` (default: :func:`current_language`) and passes it on, so tests
render a page in either language without a request.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

import pandas as pd
from flask import has_request_context, request

from dashboard.i18n_calibration import CALIBRATION_MESSAGES
from dashboard.i18n_views import VIEW_MESSAGES
from twin.core.vocabulary import CONTROL_KPI_CATALOGUE, DEFAULT_TIMEZONE, KPI_CATALOGUE, kpi

__all__ = [
    "COOKIE",
    "DEFAULT_LANGUAGE",
    "LANGUAGES",
    "MESSAGES",
    "SWITCH_ROUTE",
    "current_language",
    "date_formats",
    "dropdown_labels",
    "format_kpi",
    "format_number",
    "format_time",
    "kind_label",
    "kpi_label",
    "language",
    "month_names",
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
#: Time formats (both languages write dates day first, as the district's users do):
#: date, minute, second, clock (hour and minute) and clock_s (with seconds).
_TIME_FORMATS: Final[dict[str, str]] = {
    "date": "%d.%m.%Y",
    "minute": "%d.%m.%Y %H:%M",
    "second": "%d.%m.%Y %H:%M:%S",
    "clock": "%H:%M",
    "clock_s": "%H:%M:%S",
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
    "common.dash": {"de": "-", "en": "-"},
    "common.choose": {"de": "Auswählen …", "en": "Select..."},
    # texts inside dcc.Dropdown (its `labels`; {num_selected} is filled by the browser)
    "dropdown.select_all": {"de": "Alle wählen", "en": "Select All"},
    "dropdown.deselect_all": {"de": "Keine wählen", "en": "Deselect All"},
    "dropdown.selected_count": {"de": "{num_selected} gewählt", "en": "{num_selected} selected"},
    "dropdown.search": {"de": "Suchen", "en": "Search"},
    "dropdown.clear_search": {"de": "Suche löschen", "en": "Clear search"},
    "dropdown.clear_selection": {"de": "Auswahl löschen", "en": "Clear selection"},
    "dropdown.no_options_found": {"de": "Nichts gefunden", "en": "No options found"},
    # live page
    "live.title": {"de": "Live", "en": "Live"},
    "live.no_snapshot": {
        "de": "noch kein Live-Schnappschuss in {path} (läuft 'twin live'?)",
        "en": "no live snapshot in {path} yet (is 'twin live' running?)",
    },
    "live.no_history": {"de": "Kein Verlauf: {error}", "en": "No history: {error}"},
    "live.status": {
        "de": "{site} · simulierte Zeit {time} ({tz}) · letzte Aktualisierung {wall} Uhr (Echtzeit)",
        "en": "{site} · simulated time {time} ({tz}) · last update {wall} wall-clock time",
    },
    "live.site": {"de": "Standort", "en": "site"},
    "live.no_alerts": {"de": "keine Warnungen", "en": "no alerts"},
    "live.sankey_title": {"de": "Leistungsflüsse im Quartier jetzt [kW]", "en": "District power flows now [kW]"},
    "live.store_unreadable": {
        "de": "der gespeicherte Verlauf ist nicht lesbar",
        "en": "the stored history cannot be read",
    },
    "live.history_title": {"de": "Quartier, {period} [kW]", "en": "District, {period} [kW]"},
    "live.devices_down": {"de": "{n} Gerät(e) ausgefallen: {names}", "en": "{n} device(s) down: {names}"},
    "live.and_more": {"de": "{names} und {n} weitere", "en": "{names} and {n} more"},
    "live.not_converged": {
        "de": "die Live-Lastflussrechnung ist nicht konvergiert",
        "en": "the live power flow did not converge",
    },
    "live.stale": {
        "de": "der Schnappschuss ist {age} alt: läuft 'twin live' noch?",
        "en": "the snapshot is {age} old: is 'twin live' still running?",
    },
    "live.partial": {
        "de": "Quartierssummen unvollständig: {missing} Eingang/Eingänge nicht ok (PV, Last und Speicher umfassen"
        " die antwortenden Geräte); der Netzaustausch ist gemessen",
        "en": "district sums partial: {missing} input(s) not ok (PV, load and battery cover the devices that"
        " answer); the grid exchange is measured",
    },
    "live.some": {"de": "einige", "en": "some"},
    "live.meter_bad": {
        "de": "der Zähler der Ortsnetzstation ist {quality}: der Netzaustausch wird gerade nicht gemessen",
        "en": "the substation meter is {quality}: the grid exchange is not measured now",
    },
    "live.trafo_over": {
        "de": "Transformator zu {value} ausgelastet (über 100 %)",
        "en": "transformer loaded {value} (above 100 %)",
    },
    "live.line_over": {
        "de": "eine Leitung ist zu {value} ausgelastet (über 100 %)",
        "en": "a line is loaded {value} (above 100 %)",
    },
    "live.v_low": {
        "de": "Spannung {value} unter dem Band der EN 50160 ({limit})",
        "en": "voltage {value} below the EN 50160 band ({limit})",
    },
    "live.v_high": {
        "de": "Spannung {value} über dem Band der EN 50160 ({limit})",
        "en": "voltage {value} above the EN 50160 band ({limit})",
    },
    "live.import": {"de": "Bezug aus dem Netz", "en": "import from the grid"},
    "live.export": {"de": "Einspeisung ins Netz", "en": "export to the grid"},
    "live.since": {"de": "seit {time}", "en": "since {time}"},
    "live.no_controller": {"de": "keine Reglerdaten im Schnappschuss", "en": "no controller data in the snapshot"},
    "live.self_sufficiency_today": {"de": "Autarkiegrad heute", "en": "Self-sufficiency today"},
    "live.self_sufficiency_note": {"de": "1 - Bezug / Last", "en": "1 - import / load"},
    "live.self_consumption_today": {"de": "Eigenverbrauch heute", "en": "Self-consumption today"},
    "live.self_consumption_note": {"de": "1 - Einspeisung / PV", "en": "1 - export / PV"},
    "live.grid_now": {"de": "Netzaustausch jetzt", "en": "Grid exchange now"},
    "live.signal": {"de": "Signal an die Regler", "en": "Signal to controllers"},
    "live.devices_ok": {"de": "Geräte ok", "en": "Devices ok"},
    "live.health": {"de": "Gerätezustand", "en": "Device health"},
    "live.failing": {"de": "Ausgefallen", "en": "Failing"},
    "live.all_ok": {"de": "Alle Geräte antworten.", "en": "All devices answer."},
    "col.kind": {"de": "Art", "en": "kind"},
    "col.ok": {"de": "ok", "en": "ok"},
    "col.failing": {"de": "ausgefallen", "en": "failing"},
    "col.device": {"de": "Gerät", "en": "device"},
    "col.error": {"de": "Fehler", "en": "error"},
    "col.last_good": {"de": "letzter gültiger Wert", "en": "last good value"},
    "col.state": {"de": "Zustand", "en": "state"},
    "col.values": {"de": "Werte (Einheiten in den Namen)", "en": "values (units in the names)"},
    "col.read": {"de": "gelesen", "en": "read"},
    "col.kpi": {"de": "Kennzahl", "en": "KPI"},
    # kinds of device and asset (the snapshot's kind names)
    "kind.substation_meter": {"de": "Stationszähler", "en": "substation meter"},
    "kind.building_meter": {"de": "Gebäudezähler", "en": "building meter"},
    "kind.pv_inverter": {"de": "PV-Wechselrichter", "en": "pv inverter"},
    "kind.battery": {"de": "Heimspeicher", "en": "battery"},
    "kind.community_battery": {"de": "Quartiersspeicher", "en": "community battery"},
    "kind.heat_pump_meter": {"de": "Wärmepumpenzähler", "en": "heat pump meter"},
    "kind.ev_charger_meter": {"de": "Ladepunktzähler", "en": "ev charger meter"},
    "kind.household_meter": {"de": "Haushaltszähler", "en": "household meter"},
    "kind.gas_meter": {"de": "Gaszähler", "en": "gas meter"},
    "kind.other": {"de": "sonstige", "en": "other"},
    # balance terms (figures)
    "term.households": {"de": "Haushalte", "en": "households"},
    "term.heat_pumps": {"de": "Wärmepumpen", "en": "heat pumps"},
    "term.evs": {"de": "E-Autos", "en": "EVs"},
    "term.home_batteries": {"de": "Heimspeicher", "en": "home batteries"},
    "term.community_battery": {"de": "Quartiersspeicher", "en": "community battery"},
    "term.grid_losses": {"de": "Netzverluste", "en": "grid losses"},
    "term.pv": {"de": "PV", "en": "PV"},
    "term.grid_import": {"de": "Netzbezug", "en": "grid import"},
    "term.grid_export": {"de": "Netzeinspeisung", "en": "grid export"},
    "term.battery_discharge": {"de": "Speicherentladung", "en": "battery discharge"},
    "term.battery_charge": {"de": "Speicherladung", "en": "battery charge"},
    "term.district": {"de": "Quartier", "en": "district"},
    "term.charge": {"de": "{name} (Laden)", "en": "{name} (charge)"},
    "term.discharge": {"de": "{name} (Entladen)", "en": "{name} (discharge)"},
    "term.grid_exchange": {"de": "Netzaustausch", "en": "grid exchange"},
    "term.grid_exchange_import": {"de": "Netzaustausch (Bezug +)", "en": "grid exchange (import +)"},
    # figures
    "fig.flows_now": {"de": "Leistungsflüsse jetzt [kW]", "en": "Power flows now [kW]"},
    "fig.last_24h": {"de": "Letzte 24 Stunden", "en": "Last 24 hours"},
    "fig.no_balance": {"de": "noch keine Bilanz im Schnappschuss", "en": "no balance in the snapshot yet"},
    "fig.no_history": {
        "de": "noch keine gespeicherten Daten der letzten 24 Stunden",
        "en": "no stored data for the last 24 hours yet",
    },
    "fig.power_axis": {"de": "Leistung [kW] (Verbrauch +, Erzeugung -)", "en": "power [kW] (consumption +, supply -)"},
    "fig.power_now_axis": {
        "de": "Leistung jetzt [kW] (Verbrauch +, Erzeugung -)",
        "en": "power now [kW] (consumption +, supply -)",
    },
    "fig.no_building_balance": {
        "de": "keine Bilanz dieses Gebäudes im Schnappschuss",
        "en": "no balance for this building in the snapshot",
    },
    "fig.net_zero": {"de": "Netto-Null", "en": "net zero"},
    "fig.no_quarter_hours": {
        "de": "in diesem Jahr noch keine gespeicherten Viertelstunden",
        "en": "no stored quarter-hours this year yet",
    },
    "fig.all_carriers": {"de": "alle Energieträger (Strom + Gas)", "en": "all carriers (electricity + gas)"},
    "fig.electricity_only": {"de": "nur Strom", "en": "electricity only"},
    "fig.projection": {"de": "Prognose: {label}", "en": "projection: {label}"},
    "fig.projection_electricity": {"de": "Prognose: {label}, Strom", "en": "projection: {label}, electricity"},
    "fig.cumulative_title": {
        "de": "Kumulierte Bilanz {year}: Bezug + Gas - Einspeisung",
        "en": "Cumulative balance {year}: import + gas - export",
    },
    "fig.cumulative_axis": {
        "de": "kumulierte Bilanz [MWh] (> 0: noch nicht neutral)",
        "en": "cumulative balance [MWh] (> 0: not yet neutral)",
    },
    "fig.date_axis": {"de": "Datum ({tz})", "en": "date ({tz})"},
    "fig.electricity_import": {"de": "Strombezug", "en": "electricity import"},
    "fig.electricity_export": {"de": "Stromeinspeisung", "en": "electricity export"},
    "fig.gas": {"de": "Gas", "en": "gas"},
    "fig.monthly_title": {"de": "Monatsbilanz {year}", "en": "Monthly balance {year}"},
    "fig.energy_axis": {"de": "Energie [MWh] (Einspeisung -)", "en": "energy [MWh] (export -)"},
    "fig.no_coordinates": {"de": "das Netz hat keine Kartenkoordinaten", "en": "the grid has no map coordinates"},
    "fig.loading": {"de": "Auslastung {band}", "en": "loading {band}"},
    "fig.bus_voltage": {"de": "Knotenspannung", "en": "bus voltage"},
    "fig.bus": {"de": "Knoten", "en": "bus"},
    "fig.voltage_axis": {"de": "Spannung [p.u.]", "en": "voltage [p.u.]"},
    "fig.chosen_building": {"de": "gewähltes Gebäude", "en": "chosen building"},
    "fig.longitude": {"de": "Längengrad [°]", "en": "longitude [°]"},
    "fig.latitude": {"de": "Breitengrad [°]", "en": "latitude [°]"},
    "fig.grid_caption": {
        "de": "Knotenpositionen: die Geodaten des Netzes, ein SimBench-Netz, so verschoben, dass sein Schwerpunkt"
        " am Ort des Quartiers liegt ({lat}, {lon})",
        "en": "bus positions: the grid's geodata, a SimBench grid shifted so its centroid lies at the district's"
        " location ({lat}, {lon})",
    },
    "fig.choose_results": {"de": "Szenarioergebnisse wählen", "en": "choose scenario results"},
    "fig.scenario_import": {"de": "{name} Bezug", "en": "{name} import"},
    "fig.scenario_export": {"de": "{name} Einspeisung", "en": "{name} export"},
    "fig.monthly_exchange": {"de": "Monatlicher Netzaustausch", "en": "Monthly grid exchange"},
    "fig.duration_title": {
        "de": "Dauerlinie an der Ortsnetzstation",
        "en": "Load duration curve at the substation",
    },
    "fig.hours_axis": {"de": "Stunden des Zeitraums [h]", "en": "hours of the period [h]"},
    "fig.exchange_axis": {"de": "Netzaustausch [kW] (Bezug +)", "en": "grid exchange [kW] (import +)"},
    "month.abbr": {
        "de": "Jan Feb Mär Apr Mai Jun Jul Aug Sep Okt Nov Dez",
        "en": "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec",
    },
    # buildings page
    "buildings.title": {"de": "Gebäude", "en": "Buildings"},
    "buildings.building": {"de": "Gebäude", "en": "Building"},
    "buildings.choose": {"de": "ein Gebäude wählen", "en": "choose a building"},
    "buildings.import_export_today": {"de": "Bezug / Einspeisung heute", "en": "Import / export today"},
    "buildings.balance_year": {"de": "Bilanz dieses Jahr", "en": "Balance this year"},
    "buildings.balance_note": {"de": "Bezug + Gas - Einspeisung", "en": "import + gas - export"},
    "buildings.gas_year": {"de": "Gas dieses Jahr", "en": "Gas this year"},
    "buildings.history_title": {"de": "{building}, {period} [kW]", "en": "{building}, {period} [kW]"},
    "buildings.no_history": {"de": "kein Verlauf: {error}", "en": "no history: {error}"},
    "buildings.devices_of": {"de": "Geräte von {building}", "en": "Devices of {building}"},
    "buildings.power_now": {"de": "{building}: Leistung jetzt", "en": "{building}: power now"},
    "buildings.no_map": {
        "de": "keine Netzkarte: die Karte kommt aus der Datei {file} eines Szenarioergebnisses",
        "en": "no grid map: the map comes from a scenario result's {file}",
    },
    "buildings.map_title": {
        "de": "Knoten anklicken: sein Gebäude wählen (Spannungen und Auslastungen live)",
        "en": "Click a bus to choose its building (live voltages and loadings)",
    },
    "state.ok": {"de": "ok", "en": "ok"},
    "state.failing": {"de": "ausgefallen", "en": "failing"},
    # year page
    "year.title": {"de": "Das Jahr auf dem Weg zur Energieneutralität", "en": "The year towards energy-neutral"},
    "year.unreadable": {"de": "die gespeicherten Daten sind nicht lesbar", "en": "the stored data cannot be read"},
    "year.no_balance": {"de": "Keine Jahresbilanz: {error}", "en": "No year balance: {error}"},
    "year.balance_so_far": {"de": "Bilanz {year} bisher", "en": "Balance {year} so far"},
    "year.balance_note": {
        "de": "Bezug + Gas - Einspeisung (alle Energieträger)",
        "en": "import + gas - export (all carriers)",
    },
    "year.electricity_only": {"de": "Nur Strom", "en": "Electricity only"},
    "year.electricity_note": {"de": "Bezug - Einspeisung", "en": "import - export"},
    "year.days": {"de": "Tage mit Daten", "en": "Days with data"},
    "year.projected": {"de": "Prognose Jahresende", "en": "Projected year end"},
    "year.projected_note": {
        "de": "mit dem Basisszenario (sein Gas gleichmäßig verteilt); Strom {electricity}",
        "en": "with the baseline scenario (its gas spread evenly); electricity {electricity}",
    },
    "year.baseline": {"de": "Basisszenario", "en": "baseline scenario"},
    # grid page
    "grid.title": {"de": "Niederspannungsnetz", "en": "Low-voltage grid"},
    "grid.source": {"de": "Quelle", "en": "Source"},
    "grid.worst_loading": {"de": "Höchste Auslastung", "en": "Highest loading"},
    "grid.lowest_voltage": {"de": "Niedrigste Spannung", "en": "Lowest voltage"},
    "grid.highest_voltage": {"de": "Höchste Spannung", "en": "Highest voltage"},
    "grid.live_state": {"de": "Live-Zustand", "en": "live state"},
    "grid.scenario": {"de": "Szenario {name}", "en": "scenario {name}"},
    "grid.no_live_grid": {
        "de": "der Live-Schnappschuss hat keinen Netzzustand (die Live-Lastflussrechnung lief noch nicht)",
        "en": "the live snapshot has no grid state (the live power flow has not run)",
    },
    "grid.live_no_state": {"de": "live: kein Netzzustand", "en": "live: no grid state"},
    "grid.live_summary": {
        "de": "live {time}: Transformator {trafo}, max. Leitung {line}, Spannung {vmin} bis {vmax}, Verluste {loss}",
        "en": "live {time}: transformer {trafo}, max line {line}, voltage {vmin} to {vmax}, losses {loss}",
    },
    "grid.live_title": {"de": "Netzzustand live", "en": "Live grid state"},
    "grid.no_result": {"de": "kein Netzergebnis {name}", "en": "no grid result {name}"},
    "grid.step_summary": {
        "de": "Szenario {name}, Schritt {step} ({time}, {tz}): Transformator {trafo}, max. Leitung {line},"
        " Spannung {vmin} bis {vmax}",
        "en": "scenario {name}, step {step} ({time}, {tz}): transformer {trafo}, max line {line},"
        " voltage {vmin} to {vmax}",
    },
    "grid.step_title": {"de": "Szenario {name} am {time}", "en": "Scenario {name} at {time}"},
    # scenarios page
    "scenarios.title": {"de": "Szenarien vergleichen", "en": "Compare scenarios"},
    "scenarios.results": {"de": "Ergebnisse", "en": "Results"},
    "scenarios.choose": {"de": "zwei oder mehr Szenarioergebnisse wählen", "en": "choose two or more scenario results"},
    "scenarios.none": {"de": "Kein Ergebnis gewählt.", "en": "No result chosen."},
    "scenarios.downloads": {"de": "Downloads", "en": "Downloads"},
    "scenarios.kpis": {"de": "Kennzahlen", "en": "KPIs"},
    "download.result_nc": {"de": "NetCDF-Ergebnis", "en": "NetCDF result"},
    "download.timeseries": {"de": "Zeitreihe der Ortsnetzstation (CSV)", "en": "substation time series (CSV)"},
    "download.kpis": {"de": "Kennzahlen (CSV)", "en": "KPIs (CSV)"},
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
    "control_trafo_over_100_h": "Stunden Trafo > 100 %",
    "control_line_over_100_h": "Stunden eine Leitung > 100 %",
    "control_hp_blocked_kwh": "Wärmepumpen gesperrt",
    "control_dimmed_kwh": "gedimmt (§ 14a)",
    "control_heat_deferred_kwh": "Wärme verschoben",
    "control_ev_deferred_kwh": "Laden verschoben",
    "control_comfort_violation_kh": "Komfortverletzung",
    "control_comfort_violation_h": "Stunden unter dem Komfort",
    "control_comfort_ok": "Komfort annehmbar (EN 16798-1 III)",
    "control_comfort_coldest_degc": "kältestes Gebäude",
    "control_comfort_below_bound_max_h": "Stunden unter Kategorie III",
    "signal_block_h": "Stunden gesperrt je Gebäude",
}
#: Units shown in German where they differ from the English ones.
_UNITS_DE: Final[dict[str, str]] = {"kEUR": "T€", "kEUR/a": "T€/a", "EUR": "€", "pu": "p.u.", "h": "h"}
_UNITS_EN: Final[dict[str, str]] = {"pu": "p.u."}

MESSAGES.update(VIEW_MESSAGES)
MESSAGES.update(CALIBRATION_MESSAGES)
for _spec in (*KPI_CATALOGUE, *CONTROL_KPI_CATALOGUE):
    MESSAGES[f"kpi.{_spec.name}"] = {"de": _KPI_LABELS_DE.get(_spec.name, ""), "en": _spec.label}
MESSAGES["value.yes"] = {"de": "ja", "en": "yes"}
MESSAGES["value.no"] = {"de": "nein", "en": "no"}


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
    """A UTC time in the time zone ``tz``; ``precision`` is ``date``, ``minute``, ``second``, ``clock`` or ``clock_s``.

    ``02.12.2026 06:30`` (day first in both languages; ``lang`` is accepted for symmetry); ``-`` when unknown.
    """
    if stamp is None or (isinstance(stamp, str) and not stamp):
        return "-"
    ts = pd.Timestamp(stamp)
    if ts is pd.NaT:
        return "-"
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts
    return ts.tz_convert(tz).strftime(_TIME_FORMATS[precision])


def kpi_label(name: str, lang: str | None = None, *, with_unit: bool = False) -> str:
    """The label of a KPI of the catalogue, with its displayed unit in brackets if ``with_unit``."""
    lang = language(lang) if lang is not None else current_language()
    label = t(f"kpi.{name}", lang)
    unit = kpi(name).display_unit
    if with_unit and unit:
        return f"{label} [{(_UNITS_DE if lang == 'de' else _UNITS_EN).get(unit, unit)}]"
    return label


def format_kpi(name: str, value: Any, lang: str | None = None, *, with_unit: bool = True) -> str:
    """A KPI scaled and formatted as the catalogue says, in the language's number format (``54,3 %``).

    A yes/no KPI (``control_comfort_ok``) reads ``ja``/``nein`` (``yes``/``no``).
    """
    if isinstance(value, bool):
        return t("value.yes" if value else "value.no", lang)
    spec = kpi(name)
    try:
        number = float(value) * spec.scale
    except (TypeError, ValueError):
        return "-"
    return format_number(number, spec.display_unit if with_unit else "", lang, decimals=_decimals(spec.fmt))


def kind_label(kind: str | None, lang: str | None = None) -> str:
    """A device kind (:data:`twin.core.vocabulary.DEVICE_KINDS`) as people write it; unknown kinds with spaces."""
    key = f"kind.{kind or 'other'}"
    return t(key, lang) if key in MESSAGES else (kind or "").replace("_", " ")


def month_names(lang: str | None = None) -> list[str]:
    """The twelve abbreviated month names in ``lang`` (January first)."""
    return t("month.abbr", lang).split()


def date_formats(lang: str | None = None) -> dict[str, str]:
    """Plotly's ``tickformat`` and ``hoverformat`` of a time axis in ``lang`` (d3 time format)."""
    lang = language(lang) if lang is not None else current_language()
    if lang == "de":
        return {"tickformat": "%H:%M\n%d.%m.%Y", "hoverformat": "%d.%m.%Y %H:%M"}
    return {"tickformat": "%H:%M\n%b %d, %Y", "hoverformat": "%d.%m.%Y %H:%M"}


def dropdown_labels(lang: str | None = None) -> Any:
    """The texts inside a ``dcc.Dropdown`` (its ``labels`` property) in ``lang``."""
    keys = ("select_all", "deselect_all", "selected_count", "search", "clear_search", "clear_selection")
    return {
        key: MESSAGES[f"dropdown.{key}"][language(lang) if lang else current_language()]
        for key in (*keys, "no_options_found")
    }


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
