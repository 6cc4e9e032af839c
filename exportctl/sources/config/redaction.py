"""Redaction of a configuration export: the shared engine, led by `rules`' tables.

A `config` row's `content` is walked with its key path, so a value is judged by its own
key, its shape and its parents (see `rules`). Text values (and plain-text lines, through
`lines.mask_line`/`mask_lines`) are scanned by the line rules, then by the engine's own (URLs
with credentials, `Authorization`, `key=value`). Each row's `sha256` is then taken of its
content *as exported*, masks and all: a digest of the secret-bearing original would let a
short list of guesses recover a masked value.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pyarrow as pa

from exportctl.model import Field, Redaction
from exportctl.sources.config import rules, typed
from exportctl.sources.config.rules import Kind
from exportctl.transforms.redact.columns import Redactor
from exportctl.transforms.redact.keys import key_value_pattern
from exportctl.transforms.redact.text import SCHEMED, json_document


@dataclass(frozen=True)
class Where:
    """Where a value sits: its key path, and what its parents make of it."""

    path: tuple[str | int, ...] = ()
    #: Inside a secret's container (`secrets: {...}`, a Secret's `data`): values are secrets.
    secret: bool = False
    #: An item of an authentication setting's list: text is a credential unless a flag.
    auth: bool = False

    def at(self, key: str | int, *, secret: bool = False, auth: bool = False) -> Where:
        return Where((*self.path, key), secret, auth)


class ConfigRedactor(Redactor):
    """Redacts `config` rows: content by key, shape and context; the digest after."""

    def __init__(self, redaction: Redaction, fields: tuple[Field, ...] | None = None):
        super().__init__(redaction, fields)
        self.names = rules.Names(redaction.keys)
        self.key_values = key_value_pattern(
            (*redaction.keys, *rules.SECRET_NAMES, *rules.AUTH_NAMES)
        )

    def apply(self, chunk: pd.DataFrame) -> pd.DataFrame:
        content = self.column_from(chunk, "content")
        out = super().apply(chunk.drop(columns=[content]) if content else chunk)
        if content is None:
            values: list[Any] = [None] * len(chunk)
        else:
            values = [self.content(v) for v in chunk[content].to_numpy(dtype=object)]
            position = list(chunk.columns).index(content)
            out.insert(position, content, pd.Series(values, index=chunk.index, dtype=object))
        digest = self.column_from(chunk, "sha256")
        if digest is not None:  # of what is exported, never of the secret-bearing original
            digests = [None if v is None else typed.digest(v) for v in values]
            out[digest] = pd.Series(digests, index=chunk.index, dtype=pd.ArrowDtype(pa.string()))
        return out

    def column_from(self, chunk: pd.DataFrame, source: str) -> str | None:
        """The output column holding the source's `source` column (renamed or not)."""
        for name in map(str, chunk.columns):
            if name == source or self.origins.get(name) == (source,):
                return name
        return None

    def content(self, value: Any) -> Any:
        """A row's content, its tags read, redacted, and tagged again for the document."""
        if value is None:
            return None
        return typed.encode(self.walk(typed.decode(value)))

    # --- the walk -----------------------------------------------------------------------

    def walk(self, value: Any, weight: int = 1, where: Where | None = None) -> Any:
        where = where or Where()
        if isinstance(value, dict):
            return self.mapping(value, weight, where)
        if isinstance(value, list | tuple):
            if rules.is_pem_lines(list(value)):
                return self.masked(value, weight, "config:pem")
            items = [
                self.walk(v, weight, where.at(i, secret=where.secret, auth=where.auth))
                for i, v in enumerate(value)
            ]
            items = self.flag_values(items, weight)
            changed = any(a is not b for a, b in zip(items, value, strict=True))
            return type(value)(items) if changed else value
        if where.secret or where.auth:
            kind: Kind = "secret" if where.secret else "auth"
            if rules.hides(kind, value, self.rules.marker):
                return self.masked(value, weight, f"config:{kind}")
        if isinstance(value, str | bytes):
            return super().walk(value, weight)  # text: the line rules, then the engine's
        return value

    def flag_values(self, items: list[Any], weight: int) -> list[Any]:
        """An argument list's secret flag values: `["--api-token", "value"]`."""
        for index, (flag, item) in enumerate(zip(items, items[1:], strict=False)):
            match = rules.LONE_FLAG.fullmatch(flag) if isinstance(flag, str) else None
            kind = self.names.kind(match["key"]) if match else None
            if kind is not None and rules.hides(kind, item, self.marker):
                items[index + 1] = self.masked(item, weight, f"config:{kind}")
        return items

    def mapping(self, value: dict[str, Any], weight: int, where: Where) -> dict[str, Any]:
        named = self.named_pair(value)
        secret_maps = _secret_maps(value)
        out: dict[str, Any] = {}
        for key, item in value.items():
            if key == named[1] and named[0] is not None:
                out[key] = self.under(named[0], item, weight, where.at(key))
            elif key in secret_maps:
                out[key] = self.walk(item, weight, where.at(key, secret=True))
            else:
                out[key] = self.entry(key, item, weight, where)
        changed = any(out[k] is not value[k] for k in value)
        return out if changed else value

    def named_pair(self, value: dict[str, Any]) -> tuple[Kind | None, str]:
        """`{name: DB_PASSWORD, value: ...}`: the kind the name gives its value's key."""
        for name_key, value_key in rules.PAIR_KEYS:
            if isinstance(value.get(name_key), str) and value_key in value:
                return self.names.kind(value[name_key]), value_key
        return None, ""

    def entry(self, key: str, item: Any, weight: int, where: Where) -> Any:
        """One key's value, judged by the key's name, the value's shape and the parents."""
        path = (*where.path, key)
        if any(rules.tail_matches(path, p) for p in rules.REFERENCE_PATHS):
            return item
        named = isinstance(item, str) and rules.OBJECT_NAMES.fullmatch(item)
        if named and where.path[-1:] == (rules.ANNOTATIONS,):
            return item
        kind = self.names.kind(key) or self.implied(key, item, where)
        if kind is not None:
            return self.under(kind, item, weight, where.at(key))
        if rules.letters(key) in rules.CREDENTIAL_LISTS:
            return self.credential_list(item, weight, where.at(key))
        return self.walk(item, weight, where.at(key))

    def implied(self, key: str, item: Any, where: Where) -> Kind | None:
        """A key not secret by name whose place makes it one: a proxy's `uuid`, a client's
        `id`, any key inside a secret's container but its structure (`name`, `create`)."""
        name = rules.letters(key)
        if name in rules.UUID_NAMES and isinstance(item, str):
            return "secret"
        if name == "id" and isinstance(item, str) and rules.UUID.fullmatch(item.strip()):
            owners = {str(p).lower() for p in where.path}
            return "secret" if owners & rules.CREDENTIAL_OWNERS else None
        if where.secret and not _structural(key):
            return "secret"
        return None

    def under(self, kind: Kind, item: Any, weight: int, where: Where) -> Any:
        """The value of a secret (or authentication) key."""
        if isinstance(item, dict):  # a secret's container; an auth section's own keys
            return self.walk(item, weight, Where(where.path, secret=kind == "secret"))
        if isinstance(item, list | tuple):
            if kind == "secret" and rules.is_pem_lines(list(item)):
                return self.masked(item, weight, "config:pem")
            return self.walk(item, weight, Where(where.path, kind == "secret", kind == "auth"))
        if rules.hides(kind, item, self.rules.marker):
            return self.masked(item, weight, f"config:{kind}")
        return item

    def credential_list(self, item: Any, weight: int, where: Where) -> Any:
        """`users: {alice: password}` or `users: [alice:password, {...}]`."""
        if isinstance(item, dict):
            out = {}
            for key, value in item.items():
                plain = isinstance(value, str | int | float) and not isinstance(value, bool)
                if plain and self.names.kind(key) is None and not _structural(key):
                    out[key] = self.under("secret", value, weight, where.at(key))
                else:
                    out[key] = self.entry(key, value, weight, where)
            return out
        if isinstance(item, list):
            return [self.user_item(v, weight, where.at(i)) for i, v in enumerate(item)]
        return self.walk(item, weight, where)

    def user_item(self, value: Any, weight: int, where: Where) -> Any:
        credential = isinstance(value, str) and rules.USER_PASS.fullmatch(value.strip())
        if credential and rules.hides("secret", value, self.rules.marker):
            return self.masked(value, weight, "config:user_password")
        return self.walk(value, weight, where)

    def masked(self, value: Any, weight: int, rule: str) -> str:
        self.count(rule, weight)
        return self.hidden(value)

    # --- text ---------------------------------------------------------------------------

    def text(self, text: Any, weight: int) -> str | None:
        if not isinstance(text, str) or not text:
            return None
        if json_document(text) is not None:  # JSON: the engine walks it as such
            return super().text(text, weight)
        lined = self.lines(text, weight, directives="\n" in text.strip())
        scanned = super().text(lined, weight)
        result = lined if scanned is None else scanned
        return None if result == text else result

    def lines(self, text: str, weight: int, *, directives: bool) -> str:
        """Private keys, then each line by the line rules."""
        text = _pem_blocks(text, lambda: self.masked("", weight, "config:pem"), self.rules.marker)
        return "".join(self.line(line, weight, directives) for line in text.splitlines(True))

    def line(self, line: str, weight: int, directives: bool = True) -> str:
        """One line with its secrets masked, by shape (`LINE_RULES`) and by name."""
        body = line.rstrip("\r\n")
        end = line[len(body) :]
        for name, only, pattern in rules.LINE_RULES:
            if only is None or only.search(body):
                body = pattern.sub(self.replacer(weight, f"line:{name}"), body)
        for pattern in (rules.ASSIGNMENT, rules.DIRECTIVE) if directives else (rules.ASSIGNMENT,):
            match = pattern.fullmatch(body)
            if match is not None:
                body = self.named(match, weight)
                break
        for pattern in (rules.HEADER, rules.FLAG):
            body = pattern.sub(lambda m: self.named(m, weight), body)
        return body + end

    def replacer(self, weight: int, rule: str) -> Callable[[re.Match[str]], str]:
        return lambda match: self.group(match, weight, rule)

    def named(self, match: re.Match[str], weight: int) -> str:
        """A `key value` match with its value masked when the key names a secret."""
        kind = self.names.kind(match["key"])
        value = match["secret"]
        quoted = len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'"
        if kind is None or not rules.hides(kind, value[1:-1] if quoted else value, self.marker):
            return match[0]
        return self.group(match, weight, f"config:{kind}", keep_quotes=quoted)

    def group(
        self, match: re.Match[str], weight: int, rule: str, *, keep_quotes: bool = False
    ) -> str:
        value = match["secret"]
        if not value or value.strip("\"'") == self.marker:
            return match[0]
        self.count(rule, weight)
        start, end = match.span("secret")
        if keep_quotes:
            start, end = start + 1, end - 1
        offset = match.start()
        return match[0][: start - offset] + self.marker + match[0][end - offset :]

    @property
    def marker(self) -> str:
        return self.rules.marker

    def key_value(self, match: re.Match[str]) -> str:
        """`key=value` in text, judged by the key's words and the value's shape."""
        kind = self.names.kind(match["key"])
        if kind is None:
            return match[0]
        group = next(g for g in ("escaped", "quoted", "single", "bare") if match[g] is not None)
        if not rules.hides(kind, match[group], self.marker):
            return match[0]
        if "authorization" in match["key"].lower() and SCHEMED.match(match[group]):
            return match[0]  # `Authorization: Basic ***`: the secret after it is gone
        return self.within(match, group)


def _structural(key: str) -> bool:
    """A key that holds the structure of a secret, not the secret: `name`, `create`."""
    words = re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+", key)
    last = words[-1].lower() if words else ""
    return last in rules.NON_SECRET_HEADS or rules.letters(key) in rules.STRUCTURE_NAMES


def _secret_maps(value: dict[str, Any]) -> tuple[str, ...]:
    """The keys of a Kubernetes Secret whose maps hold secrets (`data`, `stringData`)."""
    kind = value.get("kind")
    return rules.SECRET_OBJECTS.get(kind, ()) if isinstance(kind, str) else ()


def _pem_blocks(text: str, counted: Callable[[], str], marker: str) -> str:
    """Each private key block, BEGIN to END (or to the end of the text), as the marker."""
    while (begin := rules.PEM_BEGIN.search(text)) is not None:
        end_line = f"-----END {begin['label']}-----"
        end = text.find(end_line, begin.end())
        stop = len(text) if end < 0 else end + len(end_line)
        counted()
        text = text[: begin.start()] + marker + text[stop:]
    return text
