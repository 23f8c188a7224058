from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pandapower as pp
import pydantic
import pytest
import yaml

from models.building_estimates import (
    DHW_NEED_KWH_PER_M2A,
    HEAT_NEED_KWH_PER_M2A,
    age_class,
    estimate_building,
    heat_kwh_per_a,
    household_electricity_kwh_per_a,
    pv_potential_kwp,
    summarize_district,
)
from models.district import BUILDING_TYPES, Building, LoadedDistrict, Roof, district_path, load_district
from models.grid_source import grid_summary, load_simbench_net, place_net
from twin.core.errors import ConfigError

BUS_NAMES = ("station", "bus a", "bus b")


@pytest.fixture(scope="session")
def beucha() -> LoadedDistrict:
    return load_district("beucha")


@pytest.fixture(scope="session")
def small_net_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A three-bus pandapower net, as a grid operator would deliver it."""
    net = pp.create_empty_network()
    mv = pp.create_bus(net, vn_kv=20.0, name="mv")
    buses = [pp.create_bus(net, vn_kv=0.4, name=name) for name in BUS_NAMES]
    pp.create_ext_grid(net, mv)
    pp.create_transformer(net, mv, buses[0], std_type="0.25 MVA 20/0.4 kV")
    for bus in buses[1:]:
        pp.create_line(net, buses[0], bus, length_km=0.1, std_type="NAYY 4x150 SE")
        pp.create_load(net, bus, p_mw=0.005)
    path = tmp_path_factory.mktemp("grid") / "small-net.json"
    pp.to_json(net, str(path))
    return path


def small_district(grid_file: Path) -> dict[str, Any]:
    return {
        "name": "Small",
        "location": {"latitude_deg": 51.3, "longitude_deg": 12.5, "altitude_m": 120, "timezone": "Europe/Berlin"},
        "grid": {"pandapower_json": grid_file.name},
        "reactive_power": {
            "load_cos_phi": 0.95,
            "pv_cos_phi_p": [{"p_frac": 0.0, "cos_phi": 1.0}, {"p_frac": 1.0, "cos_phi": 0.95}],
        },
        "buildings": [
            {
                "id": "h1",
                "type": "SFH",
                "construction_year": 1981,
                "floor_area_m2": 150,
                "bus": "bus a",
                "households": [{"count": 1, "persons": 3}],
                "roofs": [
                    {"area_m2": 60, "tilt_deg": 35, "azimuth_deg": 180},
                    {"area_m2": 60, "tilt_deg": 35, "azimuth_deg": 0},
                ],
                "heating": {"system": "gas_boiler"},
                "pv": [{"p_peak_kw": 6.0, "roof": 0}],
            },
            {
                "id": "shop",
                "type": "business",
                "construction_year": 1990,
                "retrofit": "usual_refurbishment",
                "floor_area_m2": 200,
                "bus": "bus b",
                "heating": {"system": "heat_pump", "p_th_rated_kw": 12},
            },
        ],
    }


def write_district(folder: Path, grid_file: Path, document: Any) -> Path:
    (folder / grid_file.name).write_bytes(grid_file.read_bytes())
    path = folder / "district.yaml"
    path.write_text(document if isinstance(document, str) else yaml.safe_dump(document), encoding="utf-8")
    return path


# --- the built-in district -------------------------------------------------------------------


def test_beucha_counts(beucha: LoadedDistrict) -> None:
    summary = summarize_district(beucha.district)
    assert summary.n_buildings >= 100
    assert set(summary.buildings_by_type) == set(BUILDING_TYPES)
    assert summary.buildings_by_type["SFH"] + summary.buildings_by_type["TH"] >= 60
    assert 250 <= summary.n_households <= 450
    assert 1.8 <= summary.n_persons / summary.n_households <= 2.5
    assert 3 <= summary.n_heat_pumps <= 15
    assert 5 <= summary.n_evs <= 20
    assert summary.n_gas_boilers > summary.n_heat_pumps + summary.n_other_heating
    assert any(b.name and "Kulturhaus" in b.name for b in beucha.district.buildings)


def test_beucha_totals_within_documented_ranges(beucha: LoadedDistrict) -> None:
    summary = summarize_district(beucha.district)
    # ~300 households at 1,300-5,400 kWh/a plus a school, kindergarten, shops and the Kulturhaus.
    assert 600e3 <= summary.electricity_kwh_per_a <= 1200e3
    # ~100 buildings, mostly houses of 120-200 m2 at 60-200 kWh/m2a plus blocks: a few GWh/a.
    assert 2.0e6 <= summary.heat_kwh_per_a <= 5.0e6
    assert 700.0 <= summary.pv_potential_kwp <= 1500.0
    assert 150.0 <= summary.pv_today_kwp <= 400.0
    assert summary.pv_today_kwp < summary.pv_potential_kwp


def test_beucha_buildings_map_onto_every_load_bus(beucha: LoadedDistrict) -> None:
    net = beucha.net
    load_bus_names = set(net.bus.loc[net.load.bus, "name"])
    building_buses = {b.bus for b in beucha.district.buildings}
    assert building_buses == load_bus_names
    assert len(load_bus_names) == 104


def test_beucha_grid_summary(beucha: LoadedDistrict) -> None:
    summary = grid_summary(beucha.net)
    assert (summary.n_buses, summary.n_feeders, summary.n_loads) == (111, 6, 104)
    assert summary.transformer_s_rated_kva == pytest.approx(630.0)
    assert "profiles" not in beucha.net


def test_beucha_file_is_built_in_and_reproducible_metadata() -> None:
    path = district_path("beucha")
    assert path.name == "beucha.yaml"
    text = path.read_text(encoding="utf-8")
    assert "51.324" in text
    assert "seed 20261127" in text


def test_simbench_net_is_a_private_copy(beucha: LoadedDistrict) -> None:
    first = load_simbench_net("1-LV-semiurb5--0-sw")
    first.bus.loc[:, "name"] = "changed"
    second = load_simbench_net("1-LV-semiurb5--0-sw")
    assert "changed" not in set(second.bus.name)


def test_simbench_grid_sits_at_the_district_location(beucha: LoadedDistrict) -> None:
    """SimBench draws its grids near 53.42 N, 11.82 E; the district's grid is drawn at Beucha."""
    points = [json.loads(geo)["coordinates"] for geo in beucha.net.bus["geo"] if isinstance(geo, str)]
    assert len(points) == len(beucha.net.bus)
    lon = sum(p[0] for p in points) / len(points)
    lat = sum(p[1] for p in points) / len(points)
    location = beucha.district.location
    assert (lat, lon) == pytest.approx((location.latitude_deg, location.longitude_deg), abs=1e-6)
    original = load_simbench_net("1-LV-semiurb5--0-sw")
    first = json.loads(original.bus["geo"].iloc[0])["coordinates"]
    shifted = points[0]
    span = max(p[0] for p in points) - min(p[0] for p in points)
    assert 0 < span < 0.1  # the shape is kept: a shift, not a collapse
    assert shifted[0] - first[0] == pytest.approx(
        lon - sum(json.loads(g)["coordinates"][0] for g in original.bus["geo"]) / len(points), abs=1e-6
    )


