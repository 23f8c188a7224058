"""The live twin's import inbox: ``twin import`` while ``twin live`` holds the store.

A store has one writer. While ``twin live`` runs, it keeps an inbox folder in the store
(``import-inbox/``, with ``live.json`` naming its pid). ``twin import`` reads and checks its
files itself, then hands the checked import over (:func:`submit`): it writes
``NAME.npz`` (written beside, then renamed: the live twin never sees half a request) and waits
for ``NAME.result.json``. The live twin claims a request by renaming it (``NAME.applying``),
applies it as the store's writer (:class:`twin.live_imports.ImportInbox`) and writes the
result. A request the live twin has not claimed within the wait is withdrawn by renaming it
away, so an import either is applied once or not at all.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Final

import numpy as np

from connectors.meter_import import IntervalBlock, MeterRecord
from twin.core.errors import ConfigError, TwinError
from twin.core.store import LOCK_FILE, read_json, write_json_atomic
from twin.import_sources import PreparedImport

__all__ = ["INBOX_DIR", "LIVE_FILE", "live_inbox", "load_request", "result_path", "submit", "write_request"]

#: The inbox folder in a store.
INBOX_DIR: Final[str] = "import-inbox"
#: Written by the live twin while it takes imports: its pid.
LIVE_FILE: Final[str] = "live.json"
#: Time between two looks for the result. [s]
_POLL_S: Final[float] = 0.05


def live_inbox(store: Path) -> Path | None:
    """The inbox of the ``twin live`` that holds the store's lock; None when no live twin takes imports."""
    inbox = store / INBOX_DIR
    try:
        live = read_json(inbox / LIVE_FILE, None)
        holder = (store / LOCK_FILE).read_text(encoding="utf-8", errors="replace")
    except (OSError, ValueError):
        return None
    if not isinstance(live, dict) or not holder.startswith(f"pid {live.get('pid')}: twin live"):
        return None
    return inbox


def result_path(request: Path) -> Path:
    """Where the live twin writes the result of a request."""
    return request.with_name(request.name.split(".")[0] + ".result.json")


def submit(store: Path, prepared: PreparedImport, *, wait_s: float) -> str:
    """Hand a checked import to the live twin and wait for its result; return its summary.

    Raises
    ------
    ConfigError
        The live twin refused the import (e.g. a reading below one stored before): nothing imported.
    TwinError
        The live twin did not take the import within ``wait_s`` (withdrawn: nothing imported),
        or took it and gave no result.
    """
    inbox = live_inbox(store)
    if inbox is None:
        raise ConfigError("the live twin holding the store takes no imports", file=str(store))
    request = write_request(inbox, prepared)
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        result = _result(request)
        if result is not None:
            return result
        time.sleep(_POLL_S)
    try:  # not claimed yet: withdraw it, so it is never applied
        request.rename(request.with_suffix(".withdrawn"))
        request.with_suffix(".withdrawn").unlink()
    except FileNotFoundError:  # claimed: the live twin is applying it; its result follows
        deadline = time.monotonic() + max(wait_s, 10.0)
        while time.monotonic() < deadline:
            result = _result(request)
            if result is not None:
                return result
            time.sleep(_POLL_S)
        raise TwinError(
            f"the live twin took the import but gave no result within {wait_s:g} s: see its log", file=str(request)
        ) from None
    raise TwinError(
        f"the live twin did not take the import within {wait_s:g} s (withdrawn, nothing imported):"
        " is it stuck? --wait-s sets the wait",
        file=str(store),
    )


def _result(request: Path) -> str | None:
    path = result_path(request)
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    path.unlink(missing_ok=True)
    if result.get("ok"):
        return str(result["summary"])
    error = TwinError if result.get("internal") else ConfigError
    raise error(f"the live twin did not import: {result.get('error')}")


def write_request(inbox: Path, prepared: PreparedImport) -> Path:
    """Write a request atomically into the inbox; return its path."""
    name = f"{time.time_ns()}-{os.getpid()}"
    request = inbox / f"{name}.npz"
    partial = inbox / f".{name}.part"
    block = prepared.intervals
    meta = {
        "readings": [
            [r.meter, r.time_s, r.kind, r.import_kwh, r.export_kwh, r.file, r.line] for r in prepared.readings
        ],
        "meters": prepared.meters,
        "gas": prepared.gas,
        "files": prepared.files,
        "notes": prepared.notes,
    }
    try:
        with partial.open("wb") as file:
            np.savez(
                file,
                meter=block.meter.astype(str),
                time_s=block.time_s,
                import_kwh=block.import_kwh,
                export_kwh=block.export_kwh,
                line=block.line,
                import_flag=block.flags("import_kwh"),
                export_flag=block.flags("export_kwh"),
                meta=np.asarray(json.dumps(meta, allow_nan=True)),
            )
            file.flush()
            os.fsync(file.fileno())
        partial.rename(request)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return request


def load_request(path: Path) -> PreparedImport:
    """Read a request the inbox holds."""
    with np.load(path, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    meta: dict[str, Any] = json.loads(str(arrays["meta"]))
    block = IntervalBlock(
        "",
        arrays["meter"].astype(object),
        arrays["time_s"].astype(np.int64),
        arrays["import_kwh"].astype(np.float64),
        arrays["export_kwh"].astype(np.float64),
        arrays["line"].astype(np.int64),
        arrays["import_flag"].astype(np.int8),
        arrays["export_flag"].astype(np.int8),
    )
    readings = [MeterRecord(m, int(t), k, float(i), float(e), f, int(n)) for m, t, k, i, e, f, n in meta["readings"]]
    return PreparedImport(block, readings, meta["meters"], meta["gas"], meta["files"], meta["notes"])


def write_result(request: Path, result: dict[str, Any]) -> None:
    """Write the result of a request for the waiting ``twin import``."""
    write_json_atomic(result_path(request), result)
