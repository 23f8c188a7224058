"""The one loader of the twin's input files: read, parse, validate, one-line errors.

Every file kind the twin reads (scenario and sweep files, district files, site files, device
maps, controller maps, fault plans) is a pydantic record (or a union of records) that declares its fields:
types, ranges (``ge``/``gt``/``le``/``lt``), allowed values (``Literal``) and unknown keys
rejected. :func:`load_config` reads a file with the bounded YAML parser
(:func:`twin.core.yaml_files.parse_yaml`), checks it is a mapping and validates it against
the record; every problem is one :class:`~twin.core.errors.ConfigError`
``"<file>: <dotted.field>: <message> (allowed: <values>)"``:

* unreadable file: ``cannot read the <what>: <reason>``;
* bad YAML: ``line L, column C: malformed YAML: <problem>`` (a limit of the parser without
  ``malformed YAML``);
* empty file or no mapping: the keys the record has;
* unknown field: ``unknown field 'x'`` with the fields of its record (reported before a
  missing field, since a misspelt key makes both);
* missing field: the fields of its record, required first;
* value not among a ``Literal``'s values or a union's tags: the allowed values;
* number out of range: the field's bounds (``>= 0 and <= 90``);
* text not matching a pattern: ``"'x' is not a valid <field>"`` with the field's declared
  ``json_schema_extra={"allowed": ...}`` or the pattern;
* a validator's :class:`LocatedError`: its own field below the record, message and allowed
  values.

A field's dotted path counts list items from 0 (``buildings.3.roofs.0.tilt_deg``); when the
validation found more problems, the message ends with ``(and N more problem(s))``.
"""

from __future__ import annotations

import functools
import types
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Final, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo

from twin.core.errors import ConfigError
from twin.core.yaml_files import YamlLimitError, parse_yaml, short_repr

__all__ = [
    "LocatedError",
    "config_error",
    "load_config",
    "read_config",
    "record_fields",
    "validate_config",
]

_BOUNDS: Final[tuple[tuple[str, str], ...]] = (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"))
_RANGE_KINDS: Final[frozenset[str]] = frozenset(("greater_than", "greater_than_equal", "less_than", "less_than_equal"))


class LocatedError(ValueError):
    """A validator's error that knows the field below its record it concerns.

    Parameters
    ----------
    loc : sequence of str or int
        Path below the record, e.g. ``["devices", 3, "id"]``; empty for the record itself.
    message : str
        What is wrong.
    allowed : str, optional
        What would have been accepted.
    """

    def __init__(self, loc: Sequence[str | int], message: str, *, allowed: str | None = None) -> None:
        self.loc = list(loc)
        self.message = message
        self.allowed = allowed
        super().__init__(message)


def read_config(path: str | Path, *, what: str, file: str | None = None) -> Any:
    """Read and parse a YAML input file (:func:`~twin.core.yaml_files.parse_yaml`).

    Parameters
    ----------
    path : str or pathlib.Path
        The file.
    what : str
        What the file is, for messages (``"site file"``).
    file : str, optional
        How messages name the file; default ``path``.

    Returns
    -------
    data : Any
        The parsed document; None for an empty file.

    Raises
    ------
    ConfigError
        ``cannot read the <what>: <reason>``, or the line and column of a YAML error.
    """
    file = str(path) if file is None else file
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"cannot read the {what}: {getattr(err, 'strerror', None) or err}", file=file) from None
    try:
        return parse_yaml(text)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        kind = "" if isinstance(err, YamlLimitError) else "malformed YAML: "
        raise ConfigError(f"{where}{kind}{err.problem or err.context or 'invalid YAML'}", file=file) from None
    except yaml.YAMLError as err:
        raise ConfigError(f"malformed YAML: {err}", file=file) from None


def validate_config(data: Any, schema: Any, *, file: str, what: str) -> Any:
    """Validate parsed YAML against a record (or an annotated union of records).

    Parameters
    ----------
    data : Any
        The parsed document.
    schema : type or typing annotation
        A pydantic model, or e.g. ``Annotated[A | B, Field(discriminator="kind")]``.
    file : str
        The file, for messages.
    what : str
        What the file is, for messages.

    Returns
    -------
    record : Any
        The validated record.

    Raises
    ------
    ConfigError
        One line: file, dotted field, message, allowed values.
    """
    if data is None:
        raise ConfigError(f"the {what} is empty", file=file, allowed=record_fields(schema, keys=True))
    if not isinstance(data, dict):
        raise ConfigError(
            f"a {what} must be a mapping of keys, got {type(data).__name__}",
            file=file,
            allowed=record_fields(schema, keys=True),
        )
    try:
        if isinstance(schema, type) and issubclass(schema, BaseModel):
            return schema.model_validate(data)
        return _adapter(schema).validate_python(data)
    except ValidationError as err:
        raise config_error(err, schema, file=file) from None


