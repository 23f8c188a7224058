"""Heat that can wait: the 1R1C store of a heat-pump building and the heat pump serving it."""

from __future__ import annotations

import numpy as np

from models.control.thermal import ThermalStore, heat_pump_step, tank_l, thermal_parameters


def _store() -> ThermalStore:
    return ThermalStore(thermal_parameters([8.0, 14.0, 30.0], [140.0, 220.0, 600.0], ["radiator", "floor", "radiator"]))


def test_parameters_are_the_stated_ones() -> None:
    params = _store().params
    # 165 kJ/(m2 K) x 140 m2 plus a 300 l tank; H = 8 kW / 34 K
    assert params.c_kwh_per_k[0] == np.float64(165.0 * 140.0 / 3600.0 + 300.0 * 1.163e-3)
    assert params.h_kw_per_k[0] == 8.0 / 34.0
    np.testing.assert_array_equal(tank_l([5.0, 14.0, 40.0]), [300.0, 420.0, 800.0])
    assert ((params.tau_h > 20.0) & (params.tau_h < 200.0)).all()


def test_the_energy_balance_closes_through_blocks_and_rebounds() -> None:
    store = _store()
    rng = np.random.default_rng(20)
    step_h = 0.25
    stored_before = store.stored_kwh().copy()
    for t in range(400):
        demand = rng.uniform(0.0, 9.0, 3)
        allowed = np.where(rng.random(3) < 0.3, 0.0, np.inf) if 100 <= t < 200 else np.full(3, np.inf)
        heat_pump_step(store, demand, rng.uniform(2.0, 4.0, 3), allowed, step_h)
    # heat delivered = demand + change of the store + its extra loss, per building
    balance = store.demand_kwh + (store.stored_kwh() - stored_before) + store.loss_kwh
    np.testing.assert_allclose(store.delivered_kwh, balance, rtol=1e-12, atol=1e-9)
    assert store.deferred_kwh.sum() > 10.0  # the blocks deferred heat


def test_a_block_is_followed_by_a_rebound_and_the_store_returns_to_its_set_point() -> None:
    store = _store()
    demand, cop = np.array([4.0, 6.0, 12.0]), np.full(3, 3.0)
    free, off = np.full(3, np.inf), np.zeros(3)
    before = heat_pump_step(store, demand, cop, free, 0.25)
    np.testing.assert_allclose(before, demand / cop)
    for _ in range(8):  # two hours blocked
        assert (heat_pump_step(store, demand, cop, off, 0.25) == 0.0).all()
    assert (store.dt_k < 0.0).all()
    after = heat_pump_step(store, demand, cop, free, 0.25)
    assert (after > before + 0.1).all()  # the rebound
    for _ in range(40):
        heat_pump_step(store, demand, cop, free, 0.25)
    assert store.at_rest


def test_comfort_violations_are_counted_in_kelvin_hours() -> None:
    store = _store()
    demand, cop, off = np.array([8.0, 14.0, 30.0]), np.full(3, 3.0), np.zeros(3)
    low = []
    for _ in range(96):  # a day without heat at the design load
        heat_pump_step(store, demand, cop, off, 0.25)
        low.append(np.clip(-1.0 - store.dt_k, 0.0, None))
    np.testing.assert_allclose(store.violation_kh, np.sum(low, axis=0) * 0.25)
    assert (store.violation_kh > 0.0).all() and (store.violation_h > 0.0).all()
    assert (store.violation_h == np.count_nonzero(np.array(low) > 0, axis=0) * 0.25).all()
