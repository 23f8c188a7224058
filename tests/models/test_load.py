from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from models.load import LoadVariation, bdew_shapes, electricity_load_kw, saxony_holidays
from twin.core.errors import ConfigError


@pytest.fixture(scope="module")
def shapes_2023() -> pd.DataFrame:
    return bdew_shapes(["h0_dyn", "H25", "g1"], [2023])


def test_bdew_shapes_normalised_per_utc_year(shapes_2023: pd.DataFrame) -> None:
    assert len(shapes_2023) == 35040
    assert str(shapes_2023.index.tz) == "UTC"
    assert np.allclose(shapes_2023.sum() * 0.25, 1.0)
    assert not shapes_2023.isna().any().any()


def test_bdew_shapes_leave_global_warning_filters_alone() -> None:
    before = list(warnings.filters)
    bdew_shapes(["h0"], [2023])
    assert warnings.filters == before


def test_h25_july_evening_peak_17_utc_19_local(shapes_2023: pd.DataFrame) -> None:
    # FIELD-NOTES: H25 built on a UTC index wrongly peaks at 19 UTC; on local time it is 19 CEST = 17 UTC
    july = shapes_2023.loc["2023-07", "H25"]
    evening = july[(july.index.hour >= 14) & (july.index.hour <= 22)]
    assert evening.groupby(evening.index.hour).mean().idxmax() == 17


def test_h0_winter_evening_peak_at_local_evening(shapes_2023: pd.DataFrame) -> None:
    january = shapes_2023.loc["2023-01", "h0_dyn"].tz_convert("Europe/Berlin")
    evening = january[(january.index.hour >= 14) & (january.index.hour <= 23)]
    hourly = evening.groupby(evening.index.hour).mean()
    assert 17 <= hourly.idxmax() <= 19
    # the same curve in UTC peaks one hour earlier (CET = UTC+1)
    utc = shapes_2023.loc["2023-01", "h0_dyn"]
    utc_evening = utc[(utc.index.hour >= 13) & (utc.index.hour <= 22)]
    assert utc_evening.groupby(utc_evening.index.hour).mean().idxmax() == hourly.idxmax() - 1


def test_bdew_shapes_saxony_holiday_is_a_sunday(shapes_2023: pd.DataFrame) -> None:
    # Buss- und Bettag (22 Nov 2023, a Wednesday) is a holiday in Saxony only
    assert pd.Timestamp("2023-11-22").date() in saxony_holidays([2023])
    g1 = shapes_2023["g1"].tz_convert("Europe/Berlin")
    noon = g1[g1.index.hour == 11]
    assert noon.loc["2023-11-22"].mean() == pytest.approx(noon.loc["2023-11-26"].mean())
    assert noon.loc["2023-11-22"].mean() < 0.5 * noon.loc["2023-11-15"].mean()


def test_electricity_load_kw_annual_energy_exact(shapes_2023: pd.DataFrame) -> None:
    annual_kwh = np.array([1500.0, 2500.0, 3500.0, 5000.0])
    p_kw = electricity_load_kw(shapes_2023.index, annual_kwh, "h0_dyn", seed=7, shapes=shapes_2023)
    assert np.allclose(p_kw.sum().to_numpy() * 0.25, annual_kwh, rtol=1e-12)
    assert (p_kw.to_numpy() >= 0).all()


def test_electricity_load_kw_varies_per_building_and_is_seeded(shapes_2023: pd.DataFrame) -> None:
    index = shapes_2023.index
    p_kw = electricity_load_kw(index, np.full(20, 3000.0), "H25", seed=3, shapes=shapes_2023)
    again = electricity_load_kw(index, np.full(20, 3000.0), "H25", seed=3, shapes=shapes_2023)
    pd.testing.assert_frame_equal(p_kw, again)
    corr = np.corrcoef(p_kw.to_numpy().T)
    assert corr[np.triu_indices(20, 1)].max() < 0.99
    # the mean of many still follows the standard profile
    assert np.corrcoef(p_kw.mean(axis=1), shapes_2023["H25"])[0, 1] > 0.95


def test_electricity_load_kw_without_variation_is_the_standard_profile(shapes_2023: pd.DataFrame) -> None:
    plain = LoadVariation(time_shift_sd_min=0.0, noise_sd_frac=0.0)
    p_kw = electricity_load_kw(shapes_2023.index, [2000.0], "g1", seed=0, variation=plain, shapes=shapes_2023)
    assert np.allclose(p_kw.iloc[:, 0], 2000.0 * shapes_2023["g1"])


def test_electricity_load_kw_period_slice_and_mixed_profiles() -> None:
    week = pd.date_range("2023-03-20", periods=7 * 96, freq="15min", tz="UTC")
    p_kw = electricity_load_kw(week, [3000.0, 20000.0], ["h0", "G25"], seed=1, names=["house", "shop"])
    assert list(p_kw.columns) == ["house", "shop"]
    assert p_kw.index.equals(week)
    assert 0 < p_kw["house"].sum() * 0.25 < 3000 * 14 / 365


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"profile": "x9"}, "unknown BDEW load profile"),
        ({"annual_energy_kwh": [-1.0]}, "annual_energy_kwh"),
        ({"index": pd.date_range("2023-01-01", periods=4, freq="1h", tz="UTC")}, "regular at 15 min"),
        ({"index": pd.date_range("2023-01-01", periods=4, freq="15min")}, "UTC"),
    ],
)
def test_electricity_load_kw_bad_input(kwargs: dict[str, object], match: str) -> None:
    args: dict[str, object] = {
        "index": pd.date_range("2023-01-01", periods=4, freq="15min", tz="UTC"),
        "annual_energy_kwh": [1000.0],
        "profile": "h0",
    }
    args.update(kwargs)
    with pytest.raises(ConfigError, match=match):
        electricity_load_kw(args["index"], args["annual_energy_kwh"], args["profile"], seed=0)  # type: ignore[arg-type]


def test_ar1_noise_is_scipy_lfilters_to_the_bit() -> None:
    import scipy.signal

    from models.load import _ar1_filter

    rng = np.random.default_rng(18)
    for correlation_h in (1e-9, 0.25, 1.0, 6.0, 1e6):
        rho = float(np.exp(-0.25 / correlation_h))
        gain = float(np.sqrt(1.0 - rho**2))
        for n_buildings in (1, 3, 40):
            white = rng.standard_normal((n_buildings, 2000)) * rng.choice([1e-3, 1.0, 1e3])
            expected = scipy.signal.lfilter([gain], [1.0, -rho], white, axis=1)
            assert np.array_equal(_ar1_filter(white, gain, rho), expected)


def test_varied_curves_need_no_scipy_signal() -> None:
    import subprocess
    import sys

    code = (
        "import sys, numpy as np, pandas as pd\n"
        "from models.load import electricity_load_kw\n"
        "index = pd.date_range('2023-01-01', periods=96 * 3, freq='15min', tz='UTC')\n"
        "electricity_load_kw(index, [3000.0, 4000.0], 'H25', seed=1)\n"
        "print('scipy.signal' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "False"
