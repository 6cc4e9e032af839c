"""How a spec picks and shapes its rows over runs: `incremental`, `time_range`, `reshape`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from exportctl import model as m
from exportctl.lang import timerange, units
from exportctl.spec.fields import output_sources
from exportctl.spec.problems import Problems
from exportctl.spec.schema import Path_


def incremental(p: Problems, doc: Mapping[str, Any]) -> m.Incremental | None:
    if "incremental" not in doc:
        return None
    if "limit" in doc.get("query", {}):
        # The watermark moves to the window's end, so rows past the limit would be lost.
        p.fail(("query", "limit"), "an incremental export cannot take a `limit`")
    if "order_by" in doc.get("query", {}):
        # Parts record the position of their last row; a retry resumes after it.
        p.fail(
            ("query", "order_by"),
            "an incremental export is ordered by its cursor and key; drop `order_by`",
        )
    if "retention" in doc:
        # Each run's file holds only that run's changes: deleting one loses those rows.
        p.fail(
            ("retention",),
            "an incremental export cannot take a `retention`: each file holds rows no "
            "other file has, so deleting one would lose them",
        )
    given = doc["incremental"]
    return _changes(p, given) if given.get("mode") == "changes" else _cursor(p, given)


def _cursor(p: Problems, given: Mapping[str, Any]) -> m.Incremental:
    """`cursor` and `log` take a cursor column and one tie-breaking key."""
    mode = given.get("mode", "cursor")
    path = ("incremental",)
    if "cursor" not in given:
        p.fail((*path, "cursor"), f"mode `{mode}` needs a `cursor` column")
    if isinstance(given.get("key"), list):
        p.fail((*path, "key"), f"mode `{mode}` takes one tie-breaking `key` column")
    if "settle" in given:
        try:
            units.duration(given["settle"])
        except ValueError as exc:
            p.fail((*path, "settle"), str(exc))
    return m.Incremental(
        cursor=given.get("cursor", ""),
        key=given.get("key") if isinstance(given.get("key"), str) else None,
        mode=mode,
        settle=given.get("settle"),
    )


def _changes(p: Problems, given: Mapping[str, Any]) -> m.Incremental:
    """`changes` takes key columns; its source must sort by them (`rules.changes_source`)."""
    path = ("incremental",)
    for name in ("cursor", "settle"):
        if name in given:
            p.fail((*path, name), f"mode `changes` compares whole rows; drop `{name}`")
    keys = given.get("key")
    keys = [keys] if isinstance(keys, str) else keys
    if not keys:
        p.fail((*path, "key"), "mode `changes` needs its `key` columns, e.g. [url]")
    return m.Incremental(mode="changes", keys=tuple(keys or ()))


def time_range(p: Problems, doc: Mapping[str, Any]) -> m.TimeRange | None:
    if "time_range" not in doc:
        return None
    given = doc["time_range"]
    path: Path_ = ("time_range",)
    if "incremental" in doc:
        # The watermark would move past rows before `from` that no run ever exported.
        p.fail(path, "an incremental export picks its rows by watermark; drop `time_range`")
    if "window" in given and ("from" in given or "to" in given):
        p.fail((*path, "window"), "give a `window` or `from`/`to`, not both")
    if not {"window", "from", "to"} & given.keys():
        p.fail(path, "give a `window`, or `from` and/or `to`")
    spec_range = m.TimeRange(
        given["field"],
        given.get("from"),
        given.get("to"),
        given.get("window"),
        given.get("timezone", "UTC"),
    )
    complaints = timerange.problems(spec_range)
    for key, complaint in complaints.items():
        p.fail((*path, key) if key else path, complaint)
    return spec_range


def reshape(p: Problems, doc: Mapping[str, Any]) -> m.Wide | None:
    """`reshape.wide`, checked against the fields and the order the source reads in."""
    if "reshape" not in doc:
        return None
    given, path = doc["reshape"]["wide"], ("reshape", "wide")
    wide = m.Wide(given["index"], given["columns"], given["values"], tuple(given["names"]))
    roles = {"index": wide.index, "columns": wide.columns, "values": wide.values}
    if len(set(roles.values())) < 3:
        p.fail(path, "`index`, `columns` and `values` must name three different fields")
    for key in sorted(set(wide.names) & {wide.index}):
        p.fail((*path, "names"), f"`{key}` is the index column's name")
    fields = output_sources(doc.get("fields"))
    for key, name in roles.items():
        if fields and name not in fields:
            p.fail((*path, key), f"`{name}` is not an output field; add it to `fields`")
    if "incremental" in doc:
        p.fail(path, "an incremental export cannot be reshaped: drop `incremental`")
    index = fields.get(wide.index) or wide.index
    order = [k.lstrip("-") for k in doc.get("query", {}).get("order_by", [])]
    if not order or order[0] != index:
        p.fail(
            ("query", "order_by"),
            f"a wide export needs the rows of each `{wide.index}` together: "
            f"order the query by it first (`order_by: [{index}]`)",
        )
    return wide
