"""Keeping secrets out of messages: URL credentials masked, values quoted with care.

Every function here runs in time linear in its text: messages quote what users
wrote (a 100,000-character `where.field`, say) and what sources hold.
"""

from __future__ import annotations

import json
import os
import re
import sys
from urllib.parse import quote, quote_plus

_AUTHORITY_END = re.compile(r"[/\s]")
#: A query parameter, name then value; a name never spans a `?`, so each scan is short.
_PARAM = re.compile(r"(?P<name>[?&][^=&\s#?]*=)(?P<value>[^&\s#]+)")
#: Parameter names that carry secrets, e.g. a presigned URL's X-Amz-Signature.
_SECRET_NAME = re.compile(r"signature|sig|token|secret|passw|credential|auth|key", re.I)
#: The most of one value a message quotes; the rest is counted, not shown.
QUOTE_LIMIT = 60


def scrub(text: str) -> str:
    """Credentials in URLs replaced, so no secret reaches a message, a log or the ledger."""
    return _PARAM.sub(_masked_param, _mask_userinfo(text))


def _mask_userinfo(text: str) -> str:
    """`scheme://user:password@host` → `scheme://***:***@host`, for every URL in `text`.

    The user information is what comes before the authority's last `@` (a password
    may hold an `@`); the authority ends at the first `/` or blank, as urllib has it.
    One pass: no character is looked at more than a few times, however long the text.
    """
    out: list[str] = []
    done = 0
    start = text.find("://")
    while start != -1:
        begin = start + 3
        found = _AUTHORITY_END.search(text, begin)
        end = found.start() if found else len(text)
        at = text.rfind("@", begin, end)
        if at != -1:
            mask = "***:***" if ":" in text[begin:at] else "***"
            out += [text[done:begin], mask]
            done = at
        start = text.find("://", max(end - 1, begin))  # "a://b://" shares a "/"
    out.append(text[done:])
    return "".join(out)


def _masked_param(match: re.Match[str]) -> str:
    name = match["name"]
    return f"{name}***" if _SECRET_NAME.search(name) else match[0]


def quoted(value: object, limit: int = QUOTE_LIMIT) -> str:
    """A value as a message shows it: its repr, a long one cut to a prefix and its length."""
    text = repr(value)
    if len(text) <= limit:
        return text
    size = len(value) if isinstance(value, str | bytes) else len(text)
    return f"{text[:limit]}… ({size:,} characters)"


#: The most of a message a run's result, the ledger or a log keeps.
MESSAGE_LIMIT = 2_000


#: How much past a cut a message is scrubbed, so a secret across the cut is found whole.
SECRET_MARGIN = 10_000


def capped(message: str, limit: int = MESSAGE_LIMIT, total: int | None = None) -> str:
    """A message cut to `limit` characters, saying how long it was (`total`, if it was
    cut before); a 301 KB one was seen."""
    if len(message) <= limit and total is None:
        return message
    total = len(message) if total is None else total
    return f"{message[:limit]}… (message cut: {total:,} characters)"


def hidden(value: object) -> str:
    """What a message says in place of a secret value: its kind and size, never a part."""
    size = f", {len(value):,} characters" if isinstance(value, str | bytes) else ""
    return f"a hidden value ({type(value).__name__}{size})"


def encodings(secret: str) -> set[str]:
    """The forms a value takes in messages: as is, escaped by repr or JSON, percent-encoded."""
    forms = {
        secret,
        repr(secret)[1:-1],
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        quote(secret, safe=""),
        quote_plus(secret, safe=""),
    }
    return {form for form in forms if form}


def debugging() -> bool:
    """Whether `--debug` or EXPORTCTL_DEBUG=1 asks for tracebacks."""
    return os.environ.get("EXPORTCTL_DEBUG", "") not in ("", "0")


def debug_trace(text: str) -> None:
    """A failure's traceback, scrubbed by the caller, to stderr: what `--debug` asks for.

    Here, beside `debugging`, so that the run stage writes nothing to the terminal itself.
    """
    sys.stderr.write(f"{text}\n")
