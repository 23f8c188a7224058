"""Time an ensemble: 50 year-long members of energy_neutral on a LocalCluster of 2 workers vs serial.

Issue "How sure is energy-neutral?": 50 year-long members of ``energy_neutral`` in at most
90 s on 2 local workers, cluster start included, with a peak memory per worker under 2 GiB.
The ensemble runs as ``twin scenario ensemble`` runs it (:func:`scenarios.ensemble.run_members`
inside :func:`scenarios.parallel.cluster_client`); the wall time counts from before the
cluster starts to the last member's KPIs. The serial time runs ``--serial`` members one after
the other in this process after one warm-up member (shared inputs and compiled code ready)
and is scaled to the ensemble's member count; the peak memory per worker is each worker
process's peak resident set (``ru_maxrss``) after the ensemble. Beside the wall times it prints
CPU seconds (user + sys), which depend less on what else the machine runs: each worker's at the
cluster start and after the last member, the members' CPU per member (the workers' CPU after
the start, first member's warm-up of shared inputs and compiled code included, over the member
count), and the *CPU-bound wall*, the workers' start-up CPU plus the busiest worker's member
CPU - what the ensemble takes on two otherwise idle cores. The serial time is CPU seconds too.

    .venv/bin/python bench/bench_ensemble.py [--members 50] [--workers 2] [--serial 4] [--scenario energy_neutral]
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from typing import Any

from scenarios.config import load_scenario
from scenarios.ensemble import draw_members, run_member, run_members
from scenarios.ensemble_settings import ensemble_settings
from scenarios.ensemble_summary import summarise
from scenarios.parallel import cluster_client


def _peak_rss_mib() -> float:
    """Peak resident set of this process (Linux reports kibibytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _cpu_s() -> float:
    """CPU seconds (user + sys) of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--serial", type=int, default=4, help="members timed serially (0: skip)")
    parser.add_argument("--scenario", default="energy_neutral")
    args = parser.parse_args()

    scenario = load_scenario(args.scenario)
    settings = ensemble_settings(scenario.ensemble, members=args.members)
    records = draw_members(settings)

    started = time.perf_counter()
    with cluster_client(workers=args.workers) as client:
        cluster_s = time.perf_counter() - started
        start_cpus = client.run(_cpu_s)
        done: list[float] = []

        def progress(number: int, kpis: dict[str, Any] | None, error: str | None) -> None:
            done.append(time.perf_counter() - started)

        run_started = time.perf_counter()
        # run_members opens its own client of the same cluster through the scheduler's address
        kpis = run_members(scenario, records, scheduler=client.scheduler.address, progress=progress)
        wall_s = time.perf_counter() - started
        run_s = time.perf_counter() - run_started
        peaks = client.run(_peak_rss_mib)
        cpus = client.run(_cpu_s)
    summary = summarise(scenario.name, settings, records, kpis)
    print(
        f"{args.scenario}: {len(records)} year-long members on {args.workers} local workers: {wall_s:.1f} s wall "
        f"including cluster start ({cluster_s:.1f} s) - target <= 90 s; members {run_s:.1f} s, "
        f"first member back after {done[0]:.1f} s"
    )
    print("peak memory per worker: " + ", ".join(f"{v:.0f} MiB" for v in peaks.values()) + " (target < 2048 MiB)")
    member_cpus = {w: cpus[w] - start_cpus.get(w, 0.0) for w in cpus}
    print(
        "CPU per worker (user + sys): at the cluster start "
        + ", ".join(f"{v:.1f} s" for v in start_cpus.values())
        + "; members "
        + ", ".join(f"{v:.1f} s" for v in member_cpus.values())
        + f" ({sum(member_cpus.values()) / len(records):.2f} s per member, warm-up included)"
    )
    print(
        f"CPU-bound wall (workers' start-up + busiest worker's members) "
        f"{max(start_cpus.values()) + max(member_cpus.values()):.1f} s - the wall on two idle cores; "
        f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}"
    )
    p50 = summary.percentiles.loc["energy_balance_kwh"]
    print(
        f"energy balance P10/P50/P90: {p50['p10'] / 1e3:.0f} / {p50['p50'] / 1e3:.0f} / {p50['p90'] / 1e3:.0f} MWh; "
        f"P(energy-neutral) {summary.probabilities['energy_neutral']:.0%}, "
        f"P(transformer > 100 %) {summary.probabilities['trafo_over_100']:.0%}"
    )
    if args.serial:
        run_member(scenario, records[0])  # warm: shared inputs, compiled code, prepared power flow
        start, cpu_start = time.perf_counter(), time.process_time()
        for record in records[1 : 1 + args.serial]:
            run_member(scenario, record)
        per_member = (time.perf_counter() - start) / args.serial
        cpu_per_member = (time.process_time() - cpu_start) / args.serial
        print(
            f"serial in one warm process: {per_member:.2f} s wall ({cpu_per_member:.2f} s CPU) per member -> "
            f"{per_member * len(records):.0f} s wall ({cpu_per_member * len(records):.0f} s CPU) for "
            f"{len(records)} members (measured on {args.serial}); "
            f"speed-up {per_member * len(records) / wall_s:.2f}x wall"
        )


if __name__ == "__main__":
    main()
