"""Re-read what a run wrote and compare it with what the ledger recorded."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from smart_open import open as open_uri

_BLOCK = 1 << 20


def verify_files(files: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """For each recorded file: what was found, and whether it matches."""
    return [_check(f) for f in files]


def _check(recorded: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {"uri": recorded["uri"], "role": recorded["role"]}
    try:
        size, digest = _measure(recorded["uri"])
    except OSError as exc:
        return {**found, "ok": False, "problem": f"cannot read it: {exc.strerror or exc}"}
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


def _measure(uri: str) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    # compression="disable": the bytes as stored, not as smart-open would decompress them
    with open_uri(uri, "rb", compression="disable") as stream:
        while block := stream.read(_BLOCK):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()
