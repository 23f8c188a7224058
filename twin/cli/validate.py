"""``twin validate``: the models against published reference values, as a table and an HTML page."""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from twin.cli.common import app

if TYPE_CHECKING:
    from models.validation import ValidationRow


@app.command("validate")
def validate(
    html_file: Annotated[
        Path | None, typer.Option("--html", help="Also write the report as an HTML page to this file.")
    ] = None,
    references: Annotated[
        Path | None,
        typer.Option(help="Reference file (YAML); default the one shipped in models/data."),
    ] = None,
) -> None:
    """Check the models against published reference values (exit 1 when a quantity fails)."""
    from models.validation import load_references, run_validation

    rows = run_validation(load_references(references))
    console = Console(highlight=False, soft_wrap=False, width=200)
    console.print(_table(rows))
    n_failed = sum(not row.passed for row in rows)
    console.print(f"{len(rows) - n_failed} of {len(rows)} quantities within their tolerance")
    if html_file is not None:
        html_file.write_text(report_html(rows), encoding="utf-8")
        console.print(f"report written to {html_file}")
    if n_failed:
        raise typer.Exit(1)


def _table(rows: list[ValidationRow]) -> Table:
    """The terminal table: quantity, model, reference, tolerance, result, source."""
    table = Table(show_lines=False)
    for column in ("quantity", "unit", "model", "reference", "tolerance", "result", "source"):
        table.add_column(column, justify="right" if column in ("model", "reference") else "left")
    for row in rows:
        ref = row.reference
        table.add_row(
            ref.quantity,
            ref.unit,
            _number(row.model_value),
            _number(row.reference_value),
            ref.tolerance_text(),
            "[green]pass[/green]" if row.passed else "[red]FAIL[/red]",
            f"{ref.source.author.split(' (')[0].split(',')[0]} {ref.source.year}",
        )
    return table


def _number(value: float) -> str:
    """Three significant figures at least, thousands separated."""
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def _tolerance_cell(row: ValidationRow) -> str:
    """The tolerance as written, with the interval it gives unless it is one."""
    text = row.reference.tolerance_text()
    return text if "range" in row.reference.tolerance else f"{text} ({_number(row.low)}..{_number(row.high)})"


def report_html(rows: list[ValidationRow]) -> str:
    """A self-contained HTML page of the validation report, every source cited with its link."""
    n_failed = sum(not row.passed for row in rows)
    body = []
    for row in rows:
        ref = row.reference
        source = html.escape(f"{ref.source.author} ({ref.source.year}): {ref.source.title}.")
        url = html.escape(ref.source.url, quote=True)
        result = '<td class="pass">pass</td>' if row.passed else '<td class="fail">FAIL</td>'
        body.append(
            f"<tr><td>{html.escape(ref.quantity)}</td><td>{html.escape(ref.unit)}</td>"
            f'<td class="num">{_number(row.model_value)}</td><td class="num">{_number(row.reference_value)}</td>'
            f"<td>{html.escape(_tolerance_cell(row))}</td>{result}"
            f'<td>{source} <a href="{url}">{url}</a>'
            + (f"<br><small>{html.escape(ref.note)}</small>" if ref.note else "")
            + "</td></tr>"
        )
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>Beucha twin: validation report</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top}.num{text-align:right}"
        ".pass{color:#1a7f37}.fail{color:#cf222e;font-weight:bold}</style></head><body>"
        f"<h1>Validation report</h1><p>{len(rows) - n_failed} of {len(rows)} quantities within their tolerance.</p>"
        "<table><tr><th>quantity</th><th>unit</th><th>model</th><th>reference</th><th>tolerance</th>"
        "<th>result</th><th>source</th></tr>" + "".join(body) + "</table></body></html>\n"
    )
