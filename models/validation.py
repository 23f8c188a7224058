"""The validation report: each model quantity next to a published reference value.

The references live as data in ``models/data/validation_references.yaml`` - the figure,
its tolerance and its source (author or organisation, title, year, URL) - and the model
side is computed by :mod:`models.validation_quantities` with the models' own functions
over the embedded weather year. :func:`run_validation` pairs them into
:class:`ValidationRow` records; ``twin validate`` prints them as a table and an HTML
page and exits 1 when a quantity leaves its tolerance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from models.validation_quantities import COMPUTED_REFERENCES, MODEL_QUANTITIES, ValidationContext
from twin.core.config_loader import read_config
from twin.core.errors import ConfigError

__all__ = [
    "Reference",
    "Source",
    "ValidationRow",
    "default_references_path",
    "load_references",
    "run_validation",
]


@dataclass(frozen=True)
class Source:
    """Where a reference value is published.

    Attributes
    ----------
    author, title : str
        Author(s) or organisation, and title (with the figure as read).
    year : int
        Year of publication.
    url : str
        Where a reader finds it.
    """

    author: str
    title: str
    year: int
    url: str

    def citation(self) -> str:
        """``Author (year): title. url``."""
        return f"{self.author} ({self.year}): {self.title}. {self.url}"


@dataclass(frozen=True)
class Reference:
    """One published reference value and its tolerance.

    Attributes
    ----------
    id : str
        Name of the model quantity (a key of :data:`MODEL_QUANTITIES`).
    group : str
        Model area (``heat_pump``, ``pv``, ``battery``, ``household``, ``heat``, ``ev``, ``grid``).
    quantity, unit : str
        What is compared, and its unit.
    value : float or str
        The published figure, or the name of a reference computed at run time
        (:data:`COMPUTED_REFERENCES`, e.g. an independent pvlib ModelChain).
    tolerance : dict
        ``{"range": [low, high]}``, ``{"range_frac": [low, high]}`` (fractions of the
        value), ``{"rel": fraction}`` or ``{"abs": amount}``.
    source : Source
    note : str
    """

    id: str
    group: str
    quantity: str
    unit: str
    value: float | str
    tolerance: dict[str, Any]
    source: Source
    note: str = ""

    def bounds(self, value: float) -> tuple[float, float]:
        """The accepted interval around the reference ``value`` (already resolved)."""
        kind, spec = next(iter(self.tolerance.items()))
        if kind == "range":
            return float(spec[0]), float(spec[1])
        if kind == "range_frac":
            return float(spec[0]) * value, float(spec[1]) * value
        if kind == "rel":
            return value * (1.0 - float(spec)), value * (1.0 + float(spec))
        return value - float(spec), value + float(spec)

    def tolerance_text(self) -> str:
        """The tolerance as written for the report, e.g. ``"+-3 %"`` or ``"2.7..3.5"``."""
        kind, spec = next(iter(self.tolerance.items()))
        if kind == "range":
            return f"{spec[0]:g}..{spec[1]:g}"
        if kind == "range_frac":
            return f"{spec[0]:g}..{spec[1]:g} x ref"
        if kind == "rel":
            return f"+-{100 * float(spec):g} %"
        return f"+-{float(spec):g}"


@dataclass(frozen=True)
class ValidationRow:
    """A model quantity against its reference.

    Attributes
    ----------
    reference : Reference
    model_value : float
        The model's value. [reference unit]
    reference_value : float
        The reference figure (computed ones resolved). [reference unit]
    low, high : float
        The accepted interval.
    passed : bool
        ``low <= model_value <= high``.
    """

    reference: Reference
    model_value: float
    reference_value: float
    low: float
    high: float
    passed: bool


_TOLERANCE_KINDS = ("range", "range_frac", "rel", "abs")
_SOURCE_FIELDS = ("author", "title", "year", "url")


def default_references_path() -> Path:
    """The references shipped with the models (``models/data/validation_references.yaml``)."""
    return Path(str(resources.files("models.data").joinpath("validation_references.yaml")))


def load_references(path: str | Path | None = None) -> list[Reference]:
    """Read and check the reference file.

    Parameters
    ----------
    path : str or pathlib.Path, optional
        Default :func:`default_references_path`.

    Returns
    -------
    references : list of Reference

    Raises
    ------
    ConfigError
        Naming the file and the entry for a missing field, an unknown quantity, a
        reference without a full source or a malformed tolerance.
    """
    file = Path(path) if path is not None else default_references_path()
    data = read_config(file, what="validation reference file")
    entries = data.get("references") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not entries:
        raise ConfigError("needs a non-empty list 'references'", file=str(file))
    return [_reference(entry, i, str(file)) for i, entry in enumerate(entries)]


def _reference(entry: Any, i: int, file: str) -> Reference:
    """One checked :class:`Reference` from the ``i``-th entry of the file."""
    where = f"references[{i}]"
    if not isinstance(entry, dict):
        raise ConfigError("must be a mapping", file=file, field=where)
    missing = [k for k in ("id", "group", "quantity", "unit", "value", "tolerance", "source") if k not in entry]
    if missing:
        raise ConfigError(f"missing {', '.join(missing)}", file=file, field=where)
    ref_id = str(entry["id"])
    if ref_id not in MODEL_QUANTITIES:
        raise ConfigError(f"unknown model quantity {ref_id!r}", file=file, field=f"{where}.id")
    value = entry["value"]
    if isinstance(value, str) and value not in COMPUTED_REFERENCES:
        raise ConfigError(f"unknown computed reference {value!r}", file=file, field=f"{where}.value")
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise ConfigError("value must be a number or a computed reference", file=file, field=f"{where}.value")
    tolerance = entry["tolerance"]
    if not (isinstance(tolerance, dict) and len(tolerance) == 1 and next(iter(tolerance)) in _TOLERANCE_KINDS):
        raise ConfigError("tolerance must be one of range, range_frac, rel, abs", file=file, field=f"{where}.tolerance")
    source = entry["source"]
    if not isinstance(source, dict) or any(not source.get(k) for k in _SOURCE_FIELDS):
        raise ConfigError("source needs author, title, year and url", file=file, field=f"{where}.source")
    return Reference(
        id=ref_id,
        group=str(entry["group"]),
        quantity=str(entry["quantity"]),
        unit=str(entry["unit"]),
        value=value if isinstance(value, str) else float(value),
        tolerance=dict(tolerance),
        source=Source(str(source["author"]), str(source["title"]), int(source["year"]), str(source["url"])),
        note=str(entry.get("note", "")),
    )


def run_validation(
    references: Sequence[Reference] | None = None, *, context: ValidationContext | None = None
) -> list[ValidationRow]:
    """Compute every referenced model quantity and compare it with its reference.

    Parameters
    ----------
    references : sequence of Reference, optional
        Default: :func:`load_references` of the shipped file.
    context : ValidationContext, optional
        Shared inputs (weather year, shapes); a new one by default.

    Returns
    -------
    rows : list of ValidationRow
        In the order of ``references``.
    """
    refs = list(references) if references is not None else load_references()
    ctx = context or ValidationContext()
    rows = []
    for ref in refs:
        model_value = float(MODEL_QUANTITIES[ref.id](ctx))
        ref_value = float(COMPUTED_REFERENCES[ref.value](ctx, ref.id)) if isinstance(ref.value, str) else ref.value
        low, high = ref.bounds(ref_value)
        rows.append(ValidationRow(ref, model_value, ref_value, low, high, bool(low <= model_value <= high)))
    return rows
