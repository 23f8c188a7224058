"""Buildings in from a municipality's list or footprints: round trip, dialects, estimates, errors."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from scipy.integrate import quad
from typer.testing import CliRunner

from models.building_import import FLOOR_AREA_PER_FOOTPRINT_STOREY, buildings_from_rows, nearest_buses
from models.building_list import read_building_list, write_building_list
from models.district import LoadedDistrict, load_district
from models.district_writer import import_district
from models.footprints import read_footprints, utm_to_wgs84
from twin.core.errors import ConfigError

BEUCHA_LAT, BEUCHA_LON = 51.324, 12.567


@pytest.fixture(scope="module")
def beucha() -> LoadedDistrict:
    return load_district("beucha")


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_beucha_round_trip_through_a_building_list(beucha: LoadedDistrict, tmp_path: Path, suffix: str) -> None:
    listed = write_building_list(beucha.district.buildings, tmp_path / f"buildings{suffix}")
    imported = buildings_from_rows(read_building_list(listed), file=str(listed), buses=nearest_buses(beucha.net))
    assert imported.buildings == beucha.district.buildings
    assert imported.defaulted == {}


def test_district_show_identical_after_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Export, import and show through the command (in this process: the SimBench net is loaded once)."""
    import twin.cli  # noqa: F401  (registers the commands)
    from twin.cli.common import app

    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def run(*args: str) -> str:
        done = runner.invoke(app, list(args))
        assert done.exit_code == 0, done.output
        return done.stdout

    run("district", "export", "list.csv")
    assert "; 0 with estimated fields" in run(
        "district", "import", "list.csv", "--out", "imported.yaml", "--name", "Beucha"
    )
    before = run("district", "show", "beucha", "--no-year").splitlines()
    after = run("district", "show", "imported.yaml", "--no-year").splitlines()
    assert after[0].replace("(imported.yaml)", "(beucha)") == before[0]
    assert after[1:] == before[1:]


def test_german_csv_dialect_and_estimates(beucha: LoadedDistrict, tmp_path: Path) -> None:
    text = (
        "\ufeff# exported by the building portal\n"
        "id;type;footprint_m2;storeys;latitude_deg;longitude_deg;roof_shape;ridge_azimuth_deg;pv\n"
        f"h1;SFH;100,5;2;{BEUCHA_LAT};{BEUCHA_LON};gabled;0;8,5@0/2021\n"
        f"a1;AB;600;5;{BEUCHA_LAT + 0.001};{BEUCHA_LON};;;\n"
    )
    path = tmp_path / "portal.csv"
    path.write_bytes(text.encode("utf-8"))
    rows = read_building_list(path)
    imported = buildings_from_rows(rows, file=str(path), buses=nearest_buses(beucha.net))
    house, block = imported.buildings
    assert house.floor_area_m2 == pytest.approx(100.5 * 2 * FLOOR_AREA_PER_FOOTPRINT_STOREY, abs=0.1)
    assert [r.azimuth_deg for r in house.roofs] == [90.0, 270.0]  # ridge north-south: faces east and west
    assert sum(r.area_m2 * math.cos(math.radians(r.tilt_deg)) for r in house.roofs) == pytest.approx(100.5, abs=0.2)
    assert house.pv[0].p_peak_kw == 8.5 and house.pv[0].year == 2021
    assert block.roofs[0].tilt_deg == 2.0 and block.n_households == round(block.floor_area_m2 / 62)
    assert set(imported.defaulted["h1"]) == {
        "construction_year",
        "retrofit",
        "floor_area_m2",
        "bus",
        "heating",
        "households",
        "roofs",
    }
    assert "storeys" not in imported.defaulted["a1"] and "households" in imported.defaulted["a1"]
    buses = nearest_buses(beucha.net)
    nearest = min(buses, key=lambda n: (buses[n][0] - BEUCHA_LAT) ** 2 + ((buses[n][1] - BEUCHA_LON) * 0.62) ** 2)
    assert house.bus == nearest


@pytest.mark.parametrize(
    ("text", "field", "match"),
    [
        ("id,type,colour\nx,SFH,red\n", None, "line 1: unknown column 'colour'"),
        ("id,floor_area_m2\nx,10\n", None, "column 'type' is missing"),
        ("id,type,bus,floor_area_m2\nx,SFH,LV5.201 Bus 38,abc\n", "floor_area_m2", "line 2: 'abc' is not a number"),
        ("id,type,bus,households\nx,SFH,LV5.201 Bus 38,2x3x1\n", "households", "line 2: item '2x3x1' has 3 numbers"),
        ("id,type\nx,SFH\n", "bus", "line 2: bus is empty and the building has no location"),
        ("id,type,bus,retrofit\nx,SFH,LV5.201 Bus 38,new\n", "retrofit", "line 2: 'new' is not allowed"),
        ("id,type\n", None, "no buildings"),
        ("id,type,bus,batteries\nx,SFH,LV5.201 Bus 38,10@5\n", "batteries", "line 2: item '10@5' has 1 numbers"),
        ("id,type,bus,pv\nx,SFH,LV5.201 Bus 38,8@0@1\n", "pv", "line 2: '0@1' is not a number"),
    ],
)
def test_bad_building_list_names_line_and_column(
    beucha: LoadedDistrict, tmp_path: Path, text: str, field: str | None, match: str
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=match) as info:
        buildings_from_rows(read_building_list(path), file=str(path), buses=nearest_buses(beucha.net))
    assert str(path) in str(info.value) and "\n" not in str(info.value)
    if field is not None:
        assert info.value.field == field


