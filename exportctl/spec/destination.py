"""`destination`: where the files go, with the options of the kind its URI's scheme picks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from exportctl import compression, registry
from exportctl import model as m
from exportctl.destinations.sftp_options import SftpOptions, login_moved
from exportctl.lang import units
from exportctl.spec.problems import PLAN_NAMES, Problems, option_path
from exportctl.spec.schema import Path_


def destination(p: Problems, doc: str | Mapping[str, Any], codec: str | None) -> m.Destination:
    uri_path: Path_ = ("destination",) if isinstance(doc, str) else ("destination", "uri")
    doc = {"uri": doc} if isinstance(doc, str) else doc
    split = doc.get("split", {})
    uri, options = _login_moved(p, doc["uri"], options_of(p, doc), uri_path)
    parsed = m.Destination(
        uri,
        doc.get("manifest", True),
        split.get("rows"),
        units.byte_count(doc["max_bytes"]) if "max_bytes" in doc else None,
        options,
        split_bytes=units.byte_count(split["bytes"]) if "bytes" in split else None,
        mode=int(doc["mode"], 8) if "mode" in doc else None,
    )
    p.template(parsed.uri, uri_path, names=PLAN_NAMES)
    if any(ord(c) < 32 for c in parsed.uri):  # a NUL failed only when opened
        p.fail(uri_path, "the destination has a control character (such as NUL)")
    if not parsed.uri.endswith("}}"):  # else the name is known only once rendered
        _, complaint = compression.resolve(codec, parsed.uri.rsplit("/", 1)[-1])
        if complaint:
            p.fail(("compression",) if codec else ("destination",), complaint)
    return parsed


def _login_moved(p: Problems, uri: str, options: Any, path: Path_) -> tuple[str, Any]:
    """An SFTP URI's login name moved to its options (see `sftp_options`)."""
    if not isinstance(options, SftpOptions):
        return uri, options
    try:
        return login_moved(uri, options)
    except ValueError as exc:
        p.fail(path, str(exc))
        return uri, options


def options_of(p: Problems, doc: Mapping[str, Any]) -> Any:
    """The typed options of the destination the URI's scheme picks; others are refused."""
    scheme = registry.scheme_of(doc["uri"])
    kind = registry.destination_entry(doc["uri"])
    if kind is not None:
        registry.DESTINATIONS.check_installed(scheme)  # else `apply` would be the first to say
    own = kind.options_key if kind is not None else None
    for key in registry.destination_options_keys():
        if key in doc and key != own:
            p.fail(
                ("destination", key), f"`{key}` options do not apply to {scheme or 'local'} URIs"
            )
    if own is None:
        return None
    make = registry.DESTINATIONS.options(scheme)
    options = dict(doc.get(own, {}))
    if "part_size" in options:
        options["part_size"] = units.byte_count(options["part_size"])
    if "headers" in options:
        options["headers"] = tuple(options["headers"].items())
    try:
        return make(**options)
    except ValueError as exc:
        p.fail(option_path(("destination", own), exc, options), str(exc))
        return make()
