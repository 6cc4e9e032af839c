"""Which ledger a command uses: found as git finds its repository, the same from any folder.

In order: `--state`; `$EXPORTCTL_STATE`; the nearest `.exportctl/` folder in the specs'
folder or above it (the current folder for commands that take no specs); else the user's
own ledger under the XDG state directory. An explicit setting comes before discovery, as
GIT_DIR does for git, so a service or a test can pin its ledger wherever it runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from exportctl.ledger.url import ledger_url, shown, sqlite_database

STATE_ENV = "EXPORTCTL_STATE"
#: The folder that marks a project's ledger, as `.git` marks a repository.
FOLDER = ".exportctl"
FILE = "state.db"


@dataclass(frozen=True)
class Located:
    """A ledger's URL and how it was chosen (for the line that says which ledger is used)."""

    url: str
    #: `--state`, `$EXPORTCTL_STATE`, `found from FOLDER` or `the user's default`.
    how: str

    def describe(self) -> str:
        return f"{shown(self.url)} ({self.how})"


def locate(given: str | None, start: Path, environ: Mapping[str, str]) -> Located:
    """The ledger for a command given `--state` (or not), started from `start`."""
    if given:
        return Located(_absolute(ledger_url(given)), "--state")
    if environ.get(STATE_ENV):
        return Located(_absolute(ledger_url(environ[STATE_ENV])), f"${STATE_ENV}")
    folder = start if start.is_dir() else start.parent
    for candidate in (folder.resolve(), *folder.resolve().parents):
        if (candidate / FOLDER).is_dir():
            return Located(ledger_url(str(candidate / FOLDER / FILE)), f"found from {folder}")
    return Located(ledger_url(str(user_state_dir(environ) / FILE)), "the user's default")


def _absolute(url: str) -> str:
    """A SQLite ledger's URL with its file's absolute path, so every line names the same file."""
    file = sqlite_file(url)
    if file is None or file.is_absolute():
        return url
    return ledger_url(str(file.absolute()))


def user_state_dir(environ: Mapping[str, str]) -> Path:
    """`$XDG_STATE_HOME/exportctl`, by default `~/.local/state/exportctl`."""
    base = environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "exportctl"


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite ledger URL; None for another database or one in memory."""
    database = sqlite_database(url)
    if database is None:  # not the plain form: SQLAlchemy reads it
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
        if parsed.get_backend_name() != "sqlite":
            return None
        database = parsed.database
    return None if database in (None, "", ":memory:") else Path(database)
