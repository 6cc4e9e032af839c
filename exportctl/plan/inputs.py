"""The local files a run reads, so that no destination overwrites one of them.

A destination equal to the spec overwrote the spec, one equal to the SQLite source the
database. Paths are compared after symlinks (`os.path.realpath`); only local destinations
can be inputs. Reads no file: it resolves names and lists the matches of a log glob.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy.engine import make_url

from exportctl.model import ExportSpec

#: Files SQLite keeps beside a database while it is open.
_SQLITE_COMPANIONS = ("", "-wal", "-shm", "-journal")


def real(path: str | Path) -> str:
    """The path after symlinks; as written (absolute) if it cannot name a file (a NUL in it)."""
    try:
        return os.path.realpath(os.path.expanduser(path))
    except (ValueError, OSError):
        return os.path.abspath(path)


def spec_inputs(spec: ExportSpec) -> dict[str, str]:
    """Real path → what it is, for every local file the spec's run reads."""
    found = {real(spec.path): "the spec file"}
    options = spec.source.options
    if spec.source.type == "sql":
        found |= dict.fromkeys(
            sqlite_files(getattr(options, "url", ""), spec.base_dir), "the source database"
        )
    elif spec.source.type == "logs":
        found |= dict.fromkeys(
            _log_files(getattr(options, "path", ""), spec.base_dir), "a source log file"
        )
    return found


def sqlite_files(url: str, base_dir: Path) -> list[str]:
    """A SQLite database's file and its companions; none for other databases."""
    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001 - an invalid URL is reported by the spec's checks
        return []
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return []
    database = database.removeprefix("file:").split("?", 1)[0]
    main = real(base_dir / database)
    return [main + suffix for suffix in _SQLITE_COMPANIONS]


def _log_files(path: str, base_dir: Path) -> list[str]:
    if not path or "://" in path:
        return []
    pattern = os.path.join(base_dir, os.path.expanduser(path))
    if glob.has_magic(path):
        return [real(p) for p in glob.glob(os.path.join(glob.escape(str(base_dir)), path))]
    return [real(pattern)]


def config_root(spec: ExportSpec) -> str | None:
    """The folder a config export reads; None for other sources."""
    if spec.source.type != "config":
        return None
    return real(spec.base_dir / getattr(spec.source.options, "path", "."))


def overwritten(
    spec: ExportSpec, destination: str, extra: Iterable[tuple[str, str]] = ()
) -> str | None:
    """What input `destination` would overwrite, or None; `extra` adds (path, what) pairs."""
    if "://" in destination and not destination.startswith("file://"):
        return None
    target = real(destination.removeprefix("file://"))
    inputs = spec_inputs(spec) | {real(path): what for path, what in extra}
    if target in inputs:
        return inputs[target]
    root = config_root(spec)
    if root is not None and (target == root or target.startswith(root + os.sep)):
        return "a file in the configuration folder the export reads"
    return None
