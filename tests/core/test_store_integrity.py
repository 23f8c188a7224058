"""Store integrity: a damaged commit record, chunk or zarr.json never loses or invents a committed row silently.

Every case damages a real store written by the real writer, then checks the reader, the writer,
``twin import`` (exit 2, one line naming the file, the store untouched) and ``twin store
check/repair`` (what the repair keeps reads back unchanged, never as 1970 or silent NaN).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import zarr

from twin import cli
from twin.core.errors import ConfigError
from twin.core.store import MeanTable, StoreLock, read_table
from twin.core.store_check import repair_store
from twin.core.store_layout import TABLE_LAYOUTS

START_S = 1748736000  # 2025-06-01T00:00Z
CHANNELS = ["flow:b01/import_kwh", "flow:b01/export_kwh", "b01/meter/p_kw"]


def _write_store(store: Path, *, beyond_a_time_chunk: bool = False) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Both tables, each from two appends that widen it; returns table -> (times, values) as committed.

    ``beyond_a_time_chunk``: each table holds more rows than one file of its time array, so that a
    lost time file has neighbours the repair can prove its times from.
    """
    store.mkdir()
    (store / "meters.json").write_text('{"b01/meter": "b01"}')
    written = {}
    with StoreLock(store, "test"):
        for name, step_s, rows in (("15min", 900, 300), ("1min", 60, 400)):
            rows += TABLE_LAYOUTS[name].time_chunk_rows if beyond_a_time_chunk else 0
            table = MeanTable(store, name, writable=True)
            times = START_S + np.arange(rows, dtype=np.int64) * step_s
            values = np.arange(rows * len(CHANNELS), dtype=float).reshape(rows, len(CHANNELS))
            half = rows // 2
            table.append(times[:half], {c: values[:half, i] for i, c in enumerate(CHANNELS[:2])})
            table.append(times[half:], {c: values[half:, i] for i, c in enumerate(CHANNELS)})
            values[:half, 2] = np.nan
            written[name] = (times, values)
    return written


