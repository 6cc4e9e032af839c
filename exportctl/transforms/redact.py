"""Redaction: secrets hidden in a chunk before it is encoded, so no format can leak them.

Two kinds of rule, both from the spec's `redact` section:

- by name: an output column whose name, or the name of a source column it is made from,
  holds a secret key (`password` in `db_password`, `api_key` in `PROXYWHIRL_API_KEY`) is
  masked, hashed or dropped whole; inside nested values (maps, dicts, lists) a key is.
- by value: text anywhere (free text, URLs, log messages, JSON text) is scanned for URL
  credentials (`scheme://user:pass@`), `Authorization` headers and bearer tokens,
  `key=value` / `key: value` / `"key": "value"` pairs whose key is a secret name, and the
  spec's own patterns; only the secret part is replaced.

Each distinct text is scanned once per chunk. The counts say, per rule, how many values
the rule changed; they never hold a value.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable
from itertools import accumulate
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from exportctl import templating
from exportctl.errors import RunError
from exportctl.json_values import is_json
from exportctl.spec.model import Field, Redaction
from exportctl.transforms import line_secrets

#: Words of a name: `PROXYWHIRL_API_KEY`, `cacheEncryptionKey`, `db-password2`.
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
_URL_USERINFO = re.compile(r"(?P<scheme>\b[a-z][a-z0-9+.-]*://)(?P<secret>[^/@\s?#\"'<>]+)@", re.I)
#: An `Authorization` header's credentials, or a bearer token anywhere.
_AUTHORIZATION = re.compile(
    r"\b(?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?"
    r"(?:(?:bearer|basic|digest|token|negotiate)\s+)?(?P<secret>[^\s\"',;]+)"
    r"|\bbearer\s+(?P<token>[A-Za-z0-9._~+/=-]{6,})",
    re.I,
)
#: An `Authorization` value the rule above has already redacted after its scheme.
_SCHEMED = re.compile(r"(?:bearer|basic|digest|token|negotiate)\s", re.I)


def key_value_pattern(keys: Iterable[str]) -> re.Pattern[str]:
    """`key=value`, `key: value`, `"key": "value"` where the key holds one of `keys`.

    The caller still checks the key on word ends (`author=` holds `auth`, yet is no secret).
    """
    fragments = sorted({re.sub(r"[^a-z0-9]", "", k.lower()) for k in keys} - {""}, key=len)
    spelled = "|".join("[_.-]?".join(map(re.escape, f)) for f in reversed(fragments))
    return re.compile(
        rf"(?P<key>[\w.-]*?(?:{spelled or '(?!)'})[\w.-]*)(?P<sep>\\?[\"']?\s*[:=]\s*)"
        r"(?:\\\"(?P<escaped>(?:[^\\]|\\[^\"])*)\\\"|"
        r"\"(?P<quoted>(?:[^\"\\]|\\.)*)\"|'(?P<single>[^']*)'|"
        r"(?!(?:bearer|basic|digest|negotiate)\s)(?P<bare>[^\s\"',;&}\]]+))",
        re.I,
    )


#: Text that may hold a secret value at all; the rest is passed over quickly.
_CANDIDATE = re.compile(r"[:=@]|bearer", re.I)
#: A quoted string, `"..."` or `'...'`, escapes included.
_QUOTED = re.compile(r"\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'")


def key_matcher(keys: Iterable[str]) -> Callable[[str], str | None]:
    """A test: the first key a name holds, matched on word ends, or None.

    `auth` is in `oauth_token` and `x-auth`, not in `author`; a plural `s` is allowed
    (`passwords`); separators and case are ignored (`apikey` is in `PROXYWHIRL_API_KEY`).
    """
    normal = [(key, re.sub(r"[^a-z0-9]", "", key.lower())) for key in keys]
    normal = [(key, letters) for key, letters in normal if letters]

    def test(name: str) -> str | None:
        words = [w.lower() for w in _WORD.findall(name)]
        letters = "".join(words)
        ends = set(accumulate(len(w) for w in words))
        for key, fragment in normal:
            start = letters.find(fragment)
            while start >= 0:
                end = start + len(fragment)
                if end in ends or (end + 1 in ends and letters[end] == "s"):
                    return key
                start = letters.find(fragment, start + 1)
        return None

    return test


class Redactor:
    """Redacts chunks as a spec's `redact` says, counting what each rule changed."""

    def __init__(self, rules: Redaction, fields: tuple[Field, ...] | None = None):
        if rules.mode == "hash" and not rules.hash_key:
            raise RunError(f"`redact.mode: hash` needs its key in `{rules.hash_key_env}`")
        self.rules = rules
        self.secret_key = key_matcher(rules.keys)
        self.origins = _origins(fields)
        self.patterns = [re.compile(p) for p in rules.values]
        self.key_values = key_value_pattern(rules.keys)
        #: Rule name → values changed, over every chunk so far.
        self.counts: Counter[str] = Counter()

    def apply(self, chunk: pd.DataFrame) -> pd.DataFrame:
        """The chunk with secret columns hidden or dropped and secret text replaced."""
        columns: dict[str, pd.Series] = {}
        for name, column in chunk.items():
            name = str(name)
            try:
                key = self.column_key(name)
                if key is not None and self.rules.mode == "drop":
                    self.count(f"key:{key}", int(column.notna().sum()))
                    continue
                columns[name] = self.whole(column, key) if key else self.scanned(column)
            except RunError:
                raise
            except Exception as exc:  # the message may quote the value: name only the type
                raise RunError(
                    f"redaction failed on field `{name}` ({type(exc).__name__}); "
                    "nothing was written"
                ) from None
        return pd.DataFrame(columns, index=chunk.index)

    def column_key(self, name: str) -> str | None:
        """The secret key an output column's name, or a source column it takes, holds."""
        for origin in (name, *self.origins.get(name, ())):
            key = self.secret_key(origin)
            if key is not None:
                return key
        return None

    def count(self, rule: str, values: int) -> None:
        if values:
            self.counts[rule] += values

    # --- whole values ------------------------------------------------------------

    def hidden(self, value: Any) -> str:
        """A secret value as `mask` or `hash` shows it."""
        if self.rules.mode != "hash":
            return self.rules.marker
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        assert self.rules.hash_key is not None
        return hmac.new(self.rules.hash_key, text.encode(), hashlib.sha256).hexdigest()

    def whole(self, column: pd.Series, key: str) -> pd.Series:
        present = column.notna().to_numpy(dtype=bool)
        values = column.to_numpy(dtype=object)
        out = [self.hidden(_plain(v)) if p else None for v, p in zip(values, present, strict=True)]
        self.count(f"key:{key}", int(present.sum()))
        return pd.Series(out, index=column.index, dtype=pd.ArrowDtype(pa.string()))

    # --- values inside text and nested values -------------------------------------

    def scanned(self, column: pd.Series) -> pd.Series:
        dtype = column.dtype
        if isinstance(dtype, pd.CategoricalDtype):  # categories are text like any other
            return self.scanned(column.astype(dtype.categories.dtype))
        if isinstance(dtype, pd.ArrowDtype):
            arrow = dtype.pyarrow_dtype
            if pa.types.is_dictionary(arrow):
                return self.scanned(column.astype(pd.ArrowDtype(arrow.value_type)))
            if is_json(arrow):  # a source's JSON values: their text, walked as documents
                text = column.astype(pd.ArrowDtype(pa.string()))
                scanned = self.distinct(text)
                return column if scanned is text else scanned.astype(dtype)
            if _is_text(arrow):
                return self.distinct(column)
            if pa.types.is_nested(arrow) or _is_binary(arrow):
                return self.typed_column(column, arrow)
            return column
        if isinstance(dtype, pd.StringDtype) or pd.api.types.is_object_dtype(dtype):
            return self.distinct(column)
        return column

    def distinct(self, column: pd.Series) -> pd.Series:
        """A text or object column, each distinct value looked at once."""
        try:
            codes, uniques = pd.factorize(column)
        except TypeError:  # unhashable values (dicts, lists): each one
            return self.each(column)
        table = np.asarray(uniques, dtype=object)
        weights = np.bincount(codes[codes >= 0], minlength=len(table))
        out = table.copy()
        for index, value in enumerate(table):
            out[index] = self.walk(value, int(weights[index]))
        if all(a is b for a, b in zip(out, table, strict=True)):
            return column
        values = column.to_numpy(dtype=object).copy()
        present = codes >= 0
        values[present] = out[codes[present]]
        return pd.Series(values, index=column.index, dtype=column.dtype)

    def each(self, column: pd.Series) -> pd.Series:
        values = column.to_numpy(dtype=object)
        out = [self.walk(v) for v in values]
        if all(a is b for a, b in zip(out, values, strict=True)):
            return column
        return pd.Series(out, index=column.index, dtype=column.dtype)

    def typed_column(self, column: pd.Series, arrow: pa.DataType) -> pd.Series:
        """Arrow maps, lists, structs and bytes, as Python values and back to the same type."""
        values = pa.array(column.array).to_pylist()
        out = [self.typed(v, arrow) for v in values]
        if all(a is b for a, b in zip(out, values, strict=True)):
            return column
        try:
            array = pa.array(out, type=arrow)
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # a hidden number is text now
            return pd.Series(out, index=column.index, dtype=object)
        return pd.Series(pd.arrays.ArrowExtensionArray(array), index=column.index)

    def typed(self, value: Any, arrow: pa.DataType) -> Any:
        """`walk`, led by the Arrow type: a map's pairs are keyed like a dict's."""
        if value is None:
            return None
        if pa.types.is_dictionary(arrow):
            return self.typed(value, arrow.value_type)
        if pa.types.is_map(arrow):
            pairs = self.pairs(value, 1, lambda _key, v: self.typed(v, arrow.item_type))
            return value if pairs is None else pairs
        if pa.types.is_struct(arrow):
            kinds = {field.name: field.type for field in arrow}
            pairs = self.pairs(list(value.items()), 1, lambda k, v: self.typed(v, kinds[k]))
            return value if pairs is None else dict(pairs)
        if _is_list(arrow):
            items = [self.typed(v, arrow.value_type) for v in value]
            changed = any(a is not b for a, b in zip(items, value, strict=True))
            return items if changed else value
        return self.walk(value)

    def walk(self, value: Any, weight: int = 1) -> Any:
        """A value with secret text replaced and, nested, secret keys hidden or dropped."""
        if isinstance(value, str):
            text = self.text(value, weight)
            return value if text is None else text
        if isinstance(value, bytes):  # kept byte for byte where nothing is secret
            text = self.text(value.decode("utf-8", "surrogateescape"), weight)
            return value if text is None else text.encode("utf-8", "surrogateescape")
        if isinstance(value, dict):
            pairs = self.pairs(list(value.items()), weight)
            return value if pairs is None else dict(pairs)
        if isinstance(value, list | tuple):
            items = [self.walk(v, weight) for v in value]
            changed = any(a is not b for a, b in zip(items, value, strict=True))
            return type(value)(items) if changed else value
        return value

    def pairs(
        self,
        pairs: list[tuple[Any, Any]],
        weight: int,
        inner: Callable[[Any, Any], Any] | None = None,
    ) -> list[tuple[Any, Any]] | None:
        """Key-value pairs redacted by key, then by value; None when nothing changed."""
        out: list[tuple[Any, Any]] = []
        changed = False
        for key, value in pairs:
            secret = self.secret_key(str(key))
            if secret is not None and value is not None:
                self.counts[f"key:{secret}"] += weight
                changed = True
                if self.rules.mode != "drop":
                    out.append((key, self.hidden(value)))
                continue
            walked = inner(key, value) if inner else self.walk(value, weight)
            name = self.text(key, weight) or key  # a URL can be a key too
            changed |= walked is not value or name is not key
            out.append((name, walked))
        return out if changed else None

    def text(self, text: Any, weight: int) -> str | None:
        """The text with every secret in it replaced; None when it holds none."""
        if not isinstance(text, str) or not text:
            return None
        before = text
        document = _json_document(text)
        if document is not None:  # JSON text is redacted as what it is: keys and values
            walked = self.walk(document, weight)
            if walked is not document:
                text = json.dumps(walked, ensure_ascii=False, separators=_separators(text))
        elif _CANDIDATE.search(text):
            # Escaped JSON first: decoded, it is redacted as what it is.
            text = _QUOTED.sub(lambda match: self.escaped(match, weight), text)
            text = self.rule("url_credentials", _URL_USERINFO, text, weight, self.userinfo)
            text = self.rule("authorization", _AUTHORIZATION, text, weight, self.secret)
            text = self.key_values_in(text, weight)
        masked = self.in_line(text)
        if masked != text:
            self.counts["line_secrets"] += weight
            text = masked
        for index, pattern in enumerate(self.patterns):
            text = self.rule(f"pattern:{index + 1}", pattern, text, weight, self.custom)
        return None if text == before else text

    def key_values_in(self, text: str, weight: int) -> str:
        """`key=value` secrets replaced; a bracketed value (`[..]`, `{..}`) goes whole."""
        pieces: list[str] = []
        position = 0
        while match := self.key_values.search(text, position):
            replaced = self.key_value(match)
            if replaced == match[0]:  # no secret key: its value may still hold one
                pieces.append(text[position : match.end("key")])
                position = match.end("key")
                continue
            end, bare = match.end(), match["bare"]
            if bare is not None and bare[0] in "[{":
                start = match.start("bare")
                end = _bracket_end(text, start)
                replaced = text[match.start() : start] + self.replacement(text[start:end])
            pieces += (text[position : match.start()], replaced)
            position = end
        result = "".join(pieces) + text[position:]
        if result != text:
            self.counts["key_value"] += weight
        return result

    def escaped(self, match: re.Match[str], weight: int) -> str:
        """A quoted string holding escaped quotes (JSON inside text): its content scanned."""
        quote, body = match[0][0], match[0][1:-1]
        if "\\" not in body:
            return match[0]
        try:
            inner = json.loads(f'"{body}"') if quote == '"' else None
        except ValueError:
            inner = None
        if isinstance(inner, str):
            text = self.text(inner, weight)
            return (
                match[0]
                if text is None
                else f"{quote}{json.dumps(text, ensure_ascii=False)[1:-1]}{quote}"
            )
        # Not JSON: look at it unescaped, and if that holds a secret, hide the whole string.
        if self.text(re.sub(r"\\(.)", r"\1", body), weight) is None:
            return match[0]
        return f"{quote}{self.replacement(body)}{quote}"

    def rule(
        self,
        name: str,
        pattern: re.Pattern[str],
        text: str,
        weight: int,
        replace: Callable[[re.Match[str]], str],
    ) -> str:
        result = pattern.sub(replace, text)
        if result != text:
            self.counts[name] += weight
        return result

    def in_line(self, text: str) -> str:
        """Secrets a plain-text configuration line shows by its shape (3proxy accounts,
        `-w` bind passwords, ...): see `line_secrets`."""
        return line_secrets.mask_line(
            text, lambda secret: secret if secret == self.rules.marker else self.replacement(secret)
        )

    def replacement(self, secret: str) -> str:
        return "" if self.rules.mode == "drop" else self.hidden(secret)

    def userinfo(self, match: re.Match[str]) -> str:
        info = match["secret"]
        if self.rules.url_mode == "strip_credentials" or self.rules.mode == "drop":
            return match["scheme"]
        if set(info) <= {"*", ":"} or info in (self.rules.marker, f"{self.rules.marker}:"):
            return match[0]  # already masked
        if self.rules.mode == "mask":
            marker = self.rules.marker
            return (
                f"{match['scheme']}{marker}:{marker}@"
                if ":" in info
                else match[0].replace(info, marker)
            )
        return f"{match['scheme']}{self.hidden(info)}@"

    def secret(self, match: re.Match[str]) -> str:
        return self.within(match, "secret" if match["secret"] is not None else "token")

    def key_value(self, match: re.Match[str]) -> str:
        if self.secret_key(match["key"]) is None:
            return match[0]
        group = next(g for g in ("escaped", "quoted", "single", "bare") if match[g] is not None)
        if "authorization" in match["key"].lower() and _SCHEMED.match(match[group]):
            return match[0]  # `Authorization: Basic ***`: the secret after it is gone
        return self.within(match, group)

    def custom(self, match: re.Match[str]) -> str:
        return self.within(match, "secret" if "secret" in match.re.groupindex else 0)

    def within(self, match: re.Match[str], group: int | str) -> str:
        """The match with its `group` replaced (unless empty or already the marker)."""
        value = match[group]
        if not value or value == self.rules.marker:
            return match[0]
        start, end = match.span(group)
        whole, offset = match[0], match.start()
        return whole[: start - offset] + self.replacement(value) + whole[end - offset :]


