"""The calibration's numerics: ASHRAE Guideline 14 statistics, the instrumental-variable step, the day bootstrap."""

from __future__ import annotations

import numpy as np
import pytest

from twin.calibrate_fit import bootstrap_se, daily_scale_fit, iv_step
from twin.calibrate_gof import cv_rmse_pct, fit_statistics, nmbe_pct


def test_g14_statistics_by_hand() -> None:
    measured, modelled = [1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 2.0]
    # n - p = 3, mean 2.5: sum of residuals 2, of their squares 4
    assert nmbe_pct(measured, modelled) == pytest.approx(100 * 2 / (3 * 2.5))
    assert cv_rmse_pct(measured, modelled) == pytest.approx(100 * np.sqrt(4 / 3) / 2.5)
    assert nmbe_pct(measured, [2.0, 3.0, 4.0, 5.0]) < 0  # a model too high has a negative NMBE


def test_g14_statistics_skip_missing_hours() -> None:
    stats = fit_statistics([1.0, np.nan, 3.0, 4.0], [1.0, 5.0, 3.0, 4.0], [1.0, 5.0, 3.0, 3.0])
    assert stats["hours"] == 3
    assert stats["cv_rmse_before_pct"] == 0.0 and stats["nmbe_before_pct"] == 0.0
    assert stats["nmbe_after_pct"] > 0
    assert np.isnan(cv_rmse_pct([], []))


def test_iv_step_recovers_a_factor_where_least_squares_shrinks_it() -> None:
    rng = np.random.default_rng(3)
    expected = np.tile(0.3 + 0.2 * np.sin(np.linspace(0, 2 * np.pi, 24)), 60)  # a daily shape, 60 days
    true_load = expected * rng.gamma(1.0, 1.0, expected.size)  # the household that measured
    model_load = expected * rng.gamma(1.0, 1.0, expected.size)  # the household the model drew
    measured = 1.3 * true_load
    x = model_load[:, np.newaxis]
    least_squares = float(np.linalg.lstsq(x, measured, rcond=None)[0][0])
    step = iv_step(expected[:, np.newaxis], x, measured)
    assert step is not None
    assert least_squares < 0.8 * 1.3
    assert step[0] == pytest.approx(1.3, rel=0.05)


def test_iv_step_refuses_a_singular_system() -> None:
    z = np.zeros((10, 1))
    assert iv_step(z, np.ones((10, 1)), np.ones(10)) is None


def test_bootstrap_over_days_gives_the_spread_of_the_factor() -> None:
    rng = np.random.default_rng(7)
    days = 200
    x = np.tile(np.linspace(1.0, 2.0, 24), days)
    noise = np.repeat(rng.normal(0.0, 0.5, days), 24)  # one error per day, the same every hour
    y = 2.0 * x + noise
    z = x[:, np.newaxis]
    factor = float(np.linalg.lstsq(z, y, rcond=None)[0][0])
    se = bootstrap_se(z, z, y - factor * x, np.repeat(np.arange(days), 24))
    # the day's error repeats 24 times: the standard error is that of 200 days, not of 4,800 hours
    hour = x[:24]
    analytic = 0.5 * hour.sum() / (np.sqrt(days) * (hour @ hour))
    assert se[0] == pytest.approx(analytic, rel=0.25)
    assert np.isnan(bootstrap_se(z[:24], z[:24], y[:24], np.zeros(24, dtype=np.int64))[0])


def test_daily_scale_fit_is_exact_on_exact_data() -> None:
    x = np.array([10.0, 20.0, 5.0, 0.0, 30.0])
    factor, se = daily_scale_fit(x, 1.2 * x)
    assert factor == pytest.approx(1.2) and se == pytest.approx(0.0, abs=1e-12)
    assert np.isnan(daily_scale_fit(np.zeros(3), np.ones(3))[0])