def _first_file(folder: Path) -> Path:
    """The first stored object of an array (chunk or shard, whatever the layout)."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name != "zarr.json")[0]


CASES = [
    "commit missing",
    "commit torn",
    "commit empty",
    "commit claims more rows",
    "commit of the first format claims more rows",
    "time chunk deleted",
    "time chunk garbage",
    "time chunk truncated",
    "value chunk deleted",
    "value chunk garbage",
    "quality chunk deleted",
    "quality chunk garbage",
    "quality chunk truncated",
    "arrays shorter than the record",
    "group zarr.json empty",
    "value zarr.json torn",
    "time zarr.json deleted",
]


def _damage(store: Path, name: str, case: str) -> str:
    """Damage one table as ``case`` says; return the path (in the store) the error message must name."""
    commit, table = store / f"means_{name}.commit.json", store / f"means_{name}.zarr"
    target = commit if case.startswith("commit") else table / case.split()[0]
    if case == "commit missing":
        commit.unlink()
    elif case == "commit torn":
        commit.write_text(commit.read_text()[:40])
    elif case == "commit empty":
        commit.write_text("")
    elif case == "commit claims more rows":  # edited without its check value
        commit.write_text(json.dumps({**json.loads(commit.read_text()), "rows": 900}))
    elif case == "commit of the first format claims more rows":
        commit.write_text(json.dumps({"rows": 900, "channels": CHANNELS}))
    elif case.endswith("chunk deleted"):
        _first_file(target).unlink()
    elif case.endswith("chunk garbage"):
        _first_file(target).write_bytes(b"\x28\xb5\x2f\xfdgarbage")  # a zstd magic number, then junk
    elif case.endswith("chunk truncated"):
        _first_file(target).write_bytes(b"")
    elif case == "arrays shorter than the record":  # e.g. an older copy of the table put back
        group = zarr.open_group(str(table), mode="r+")
        for array in group.array_values():
            array.resize((250, *array.shape[1:]))
        target = table / "time"
    elif case == "group zarr.json empty":
        target = table / "zarr.json"
        target.write_text("")
    elif case == "value zarr.json torn":
        target = table / "value" / "zarr.json"
        target.write_text('{"shape": [')
    elif case == "time zarr.json deleted":
        target = table / "time" / "zarr.json"
        target.unlink()
    else:
        raise AssertionError(case)
    return str(target.relative_to(store))


def _fingerprint(store: Path) -> dict[str, str]:
    return {
        str(p.relative_to(store)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(store.rglob("*"))
        if p.is_file() and p.name != "writer.lock"
    }


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    out, err = capsys.readouterr()
    return int(info.value.code or 0), out, err


@pytest.mark.parametrize("name", ["15min", "1min"])
@pytest.mark.parametrize("case", CASES)
def test_damage_is_refused_by_reader_and_writer_and_repaired_without_silent_loss(
    tmp_path: Path, name: str, case: str, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "store"
    written = _write_store(store, beyond_a_time_chunk=case.startswith("time chunk"))
    named = _damage(store, name, case)
    before = _fingerprint(store)

    with pytest.raises(ConfigError) as err:  # the reader
        read_table(store, name)
    message = str(err.value)
    assert err.value.exit_code == 2 and "\n" not in message
    assert named in message and f"twin store repair --store {store}" in message
    with StoreLock(store, "test"):  # the writer (twin live opens both tables like this)
        try:
            MeanTable(store, name, writable=True)
        except ConfigError as writer_err:
            assert named in str(writer_err) and "twin store repair" in str(writer_err)
        else:  # an unreadable value or quality chunk away from the table's end is never read by an appending writer
            assert case.split()[0] in ("value", "quality") and case.endswith(("garbage", "truncated"))
    assert _fingerprint(store) == before  # neither changed a thing

    code, out, err_text = _run(["store", "check", "--store", str(store)], capsys)
    assert code == 2 and named in out and "1 damaged table(s)" in err_text

    code, out, _ = _run(["store", "repair", "--store", str(store)], capsys)
    assert code == 0, out
    report = out
    times, values = written[name]
    try:
        ds = read_table(store, name)
    except ConfigError as err_after:  # what cannot be proven stays refused, and the repair said so
        assert "NOT REPAIRED" in report and named.split("/")[0] in str(err_after)
        return
    read_times = ds["time"].values.astype("datetime64[s]").astype(np.int64)
    assert read_times.min() >= START_S  # never a 1970 row
    assert np.isin(read_times, times).all()  # never an invented row
    rows = np.searchsorted(times, read_times)
    read_values = ds["value"].sel(channel=CHANNELS).values
    missing = np.isnan(read_values) & ~np.isnan(values[rows])
    kept = ~np.isnan(read_values)
    np.testing.assert_array_equal(read_values[kept], values[rows][kept])
    lost_rows = times.size - read_times.size
    if lost_rows:
        assert "left out of reads" in report or f"rows 250-{times.size - 1} do not exist any more" in report
    if missing.any():
        assert "now read as missing" in report
        assert (ds["quality"].sel(channel=CHANNELS).values[missing] == 2).all()
    if case.startswith("time"):  # regular times: the lost ones follow from their neighbours and the checksums
        assert "rebuilt" in report and "proven by the record's checksums" in report and not lost_rows
    elif case.startswith("group"):  # the group's metadata follows from the record
        assert "zarr.json rebuilt from the commit record" in report and not lost_rows and not missing.any()
    elif not case.startswith("commit"):  # a chunk repair reports what it cost
        assert lost_rows or missing.any()
    code, out, _ = _run(["store", "check", "--store", str(store)], capsys)
    assert code == 0 and f"means_{name}: " in out and "consistent" in out
    with StoreLock(store, "test"):  # the writer goes on after the repair
        table = MeanTable(store, name, writable=True)
        table.append([times[-1] + 86400], {CHANNELS[0]: [1.0]})


@pytest.mark.parametrize("case", CASES)
def test_twin_import_refuses_a_damaged_table_with_exit_2(
    tmp_path: Path, case: str, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "store"
    _write_store(store)
    named = _damage(store, "15min", case)
    before = _fingerprint(store)
    csv = tmp_path / "data.csv"
    csv.write_text("meter,time,import_kwh,export_kwh,kind\nb01/meter,2025-07-01T00:00:00Z,0.25,0,interval\n")
    code, out, err = _run(["import", "--store", str(store), str(csv)], capsys)
    assert code == 2, (out, err)
    assert err.count("\n") == 1 and named in err and "twin store repair" in err
    assert _fingerprint(store) == before  # nothing trimmed, nothing appended


def test_twin_import_after_a_missing_commit_file_keeps_every_row(tmp_path: Path, twin_exe: Path) -> None:
    store = tmp_path / "store"
    written = _write_store(store)
    (store / "means_15min.commit.json").unlink()
    csv = tmp_path / "data.csv"
    csv.write_text("meter,time,import_kwh,export_kwh,kind\nb01/meter,2025-07-01T00:00:00Z,0.25,0,interval\n")
    result = subprocess.run(
        [twin_exe, "import", "--store", str(store), str(csv)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 2 and "means_15min.commit.json" in result.stderr
    repair = subprocess.run(
        [twin_exe, "store", "repair", "--store", str(store)], capture_output=True, text=True, timeout=60, check=False
    )
    assert repair.returncode == 0 and "rebuilt from the arrays: 300 rows, 3 channels" in repair.stdout
    result = subprocess.run(
        [twin_exe, "import", "--store", str(store), str(csv)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    ds = read_table(store, "15min")
    assert ds.sizes["time"] == 301
    np.testing.assert_array_equal(ds["value"].sel(channel=CHANNELS[0]).values[:300], written["15min"][1][:, 0])


def test_append_cut_short_without_commit_file_is_dropped_by_repair(tmp_path: Path) -> None:
    """Times are written last: rows without a time were never complete, and the repair says so."""
    store = tmp_path / "store"
    _write_store(store)
    with StoreLock(store, "test"):
        table = MeanTable(store, "15min", writable=True)
        group = table.open_group("r+")
        for array_name in ("time", "value", "quality"):  # what a writer killed before writing the times leaves
            array = group[array_name]
            array.resize((310, *array.shape[1:]))  # type: ignore[union-attr]
    (store / "means_15min.commit.json").unlink()
    lines = "\n".join(repair_store(store))
    assert "300 rows" in lines and "10 dropped" in lines
    assert read_table(store, "15min").sizes["time"] == 300


def test_old_commit_record_is_upgraded_by_the_writer(tmp_path: Path) -> None:
    store = tmp_path / "store"
    written = _write_store(store)
    (store / "means_15min.commit.json").write_text(json.dumps({"rows": 300, "channels": CHANNELS}))
    with StoreLock(store, "test"):
        MeanTable(store, "15min", writable=True)
    record = json.loads((store / "means_15min.commit.json").read_text())
    assert record["format"] == 2 and record["rows"] == 300 and len(record["time_sums"]) == 1
    ds = read_table(store, "15min")
    np.testing.assert_array_equal(ds["value"].sel(channel=CHANNELS[0]).values, written["15min"][1][:, 0])


def test_store_that_cannot_be_locked_for_writing_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A store whose lock file cannot be opened for writing (read-only, no permission; here a folder in its place)."""
    store = tmp_path / "store"
    _write_store(store)
    (store / "writer.lock").unlink()
    (store / "writer.lock").mkdir()
    csv = tmp_path / "data.csv"
    csv.write_text("meter,time,import_kwh,export_kwh,kind\nb01/meter,2025-07-01T00:00:00Z,0.25,0,interval\n")
    code, _, err = _run(["import", "--store", str(store), str(csv)], capsys)
    assert code == 2 and err.count("\n") == 1 and "writer.lock: cannot lock the store for writing" in err


