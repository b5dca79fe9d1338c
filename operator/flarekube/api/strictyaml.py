"""YAML read the way the API server's decoder reads it, in bounded time and memory.

PyYAML's SafeLoader alone is too forgiving for a contract: a duplicated key silently keeps the last value
(kubectl refuses it), a 435-byte alias bomb expands to billions of nodes the moment anything walks the
result, `2024-01-01` becomes a `datetime` where the API server keeps a string. `StrictLoader` refuses
duplicate keys, counts aliases and measures each document's EXPANDED size (sharing-aware, before anything
is constructed), and leaves timestamps as the strings they are. Everything it refuses is a
`yaml.MarkedYAMLError`, so the message carries the line and column.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

MAX_OBJECT_BYTES = 3 * 1024 * 1024  # the API server's request limit: one object's JSON, at most 3 MiB
MAX_ALIASES = 1000  # far more than a hand-written document uses; an alias bomb needs few, but see below
MAX_DEPTH = 100  # deeper than any FLProject/FLJob can be; PyYAML's composer recurses per level
_MERGE = "tag:yaml.org,2002:merge"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"


class DocumentTooLarge(yaml.MarkedYAMLError):
    pass


class StrictLoader(yaml.SafeLoader):
    """SafeLoader + duplicate keys refused + alias, depth and expanded-size caps + timestamps as strings."""

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._aliases = 0
        self._depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise DocumentTooLarge(None, None, f"more than {MAX_ALIASES} aliases", self.peek_event().start_mark)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise DocumentTooLarge(None, None, f"nested more than {MAX_DEPTH} levels",
                                       self.peek_event().start_mark)  # fmt: skip
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_document(self, node: Node) -> Any:
        size = expanded_size(node, MAX_OBJECT_BYTES)
        if size > MAX_OBJECT_BYTES:
            raise DocumentTooLarge(
                None, None,
                f"the document expands to more than {MAX_OBJECT_BYTES // (1024 * 1024)} MiB "
                "(the API server's limit for one object; YAML aliases count once per use)",
                node.start_mark,
            )  # fmt: skip
        return super().construct_document(node)

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, MappingNode):
            seen: dict[Any, Node] = {}
            for key_node, _ in node.value:
                if key_node.tag == _MERGE or not isinstance(key_node, ScalarNode):
                    continue  # merged keys may be overridden (YAML merge); complex keys fail later anyway
                key = self.construct_object(key_node)
                if key in seen:
                    line = seen[key].start_mark.line + 1
                    raise ConstructorError(
                        "while constructing a mapping", node.start_mark,
                        f"duplicate key {key_node.value[:60]!r} (first given on line {line}); "
                        "the API server refuses it too", key_node.start_mark,
                    )  # fmt: skip
                seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


def expanded_size(root: Node, limit: int) -> int:
    """An upper estimate of the document's size as JSON, every alias expanded; stops once past `limit`.

    Aliased nodes are the same object, so each node's size is computed once (memoized by identity) and
    multiplied by its uses: the cost is the size of the graph, not of its expansion.
    """
    sizes: dict[int, int] = {}
    visiting: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        if not children_done and id(node) in visiting:
            return limit + 1  # an alias inside its own anchor: infinite as JSON
        if isinstance(node, ScalarNode):
            sizes[id(node)] = len(node.value) + 3
            continue
        children: list[Node] = []
        if isinstance(node, SequenceNode):
            children = list(node.value)
        elif isinstance(node, MappingNode):
            children = [part for pair in node.value for part in pair]
        if not children_done:
            visiting.add(id(node))
            stack.append((node, True))
            stack.extend((c, False) for c in children if id(c) not in sizes)
            continue
        total = 2 + sum(sizes.get(id(c), 0) for c in children)
        sizes[id(node)] = total
        if total > limit:
            return total
    return sizes.get(id(root), 0)


def load_all(text: str) -> list[Any]:
    """Every document of `text` (empty ones, e.g. after a trailing `---`, dropped)."""
    loader = StrictLoader(text)
    try:
        out = []
        while loader.check_data():
            doc = loader.get_data()
            if doc is not None:
                out.append(doc)
        return out
    finally:
        loader.dispose()
