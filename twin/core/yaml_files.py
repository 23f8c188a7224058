"""Reading YAML input files with one-line errors, shared by every file the twin validates.

:func:`read_yaml` turns an unreadable file or broken YAML into a
:class:`~twin.core.errors.ConfigError` naming the file (and the line);
:func:`validation_error` turns the first error of a pydantic validation into one
naming the file, the dotted field and, where pydantic knows them, the allowed values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from twin.core.errors import ConfigError

__all__ = ["read_yaml", "validation_error"]


def read_yaml(path: str | Path, *, what: str) -> Any:
    """Read and parse a YAML file.

    Parameters
    ----------
    path : str or pathlib.Path
        The file.
    what : str
        What the file is, for the message (e.g. ``"site file"``).

    Raises
    ------
    ConfigError
        ``cannot read the <what>`` or ``not valid YAML`` with the line.
    """
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"cannot read the {what}: {err.strerror or err}", file=file) from err
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else None
        raise ConfigError(f"not valid YAML: {getattr(err, 'problem', err)}", file=file, field=where) from err


def validation_error(err: ValidationError, *, file: str) -> ConfigError:
    """The first error of a pydantic validation as a one-line :class:`ConfigError`.

    The field is the dotted location; ``Value error, `` prefixes are dropped; a
    literal's expected values become the allowed values.
    """
    first = err.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or None
    message = first["msg"].removeprefix("Value error, ")
    allowed = None
    if first["type"] == "literal_error":
        allowed = ", ".join(str(v) for v in str(first.get("ctx", {}).get("expected", "")).split(" or "))
    return ConfigError(message, file=file, field=field, allowed=allowed)