def load_config(path: str | Path, schema: Any, *, what: str, file: str | None = None) -> Any:
    """Read, parse and validate an input file: :func:`read_config`, then :func:`validate_config`.

    Parameters
    ----------
    path : str or pathlib.Path
        The file.
    schema : type or typing annotation
        The record the file holds.
    what : str
        What the file is, for messages (``"district file"``).
    file : str, optional
        How messages name the file; default ``path``.

    Raises
    ------
    ConfigError
        One line: file, dotted field, message, allowed values.
    """
    file = str(path) if file is None else file
    return validate_config(read_config(path, what=what, file=file), schema, file=file, what=what)


def config_error(err: ValidationError, schema: Any, *, file: str) -> ConfigError:
    """The first problem of a pydantic validation as a one-line :class:`ConfigError`.

    An unknown field is reported before the others; the rest are counted.
    """
    errors = err.errors(include_url=False)
    # "at least 1 item" only echoes that every item failed: report the items instead
    errors = [
        error
        for error in errors
        if not (
            error["type"] == "too_short"
            and any(other is not error and other["loc"][: len(error["loc"])] == error["loc"] for other in errors)
        )
    ] or errors
    first = min(errors, key=lambda error: error["type"] != "extra_forbidden")
    loc, kind, ctx = list(first["loc"]), first["type"], first.get("ctx") or {}
    cause = ctx.get("error")
    parts, annotation, info = _locate(schema, loc)
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    message, allowed = _describe(first, kind, ctx, schema, loc, parts, annotation, info)
    if isinstance(cause, LocatedError):
        parts = parts + [str(part) for part in cause.loc]
        message, allowed = cause.message, cause.allowed
    if kind == "union_tag_invalid":
        parts = [*parts, str(ctx.get("discriminator", "")).strip("'")]
    return ConfigError(message + more, file=file, field=".".join(parts) or None, allowed=allowed)


def record_fields(schema: Any, *, keys: bool = False) -> str | None:
    """``"fields a, b; optional c"`` of a record (a union's records together), or None."""
    required: dict[str, None] = {}
    optional: dict[str, None] = {}
    for model in _models_in(schema):
        for name, info in model.model_fields.items():
            (required if info.is_required() else optional)[name] = None
    if not required and not optional:
        return None
    if keys:
        return "keys " + ", ".join([*required, *(name for name in optional if name not in required)])
    rest = [name for name in optional if name not in required]
    if not required:
        return "optional fields " + ", ".join(rest)
    return "fields " + ", ".join(required) + ("; optional " + ", ".join(rest) if rest else "")


# --- helpers ---------------------------------------------------------------------------------


@functools.cache
def _adapter(schema: Any) -> TypeAdapter[Any]:
    return TypeAdapter(schema)


def _describe(
    first: Any,
    kind: str,
    ctx: dict[str, Any],
    schema: Any,
    loc: list[Any],
    parts: list[str],
    annotation: Any,
    info: FieldInfo | None,
) -> tuple[str, str | None]:
    """Message and allowed values of one pydantic error."""
    value = first.get("input")
    cause = ctx.get("error")
    declared = _declared_allowed(info)
    if kind == "missing":
        return "required field is missing", record_fields(_locate(schema, loc[:-1])[1])
    if kind == "extra_forbidden":
        return f"unknown field {str(loc[-1])!r}", record_fields(_locate(schema, loc[:-1])[1])
    if kind in ("literal_error", "enum"):
        return f"{short_repr(value)} is not allowed", _values(ctx.get("expected"))
    if kind == "union_tag_invalid":
        return f"{short_repr(ctx.get('tag'))} is not allowed", _values(ctx.get("expected_tags"))
    if kind in _RANGE_KINDS:
        return f"{short_repr(value)} is out of range", _range_text(annotation, info, ctx)
    if kind == "string_pattern_mismatch":
        noun = parts[-1] if parts and not parts[-1].isdigit() else "value"
        return f"{short_repr(value)} is not a valid {noun}", declared or f"text matching {ctx.get('pattern')}"
    if kind in ("tuple_type", "list_type"):
        return f"must be a list (got {short_repr(value)})", declared
    if kind == "too_short":
        return f"needs at least {ctx.get('min_length')} item(s), got {ctx.get('actual_length')}", declared
    if isinstance(cause, Exception):
        return str(cause), declared
    return f"{first['msg']} (got {short_repr(value)})", declared


