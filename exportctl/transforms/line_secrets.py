"""Secrets in the lines of plain-text configurations, found by the line's shape.

Files that no structured reader parses (3proxy's `3proxy.cfg`, squid's `squid.conf`, an
LDAP helper's command line) carry secrets as words in a line, not as `key=value`:

- 3proxy accounts: `users admin:CL:secret bob:CR:$1$salt$hash` (clear text, crypt, NT);
- an authentication helper's bind password: `auth_param basic program
  /usr/lib/squid/basic_ldap_auth -D cn=proxy -w secret ...`;
- command-line password options: `--password secret`, `-password=secret`, `--pass x`;
- a directive naming a password with its value after a space: `bind_password secret`;
- squid's `cache_peer ... login=user:secret`;
- HAProxy's `user admin insecure-password secret` (or a `password` hash);
- Redis's `requirepass secret` and `masterauth secret`.

`mask_line` is the one entry point: a line in, the line with each secret replaced by what
`hide` makes of it out (redaction passes its mask, hash or nothing).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable
from functools import partial

#: Each pattern's groups named `secret...` are the secret parts. All run in linear time.
PATTERNS = (
    re.compile(r"(?<![^\s,\"'=])[^\s:,\"'=]+:(?:CL|CR|NT):(?P<secret>[^\s,\"']+)"),
    # `-w` is a bind password only on a line that names an authentication helper (below).
    re.compile(r"(?<=\s)-w\s+(?:\"(?P<secret_quoted>[^\"\n]*)\"|(?P<secret>[^\s\"']+))"),
    re.compile(
        r"(?:^|\s)--?pass(?:word|wd)?(?:\s+|=)(?:\"(?P<secret_quoted>[^\"\n]*)\""
        r"|(?P<secret>[^\s\"']+))",
        re.I,
    ),
    re.compile(r"^\s*[a-z_.-]*pass(?:word|wd)\s+(?P<secret>[^\s#=:\"']+)\s*(?:#.*)?$", re.M),
    re.compile(r"\blogin=[^\s:]+:(?P<secret>[^\s\"']+)"),
    re.compile(r"^\s*user\s+\S+\s+(?:insecure-)?password\s+(?P<secret>\S+)", re.M),
    re.compile(r"^\s*(?:requirepass|masterauth)\s+(?P<secret>\S+)", re.M),
)


#: Text that may hold one of the shapes at all; the rest (most text) is passed over at once.
_HINT = re.compile(r":(?:CL|CR|NT):|\s-w\s|pass|login=|masterauth", re.I)
_BIND_FLAG = PATTERNS[1]


def mask_line(line: str, hide: Callable[[str], str]) -> str:
    """`line` with every secret its shape shows replaced by `hide(secret)`."""
    if _HINT.search(line) is None:
        return line
    for pattern in PATTERNS:
        names_auth = _AuthOnLine(line) if pattern is _BIND_FLAG else None
        line = pattern.sub(partial(_hidden, hide=hide, names_auth=names_auth), line)
    return line


def _hidden(
    match: re.Match[str], hide: Callable[[str], str], names_auth: _AuthOnLine | None
) -> str:
    if names_auth is not None and not names_auth.before(match.start()):
        return match[0]
    whole, offset = match[0], match.start()
    spans = [
        match.span(name)
        for name in match.re.groupindex
        if name.startswith("secret") and match[name] is not None
    ]
    for start, end in sorted(spans, reverse=True):
        secret = match.string[start:end]
        if secret:
            whole = whole[: start - offset] + hide(secret) + whole[end - offset :]
    return whole


class _AuthOnLine:
    """Whether the line before a place names an authentication helper (`basic_ldap_auth`);
    each line is searched once, however many `-w` it holds."""

    _AUTH = re.compile("auth", re.I)

    def __init__(self, text: str):
        self.text = text
        self.breaks = [m.start() for m in re.finditer("\n", text)]
        self.first: dict[int, int] = {}  # a line's start → where `auth` first is in it

    def before(self, at: int) -> bool:
        index = bisect.bisect_left(self.breaks, at)
        start = self.breaks[index - 1] + 1 if index else 0
        if start not in self.first:
            end = self.text.find("\n", start)
            found = self._AUTH.search(self.text, start, len(self.text) if end < 0 else end)
            self.first[start] = found.start() if found else len(self.text)
        return self.first[start] < at
