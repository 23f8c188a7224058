"""What :func:`twin.field.layout.field_layout` decides, checked against the district file.

The district is the built-in Beucha file with two edits (read back from the written file):
``th02`` loses its charger (its car then charges at a socket meter) and ``th01`` gets a second
car (both cars charge at its one charger). Every expectation is derived from the raw YAML.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from models.battery import BatteryUnit
from models.building_estimates import household_electricity_kwh_per_a
from models.district import parse_district
from models.profiles import ProfileOptions, district_profiles, prepare_inputs
from twin.field.layout import (
    COMMUNITY,
    COMMUNITY_BATTERY_ID,
    DEFAULT_COMMUNITY_BATTERY,
    GRID,
    SUBSTATION_METER_ID,
    AssetFuel,
    AssetPower,
    DeviceSpec,
    PowerTerm,
    field_layout,
)

BEUCHA_FILE = Path(__file__).resolve().parents[2] / "models" / "data" / "beucha.yaml"
YEAR = 2025
BUSBAR = "LV busbar of the test"


@dataclass(frozen=True)
class Laid:
    raw: dict[str, Any]
    devices: dict[str, DeviceSpec]
    order: list[str]
    no_battery: list[DeviceSpec]
    busbar: str


@pytest.fixture(scope="module")
def laid(tmp_path_factory: pytest.TempPathFactory) -> Laid:
    raw = yaml.safe_load(BEUCHA_FILE.read_text(encoding="utf-8"))
    houses = {b["id"]: b for b in raw["buildings"]}
    del houses["th02"]["chargers"]
    houses["th01"]["evs"].append({"capacity_kwh": 60.0, "distance_km_per_a": 12000.0})
    path = tmp_path_factory.mktemp("layout") / "district.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    file_raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    district = parse_district(file_raw, file=str(path))  # the grid is not needed: the busbar is a name
    inputs = prepare_inputs(district, year=YEAR)
    period = ProfileOptions(year=YEAR, start=f"{YEAR}-06-21", end=f"{YEAR}-06-21T01:00")
    assets = district_profiles(district, inputs, period).assets
    specs = field_layout(district, assets, lv_busbar=BUSBAR, community_battery=DEFAULT_COMMUNITY_BATTERY)
    bare = field_layout(district, assets, lv_busbar=BUSBAR, community_battery=None)
    return Laid(file_raw, {s.id: s for s in specs}, [s.id for s in specs], bare, BUSBAR)


def _buildings(laid: Laid) -> list[dict[str, Any]]:
    return list(laid.raw["buildings"])


def _assets(spec: DeviceSpec) -> list[str]:
    return [term.source.asset for term in spec.power if isinstance(term.source, AssetPower)]


def test_every_building_has_a_meter_on_its_bus_in_file_order(laid: Laid) -> None:
    meters = [i for i in laid.order if laid.devices[i].kind == "building_meter"]
    assert meters == [f"{b['id']}/meter" for b in _buildings(laid)]
    assert laid.order[:2] == [SUBSTATION_METER_ID, COMMUNITY_BATTERY_ID]
    for b in _buildings(laid):
        spec = laid.devices[f"{b['id']}/meter"]
        assert (spec.bus, spec.building, spec.power_quantity) == (b["bus"], b["id"], "p_meter_kw")
        assets = _assets(spec)
        assert f"{b['id']}/load" in assets
        assert sum(a.startswith(f"{b['id']}/pv") for a in assets) == len(b.get("pv", []))
        assert sum(a.startswith(f"{b['id']}/battery") for a in assets) == len(b.get("batteries", []))
        assert sum(a.startswith(f"{b['id']}/ev") for a in assets) == len(b.get("evs", []))
        assert all(term.weight == 1.0 for term in spec.power)
        assert not any(isinstance(term.source, AssetFuel) for term in spec.power)  # gas is not electricity


def test_substation_meter_and_community_battery_at_the_lv_busbar(laid: Laid) -> None:
    substation = laid.devices[SUBSTATION_METER_ID]
    assert substation.power == (PowerTerm(source=GRID), PowerTerm(source=COMMUNITY))
    assert substation.bus == laid.busbar and substation.building is None
    battery = laid.devices[COMMUNITY_BATTERY_ID]
    assert battery.power == (PowerTerm(source=COMMUNITY),)
    assert (battery.capacity_kwh, battery.p_rated_kw) == (200.0, 100.0)
    assert battery.bus == laid.busbar
    # without a community battery the substation measures the power flow alone
    assert laid.no_battery[0].power == (PowerTerm(source=GRID),)
    assert COMMUNITY_BATTERY_ID not in {s.id for s in laid.no_battery}
    assert len(laid.no_battery) == len(laid.devices) - 1


def test_pv_inverters_from_the_file_every_third_speaks_701_every_sixth_float(laid: Laid) -> None:
    systems = [(b["id"], n, pv) for b in _buildings(laid) for n, pv in enumerate(b.get("pv", []))]
    inverters = [i for i in laid.order if laid.devices[i].kind == "pv_inverter"]
    assert inverters == [f"{bid}/pv{n}" for bid, n, _ in systems]
    for count, (bid, n, pv) in enumerate(systems):
        spec = laid.devices[f"{bid}/pv{n}"]
        assert spec.p_peak_kw == pv["p_peak_kw"]
        assert _assets(spec) == [f"{bid}/pv{n}"]
        model = "701" if count % 3 == 2 else "103"
        assert spec.map_name == ("sunspec_inverter_701" if model == "701" else "sunspec_inverter")
        assert spec.static["1.SN"] == f"PV-{count + 1:05d}"
        floating = count % 6 == 1  # serves the float chain 1 + 113 under the integer map's name
        assert spec.served_map == ("sunspec_inverter_float" if floating else None)
        # int16 W at scale factor 0 ends at 32.7 kW; float points need no scale factor
        assert (f"{model}.W_SF" in spec.static) == (pv["p_peak_kw"] > 30.0 and not floating)
    assert any(pv["p_peak_kw"] > 30.0 for _, _, pv in systems)


def test_home_batteries_from_the_file_every_second_speaks_701(laid: Laid) -> None:
    batteries = [(b["id"], n, bat) for b in _buildings(laid) for n, bat in enumerate(b.get("batteries", []))]
    assert len(batteries) >= 2
    for count, (bid, n, bat) in enumerate(batteries):
        spec = laid.devices[f"{bid}/battery{n}"]
        assert spec.kind == "battery" and spec.soc_asset == f"{bid}/battery{n}"
        assert (spec.capacity_kwh, spec.p_rated_kw) == (bat["capacity_kwh"], bat["p_rated_kw"])
        if count % 2 == 1:
            assert spec.map_name == "sunspec_battery_701"
            assert spec.static["802.WChaRteMax"] == spec.static["802.WDisChaRteMax"] == bat["p_rated_kw"] * 1000.0
        else:
            assert spec.map_name == "sunspec_battery"
            assert spec.static["124.WChaMax"] == bat["p_rated_kw"] * 1000.0


def test_heating_gets_a_heat_pump_or_gas_meter(laid: Laid) -> None:
    for b in _buildings(laid):
        system = b["heating"]["system"]
        assert (f"{b['id']}/heat_pump_meter" in laid.devices) == (system == "heat_pump")
        gas = laid.devices.get(f"{b['id']}/gas_meter")
        assert (gas is not None) == (system == "gas_boiler")
        if gas is not None:
            assert len(gas.power) == 1 and isinstance(gas.power[0].source, AssetFuel)
            assert gas.power_quantity is None
    assert Counter(laid.devices[i].kind for i in laid.order)["heat_pump_meter"] == sum(
        b["heating"]["system"] == "heat_pump" for b in _buildings(laid)
    )


def test_cars_charge_at_the_chargers_of_their_building(laid: Laid) -> None:
    for b in _buildings(laid):
        bid, chargers, cars = b["id"], b.get("chargers", []), len(b.get("evs", []))
        points = max(len(chargers), 1 if cars else 0)
        meters = [laid.devices[f"{bid}/charger{i}"] for i in range(points)]
        assert f"{bid}/charger{points}" not in laid.devices
        charging = [car for meter in meters for car in _assets(meter)]
        assert sorted(charging) == sorted(f"{bid}/ev{i}" for i in range(cars))
        for index, meter in enumerate(meters):
            assert meter.p_rated_kw == (chargers[index]["p_rated_kw"] if index < len(chargers) else None)
    # the edits: two cars at th01's one charger; th02's car at a socket meter
    assert _assets(laid.devices["th01/charger0"]) == ["th01/ev0", "th01/ev1"]
    assert _assets(laid.devices["th02/charger0"]) == ["th02/ev0"]
    assert laid.devices["th02/charger0"].p_rated_kw is None
    # public chargers without a car read 0 kW
    assert laid.devices["kulturhaus/charger1"].power == ()


def test_flats_of_multi_family_buildings_behind_one_gateway(laid: Laid) -> None:
    flats_by_building = [b for b in _buildings(laid) if b["type"] in ("MFH", "AB")]
    assert flats_by_building
    for b in _buildings(laid):
        bid = b["id"]
        persons = [group["persons"] for group in b.get("households", []) for _ in range(group["count"])]
        flats = [laid.devices[i] for i in laid.order if i.startswith(f"{bid}/flat")]
        if b not in flats_by_building:
            assert flats == []
            continue
        assert [f.unit_id for f in flats] == list(range(1, len(persons) + 1))
        assert {f.gateway for f in flats} == {f"{bid}/gateway"}
        assert all(f.power[0].source == AssetPower(f"{bid}/load") for f in flats)
        weights = [f.power[0].weight for f in flats]
        assert sum(weights) == pytest.approx(1.0, rel=1e-12)
        energy = [household_electricity_kwh_per_a(n, flat=True) for n in persons]
        assert weights == pytest.approx([e / sum(energy) for e in energy], rel=1e-12)
    ab01 = laid.devices["ab01/flat01"].power[0].weight, laid.devices["ab01/flat33"].power[0].weight
    assert ab01[0] < ab01[1]  # 1 person (first group) draws less than 4 (last group)


def test_device_spec_is_keyword_only() -> None:
    with pytest.raises(TypeError):
        DeviceSpec("x/meter", "building_meter", "sunspec_meter", "x", "bus", (), "p_meter_kw")  # type: ignore[misc]


def test_default_community_battery_is_one_battery_record() -> None:
    assert isinstance(DEFAULT_COMMUNITY_BATTERY, BatteryUnit)
    params = DEFAULT_COMMUNITY_BATTERY.params
    assert (params.soc_min_frac, params.soc_max_frac, params.soc_initial_frac) == (0.05, 0.95, 0.5)
    assert params.eta_charge_frac == params.eta_discharge_frac == 0.95
