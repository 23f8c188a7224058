"""The dashboard in German: every page, its figures and the frame show no English-only label.

Each page is rendered in German on the sample data (layouts in a request without a language
cookie, views with ``lang="de"``), and every text reaching the browser (component children,
option labels, figure titles, axis titles, legend names, annotations, Sankey and bar labels)
is checked: it is a German text of the catalogue (fields filled), or data (numbers with units,
times, names of devices, buildings and scenarios, the site, the controller's signal).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from dashboard import create_app
from dashboard.data import DashboardConfig, DataCache
from dashboard.ensembles import BAND_LABEL
from dashboard.history import period_controls
from dashboard.i18n import COOKIE, MESSAGES, month_names, t
from dashboard.pages import PAGES, buildings, calibration, grid, live, scenarios, year
from tests.dashboard.calibration_sample import write_calibration_sample
from tests.dashboard.conftest import USERS
from tests.dashboard.ensemble_sample import write_ensemble_sample
from tests.dashboard.sample import BRANCHES, BUILDINGS, BUSES, snapshot
from twin.core.calibration_outputs import DISTRICT
from twin.core.live_state import LiveSnapshot

#: Numbers (either decimal mark), times, dates and units: data, in any language.
_DATA_TOKEN = re.compile(
    r"^(?:[-+]?[\d.,:]+|kW|kWh|MWh|kWp|T€|T€/a|€|%|p\.u\.|h|s|t|°|N|O|S|W|\[.*\]|[-+/·()|,:;<>=]+)$"
)
#: Sample data shown as it is stored: names of buildings, devices, buses, scenarios; the site, signal and errors.
_DATA_WORDS = {
    *BUILDINGS,
    *(name for name, _, _ in BUSES.values()),
    *BRANCHES,
    "baseline",
    "more_pv",
    "sample site",
    "Sample",  # the district of the calibration sample
    "surplus",
    "timeout",
    "Europe/Berlin",
    *USERS,  # the user shown in the header
    "DE",  # the language switch: the languages' codes
    "EN",
}


def _templates(lang: str) -> list[re.Pattern[str]]:
    """Every message of ``lang`` as a regular expression (a field matches any text)."""
    patterns = []
    for texts in MESSAGES.values():
        parts = re.split(r"\{\w+\}", texts[lang])
        patterns.append(re.compile("^" + "(.+?)".join(re.escape(p) for p in parts) + "$", re.DOTALL))
    return patterns


GERMAN = _templates("de")


def _is_data(text: str) -> bool:
    """A number, time, unit or stored name, or a sequence of those."""
    rest = text
    for word in sorted(_DATA_WORDS, key=len, reverse=True):
        rest = rest.replace(word, " ")
    tokens = [tok for tok in re.split(r"\s+", rest) if tok]
    return all(_DATA_TOKEN.match(tok) or "_" in tok or "/" in tok or any(ch.isdigit() for ch in tok) for tok in tokens)


def _is_german(text: str) -> bool:
    """A German text of the catalogue (its fields German or data), data, or a label followed by a value."""
    text = text.strip()
    if not text or _is_data(text) or text in month_names("de"):
        return True
    for pattern in GERMAN:
        match = pattern.match(text)
        if match and all(_is_german(field) for field in match.groups()):
            return True
    label, _, value = text.rpartition(" ")  # "PV 12,5 kW" in the Sankey diagram
    label2, _, value2 = label.rpartition(" ")
    return bool(label) and (
        (_is_data(value) and _is_german(label)) or (_is_data(f"{value2} {value}") and _is_german(label2))
    )


def _texts(node: Any) -> Iterator[str]:
    """Every text a component tree or figure shows (not ids, classes, styles or hover formats)."""
    if hasattr(node, "to_plotly_json"):
        node = node.to_plotly_json()
    if isinstance(node, str):
        yield node
    elif isinstance(node, (list, tuple)):
        for item in node:
            yield from _texts(item)
    elif isinstance(node, dict):
        if "props" in node:  # a Dash component
            props = node["props"]
            yield from _texts(props.get("children"))
            yield from _texts(list((props.get("labels") or {}).values()))  # a dropdown's own texts
            for key in ("options", "title", "placeholder"):
                if key in props:
                    yield from _texts(props[key] if key != "options" else [o.get("label") for o in props[key]])
        else:  # a figure or a part of one
            for key, value in node.items():
                shown = key in ("text", "name", "title", "label", "children") or (key in ("x", "y") and _all_str(value))
                if shown or isinstance(value, dict):
                    yield from _texts(value)
                elif isinstance(value, list):
                    yield from _texts([item for item in value if isinstance(item, dict)])


def _all_str(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and bool(value) and all(isinstance(v, str) for v in value)


def _english_in(rendered: list[str]) -> list[str]:
    return sorted({text for text in rendered if not _is_german(text)})


def test_the_checker_finds_english_labels() -> None:
    assert _english_in(["Self-sufficiency today", "grid export 5,0 kW", "choose a building"]) == [
        "Self-sufficiency today",
        "choose a building",
        "grid export 5,0 kW",
    ]
    assert _english_in(["Autarkiegrad heute", "Netzeinspeisung 5,0 kW", "42,0 %", "b2/pv0", "03.06.2025 12:00"]) == []


def test_every_view_in_german_shows_no_english_label(config: DashboardConfig, cache: DataCache) -> None:
    rendered: list[str] = []
    for view in (
        live.live_view(config, cache, lang="de"),
        buildings.building_view("b2", config, cache, lang="de"),
        buildings.building_view(None, config, cache, lang="de"),
        year.year_view(config, cache, lang="de"),
        grid.grid_view(grid.LIVE, 0, config, cache, lang="de"),
        grid.grid_view("baseline", 40, config, cache, lang="de"),
        scenarios.comparison_view(["baseline", "more_pv"], config, cache, lang="de"),
        scenarios.comparison_view([], config, cache, lang="de"),
    ):
        for part in view.values():
            rendered += list(_texts(part))
    rendered += [o["label"] for o in grid.source_options(config, lang="de")]
    limits = LiveSnapshot.from_json(
        {**snapshot(trafo_percent=112.0, vm_min_pu=0.88), "written_utc": "2025-06-03T10:00Z"}
    )
    alerts = [text for _, text in live.alerts(limits, now_wall=pd.Timestamp("2025-06-03T10:05Z"), lang="de")]
    assert len(alerts) == 4  # a device down, the transformer, the voltage, the snapshot's age
    rendered += alerts
    assert len(rendered) > 150
    assert _english_in(rendered) == []
    assert t("live.self_sufficiency_today", "de") in rendered and "42,0 %" in rendered


def test_periods_downloads_and_ensembles_in_german(config: DashboardConfig, cache: DataCache) -> None:
    """The period picker, the history charts of other periods, the measured downloads and the ensembles."""
    write_ensemble_sample(config.results_dir, "baseline")
    write_ensemble_sample(config.results_dir, "more_pv", offset_mwh=-4.0)
    rendered: list[str] = []
    for view in (
        live.live_view(config, cache, period="week", lang="de"),
        live.live_view(config, cache, period="year", until="2025-06-02", lang="de"),
        buildings.building_view("b1", config, cache, period="month", until="2025-06-02", lang="de"),
        grid.grid_history_view(config, cache, period="week", lang="de"),
        grid.grid_history_view(config, cache, lang="de"),
        scenarios.ensemble_view(["baseline-ensemble", "more_pv-ensemble"], config, lang="de"),
        scenarios.ensemble_view([], config, lang="de"),
        year.year_view(config, cache, lang="de"),
    ):
        for part in view.values():
            rendered += list(_texts(part))
    rendered += list(_texts(scenarios.measured_downloads(config, lang="de")))
    calibrated = replace(config, calibration_file=write_calibration_sample(config.data_root))
    for building, quantity in ((DISTRICT, "electricity"), ("b1", "gas"), ("b2", "gas")):
        view = calibration.calibration_view(calibrated, cache, building=building, quantity=quantity, lang="de")
        rendered += [text for part in view.values() for text in _texts(part)]
    rendered += list(_texts(calibration.calibration_view(config, cache, lang="de")["status"]))  # no file
    rendered += list(_texts(period_controls("live", "de")))
    rendered.append(scenarios.ensemble_option("baseline", 10, "de"))
    assert len(rendered) > 100
    assert _english_in(rendered) == []
    assert any(text.startswith("Quartier, 27.05.2025 bis 03.06.2025 [kW]") for text in rendered)  # a week
    assert t("period.week", "de") in rendered and t("download.measured_csv", "de") in rendered
    assert t(BAND_LABEL, "de") in rendered and t("ensemble.members_axis", "de") in rendered
    assert "P(Transformator über 100 %)" in rendered and "70 % (7 von 10)" in rendered
    assert t("calibration.pv_title", "de") in rendered and "1 von 2" in rendered
    assert any(text.endswith(" MWh") and "," in text for text in rendered)  # the band's tile: German decimals
    english = list(_texts(scenarios.ensemble_view(["baseline-ensemble"], config, lang="en")["kpis"]))
    assert _english_in(english)  # the checker refuses the English ensemble tables


def test_layouts_and_the_frame_in_german_by_default(data_root: Path) -> None:
    app = create_app(data_root, credentials=USERS)
    rendered: list[str] = []
    with app.server.test_request_context("/"):
        for page in PAGES:
            rendered += list(_texts(page.layout()))
    client = app.server.test_client()
    token = base64.b64encode(f"manager:{USERS['manager']}".encode()).decode()
    frame = client.get("/_dash-layout", headers={"Authorization": f"Basic {token}"}).get_json()
    rendered += list(_texts(frame))
    assert "Gebäude" in rendered and "Szenarien vergleichen" in rendered and "Netz" in rendered
    assert _english_in(rendered) == []
    client.set_cookie(COOKIE, "en")
    english = list(_texts(client.get("/_dash-layout", headers={"Authorization": f"Basic {token}"}).get_json()))
    assert "Buildings" in english and "Gebäude" not in english


@pytest.mark.parametrize("lang", ["de", "en"])
def test_english_views_are_not_german(config: DashboardConfig, cache: DataCache, lang: str) -> None:
    """The checker is not fooled: the English rendering of the same views is refused as German."""
    rendered = list(_texts(live.live_view(config, cache, lang=lang)["tiles"]))
    assert bool(_english_in(rendered)) == (lang == "en")


def test_the_language_switch_sets_the_cookie_and_goes_back(data_root: Path) -> None:
    client = create_app(data_root, credentials=USERS).server.test_client()
    token = base64.b64encode(f"manager:{USERS['manager']}".encode()).decode()
    auth = {"Authorization": f"Basic {token}"}
    assert client.get("/language/en").status_code == 401  # behind the login like every page
    back = client.get("/language/en", headers={**auth, "Referer": "http://localhost/year?x=1"})
    assert back.status_code == 303 and back.headers["Location"] == "/year?x=1"
    cookie = back.headers["Set-Cookie"]
    assert cookie.startswith(f"{COOKIE}=en;") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert client.get("/language/de", headers={**auth, "Referer": "http://evil.example/x"}).headers["Location"] == "/"
    assert client.get("/language/de", headers=auth).headers["Location"] == "/"
    assert client.get("/language/fr", headers=auth).status_code == 404
