"""The live twin applies imports handed over by ``twin import`` (:mod:`twin.import_inbox`).

:class:`ImportInbox` is a listener of :class:`twin.live.LiveTwin`: after a tick has stored its
means, it looks into the inbox (every ``check_every_s``), claims each request and applies it
with the live twin's own table (:func:`twin.importing.apply_import`), as the store's single
writer. Quarters the live twin has not closed yet are skipped; the imported quarters join the
live twin's KPIs at once. While the store fails, requests wait in the inbox.
"""

from __future__ import annotations

import logging
import math
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from connectors.meter_points import site_meter_points
from twin.core.errors import ConfigError
from twin.core.live_state import LiveSnapshot
from twin.core.store import READINGS_FILE, MeanTable, write_json_atomic
from twin.core.vocabulary import STEP_S
from twin.import_inbox import INBOX_DIR, LIVE_FILE, load_request, write_result
from twin.import_sources import METER_POINTS_FILE
from twin.importing import apply_import

if TYPE_CHECKING:
    from twin.live import LiveTwin

__all__ = ["DEFAULT_CHECK_EVERY_S", "ImportInbox"]

logger = logging.getLogger(__name__)

#: Wall time between two looks into the inbox. [s]
DEFAULT_CHECK_EVERY_S: Final[float] = 0.25
_CUT_SHORT: Final[str] = (
    "the live twin stopped while applying this import: whole blocks may be stored; run the import again"
    " (quarters already stored are kept)"
)


class ImportInbox:
    """Take the imports of ``twin import`` into a live twin's store (a listener of the twin).

    Parameters
    ----------
    twin : LiveTwin
        The live twin; it holds the store's lock.
    check_every_s : float, optional
        Wall time between two looks into the inbox. [s]
    """

    def __init__(self, twin: LiveTwin, *, check_every_s: float = DEFAULT_CHECK_EVERY_S) -> None:
        self.twin = twin
        self.folder = Path(twin.store_dir) / INBOX_DIR
        self.folder.mkdir(parents=True, exist_ok=True)
        for stale in self.folder.glob("*.applying"):  # a live twin stopped while applying it
            write_result(stale, {"ok": False, "error": _CUT_SHORT})
            stale.unlink()
        site = getattr(twin, "site", None)
        if site is not None:  # the site's meter points, for twin import without --site
            write_json_atomic(Path(twin.store_dir) / METER_POINTS_FILE, site_meter_points(site.devices))
        write_json_atomic(self.folder / LIVE_FILE, {"pid": os.getpid()})
        self.check_every_s = check_every_s
        self._next_check = 0.0
        #: Imports applied and refused so far.
        self.applied = 0
        self.refused = 0

    def __call__(self, snapshot: LiveSnapshot) -> None:
        """Apply what the inbox holds (a listener: a failure is logged, never raised)."""
        if time.monotonic() < self._next_check:
            return
        self._next_check = time.monotonic() + self.check_every_s
        try:
            self.poll(snapshot)
        except Exception:  # a listener never stops the live twin
            logger.exception("import inbox failed")

    def poll(self, snapshot: LiveSnapshot | None) -> int:
        """Apply every request in the inbox, oldest first; return how many were taken."""
        requests = sorted(self.folder.glob("*.npz"))
        if not requests or not self.twin.store.flush(force=True):
            return 0  # nothing to do, or the store fails: the requests wait
        now_s = snapshot.sim_time_s if snapshot is not None else None
        open_from_s = int(now_s // STEP_S) * STEP_S if now_s is not None else None
        taken = 0
        for request in requests:
            claimed = request.with_suffix(".applying")
            try:
                request.rename(claimed)
            except FileNotFoundError:  # withdrawn by its twin import
                continue
            taken += 1
            write_result(request, self._apply(claimed, open_from_s))
            claimed.unlink(missing_ok=True)
        return taken

    def close(self) -> None:
        """Take no more imports (the live twin stops)."""
        (self.folder / LIVE_FILE).unlink(missing_ok=True)

    def _apply(self, claimed: Path, open_from_s: int | None) -> dict[str, Any]:
        store = self.twin.store
        try:
            prepared = load_request(claimed)
            table = store.tables.get("15min") or MeanTable(self.twin.store_dir, "15min", writable=True)
            store.tables["15min"] = table
            try:
                applied = apply_import(
                    prepared,
                    self.twin.store_dir,
                    table=table,
                    append=table.append,
                    write_readings=lambda readings: write_json_atomic(self.twin.store_dir / READINGS_FILE, readings),
                    open_from_s=open_from_s,
                )
            except (OSError, RuntimeError, ValueError):
                store.tables["15min"] = None  # reopened (trimmed to the last commit) by the next write
                raise
            store.rows["15min"] = table.rows
        except ConfigError as err:
            self.refused += 1
            logger.warning("import refused: %s", err)
            return {"ok": False, "error": str(err)}
        except Exception as err:
            self.refused += 1
            logger.exception("import failed")
            return {"ok": False, "error": f"{type(err).__name__}: {err}", "internal": True}
        self._join_kpis(applied.times, applied.channels, applied.values, applied.flags)
        self.applied += 1
        logger.info("import applied: %s", applied.summary)
        return {"ok": True, "summary": applied.summary}

    def _join_kpis(self, times: Any, channels: list[str], values: Any, flags: Any) -> None:
        """The imported quarters' flows join the live twin's KPIs and timeline."""
        twin = self.twin
        for row, start in enumerate(times.tolist()):
            row_values = {c: float(values[row, j]) for j, c in enumerate(channels) if math.isfinite(values[row, j])}
            if row_values:
                twin._set_flows(int(start), row_values, {c: int(flags[row, j]) for j, c in enumerate(channels)})
        if len(times):
            twin._matrix = None
            first = float(min(times))
            twin.timeline_start_s = first if twin.timeline_start_s is None else min(twin.timeline_start_s, first)
