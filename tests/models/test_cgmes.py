"""CIM/CGMES grids: written by models.cgmes_writer, read back through pandapower's converter.

The round trips compare power flows bus by bus (matched by name: the converter numbers buses
its own way); the year-long version is bench/bench_cgmes_roundtrip.py.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandapower as pp
import pandas as pd
import pytest
import yaml

from models.building_list import write_building_list
from models.cgmes_reader import cgmes_profiles, load_cgmes
from models.cgmes_writer import write_cgmes
from models.district import LoadedDistrict, district_path, load_district
from models.district_writer import import_district
from models.grid_source import load_pandapower_excel, load_pandapower_json
from models.powerflow import BatchPowerFlow
from twin.cli import main
from twin.core.errors import ConfigError

TOL_PU = 1e-6


@pytest.fixture(scope="module")
def beucha() -> LoadedDistrict:
    return load_district("beucha")


@pytest.fixture(scope="module")
def beucha_zip(beucha: LoadedDistrict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cgmes") / "beucha.zip"
    write_cgmes(beucha.net, path, model_name="beucha")
    return path


def _steps(net: Any, n_steps: int, seed: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-bus demand [kW, kvar] by bus name: loads up to 12 kW at the load buses, PV down to -30 kW."""
    rng = np.random.default_rng(seed)
    names = sorted({str(net.bus.at[b, "name"]) for b in net.load.bus})
    pv = sorted({str(net.bus.at[b, "name"]) for b in net.sgen.bus})
    p = pd.DataFrame(rng.uniform(0.0, 12.0, (n_steps, len(names))), columns=names)
    p.loc[::2, pv] -= rng.uniform(0.0, 30.0, (len(p.index[::2]), len(pv)))
    p.iloc[0] = 0.0  # no load
    p.iloc[1] = 12.0  # the evening peak everywhere
    return p, p * 0.33


def _by_index(net: Any, frame: pd.DataFrame) -> pd.DataFrame:
    index = {str(name): int(i) for i, name in net.bus["name"].items()}
    return frame.rename(columns=index)


def _vm_by_name(net: Any, p: pd.DataFrame, q: pd.DataFrame) -> pd.DataFrame:
    time = pd.date_range("2025-01-01", periods=len(p), freq="15min", tz="UTC")
    grid = BatchPowerFlow(net).run(time, _by_index(net, p), _by_index(net, q))
    names = [str(net.bus.at[int(b), "name"]) for b in grid["bus"].values]
    return pd.DataFrame(grid["vm_pu"].to_numpy().astype(float), columns=names)


def test_beucha_round_trip_gives_the_same_power_flow(beucha: LoadedDistrict, beucha_zip: Path) -> None:
    imported = load_cgmes(beucha_zip)
    net = beucha.net
    assert sorted(imported.bus["name"]) == sorted(net.bus["name"])
    assert (len(imported.line), len(imported.trafo), len(imported.load), len(imported.sgen)) == (
        len(net.line),
        len(net.trafo),
        len(net.load),
        len(net.sgen),
    )
    p, q = _steps(net, 200)
    before, after = _vm_by_name(net, p, q), _vm_by_name(imported, p, q)
    assert before.min().min() < 0.97  # the steps move the voltages
    assert float((after[before.columns] - before).abs().max().max()) < TOL_PU


def test_beucha_round_trip_keeps_ratings_and_coordinates(beucha: LoadedDistrict, beucha_zip: Path) -> None:
    imported = load_cgmes(beucha_zip)
    net = beucha.net
    lines = imported.line.set_index("name")
    original = net.line.set_index("name")
    np.testing.assert_allclose(lines.loc[original.index, "max_i_ka"], original["max_i_ka"], rtol=1e-12)
    np.testing.assert_allclose(lines.loc[original.index, "length_km"], original["length_km"], rtol=1e-12)
    trafo, t0 = imported.trafo.iloc[0], net.trafo.iloc[0]
    for column in ("sn_mva", "vn_hv_kv", "vn_lv_kv", "vk_percent", "vkr_percent", "pfe_kw", "i0_percent"):
        assert trafo[column] == pytest.approx(t0[column], rel=1e-9), column
    assert trafo["shift_degree"] == 150.0
    assert (trafo["tap_min"], trafo["tap_max"], trafo["tap_step_percent"]) == (-2, 2, 2.5)
    imported_geo = {
        n: json.loads(g)["coordinates"] for n, g in zip(imported.bus["name"], imported.bus["geo"], strict=True)
    }
    for name, geo in zip(net.bus["name"], net.bus["geo"], strict=True):
        assert imported_geo[name] == pytest.approx(json.loads(geo)["coordinates"][:2], abs=1e-12)
    profiles, version = cgmes_profiles(beucha_zip)
    assert sorted(profiles) == ["EQ", "GL", "SSH", "SV", "TP"]
    assert version == "2.4.15"


