"""The one YAML reading path: bounded alias expansion and nesting, duplicate keys, dates as text."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from twin.core.config_loader import read_config
from twin.core.errors import ConfigError
from twin.core.yaml_files import (
    MAX_YAML_DEPTH,
    MAX_YAML_NODES,
    YamlLimitError,
    parse_yaml,
    short_repr,
)


def alias_bomb(levels: int, width: int = 9) -> str:
    """A "billion laughs" list: ``width ** levels`` strings from about ``10 * levels`` aliases."""
    text = "&a0 [" + ", ".join(['"lol"'] * width) + "]"
    for level in range(1, levels):
        text = f"&a{level} [{text}, " + ", ".join([f"*a{level - 1}"] * (width - 1)) + "]"
    return text


def test_alias_bomb_stops_at_the_node_limit_quickly() -> None:
    started = time.monotonic()
    with pytest.raises(YamlLimitError, match=f"more than {MAX_YAML_NODES} values") as info:
        parse_yaml(f"name: x\ndescription: {alias_bomb(10)}\n")
    assert time.monotonic() - started < 2.0
    assert info.value.problem_mark is not None and info.value.problem_mark.line == 1


def test_merge_key_bomb_stops_at_the_node_limit() -> None:
    keys = ", ".join(f"k{i}: {i}" for i in range(9))
    levels = "".join(f"m{i + 1}: &m{i + 1} {{<<: [{', '.join([f'*m{i}'] * 9)}]}}\n" for i in range(8))
    with pytest.raises(YamlLimitError, match="more than"):
        parse_yaml(f"m0: &m0 {{{keys}}}\n{levels}")


def test_aliases_below_the_limit_are_shared_not_copied() -> None:
    data = parse_yaml(f"x: {alias_bomb(4)}\ny: &p [1, 2]\nz: *p\n")
    assert len(data["x"]) == 9 and data["z"] == [1, 2]


def test_alias_inside_its_own_node_is_refused() -> None:
    with pytest.raises(YamlLimitError, match=r"alias \*a lies inside the node it names"):
        parse_yaml("a: &a [1, *a]\n")


@pytest.mark.parametrize("style", ["flow", "block"])
def test_deep_nesting_is_refused_before_the_recursion_limit(style: str) -> None:
    text = "x: " + "[" * 10000 + "]" * 10000 if style == "flow" else "- " * 10000 + "x"
    with pytest.raises(YamlLimitError, match=rf"under (x\.)?0\.0\.0.*: .* deeper than {MAX_YAML_DEPTH} levels"):
        parse_yaml(text)
    parse_yaml("x: " + "[" * (MAX_YAML_DEPTH - 1) + "]" * (MAX_YAML_DEPTH - 1))


def test_duplicate_key_is_refused_with_its_line() -> None:
    with pytest.raises(YamlLimitError, match="duplicate key 'a'") as info:
        parse_yaml("a: 1\nb: {c: 2}\na: 3\n")
    assert info.value.problem_mark is not None and info.value.problem_mark.line == 2
    with pytest.raises(YamlLimitError, match="duplicate key 'c'"):
        parse_yaml("b: {c: 2, c: 2}\n")


def test_merge_keys_may_be_overridden() -> None:
    assert parse_yaml("base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  y: 3\n")["other"] == {"x": 1, "y": 3}


def test_dates_and_times_stay_the_text_written() -> None:
    data = parse_yaml("start: 2025-06-01\nend: 2025-06-02 06:15:00\nat: 2025-06-01T00:00:00+02:00\nyear: 2025\n")
    assert data == {
        "start": "2025-06-01",
        "end": "2025-06-02 06:15:00",
        "at": "2025-06-01T00:00:00+02:00",
        "year": 2025,
    }


def test_short_repr_is_bounded_for_a_huge_shared_value() -> None:
    value = parse_yaml(f"x: {alias_bomb(6)}")["x"]  # 531,441 strings
    started = time.monotonic()
    text = short_repr(value)
    assert len(text) <= 60 and text.startswith("[[[")
    assert time.monotonic() - started < 0.1


def test_read_config_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "site.yaml"
    path.write_text("devices: []\ndevices: []\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"site.yaml: line 2, column 1: duplicate key 'devices'"):
        read_config(path, what="site file")


def test_syntax_errors_stay_yaml_errors() -> None:
    with pytest.raises(yaml.YAMLError):
        parse_yaml("a: [unclosed\n")