def test_lost_times_that_cannot_be_proven_are_left_out_and_said(tmp_path: Path) -> None:
    store = tmp_path / "store"
    rng = np.random.default_rng(3)
    times = START_S + 900 * rng.permutation(500)[:300].astype(np.int64)  # back-fill: no regular steps
    with StoreLock(store, "test"):
        MeanTable(store, "15min", writable=True).append(times, {CHANNELS[0]: np.arange(300.0)})
    _first_file(store / "means_15min.zarr" / "time").unlink()
    lines = "\n".join(repair_store(store))
    ds = read_table(store, "15min")
    kept = ds.sizes["time"]
    assert "left out of reads" in lines and kept < 300 and f"rows 0-{300 - kept - 1}" in lines
    order = np.argsort(times[300 - kept :])
    np.testing.assert_array_equal(ds["value"].values[:, 0], np.arange(300.0)[300 - kept :][order])


def test_rows_dropped_by_retention_are_not_damage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A retention marker moves past old rows and their files go: readers, writers and the check agree."""
    store = tmp_path / "store"
    store.mkdir()
    rows, first_row = 1500, 1000  # more rows than two 1-minute shards hold, so whole files can go
    times = START_S + 60 * np.arange(rows, dtype=np.int64)
    values = np.arange(rows, dtype=float)
    with StoreLock(store, "test"):
        MeanTable(store, "1min", writable=True).append(times, {CHANNELS[0]: values})
    table = store / "means_1min.zarr"
    (table / "retention.json").write_text(json.dumps({"first_row": first_row}))
    group = zarr.open_group(str(table), mode="r")
    deleted = 0
    for array in (group[name] for name in ("time", "value", "quality")):  # files of rows before the marker only
        rows_per_file = int((array.shards or array.chunks)[0])
        for path in (table / array.basename).rglob("*"):
            if path.is_file() and path.name != "zarr.json":
                row_file = int(path.relative_to(table / array.basename).parts[1])
                if (row_file + 1) * rows_per_file <= first_row:
                    path.unlink()
                    deleted += 1
    assert deleted
    ds = read_table(store, "1min")
    assert ds.sizes["time"] == rows - first_row
    np.testing.assert_array_equal(ds["time"].values.astype("datetime64[s]").astype(np.int64), times[first_row:])
    np.testing.assert_array_equal(ds["value"].sel(channel=CHANNELS[0]).values, values[first_row:])
    code, out, _ = _run(["store", "check", "--store", str(store)], capsys)
    assert code == 0, out
    with StoreLock(store, "test"):
        MeanTable(store, "1min", writable=True).append([times[-1] + 60], {CHANNELS[0]: [1.0]})
    assert read_table(store, "1min").sizes["time"] == rows - first_row + 1


@pytest.mark.parametrize("name", ["15min", "1min"])
def test_live_twin_refuses_a_table_without_its_commit_record(tmp_path: Path, name: str) -> None:
    """``twin live`` opens both tables for writing: a missing record stops it before it trims anything."""
    from connectors.site import Site
    from twin.live import LiveTwin

    store = tmp_path / "store"
    _write_store(store)
    (store / f"means_{name}.commit.json").unlink()
    before = _fingerprint(store)
    site = Site(
        devices=[{"id": "b01/meter", "kind": "building_meter", "building": "b01", "port": 1502, "map": "sunspec_meter"}]
    )
    with (
        StoreLock(store, "twin live"),
        pytest.raises(ConfigError, match=f"means_{name}.commit.json.*twin store repair"),
    ):
        LiveTwin(site, store)
    assert _fingerprint(store) == before


def test_quick_check_finds_missing_chunks_without_decoding(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "store"
    _write_store(store)
    assert _run(["store", "check", "--quick", "--store", str(store)], capsys)[0] == 0
    named = _damage(store, "1min", "quality chunk deleted")
    code, out, _ = _run(["store", "check", "--quick", "--store", str(store)], capsys)
    assert code == 2 and named in out and "quality chunk missing" in out
