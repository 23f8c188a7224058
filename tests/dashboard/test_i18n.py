"""The language catalogue: every message in both languages, numbers and times per language."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from dashboard.i18n import (
    DEFAULT_LANGUAGE,
    LANGUAGES,
    MESSAGES,
    format_kpi,
    format_number,
    format_time,
    kpi_label,
    plotly_separators,
    t,
)
from twin.core.vocabulary import KPI_CATALOGUE


def test_every_message_has_every_language() -> None:
    missing = [(key, lang) for key, texts in MESSAGES.items() for lang in LANGUAGES if not texts.get(lang, "").strip()]
    assert missing == []
    assert all(set(texts) == set(LANGUAGES) for texts in MESSAGES.values())


def test_fields_of_a_message_are_the_same_in_both_languages() -> None:
    fields = re.compile(r"\{(\w+)")
    differ = {
        key: texts
        for key, texts in MESSAGES.items()
        if len({frozenset(fields.findall(text)) for text in texts.values()}) != 1
    }
    assert differ == {}


def test_every_kpi_of_the_catalogue_has_a_german_label() -> None:
    assert all(f"kpi.{spec.name}" in MESSAGES for spec in KPI_CATALOGUE)
    assert kpi_label("self_sufficiency_frac", "de") == "Autarkiegrad"
    assert kpi_label("import_kwh", "en", with_unit=True) == "grid import [MWh]"


def test_german_is_the_default() -> None:
    assert DEFAULT_LANGUAGE == "de"
    assert t("nav.buildings") == "Gebäude"  # outside a request: the default
    assert t("nav.buildings", "fr") == "Gebäude"
    assert t("nav.buildings", "en") == "Buildings"
    assert t("app.times_in", "en", tz="UTC") == "times in UTC"


@pytest.mark.parametrize(
    ("value", "unit", "lang", "decimals", "shown"),
    [
        (1234.5, "kWh", "de", 1, "1.234,5 kWh"),
        (1234.5, "kWh", "en", 1, "1,234.5 kWh"),
        (1234567.25, "", "de", 2, "1.234.567,25"),
        (-0.04, "kW", "de", 1, "0,0 kW"),
        (None, "kW", "de", 1, "-"),
        (float("nan"), "kW", "en", 1, "-"),
        (12.5, "kEUR", "de", 1, "12,5 T€"),
    ],
)
def test_format_number(value: float | None, unit: str, lang: str, decimals: int, shown: str) -> None:
    assert format_number(value, unit, lang, decimals=decimals) == shown


def test_format_kpi_and_time_per_language() -> None:
    assert format_kpi("self_sufficiency_frac", 0.543, "de") == "54,3 %"
    assert format_kpi("self_sufficiency_frac", 0.543, "en") == "54.3 %"
    assert format_kpi("import_kwh", 1_234_567.0, "de") == "1.235 MWh"
    stamp = pd.Timestamp("2026-12-02 05:30", tz="UTC")
    assert format_time(stamp, "de") == "02.12.2026 06:30"
    assert format_time(stamp, "en") == "02.12.2026 06:30"  # day first in both languages
    assert format_time(stamp, "de", precision="clock_s") == "06:30:00"
    assert format_time(None, "de") == "-"
    assert plotly_separators("de") == ",." and plotly_separators("en") == ".,"
