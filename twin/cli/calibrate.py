"""``twin calibrate``: fit the district to a store's meters; ``--drift``: PV systems below their calibrated yield."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from twin.cli.common import app


@app.command()
def calibrate(
    store: Annotated[Path, typer.Option("--store", help="The state store (only read, never written).")],
    district: Annotated[str, typer.Option(help="The store's district: built-in name or district file.")] = "beucha",
    start: Annotated[
        str | None, typer.Option("--from", help="Start of the period, ISO 8601 (UTC); default the store's first data.")
    ] = None,
    end: Annotated[
        str | None, typer.Option("--to", help="End of the period (exclusive); default after the store's last data.")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Calibration file (YAML) to write, with its daily comparison NAME.daily.csv beside it; "
            "with --drift: the drift file (JSON) for 'twin live --drift'.",
        ),
    ] = None,
    weather: Annotated[
        Path | None,
        typer.Option(
            help="Weather of the period where the store has no weather station; default DWD TRY2010 region 4."
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the model's profiles (as the field's --seed).")] = 0,
    holdout_every: Annotated[
        int, typer.Option("--holdout-every", help="Hold every n-th week out of the fit for the goodness of fit.")
    ] = 4,
    drift: Annotated[
        bool,
        typer.Option(
            "--drift", help="Instead: each PV system's performance over the last 7 days against its calibrated value."
        ),
    ] = False,
    calibration: Annotated[
        Path | None, typer.Option(help="With --drift: the calibration file (default: the district file's values).")
    ] = None,
) -> None:
    """Fit household electricity, space heat and PV performance to the store's meters.

    Prints the factors that differ and the goodness of fit (ASHRAE Guideline 14) on held-out
    weeks; --out writes the calibration file that 'twin district show --calibration' and scenario
    files ('calibration: FILE') read.
    """
    from models.district import load_district, read_district
    from twin.calibrate_data import check_store_district, store_period
    from twin.core.errors import ConfigError

    if holdout_every < 0 or holdout_every == 1:
        raise ConfigError(f"must be 0 (none) or >= 2, got {holdout_every}", field="--holdout-every")
    # the store, the period and the district's buildings are checked before the grid is built (seconds)
    store_period(store, None if drift else start, end)
    check_store_district(store, read_district(district))
    loaded = load_district(district)
    console = Console(highlight=False, soft_wrap=True)
    if drift:
        _drift(console, store, loaded, calibration, end, weather, seed, out)
        return
    if calibration is not None:
        raise ConfigError("only with --drift", field="--calibration")
    from twin.calibrate import calibrate as run
    from twin.calibrate import report_lines, write_calibration

    result = run(store, loaded, start=start, end=end, weather=weather, seed=seed, holdout_every=holdout_every)
    for line in report_lines(result):
        console.print(line)
    if out is not None:
        console.print(f"  calibration file {write_calibration(result, out)}")


def _drift(
    console: Console,
    store: Path,
    loaded: object,
    calibration: Path | None,
    end: str | None,
    weather: Path | None,
    seed: int,
    out: Path | None,
) -> None:
    from models.district import LoadedDistrict
    from twin.calibrate import DRIFT_DAYS, DRIFT_THRESHOLD_FRAC, drift_file
    from twin.core.store import write_json_atomic

    assert isinstance(loaded, LoadedDistrict)
    record = drift_file(store, loaded, calibration=calibration, end=end, weather=weather, seed=seed)
    findings = record.systems
    alarms = record.alarms
    basis = f"calibration {calibration}" if calibration is not None else "the district file"
    console.print(
        f"PV drift over the last {DRIFT_DAYS} days against {basis}: {len(alarms)} of {len(findings)} systems "
        f"more than {DRIFT_THRESHOLD_FRAC:.0%} below"
    )
    for finding in findings:
        if finding.alarm:
            console.print(
                f"  DRIFT {finding.system}: {finding.ratio:.2f} of its calibrated performance (+- {finding.se:.2f})"
            )
        elif finding.ratio is None:
            console.print(f"  {finding.system}: {finding.reason}")
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        console.print(f"  drift file {write_json_atomic(out, record.to_json())}")