def _rectangle(lon: float, lat: float, width_m: float, depth_m: float) -> list[list[float]]:
    """A closed ring, ``width_m`` east-west and ``depth_m`` north-south, south-west corner at the point."""
    d_lat = math.degrees(depth_m / 6_371_008.8)
    d_lon = math.degrees(width_m / (6_371_008.8 * math.cos(math.radians(lat))))
    return [[lon, lat], [lon + d_lon, lat], [lon + d_lon, lat + d_lat], [lon, lat + d_lat], [lon, lat]]


def test_osm_footprints(beucha: LoadedDistrict, tmp_path: Path) -> None:
    kinds = ["house", "apartments", "terrace", "school", "yes"]
    features = [
        {
            "type": "Feature",
            "properties": {"@id": f"way/{i}", "building": kinds[i % 5], "building:levels": str(1 + i % 4)},
            "geometry": {
                "type": "Polygon",
                "coordinates": [
                    _rectangle(BEUCHA_LON - 0.01 + (i % 40) * 0.0005, BEUCHA_LAT + (i // 40) * 0.0004, 20, 10)
                ],
            },
        }
        for i in range(200)
    ]
    path = tmp_path / "osm.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    rows = read_footprints(path)
    assert len(rows) == 200
    assert float(rows[0]["footprint_m2"]) == pytest.approx(200.0, rel=0.005)
    assert float(rows[0]["ridge_azimuth_deg"]) % 180 == pytest.approx(90.0, abs=1)  # along the 20 m east-west side
    assert [r["type"] for r in rows[:5]] == ["SFH", "MFH", "TH", "school", "SFH"]
    result = import_district(path, like="beucha", out=tmp_path / "osm.yaml")
    assert len(result.district.buildings) == 200
    assert all("floor_area_m2" in fields and "bus" in fields for fields in result.defaulted.values())
    assert load_district(tmp_path / "osm.yaml").district == result.district


def test_alkis_footprint_in_utm33(tmp_path: Path) -> None:
    feature = {
        "type": "Feature",
        "properties": {
            "gml_id": "DESNALK0000abc",
            "gebaeudefunktion": 1100,
            "anzahlDerOberirdischenGeschosse": 3,
            "dachform": "1000",
        },
        "geometry": {
            "type": "Polygon",
            "coordinates": [
                [[330000, 5688000], [330000, 5688012], [330015, 5688012], [330015, 5688000], [330000, 5688000]]
            ],
        },
    }
    collection = {
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::25833"}},
        "features": [feature],
    }
    path = tmp_path / "alkis.geojson"
    path.write_text(json.dumps(collection), encoding="utf-8")
    (row,) = read_footprints(path)
    assert row["type"] == "MFH" and row["storeys"] == "3" and row["roof_shape"] == "flat"
    assert float(row["footprint_m2"]) == pytest.approx(180.0)
    assert 51.2 < float(row["latitude_deg"]) < 51.4 and 12.5 < float(row["longitude_deg"]) < 12.7


def test_utm_latitude_on_the_central_meridian_against_the_meridian_arc() -> None:
    """On the central meridian, northing = k0 x meridian arc: integrated numerically, independent of the series."""
    a, f = 6_378_137.0, 1 / 298.257222101
    e2 = f * (2 - f)
    for latitude in (47.5, 51.324, 54.9):
        arc, _ = quad(lambda p: a * (1 - e2) / (1 - e2 * math.sin(p) ** 2) ** 1.5, 0.0, math.radians(latitude))
        lat, lon = utm_to_wgs84(500_000.0, 0.9996 * arc, 33)
        assert lat == pytest.approx(latitude, abs=1e-7) and lon == pytest.approx(15.0)
    west, east = utm_to_wgs84(400_000.0, 5_700_000.0, 33), utm_to_wgs84(600_000.0, 5_700_000.0, 33)
    assert west[0] == pytest.approx(east[0]) and west[1] - 15.0 == pytest.approx(15.0 - east[1])


def test_bad_geojson_names_the_feature(tmp_path: Path) -> None:
    path = tmp_path / "bad.geojson"
    path.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [12, 51]}}],
            }
        ),
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match="not a Polygon") as info:
        read_footprints(path)
    assert info.value.field == "features.0.geometry"
