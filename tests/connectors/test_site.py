from __future__ import annotations

from pathlib import Path

import pytest

from connectors.site import Site, SiteDevice, dump_site, load_site
from twin.core.errors import ConfigError
from twin.core.vocabulary import DEFAULT_TIMEZONE

GOOD = """\
version: 1
name: test
speed: 60
start_utc: "2025-06-01T00:00:00Z"
clock: {port: 15020}
devices:
  - {id: substation, kind: substation_meter, port: 15021, map: sunspec_meter_substation}
  - {id: b1/meter, kind: building_meter, building: b1, bus: Bus 1, port: 15022, map: sunspec_meter}
  - {id: b1/pv0, kind: pv_inverter, building: b1, port: 15022, unit_id: 2, map: sunspec_inverter, p_peak_kw: 8.0}
"""


def test_load_site_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "site.yaml"
    path.write_text(GOOD)
    site = load_site(path)
    assert [d.id for d in site.devices] == ["substation", "b1/meter", "b1/pv0"]
    assert site.setting(site.devices[0], "interval_s") == 1.0
    assert site.timezone == DEFAULT_TIMEZONE
    again = load_site(dump_site(site, tmp_path / "again.yaml"))
    assert again == site


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("devices: [\n", "line 2, column 1: malformed YAML"),
        ("- a\n- b\n", "a site file must be a mapping of keys, got list"),
        ("devices: []\n", r"devices: needs at least 1 item\(s\), got 0"),
        (GOOD.replace("kind: pv_inverter", "kind: windmill"), r"devices\.2\.kind: .*allowed: .*pv_inverter, battery"),
        (
            GOOD.replace("port: 15021", "port: 99999"),
            r"devices\.0\.port: 99999 is out of range \(allowed: >= 1 and <= 65535\)",
        ),
        (GOOD.replace("building: b1, bus", "bus"), r"devices\.1: .*belongs to a building"),
        (GOOD.replace("id: b1/pv0", "id: b1/meter"), "devices.2.id: duplicate device id 'b1/meter'"),
        (GOOD.replace("unit_id: 2, ", ""), "same host, port and unit id"),
        (GOOD.replace("speed: 60", "speed: -1"), r"speed: -1 is out of range \(allowed: > 0 and <= 10000\)"),
        (
            GOOD.replace("speed: 60", "speed: 60\ntimezone: Mars/Olympus"),
            "timezone: .*unknown time zone 'Mars/Olympus'",
        ),
        (GOOD.replace("version: 1", "version: 2"), r"version: 2 is not allowed \(allowed: 1\)"),
        (
            GOOD.replace("version: 1", "version: 2\ncolour: red"),
            r"colour: unknown field 'colour' \(and 1 more problem\(s\)\)",
        ),
    ],
)
def test_bad_site_files(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "site.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=match) as info:
        load_site(path)
    assert str(info.value).startswith(str(path))
    assert "\n" not in str(info.value)


def test_missing_site_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the site file"):
        load_site(tmp_path / "none.yaml")


def test_site_model_direct() -> None:
    device = SiteDevice(id="s", kind="substation_meter", port=1, map="sunspec_meter")
    assert Site(devices=(device,)).defaults.timeout_s == 0.5
