"""The options that locate a run's store, recorded with the run in the ledger.

`verify RUN_ID` and the recovery of a dead run reach the store the run wrote to (an
S3-compatible endpoint, say) without the spec file. Only what says where the store is
and how to reach it is recorded: never a header, a key or a password (credentials come
from the environment's chain, as for the run itself).
"""

from __future__ import annotations

import json
from dataclasses import fields
from typing import Any

from exportctl import registry
from exportctl.errors import scrub

#: Per destination kind (its `options_key`), the option fields that locate its store.
LOCATING: dict[str, tuple[str, ...]] = {
    "s3": ("endpoint_url", "region", "profile", "timeout"),
    # Names of environment variables, not their values: the key stays where it was.
    "sftp": ("user", "key_file_env", "passphrase_env", "known_hosts", "port", "timeout"),
}


def recorded(uri: str, options: Any) -> str | None:
    """JSON of the locating options, when `options` are for `uri`'s kind; else None."""
    kind = registry.destination_class(uri)
    names = LOCATING.get(kind.options_key or "", ()) if kind else ()
    if kind is None or not names or not isinstance(options, kind.Options):
        return None
    values = {name: getattr(options, name) for name in names}
    # A value holding credentials (an endpoint with user:pass@) is left out, not masked.
    kept = {k: v for k, v in values.items() if not isinstance(v, str) or scrub(v) == v}
    return json.dumps(kept, sort_keys=True)


def restored(uri: str, text: str | None) -> Any:
    """The destination options `recorded` wrote for `uri`, or None (the environment's)."""
    kind = registry.destination_class(uri)
    if kind is None or not text:
        return None
    try:
        values = json.loads(text)
        known = {f.name for f in fields(kind.Options)}
        return kind.Options(**{k: v for k, v in values.items() if k in known})
    except (ValueError, TypeError):  # written by another version: the environment decides
        return None
