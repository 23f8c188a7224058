"""Shared inputs of the scenario tests: the beucha district, weather and shapes, prepared once per session."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from scenarios.runner import SharedInputs, prepare_shared


@pytest.fixture(scope="session")
def shared() -> SharedInputs:
    return prepare_shared("beucha", None, 2025, threads=1)


@pytest.fixture
def write_yaml(tmp_path: Path) -> Any:
    """Write a mapping (or raw text) as a YAML file in the test's folder and return its path."""

    def write(data: Any, name: str = "scenario.yaml") -> Path:
        path = tmp_path / name
        path.write_text(data if isinstance(data, str) else yaml.safe_dump(data), encoding="utf-8")
        return path

    return write


#: Three days in June at 15 min: short, with sun for PV and batteries.
SHORT = {"start": "2025-06-10", "end": "2025-06-13"}
