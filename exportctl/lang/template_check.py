"""What a spec template may say, checked on its Jinja2 syntax tree before anything renders.

Spec templates name files, bind query parameters and make values: they need names, attributes,
filters, operators, `if`, `for` and `set`. Everything else (macros, imports, `self`, the
sandbox-escape attributes, unknown filters) is refused at `validate`, with the line, rather
than failing at run time.
"""

from __future__ import annotations

from collections.abc import Iterator

from jinja2 import nodes

#: Names a template never gets: Jinja's helpers that lead out of the sandbox or loop forever.
FORBIDDEN_NAMES = frozenset(
    {"self", "lipsum", "cycler", "joiner", "namespace", "caller", "varargs", "kwargs"}
)
#: The functions a template may call by name.
CALLABLE_NAMES = frozenset({"range", "dict"})
#: The methods a template may call: small, bounded results.
METHODS = frozenset(
    {
        "strftime", "isoformat", "date", "time", "timestamp", "weekday", "isoweekday",
        "lower", "upper", "title", "capitalize", "strip", "lstrip", "rstrip",
        "startswith", "endswith", "split", "rsplit", "get", "items", "keys", "values",
        "cycle", "changed",
    }
)  # fmt: skip
#: Attributes refused though public: str.format and format_map reach into any object.
FORBIDDEN_ATTRIBUTES = frozenset({"format", "format_map", "mro"})
#: Filters whose result is bounded by their input (and `join`/`replace`, checked first).
FILTERS = frozenset(
    {
        "abs", "capitalize", "count", "d", "default", "e", "escape", "first", "float", "int",
        "join", "last", "length", "list", "lower", "max", "min", "replace", "reverse", "round",
        "sort", "string", "strftime", "sum", "title", "tojson", "trim", "truncate", "unique",
        "upper", "urlencode", "wordcount",
    }
)  # fmt: skip
#: The syntax a spec template may use.
ALLOWED_NODES: tuple[type[nodes.Node], ...] = (
    nodes.Template, nodes.Output, nodes.TemplateData, nodes.If, nodes.For, nodes.Assign,
    nodes.Const, nodes.Name, nodes.Getattr, nodes.Getitem, nodes.Slice, nodes.Filter,
    nodes.Test, nodes.CondExpr, nodes.Compare, nodes.Operand, nodes.And, nodes.Or, nodes.Not,
    nodes.Neg, nodes.Pos, nodes.Add, nodes.Sub, nodes.Mul, nodes.Div, nodes.FloorDiv,
    nodes.Mod, nodes.Pow, nodes.Concat, nodes.Call, nodes.List, nodes.Tuple, nodes.Dict,
    nodes.Pair, nodes.Keyword,
)  # fmt: skip


def walk(tree: nodes.Node) -> Iterator[nodes.Node]:
    """Every node, iteratively: a deep expression must not exhaust Python's stack here."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        todo.extend(node.iter_child_nodes())


def problems(tree: nodes.Template, tests: frozenset[str]) -> list[str]:
    """What the template says that spec templates may not, each with its line."""
    found: list[str] = []
    for node in walk(tree):
        complaint = _complaint(node, tests)
        if complaint:
            found.append(f"line {node.lineno}: {complaint}")
    return sorted(set(found), key=lambda text: (int(text.split(":")[0][5:]), text))


def _complaint(node: nodes.Node, tests: frozenset[str]) -> str | None:
    if not isinstance(node, ALLOWED_NODES):
        return f"{type(node).__name__.lower()} is not allowed in a spec template"
    if isinstance(node, nodes.Name) and (node.name in FORBIDDEN_NAMES or node.name[:1] == "_"):
        return f"the name `{node.name}` is not available to spec templates"
    if isinstance(node, nodes.Getattr) and _unsafe(node.attr):
        return f"unsafe attribute `{node.attr}`"
    key = (
        node.arg.value
        if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const)
        else None
    )
    if isinstance(key, str) and _unsafe(key):
        return f"unsafe attribute `{key}`"
    if isinstance(node, nodes.Filter) and node.name not in FILTERS:
        return f"unknown filter `{node.name}`; spec templates know {_listed(FILTERS)}"
    if isinstance(node, nodes.Test) and node.name not in tests:
        return f"unknown test `{node.name}`"
    if isinstance(node, nodes.Call):
        return _call_complaint(node)
    if isinstance(node, nodes.Assign) and not isinstance(node.target, nodes.Name | nodes.Tuple):
        return "`set` assigns names only"
    if isinstance(node, nodes.For) and node.recursive:
        return "recursive loops are not allowed in a spec template"
    return None


def _call_complaint(node: nodes.Call) -> str | None:
    callee = node.node
    if isinstance(callee, nodes.Name) and callee.name in CALLABLE_NAMES | FORBIDDEN_NAMES:
        return None  # allowed, or refused as a name already
    if isinstance(callee, nodes.Getattr) and (callee.attr in METHODS or _unsafe(callee.attr)):
        return None
    if isinstance(callee, nodes.Getattr):
        return f"calling `{callee.attr}` is not allowed; methods: {_listed(METHODS)}"
    if isinstance(callee, nodes.Name):
        return f"calling `{callee.name}` is not allowed; functions: {_listed(CALLABLE_NAMES)}"
    return "only named functions and methods can be called"


def _unsafe(attribute: str) -> bool:
    return attribute.startswith("_") or attribute in FORBIDDEN_ATTRIBUTES


def _listed(names: frozenset[str]) -> str:
    return ", ".join(f"`{n}`" for n in sorted(names))
