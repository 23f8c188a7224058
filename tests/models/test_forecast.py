from __future__ import annotations

import pandas as pd
import pytest

from models.forecast import clear_sky_ghi_w_m2, expected_surplus_kw


def test_clear_sky_ghi_noon_june_beucha() -> None:
    ghi = clear_sky_ghi_w_m2(pd.DatetimeIndex(["2025-06-21 11:00", "2025-06-21 23:00"], tz="UTC"))
    assert 800 < ghi[0] < 1000
    assert ghi[1] == 0


def test_expected_surplus_kw_scales_with_measured_index() -> None:
    noon = pd.Timestamp("2025-06-21 10:00", tz="UTC")
    clear, index_clear = expected_surplus_kw(noon, p_pv_kw=-400.0, p_load_kw=100.0, p_peak_kw=600.0)
    cloudy, index_cloudy = expected_surplus_kw(noon, p_pv_kw=-150.0, p_load_kw=100.0, p_peak_kw=600.0)
    assert index_cloudy < index_clear <= 1.2
    assert len(clear) == 6
    assert clear[0] > cloudy[0] >= 0.0
    assert all(value >= 0 for value in clear + cloudy)


def test_expected_surplus_kw_evening_goes_to_zero_and_night_uses_default_index() -> None:
    evening = pd.Timestamp("2025-06-21 16:00")
    surplus, _ = expected_surplus_kw(evening, p_pv_kw=-100.0, p_load_kw=80.0, p_peak_kw=600.0)
    assert surplus[-1] == 0.0
    night = pd.Timestamp("2025-06-21 00:30", tz="UTC")
    surplus, index = expected_surplus_kw(night, p_pv_kw=0.0, p_load_kw=50.0, p_peak_kw=600.0, night_index=0.4)
    assert index == pytest.approx(0.4)
    assert surplus[0] == 0.0 and max(surplus) > 0.0  # sunrise within six hours at midsummer
