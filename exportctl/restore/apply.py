"""Restore a configuration export into a folder: plan, show, back up, write, verify.

Nothing is written until every file has been rendered and read back to the document's
values. Each file is then written to a temporary file beside it, fsynced and renamed over
the old one, so a failure at any point leaves each file either as it was or as restored;
the files it replaces are first copied into a timestamped backup folder.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import shutil
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from exportctl.errors import RunError, UsageError
from exportctl.model import Redaction
from exportctl.restore import document, secrets, writers
from exportctl.sources.config import files, typed
from exportctl.transforms.redact.columns import Redactor


@dataclass
class FilePlan:
    """One file restore writes (or leaves alone, when it already holds the values)."""

    entry: document.Entry
    target: Path
    #: The values the file must hold, secrets filled in.
    value: Any
    old: bytes | None
    new: bytes
    diff: str
    secret: bool
    written: bool = False
    verified: bool = False

    @property
    def status(self) -> str:
        if self.old is None:
            return "created"
        return "unchanged" if self.old == self.new else "changed"

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.entry.path,
            "kind": self.entry.kind,
            "target": str(self.target),
            "format": self.entry.format,
            "status": self.status,
            # The file holds the exported values: `_render` read them back from its bytes,
            # and the document's content is what was exported (its digest is of the
            # content as exported, masks included, never of the original bytes).
            "identical": typed.digest(self.entry.content) == self.entry.sha256,
            "sha256": hashlib.sha256(self.new).hexdigest(),
            "written": self.written,
            "verified": self.verified,
            "diff": self.diff,
        }


@dataclass
class Restore:
    """What a restore did, or would do (`dry_run`)."""

    source: Path
    target: Path
    dry_run: bool
    files: list[FilePlan]
    backup: Path | None = None
    warnings: list[str] = field(default_factory=list)
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "document": str(self.source),
            "to": str(self.target),
            "dry_run": self.dry_run,
            "status": "failed" if self.error else ("planned" if self.dry_run else "restored"),
            "backup": None if self.backup is None else str(self.backup),
            "files": [f.to_json() for f in self.files],
            "warnings": self.warnings,
            "error": self.error,
        }


def plan(
    source: Path,
    to: Path,
    *,
    secrets_from: str | None = None,
    env_file: Path | None = None,
    marker: str = "***",
    environ: Mapping[str, str] | None = None,
) -> Restore:
    """Read and check the document, fill in secrets, render every file; write nothing."""
    entries = document.load(source)
    supplied = secrets.supplier(secrets_from, os.environ if environ is None else environ)
    restore = Restore(source, to.resolve(), dry_run=True, files=[])
    wanted = []
    for entry in entries:
        if entry.kind == "environment" and env_file is None:
            restore.warnings.append(
                f"{len(entry.content)} environment variable(s) not restored: "
                "give --env-file to write them"
            )
        else:
            wanted.append(entry)
    filled, hide = _with_secrets(wanted, marker, supplied, from_env=secrets_from == "env")
    for entry, value, secret in filled:
        if entry.path is None:  # the environment, kept only when there is an --env-file
            assert env_file is not None
            target = env_file.resolve()
        else:
            target = _inside(restore.target, entry)
        restore.files.append(_render(entry, value, target, secret, hide))
    return restore


def _with_secrets(
    entries: list[document.Entry], marker: str, supplied: Mapping[str, Any], *, from_env: bool
) -> tuple[list[tuple[document.Entry, Any, bool]], list[str]]:
    """Each entry's values with its secrets filled in, and whether it holds one; the secret
    texts, to hide. Refuses (naming every one) if any redacted value has no secret."""
    filled: list[tuple[document.Entry, Any, bool]] = []
    missing: list[secrets.Redacted] = []
    used: list[Any] = []
    for entry in entries:
        decoded = typed.decode(entry.content)
        value, lacking, taken = secrets.fill(
            entry.name, decoded, marker, supplied, from_env, lines=entry.format == "text"
        )
        missing += lacking
        used += taken
        filled.append((entry, value, bool(taken)))
    if missing:
        raise secrets.SecretsMissing(missing)
    return filled, [s for s in used if isinstance(s, str) and s]


def _inside(root: Path, entry: document.Entry) -> Path:
    assert entry.path is not None
    target = (root / entry.path).resolve()
    if not target.is_relative_to(root):
        raise UsageError(f"`{entry.path}` leads outside {root}; restore writes only inside it")
    return target


def _render(
    entry: document.Entry, value: Any, target: Path, secret: bool, hide: list[str]
) -> FilePlan:
    if entry.format in ("ini", "env", "text") and not _text_only(value):
        raise UsageError(f"{entry.name}: a secret for an {entry.format} file must be text")
    try:
        old = target.read_bytes() if target.exists() else None
    except OSError as exc:
        raise RunError(f"cannot read {target}: {exc.strerror or exc}") from None
    try:
        old_text = None if old is None else old.decode("utf-8")
        new = writers.render(entry.format, old_text, value).encode("utf-8")
        ok = typed.same(files.parse(new, entry.format), value)
    except Exception as exc:  # a writer's own error about this file: name the file
        raise RunError(
            f"{entry.name}: cannot write it as {entry.format} ({type(exc).__name__}); "
            "nothing was written"
        ) from None
    if not ok:
        raise RunError(
            f"{entry.name}: written as {entry.format}, it would not read back to the exported "
            "values; nothing was written"
        )
    return FilePlan(entry, target, value, old, new, masked_diff(entry.name, old, new, hide), secret)


def _text_only(value: Any) -> bool:
    if isinstance(value, dict):
        return all(_text_only(v) for v in value.values())
    if isinstance(value, list):  # a text file's lines
        return all(isinstance(v, str) for v in value)
    return value is None or isinstance(value, str)


def masked_diff(name: str, old: bytes | None, new: bytes, hide: list[str]) -> str:
    """A unified diff with secrets masked: those supplied, and what redaction finds."""
    before = [] if old is None else old.decode("utf-8").splitlines(keepends=True)
    after = new.decode("utf-8").splitlines(keepends=True)
    lines = list(difflib.unified_diff(before, after, f"a/{name}", f"b/{name}"))
    if not lines:
        return ""
    masked = Redactor(Redaction()).apply(pd.DataFrame({"line": pd.Series(lines, dtype=object)}))
    text = "".join(str(line) for line in masked["line"])
    for secret in sorted(hide, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text if text.endswith("\n") else text + "\n"


def execute(restore: Restore, *, now: datetime, backup_dir: Path | None = None) -> Restore:
    """Back up the files to replace, write each atomically, read each back."""
    restore.dry_run = False
    todo = [f for f in restore.files if f.status != "unchanged"]
    replaced = [f for f in todo if f.old is not None]
    if replaced:
        restore.backup = _backup(restore.target, replaced, now, backup_dir)
    try:
        for item in todo:
            _write_atomically(item)
            item.written = True
    except OSError as exc:
        done = [str(f.target) for f in todo if f.written]
        restore.error = (
            f"writing {item.target} failed ({exc.strerror or type(exc).__name__}); "
            f"every file is either as it was or restored (restored: {', '.join(done) or 'none'})"
            + (f"; the replaced files are in {restore.backup}" if restore.backup else "")
        )
        return restore
    for item in restore.files:
        item.verified = _verify(item)
    bad = [str(f.target) for f in restore.files if not f.verified]
    if bad:
        restore.error = f"read back, these files do not hold the exported values: {', '.join(bad)}"
    return restore


def _backup(root: Path, replaced: list[FilePlan], now: datetime, parent: Path | None) -> Path:
    stamp = now.strftime("%Y%m%dT%H%M%S%fZ")
    folder = (parent or root.parent) / f"{root.name}.backup-{stamp}"
    folder.mkdir(parents=True, mode=0o700)  # the copies hold secrets
    for item in replaced:
        inside = item.target.relative_to(root) if item.target.is_relative_to(root) else None
        copy = folder / (inside if inside is not None else Path("outside") / item.target.name)
        copy.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        shutil.copy2(item.target, copy)
    return folder


def _write_atomically(item: FilePlan) -> None:
    """A temporary file beside the target, fsynced, renamed over it: old or new, never half."""
    folder = item.target.parent
    folder.mkdir(parents=True, exist_ok=True)
    if item.old is not None:
        mode = stat.S_IMODE(item.target.stat().st_mode)
    else:  # a file holding a secret, or a .env file, is the owner's alone
        mode = 0o600 if item.secret or item.entry.format == "env" else 0o644
    handle, temp = tempfile.mkstemp(prefix=f".{item.target.name}.", suffix=".restore", dir=folder)
    try:
        with os.fdopen(handle, "wb") as out:
            os.fchmod(out.fileno(), mode)
            out.write(item.new)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, item.target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    directory = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _verify(item: FilePlan) -> bool:
    try:
        data = item.target.read_bytes()
    except OSError:
        return False
    return data == item.new and typed.same(files.parse(data, item.entry.format), item.value)
