"""The validation report: every referenced model quantity within its published tolerance."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models.battery import BatteryParameters, self_consumption_dispatch, with_standby_kw
from models.building_estimates import HEAT_NEED_KWH_PER_M2A
from models.load import HouseholdEvents, bdew_shapes, household_load_kw
from models.pv import PVParameters, pv_specific_ac_kw_per_kwp
from models.validation import load_references, run_validation
from models.validation_quantities import MODEL_QUANTITIES, ValidationContext
from twin.core.errors import ConfigError

YEAR = pd.date_range("2025-01-01", "2026-01-01", freq="15min", tz="UTC", inclusive="left")


@pytest.fixture(scope="module")
def rows():
    return run_validation(context=ValidationContext())


def test_the_reference_file_has_at_least_15_sourced_quantities():
    refs = load_references()
    assert len(refs) >= 15
    assert {r.id for r in refs} <= set(MODEL_QUANTITIES)
    for ref in refs:
        assert ref.source.url.startswith("https://"), ref.id
        assert ref.source.author and ref.source.title and ref.source.year > 1990, ref.id


@pytest.mark.slow
def test_every_quantity_within_its_tolerance(rows):
    failed = [
        f"{r.reference.id}: model {r.model_value:.4g} not in [{r.low:.4g}, {r.high:.4g}]" for r in rows if not r.passed
    ]
    assert not failed, failed
    assert len(rows) >= 15


@pytest.mark.slow
def test_a_quantity_outside_its_tolerance_fails(tmp_path):
    text = (
        Path("models/data/validation_references.yaml")
        .read_text(encoding="utf-8")
        .replace(
            'id: battery_round_trip_ac, group: battery, quantity: "AC round-trip efficiency of a home battery '
            '(full cycle)", unit: "1", value: 0.86, tolerance: {range: [0.80, 0.92]}',
            'id: battery_round_trip_ac, group: battery, quantity: "AC round-trip efficiency of a home battery '
            '(full cycle)", unit: "1", value: 0.95, tolerance: {range: [0.94, 0.96]}',
        )
    )
    refs = tmp_path / "refs.yaml"
    refs.write_text(text, encoding="utf-8")
    only = [r for r in load_references(refs) if r.id == "battery_round_trip_ac"]
    [row] = run_validation(only)
    assert not row.passed and row.low == 0.94


def test_a_reference_without_a_source_url_is_bad_input(tmp_path):
    refs = tmp_path / "refs.yaml"
    refs.write_text(
        "references:\n  - {id: battery_round_trip_ac, group: battery, quantity: q, unit: '1', value: 0.9,"
        " tolerance: {rel: 0.1}, source: {author: A, title: T, year: 2020}}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match="source needs author, title, year and url"):
        load_references(refs)


@pytest.mark.slow
@pytest.mark.e2e
def test_twin_validate_prints_the_table_writes_html_and_exits_1_on_a_failure(tmp_path):
    refs = tmp_path / "refs.yaml"
    refs.write_text(
        "references:\n"
        "  - {id: battery_round_trip_ac, group: battery, quantity: round trip, unit: '1', value: 0.86,"
        " tolerance: {range: [0.8, 0.92]}, source: {author: HTW Berlin, title: Inspektion, year: 2021,"
        " url: 'https://example.org/a'}}\n"
        "  - {id: household_kwh_1p, group: household, quantity: one person, unit: kWh/a, value: 2500,"
        " tolerance: {rel: 0.01}, source: {author: BDEW, title: Strom, year: 2021, url: 'https://example.org/b'}}\n",
        encoding="utf-8",
    )
    page = tmp_path / "report.html"
    proc = subprocess.run(
        [sys.executable, "-m", "twin", "validate", "--references", str(refs), "--html", str(page)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stderr
    assert "1 of 2 quantities within their tolerance" in proc.stdout
    report = page.read_text(encoding="utf-8")
    assert '<a href="https://example.org/a">' in report and "FAIL" in report


def test_pv_uses_a_roof_mount_cell_temperature_about_3_percent_below_open_rack():
    weather = ValidationContext().weather
    roof = pv_specific_ac_kw_per_kwp(weather, [35.0], [180.0]).sum()
    rack = pv_specific_ac_kw_per_kwp(
        weather, [35.0], [180.0], params=PVParameters(temperature_model="open_rack_glass_polymer")
    ).sum()
    assert PVParameters().temperature_model == "pvsyst_semi_integrated"
    assert 0.02 < 1 - roof / rack < 0.05


def test_pv_rejects_an_unknown_temperature_model():
    with pytest.raises(ConfigError, match="unknown temperature model"):
        PVParameters(temperature_model="on_the_moon")


def test_battery_round_trip_is_an_ac_system_value_and_idle_steps_draw_standby():
    params = BatteryParameters()
    assert 0.80 <= params.eta_charge_frac * params.eta_discharge_frac <= 0.92
    index = YEAR[:8]
    net = pd.DataFrame({"b": [-1.0, -1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0]}, index=index)
    p_kw = with_standby_kw(self_consumption_dispatch(net, 5.0, 2.0).p_kw)["b"].to_numpy()
    assert p_kw[2] == pytest.approx(params.standby_kw) and params.standby_kw == pytest.approx(0.01)
    assert p_kw[0] == pytest.approx(1.0) and p_kw[4] == pytest.approx(-1.0)


def test_tabula_apartment_blocks_after_1978_are_not_mfh_copies():
    ab, mfh = HEAT_NEED_KWH_PER_M2A["AB"], HEAT_NEED_KWH_PER_M2A["MFH"]
    assert ab["DE.07"][1] == pytest.approx(54.3)
    for age_class in ("DE.07", "DE.08", "DE.09", "DE.10", "DE.11", "DE.12"):
        assert all(a < m for a, m in zip(ab[age_class], mfh[age_class], strict=True)), age_class


def test_households_are_stochastic_keep_their_energy_and_add_up_to_the_standard_profile():
    shapes = bdew_shapes(["h0_dyn"], [2025])
    load = household_load_kw(YEAR, np.full(100, 3000.0), np.ones(100), seed=7, shapes=shapes)
    assert np.allclose(load.to_numpy().sum(axis=0) * 0.25, 3000.0)
    single_peak_kw = load.max().mean()
    admd_kw = load.sum(axis=1).max() / 100
    assert single_peak_kw > 3.0  # one household peaks at several kW
    assert admd_kw / single_peak_kw < 0.35  # simultaneity of 100 homes well below the smooth 0.6
    daily = load.sum(axis=1).to_numpy().reshape(-1, 96).mean(axis=0)
    standard = shapes["h0_dyn"].to_numpy().reshape(-1, 96).mean(axis=0)
    assert np.corrcoef(daily, standard)[0, 1] > 0.98
    again = household_load_kw(YEAR, np.full(100, 3000.0), np.ones(100), seed=7, shapes=shapes)
    assert again.equals(load)


def test_household_events_reject_bad_parameters():
    with pytest.raises(ConfigError):
        HouseholdEvents(base_frac=1.5)


def test_oil_and_wood_boilers_burn_heat_over_their_efficiency():
    from models.building_estimates import fuel_kwh_by_carrier
    from models.district import load_district

    district = load_district("beucha").district
    systems = [b.heating.system for b in district.buildings]
    assert systems.count("oil_boiler") == 4 and systems.count("wood_boiler") == 2 and "other" not in systems
    fuel = fuel_kwh_by_carrier(list(district.buildings), [1000.0] * len(district.buildings))
    assert fuel == {"oil": pytest.approx(4 * 1000.0 / 0.85), "wood": pytest.approx(2 * 1000.0 / 0.75)}
