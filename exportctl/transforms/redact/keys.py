"""Secret names: whether a column or key name holds a secret key, matched on word ends,
and the `key=value` pattern that finds such pairs in text. Light: no data library."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from itertools import accumulate

#: Words of a name: `PROXYWHIRL_API_KEY`, `cacheEncryptionKey`, `db-password2`.
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")


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