def _json_document(text: str) -> Any:
    """The value a JSON object, array or string text holds, or None when it is not one."""
    if text.lstrip()[:1] not in ("{", "[", '"'):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _separators(text: str) -> tuple[str, str]:
    """The separators a JSON text was written with, so a redacted one reads the same."""
    return (", ", ": ") if ": " in text or ", " in text else (",", ":")


def _bracket_end(text: str, start: int) -> int:
    """Where the bracketed value at `start` ends: after its closing bracket, or the text."""
    depth, quote, index = 0, "", start
    while index < len(text):
        char = text[index]
        if char == "\\":  # escaped: a quote of JSON escaped in text opens nothing
            index += 1
        elif quote:
            if char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
            if depth == 0:
                return index + 1
        index += 1
    return len(text)


def _is_text(arrow: pa.DataType) -> bool:
    return bool(pa.types.is_string(arrow) or pa.types.is_large_string(arrow))


def _is_binary(arrow: pa.DataType) -> bool:
    return bool(pa.types.is_binary(arrow) or pa.types.is_large_binary(arrow))


def _is_list(arrow: pa.DataType) -> bool:
    return bool(
        pa.types.is_list(arrow)
        or pa.types.is_large_list(arrow)
        or pa.types.is_fixed_size_list(arrow)
    )


def _origins(fields: tuple[Field, ...] | None) -> dict[str, tuple[str, ...]]:
    """Output name → the source columns it is made from (a rename's, a template's)."""
    origins: dict[str, tuple[str, ...]] = {}
    for field in fields or ():
        if field.source is not None:
            origins[field.name] = (field.source,)
        elif field.template is not None:
            origins[field.name] = tuple(sorted(templating.variables(field.template)))
    return origins


def _plain(value: Any) -> Any:
    """NumPy and Arrow scalars as Python values, so a hash sees `5`, not `np.int64(5)`."""
    return value.item() if hasattr(value, "item") and not isinstance(value, str) else value
