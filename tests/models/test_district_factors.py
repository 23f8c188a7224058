"""Factors on a district (household electricity, space heat, PV) and the calibration file that carries them."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from models.building_estimates import estimate_building
from models.building_heat import dhw_kwh_per_a
from models.calibration_file import calibrated_district, calibration_factors, load_calibration
from models.district import load_district
from models.district_factors import DistrictFactors, apply_factors, pv_system_ids
from twin.core.errors import ConfigError


@pytest.fixture(scope="module")
def beucha():  # type: ignore[no-untyped-def]
    return load_district("beucha").district


def test_factors_scale_electricity_space_heat_and_pv(beucha) -> None:  # type: ignore[no-untyped-def]
    plain = {b.id: b for b in beucha.buildings}
    changed = apply_factors(
        beucha, DistrictFactors(household_electricity={"sfh01": 1.3}, space_heat={"sfh05": 1.2}, pv={"sfh01/pv0": 0.85})
    )
    after = {b.id: b for b in changed.buildings}
    assert estimate_building(after["sfh01"]).electricity_kwh_per_a == pytest.approx(
        1.3 * estimate_building(plain["sfh01"]).electricity_kwh_per_a
    )
    heat = estimate_building(plain["sfh05"]).heat_kwh_per_a
    water = dhw_kwh_per_a(plain["sfh05"], heat)
    assert after["sfh05"].heat_kwh_per_a == pytest.approx(1.2 * (heat - water) + water)
    assert after["sfh01"].pv[0].p_peak_kw == pytest.approx(0.85 * plain["sfh01"].pv[0].p_peak_kw)
    assert after["sfh02"] is plain["sfh02"]  # untouched buildings stay the same objects
    assert "sfh01/pv0" in pv_system_ids(beucha)


@pytest.mark.parametrize(
    ("factors", "field"),
    [
        (DistrictFactors(pv={"sfh02/pv0": 0.9}), "pv.sfh02/pv0"),  # sfh02 has no PV
        (DistrictFactors(space_heat={"nobody": 1.1}), "space_heat.nobody"),
        (DistrictFactors(household_electricity={"sfh01": 0.0}), "household_electricity.sfh01"),
    ],
)
def test_bad_factor_names_the_field(beucha, factors: DistrictFactors, field: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        apply_factors(beucha, factors, file="f.yaml")


def test_calibration_file_applies_identified_factors_only(beucha, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "cal.yaml"
    record = {
        "version": 1,
        "district": "Beucha",
        "buildings": {
            "sfh01": {
                "household_electricity": {"factor": 1.25, "se": 0.02},
                "space_heat": {"factor": None, "reason": "x"},
            },
        },
        "pv": {"sfh01/pv0": {"factor": 0.9, "se": 0.01}},
    }
    path.write_text(yaml.safe_dump(record), encoding="utf-8")
    factors = calibration_factors(load_calibration(path))
    assert factors == DistrictFactors(household_electricity={"sfh01": 1.25}, space_heat={}, pv={"sfh01/pv0": 0.9})
    changed = {b.id: b for b in calibrated_district(beucha, path).buildings}
    assert changed["sfh01"].pv[0].p_peak_kw == pytest.approx(0.9 * 7.0)
    other = tmp_path / "other.yaml"
    other.write_text(yaml.safe_dump({**record, "district": "Elsewhere"}), encoding="utf-8")
    with pytest.raises(ConfigError, match="district: calibrates the district 'Elsewhere', not 'Beucha'"):
        calibrated_district(beucha, other)
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**record, "pv": {"sfh01/pv0": {"factor": -1}}}), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"pv\.sfh01/pv0\.factor"):
        load_calibration(bad)
