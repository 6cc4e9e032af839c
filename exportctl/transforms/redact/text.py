"""Secrets inside text, replaced in place: URL credentials, `Authorization` headers and
bearer tokens, `key=value` pairs whose key is a secret name, secrets a configuration
line shows by its shape, and the spec's own patterns; JSON text is redacted as the
document it holds. Also how a secret is shown: masked, hashed, or dropped.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable
from typing import Any

from exportctl.errors import RunError
from exportctl.model import Redaction
from exportctl.transforms import line_secrets
from exportctl.transforms.redact.keys import key_matcher, key_value_pattern

_URL_USERINFO = re.compile(r"(?P<scheme>\b[a-z][a-z0-9+.-]*://)(?P<secret>[^/@\s?#\"'<>]+)@", re.I)
#: An `Authorization` header's credentials, or a bearer token anywhere.
_AUTHORIZATION = re.compile(
    r"\b(?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?"
    r"(?:(?:bearer|basic|digest|token|negotiate)\s+)?(?P<secret>[^\s\"',;]+)"
    r"|\bbearer\s+(?P<token>[A-Za-z0-9._~+/=-]{6,})",
    re.I,
)
#: An `Authorization` value the rule above has already redacted after its scheme.
SCHEMED = re.compile(r"(?:bearer|basic|digest|token|negotiate)\s", re.I)
#: Text that may hold a secret value at all; the rest is passed over quickly.
_CANDIDATE = re.compile(r"[:=@]|bearer", re.I)
#: A quoted string, `"..."` or `'...'`, escapes included.
_QUOTED = re.compile(r"\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'")


class TextRedactor(ABC):
    """Replaces the secrets in text as a spec's `redact` says, counting each rule's changes."""

    def __init__(self, rules: Redaction):
        if rules.mode == "hash" and not rules.hash_key:
            raise RunError(f"`redact.mode: hash` needs its key in `{rules.hash_key_env}`")
        self.rules = rules
        self.secret_key = key_matcher(rules.keys)
        self.patterns = [re.compile(p) for p in rules.values]
        self.key_values = key_value_pattern(rules.keys)
        #: Rule name → values changed, over every chunk so far.
        self.counts: Counter[str] = Counter()

    @abstractmethod
    def walk(self, value: Any, weight: int = 1) -> Any:
        """A value with its secrets redacted (for the document a JSON text holds)."""

    def count(self, rule: str, values: int) -> None:
        if values:
            self.counts[rule] += values

    def hidden(self, value: Any) -> str:
        """A secret value as `mask` or `hash` shows it."""
        if self.rules.mode != "hash":
            return self.rules.marker
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        assert self.rules.hash_key is not None
        return hmac.new(self.rules.hash_key, text.encode(), hashlib.sha256).hexdigest()

    def replacement(self, secret: str) -> str:
        return "" if self.rules.mode == "drop" else self.hidden(secret)

    def text(self, text: Any, weight: int) -> str | None:
        """The text with every secret in it replaced; None when it holds none."""
        if not isinstance(text, str) or not text:
            return None
        before = text
        document = json_document(text)
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
        if "authorization" in match["key"].lower() and SCHEMED.match(match[group]):
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


def json_document(text: str) -> Any:
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
