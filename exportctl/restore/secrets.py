"""Redacted values in a configuration export, and the secrets that replace them.

A value is redacted when it holds the export's mask (`***` unless the spec chose another
`marker`): a secret masked whole, or text such as `postgresql://***:***@db/app` with its
credentials masked. Restore never writes one. A secret is supplied for the whole value:

- `--secrets-from env`: the variable `EXPORTCTL_SECRET_<NAME>`, where NAME is the file and
  key (`proxywhirl.toml:cache.encryption_key` → `PROXYWHIRL_TOML_CACHE_ENCRYPTION_KEY`) or
  the key alone (`CACHE_ENCRYPTION_KEY`), in capitals with every other character `_`;
  the value is text.
- `--secrets-from FILE`: a YAML or JSON mapping, or a `.env` file, from the same names as
  written (`proxywhirl.toml:cache.encryption_key`, or `cache.encryption_key`) to values;
  YAML and JSON values keep their types.

A text file's masks are inside its lines (`users admin:CL:***`): its secret is named by the
line's index in the document's `content` with its file (`3proxy.cfg:[2]`, never `[2]` alone)
and fills the line's masks, one text for all of them or a list of one per mask, in order.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from exportctl.errors import UsageError
from exportctl.sources.config import files

ENV_PREFIX = "EXPORTCTL_SECRET_"
_MISSING = object()

Location = tuple[str | int, ...]


class SecretsMissing(UsageError):
    """The document holds redacted values and no secret was given for some of them."""

    def __init__(self, missing: list[Redacted]):
        self.missing = missing
        named = "".join(f"\n  {r.qualified}  (or ${r.variables()[1]})" for r in missing)
        super().__init__(
            f"{len(missing)} redacted value(s) in the export and no secret for them, so "
            f"nothing was written; give them with --secrets-from env or FILE:{named}"
        )


@dataclass(frozen=True)
class Redacted:
    """Where a redacted value sits: its file (or `environment`) and its key path."""

    entry: str
    location: Location
    #: A text file's line: named with its file only, as `[2]` alone names no place.
    line: bool = False

    @property
    def key(self) -> str:
        """`cache.encryption_key`, `upstreams[0].password`, `PROXYWHIRL_API_KEY`."""
        text = ""
        for part in self.location:
            text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
        return text

    @property
    def qualified(self) -> str:
        return f"{self.entry}:{self.key}"

    def names(self) -> tuple[str, str]:
        return (self.qualified, self.qualified) if self.line else (self.qualified, self.key)

    def variables(self) -> tuple[str, str]:
        return tuple(ENV_PREFIX + _variable(n) for n in self.names())  # type: ignore[return-value]


def _variable(name: str) -> str:
    return re.sub(r"[^A-Z0-9]+", "_", name.upper()).strip("_")


def redacted(entry: str, value: Any, marker: str, at: Location = ()) -> list[Redacted]:
    """Every value under `value` that holds the marker."""
    if isinstance(value, str):
        return [Redacted(entry, at)] if marker in value else []
    if isinstance(value, dict):
        return [r for k, v in value.items() for r in redacted(entry, v, marker, (*at, k))]
    if isinstance(value, list):
        return [r for i, v in enumerate(value) for r in redacted(entry, v, marker, (*at, i))]
    return []


def supplier(source: str | None, environ: Mapping[str, str]) -> Mapping[str, Any]:
    """The secrets by name: from the environment, a file, or none."""
    if source is None:
        return {}
    if source == "env":
        return {k: v for k, v in environ.items() if k.startswith(ENV_PREFIX)}
    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read the secrets file {path}: {exc}") from None
    try:
        if files.format_of(path) == "env":
            found: Any = files.parse_env(text)
        elif path.suffix == ".json":
            found = json.loads(text)
        else:
            found = yaml.safe_load(text)
    except (ValueError, yaml.YAMLError):
        raise UsageError(f"the secrets file {path} is not valid YAML, JSON or .env") from None
    if not isinstance(found, dict):
        raise UsageError(f"the secrets file {path} must map names to values")
    return found


def secret_for(item: Redacted, secrets: Mapping[str, Any], from_env: bool) -> Any:
    """The secret supplied for a redacted value, or `_MISSING`."""
    for name in item.variables() if from_env else item.names():
        if name in secrets:
            return secrets[name]
    return _MISSING


def fill(
    entry: str,
    value: Any,
    marker: str,
    secrets: Mapping[str, Any],
    from_env: bool,
    *,
    lines: bool = False,
) -> tuple[Any, list[Redacted], list[Any]]:
    """`value` with each redacted value replaced by its secret; the ones left without, and
    the secrets used (so that messages and diffs can hide them). With `lines` (a text
    file's lines) a secret fills the masks inside its line, the rest of the line kept."""
    missing: list[Redacted] = []
    used: list[Any] = []
    for item in redacted(entry, value, marker):
        item = replace(item, line=lines)
        secret = secret_for(item, secrets, from_env)
        if secret is _MISSING:
            missing.append(item)
            continue
        if lines:
            line, pieces = _filled_line(value[item.location[0]], marker, secret, item)
            value = _replaced(value, item.location, line)
            used += pieces
        else:
            value = _replaced(value, item.location, secret)
            used.append(secret)
    return value, missing, used


def _filled_line(line: str, marker: str, secret: Any, item: Redacted) -> tuple[str, list[str]]:
    """A text line's masks filled: a text secret fills each; a list, one mask each in order."""
    count = line.count(marker)
    pieces = [secret] * count if isinstance(secret, str) else secret
    if not isinstance(pieces, list) or not all(isinstance(p, str) for p in pieces):
        raise UsageError(f"the secret for {item.qualified} must be text (or a list of texts)")
    if len(pieces) != count:
        raise UsageError(
            f"{item.qualified} holds {count} masked value(s) and {len(pieces)} secret(s) "
            "were given for it: give one text for all, or a list of one per mask in order"
        )
    parts = line.split(marker)
    filled = parts[0] + "".join(p + rest for p, rest in zip(pieces, parts[1:], strict=True))
    return filled, list(pieces)


def _replaced(value: Any, location: Location, secret: Any) -> Any:
    if not location:
        return secret
    head, rest = location[0], location[1:]
    if isinstance(value, dict):
        return {k: _replaced(v, rest, secret) if k == head else v for k, v in value.items()}
    return [_replaced(v, rest, secret) if i == head else v for i, v in enumerate(value)]
