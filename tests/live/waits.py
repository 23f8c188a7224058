"""Waiting on a running ``twin live`` process in end-to-end tests."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

WITHIN_S = 30.0


def until_alive(check: Any, what: str, live: subprocess.Popen[str], timeout_s: float = WITHIN_S) -> Any:
    """Return ``check()``'s first truthy result within ``timeout_s``; fail if ``live`` exits first or time runs out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        assert live.poll() is None, live.communicate()[1]
        time.sleep(0.05)
    pytest.fail(f"not seen within {timeout_s} s: {what}")


def snapshot_json(store: Path) -> dict[str, Any]:
    """The store's ``snapshot.json`` as written, or ``{}`` while there is none (or it is being replaced)."""
    try:
        data: dict[str, Any] = json.loads((store / "snapshot.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return data
