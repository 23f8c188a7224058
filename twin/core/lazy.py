"""Lazy package exports (PEP 562): a package's public names, imported on first use.

A package ``__init__`` that re-exports eagerly makes importing one of its modules cost all of
them; with :func:`lazy_exports` the names stay importable from the package, and each is loaded
from its module when first asked for.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, exports: Mapping[str, str], namespace: dict[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for a package whose public names load on first use.

    Parameters
    ----------
    package : str
        The package's name, for the error of an unknown attribute.
    exports : mapping of str to str
        Public name -> the module that defines it.
    namespace : dict
        The package's ``globals()``: a loaded name is kept there, so it is looked up once.
    """

    def getattr_(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def dir_() -> list[str]:
        return sorted({*namespace, *exports})

    return getattr_, dir_
