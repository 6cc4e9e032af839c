"""What an export does with secrets: `redact`, `credentials`, and its files' mode."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from exportctl import model as m
from exportctl import registry
from exportctl.destinations.local import LocalOptions
from exportctl.destinations.sftp_options import SftpOptions
from exportctl.spec import secrets
from exportctl.spec.fields import field_names
from exportctl.spec.problems import Problems
from exportctl.spec.schema import Path_
from exportctl.transforms.redact.keys import key_matcher


def redact(p: Problems, doc: Mapping[str, Any]) -> m.Redaction | None:
    """`redact`; absent, the source's default (a source may redact unless told not to)."""
    given = doc.get("redact")
    if given is None:
        source = registry.SOURCES.entry(doc["source"]["type"])
        return m.Redaction() if source.redacts_by_default else None
    if given is False:
        return None
    given = {} if given is True else given
    for index, pattern in enumerate(given.get("values", [])):
        try:
            re.compile(pattern)
        except re.error as exc:
            p.fail(("redact", "values", index), f"not a valid regular expression: {exc}")
    rules = m.Redaction(
        keys=redact_keys(p, given.get("keys", {})),
        values=tuple(given.get("values", [])),
        **{k: given[k] for k in ("mode", "url_mode", "marker", "hash_key_env") if k in given},
    )
    if rules.mode == "drop":
        dropped_fields(p, rules, doc.get("fields"))
    return rules


def redact_keys(p: Problems, given: list[str] | Mapping[str, list[str]]) -> tuple[str, ...]:
    if isinstance(given, list):
        return tuple(given)
    removed = {name.lower() for name in given.get("remove", [])}
    for index, name in enumerate(given.get("remove", [])):
        if name.lower() not in m.DEFAULT_REDACT_KEYS:
            known = ", ".join(m.DEFAULT_REDACT_KEYS)
            p.fail(("redact", "keys", "remove", index), f"`{name}` is not one of {known}")
    kept = tuple(k for k in m.DEFAULT_REDACT_KEYS if k not in removed)
    return kept + tuple(given.get("add", []))


def dropped_fields(p: Problems, rules: m.Redaction, docs: list[Any] | None) -> None:
    """A field `drop` would remove cannot be asked for: say so rather than drop it."""
    secret = key_matcher(rules.keys)
    for index, field in enumerate(docs or ()):
        names = field_names(field)
        key = next((k for k in map(secret, names) if k is not None), None)
        if key is not None:
            p.fail(
                ("fields", index),
                f"field `{names[0]}` is secret (`{key}`) and `redact.mode: drop` removes "
                "it: leave it out of `fields`, or redact with `mask` or `hash`",
            )


def credentials(doc: Mapping[str, Any]) -> m.Credentials:
    """`credentials`: a mode, or `{mode, columns, marker, key_env, previous_keys_env}`."""
    given = doc.get("credentials", {})
    given = {"mode": given} if isinstance(given, str) else given
    options: dict[str, Any] = {k: given[k] for k in ("mode", "marker", "key_env") if k in given}
    if "previous_keys_env" in given:
        options["previous_keys_env"] = tuple(given["previous_keys_env"])
    return m.Credentials(**options, **given.get("columns", {}))


def file_mode(p: Problems, spec: m.ExportSpec) -> m.ExportSpec:
    """Local files created with the mode they need from their first byte; an SFTP
    upload of secrets made owner-only before its first byte."""
    destination = spec.destination
    mode = secrets.file_mode(spec)
    path: Path_ = ("destination", "mode")
    kind = registry.destination_entry(destination.uri)
    local = kind is not None and kind.local_files
    if destination.mode is not None and not local:
        p.fail(path, "`mode` sets the permissions of local files only")
    elif destination.mode is not None and mode != destination.mode:
        # A secret-bearing export may be stricter than 0600, never looser.
        p.fail(
            path,
            f"this export may hold secrets ({secrets.why_secret(spec)}), so it is "
            f"written owner-only (0600); drop `mode` ({destination.mode:04o})",
        )
    if mode is not None and isinstance(destination.options, SftpOptions):
        options = replace(destination.options, mode=mode)
        return replace(spec, destination=replace(destination, options=options))
    if not local or mode is None:
        return spec
    return replace(spec, destination=replace(destination, options=LocalOptions(mode)))
