"""Shared inputs of the model tests: weather files read once per session."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from models.weather import read_weather

#: The shared data folder sits beside the repository (never copied into it).
SHARED_WEATHER = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "weather"


@pytest.fixture(scope="session")
def try2010_weather() -> pd.DataFrame:
    return read_weather(None, year=2023)


@pytest.fixture(scope="session")
def epw_path() -> Path:
    path = SHARED_WEATHER / "TRY2015_Leipzig_Jahr.epw"
    if not path.exists():
        pytest.skip(f"shared weather file {path} not present")
    return path
