"""`query`: the rows a source reads, with its filter tree (`where`), order and limit."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from exportctl import model as m
from exportctl.spec.problems import PLAN_NAMES, Problems
from exportctl.spec.schema import Path_

_COMPARE_OPS = ("eq", "ne", "lt", "le", "gt", "ge")
_GROUP_OPS = ("and", "or", "not")


def query(p: Problems, doc: Mapping[str, Any]) -> m.Query:
    """The query; which keys a source takes is a rule of its own (`rules.query_keys`)."""
    for key, value in doc.get("params", {}).items():
        bound_integers(p, value, ("query", "params", key))
        if isinstance(value, str):
            p.template(value, ("query", "params", key), names=PLAN_NAMES)
    where = doc.get("where")
    if isinstance(where, list):
        items = tuple(condition(p, w, ("query", "where", i)) for i, w in enumerate(where))
        where_node: m.Filter | None = items[0] if len(items) == 1 else m.And(items)
    else:
        where_node = None if where is None else condition(p, where, ("query", "where"))
    return m.Query(
        table=doc.get("table"),
        sql=doc.get("sql"),
        params=tuple(doc.get("params", {}).items()),
        where=where_node,
        order_by=tuple(
            m.OrderKey(k.removeprefix("-"), k.startswith("-")) for k in doc.get("order_by", [])
        ),
        limit=doc.get("limit"),
    )


def bound_integers(p: Problems, value: Any, path: Path_) -> None:
    """Numbers a database can bind: a 2**70 failed only at run time (SQLite's OverflowError)."""
    items = enumerate(value) if isinstance(value, list) else [(None, value)]
    for index, item in items:
        if isinstance(item, int) and not -(2**63) <= item < 2**63:
            at = path if index is None else (*path, index)
            p.fail(at, f"{item} is past 64 bits, which no database binds; quote it for text")


def condition(p: Problems, doc: Mapping[str, Any], path: Path_) -> m.Filter:
    """One condition of `where`: a field's test, or `and`/`or`/`not` over conditions."""
    ops = [k for k in doc if k != "field"]
    if len(ops) != 1:
        listed = ", ".join(f"`{o}`" for o in ops) or "none"
        p.fail(path, f"a condition takes exactly one operator, found {listed}")
        return m.And(())
    op = ops[0]
    if op in _GROUP_OPS:
        if "field" in doc:
            p.fail((*path, "field"), f"`{op}` combines conditions and takes no `field`")
        if op == "not":
            return m.Not(condition(p, doc["not"], (*path, "not")))
        items = tuple(condition(p, c, (*path, op, i)) for i, c in enumerate(doc[op]))
        return m.And(items) if op == "and" else m.Or(items)
    if "field" not in doc:
        p.fail(path, f"`{op}` needs a `field` to test")
        return m.And(())
    field, value = doc["field"], doc[op]
    bound_integers(p, value, (*path, op))
    if op in _COMPARE_OPS:
        return m.Compare(field, cast(m.CompareOp, op), value)
    if op in ("in", "not_in"):
        return m.InSet(field, tuple(value), negate=op == "not_in")
    if op == "between":
        return m.Between(field, value[0], value[1])
    if op == "like":
        return m.Like(field, value)
    if op == "contains":
        return m.Contains(field, value)
    return m.IsNull(field, negate=not value)
