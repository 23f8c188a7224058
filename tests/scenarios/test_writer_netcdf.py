"""``result.nc`` is the file ``xarray.Dataset.to_netcdf`` writes, without importing dask.distributed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import netCDF4
import numpy as np
import pytest

from scenarios.config import parse_scenario
from scenarios.runner import SharedInputs, compute_scenario
from scenarios.writer import _clean_attrs, _encoding, _to_netcdf, result_dataset
from tests.scenarios.conftest import SHORT
from twin.core.schema import meters_from_assets


def _described(group: Any, prefix: str = "") -> list[Any]:
    """Every attribute, dimension, variable (dtype, filters, chunks, attributes, values) of a file."""
    out: list[Any] = [(prefix, {k: repr(group.getncattr(k)) for k in group.ncattrs()})]
    out.append((prefix, {k: (len(d), d.isunlimited()) for k, d in group.dimensions.items()}))
    for name, variable in group.variables.items():
        variable.set_auto_maskandscale(False)
        values = np.asarray(variable[:])
        data = values.tolist() if values.dtype == object else values.tobytes()
        attrs = {k: repr(variable.getncattr(k)) for k in variable.ncattrs()}
        out.append((prefix + name, str(variable.dtype), variable.dimensions, variable.filters(), attrs, data))
        out.append((prefix + name, variable.chunking()))
    for name, sub in group.groups.items():
        out.extend(_described(sub, prefix + name + "/"))
    return out


@pytest.mark.parametrize("level", ["grid", "full"])
def test_result_nc_is_what_to_netcdf_writes(shared: SharedInputs, tmp_path: Path, level: str) -> None:
    data = {"name": "nc", **SHORT, "output": level, "changes": {"pv": {"share_frac": 0.5}}}
    scenario = parse_scenario(data, file="t")
    result = compute_scenario(scenario, shared)
    _to_netcdf(result_dataset(result), result, tmp_path / "new.nc")
    ds = result_dataset(result)
    _clean_attrs(ds)
    ds.to_netcdf(tmp_path / "old.nc", engine="netcdf4", format="NETCDF4", encoding=_encoding(ds))
    if level == "full":
        assets = result.assets.rename({"bus": "asset_bus"})
        meters = meters_from_assets(result.assets, p_loss_kw=result.grid["p_loss_kw"].fillna(0.0).values)
        for group, data in (("assets", assets), ("meters", meters)):
            data = data.copy()
            _clean_attrs(data)
            data.to_netcdf(tmp_path / "old.nc", mode="a", group=group, engine="netcdf4", encoding=_encoding(data))
    with netCDF4.Dataset(tmp_path / "old.nc") as old, netCDF4.Dataset(tmp_path / "new.nc") as new:
        described = _described(new)
        assert described == _described(old)
    assert any(entry[0] == "assets/p_kw" for entry in described) == (level == "full")


@pytest.mark.e2e
def test_one_scenario_run_does_not_import_dask_distributed(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from twin.cli import main\n"
        "try:\n"
        f"    main(['scenario', 'run', {str(tmp_path / 's.yaml')!r}, '--out', {str(tmp_path / 'out')!r}])\n"
        "except SystemExit as stop:\n"
        "    assert stop.code == 0, stop.code\n"
        "print('distributed' in sys.modules)\n"
    )
    (tmp_path / "s.yaml").write_text(f"name: short\nstart: {SHORT['start']}\nend: {SHORT['end']}\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "short" / "result.nc").is_file()
    assert done.stdout.strip().splitlines()[-1] == "False"