def test_place_net_moves_lines_too() -> None:
    net = load_simbench_net("1-LV-semiurb5--0-sw")
    net.line.loc[net.line.index[0], "geo"] = json.dumps(
        {"type": "LineString", "coordinates": [[11.0, 53.0], [11.1, 53.1]]}
    )
    shift = place_net(net, 51.0, 12.0)
    assert shift is not None
    moved = json.loads(net.line["geo"].iloc[0])["coordinates"]
    assert moved[0] == pytest.approx([11.0 + shift[0], 53.0 + shift[1]])
    net.bus["geo"] = None
    assert place_net(net, 51.0, 12.0) is None  # no coordinates: nothing to place


def test_simbench_cache_written(beucha: LoadedDistrict, grid_cache_dir: Path) -> None:
    cached = list(grid_cache_dir.glob("simbench-*-1-LV-semiurb5--0-sw.json"))
    assert len(cached) == 1
    assert cached[0].stat().st_size < 2_000_000


# --- schema and estimates --------------------------------------------------------------------


def test_custom_district_with_pandapower_json(tmp_path: Path, small_net_file: Path) -> None:
    path = write_district(tmp_path, small_net_file, small_district(small_net_file))
    loaded = load_district(path)
    assert loaded.source == str(path)
    assert [b.id for b in loaded.district.buildings] == ["h1", "shop"]
    assert grid_summary(loaded.net).n_feeders == 2
    summary = summarize_district(loaded.district)
    assert summary.n_households == 1
    assert summary.pv_today_kwp == 6.0
    assert summary.n_heat_pumps == 1


def test_pv_peak_under_its_earlier_name(tmp_path: Path, small_net_file: Path) -> None:
    document = small_district(small_net_file)
    document["buildings"][0]["pv"] = [{"p_peak_kwp": 6.0, "roof": 0}]
    loaded = load_district(write_district(tmp_path, small_net_file, document))
    assert loaded.district.buildings[0].pv[0].p_peak_kw == 6.0


