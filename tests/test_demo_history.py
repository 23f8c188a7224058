"""``--start`` of ``twin field`` and ``twin demo``, the demo's default start, and its new store for the back-fill."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from twin.cli import main
from twin.core.errors import ConfigError
from twin.core.times import default_demo_start, parse_start_utc
from twin.demo import DemoOptions, _field_args, _keep_store_aside


def _exit(capsys: pytest.CaptureFixture[str], args: list[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as info:
        main(args)
    return int(info.value.code or 0), capsys.readouterr().err.strip()


@pytest.mark.parametrize("command", ["field", "demo"])
@pytest.mark.parametrize("text", ["garbage", "2026-13-01T10:00Z", "1900-06-01", "25.11.2026 10:00"])
def test_a_bad_start_exits_2_with_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: str, text: str
) -> None:
    args = [command, "--start", text] + (["--site", str(tmp_path / "site.yaml")] if command == "field" else [])
    code, message = _exit(capsys, args)
    assert code == 2, message
    assert message.startswith("twin: --start: ") and text in message
    assert "\n" not in message and "Traceback" not in message
    assert not (tmp_path / "site.yaml").exists()


@pytest.mark.parametrize(
    ("text", "utc"),
    [
        ("2026-11-25T10:00:00Z", "2026-11-25T10:00:00+00:00"),
        ("2026-11-25T11:00+01:00", "2026-11-25T10:00:00+00:00"),  # a local time with its offset
        ("2026-06-21T12:00:00+02:00", "2026-06-21T10:00:00+00:00"),
        ("2026-11-25T10:00", "2026-11-25T10:00:00+00:00"),  # no offset: UTC
        ("2026-11-25", "2026-11-25T00:00:00+00:00"),
    ],
)
def test_start_is_read_as_utc_or_with_its_offset(text: str, utc: str) -> None:
    assert parse_start_utc(text).isoformat() == utc


def test_the_demo_starts_today_in_daylight_by_default() -> None:
    late = datetime(2026, 11, 25, 23, 59, tzinfo=UTC)
    assert default_demo_start(late) == datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    assert default_demo_start(datetime(2026, 1, 1, 0, 5, tzinfo=UTC)) == datetime(2026, 1, 1, 10, 0, tzinfo=UTC)


def test_the_demo_field_writes_the_history_and_holds_its_clock(tmp_path: Path) -> None:
    start = parse_start_utc("2026-11-25T11:00+01:00")
    args = _field_args(DemoOptions(data_root=tmp_path), tmp_path / "site.yaml", start, tmp_path / "h.csv")
    assert args[args.index("--start") + 1] == "2026-11-25T10:00:00Z"
    assert args[args.index("--history") + 1] == str(tmp_path / "h.csv") and "--hold-clock" in args
    plain = _field_args(DemoOptions(data_root=tmp_path, history=False), tmp_path / "s.yaml", start, tmp_path / "h")
    assert "--history" not in plain and "--hold-clock" not in plain


def test_the_back_fill_begins_a_new_store_and_keeps_the_old_one(tmp_path: Path) -> None:
    store = tmp_path / "live"
    _keep_store_aside(store)  # nothing there: nothing to keep
    store.mkdir()
    _keep_store_aside(store)  # empty: stays
    assert store.is_dir() and not list(tmp_path.glob("live.until-*"))
    (store / "snapshot.json").write_text(json.dumps({"sim_time_s": 1764064800.0}), encoding="utf-8")
    _keep_store_aside(store)
    assert not store.exists()
    kept = tmp_path / "live.until-20251125T100000Z"
    assert json.loads((kept / "snapshot.json").read_text(encoding="utf-8"))["sim_time_s"] == 1764064800.0
    store.mkdir()
    (store / "snapshot.json").write_text(json.dumps({"sim_time_s": 1764064800.0}), encoding="utf-8")
    _keep_store_aside(store)  # the same time again: a second name, nothing overwritten
    assert sorted(p.name for p in tmp_path.glob("live.until-*")) == [kept.name, kept.name + "-2"]


def test_parse_names_the_option() -> None:
    with pytest.raises(ConfigError, match=r"^--from: "):
        parse_start_utc("yesterday", "--from")