def _small_net() -> Any:
    """Every kind of element the writer handles: switches open and closed, parallel cables, a tap off neutral."""
    net = pp.create_empty_network()
    mv = pp.create_bus(net, 20.0, name="mv", geodata=(12.50, 51.30))
    names = ("lv", "a", "b", "c", "d")
    lv, a, b, c, d = (pp.create_bus(net, 0.4, name=n, geodata=(12.50 + 0.001 * i, 51.30)) for i, n in enumerate(names))
    pp.create_ext_grid(net, mv, vm_pu=1.02, va_degree=3.0, s_sc_max_mva=100.0, rx_max=0.1)
    trafo = pp.create_transformer(net, mv, lv, std_type="0.4 MVA 20/0.4 kV", tap_pos=-1)
    net.trafo.at[trafo, "tap_changer_type"] = "Ratio"
    net.trafo.at[trafo, "vector_group"] = "Dyn5"
    pp.create_line(net, lv, a, 0.12, "NAYY 4x150 SE", name="lv-a", parallel=2, geodata=[(12.5, 51.3), (12.501, 51.3)])
    pp.create_line(net, a, b, 0.08, "NAYY 4x150 SE", name="a-b")
    ring = pp.create_line(net, b, c, 0.05, "NAYY 4x150 SE", name="b-c")
    pp.create_line(net, lv, c, 0.2, "NAYY 4x150 SE", name="lv-c")
    pp.create_switch(net, c, ring, et="l", closed=False, name="open ring")
    pp.create_switch(net, lv, 0, et="l", closed=True, name="closed at lv")
    pp.create_switch(net, c, d, et="b", closed=True, name="coupler")
    for bus, p_mw in ((a, 0.02), (b, 0.03), (c, 0.01), (d, 0.015)):
        pp.create_load(net, bus, p_mw=p_mw, q_mvar=p_mw / 3, name=f"load {bus}")
    pp.create_load(net, b, p_mw=0.5, name="disconnected", in_service=False)
    pp.create_sgen(net, b, p_mw=0.04, q_mvar=-0.004, sn_mva=0.05, type="PV", name="pv b")
    pp.create_sgen(net, d, p_mw=0.01, name="chp d", type="CHP")
    return net


def test_every_element_kind_round_trips(tmp_path: Path) -> None:
    net = _small_net()
    export = write_cgmes(net, tmp_path / "small.zip")
    assert export.counts["Breaker"] == 2  # the coupler and the open ring switch (closed line switches leave out)
    imported = load_cgmes(tmp_path / "small.zip")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pp.runpp(net, numba=False)
        pp.runpp(imported, numba=False)
    before = net.res_bus.set_axis(net.bus["name"])
    after = imported.res_bus.set_axis(imported.bus["name"]).loc[before.index]
    assert float((after["vm_pu"] - before["vm_pu"]).abs().max()) < 1e-9
    assert float((after["va_degree"] - before["va_degree"]).abs().max()) < 1e-7
    assert net.res_ext_grid.at[0, "p_mw"] == pytest.approx(imported.res_ext_grid.at[0, "p_mw"], abs=1e-9)
    assert imported.ext_grid.at[0, "s_sc_max_mva"] == pytest.approx(100.0, rel=1e-12)
    assert imported.ext_grid.at[0, "rx_max"] == pytest.approx(0.1, rel=1e-12)
    assert imported.trafo.at[0, "vector_group"] == "Dyn"
    assert int(imported.trafo.at[0, "tap_pos"]) == -1
    assert not imported.load.set_index("name").at["disconnected", "in_service"]
    assert imported.sgen.set_index("name").at["pv b", "type"] == "PV"
    line_geo = json.loads(imported.line.set_index("name").at["lv-a", "geo"])
    assert line_geo["coordinates"] == [[12.5, 51.3], [12.501, 51.3]]