def test_schema_is_frozen(tmp_path: Path, small_net_file: Path) -> None:
    loaded = load_district(write_district(tmp_path, small_net_file, small_district(small_net_file)))
    with pytest.raises(pydantic.ValidationError):
        loaded.district.buildings[0].floor_area_m2 = 1.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("year", "code"),
    [
        (1850, "DE.01"),
        (1918, "DE.02"),
        (1919, "DE.03"),
        (1978, "DE.06"),
        (1995, "DE.09"),
        (2016, "DE.12"),
        (2030, "DE.12"),
    ],
)
def test_age_class(year: int, code: str) -> None:
    assert age_class(year) == code


@pytest.mark.parametrize(
    ("persons", "flat", "expected"), [(1, False, 1900.0), (5, False, 5430.0), (7, False, 5430.0), (1, True, 1330.0)]
)
def test_household_electricity(persons: int, flat: bool, expected: float) -> None:
    assert household_electricity_kwh_per_a(persons, flat=flat) == pytest.approx(expected)


def test_heat_from_tabula_table(small_net_file: Path) -> None:
    building = Building.model_validate(small_district(small_net_file)["buildings"][0])
    expected = (HEAT_NEED_KWH_PER_M2A["SFH"]["DE.07"][0] + DHW_NEED_KWH_PER_M2A["SFH"]) * 150.0
    assert heat_kwh_per_a(building) == pytest.approx(expected)
    refurbished = building.model_copy(update={"retrofit": "advanced_refurbishment"})
    assert heat_kwh_per_a(refurbished) < 0.5 * heat_kwh_per_a(building)
    measured = building.model_copy(update={"heat_kwh_per_a": 12345.0})
    assert heat_kwh_per_a(measured) == 12345.0


def test_pv_potential_counts_south_and_flat_not_north() -> None:
    south = Roof(area_m2=55.0, tilt_deg=30.0, azimuth_deg=180.0, usable_frac=1.0)
    north = Roof(area_m2=55.0, tilt_deg=30.0, azimuth_deg=0.0, usable_frac=1.0)
    flat = Roof(area_m2=80.0, tilt_deg=0.0, azimuth_deg=180.0, usable_frac=1.0)
    assert pv_potential_kwp([south, north]) == pytest.approx(10.0)
    assert pv_potential_kwp([flat]) == pytest.approx(10.0)


def test_estimate_non_residential_and_ev(small_net_file: Path) -> None:
    raw = small_district(small_net_file)["buildings"][1]
    shop = Building.model_validate(raw | {"evs": [{"capacity_kwh": 60, "distance_km_per_a": 10000}]})
    estimate = estimate_building(shop)
    assert estimate.electricity_kwh_per_a == pytest.approx(45.0 * 200.0)
    assert estimate.ev_electricity_kwh_per_a == pytest.approx(1800.0)
    assert estimate.heat_pump_electricity_kwh_per_a > 0


# --- bad district files: one line, the file, the field, what is allowed ----------------------


def _mutate(document: dict[str, Any], change: str) -> Any:
    doc = copy.deepcopy(document)
    b0 = doc["buildings"][0]
    if change == "missing_field":
        del b0["floor_area_m2"]
    elif change == "unknown_field":
        b0["roofs"][0]["tilt"] = b0["roofs"][0].pop("tilt_deg")
    elif change == "out_of_range":
        b0["roofs"][0]["tilt_deg"] = 95
    elif change == "unknown_type":
        b0["type"] = "castle"
    elif change == "unknown_retrofit":
        b0["retrofit"] = "renovated"
    elif change == "wrong_number":
        b0["floor_area_m2"] = "big"
    elif change == "duplicate_id":
        doc["buildings"][1]["id"] = "h1"
    elif change == "bus_not_in_grid":
        doc["buildings"][1]["bus"] = "bus z"
    elif change == "unknown_simbench":
        doc["grid"] = {"simbench_code": "1-LV-nowhere--0-sw"}
    elif change == "two_grid_sources":
        doc["grid"]["simbench_code"] = "1-LV-semiurb5--0-sw"
    elif change == "grid_file_missing":
        doc["grid"]["pandapower_json"] = "missing.json"
    elif change == "grid_not_pandapower":
        doc["grid"]["pandapower_json"] = "not-a-net.json"
    elif change == "pv_roof_missing":
        b0["pv"][0]["roof"] = 5
    elif change == "no_households":
        b0["households"] = []
    elif change == "bad_timezone":
        doc["location"]["timezone"] = "Europe/Beucha"
    elif change == "cos_phi_not_rising":
        doc["reactive_power"]["pv_cos_phi_p"][1]["p_frac"] = 0.0
    elif change == "bad_id":
        b0["id"] = "house 1"
    elif change == "households_not_list":
        b0["households"] = "many"
    elif change == "no_buildings":
        doc["buildings"] = []
    elif change == "top_level_list":
        return [doc]
    elif change == "malformed_yaml":
        return "name: Small\nbuildings: [\n  {id: h1\n"
    elif change == "duplicate_key":
        return yaml.safe_dump(doc) + "name: Again\n"
    elif change == "empty_file":
        return ""
    else:
        raise AssertionError(change)
    return doc


