"""A chunk split into valid and invalid rows by the fields' declared checks and the
format's needs, with one reason per invalid row (never a secret column's value)."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from exportctl.errors import RunError
from exportctl.model import Check, Field
from exportctl.transforms.validate import problems as format_problems
from exportctl.transforms.validate.column import Column
from exportctl.transforms.validate.reasons import Failure, failures, hidden_shown, shown
from exportctl.values import not_utf8


@dataclass(frozen=True)
class Verdict:
    """A chunk split in two; both halves keep the chunk's columns and index."""

    valid: pd.DataFrame
    invalid: pd.DataFrame
    #: One per invalid row, in order: "port: 70000 is above the max 65535; host: NULL ..."
    reasons: list[str]


def checks_of(fields: tuple[Field, ...] | None) -> dict[str, Check]:
    """Output column name → its declared check (only fields that declare one)."""
    return {f.name: f.check for f in fields or () if f.check is not None}


def validate(
    chunk: pd.DataFrame,
    checks: Mapping[str, Check],
    encoder: type | None = None,
    *,
    options: Any = None,
    hidden: Callable[[str], bool] = lambda name: False,
) -> Verdict:
    """Split a chunk (output columns, after field selection) into valid and invalid rows.

    The reasons never show a value of a column `hidden` says holds secrets.

    Rows the encoder's optional `problems(chunk[, options])` hook flags are invalid too.
    Pass the format's `options` when you have them: some formats (text) can only tell
    what a row needs once they know them.
    """
    hook = getattr(encoder, "problems", None)
    checks = {name: c for name, c in checks.items() if c != Check()}
    # Text a source read that is not UTF-8: invalid in every format, with or without checks.
    not_text = None if chunk.empty else not_utf8.problems(chunk)
    if (not checks and hook is None and not_text is None) or chunk.empty:
        return _all_valid(chunk)
    _require(chunk, checks)
    findings = [(name, failures(Column(chunk[name]), check)) for name, check in checks.items()]
    codes = {name: _first(found, len(chunk)) for name, found in findings}
    problems = format_problems.joined(not_text, format_problems.from_format(hook, chunk, options))
    bad = np.zeros(len(chunk), dtype=bool)
    for code in codes.values():
        bad |= code > 0
    if problems is not None:
        bad |= problems.notna().to_numpy(dtype=bool)
    if not bad.any():
        return _all_valid(chunk)
    reasons = _reasons(chunk, np.flatnonzero(bad), findings, codes, problems, hidden)
    return Verdict(chunk[~bad], chunk[bad], reasons)


def _reasons(
    chunk: pd.DataFrame,
    rows: np.ndarray,
    findings: list[tuple[str, list[Failure]]],
    codes: dict[str, np.ndarray],
    problems: pd.Series | None,
    hidden: Callable[[str], bool],
) -> list[str]:
    """The reasons of the invalid `rows`: each field's first failure, then the format's."""
    reasons: list[list[str]] = [[] for _ in rows]
    for name, found in findings:
        show = hidden_shown if hidden(name) else shown
        _explain(reasons, name, chunk[name].iloc[rows], codes[name][rows], found, show)
    if problems is not None:
        for parts, problem in zip(reasons, problems.to_numpy(dtype=object)[rows], strict=True):
            if isinstance(problem, str):
                parts.append(problem)
    return ["; ".join(parts) for parts in reasons]


def _all_valid(chunk: pd.DataFrame) -> Verdict:
    return Verdict(chunk, chunk.iloc[:0], [])


def _require(chunk: pd.DataFrame, checks: Mapping[str, Check]) -> None:
    known = [str(c) for c in chunk.columns]
    for name in checks:
        if name not in chunk.columns:
            guess = difflib.get_close_matches(name, known, n=1)
            hint = f"did you mean `{guess[0]}`?" if guess else f"the fields are {', '.join(known)}"
            raise RunError(f"field `{name}` declares a check but is not an output field; {hint}")


def _first(found: list[Failure], rows: int) -> np.ndarray:
    """Per row, 1 + the index of the first failure it has; 0 if it has none."""
    code = np.zeros(rows, dtype=np.int8)
    for index in reversed(range(len(found))):
        code[found[index][0]] = index + 1
    return code


def _explain(
    reasons: list[list[str]],
    name: str,
    values: pd.Series,
    codes: np.ndarray,
    found: list[Failure],
    show: Callable[[Any], str],
) -> None:
    """Add `name: why` to the reasons of the invalid rows where this field failed."""
    for parts, value, code in zip(reasons, values.to_numpy(dtype=object), codes, strict=True):
        if code:
            parts.append(f"{name}: {found[code - 1][1](value, show(value))}")
