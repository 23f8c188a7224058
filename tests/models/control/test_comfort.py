"""The comfort verdict of a controlled run: EN 16798-1's categories and this project's rule on them."""

from __future__ import annotations

import numpy as np
import pytest

from models.control.comfort import ALLOWED_BELOW_BOUND_H, category_of, comfort_kpis, comfort_warning

STEP_H = 0.25


def _stores(n_steps: int, cold: dict[int, tuple[float, int]]) -> np.ndarray:
    """Three stores at their set point; ``cold[i] = (dT, steps)``: store ``i`` at ``dT`` for its first steps."""
    dt = np.zeros((n_steps, 3))
    for column, (dt_k, steps) in cold.items():
        dt[:steps, column] = dt_k
    return dt


def test_categories_follow_en_16798_1_lowest_temperatures() -> None:
    cases = {21.0: "I", 20.5: "II", 20.0: "II", 19.9: "III", 18.0: "III", 17.9: "IV", 17.0: "IV", 16.9: "below IV"}
    assert {t: category_of(t) for t in cases} == cases


def test_a_store_at_its_own_comfort_bound_passes() -> None:
    kpis = comfort_kpis(_stores(400, {1: (-1.0, 400)}), ["a", "b", "c"], STEP_H)
    assert kpis["control_comfort_ok"] is True and comfort_warning({"scenario": "s", **kpis}) is None
    assert kpis["control_comfort_category"] == "III" and kpis["control_comfort_coldest_building"] == "b"
    assert kpis["control_comfort_coldest_degc"] == pytest.approx(19.0)
    assert kpis["control_comfort_below_bound_max_h"] == 0.0


def test_more_than_a_day_below_category_iii_fails() -> None:
    steps = int(ALLOWED_BELOW_BOUND_H / STEP_H)
    # a day at 17.5 degC (2.5 K under the set point, category IV) is allowed, a quarter hour more is not
    within = comfort_kpis(_stores(400, {2: (-2.5, steps)}), ["a", "b", "c"], STEP_H)
    assert within["control_comfort_ok"] is True and within["control_comfort_below_bound_max_h"] == 24.0
    over = comfort_kpis(_stores(400, {2: (-2.5, steps + 1), 0: (-0.5, 10)}), ["a", "b", "c"], STEP_H)
    assert over["control_comfort_ok"] is False and over["control_comfort_category"] == "IV"
    line = comfort_warning({"scenario": "s", **over})
    assert line is not None and line.startswith("s: ") and "building c down to 17.5 degC" in line
    assert "2.5 K below its 20 degC set point" in line and "24.2 h below 18 degC" in line


def test_one_quarter_hour_below_category_iv_fails_and_names_the_coldest_building() -> None:
    # b is the coldest (below 17 degC once); a spent the most hours below 18 degC
    kpis = comfort_kpis(_stores(400, {0: (-2.2, 40), 1: (-3.4, 1)}), ["a", "b", "c"], STEP_H)
    assert kpis["control_comfort_ok"] is False and kpis["control_comfort_category"] == "below IV"
    assert kpis["control_comfort_coldest_building"] == "b" and kpis["control_comfort_coldest_below_bound_h"] == 0.25
    assert kpis["control_comfort_below_bound_max_h"] == 10.0
    line = comfort_warning({"scenario": "s", **kpis})
    assert line is not None and "building b down to 16.6 degC" in line and "(the most in one building: 10.0 h)" in line


def test_without_stores_or_cold_buildings_the_run_passes() -> None:
    for dt in (np.zeros((10, 0)), np.zeros((10, 3)), np.full((10, 3), 0.5)):
        kpis = comfort_kpis(dt, ["a", "b", "c"][: dt.shape[1]], STEP_H)
        assert kpis["control_comfort_ok"] is True and kpis["control_comfort_coldest_building"] == ""
        assert kpis["control_comfort_category"] == "II" and kpis["control_comfort_coldest_degc"] == 20.0
    # a run without a control block has no verdict, so no warning
    assert comfort_warning({"scenario": "plain", "pv_kwp": 1.0}) is None
