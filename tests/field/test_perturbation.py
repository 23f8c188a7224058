"""A field with a hidden reality (``twin field --perturbation``): the devices differ from the district file.

The history the perturbed field writes is what its devices count: a building's household
electricity, its gas for space heat and an inverter's yield differ from the unperturbed field's
by the factors, while the site file keeps the district's ratings. A drawn perturbation is
reproducible, and a bad file exits 2 with one line.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from connectors.site import load_site
from models.district import LoadedDistrict
from models.district_factors import DistrictFactors
from twin.field import Field, FieldOptions
from twin.field.perturbation import Perturbation, draw_perturbation, dump_perturbation, load_perturbation

START = "2025-01-15T00:00:00Z"


def _intervals(loaded: LoadedDistrict, path: Path, perturbation: Perturbation | None) -> pd.DataFrame:
    Field(loaded, FieldOptions(start_utc=START, perturbation=perturbation)).write_history(path)
    rows = pd.read_csv(path)
    return rows[rows.kind == "interval"]


def _history(loaded: LoadedDistrict, path: Path, factors: DistrictFactors | None) -> pd.DataFrame:
    rows = _intervals(loaded, path, None if factors is None else Perturbation(factors))
    return rows.groupby("meter")[["import_kwh", "export_kwh"]].sum()


def test_history_follows_the_hidden_reality(small_district: LoadedDistrict, tmp_path: Path) -> None:
    factors = DistrictFactors(
        household_electricity={"sfh3": 1.3, "sfh4": 0.7}, space_heat={"sfh5": 1.2}, pv={"mfh1/pv0": 0.85}
    )
    plain = _history(small_district, tmp_path / "plain.csv", None)
    hidden = _history(small_district, tmp_path / "hidden.csv", factors)
    ratio = hidden.import_kwh / plain.import_kwh
    # sfh3/sfh4: no PV, no battery, gas heating: the meter is the household electricity alone (the
    # households are drawn anew, so two weeks hold the annual factor only roughly)
    assert ratio["sfh3/meter"] == pytest.approx(1.3, rel=0.05)
    assert ratio["sfh4/meter"] == pytest.approx(0.7, rel=0.05)
    assert 1.1 < ratio["sfh5/gas_meter"] < 1.2
    assert ratio["sfh6/gas_meter"] == pytest.approx(1.0, abs=1e-9)
    assert hidden.export_kwh["mfh1/meter"] < plain.export_kwh["mfh1/meter"]


def test_site_file_keeps_the_district_ratings(small_district: LoadedDistrict, tmp_path: Path) -> None:
    factors = DistrictFactors(pv={"mfh1/pv0": 0.5})
    field = Field(small_district, FieldOptions(start_utc=START, perturbation=Perturbation(factors)))
    try:
        field.start()
        site = load_site(field.write_site(tmp_path / "site.yaml"))
        peaks = {d.id: d.p_peak_kw for d in site.devices if d.kind == "pv_inverter"}
        assert peaks["mfh1/pv0"] == 20.0
        noon = pd.Timestamp("2025-01-15T11:00:00Z").timestamp()
        produced = field.expected("mfh1/pv0", noon)
        alone = Field(small_district, FieldOptions(start_utc=START))
        alone._build()
        nominal = next(iter(alone.expected("mfh1/pv0", noon).values()))
        assert next(iter(produced.values())) == pytest.approx(0.5 * nominal)
    finally:
        field.stop()


def test_drawn_perturbation_is_reproducible_and_round_trips(small_district: LoadedDistrict, tmp_path: Path) -> None:
    district = small_district.district
    drawn, again = draw_perturbation(district, 4), draw_perturbation(district, 4)
    assert drawn == again
    first = drawn.factors
    assert len(first.household_electricity) == len(district.buildings)  # fewer than 20 buildings: all of them
    assert sorted(set(first.household_electricity.values())) == [0.7, 1.3]
    assert set(first.pv.values()) == {0.85} and len(first.pv) == 3
    assert set(first.space_heat.values()) == {1.2}
    back = load_perturbation(dump_perturbation(drawn, tmp_path / "p.yaml"))
    assert back == drawn
    assert draw_perturbation(district, 5) != drawn
    onset = Perturbation(first, "2025-04-16T00:00:00Z")
    assert load_perturbation(dump_perturbation(onset, tmp_path / "q.yaml")) == onset


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("pv: {nobody/pv0: 0.8}\n", "pv.nobody/pv0: 'nobody/pv0' is not a PV system"),
        ("space_heat: {sfh3: 0}\n", "space_heat.sfh3: 0 is out of range"),
        ("soiling: {sfh3: 0.9}\n", "soiling"),
        ("pv: {mfh1/pv0: 0.8}\npv_from_utc: yesterday\n", "pv_from_utc: 'yesterday' is not an ISO 8601 time"),
    ],
)
def test_bad_perturbation_exits_2_with_one_line(
    small_district_file: Path, tmp_path: Path, text: str, message: str
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(text, encoding="utf-8")
    done = subprocess.run(
        [
            *(sys.executable, "-m", "twin", "field", "--district", str(small_district_file), "--start", START),
            *("--history", str(tmp_path / "h.csv"), "--history-only", "--perturbation", str(bad)),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and message in done.stderr
    assert not (tmp_path / "h.csv").exists()


def test_meter_sums_of_unperturbed_field_unchanged(small_district: LoadedDistrict, tmp_path: Path) -> None:
    empty = _history(small_district, tmp_path / "a.csv", DistrictFactors())
    plain = _history(small_district, tmp_path / "b.csv", None)
    assert np.array_equal(empty.to_numpy(), plain.to_numpy())


def test_pv_factor_holds_from_its_onset(small_district: LoadedDistrict, tmp_path: Path) -> None:
    onset = "2025-01-10T00:00:00Z"
    plain = _intervals(small_district, tmp_path / "a.csv", None)
    soiled = _intervals(small_district, tmp_path / "b.csv", Perturbation(DistrictFactors(pv={"mfh1/pv0": 0.5}), onset))
    meter = "mfh1/meter"
    before_a = plain[(plain.meter == meter) & (plain.time < onset)].export_kwh.sum()
    before_b = soiled[(soiled.meter == meter) & (soiled.time < onset)].export_kwh.sum()
    after_a = plain[(plain.meter == meter) & (plain.time >= onset)].import_kwh.sum()
    after_b = soiled[(soiled.meter == meter) & (soiled.time >= onset)].import_kwh.sum()
    assert before_b == pytest.approx(before_a, abs=1e-3)
    assert after_b > after_a + 1.0  # half the PV: more drawn from the grid
