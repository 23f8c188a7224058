"""Exit codes of the ``twin`` command: bad input 2, a model that cannot compute 1, both in one line."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pandapower as pp
import pytest
import yaml

from models.powerflow import BatchPowerFlow
from twin.core.errors import ModelError

BUS_NAMES = ("bus 0", "bus a")


def _zero_impedance_net(path: Path) -> Path:
    """A grid that validates (buses named, external grid, transformer) but has a line without impedance."""
    net = pp.create_empty_network()
    mv = pp.create_bus(net, vn_kv=20.0, name="mv")
    buses = [pp.create_bus(net, vn_kv=0.4, name=name) for name in BUS_NAMES]
    pp.create_ext_grid(net, mv)
    pp.create_transformer(net, mv, buses[0], std_type="0.25 MVA 20/0.4 kV")
    pp.create_line_from_parameters(
        net, buses[0], buses[1], length_km=0.1, r_ohm_per_km=0.0, x_ohm_per_km=0.0, c_nf_per_km=0.0, max_i_ka=0.2
    )
    pp.to_json(net, str(path))
    return path


def _district(grid_file: str) -> dict[str, Any]:
    return {
        "name": "Zero",
        "location": {"latitude_deg": 51.3, "longitude_deg": 12.5, "altitude_m": 120, "timezone": "Europe/Berlin"},
        "grid": {"pandapower_json": grid_file},
        "reactive_power": {
            "load_cos_phi": 0.95,
            "pv_cos_phi_p": [{"p_frac": 0.0, "cos_phi": 1.0}, {"p_frac": 1.0, "cos_phi": 0.95}],
        },
        "buildings": [
            {
                "id": "shop",
                "type": "business",
                "construction_year": 1990,
                "floor_area_m2": 200,
                "bus": "bus a",
                "heating": {"system": "gas_boiler"},
            }
        ],
    }


@pytest.fixture
def zero_grid_scenario(tmp_path: Path) -> Path:
    _zero_impedance_net(tmp_path / "zero.json")
    (tmp_path / "district.yaml").write_text(yaml.safe_dump(_district("zero.json")), encoding="utf-8")
    scenario = {"name": "zero", "district": "district.yaml", "start": "2025-06-01", "end": "2025-06-01T06:00"}
    path = tmp_path / "zero.yaml"
    path.write_text(yaml.safe_dump(scenario), encoding="utf-8")
    return path


def test_a_failing_no_load_power_flow_is_a_model_error(tmp_path: Path) -> None:
    net = pp.from_json(str(_zero_impedance_net(tmp_path / "zero.json")))
    with pytest.raises(ModelError, match="grid: the grid's no-load power flow fails") as info:
        BatchPowerFlow(net)
    assert info.value.exit_code == 1


@pytest.mark.e2e
def test_internal_failure_exits_1_bad_input_2(twin_exe: Path, tmp_path: Path, zero_grid_scenario: Path) -> None:
    def twin(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(twin_exe), *args], capture_output=True, text=True, cwd=tmp_path, timeout=120)

    failed = twin("scenario", "run", str(zero_grid_scenario), "--out", str(tmp_path / "out"))
    assert failed.returncode == 1, failed.stderr
    lines = failed.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in failed.stderr, failed.stderr
    assert lines[0].startswith("twin: grid: the grid's no-load power flow fails"), lines[0]
    bad = zero_grid_scenario.with_name("bad.yaml")
    bad.write_text(zero_grid_scenario.read_text(encoding="utf-8") + "output: everything\n", encoding="utf-8")
    refused = twin("scenario", "run", str(bad), "--out", str(tmp_path / "out"))
    assert refused.returncode == 2, refused.stderr
    assert refused.stderr.strip() == f"twin: {bad}: output: 'everything' is not allowed (allowed: kpis, grid, full)"
