"""MSCONS interchanges: several meters, both directions, DST days, statuses; bad files name the segment."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from connectors.mscons import read_mscons, segments
from twin.core.errors import ConfigError

UTC = dt.UTC


def _interval(start_utc: dt.datetime, offset_h: int, value: str, qualifier: str = "220") -> str:
    """QTY with its interval in local time with the offset, as format 303 writes it (release char before +)."""
    end_utc = start_utc + dt.timedelta(minutes=15)
    local = [(t + dt.timedelta(hours=offset_h)).strftime("%Y%m%d%H%M") for t in (start_utc, end_utc)]
    return f"QTY+{qualifier}:{value}:KWH'DTM+163:{local[0]}?+0{offset_h}:303'DTM+164:{local[1]}?+0{offset_h}:303'\n"


def _message(location: str, obis: str, quarters: list[tuple[dt.datetime, int, str, str]]) -> str:
    body = f"UNS+D'NAD+DP'LOC+172+{location}'LIN+1'PIA+5+{obis.replace(':', '?:')}:SRW'\n"
    return body + "".join(_interval(*q) for q in quarters)


def _interchange(messages: list[str]) -> str:
    head = "UNA:+.? 'UNB+UNOC:3+9900000000001:500+9900000000002:500+250330:0100+REF1++TL'\n"
    parts = [
        f"UNH+{i + 1}+MSCONS:D:04B:UN:2.4c'BGM+7+DOC{i}+9'DTM+137:202503300100?+00:303'{m}UNT+99+{i + 1}'\n"
        for i, m in enumerate(messages)
    ]
    return head + "".join(parts) + f"UNZ+{len(messages)}+REF1'\n"


def test_two_meters_both_directions_over_the_spring_dst_change(tmp_path: Path) -> None:
    # 30 March 2025: 01:45 UTC is 02:45 CET (+01); 02:00 UTC is 04:00 CEST (+02)
    before, after = dt.datetime(2025, 3, 30, 0, 45, tzinfo=UTC), dt.datetime(2025, 3, 30, 1, 0, tzinfo=UTC)
    quarters_a = [(before, 1, "0.125", "220"), (after, 2, "0.250", "67")]
    quarters_b = [(before, 1, "1,5", "220"), (after, 2, "0.001", "20")]
    text = _interchange([_message("DE0001", "1-1:1.29.0", quarters_a), _message("DE0002", "1-1:2.29.0", quarters_b)])
    path = tmp_path / "load.mscons"
    path.write_text(text, encoding="latin-1")
    values = read_mscons(path)
    assert [(v.location, v.direction, v.start_utc, v.status) for v in values] == [
        ("DE0001", "import", before, "true"),
        ("DE0001", "import", after, "substitute"),
        ("DE0002", "export", before, "true"),
        ("DE0002", "export", after, "unusable"),
    ]
    assert all(v.end_utc - v.start_utc == dt.timedelta(minutes=15) for v in values)
    assert round(sum(v.energy_kwh for v in values if v.location == "DE0001") * 1000) == 375  # to the Wh
    assert values[2].energy_kwh == pytest.approx(1.5)


def test_release_character_and_line_breaks() -> None:
    parsed = list(segments("UNA:+.? 'PIA+5+1-1?:1.29.0:SRW'\r\nDTM+163:202501010000?+01:303'", "f"))
    assert parsed[0] == (1, "PIA", [["5"], ["1-1:1.29.0", "SRW"]])
    assert parsed[1][2][0] == ["163", "202501010000+01", "303"]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("UNA:+.? 'UNH+1+ORDERS:D:96A:UN'", "segment 1 \\(UNH\\): message type 'ORDERS' is not MSCONS"),
        ("UNA:+.? 'UNH+1+MSCONS:D:04B:UN'QTY+220:1:KWH'", "segment 2 \\(QTY\\): a quantity outside"),
        (
            "UNH+1+MSCONS:D:04B:UN'LOC+172+X'LIN+1'PIA+5+1-1?:1.29.0'QTY+999:1:KWH'",
            "segment 5 \\(QTY\\): unknown quantity qualifier '999'",
        ),
        (
            "UNH+1+MSCONS:D:04B:UN'LOC+172+X'LIN+1'PIA+5+1-1?:1.29.0'QTY+220:1:KWH'DTM+163:2025013100?+01:303'",
            "malformed time",
        ),
        (
            "UNH+1+MSCONS:D:04B:UN'LOC+172+X'LIN+1'PIA+5+1-1?:1.29.0'QTY+220:1:KWH'QTY+220:2:KWH'",
            "segment 6 \\(QTY\\): the previous quantity \\(segment 5\\) has no interval end",
        ),
        ("UNH+1+MSCONS:D:04B:UN'LOC+172+X'LIN+1'PIA+5+1-1?:1.29.0'QTY+220:1:KW", "ends inside a segment"),
        ("UNB+UNOC:3'", "no MSCONS message"),
    ],
)
def test_bad_interchange_names_the_segment(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "bad.edi"
    path.write_text(text, encoding="latin-1")
    with pytest.raises(ConfigError, match=match) as info:
        read_mscons(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)
