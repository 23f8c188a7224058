"""A writer for the kill -9 tests of retention: appends 1-minute rows and drops old ones, until killed.

python -m tests.core.retention_writer STORE_DIR KEEP_ROWS

Like ``twin live``: every append (30 rows, 300 channels, value = minute index + channel / 1000)
is followed by a retention run that keeps the newest KEEP_ROWS minutes.
"""

from __future__ import annotations

import sys

import numpy as np

from twin.core.retention import drop_old_rows
from twin.core.store import MeanTable, StoreLock

CHANNELS = [f"c{i:03d}" for i in range(300)]

if __name__ == "__main__":
    store, keep_rows = sys.argv[1], int(sys.argv[2])
    with StoreLock(store, "retention_writer"):
        table = MeanTable(store, "1min", writable=True)
        sys.stdout.write(f"ready {table.rows}\n")
        sys.stdout.flush()
        while True:
            minutes = np.arange(table.rows, table.rows + 30)
            table.append(minutes * 60, {c: minutes + i / 1000 for i, c in enumerate(CHANNELS)})
            drop_old_rows(store, (table.rows - keep_rows) * 60)
