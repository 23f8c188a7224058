"""Pre-heating before a forecast peak on the real Beucha grid: the cold spell of January 2025.

Heat pumps everywhere and a car at half the homes on today's 630 kVA transformer, section 14a
per device and SG-Ready blocking per feeder, with and without pre-heating (and the rebound the
relief counts), over four days from 2 January (the forecast reads the first day's measurement).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from scenarios.config import parse_scenario
from scenarios.results import ScenarioResult
from scenarios.runner import SharedInputs, compute_scenario

CHANGES = {"heat_pumps": {"share_frac": 1.0, "sizing": "design"}, "evs": {"share_frac": 0.5, "charger_kw": 11.0}}
PLAIN: dict[str, Any] = {"section_14a": True, "heat_pump": "sg_ready", "signal": "per_feeder"}


def _run(shared: SharedInputs, control: dict[str, Any]) -> ScenarioResult:
    data = {"name": "cold", "start": "2025-01-02", "end": "2025-01-06", "changes": CHANGES, "control": control}
    return compute_scenario(parse_scenario(data, file="t.yaml"), shared)


def _trafo(result: ScenarioResult) -> np.ndarray:
    kinds = np.asarray(result.grid["branch_kind"].values).astype(str)
    return result.grid["loading_percent"].transpose("time", "branch").values[:, kinds == "trafo"].max(axis=1)


@pytest.fixture(scope="module")
def runs(shared: SharedInputs) -> dict[str, ScenarioResult]:
    return {
        "plain": _run(shared, PLAIN),
        "preheat": _run(shared, {**PLAIN, "preheat": {}, "count_rebound": True}),
    }


def test_pre_heating_lowers_the_cold_spells_peak_the_plain_block_exceeds(runs: dict[str, ScenarioResult]) -> None:
    plain, heated = runs["plain"], runs["preheat"]
    p, h = plain.kpis, heated.kpis
    assert p["trafo_loading_max_percent"] > 115.0
    assert h["trafo_loading_max_percent"] < p["trafo_loading_max_percent"] - 5.0
    # both years settled (every step's signal read the real power flow of the step before)
    assert p["control_steps_unsettled"] == 0 and h["control_steps_unsettled"] == 0
    assert (_trafo(heated) > 100.0).sum() < 0.7 * (_trafo(plain) > 100.0).sum()
    assert h["vm_min_pu"] >= p["vm_min_pu"]
    # the stores were raised (at most the 2 K of the raised set point) and spent: comfort is better, not worse
    assert h["signal_recommended_on_h"] > 1.0 and 1.0 < h["control_indoor_max_delta_k"] <= 2.0 + 1e-9
    assert h["control_comfort_violation_kh"] < p["control_comfort_violation_kh"]


def test_calm_steps_passed_over_give_the_same_pre_heating_year(
    shared: SharedInputs, runs: dict[str, ScenarioResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    import models.control.loop as loop
    from models.control.preheat import PreheatSource

    calls = [0]
    step = PreheatSource.step

    def counted(self: PreheatSource, *args: Any) -> Any:
        calls[0] += 1
        return step(self, *args)

    monkeypatch.setattr(PreheatSource, "step", counted)
    fast = _run(shared, {**PLAIN, "preheat": {}, "count_rebound": True})
    stepped = calls[0]
    # every step run one by one (no source tells it is calm) against the calm stretches passed over in bulk
    monkeypatch.setattr(loop, "_loud_from", lambda source, moved: None)
    every = _run(shared, {**PLAIN, "preheat": {}, "count_rebound": True})
    assert stepped < 0.8 * (calls[0] - stepped) and calls[0] - stepped == every.kpis["steps"]
    np.testing.assert_array_equal(every.assets["p_kw"].values, fast.assets["p_kw"].values)
    np.testing.assert_array_equal(every.signal_state.values, fast.signal_state.values)
    assert every.kpis["signal_recommended_on_h"] == fast.kpis["signal_recommended_on_h"] > 1.0
