"""`${VAR}` and `${VAR:-default}` in spec strings, so specs in git carry no secrets."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

_REFERENCE = re.compile(r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")

Path_ = tuple[str | int, ...]


def interpolate(
    document: Any,
    env: Mapping[str, str],
    on_missing: Callable[[Path_, str], None],
    path: Path_ = (),
) -> Any:
    """A copy of `document` with every reference in its strings replaced.

    Keys are left alone. `${VAR:-default}` takes the default when VAR is unset
    or empty, as in the shell. A variable that is unset and has no default is
    reported through `on_missing` and replaced by an empty string.
    """
    if isinstance(document, dict):
        return {k: interpolate(v, env, on_missing, (*path, k)) for k, v in document.items()}
    if isinstance(document, list):
        return [interpolate(v, env, on_missing, (*path, i)) for i, v in enumerate(document)]
    if not isinstance(document, str):
        return document

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, default = match.group("name"), match.group("default")
        value = env.get(name)
        if default is not None and not value:  # as in the shell: unset or empty
            return default
        if value is None:
            on_missing(path, name)
            return ""
        return value

    return _REFERENCE.sub(substitute, document)


def references(document: Any) -> list[str]:
    """The variables `document`'s strings need: referenced without a default, in order."""
    if isinstance(document, dict):
        return [n for v in document.values() for n in references(v)]
    if isinstance(document, list):
        return [n for v in document for n in references(v)]
    if not isinstance(document, str):
        return []
    found = _REFERENCE.finditer(document)
    return [m.group("name") for m in found if m.group("name") and m.group("default") is None]
