"""``twin live --control``: what one live step of the signals costs with a ``control:`` block.

On the built-in Beucha grid with the feeder test's site (seven buildings of the stressed feeder,
three of a calm one, each with a 9 kW heat-pump meter): the wall time of one live step in the
worker (:func:`twin.live_grid.worker_step`: the power flow plus the signals) without a block
(the live twin's defaults) and with blocks that run the scenario runner's source on it (per
feeder, released step by step, pre-heating), in a calm step and in a stressed one (the feeder's
line over 95 %). A live step runs every ``--grid-every`` wall seconds (5 by default).

    .venv/bin/python bench/bench_live_control.py [--steps 200]
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

from scenarios.records import Control
from tests.live.test_live_control import _calm
from tests.live.test_live_feeders import SIM_S, _chosen, _site, _snapshot
from twin.live_grid import prepare_worker, worker_step

BLOCKS: dict[str, dict[str, Any] | None] = {
    "defaults (no --control)": None,
    "district-wide": {"signal": "district"},
    "per feeder, 14a": {"signal": "per_feeder", "section_14a": True},
    "per feeder, 14a, released 2 kW/h": {"signal": "per_feeder", "section_14a": True, "release_kw_per_h": 2.0},
    "per feeder, SG-Ready, pre-heating, released": {
        "signal": "per_feeder",
        "section_14a": True,
        "heat_pump": "sg_ready",
        "release_kw_per_h": 2.0,
        "preheat": {},
    },
}


def _per_step_ms(balance: Any, steps: int, start_s: float) -> float:
    worker_step(start_s, balance, p_peak_kw=0.0)
    started = time.perf_counter()
    for k in range(1, steps + 1):
        worker_step(start_s + 900.0 * k, balance, p_peak_kw=0.0)
    return (time.perf_counter() - started) / steps * 1e3


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    stressed, calm = _chosen()
    site = _site(stressed + calm)
    hot, cool = _snapshot(stressed, calm).balance, _calm(stressed, calm).balance
    print(f"{'control block':46s} {'calm step':>10s} {'stressed step':>14s}")
    for name, block in BLOCKS.items():
        control = None if block is None else Control.model_validate(block)
        started = time.perf_counter()
        prepare_worker("beucha", site, os.getppid(), control)
        prepare_s = time.perf_counter() - started
        calm_ms = _per_step_ms(cool, args.steps, SIM_S)
        prepare_worker("beucha", site, os.getppid(), control)
        hot_ms = _per_step_ms(hot, args.steps, SIM_S)
        print(f"{name:46s} {calm_ms:8.2f} ms {hot_ms:12.2f} ms   (prepared in {prepare_s:.2f} s)")


if __name__ == "__main__":
    main()
