"""Which columns of a run hold secrets, and their values kept out of a failure's text.

A column holds secrets when it is a credential column (`credentials.username`,
`password`, `url`), when its name or a source column it is made from (a rename's, a
template's) is named like a secret (the `redact` keys, the default ones always), or
when `redact` hides it. Messages never quote such a column's values; and since a
library's message may (a failed cast, say), a failure's text is scrubbed of every
value the secret columns of the chunk at hand hold, in every encoding.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import pandas as pd

from exportctl.lang import templating
from exportctl.model import DEFAULT_REDACT_KEYS, ExportSpec, Field
from exportctl.secrecy import encodings
from exportctl.transforms.redact.keys import key_matcher

#: Shorter values are not scrubbed from free text: "ab" would mangle every message.
#: Our own messages never quote a secret column's value, whatever its length.
SHORTEST = 4


def secret_columns(spec: ExportSpec) -> Callable[[str], bool]:
    """A test: whether a column (source or output) holds secrets in this spec's runs."""
    keys = (*DEFAULT_REDACT_KEYS, *(spec.redact.keys if spec.redact else ()))
    named = key_matcher(keys)
    rules = spec.credentials
    credentials = {rules.username, rules.password, rules.url}
    origins = {field.name: _origins(field) for field in spec.fields or ()}

    def test(name: str) -> bool:
        return any(n in credentials or named(n) for n in (name, *origins.get(name, ())))

    return test


def _origins(field: Field) -> tuple[str, ...]:
    """The source columns an output field is made from (a rename's, a template's)."""
    if field.template is not None:
        return tuple(templating.variables(field.template))
    return (field.source,) if field.source is not None else ()


class SecretValues:
    """The secret columns of the chunk at hand; their values are read only on failure."""

    def __init__(self, is_secret: Callable[[str], bool]):
        self.is_secret = is_secret
        self.columns: list[pd.Series] = []

    def hold(self, *chunks: pd.DataFrame) -> None:
        """The chunk(s) now in the pipeline (as read, as revealed, as selected)."""
        self.columns = [c[n] for c in chunks for n in c.columns if self.is_secret(str(n))]

    def scrub(self, text: str) -> str:
        """`text` with every value of the held secret columns masked, in any encoding."""
        for value in self._values():
            for form in sorted(encodings(value), key=len, reverse=True):
                if form in text:
                    text = text.replace(form, "***")
        return text

    def _values(self) -> Iterable[str]:
        seen: set[str] = set()
        for column in self.columns:
            for value in column.to_numpy(dtype=object):
                if isinstance(value, bytes):
                    value = value.decode("utf-8", "replace")
                if isinstance(value, str) and len(value) >= SHORTEST and value not in seen:
                    seen.add(value)
        return sorted(seen, key=len, reverse=True)  # longest first: a secret may hold another
