from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from scenarios.config import parse_scenario
from scenarios.parallel import cluster_client, run_in_process, run_on_dask
from tests.scenarios.conftest import SHORT

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="session")
def dask_client() -> Iterator[Any]:
    """One local cluster of two worker processes (one thread each) for the session."""
    with cluster_client(workers=2) as client:
        yield client


def _scenarios() -> list[Any]:
    shares = (0.0, 0.5, 1.0)
    return [
        parse_scenario({"name": f"p{i}", **SHORT, "output": "kpis", "changes": {"pv": {"share_frac": s}}}, file="t")
        for i, s in enumerate(shares)
    ] + [
        parse_scenario(
            {
                "name": "bad",
                **SHORT,
                "changes": {"community_battery": {"capacity_kwh": 10.0, "p_rated_kw": 5.0, "bus": "no such bus"}},
            },
            file="t",
        )
    ]


def test_run_on_dask_two_workers_matches_in_process(dask_client: Any, tmp_path: Path) -> None:
    assert len(dask_client.scheduler_info()["workers"]) == 2
    seen: list[str] = []
    results = run_on_dask(dask_client, _scenarios(), tmp_path, progress=lambda k, e: seen.append(k["scenario"]))
    assert [r["scenario"] for r in results] == ["p0", "p1", "p2", "bad"]
    assert sorted(seen) == ["bad", "p0", "p1", "p2"]
    assert "no such bus" in results[3]["error"]
    for name in ("p0", "p1", "p2"):
        assert (tmp_path / name / "kpis.json").is_file() and (tmp_path / name / "result.nc").is_file()
    assert results[0]["pv_kwp"] < results[1]["pv_kwp"] < results[2]["pv_kwp"]
    local = run_in_process(_scenarios()[1:2], None, threads=1)
    assert local[0]["energy_balance_kwh"] == pytest.approx(results[1]["energy_balance_kwh"], rel=1e-9)
    assert local[0]["input_hash"] == results[1]["input_hash"]


def test_cli_run_on_scheduler_address(dask_client: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from twin.cli import main

    path = tmp_path / "one.yaml"
    path.write_text(yaml.safe_dump({"name": "remote", **SHORT, "output": "kpis"}))
    address = dask_client.scheduler.address
    with pytest.raises(SystemExit) as info:
        main(["scenario", "run", str(path), "--scheduler", address, "--out", str(tmp_path / "out")])
    assert info.value.code == 0, capsys.readouterr().err
    assert (tmp_path / "out" / "remote" / "kpis.json").is_file()
    assert len(dask_client.scheduler_info()["workers"]) == 2  # the cluster outlives the command's client
    with pytest.raises(SystemExit) as info:
        main(["scenario", "run", str(path), "--scheduler", address, "--workers", "2"])
    assert info.value.code == 2


def _worker_settings(dask_worker: Any) -> tuple[bool, str | None, int, bool]:
    """What a worker process runs with: profiler on?, MALLOC_TRIM_THRESHOLD_, its threads, a kernel's second thread?"""
    import os

    import dask

    from models.threads import second_thread

    return (
        bool(dask.config.get("distributed.worker.profile.enabled")),
        os.environ.get("MALLOC_TRIM_THRESHOLD_"),
        dask_worker.state.nthreads,
        second_thread(),
    )


def test_local_workers_run_without_profiler_malloc_trim_or_second_kernel_thread(dask_client: Any) -> None:
    settings = dask_client.run(_worker_settings)
    assert len(settings) == 2
    assert all(value == (False, None, 1, False) for value in settings.values())
