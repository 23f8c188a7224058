"""Messages of the period picker, the measured-data downloads and the ensemble views (German and English).

Part of the catalogue :data:`dashboard.i18n.MESSAGES`, which takes them in; same rules: a message
id (``"page.what"``) maps to its German and its English text, both required.
"""

from __future__ import annotations

from typing import Final

__all__ = ["VIEW_MESSAGES"]

#: Message id -> language -> text.
VIEW_MESSAGES: Final[dict[str, dict[str, str]]] = {
    # the period picker of the Live, Buildings and Grid charts (dashboard.history)
    "period.label": {"de": "Zeitraum", "en": "Period"},
    "period.day": {"de": "Tag", "en": "Day"},
    "period.week": {"de": "Woche", "en": "Week"},
    "period.month": {"de": "Monat", "en": "Month"},
    "period.year": {"de": "Jahr", "en": "Year"},
    "period.until": {"de": "endet am", "en": "ending on"},
    "period.now": {"de": "jetzt", "en": "now"},
    "period.last_day": {"de": "letzte 24 Stunden", "en": "last 24 hours"},
    "period.range": {"de": "{start} bis {end}", "en": "{start} to {end}"},
    "period.no_history": {"de": "kein Verlauf: {error}", "en": "no history: {error}"},
    "download.measured_csv": {"de": "Messdaten (CSV)", "en": "Measured data (CSV)"},
    "download.measured_nc": {"de": "Messdaten (NetCDF)", "en": "Measured data (NetCDF)"},
    "grid.history_title": {
        "de": "Netzaustausch und Netzverluste an der Ortsnetzstation, {period} [kW]",
        "en": "Grid exchange and losses at the substation, {period} [kW]",
    },
    # the live signal per feeder on the Grid page
    "feeders.heading": {"de": "Signal je Strang (live)", "en": "Signal per feeder (live)"},
    "feeders.feeder": {"de": "Strang", "en": "feeder"},
    "feeders.busbar": {"de": "Sammelschiene", "en": "busbar"},
    "feeders.signal": {"de": "Signal", "en": "signal"},
    "feeders.reasons": {"de": "Gründe", "en": "reasons"},
    "feeders.relief": {"de": "Entlastung [kW]", "en": "relief [kW]"},
    "feeders.buildings": {"de": "Gebäude", "en": "buildings"},
    "feeders.limited": {"de": "nach §14a begrenzt", "en": "limited (section 14a)"},
    "feeders.limit_min": {"de": "niedrigste Grenze [kW]", "en": "lowest limit [kW]"},
    "feeders.control": {"de": "Regelung", "en": "control"},
    # measured data on the Scenarios page
    "measured.heading": {"de": "Messdaten des Quartiers", "en": "Measured data of the district"},
    "measured.year": {"de": "das bisherige Jahr", "en": "the year so far"},
    "measured.day": {"de": "die letzten 24 Stunden", "en": "the last 24 hours"},
    "measured.none": {"de": "Noch keine Live-Daten.", "en": "No live data yet."},
    # ensembles on the Scenarios page (dashboard.ensembles)
    "ensemble.heading": {"de": "Ensembles: wie sicher?", "en": "Ensembles: how sure?"},
    "ensemble.select": {"de": "Ensembles", "en": "Ensembles"},
    "ensemble.option": {"de": "{scenario} ({members} Mitglieder)", "en": "{scenario} ({members} members)"},
    "ensemble.kpi_heading": {"de": "Intervalle der Kennzahlen", "en": "KPI intervals"},
    "ensemble.note": {
        "de": "P10/P50/P90 über die Mitglieder (Wetterjahr, Zufallsziehungen, unsichere Modellparameter): "
        "10 % der Mitglieder liegen unter P10 und 10 % über P90. Wahrscheinlichkeiten sind Anteile der Mitglieder.",
        "en": "P10/P50/P90 over the members (weather year, stochastic draws, uncertain model parameters): "
        "10 % of the members lie below P10 and 10 % above P90. Probabilities are shares of members.",
    },
    "ensemble.probability_heading": {"de": "Wahrscheinlichkeiten", "en": "Probabilities"},
    "ensemble.members_link": {"de": "{scenario}: Tabelle der Mitglieder (CSV)", "en": "{scenario}: member table (CSV)"},
    "ensemble.none": {
        "de": "Kein Ensemble gewählt (twin scenario ensemble NAME schreibt eines).",
        "en": "No ensemble chosen (twin scenario ensemble NAME writes one).",
    },
    "ensemble.interval_header": {"de": "Kennzahl: P50 (P10 - P90)", "en": "KPI: P50 (P10 - P90)"},
    "ensemble.interval": {"de": "{p50} ({p10} - {p90})", "en": "{p50} ({p10} - {p90})"},
    "ensemble.probability_header": {
        "de": "Wahrscheinlichkeit (Anteil der Mitglieder)",
        "en": "probability (share of members)",
    },
    "ensemble.probability": {"de": "P({what})", "en": "P({what})"},
    "ensemble.probability_value": {"de": "{percent} ({n} von {members})", "en": "{percent} ({n} of {members})"},
    "prob.energy_neutral": {"de": "Bilanz aller Energieträger <= 0", "en": "all-carrier balance <= 0"},
    "prob.electricity_neutral": {"de": "Strombilanz <= 0", "en": "electricity balance <= 0"},
    "prob.trafo_over_100": {"de": "Transformator über 100 %", "en": "transformer above 100 %"},
    "prob.line_over_100": {"de": "eine Leitung über 100 %", "en": "a line above 100 %"},
    "prob.outside_voltage_band": {"de": "Stunden außerhalb 1 ± 0,1 p.u.", "en": "hours outside 1 +- 0.1 p.u."},
    "ensemble.members_title": {
        "de": "Bilanz aller Energieträger jedes Mitglieds [MWh] (<= 0: energieneutral)",
        "en": "All-carrier balance of every member [MWh] (<= 0: energy-neutral)",
    },
    "ensemble.members_axis": {"de": "Bilanz aller Energieträger [MWh]", "en": "all-carrier balance [MWh]"},
    "ensemble.no_members": {"de": "keine Tabelle der Mitglieder", "en": "no member table"},
    # the band on the Year page
    "ensemble.band": {"de": "P10-P90 des Ensembles des Basisszenarios", "en": "P10-P90 of the baseline ensemble"},
    "ensemble.band_median": {"de": "P50 des Ensembles des Basisszenarios", "en": "P50 of the baseline ensemble"},
    "year.band_tile": {"de": "Prognose Jahresende, P10 bis P90", "en": "Projected year end, P10 to P90"},
    "year.band_value": {"de": "{p10} bis {p90}", "en": "{p10} to {p90}"},
    "year.band_note": {
        "de": "P10 bis P90 von {members} Mitgliedern des Ensembles des Basisszenarios; "
        "{neutral} von {members} enden bei oder unter Netto-Null",
        "en": "P10 to P90 of {members} baseline ensemble members; {neutral} of {members} end at or below net zero",
    },
}