def _locate(schema: Any, loc: Sequence[Any]) -> tuple[list[str], Any, FieldInfo | None]:
    """Walk a pydantic error location through the schema's annotations.

    Returns the dotted parts a user wrote (union tags, validator and type markers left out),
    the annotation at the end and the field's ``FieldInfo`` (None for a list item or a key).
    """
    parts: list[str] = []
    current: Any = schema
    info: FieldInfo | None = None
    for part in loc:
        if isinstance(part, int):
            parts.append(str(part))
            current, info = _item_type(current), None
            continue
        model = _model_with(current, str(part))
        if model is not None:
            info = model.model_fields[str(part)]
            parts.append(str(part))
            current = info.annotation
            continue
        member = _tagged_member(current, str(part))
        if member is not None:
            current = member
            continue
        values = _dict_values(current)
        if values is not None:
            parts.append(str(part))
            current, info = values, None
            continue
        if not _is_marker(str(part)):
            parts.append(str(part))
            current, info = None, None
    return parts, current, info


def _is_marker(part: str) -> bool:
    """A location part pydantic adds for a validator or union member, not a key of the file."""
    return "[" in part or part.startswith("function-") or part in ("str", "int", "float", "bool", "none")


def _members(annotation: Any) -> list[Any]:
    """The types an annotation stands for: ``Annotated`` and unions unwrapped, None left out."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _members(get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        return [member for arg in get_args(annotation) for member in _members(arg)]
    if annotation is None or annotation is type(None):
        return []
    return [annotation]


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    return [m for m in _members(annotation) if isinstance(m, type) and issubclass(m, BaseModel)]


def _model_with(annotation: Any, name: str) -> type[BaseModel] | None:
    return next((model for model in _models_in(annotation) if name in model.model_fields), None)


def _tagged_member(annotation: Any, tag: str) -> Any:
    """The union member a tag names: a record whose ``Literal`` field has the tag, or by type name.

    Only a union of records has tags: in a single record a key that happens to equal one of its
    ``Literal`` values is an unknown key, not a tag.
    """
    models = _models_in(annotation)
    for model in models:
        if model.__name__ == tag:
            return model
        if len(models) < 2:
            continue
        for field in model.model_fields.values():
            if get_origin(field.annotation) is Literal and tag in map(str, get_args(field.annotation)):
                return model
    return None


def _item_type(annotation: Any) -> Any:
    for member in _members(annotation):
        origin = get_origin(member)
        if origin in (list, tuple, set, frozenset) or (isinstance(origin, type) and issubclass(origin, Sequence)):
            args = [arg for arg in get_args(member) if arg is not Ellipsis]
            return args[0] if args else None
    return None


def _dict_values(annotation: Any) -> Any:
    for member in _members(annotation):
        origin = get_origin(member)
        if origin is dict or (isinstance(origin, type) and issubclass(origin, Mapping)):
            args = get_args(member)
            return args[1] if len(args) == 2 else Any
    return None


def _constraints(annotation: Any) -> list[Any]:
    """The constraint objects (``annotated_types.Ge``, ...) of an ``Annotated`` annotation and its union."""
    found: list[Any] = []
    origin = get_origin(annotation)
    if origin is Annotated:
        for item in get_args(annotation)[1:]:
            found.extend(item.metadata if isinstance(item, FieldInfo) else [item])
        found.extend(_constraints(get_args(annotation)[0]))
    elif origin is Union or origin is types.UnionType:
        for arg in get_args(annotation):
            found.extend(_constraints(arg))
    return found


def _range_text(annotation: Any, info: FieldInfo | None, ctx: dict[str, Any]) -> str:
    """``">= 0 and <= 90"``: the declared bounds of a number, else the one pydantic names."""
    items = [*(info.metadata if info is not None else []), *_constraints(annotation)]
    parts = [f"{symbol} {getattr(item, attr)}" for item in items for attr, symbol in _BOUNDS if hasattr(item, attr)]
    if not parts:
        parts = [f"{symbol} {ctx[attr]}" for attr, symbol in _BOUNDS if attr in ctx]
    return " and ".join(dict.fromkeys(parts))


def _values(expected: Any) -> str:
    """The expected values ``"'a', 'b' or 'c'"`` of pydantic as ``"a, b, c"``."""
    return str(expected or "").replace("'", "").replace(" or ", ", ")


def _declared_allowed(info: FieldInfo | None) -> str | None:
    """A field's ``json_schema_extra={"allowed": "..."}``."""
    extra = info.json_schema_extra if info is not None else None
    value = extra.get("allowed") if isinstance(extra, dict) else None
    return str(value) if value is not None else None