@pytest.mark.parametrize(("side", "position"), [("lv", 2), ("hv", -2)])
def test_tap_changer_on_either_side(tmp_path: Path, side: str, position: int) -> None:
    net = _small_net()
    net.trafo.loc[0, ["tap_side", "tap_pos"]] = [side, position]
    write_cgmes(net, tmp_path / "tap.zip")
    imported = load_cgmes(tmp_path / "tap.zip")
    assert (imported.trafo.at[0, "tap_side"], int(imported.trafo.at[0, "tap_pos"])) == (side, position)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pp.runpp(net, numba=False)
        pp.runpp(imported, numba=False)
    lv_before = net.res_bus.set_axis(net.bus["name"]).at["lv", "vm_pu"]
    assert imported.res_bus.set_axis(imported.bus["name"]).at["lv", "vm_pu"] == pytest.approx(lv_before, abs=1e-9)


def test_same_net_same_files(tmp_path: Path) -> None:
    net = _small_net()
    write_cgmes(net, tmp_path / "one.zip")
    write_cgmes(net, tmp_path / "two.zip")
    with zipfile.ZipFile(tmp_path / "one.zip") as one, zipfile.ZipFile(tmp_path / "two.zip") as two:
        for member in one.namelist():
            strip = re.compile(rb"<md:Model\.(created|scenarioTime)>[^<]*<")
            assert strip.sub(b"", one.read(member)) == strip.sub(b"", two.read(member)), member


def test_writer_refuses_what_it_cannot_export(tmp_path: Path) -> None:
    net = _small_net()
    pp.create_storage(net, 2, p_mw=0.0, max_e_mwh=0.01)
    with pytest.raises(ConfigError, match=r"the net also has 1 storage"):
        write_cgmes(net, tmp_path / "x.zip")
    assert not (tmp_path / "x.zip").exists()


def _rewrite(source: Path, target: Path, drop: str | None = None) -> Path:
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w") as dst:
        for member in src.namelist():
            if drop is None or not member.endswith(f"_{drop}.xml"):
                dst.writestr(member, src.read(member))
    return target


@pytest.mark.parametrize(
    ("break_it", "missing"),
    [
        (lambda net: net.trafo.drop(net.trafo.index, inplace=True), "no transformer: no PowerTransformer"),
        (
            lambda net: net.update(line=net.line.assign(x_ohm_per_km=np.nan)),
            "4 ACLineSegment(s) without r, x or length",
        ),
        (lambda net: net.update(bus=net.bus.assign(geo=None)), "7 bus(es) without coordinates"),
        (lambda net: net.update(ext_grid=net.ext_grid.assign(in_service=False)), "no slack in service"),
    ],
)
def test_cgmes_lacking_a_part_is_refused(tmp_path: Path, break_it: Any, missing: str) -> None:
    net = _small_net()
    break_it(net)
    write_cgmes(net, tmp_path / "broken.zip")
    with pytest.raises(ConfigError, match=r"grid '.*broken.zip' is not usable: .*" + re.escape(missing)) as info:
        load_cgmes(tmp_path / "broken.zip", file="d.yaml", field="grid.cgmes")
    assert str(info.value).startswith("d.yaml: grid.cgmes: grid ")


@pytest.mark.parametrize(
    ("drop", "missing"),
    [
        ("GL", "no geodata: the zip has no GL (GeographicalLocation) profile"),
        ("SSH", "lacks the CGMES profile(s) SSH (found: EQ, GL, SV, TP)"),
        ("EQ", "lacks the CGMES profile(s) EQ"),
    ],
)
def test_cgmes_lacking_a_profile_is_refused(tmp_path: Path, drop: str, missing: str) -> None:
    write_cgmes(_small_net(), tmp_path / "small.zip")
    broken = _rewrite(tmp_path / "small.zip", tmp_path / "broken.zip", drop=drop)
    with pytest.raises(ConfigError, match=re.escape(missing)):
        load_cgmes(broken)


