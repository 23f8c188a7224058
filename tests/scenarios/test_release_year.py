"""Section 14a limits released step by step in a controlled week (``control.release_kw_per_h``)."""

from __future__ import annotations

from typing import Any

from scenarios.config import parse_scenario
from scenarios.runner import compute_scenario


def test_the_release_lowers_the_rebound_of_a_winter_week(shared: Any) -> None:
    # section 14a with the live twin's thresholds: when the block ends every dimmed device comes
    # back at once and the rebound is the week's peak; released by 2 kW per hour it is lower
    changes = {"heat_pumps": {"share_frac": 1.0, "sizing": "design"}, "evs": {"share_frac": 0.5, "charger_kw": 11.0}}
    runs = {}
    for name, extra in (("none", None), ("at_once", {}), ("released", {"release_kw_per_h": 2.0})):
        data: dict[str, Any] = {"name": name, "start": "2025-01-02", "end": "2025-01-09", "changes": changes}
        if extra is not None:
            data["control"] = {"section_14a": True, **extra}
        runs[name] = compute_scenario(parse_scenario(data, file="t.yaml"), shared).kpis
    none, at_once, released = (runs[k]["trafo_loading_max_percent"] for k in ("none", "at_once", "released"))
    assert at_once > none  # the rebound
    assert released < at_once - 5.0
    assert runs["released"]["control_limited_building_h"] > runs["at_once"]["control_limited_building_h"]
    assert runs["released"]["control_steps_unsettled"] == 0
