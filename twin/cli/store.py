"""``twin import`` and ``twin store``: back-fill, export, prune, check and repair the state store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from twin.cli.common import app, store_app
from twin.core.errors import ConfigError


@app.command("import")
def import_(
    files: Annotated[
        list[Path],
        typer.Argument(help="Meter data files (the twin's CSV, German CSV, MSCONS) and device-means files (README)."),
    ],
    store: Annotated[Path, typer.Option("--store", help="State store folder.")],
    site: Annotated[
        Path | None, typer.Option("--site", help="Site file (default: the meters 'twin live' recorded in the store).")
    ] = None,
    meter_map: Annotated[
        Path | None, typer.Option("--meter-map", help="CSV meter_point;direction;meter: MeLo/MaLo to site meters.")
    ] = None,
    skip_unmapped: Annotated[
        bool, typer.Option("--skip-unmapped", help="Skip (and report) meter points the map lacks instead of failing.")
    ] = False,
    unit: Annotated[str | None, typer.Option("--unit", help="German CSV: unit of the values (kWh, Wh, kW, W).")] = None,
    decimal: Annotated[str | None, typer.Option("--decimal", help="German CSV: decimal mark, comma or point.")] = None,
    time_label: Annotated[
        str | None, typer.Option("--time-label", help="German CSV: a time labels the interval's start or end.")
    ] = None,
    meter_point: Annotated[
        str | None, typer.Option("--meter-point", help="German CSV: the meter point of files that name none.")
    ] = None,
    direction: Annotated[
        str | None, typer.Option("--direction", help="German CSV: import or export, for a neutral value column.")
    ] = None,
    wait_s: Annotated[
        float, typer.Option("--wait-s", help="While 'twin live' runs: longest wait for it to apply the import.")
    ] = 120.0,
) -> None:
    """Import meter data and device means into the state store (back-fill; meter data also while 'twin live' runs)."""
    from connectors.german_csv import CsvOptions
    from twin.importing_means import import_files

    choices = {"--decimal": (decimal, ("comma", "point")), "--time-label": (time_label, ("start", "end"))}
    choices["--direction"] = (direction, ("import", "export"))
    for option, (value, allowed) in choices.items():
        if value is not None and value not in allowed:
            raise ConfigError(f"{value!r} is not allowed", field=option, allowed=", ".join(allowed))
    if not 0 < wait_s <= 86_400:
        raise ConfigError(f"must be > 0 and <= 86400 s, got {wait_s:g}", field="--wait-s")
    csv: dict[str, object] = {"unit": unit, "decimal": decimal, "time_label": time_label}
    csv |= {"meter_point": meter_point, "direction": direction}
    summary = import_files(
        list(files),
        store,
        site_file=site,
        meter_map=meter_map,
        csv=CsvOptions(**{k: v for k, v in csv.items() if v is not None}),  # type: ignore[arg-type]
        skip_unmapped=skip_unmapped,
        wait_s=wait_s,
    )
    print(summary)


@store_app.command("export")
def store_export(
    store: Annotated[Path, typer.Option("--store", help="State store folder.")],
    table: Annotated[str, typer.Option("--table", help="1min or 15min.")],
    start: Annotated[str, typer.Option("--from", help="Period start, ISO 8601 (naive: UTC), e.g. 2026-06-01.")],
    end: Annotated[str, typer.Option("--to", help="Period end (excluded), ISO 8601 (naive: UTC).")],
    out: Annotated[Path, typer.Option("--out", help="Target file: .csv or .nc (NetCDF).")],
    channel: Annotated[
        list[str] | None, typer.Option("--channel", help="Only these channels (shell patterns, repeatable).")
    ] = None,
) -> None:
    """Export a period of a table (values and quality) to CSV or NetCDF; safe while 'twin live' writes."""
    from twin.store_export import export_table, parse_utc

    print(export_table(store, table, parse_utc(start, "--from"), parse_utc(end, "--to"), out, channels=channel))


@store_app.command("prune")
def store_prune(
    store: Annotated[Path, typer.Option("--store", help="State store folder (takes the writer lock).")],
    keep_1min_days: Annotated[
        float, typer.Option("--keep-1min-days", help="Days of 1-minute means to keep, before the newest row.")
    ] = 400.0,
) -> None:
    """Drop 1-minute rows older than the retention period (15-minute rows stay); 'twin live' does it daily."""
    import time

    from twin.core.retention import drop_old_rows, newest_time_s
    from twin.core.store import StoreLock

    if not 0 < keep_1min_days <= 36_500:
        raise ConfigError(f"must be > 0 and <= 36500 days, got {keep_1min_days:g}", field="--keep-1min-days")
    if not (store / "means_1min.zarr").is_dir():
        raise ConfigError("no 1-minute table in this store", file=str(store))
    with StoreLock(store, "twin store prune"):
        newest = newest_time_s(store)
        if newest is None:
            print(f"twin store prune: {store}: the 1-minute table is empty")
            return
        before_s = newest + 60 - keep_1min_days * 86_400  # N days up to the end of the newest minute
        done = drop_old_rows(store, before_s)
        if done.rows_dropped:  # files go one run late: a reader that just read the old marker finishes first
            time.sleep(2.0)
        files = drop_old_rows(store, before_s)
    print(
        f"twin store prune: {done.rows_dropped} row(s) dropped (rows from {files.first_row} on kept), "
        f"{done.files_deleted + files.files_deleted} file(s) deleted "
        f"({(done.bytes_freed + files.bytes_freed) / 1e6:.1f} MB)"
    )


@store_app.command("check")
def store_check(
    store: Annotated[Path, typer.Option("--store", help="State store folder.")],
    quick: Annotated[
        bool, typer.Option("--quick", help="Check records, time checksums and that chunks exist; decode no chunk.")
    ] = False,
) -> None:
    """Check every table against its commit record (reads every chunk; safe while 'twin live' runs)."""
    from twin.core.store_check import check_store

    checks = check_store(store, decode=not quick)
    for check in checks:
        print("\n".join(check.lines()))
    if not checks:
        print(f"{store}: no tables yet")
    damaged = [check.name for check in checks if not check.ok]
    if damaged:
        raise ConfigError(
            f"{len(damaged)} damaged table(s) ({', '.join(damaged)}); "
            f"'twin store repair --store {store}' fixes what it can prove",
            file=str(store),
        )


@store_app.command("repair")
def store_repair(
    store: Annotated[Path, typer.Option("--store", help="State store folder (stop 'twin live' first).")],
) -> None:
    """Repair what can be proven; says what it dropped and moves damaged files aside (deletes nothing)."""
    from twin.core.store_check import repair_store

    for line in repair_store(store):
        print(line)
