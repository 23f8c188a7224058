"""Messages of the Calibration page (German and English).

Part of the catalogue :data:`dashboard.i18n.MESSAGES`, which takes them in; same rules: a message
id (``"page.what"``) maps to its German and its English text, both required.
"""

from __future__ import annotations

from typing import Final

__all__ = ["CALIBRATION_MESSAGES"]

#: Message id -> language -> text.
CALIBRATION_MESSAGES: Final[dict[str, dict[str, str]]] = {
    "nav.calibration": {"de": "Kalibrierung", "en": "Calibration"},
    "calibration.title": {"de": "Gemessen gegen modelliert", "en": "Measured against modelled"},
    "calibration.building": {"de": "Gebäude", "en": "Building"},
    "calibration.meter": {"de": "Zähler", "en": "Meter"},
    "calibration.district": {"de": "Quartier (Summe der Gebäude)", "en": "District (sum of the buildings)"},
    "calibration.electricity": {"de": "Strom (Bezug - Einspeisung)", "en": "electricity (import - export)"},
    "calibration.gas": {"de": "Gas", "en": "gas"},
    "calibration.no_file": {
        "de": "Keine Kalibrierung: {problem}. Eine Datei schreibt 'twin calibrate --store DIR --out FILE'.",
        "en": "No calibration: {problem}. Write one with 'twin calibrate --store DIR --out FILE'.",
    },
    "calibration.not_configured": {"de": "keine Kalibrierdatei eingestellt", "en": "no calibration file configured"},
    "calibration.status": {
        "de": "Kalibrierung von {district} aus {store}, {start} bis {end} ({path})",
        "en": "Calibration of {district} from {store}, {start} to {end} ({path})",
    },
    "calibration.period": {"de": "Kalibrierzeitraum", "en": "Calibration period"},
    "calibration.period_value": {"de": "{start} bis {end}", "en": "{start} to {end}"},
    "calibration.period_note": {
        "de": "{days} Tage; zurückgehaltene Wochen {weeks}",
        "en": "{days} days; held-out weeks {weeks}",
    },
    "calibration.substation_cv": {
        "de": "CV(RMSE) Ortsnetzstation, vorher -> nachher",
        "en": "Substation CV(RMSE), before -> after",
    },
    "calibration.substation_nmbe": {
        "de": "NMBE Ortsnetzstation, vorher -> nachher",
        "en": "Substation NMBE, before -> after",
    },
    "calibration.buildings_cv": {"de": "CV(RMSE) der Gebäude, Median", "en": "Buildings CV(RMSE), median"},
    "calibration.buildings_n": {"de": "{n} Gebäude", "en": "{n} buildings"},
    "calibration.change": {"de": "{before} -> {after}", "en": "{before} -> {after}"},
    "calibration.held_out_cv": {
        "de": "{hours} zurückgehaltene Stunden; Ziel <= 15 %",
        "en": "{hours} held-out hours; target <= 15 %",
    },
    "calibration.held_out_nmbe": {
        "de": "{hours} zurückgehaltene Stunden; Ziel |NMBE| <= 5 %",
        "en": "{hours} held-out hours; target |NMBE| <= 5 %",
    },
    "calibration.no_such_file": {"de": "{path} gibt es nicht", "en": "{path}: no such file"},
    "calibration.drift": {"de": "PV-Drift", "en": "PV drift"},
    "calibration.drift_value": {"de": "{alarms} von {systems}", "en": "{alarms} of {systems}"},
    "calibration.drift_note": {
        "de": "{days} Tage bis {end}, mehr als {threshold} darunter",
        "en": "{days} days to {end}, more than {threshold} below",
    },
    "calibration.no_drift": {
        "de": "keine Driftprüfung neben der Kalibrierdatei",
        "en": "no drift check beside the calibration file",
    },
    "calibration.daily_title": {
        "de": "Tagesenergie {what}: Zähler und Modell [kWh]",
        "en": "Daily energy of {what}: meter and model [kWh]",
    },
    "calibration.residual_title": {
        "de": "Residuum Zähler - Modell je Tag [kWh] (Summe: vorher {before}, nachher {after})",
        "en": "Residual meter - model per day [kWh] (sum: before {before}, after {after})",
    },
    "calibration.share": {"de": "{kwh} ({share})", "en": "{kwh} ({share})"},
    "calibration.trace_meter": {"de": "Zähler", "en": "meter"},
    "calibration.trace_model": {"de": "Modell (Quartiersdatei)", "en": "model (district file)"},
    "calibration.trace_calibrated": {"de": "Modell (kalibriert)", "en": "model (calibrated)"},
    "calibration.trace_before": {"de": "vor der Kalibrierung", "en": "before calibration"},
    "calibration.trace_after": {"de": "nach der Kalibrierung", "en": "after calibration"},
    "calibration.axis_day": {"de": "Tag (UTC)", "en": "day (UTC)"},
    "calibration.axis_kwh": {"de": "Energie [kWh]", "en": "energy [kWh]"},
    "calibration.no_daily": {"de": "kein Tagesvergleich: {problem}", "en": "no daily comparison: {problem}"},
    "calibration.no_rows": {
        "de": "keine Daten des Zählers {quantity} von {what}",
        "en": "no {quantity} meter data of {what}",
    },
    "calibration.pv_title": {
        "de": "PV-Performance-Ratio je Anlage (gemessen / modelliert)",
        "en": "PV performance ratio per system (measured / modelled)",
    },
    "calibration.pv_system": {"de": "PV-Anlage", "en": "PV system"},
    "calibration.calibrated": {"de": "kalibriert", "en": "calibrated"},
    "calibration.last_drift": {"de": "letzte Driftprüfung", "en": "last drift check"},
    "calibration.alarm": {"de": "Alarm", "en": "alarm"},
    "calibration.alarm_drift": {"de": "DRIFT", "en": "DRIFT"},
    "calibration.buildings_title": {
        "de": "Faktoren und Anpassungsgüte je Gebäude",
        "en": "Factors and goodness of fit per building",
    },
    "calibration.household_electricity": {"de": "Haushaltsstrom", "en": "household electricity"},
    "calibration.space_heat": {"de": "Raumwärme", "en": "space heat"},
    "calibration.cv_change": {"de": "CV(RMSE) vorher -> nachher", "en": "CV(RMSE) before -> after"},
    "calibration.nmbe_change": {"de": "NMBE vorher -> nachher", "en": "NMBE before -> after"},
    "calibration.factor": {"de": "{factor} ± {se}", "en": "{factor} ± {se}"},
    "calibration.not_identifiable": {"de": "nicht bestimmbar", "en": "not identifiable"},
}
