"""A fake snapshot provider and write sink for the controller-server tests."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

from connectors.controller_snapshot import BuildingSnapshot, ControllerSnapshot, ControllerWrite

SIM_START_S = 1_750_000_000.0


def fake_snapshot(**changes: object) -> ControllerSnapshot:
    """A plausible sunny-noon snapshot with three buildings; ``changes`` replace fields."""
    snapshot = ControllerSnapshot(
        sim_time_s=SIM_START_S,
        updated_unix_s=time.time(),
        p_pv_kw=-180.5,
        p_load_kw=95.25,
        p_battery_kw=12.5,
        soc_battery_frac=0.625,
        p_grid_kw=-72.75,
        p_surplus_kw=72.75,
        energy_import_year_kwh=120_000.0,
        energy_export_year_kwh=95_500.0,
        self_sufficiency_today_frac=0.875,
        p_surplus_forecast_kw=(70.0, 60.5, 40.0, 10.0, 0.0, 0.0),
        clear_sky_index=0.8125,
        trafo_loading_max_percent=41.5,
        line_loading_max_percent=38.25,
        vm_min_pu=0.985,
        vm_max_pu=1.0325,
        buildings=(
            BuildingSnapshot("school", p_meter_kw=-12.5, p_pv_kw=-30.0, vm_pu=1.01, soc_battery_frac=0.5),
            BuildingSnapshot("kulturhaus", p_meter_kw=4.25, p_heat_pump_kw=3.0, energy_balance_year_kwh=1234.5),
            BuildingSnapshot("kita", p_meter_kw=2.0, p_ev_kw=11.0, self_sufficiency_today_frac=0.25),
        ),
    )
    return replace(snapshot, **changes)  # type: ignore[arg-type]


@dataclass
class FakeTwin:
    """Holds the snapshot the server reads and the writes it hands on."""

    snapshot: ControllerSnapshot | None = field(default_factory=fake_snapshot)
    writes: list[ControllerWrite] = field(default_factory=list)
    reject: bool = False

    def provide(self) -> ControllerSnapshot | None:
        return self.snapshot

    def sink(self, write: ControllerWrite) -> None:
        if self.reject:
            raise ValueError("the twin refuses")
        self.writes.append(write)
