"""Keeping secrets out of messages: URL credentials masked, values quoted with care.

Every function here runs in time linear in its text: messages quote what users
wrote (a 100,000-character `where.field`, say) and what sources hold.
"""

from __future__ import annotations

import re

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


def quote(value: object, limit: int = QUOTE_LIMIT) -> str:
    """A value as a message shows it: its repr, a long one cut to a prefix and its length."""
    text = repr(value)
    if len(text) <= limit:
        return text
    size = len(value) if isinstance(value, str | bytes) else len(text)
    return f"{text[:limit]}… ({size:,} characters)"
