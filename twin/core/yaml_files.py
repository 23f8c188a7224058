"""Parsing YAML input with bounded work, shared by every file the twin validates.

:func:`parse_yaml` is the one way the twin parses YAML. It is PyYAML's safe loader with limits
checked *while* the document is composed, before anything is built from it:

* at most :data:`MAX_YAML_CHARS` characters of input;
* at most :data:`MAX_YAML_NODES` nodes, an alias counted with every node it stands for, so a
  "billion laughs" document of nested aliases stops after the limit, not after gigabytes;
  an alias inside the node it names is refused;
* at most :data:`MAX_YAML_DEPTH` levels of nested mappings and sequences (checked before
  Python's recursion limit is near);
* no key twice in one mapping (PyYAML would keep the last silently);
* dates and times stay the text written (``start: 2025-06-01`` is the string
  ``"2025-06-01"``), for fields that take an ISO 8601 string.

Every violation is a :class:`yaml.MarkedYAMLError` with the line and column;
:mod:`twin.core.config_loader` turns it into the one-line message of every input file.
:func:`short_repr` shows an offending value in a bounded number of characters however large
the value is.
"""

from __future__ import annotations

import reprlib
from collections.abc import Hashable, Iterator
from typing import Any, Final

import yaml

__all__ = [
    "MAX_YAML_CHARS",
    "MAX_YAML_DEPTH",
    "MAX_YAML_NODES",
    "YamlLimitError",
    "parse_yaml",
    "short_repr",
]

#: Largest YAML input. [characters]
MAX_YAML_CHARS: Final[int] = 8 * 1024 * 1024
#: Most nodes a document may stand for, each alias counted with all the nodes it repeats.
MAX_YAML_NODES: Final[int] = 1_000_000
#: Deepest nesting of mappings and sequences.
MAX_YAML_DEPTH: Final[int] = 100
_TIMESTAMP_TAG: Final[str] = "tag:yaml.org,2002:timestamp"


class YamlLimitError(yaml.MarkedYAMLError):
    """A YAML document beyond one of the limits of :func:`parse_yaml` (a duplicate key included)."""


def parse_yaml(text: str) -> Any:
    """Parse one YAML document with the limits of this module.

    Parameters
    ----------
    text : str
        The document.

    Returns
    -------
    data : Any
        Plain Python data (dicts, lists, strings, numbers, booleans, None); dates and times as
        the strings written.

    Raises
    ------
    yaml.YAMLError
        A syntax error, or :class:`YamlLimitError` for a limit, both with the line and column
        where the file has them.
    """
    if len(text) > MAX_YAML_CHARS:
        raise YamlLimitError(problem=f"the file has {len(text)} characters, more than the {MAX_YAML_CHARS} allowed")
    loader = _BoundedLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def short_repr(value: Any, limit: int = 60) -> str:
    """``repr`` of a value cut to ``limit`` characters, built without walking all of a large value."""
    text = _REPR.repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader counting expanded nodes and nesting depth while composing."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._nodes = 0
        self._sizes: dict[str, int] = {}
        self._open: set[str] = set()
        self._path: list[str] = []

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        # index: the key node of a mapping's value, the position in a sequence, None for a key
        step = index.value if isinstance(index, yaml.ScalarNode) else index
        if parent is None or step is None:
            return self._compose_node(parent, index)
        self._path.append(str(step)[:40])
        try:
            return self._compose_node(parent, index)
        finally:
            self._path.pop()

    def _compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event: Any = self.peek_event()
        anchor = getattr(event, "anchor", None)
        is_alias = isinstance(event, yaml.AliasEvent)
        if is_alias:
            if anchor in self._open:
                raise YamlLimitError(
                    problem=f"alias *{str(anchor)[:40]} lies inside the node it names",
                    problem_mark=event.start_mark,
                )
            if anchor in self._sizes:
                self._count(self._sizes[anchor], event)
            return super().compose_node(parent, index)
        start = self._nodes
        self._count(1, event)
        if anchor is not None:
            self._open.add(anchor)
        node = super().compose_node(parent, index)
        if anchor is not None:
            self._open.discard(anchor)
            self._sizes[anchor] = self._nodes - start
        return node

    def compose_sequence_node(self, anchor: Any) -> yaml.SequenceNode:
        self._enter()
        try:
            return super().compose_sequence_node(anchor)
        finally:
            self._depth -= 1

    def compose_mapping_node(self, anchor: Any) -> yaml.MappingNode:
        self._enter()
        try:
            return super().compose_mapping_node(anchor)
        finally:
            self._depth -= 1

    def compose_document(self) -> yaml.Node | None:
        self._sizes.clear()
        return super().compose_document()

    def _enter(self) -> None:
        self._depth += 1
        if self._depth > MAX_YAML_DEPTH:
            raise YamlLimitError(
                problem=f"{self._where()}mappings and lists nested deeper than {MAX_YAML_DEPTH} levels",
                problem_mark=self.peek_event().start_mark,
            )

    def _where(self) -> str:
        """``"under changes.pv.0...: "``: the first keys and positions down to the current node."""
        if not self._path:
            return ""
        return "under " + ".".join(self._path[:4]) + ("..." if len(self._path) > 4 else "") + ": "

    def _count(self, nodes: int, event: Any) -> None:
        self._nodes += nodes
        if self._nodes > MAX_YAML_NODES:
            raise YamlLimitError(
                problem=f"{self._where()}the document stands for more than {MAX_YAML_NODES} values "
                "(aliases counted expanded)",
                problem_mark=event.start_mark,
            )


def _short_repr_builder() -> reprlib.Repr:
    builder = reprlib.Repr()
    builder.maxlevel = 3
    builder.maxtuple = builder.maxlist = builder.maxarray = builder.maxdict = 4
    builder.maxset = builder.maxfrozenset = builder.maxdeque = 4
    builder.maxstring = builder.maxother = 60
    builder.maxlong = 40
    return builder


def _construct_unique_mapping(loader: _BoundedLoader, node: yaml.MappingNode) -> Iterator[dict[Hashable, Any]]:
    """A mapping that refuses a key given twice (merge keys ``<<`` may still be overridden)."""
    data: dict[Hashable, Any] = {}
    yield data
    seen: set[Any] = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node)
        try:
            duplicate = key in seen
        except TypeError:
            continue  # an unhashable key: construct_mapping names it
        if duplicate:
            raise YamlLimitError(problem=f"duplicate key {short_repr(key, 40)}", problem_mark=key_node.start_mark)
        seen.add(key)
    data.update(loader.construct_mapping(node))


_REPR: Final[reprlib.Repr] = _short_repr_builder()
_BoundedLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping)
_BoundedLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
