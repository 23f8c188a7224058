"""The PV drift alarm of the live twin: alerts from the drift file of ``twin calibrate --drift --out``.

The drift check fits the PV systems' performance over the last 7 days of the store on the
calibrated model (:func:`twin.calibrate.pv_drift`, about 11 s CPU for beucha); it runs beside
``twin live`` as its own process (a reader of the store, e.g. once a day from a timer), never in
the live twin's loop. :class:`DriftWatch` is a source of the live twin's alerts
(:attr:`twin.live.LiveTwin.alert_sources`): on every snapshot it looks at the file's size and
time and reads it again only when it changed; each system the file names below its calibrated
performance becomes a ``bad`` alert with the key ``drift:<system>``, so the Live page shows it
and the alert messages (:mod:`connectors.alert_sender`) raise it once and send its recovery when
a later drift file no longer names it. A missing or unreadable file is a ``warn`` alert.
"""

from __future__ import annotations

import logging
from pathlib import Path

from twin.core.calibration_outputs import DriftFile, read_drift
from twin.core.errors import ConfigError
from twin.core.live_state import Alert

__all__ = ["DriftWatch"]

logger = logging.getLogger(__name__)


class DriftWatch:
    """The alerts of a drift file, read again when it changes.

    Parameters
    ----------
    path : str or Path
        The drift file (``twin calibrate --drift --out FILE``).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.record: DriftFile | None = None
        self.problem: str | None = None
        self._seen: tuple[int, int] | bool | None = False  # False: not looked at yet

    def alerts(self) -> list[Alert]:
        """The drift file's alarms (and a warning when it cannot be read)."""
        try:
            stat = self.path.stat()
            key: tuple[int, int] | None = (stat.st_mtime_ns, stat.st_size)
        except OSError:
            key = None
        if key != self._seen:
            self._seen = key
            self._read()
        found = [] if self.problem is None else [Alert("warn", self.problem, "drift:file")]
        if self.record is not None:
            days = self.record.days
            found += [Alert("bad", s.text(days), f"drift:{s.system}") for s in self.record.alarms]
        return found

    def _read(self) -> None:
        try:
            self.record, self.problem = read_drift(self.path), None
        except ConfigError as err:
            self.record, self.problem = None, f"no PV drift check: {err}"
            logger.warning("%s", self.problem)
        else:
            logger.info(
                "PV drift file %s: %d of %d systems below their calibrated performance (%s to %s)",
                self.path,
                len(self.record.alarms),
                len(self.record.systems),
                self.record.from_utc,
                self.record.to_utc,
            )
