"""The live twin's quarter-hour flows and KPIs, without a network: counters, readings, Europe/Berlin days."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from connectors.site import Site
from twin.core.live_parts import BoundaryState, Quality
from twin.core.live_state import LiveSnapshot
from twin.core.schema import QUALITY_FLAGS
from twin.core.store import StoreLock, read_json, write_json_atomic
from twin.live import LiveTwin

OK, MISSING, ESTIMATED = (QUALITY_FLAGS[name] for name in ("ok", "missing", "estimated"))
JUNE_1_S = 1_748_736_000  # 2025-06-01T00:00:00Z = 02:00 in Berlin


def _site(**settings: Any) -> Site:
    return Site(
        **settings,
        devices=[
            {"id": "b01/meter", "kind": "building_meter", "building": "b01", "port": 1502, "map": "sunspec_meter"},
            {"id": "sub/meter", "kind": "substation_meter", "port": 1503, "map": "sunspec_meter_substation"},
        ],
    )


def test_quarter_flows_start_from_the_years_reading_then_spread_a_gap(tmp_path: Path) -> None:
    write_json_atomic(
        tmp_path / "readings.json",
        {"b01/meter": [{"time_s": JUNE_1_S - 86400 * 151, "energy_import_kwh": 1000.0, "energy_export_kwh": 5.0}]},
    )
    with StoreLock(tmp_path, "test"):
        twin = LiveTwin(_site(), tmp_path)
        try:
            times = np.array([JUNE_1_S, JUNE_1_S + 900, JUNE_1_S + 1800])
            values = {
                "b01/meter/energy_import_kwh": np.array([1100.0, np.nan, 1101.5]),
                "b01/meter/energy_export_kwh": np.array([5.0, np.nan, 6.0]),
                "sub/meter/energy_import_kwh": np.array([50.0, 51.0, 52.0]),
                "balance:b01/p_load_kw": np.array([1.0, 3.0, np.nan]),
                "balance:b01/p_heat_pump_kw": np.array([1.0, 1.0, 1.0]),
                "balance:b01/p_ev_kw": np.array([0.0, 0.0, 0.0]),
                "balance:b01/p_pv_kw": np.array([-1.0, -2.0, -3.0]),
            }
            batch = twin.flows.compute(times, values, read_json(tmp_path / "readings.json"))
        finally:
            twin.close()
    flows, flags = batch.values, batch.flags
    # the first quarter counts everything since the year's reading (estimated: months in one quarter);
    # the energy of a quarter without a reading is spread over it and the quarter after, estimated
    np.testing.assert_allclose(flows["flow:b01/import_kwh"], [100.0, 0.75, 0.75])
    np.testing.assert_allclose(flows["flow:b01/export_kwh"], [0.0, 0.5, 0.5])
    assert flags["flow:b01/import_kwh"].tolist() == [ESTIMATED] * 3
    # no reading for the substation: its first quarter is unknown (missing), then measured
    np.testing.assert_allclose(flows["flow:substation/import_kwh"], [np.nan, 1.0, 1.0])
    assert flags["flow:substation/import_kwh"].tolist() == [MISSING, OK, OK]
    assert flags["flow:b01/load_kwh"].tolist() == [OK, OK, MISSING]
    np.testing.assert_allclose(flows["flow:b01/load_kwh"], [0.5, 1.0, np.nan])
    np.testing.assert_allclose(flows["flow:b01/generation_kwh"], [0.25, 0.5, 0.75])


def test_today_starts_at_midnight_in_berlin(tmp_path: Path) -> None:
    with StoreLock(tmp_path, "test"):
        twin = LiveTwin(_site(), tmp_path, kpi_every_s=0.0)
        try:
            # quarters of 2025-05-31 21:45Z (23:45 Berlin, yesterday) and 22:00Z (00:00 Berlin, today)
            for start, imported in ((JUNE_1_S - 8100, 3.0), (JUNE_1_S - 7200, 2.0)):
                twin._set_flows(start, {"flow:substation/import_kwh": imported}, {})
            twin._update_kpis(JUNE_1_S - 6300.0, {}, balance_kw={})
        finally:
            twin.close()
    today, year = twin.kpis["today"]["substation"], twin.kpis["year"]["substation"]
    assert today["import_kwh"] == pytest.approx(2.0) and today["quarters"] == 2  # 00:00 and the open 00:15
    assert year["import_kwh"] == pytest.approx(5.0)


def test_today_starts_at_midnight_in_the_sites_time_zone(tmp_path: Path) -> None:
    with StoreLock(tmp_path, "test"):
        twin = LiveTwin(_site(timezone="UTC"), tmp_path, kpi_every_s=0.0)
        try:
            # quarters of 2025-05-31 22:00Z (yesterday in UTC) and 2025-06-01 00:00Z (today)
            for start, imported in ((JUNE_1_S - 7200, 3.0), (JUNE_1_S, 2.0)):
                twin._set_flows(start, {"flow:substation/import_kwh": imported}, {})
            twin._update_kpis(JUNE_1_S + 900.0, {}, balance_kw={})
        finally:
            twin.close()
    today = twin.kpis["today"]["substation"]
    assert today["import_kwh"] == pytest.approx(2.0) and today["quarters"] == 2  # 00:00 and the open 00:15


@pytest.mark.parametrize(
    ("quality", "missing", "shown"), [("PARTIAL", 3, "(partial (3 missing): PV"), ("OK", None, "(PV")]
)
def test_status_line_marks_sums_over_buildings_with_missing_inputs_partial(
    tmp_path: Path, quality: str, missing: int | None, shown: str
) -> None:
    district = BoundaryState(
        "substation", p_grid_kw=2.0, p_pv_kw=-1.0, quality=Quality[quality], inputs_missing=missing
    )
    with StoreLock(tmp_path, "test"):
        twin = LiveTwin(_site(), tmp_path)
        try:
            twin.snapshot = LiveSnapshot(site="test", balance={"substation": district})
            line = twin.status_line()
        finally:
            twin.close()
    assert f"grid +2.0 kW {shown} -1.0" in line
    assert "invalid" not in line
