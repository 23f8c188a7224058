"""Notice when the live twin's site file changes (the field restarted on new ports) and load it again.

:class:`SiteWatch` checks the file every few seconds: its size and modification time, and when
they changed the SHA-256 of its content, so a ``touch`` alone reloads nothing. A changed file is
loaded and validated like at the start (:func:`connectors.site.load_site`); the live twin then
polls the new addresses
(:meth:`twin.live.LiveTwin.replace_site`). A file that does not load, or that lists other
devices (ids, kinds, buildings: the store's channels, the balance and the controller blocks
depend on them), is not taken: one log line and an alert in the snapshot say why, polling goes
on with the site as it was, and the next change of the file is checked again.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Final

from connectors.site import Site, load_site
from twin.core.errors import ConfigError

__all__ = ["DEFAULT_SITE_CHECK_S", "SiteWatch"]

logger = logging.getLogger(__name__)

#: Wall time between two checks of the site file. [s]
DEFAULT_SITE_CHECK_S: Final[float] = 2.0


class SiteWatch:
    """Watch one site file for changes.

    Parameters
    ----------
    path : str or Path
        The site file ``twin live`` was started with.
    site : Site
        The site loaded from it at the start.
    """

    def __init__(self, path: str | Path, site: Site) -> None:
        self.path = Path(path)
        self.site = site
        #: Why the latest change of the file was not taken (``None``: the file is what is polled).
        self.problem: str | None = None
        self.reloads = 0
        self._stat = self._stat_key()
        self._digest = self._read_digest()

    def check(self) -> Site | None:
        """Return the site when the file's content changed and it can be taken; else ``None``."""
        stat = self._stat_key()
        digest = self._read_digest() if stat != self._stat or stat is None else self._digest
        self._stat = stat
        if digest == self._digest:
            return None
        self._digest = digest
        if digest is None:
            self._refuse(f"{self.path}: the site file is gone; polling the devices as they were")
            return None
        try:
            site = load_site(self.path)
        except ConfigError as err:
            self._refuse(f"site file changed but not taken: {err}")
            return None
        before = [(d.id, d.kind, d.building) for d in self.site.devices]
        after = [(d.id, d.kind, d.building) for d in site.devices]
        if before != after:
            added = sorted({d[0] for d in after} - {d[0] for d in before})
            removed = sorted({d[0] for d in before} - {d[0] for d in after})
            detail = ", ".join(
                part
                for part in (
                    f"new: {', '.join(added[:3])}" if added else "",
                    f"gone: {', '.join(removed[:3])}" if removed else "",
                )
                if part
            )
            self._refuse(
                f"{self.path}: the site file lists other devices ({detail or 'kinds or buildings changed'});"
                " restart 'twin live' to take them in, polling the devices as they were"
            )
            return None
        moved = sum(
            1
            for old, new in zip(self.site.devices, site.devices, strict=True)
            if (old.host, old.port) != (new.host, new.port)
        )
        logger.warning("%s changed: polling %d device(s) at new addresses", self.path, moved)
        self.site, self.problem = site, None
        self.reloads += 1
        return site

    def _refuse(self, message: str) -> None:
        if message != self.problem:
            logger.warning("%s", message)
        self.problem = message

    def _stat_key(self) -> tuple[int, int] | None:
        try:
            stat = self.path.stat()
        except OSError:
            return None
        return stat.st_size, stat.st_mtime_ns

    def _read_digest(self) -> str | None:
        try:
            return hashlib.sha256(self.path.read_bytes()).hexdigest()
        except OSError:
            return None
