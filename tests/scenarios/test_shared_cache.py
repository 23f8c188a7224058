"""The disk cache of the shared inputs: same results, invalidated by changed inputs, robust to torn files."""

from __future__ import annotations

import multiprocessing
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from models.district import district_path
from models.grid_source import CACHE_DIR_ENV
from models.weather import default_weather_path
from scenarios.config import parse_scenario
from scenarios.runner import SharedInputs, compute_scenario
from scenarios.shared_cache import _read, _write, cached_shared, shared_cache_key, shared_cache_path
from tests.scenarios.conftest import SHORT

SCENARIO = parse_scenario(
    {"name": "cached", **SHORT, "changes": {"pv": {"share_frac": 0.5}, "home_batteries": {"share_frac": 0.5}}},
    file="t.yaml",
)


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, grid_cache_dir: Path, shared: SharedInputs) -> Path:
    """An empty cache folder of its own (with the session's SimBench grid, so it is not built again)."""
    folder = tmp_path / "cache"
    folder.mkdir()
    for grid in grid_cache_dir.glob("simbench-*.json"):
        shutil.copy(grid, folder / grid.name)
    monkeypatch.setenv(CACHE_DIR_ENV, str(folder))
    return folder


def _kpis(shared: SharedInputs) -> dict[str, Any]:
    kpis = compute_scenario(SCENARIO, shared).kpis
    return {k: v for k, v in kpis.items() if not k.endswith("_s")}


def test_cached_run_gives_the_kpis_of_an_uncached_run(cache: Path, shared: SharedInputs) -> None:
    path = shared_cache_path("beucha", None, 2025)
    assert path is not None and not path.exists()
    built = cached_shared("beucha", None, 2025)  # prepares and stores
    assert path.is_file() and path.parent == cache / "shared"
    stamp = path.stat().st_mtime_ns
    read = cached_shared("beucha", None, 2025)  # reads the file
    assert path.stat().st_mtime_ns == stamp and read is not built
    assert read.files_hash == shared.files_hash
    assert _kpis(read) == _kpis(built) == _kpis(cached_shared("beucha", None, 2025, use_cache=False))
    two = cached_shared("beucha", None, 2025, threads=2)
    assert two.threads == 2 and all(flow.options.threads == 2 for _net, flow in two._flows.values())


def test_no_cache_reads_and_writes_nothing(cache: Path) -> None:
    cached_shared("beucha", None, 2025, use_cache=False)
    assert not (cache / "shared").exists()


def test_changed_weather_or_district_file_is_a_new_key(tmp_path: Path, cache: Path) -> None:
    weather = tmp_path / "weather.dat"
    shutil.copy(default_weather_path(), weather)
    district = tmp_path / "district.yaml"
    shutil.copy(district_path("beucha"), district)
    key = shared_cache_key(str(district), str(weather), 2025)
    assert key is not None and key == shared_cache_key(str(district), str(weather), 2025)
    assert shared_cache_key(str(district), str(weather), 2026) != key
    data = bytearray(weather.read_bytes())
    data[-40] = ord("9") if data[-40] != ord("9") else ord("8")  # one digit of the last hour
    weather.write_bytes(bytes(data))
    changed_weather = shared_cache_key(str(district), str(weather), 2025)
    assert changed_weather not in (None, key)
    district.write_text(district.read_text(encoding="utf-8") + "\n# a comment\n", encoding="utf-8")
    assert shared_cache_key(str(district), str(weather), 2025) not in (None, key, changed_weather)
    assert shared_cache_key(str(tmp_path / "missing.yaml"), None, 2025) is None


def test_changed_grid_file_is_a_new_key(tmp_path: Path) -> None:
    district = tmp_path / "district.yaml"
    district.write_text("name: x\ngrid: {pandapower_json: grid/net.json}\n", encoding="utf-8")
    (tmp_path / "grid").mkdir()
    grid = tmp_path / "grid" / "net.json"
    grid.write_text('{"a": 1}', encoding="utf-8")
    key = shared_cache_key(str(district), None, 2025)
    assert key is not None
    grid.write_text('{"a": 2}', encoding="utf-8")
    assert shared_cache_key(str(district), None, 2025) not in (None, key)
    grid.unlink()
    assert shared_cache_key(str(district), None, 2025) is None  # left to prepare_shared to name the file


def test_changed_district_file_is_prepared_again(tmp_path: Path, cache: Path) -> None:
    district = tmp_path / "district.yaml"
    shutil.copy(district_path("beucha"), district)
    first = cached_shared(str(district), None, 2025)
    assert first.loaded.district.name == "Beucha"
    district.write_text(district.read_text(encoding="utf-8").replace("name: Beucha\n", "name: Beucha 2\n"))
    again = cached_shared(str(district), None, 2025)
    assert again.loaded.district.name == "Beucha 2"
    assert len(list((cache / "shared").glob("*.pkl"))) == 2


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage", "empty"])
def test_damaged_cache_file_reads_as_missing(cache: Path, shared: SharedInputs, damage: str) -> None:
    path = cache / "shared" / "damaged.pkl"
    _write(path, shared)
    data = path.read_bytes()
    assert _read(path) is not None
    damaged = {
        "truncate": data[: len(data) // 2],
        "flip": data[:-100] + bytes([data[-100] ^ 0xFF]) + data[-99:],
        "garbage": b"not a cache file",
        "empty": b"",
    }[damage]
    path.write_bytes(damaged)
    assert _read(path) is None


def test_corrupt_cache_file_is_rebuilt(cache: Path, shared: SharedInputs, caplog: pytest.LogCaptureFixture) -> None:
    path = shared_cache_path("beucha", None, 2025)
    assert path is not None
    _write(path, shared)
    data = path.read_bytes()
    damaged = data[:-100] + bytes([data[-100] ^ 0xFF]) + data[-99:]
    path.write_bytes(damaged)
    rebuilt = cached_shared("beucha", None, 2025)
    assert rebuilt.key == ("beucha", None, 2025) and rebuilt.files_hash == shared.files_hash
    assert "corrupt" in caplog.text
    assert path.read_bytes() != damaged and _read(path) is not None


def _write_many(path: str, shared: SharedInputs, times: int) -> None:
    for _ in range(times):
        _write(Path(path), shared)


def test_concurrent_writers_never_leave_a_torn_file(cache: Path, shared: SharedInputs) -> None:
    path = cache / "shared" / "concurrent.pkl"
    context = multiprocessing.get_context("fork")
    writers = [context.Process(target=_write_many, args=(str(path), shared, 15)) for _ in range(3)]
    for writer in writers:
        writer.start()
    reads = 0
    while any(writer.is_alive() for writer in writers):
        if path.exists():
            assert _read(path) is not None  # every file a reader sees is whole
            reads += 1
    for writer in writers:
        writer.join(timeout=60)
        assert writer.exitcode == 0
    assert reads > 0 and _read(path) is not None
    assert [p.name for p in path.parent.iterdir()] == ["concurrent.pkl"]  # no temporary files left


@pytest.mark.e2e
def test_cli_run_stores_the_cache_and_no_cache_skips_it(
    twin_exe: Path, tmp_path: Path, cache: Path, write_yaml: Any
) -> None:
    scenario = write_yaml({"name": "short", **SHORT, "output": "kpis"}, "short.yaml")
    env_run = [str(twin_exe), "scenario", "run", str(scenario), "--out", str(tmp_path / "out")]
    done = subprocess.run([*env_run, "--no-cache"], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert not (cache / "shared").exists()
    done = subprocess.run(env_run, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert len(list((cache / "shared").glob("*.pkl"))) == 1
