"""A store writer for the kill -9 tests: appends rows (value = row index) and commits, until killed.

python -m tests.core.store_writer STORE_DIR
"""

from __future__ import annotations

import sys

import numpy as np

from twin.core.store import MeanTable, StoreLock

if __name__ == "__main__":
    store = sys.argv[1]
    with StoreLock(store, "store_writer"):
        table = MeanTable(store, "1min", writable=True)
        sys.stdout.write(f"ready {table.rows}\n")
        sys.stdout.flush()
        while True:
            start = table.rows
            rows = np.arange(start, start + 7)
            # a new channel now and then, so appends also widen the table
            channels = {f"c{c}": rows.astype(float) for c in range(3 + (start // 50) % 4)}
            table.append(rows * 60, channels)
