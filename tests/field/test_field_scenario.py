"""``twin field --control SCENARIO``: a scenario file's changes run in the field as the runner applies them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from models.district import LoadedDistrict, load_district
from scenarios.config import load_scenario
from scenarios.runner import compute_scenario, prepare_shared
from twin.cli import main
from twin.field import Field, FieldOptions
from twin.field.scenario import field_scenario

#: Heat pumps in half of the small district's gas-heated houses, a car at every home, a bigger transformer.
CHANGES: dict[str, Any] = {
    "heat_pumps": {"share_frac": 0.5, "sizing": "design"},
    "evs": {"share_frac": 1.0, "charger_kw": 11.0},
    "grid": {"transformer_s_rated_kva": 400.0},
}


def _scenario_file(folder: Path, district_file: Path, **extra: Any) -> Path:
    path = folder / "scenario.yaml"
    data = {"name": "field_test", "district": str(district_file), "year": 2025, "seed": 3, "changes": CHANGES}
    data.update(extra)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def _buildings(names: Any, kinds: Any, kind: str) -> set[str]:
    return {str(b) for b, k in zip(names, kinds, strict=True) if k == kind}


def test_the_field_runs_the_buildings_the_runner_changes(
    tmp_path: Path, small_district: LoadedDistrict, small_district_file: Path
) -> None:
    path = _scenario_file(tmp_path, small_district_file, start="2025-01-15", end="2025-01-16")
    chosen = field_scenario(path, small_district, seed=3)
    assert chosen.seed == 3 and chosen.summary is not None and chosen.summary.endswith("grid reinforced (seed 3)")
    # the scenario's seed chooses the buildings and the profiles; another --seed is said to be unused
    assert field_scenario(path, small_district).summary.endswith("(seed 3; --seed 0 is not used)")  # type: ignore[union-attr]
    assert small_district.district.buildings == load_district(small_district_file).district.buildings  # not changed
    # the runner's assets over a day: which buildings have a heat pump and a car
    result = compute_scenario(load_scenario(path), prepare_shared(str(small_district_file), None, 2025, threads=1))
    names, kinds = result.assets["building"].values, result.assets["kind"].values
    heat_pumps, cars = _buildings(names, kinds, "heat_pump"), _buildings(names, kinds, "ev")
    before = _buildings(
        [b.id for b in small_district.district.buildings],
        [b.heating.system for b in small_district.district.buildings],
        "heat_pump",
    )
    assert heat_pumps > before and f"{len(heat_pumps - before)} heat pumps" in chosen.summary
    # the field of the changed district: the same buildings' heat-pump meters and wallboxes
    options = FieldOptions(speed=1.0, start_utc="2025-01-15T08:00", seed=chosen.seed, community_battery=None)
    with Field(chosen.loaded, options) as running:
        specs = [device.spec for device in running.devices.values()]
    assert {s.building for s in specs if s.kind == "heat_pump_meter"} == heat_pumps
    assert {s.building for s in specs if s.kind == "ev_charger_meter"} == cars
    # and the reinforced transformer
    assert np.allclose(chosen.loaded.net.trafo["sn_mva"].to_numpy(), 0.4)
    assert not np.allclose(small_district.net.trafo["sn_mva"].to_numpy(), 0.4)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"changes": {"community_battery": {"capacity_kwh": 100.0}}}, "scenario.yaml: changes.community_battery"),
        ({"changes": {"evs": {"share_frac": 0.5, "charging": "pv_surplus"}}}, "changes.evs.charging"),
        ({"district": "beucha"}, "scenario.yaml: district: the scenario's district 'beucha' is not the field's"),
    ],
)
def test_changes_the_field_does_not_run_exit_2_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], small_district_file: Path, extra: dict[str, Any], message: str
) -> None:
    path = _scenario_file(tmp_path, small_district_file, control={"section_14a": True}, **extra)
    args = ["field", "--site", str(tmp_path / "site.yaml"), "--district", str(small_district_file)]
    with pytest.raises(SystemExit) as info:
        main([*args, "--control", str(path)])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err, err
    assert not (tmp_path / "site.yaml").exists()
