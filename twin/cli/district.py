"""``twin district``: the district's buildings, households, assets and grid."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from twin.cli.common import _join, district_app


@district_app.command("show")
def district_show(
    district: Annotated[str, typer.Argument(help="Built-in district name or district file.")] = "beucha",
    year: Annotated[
        bool, typer.Option("--year/--no-year", help="Compute the district's year from 15-minute profiles.")
    ] = True,
    weather: Annotated[
        Path | None,
        typer.Option(help="Weather file (DWD TRY .dat, EPW, TMY3 .csv, PVGIS .json); default DWD TRY2010 region 4."),
    ] = None,
    calendar_year: Annotated[int, typer.Option("--calendar-year", help="Calendar year of the profiles (UTC).")] = 2025,
    seed: Annotated[int, typer.Option(help="Seed of load variation and EV mobility.")] = 0,
    calibration: Annotated[
        Path | None, typer.Option(help="Calibration file of 'twin calibrate': the district as its meters measure it.")
    ] = None,
) -> None:
    """The district in a few lines: buildings, households, assets, demand, grid, and its year."""
    from models.building_estimates import AGE_CLASSES, summarize_district
    from models.district import BUILDING_TYPES, LoadedDistrict, load_district
    from models.grid_source import grid_summary

    loaded = load_district(district)
    if calibration is not None:
        from models.calibration_file import calibrated_district

        calibrated = calibrated_district(loaded.district, calibration)
        loaded = LoadedDistrict(calibrated, loaded.net, f"{loaded.source}, calibrated by {calibration}")
    summary = summarize_district(loaded.district)
    grid = grid_summary(loaded.net)
    kind = "CGMES file" if loaded.district.grid.cgmes else "pandapower file"
    source = loaded.district.grid.simbench_code or f"{kind} {loaded.district.grid.file}"
    years = {code: f"{first}-{last}" if first else f"-{last}" for code, first, last in AGE_CLASSES}
    years["DE.12"] = f"{AGE_CLASSES[-1][1]}+"
    mwh = summary.electricity_kwh_per_a / 1000.0
    hp_mwh = summary.heat_pump_electricity_kwh_per_a / 1000.0
    ev_mwh = summary.ev_electricity_kwh_per_a / 1000.0
    lines = [
        f"[bold]{loaded.district.name}[/bold] ({loaded.source}): {summary.n_buildings} buildings, "
        f"{summary.n_households} households, {summary.n_persons} residents",
        "  types     "
        + _join(
            {kind: summary.buildings_by_type[kind] for kind in BUILDING_TYPES if kind in summary.buildings_by_type}
        ),
        "  built     " + _join({years[code]: n for code, n in summary.buildings_by_age_class.items()}),
        f"  roofs     {summary.roof_area_m2:,.0f} m2, PV potential {summary.pv_potential_kwp:,.0f} kWp",
        f"  today     PV {summary.pv_today_kwp:,.1f} kWp ({summary.n_pv_systems} systems), "
        f"batteries {summary.battery_capacity_kwh:,.0f} kWh ({summary.n_batteries}), "
        f"heat pumps {summary.n_heat_pumps}, gas boilers {summary.n_gas_boilers}, other heating "
        f"{summary.n_other_heating}, EVs {summary.n_evs}, chargers {summary.n_chargers}",
        f"  demand    electricity {mwh:,.0f} MWh/a (+ heat pumps {hp_mwh:,.0f}, EVs {ev_mwh:,.0f}),"
        f" heat {summary.heat_kwh_per_a / 1000.0:,.0f} MWh/a",
        f"  grid      {source}: {grid.n_buses} buses, {grid.n_feeders} feeders, {grid.n_lines} lines "
        f"({grid.line_length_km:,.2f} km), transformer {grid.transformer_s_rated_kva:,.0f} kVA",
    ]
    console = Console(highlight=False, soft_wrap=True)
    for line in lines:
        console.print(line)
    if year:
        for line in _district_year(loaded.district, weather=weather, calendar_year=calendar_year, seed=seed):
            console.print(line)


def _district_year(district: Any, *, weather: Path | None, calendar_year: int, seed: int) -> list[str]:
    """Profiles of every asset for a year, summed up at the substation (before grid losses)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from models.profiles import PROFILE_STAGES, ProfileOptions, district_profiles, prepare_inputs
    from twin.core.kpi import GEG_2024, boundary_flows, energy_kpis
    from twin.core.vocabulary import STEP_MIN, kpi

    with Progress(
        TextColumn("{task.description:<40}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as progress:
        task = progress.add_task("weather and load shapes", total=len(PROFILE_STAGES) + 2)
        inputs = prepare_inputs(district, weather=weather, year=calendar_year)

        def advance(label: str) -> None:
            progress.update(task, advance=1, description=label)

        advance("profiles")
        profiles = district_profiles(district, inputs, ProfileOptions(year=calendar_year, seed=seed), progress=advance)
        assets = profiles.assets
        p_peak_kw = float(assets["p_peak_kw"].sum())
        kpis = energy_kpis(boundary_flows(assets), factors=GEG_2024, p_peak_kw=p_peak_kw or None)
        advance("KPIs")
    dt_h = float(kpis.attrs["dt_h"])
    mwh = (assets["p_kw"].astype("float64").groupby("kind").sum(("asset", "time")) * dt_h / 1000.0).to_series()
    gas_mwh = float(kpis["fuel_kwh"]) / 1000.0
    k = {name: float(kpis[name]) for name in kpis.data_vars}
    neutral = "energy-neutral" if k["energy_balance_kwh"] <= 0 else "not energy-neutral"
    yield_text = f", {k['full_load_hours_h']:,.0f} kWh/kWp" if p_peak_kw else ""
    return [
        f"  year      {calendar_year}, {STEP_MIN}-minute steps, weather {inputs.weather_source}, seed {seed}",
        f"  energy    loads {mwh.get('load', 0.0):,.0f} MWh, heat pumps {mwh.get('heat_pump', 0.0):,.0f}, "
        f"EVs {mwh.get('ev', 0.0):,.0f}, battery losses {mwh.get('battery', 0.0):,.1f}, "
        f"PV {-mwh.get('pv', 0.0):,.0f} MWh{yield_text}, gas {gas_mwh:,.0f} MWh",
        f"  balance   electricity import {k['import_kwh'] / 1000:,.0f} MWh, export {k['export_kwh'] / 1000:,.0f} MWh, "
        f"balance {k['electricity_balance_kwh'] / 1000:+,.0f} MWh; all carriers {k['energy_balance_kwh'] / 1000:+,.0f}"
        f" MWh: {neutral} (substation, before grid losses)",
        f"  KPIs      self-sufficiency {kpi('self_sufficiency_frac').display(k['self_sufficiency_frac'])} %,"
        f" self-consumption {kpi('self_consumption_frac').display(k['self_consumption_frac'])} %,"
        f" peak import {k['peak_import_kw']:,.0f} kW, CO2 "
        f"{k['co2_kg'] / 1000:,.0f} t (GEG 2024: grid {GEG_2024.co2_grid_g_per_kwh:.0f} g/kWh, "
        f"gas {GEG_2024.co2_gas_g_per_kwh:.0f} g/kWh)",
    ]


@district_app.command("template")
def district_template(
    file: Annotated[Path, typer.Argument(help="Building list to write: .csv, or .xlsx (with a sheet that explains)")],
) -> None:
    """Write an annotated empty building list (one example row) to fill in for `twin district import`."""
    from models.building_list import write_template

    written = write_template(file)
    Console(highlight=False).print(f"wrote {written}: one row per building; columns explained in the file")


@district_app.command("export")
def district_export(
    file: Annotated[Path, typer.Argument(help="Building list to write: .csv or .xlsx")],
    district: Annotated[str, typer.Option(help="Built-in district name or district file.")] = "beucha",
) -> None:
    """Write a district's buildings as a building list (reads back with `twin district import`)."""
    from models.building_list import write_building_list
    from models.district import load_district

    loaded = load_district(district)
    written = write_building_list(loaded.district.buildings, file)
    Console(highlight=False).print(f"wrote {written}: {len(loaded.district.buildings)} buildings")


@district_app.command("export-grid")
def district_export_grid(
    file: Annotated[
        Path, typer.Argument(help="Grid file to write: .zip (CIM/CGMES 2.4.15), .json or .xlsx (pandapower).")
    ],
    district: Annotated[str, typer.Option(help="Built-in district name or district file.")] = "beucha",
) -> None:
    """Write a district's grid as CIM/CGMES (EQ, SSH, TP, SV, GL in a zip) or as a pandapower file."""
    from models.cgmes_writer import CGMES_VERSION, write_cgmes
    from models.district import load_district
    from models.grid_source import write_pandapower
    from twin.core.errors import ConfigError

    suffix = file.suffix.lower()
    if suffix not in (".zip", ".json", ".xlsx"):
        raise ConfigError(f"unknown grid format {file.suffix!r}", field="FILE", allowed=".zip, .json, .xlsx")
    loaded = load_district(district)
    net = loaded.net
    counts = f"{len(net.bus)} buses, {len(net.line)} lines, {len(net.trafo)} transformer(s)"
    if suffix == ".zip":
        export = write_cgmes(net, file, model_name=file.stem)
        what = f"CGMES {CGMES_VERSION} ({', '.join(export.profiles)})"
    else:
        write_pandapower(net, file)
        what = "pandapower " + ("JSON" if suffix == ".json" else "Excel")
    Console(highlight=False, soft_wrap=True).print(f"wrote {file}: {what}, {counts}")


@district_app.command("import")
def district_import(
    file: Annotated[Path, typer.Argument(help="Building list (.csv, .xlsx) or footprints (.geojson, .json).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="District file to write (YAML).")],
    like: Annotated[
        str, typer.Option(help="District (name or file) whose location, grid and reactive power the new one takes.")
    ] = "beucha",
    name: Annotated[str | None, typer.Option(help="Name of the new district; default: the list's file name.")] = None,
    default_type: Annotated[
        str, typer.Option("--default-type", help="Building type of footprints whose properties name none.")
    ] = "SFH",
    show_defaults: Annotated[
        int, typer.Option("--show-defaults", help="Buildings listed with their estimated fields (all: -1).")
    ] = 20,
) -> None:
    """A district file from a municipality's building list or footprints; every estimated field is listed."""
    from models.district_writer import import_district

    result = import_district(file, like=like, name=name, default_type=default_type, out=out)
    console = Console(highlight=False, soft_wrap=True)
    n_defaulted = sum(1 for fields in result.defaulted.values() if fields)
    console.print(
        f"wrote {out}: {len(result.district.buildings)} buildings from {file} in {result.seconds:.1f} s; "
        f"{n_defaulted} with estimated fields"
    )
    listed = list(result.defaulted.items())
    for building_id, fields in listed if show_defaults < 0 else listed[:show_defaults]:
        console.print(f"  {building_id:<24} estimated: {', '.join(fields)}")
    if 0 <= show_defaults < len(listed):
        console.print(f"  ... and {len(listed) - show_defaults} more (--show-defaults -1 lists all)")
