"""Heat pumps of a district: hot-water losses, classes, and the SPF per class over the test reference year."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.building_heat import DHW_STORAGE_LOSS_KW, dhw_loss_kw
from models.district import load_district
from models.heatpump_district import building_class, spf
from models.heatpump_year import seasonal_performance

#: Field SPFs of air/water heat pumps in existing German homes: Fraunhofer ISE "WPsmart im
#: Bestand" ~3.1, WP-QS (2025) ~3.4, 2.8-3.4 where they replaced gas boilers.
FIELD_SPF = (2.8, 3.6)


@pytest.fixture(scope="module")
def performance() -> pd.DataFrame:
    return seasonal_performance("beucha")


def test_seasonal_performance_per_class_within_field_range(performance: pd.DataFrame) -> None:
    assert set(performance.index) >= {"existing/radiator", "usual_refurbishment/radiator", "all"}
    assert FIELD_SPF[0] <= performance.at["all", "spf"] <= FIELD_SPF[1]
    radiators = performance.loc[[c for c in performance.index if c.endswith("/radiator")], "spf"]
    assert ((radiators >= FIELD_SPF[0]) & (radiators <= FIELD_SPF[1])).all()
    # floor heating runs 20 K cooler at the design point: clearly better than radiators of the same state
    assert performance.at["existing/floor", "spf"] > performance.at["existing/radiator", "spf"] + 0.4
    # sized at the norm outside temperature, the backup heater carries (almost) nothing
    assert performance.at["all", "backup_kwh"] < 0.05 * performance.at["all", "heat_kwh"]
    assert performance.at["all", "n_units"] == len(load_district("beucha").district.buildings)
    sums = performance.drop(index="all")[["heat_kwh", "electricity_kwh"]].sum()
    assert np.allclose(sums.to_numpy(), performance.loc["all", ["heat_kwh", "electricity_kwh"]].to_numpy(dtype=float))


def test_hot_water_losses_by_building_type() -> None:
    buildings = {b.type: b for b in load_district("beucha").district.buildings}
    assert dhw_loss_kw(buildings["SFH"], 2000.0) == pytest.approx(DHW_STORAGE_LOSS_KW["SFH"])
    # apartment buildings lose 60 % of the need in their circulation loop on top of the store
    assert dhw_loss_kw(buildings["MFH"], 8760.0) == pytest.approx(DHW_STORAGE_LOSS_KW["MFH"] + 0.6)
    assert dhw_loss_kw(buildings["school"], 5000.0) == 0.0


def test_building_class_and_spf() -> None:
    building = next(b for b in load_district("beucha").district.buildings if b.construction_year < 1950)
    assert building_class(building) == f"{building.retrofit}/radiator"
    assert spf(3300.0, 1000.0) == pytest.approx(3.3)
    assert np.isnan(spf(0.0, 0.0))
