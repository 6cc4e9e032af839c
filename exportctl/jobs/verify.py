"""Re-read what a run wrote and compare it with what the ledger recorded."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from exportctl import registry
from exportctl.errors import RunError

_BLOCK = 1 << 20


def verify_files(files: Iterable[dict[str, Any]], options: Any = None) -> list[dict[str, Any]]:
    """For each recorded file: what was found, and whether it matches.

    `options` are the destination's (an S3 endpoint, say); without them a remote
    destination is read with what the environment configures.
    """
    return [_check(f, options) for f in files]


def _check(recorded: dict[str, Any], options: Any) -> dict[str, Any]:
    found: dict[str, Any] = {"uri": recorded["uri"], "role": recorded["role"]}
    if recorded.get("deleted_at"):  # gone on purpose: there is nothing to read
        when = f"{recorded['deleted_at']:%Y-%m-%d %H:%M:%S} UTC"
        problem = f"deleted by retention, or as a later run replaced it, at {when}"
        return {**found, "ok": False, "problem": problem}
    try:
        size, digest = _measure(recorded["uri"], options)
    except (OSError, RunError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return {**found, "ok": False, "problem": f"cannot read it: {reason}"}
    problems = []
    if size != recorded["bytes"]:
        problems.append(f"{size} bytes, {recorded['bytes']} recorded")
    if digest != recorded["sha256"]:
        problems.append("sha256 differs from the one recorded")
    return {
        **found,
        "bytes": size,
        "sha256": digest,
        "ok": not problems,
        "problem": "; ".join(problems) or None,
    }


def _measure(uri: str, options: Any) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    with registry.destination_for(uri, options).read(uri) as stream:
        while block := stream.read(_BLOCK):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()