BAD_FILES = [
    ("missing_field", "buildings.0.floor_area_m2", "required"),
    ("unknown_field", "buildings.0.roofs.0.tilt", "allowed: fields area_m2"),
    ("out_of_range", "buildings.0.roofs.0.tilt_deg", "<= 90"),
    ("unknown_type", "buildings.0.type", "allowed: SFH, TH, MFH, AB"),
    ("unknown_retrofit", "buildings.0.retrofit", "usual_refurbishment"),
    ("wrong_number", "buildings.0.floor_area_m2", "'big'"),
    ("duplicate_id", "buildings.1.id", "duplicate building id 'h1'"),
    ("bus_not_in_grid", "buildings.1.bus", "allowed: a bus name of the grid"),
    ("unknown_simbench", "grid.simbench_code", "1-LV-semiurb5--0-sw"),
    ("two_grid_sources", "grid", "exactly one"),
    ("grid_file_missing", "grid.pandapower_json", "does not exist"),
    ("grid_not_pandapower", "grid.pandapower_json", "not a pandapower net"),
    ("pv_roof_missing", "buildings.0.pv.0.roof", "allowed: 0..1"),
    ("no_households", "buildings.0.households", "household"),
    ("bad_timezone", "location.timezone", "Europe/Beucha"),
    ("cos_phi_not_rising", "reactive_power.pv_cos_phi_p", "rise"),
    ("no_buildings", "buildings", "needs at least 1 item(s), got 0"),
    ("bad_id", "buildings.0.id", "'house 1' is not a valid id"),
    ("households_not_list", "buildings.0.households", "must be a list"),
    ("top_level_list", "", "mapping"),
    ("malformed_yaml", "", "line 4, column 1: malformed YAML"),
    ("duplicate_key", "", "duplicate key 'name'"),
    ("empty_file", "", "the district file is empty"),
]


@pytest.mark.parametrize(("change", "field", "fragment"), BAD_FILES, ids=[case[0] for case in BAD_FILES])
def test_bad_district_file(tmp_path: Path, small_net_file: Path, change: str, field: str, fragment: str) -> None:
    (tmp_path / "not-a-net.json").write_text('{"hello": "world"}', encoding="utf-8")
    path = write_district(tmp_path, small_net_file, _mutate(small_district(small_net_file), change))
    with pytest.raises(ConfigError) as info:
        load_district(path)
    text = str(info.value)
    assert "\n" not in text
    assert text.startswith(f"{path}: "), text
    if field:
        assert f": {field}: " in text, text
    assert fragment in text, text
    assert info.value.exit_code == 2


def test_failed_items_do_not_also_report_an_empty_list(tmp_path: Path, small_net_file: Path) -> None:
    document = small_district(small_net_file)
    document["buildings"] = document["buildings"][:1]
    document["buildings"][0]["roofs"][0]["tilt_deg"] = 95
    with pytest.raises(ConfigError) as info:
        load_district(write_district(tmp_path, small_net_file, document))
    assert "tilt_deg: 95 is out of range" in str(info.value)
    assert "more problem" not in str(info.value)


def test_bus_given_as_number(tmp_path: Path) -> None:
    net = pp.create_empty_network()
    for name in ("1", "2"):
        pp.create_bus(net, vn_kv=0.4, name=name)
    pp.to_json(net, str(tmp_path / "numbered.json"))
    document = small_district(tmp_path / "numbered.json")
    document["buildings"][0]["bus"] = 2
    document["buildings"][1]["bus"] = 1
    path = tmp_path / "district.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    assert load_district(path).district.buildings[0].bus == "2"


def test_grid_without_bus_names(tmp_path: Path) -> None:
    net = pp.create_empty_network()
    pp.create_bus(net, vn_kv=0.4)
    pp.to_json(net, str(tmp_path / "nameless.json"))
    path = tmp_path / "district.yaml"
    path.write_text(yaml.safe_dump(small_district(tmp_path / "nameless.json")), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"district.yaml: grid: the grid's buses have no names"):
        load_district(path)


def test_unknown_district_name() -> None:
    with pytest.raises(ConfigError, match=r"no district file 'nowhere'.*allowed: a built-in name \(beucha\)"):
        load_district("nowhere")
