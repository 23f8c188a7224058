"""The Calibration page as plain functions: measured against modelled from the files of ``twin calibrate``."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dashboard import create_app
from dashboard.app import nav_classes
from dashboard.data import DashboardConfig, DataCache
from dashboard.pages import PAGES, calibration
from tests.dashboard.calibration_sample import BUILDINGS, DAYS, write_calibration_sample
from tests.dashboard.conftest import USERS
from twin.core.calibration_outputs import daily_path, drift_path


def _text(component: object) -> str:
    return json.dumps(
        component.to_plotly_json() if hasattr(component, "to_plotly_json") else component,
        default=str,
        ensure_ascii=False,
    )


def _config(config: DashboardConfig, root: Path, **kwargs: bool) -> DashboardConfig:
    return replace(config, calibration_file=write_calibration_sample(root, **kwargs))


def test_view_of_the_district(config: DashboardConfig, data_root: Path, cache: DataCache) -> None:
    view = calibration.calibration_view(_config(config, data_root), cache, lang="en")
    assert "Calibration of Sample" in view["status"] and "2025-03-01T00:00:00Z" in view["status"]
    tiles = _text(view["tiles"])
    assert "9.5 % -> 4.2 %" in tiles and "+8.1 % -> +0.3 %" in tiles and "70.0 % -> 55.0 %" in tiles
    assert "1 of 2" in tiles and "7 days to 08.04.2025" in tiles  # one PV system drifts
    assert [o["value"] for o in view["options"]] == ["district", "b1", "b2"]
    meter, model, _ = view["daily"].data
    expected = sum(kwh * (1.0 + 0.1 * np.sin(np.arange(DAYS))) for kwh, _ in BUILDINGS.values())
    assert np.asarray(meter.y) == pytest.approx(expected, abs=0.01)
    assert len(model.x) == DAYS and "District" in view["daily"].layout.title.text
    before, after = view["residual"].data
    assert np.all(np.asarray(before.y) > 0)  # b1 uses 30 % more than planned, b2 20 % less: more in sum
    assert np.abs(np.asarray(after.y)).sum() < np.abs(np.asarray(before.y)).sum()
    pv = _text(view["pv"])
    assert "b1/pv0" in pv and "0.98 ± 0.01" in pv and "0.84" in pv and "DRIFT" in pv
    assert pv.count("DRIFT") == 1
    buildings = _text(view["buildings"])
    assert "1.30 ± 0.02" in buildings and "0.80 ± 0.03" in buildings and "not identifiable" in buildings
    assert "+23.0 % -> +0.5 %" in buildings


def test_view_of_a_building_and_its_gas(config: DashboardConfig, data_root: Path) -> None:
    cfg = _config(config, data_root)
    view = calibration.calibration_view(cfg, building="b1", lang="en")
    meter, model, _ = (np.asarray(t.y) for t in view["daily"].data)
    assert meter / model == pytest.approx(np.full(DAYS, 1.3), rel=1e-3)
    assert "b1" in view["daily"].layout.title.text and "+23.1 %" in view["residual"].layout.title.text
    gas = calibration.calibration_view(cfg, building="b1", quantity="gas", lang="en")
    assert np.asarray(gas["daily"].data[0].y).sum() > 1.1 * np.asarray(gas["daily"].data[1].y).sum()
    none = calibration.calibration_view(cfg, building="b2", quantity="gas", lang="en")
    assert "no gas meter data of b2" in none["daily"].layout.annotations[0].text


def test_without_a_calibration_file_or_its_comparison(config: DashboardConfig, data_root: Path) -> None:
    view = calibration.calibration_view(replace(config, calibration_file=data_root / "calibration.yaml"), lang="en")
    assert view["status"].startswith("No calibration:") and "no such file" in view["status"]
    assert "twin calibrate" in view["daily"].layout.annotations[0].text
    cfg = _config(config, data_root, drift=False)
    assert "no drift check" in _text(calibration.calibration_view(cfg, lang="en")["tiles"])
    daily_path(cfg.calibration_file).write_text("day,building\n2025-03-01,b1\n", encoding="utf-8")
    broken = calibration.calibration_view(cfg, lang="en")
    assert "Calibration of Sample" in broken["status"]  # the factors still show
    assert "columns quantity, hours" in broken["daily"].layout.annotations[0].text
    (data_root / "calibration.yaml").write_text("- a list\n", encoding="utf-8")
    assert "not a calibration file" in calibration.calibration_view(cfg, lang="en")["status"]


def test_a_changed_file_is_read_again(config: DashboardConfig, data_root: Path, cache: DataCache) -> None:
    cfg = _config(config, data_root)
    assert "1 of 2" in _text(calibration.calibration_view(cfg, cache, lang="en")["tiles"])
    record = json.loads(drift_path(cfg.calibration_file).read_text())
    record["systems"]["b2/pv0"].update(ratio=0.7, alarm=True)
    drift_path(cfg.calibration_file).write_text(json.dumps(record) + "\n", encoding="utf-8")
    assert "2 of 2" in _text(calibration.calibration_view(cfg, cache, lang="en")["tiles"])


def test_the_page_is_served_and_reads_data_root_calibration(data_root: Path) -> None:
    assert calibration in PAGES and nav_classes("/calibration")[PAGES.index(calibration)] == "active"
    write_calibration_sample(data_root)
    app = create_app(data_root, credentials=USERS)
    assert app.server.config["TWIN_DASHBOARD"].calibration_file == data_root / "calibration.yaml"
    client = app.server.test_client()
    user, password = next(iter(USERS.items()))
    auth = {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}
    assert client.get("/calibration", headers=auth).status_code == 200
    assert client.get("/calibration").status_code == 401
    layout = _text(calibration.layout())
    assert "calibration-daily" in layout and "calibration-pv" in layout
    assert pd.read_csv(daily_path(data_root / "calibration.yaml"))["building"].nunique() == 3


def test_view_in_german(config: DashboardConfig, data_root: Path) -> None:
    view = calibration.calibration_view(_config(config, data_root), building="b1", lang="de")
    assert view["status"].startswith("Kalibrierung von Sample")
    tiles = _text(view["tiles"])
    assert "9,5 % -> 4,2 %" in tiles and "+8,1 % -> +0,3 %" in tiles and "1 von 2" in tiles
    assert "Tagesenergie b1" in view["daily"].layout.title.text and view["daily"].layout.separators == ",."
    assert "+23,1 %" in view["residual"].layout.title.text
    assert "1,30 ± 0,02" in _text(view["buildings"]) and "nicht bestimmbar" in _text(view["buildings"])
