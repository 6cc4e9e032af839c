"""Each broken rule of a check, as the rows it fails and how to say why for one value;
a value shown quoted and cut short, or, for a secret column, as its kind and size only."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from exportctl.model import Check
from exportctl.secrecy import hidden
from exportctl.transforms.validate import rules
from exportctl.transforms.validate.column import Column

#: How long a value may be in a reason before it is cut.
SHOWN = 50

_NAMED = {"integer": "an integer", "number": "a number", "boolean": "a boolean"}

#: A row mask and the reason for one value it holds.
#: A reason is given the value and how to show it (hidden, for a secret column's).
Failure = tuple[np.ndarray, Callable[[Any, str], str]]


def failures(column: Column, check: Check) -> list[Failure]:
    """Each broken rule as (rows, reason for a value), in the order reasons name them."""
    found: list[Failure] = []
    if not check.nullable:
        found.append((column.null, lambda v, text: "NULL not allowed"))
    if check.type is not None:
        named = _NAMED.get(check.type, f"a {check.type}")
        found.append((rules.bad_type(column, check.type), lambda v, text: f"{text} is not {named}"))
    if check.allowed is not None:
        listed = _cut(", ".join(shown(a) for a in check.allowed))
        found.append(
            (
                rules.bad_allowed(column, check.allowed),
                lambda v, text: f"{text} is not one of {listed}",
            )
        )
    if check.pattern is not None:
        found.append((rules.bad_pattern(column, check.pattern), _pattern_reason(check.pattern)))
    for bound, below in ((check.min, True), (check.max, False)):
        if bound is not None:
            found.append((rules.bad_range(column, bound, below), _range_reason(bound, below)))
    return found


def shown(value: Any) -> str:
    """A value as a reason shows it: text quoted, so `'5'` and `5` differ; cut short."""
    return _cut(repr(value) if isinstance(value, str) else str(value))


def hidden_shown(value: Any) -> str:
    """A secret column's value as a reason shows it: its kind and size only."""
    return hidden(value)


def _cut(text: str) -> str:
    return text if len(text) <= SHOWN else text[: SHOWN - 1] + "…"


def _pattern_reason(pattern: str) -> Callable[[Any, str], str]:
    def reason(value: Any, shown_value: str) -> str:
        if not isinstance(value, str):
            return f"{shown_value} is not text, so cannot match {shown(pattern)}"
        return f"{shown_value} does not match {shown(pattern)}"

    return reason


def _range_reason(bound: float, below: bool) -> Callable[[Any, str], str]:
    edge = f"the min {bound}" if below else f"the max {bound}"

    def reason(value: Any, shown_value: str) -> str:
        if not rules.is_type(value, "number"):
            return f"{shown_value} is not a number, so cannot meet {edge}"
        if rules.within(value, bound, not below):  # compares, so it is on the wrong side
            return f"{shown_value} is {'below' if below else 'above'} {edge}"
        return f"{shown_value} cannot be compared with {edge}"

    return reason
