"""A controlled run the occupants would not accept is said: a KPI, one warning line per run, a box in its report."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from scenarios.results import KPIS_JSON, REPORT_HTML

#: A cold January day with a heat pump in every building and a car at half the homes.
DAY = {"start": "2025-01-13", "end": "2025-01-14", "output": "kpis"}
CHANGES = {"heat_pumps": {"share_frac": 1.0, "sizing": "design"}, "evs": {"share_frac": 0.5}}
#: Section 14a dims from half the transformer's rating: the dimmed heat pumps leave the houses cold.
TIGHT = {"loading_enter_percent": 50, "loading_leave_percent": 40}


@pytest.mark.e2e
def test_dimming_that_leaves_houses_cold_is_warned_of(twin_exe: Path, tmp_path: Path, write_yaml: Any) -> None:
    controls: dict[str, dict[str, Any] | None] = {
        "plain": None,
        "gentle": {"section_14a": True},
        "tight": {"section_14a": True, "thresholds": TIGHT},
    }
    files = []
    for name, control in controls.items():
        data = {"name": name, **DAY, "changes": CHANGES} | ({"control": control} if control else {})
        files.append(str(write_yaml(data, f"{name}.yaml")))
    run = subprocess.run(
        [str(twin_exe), "scenario", "run", *files, "--out", "out", "--workers", "0"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=180,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    kpis = {name: json.loads((tmp_path / "out" / name / KPIS_JSON).read_text()) for name in controls}
    # the verdict beside the comfort KPIs, which it leaves as they are
    tight, gentle = kpis["tight"], kpis["gentle"]
    assert tight["control_comfort_ok"] is False and gentle["control_comfort_ok"] is True
    assert "control_comfort_ok" not in kpis["plain"]
    assert tight["control_indoor_min_delta_k"] < -3.0 and gentle["control_indoor_min_delta_k"] > -2.0
    assert tight["control_comfort_coldest_degc"] == pytest.approx(20.0 + tight["control_indoor_min_delta_k"])
    assert tight["control_comfort_category"] == "below IV" and tight["control_comfort_coldest_below_bound_h"] > 0.0
    # one warning line, for the tight run only, naming its coldest building, shortfall and hours
    warnings = [line for line in run.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1, run.stderr
    coldest = tight["control_comfort_coldest_building"]
    shortfall = f"{-tight['control_indoor_min_delta_k']:.1f} K below its 20 degC set point"
    hours = f"{tight['control_comfort_coldest_below_bound_h']:,.1f} h below 18 degC"
    assert warnings[0].startswith("warning: tight: ") and f"building {coldest} " in warnings[0], warnings
    assert shortfall in warnings[0] and hours in warnings[0], warnings
    # the report shows it above the KPI table; the others show none
    pages = {name: (tmp_path / "out" / name / REPORT_HTML).read_text() for name in controls}
    assert 'id="comfort-warning"' in pages["tight"] and shortfall in pages["tight"]
    assert pages["tight"].index("comfort-warning") < pages["tight"].index("Key figures")
    assert not any("comfort-warning" in pages[name] for name in ("plain", "gentle"))
    assert "comfort acceptable (EN 16798-1 III)" in pages["gentle"]
