"""Proxy credentials in a chunk, as the spec's `credentials.mode` says.

Runs on the source's columns, before fields are selected, so a renamed column or a
template sees the credentials as the mode leaves them. Rows with both a username and a
password column are a proxy's: all their values count as credentials, and so does the
user info of their URL. Elsewhere, only values stored encrypted do (a lone `password`
column in plain text is for `redact`).

- `strip`: username and password become NULL, and URLs lose their user info;
- `mask`: present values become the marker, and so does a URL's user info;
- `keep`: the values as stored (`encrypted:...`), for a backup that restores;
- `reveal`: `encrypted:` values decrypted; one no key opens fails the run, naming
  the proxy, never the value.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from cryptography.fernet import MultiFernet

from exportctl import crypto as stored
from exportctl.errors import RunError, scrub
from exportctl.model import Credentials

#: `scheme://user:pass@` up to the last `@` before the host: the user info of a URL.
_USERINFO = re.compile(r"^(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<info>[^/?#]*)@", re.I)
_USERINFO_RE2 = r"^([a-zA-Z][a-zA-Z0-9+.-]*://)[^/?#]*@"


class CredentialsStage:
    """The stage for one run: its keys opened once, the values it decrypted counted."""

    def __init__(self, rules: Credentials):
        self.rules = rules
        self.keys = stored.keyring(rules.keys) if rules.mode == "reveal" else None
        if rules.mode == "reveal" and not rules.keys:
            raise RunError(f"`credentials: reveal` needs its key in `{rules.key_env}`")
        #: Values decrypted over every chunk so far.
        self.revealed = 0

    def apply(self, chunk: pd.DataFrame) -> pd.DataFrame:
        out, revealed = apply_credentials(chunk, self.rules, self.keys)
        self.revealed += revealed
        return out

    def warnings(self) -> list[str]:
        if self.rules.mode != "reveal":
            return []
        return [
            f"credentials revealed: {self.revealed} decrypted username and password value(s) "
            "are in the export in plain text (`credentials: reveal`); the file is owner-only"
        ]


def apply_credentials(
    chunk: pd.DataFrame, rules: Credentials, keys: MultiFernet | None = None
) -> tuple[pd.DataFrame, int]:
    """The chunk with its credential columns as `rules.mode` says, and how many were decrypted.

    A pure function of its arguments: the chunk is not changed in place.
    """
    if rules.mode == "keep":
        return chunk, 0
    secret = [c for c in (rules.username, rules.password) if c in chunk.columns]
    proxies = len(secret) == 2
    has_url = proxies and rules.url in chunk.columns and rules.mode != "reveal"
    if not secret:
        return chunk, 0
    out = chunk.copy(deep=False)
    revealed = 0
    for name in secret:
        column = chunk[name]
        hidden = column.notna() if proxies else column.map(stored.is_encrypted).astype(bool)
        if rules.mode == "strip":
            out[name] = column.mask(hidden)
        elif rules.mode == "mask":
            out[name] = column.mask(hidden, rules.marker)
        else:
            assert keys is not None
            out[name], count = _revealed(chunk, name, rules, keys)
            revealed += count
    if has_url:
        out[rules.url] = _without_userinfo(chunk[rules.url], rules)
    return out, revealed


def _revealed(
    chunk: pd.DataFrame, name: str, rules: Credentials, keys: MultiFernet
) -> tuple[pd.Series, int]:
    column = chunk[name]
    values = _objects(column)
    out = values.copy()
    count = 0
    for position, value in enumerate(values):
        if not stored.is_encrypted(value):
            continue  # NULL, or legacy plain text, which proxywhirl reads as it is
        try:
            out[position] = stored.decrypt(value, keys)
        except stored.Undecryptable:
            where = _proxy(chunk, position, rules)
            named = ", ".join(f"`{n}`" for n in (rules.key_env, *rules.previous_keys_env))
            raise RunError(
                f"cannot decrypt the {name} of proxy {where} with the keys in {named}: "
                "a key is wrong or missing, or the stored value is damaged; nothing was "
                "written (ciphertext is never exported as a credential)"
            ) from None
        count += 1
    return pd.Series(out, index=column.index, dtype=column.dtype), count


def _without_userinfo(column: pd.Series, rules: Credentials) -> pd.Series:
    """URLs with their user info removed (strip) or replaced by the marker (mask)."""
    masked = f"{rules.marker}:{rules.marker}@"
    dtype = column.dtype
    if isinstance(dtype, pd.ArrowDtype) and pa.types.is_string(dtype.pyarrow_dtype):
        # Arrow's RE2 over the whole column: a tenth of the time of a Python loop.
        kept = "\\1" + (masked.replace("\\", "\\\\") if rules.mode == "mask" else "")
        array = pa.array(column.array)
        out = pc.replace_substring_regex(array, _USERINFO_RE2, kept, max_replacements=1)
        return pd.Series(pd.arrays.ArrowExtensionArray(out), index=column.index)
    values = _objects(column)

    def replace(match: re.Match[str]) -> str:
        return match["scheme"] + (masked if rules.mode == "mask" else "")

    out = np.array(
        [_USERINFO.sub(replace, v, count=1) if isinstance(v, str) else v for v in values],
        dtype=object,
    )
    return pd.Series(out, index=column.index, dtype=column.dtype)


def _objects(column: pd.Series) -> np.ndarray:
    """The values as Python objects, NULL as None."""
    values = column.to_numpy(dtype=object, copy=True)  # never a view of the chunk
    values[column.isna().to_numpy(dtype=bool)] = None
    return values


def _proxy(chunk: pd.DataFrame, position: int, rules: Credentials) -> str:
    """How a message names the proxy in a row: host:port, else its URL, else the row."""
    row: dict[str, Any] = {
        c: chunk[c].iloc[position] for c in ("host", "port", rules.url) if c in chunk.columns
    }
    if row.get("host") is not None and not pd.isna(row["host"]):
        host = str(row["host"])
        host = f"[{host}]" if ":" in host else host
        port = row.get("port")
        return host if port is None or pd.isna(port) else f"{host}:{port}"
    url = row.get(rules.url)
    if isinstance(url, str):
        return _USERINFO.sub(r"\g<scheme>", scrub(url), count=1)
    return f"in row {position + 1} of its chunk"
