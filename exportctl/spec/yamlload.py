"""YAML text → nodes → Python values, refusing a document too big, too deep or cyclic first.

PyYAML composes recursively (a 500-deep `[[[...` ends in RecursionError) and aliases share
nodes, so eight levels of ten aliases ("billion laughs") compose to a few dozen nodes that
every later stage (schema, interpolation, the locator) expands to 10^8. Both are measured on
the composed node graph, aliases followed, before a single value is built.
"""

from __future__ import annotations

from typing import Any

import yaml

#: Nesting levels, aliases followed; real specs use under ten.
MAX_DEPTH = 64
#: Values with aliases expanded; a 100,000-value `in:` list fits.
MAX_NODES = 250_000
#: Characters of spec text.
MAX_CHARS = 8 * 2**20


class Refused(yaml.MarkedYAMLError):
    """Well-formed YAML, but too big, too deep or cyclic to be a spec."""


def refusal(message: str, mark: yaml.Mark | None) -> Refused:
    """A YAML error the loader reports with its line, like a syntax error."""
    return Refused(problem=message, problem_mark=mark)


class _DepthLimitedLoader(yaml.SafeLoader):
    """SafeLoader whose composer stops at MAX_DEPTH before Python's recursion limit."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self.depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        if self.depth >= MAX_DEPTH:
            mark = self.peek_event().start_mark
            raise refusal(f"nested deeper than {MAX_DEPTH} levels", mark)
        self.depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def compose(text: str) -> yaml.Node | None:
    """The node graph of one YAML document, checked by `check_graph`; raises yaml.YAMLError."""
    if len(text) > MAX_CHARS:
        raise refusal(f"the file is over {MAX_CHARS // 2**20} MiB; a spec is a few KiB", None)
    loader = _DepthLimitedLoader(text)
    try:
        root = loader.get_single_node()
    finally:
        loader.dispose()
    if root is not None:
        check_graph(root)
    return root


def construct(root: yaml.Node | None) -> Any:
    """The Python value of a composed (and checked) document, as `yaml.safe_load` builds it."""
    if root is None:
        return None
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_document(root)
    finally:
        loader.dispose()


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def check_graph(root: yaml.Node) -> None:
    """Refuse cycles, and a graph over MAX_NODES values or MAX_DEPTH levels once expanded.

    Iterative, and each shared node measured once: linear in the composed nodes.
    """
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            on_path.discard(key)
            kids = _children(node)
            size[key] = 1 + sum(size[id(k)] for k in kids)
            depth[key] = 1 + max((depth[id(k)] for k in kids), default=0)
            if size[key] > MAX_NODES:
                message = f"aliases expand this to over {MAX_NODES:,} values"
                raise refusal(message, node.start_mark)
            if depth[key] > MAX_DEPTH:
                message = f"aliases nest this deeper than {MAX_DEPTH} levels"
                raise refusal(message, node.start_mark)
        elif key in on_path:
            raise refusal("an alias refers to a value that contains it", node.start_mark)
        elif key not in size:
            on_path.add(key)
            stack.append((node, True))
            stack.extend((kid, False) for kid in _children(node))