def test_not_a_zip_and_missing_file(tmp_path: Path) -> None:
    (tmp_path / "grid.zip").write_text("not a zip", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"is not a CGMES zip"):
        load_cgmes(tmp_path / "grid.zip")
    with pytest.raises(ConfigError, match=r"does not exist"):
        load_cgmes(tmp_path / "nowhere.zip")


def _district_on(grid: str, folder: Path) -> Path:
    document = yaml.safe_load(district_path("beucha").read_text(encoding="utf-8"))
    document["grid"] = {"cgmes": grid}
    path = folder / "district.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def test_district_on_a_cgmes_grid(beucha: LoadedDistrict, beucha_zip: Path, tmp_path: Path) -> None:
    (tmp_path / "grid.zip").write_bytes(beucha_zip.read_bytes())
    loaded = load_district(_district_on("grid.zip", tmp_path))
    assert loaded.district.grid.file == "grid.zip"
    assert [b.bus for b in loaded.district.buildings] == [b.bus for b in beucha.district.buildings]
    assert len(loaded.net.bus) == len(beucha.net.bus)


def test_import_buildings_onto_a_cgmes_grid(beucha: LoadedDistrict, beucha_zip: Path, tmp_path: Path) -> None:
    (tmp_path / "grid.zip").write_bytes(beucha_zip.read_bytes())
    like = _district_on("grid.zip", tmp_path)
    write_building_list(beucha.district.buildings, tmp_path / "list.csv")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = import_district(tmp_path / "list.csv", like=str(like), out=elsewhere / "quarter.yaml")
    assert result.district.grid.cgmes == str((tmp_path / "grid.zip").resolve())
    assert [b.bus for b in load_district(elsewhere / "quarter.yaml").district.buildings] == [
        b.bus for b in beucha.district.buildings
    ]


@pytest.mark.parametrize("suffix", [".json", ".xlsx"])
def test_cli_export_grid_as_pandapower_file(
    beucha: LoadedDistrict, tmp_path: Path, suffix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / f"grid{suffix}"
    with pytest.raises(SystemExit) as info:
        main(["district", "export-grid", str(out)])
    assert info.value.code == 0
    assert "pandapower " + ("JSON" if suffix == ".json" else "Excel") in capsys.readouterr().out
    net = load_pandapower_json(out) if suffix == ".json" else load_pandapower_excel(out)
    assert list(net.bus["name"]) == list(beucha.net.bus["name"])
    with pytest.raises(SystemExit) as info:
        main(["district", "export-grid", str(tmp_path / "grid.txt")])
    assert info.value.code == 2
    assert "unknown grid format '.txt' (allowed: .zip, .json, .xlsx)" in capsys.readouterr().err


def _twin(*args: str, grid_cache_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from twin.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TWIN_CACHE_DIR": str(grid_cache_dir)},
        check=False,
    )


def test_cli_shows_a_district_on_a_cgmes_grid(
    beucha_zip: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "grid.zip").write_bytes(beucha_zip.read_bytes())
    with pytest.raises(SystemExit) as info:
        main(["district", "show", str(_district_on("grid.zip", tmp_path)), "--no-year"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "grid      CGMES file grid.zip: 111 buses, 6 feeders, 109 lines (1.79 km), transformer 630 kVA" in out


@pytest.mark.e2e
def test_cli_export_grid_then_a_grid_without_geodata_exits_2(tmp_path: Path, grid_cache_dir: Path) -> None:
    out = tmp_path / "grid.zip"
    result = _twin("district", "export-grid", str(out), grid_cache_dir=grid_cache_dir)
    assert result.returncode == 0, result.stderr
    assert "CGMES 2.4.15 (EQ, SSH, TP, SV, GL), 111 buses, 109 lines, 1 transformer" in result.stdout
    assert sorted(cgmes_profiles(out)[0]) == ["EQ", "GL", "SSH", "SV", "TP"]
    district = _district_on("grid.zip", tmp_path)
    _rewrite(out, tmp_path / "nogeo.zip", drop="GL").replace(out)
    result = _twin("district", "show", str(district), "--no-year", grid_cache_dir=grid_cache_dir)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"twin: {district}: grid.cgmes: grid ")
    assert "no geodata: the zip has no GL (GeographicalLocation) profile" in lines[0]
