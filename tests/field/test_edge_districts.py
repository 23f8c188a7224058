"""Every valid district runs in the field: no home batteries, no PV, no heat pumps, no gas, one building.

Each district is a few buildings of the built-in Beucha file, changed in a temporary file; the
field starts on it and every device of its site file answers a read.
"""

from __future__ import annotations

import asyncio
import copy
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from connectors.poller import SitePoller
from models.district import load_district
from twin.field import Field, FieldOptions

BEUCHA = Path(__file__).resolve().parents[2] / "models" / "data" / "beucha.yaml"
DEADLINE_S = 20.0


def _district(change: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(BEUCHA.read_text(encoding="utf-8"))
    with_batteries = [b for b in data["buildings"] if b.get("batteries")][:2]
    with_heat_pumps = [b for b in data["buildings"] if b.get("heating", {}).get("system") == "heat_pump"][:1]
    others = [b for b in data["buildings"] if b.get("pv")][:3]
    buildings = copy.deepcopy(list({b["id"]: b for b in (*with_batteries, *with_heat_pumps, *others)}.values()))
    for building in buildings:
        if change == "no_batteries":
            building.pop("batteries", None)
        elif change == "no_pv":
            building.pop("pv", None)
            building.pop("batteries", None)
        elif change == "no_heat_pumps":
            building["heating"] = {"system": "gas_boiler"}
        elif change == "no_gas":
            building["heating"] = {"system": "heat_pump"}
    if change == "single_building":
        buildings = buildings[:1]
    data["buildings"] = buildings
    return data


async def _all_answer(field: Field) -> set[str]:
    """Devices that have not answered a read within the deadline."""
    assert field.site is not None
    poller = SitePoller(field.site)
    await poller.start()
    try:
        deadline = time.monotonic() + DEADLINE_S
        silent = set(poller.states)
        while silent and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            silent = {device for device, state in poller.states.items() if not state.last_read_ok}
        return silent
    finally:
        await poller.stop()


@pytest.mark.parametrize("change", ["no_batteries", "no_pv", "no_heat_pumps", "no_gas", "single_building"])
def test_edge_district_runs_in_the_field(change: str, tmp_path: Path) -> None:
    path = tmp_path / f"{change}.yaml"
    path.write_text(yaml.safe_dump(_district(change), sort_keys=False), encoding="utf-8")
    loaded = load_district(path)
    with Field(loaded, FieldOptions(speed=60.0, start_utc="2025-06-21T10:00:00Z")) as field:
        assert field.site is not None
        kinds = {device.kind for device in field.site.devices}
        buildings = {device.building for device in field.site.devices if device.building}
        silent = asyncio.run(_all_answer(field))
    assert not silent, f"{change}: no answer from {sorted(silent)}"
    if change in ("no_batteries", "no_pv"):
        assert "battery" not in kinds
    if change == "no_pv":
        assert "pv_inverter" not in kinds
    if change == "no_heat_pumps":
        assert "heat_pump_meter" not in kinds
    if change == "no_gas":
        assert "gas_meter" not in kinds
    if change == "single_building":
        assert len(buildings) == 1
