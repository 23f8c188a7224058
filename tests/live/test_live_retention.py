"""The live twin drops old 1-minute rows once a simulated day (the retention itself: tests/core/test_retention.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.core.test_retention import DAY_S, _data_files, _digest, _write_days
from tests.live.test_kpis import _site
from twin.core.store import StoreLock, read_table
from twin.live import LiveTwin


def test_the_live_twin_drops_old_minutes_once_a_simulated_day(tmp_path: Path) -> None:

    times = _write_days(tmp_path, 4)
    quarters = _digest(tmp_path)
    files = _data_files(tmp_path / "means_1min.zarr")
    with StoreLock(tmp_path, "test"):
        twin = LiveTwin(_site(), tmp_path, keep_1min_days=1.5)
        try:
            now = float(times[-1] + 60)
            twin._drop_old_minutes(now)
            kept = read_table(tmp_path, "1min")["time"].values.astype("datetime64[s]").astype(np.int64)
            np.testing.assert_array_equal(kept, times[times >= now - 1.5 * DAY_S])
            twin._drop_old_minutes(now + 3600)  # the same simulated day: nothing happens
            assert read_table(tmp_path, "1min")["time"].size == kept.size
            assert _data_files(tmp_path / "means_1min.zarr") == files
            twin._drop_old_minutes(now + DAY_S)  # the next day: the files of yesterday's drop go
            assert _data_files(tmp_path / "means_1min.zarr") < files
        finally:
            twin.close()
        default = LiveTwin(_site(), tmp_path)
        default.close()
        assert default.keep_1min_days == 400
    assert read_table(tmp_path, "1min")["time"].size == 720  # the last day and a half before now + 1 day
    assert _digest(tmp_path) == quarters
