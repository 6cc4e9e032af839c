"""One error hierarchy, with messages written for the person running exportctl.

User errors (a bad spec, a bad flag) exit 2; run failures exit 1. Only errors
marked transient are worth retrying.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from exportctl.secrecy import scrub

__all__ = ["scrub"]  # re-exported: every module takes it from here


def causes(error: BaseException) -> Iterator[BaseException]:
    """`error` and all it wraps: causes, contexts, a `reason` and exception arguments.

    Network libraries nest the operating system's error several layers down.
    """
    seen: set[int] = set()
    todo: list[object] = [error]
    while todo:
        item = todo.pop()
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        todo.extend([item.__cause__, item.__context__, getattr(item, "reason", None), *item.args])


def os_reason(error: BaseException) -> str:
    """The operating system's reason under a library's error ("Connection refused")."""
    found = next((c for c in causes(error) if isinstance(c, OSError) and c.strerror), None)
    return found.strerror if isinstance(found, OSError) and found.strerror else type(error).__name__


class ExportctlError(Exception):
    """Root of every error exportctl raises on purpose."""

    exit_code = 1


class UsageError(ExportctlError):
    """The command line asked for something that cannot be done."""

    exit_code = 2


@dataclass(frozen=True)
class SpecProblem:
    """One thing wrong with one spec file, located as precisely as we can."""

    file: str
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        at = f" at {self.path}" if self.path else ""
        return f"{where}{at}: {self.message}"


class SpecError(ExportctlError):
    """A spec is invalid; carries every problem found, not just the first."""

    exit_code = 2

    def __init__(self, problems: list[SpecProblem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class OptionError(ValueError):
    """A component's option has a value it cannot take; `key` names the option.

    Raised while a spec's options are built, and reported at that key's line.
    """

    def __init__(self, key: str, message: str):
        self.key = key
        super().__init__(message)


class RunError(ExportctlError):
    """An export failed while running."""


class TransientError(RunError):
    """A failure that may go away on retry (network, throttling, 5xx)."""


class FormatError(RunError):
    """A value cannot be written in the chosen format without corrupting it."""


class ValidationError(RunError):
    """Rows break the shape their fields declare, and the spec says to fail."""


class SourceError(RunError):
    """The source could not be read, or does not have what the spec asks for."""


class Interrupted(BaseException):
    """The process was asked to stop (SIGINT or SIGTERM) in the middle of a run.

    A BaseException, like KeyboardInterrupt, so that no `except Exception`
    swallows it on the way out; context managers still clean up.
    """

    def __init__(self, signum: int):
        self.signum = signum
        super().__init__(f"interrupted by signal {signum}")
