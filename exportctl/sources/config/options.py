"""The typed options of a `config` source."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from exportctl.errors import OptionError

#: Every file in the folder and below it: one in no structured format is read as text.
DEFAULT_INCLUDE = ("**/*",)
#: A version-control folder's own files (binary, and not configuration) are left out.
DEFAULT_EXCLUDE = tuple(
    f"{under}{vcs}/*" for vcs in (".git", ".hg", ".svn") for under in ("", "*/")
)


@dataclass(frozen=True)
class ConfigOptions:
    #: The configuration folder, relative to the spec's folder; paths in the export are
    #: relative to it.
    path: str = "."
    include: tuple[str, ...] = DEFAULT_INCLUDE
    exclude: tuple[str, ...] = DEFAULT_EXCLUDE
    #: Also export the environment variables whose names start with this.
    env_prefix: str | None = None

    def __post_init__(self) -> None:
        # Lists from YAML become tuples, so the options stay immutable and hashable.
        object.__setattr__(self, "include", tuple(self.include))
        object.__setattr__(self, "exclude", tuple(self.exclude))
        if not self.path:
            raise OptionError(
                "path", "`path` names the configuration folder; `.` is the spec's own"
            )
        for option in ("include", "exclude"):
            for glob in getattr(self, option):
                pure = PurePosixPath(glob)
                if pure.is_absolute() or ".." in pure.parts:
                    raise OptionError(
                        option,
                        f"`{option}` glob {glob!r} must stay inside `path`: "
                        "no absolute paths, no `..`",
                    )
        if self.env_prefix is not None and not re.fullmatch(
            r"[A-Za-z_][A-Za-z0-9_]*", self.env_prefix
        ):
            raise OptionError(
                "env_prefix",
                f"`env_prefix` {self.env_prefix!r} is not the start of a variable name "
                "(letters, digits and `_`, e.g. PROXYWHIRL_)",
            )
