"""Where an HTTP source's credentials are: environment variable names, checked for the spec."""

from __future__ import annotations

import re
from dataclasses import dataclass

from exportctl.errors import OptionError

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class Auth:
    """Where the credentials are: the names of environment variables, never the secrets."""

    username_env: str | None = None
    password_env: str | None = None
    token_env: str | None = None

    def check(self) -> None:
        """ValueError, for the spec, when the names cannot work."""
        for key in ("username_env", "password_env", "token_env"):
            name = getattr(self, key)
            if name is not None and not _ENV_NAME.fullmatch(name):
                raise OptionError(
                    key, f"`{key}` names an environment variable; {name!r} is not a name"
                )
        if (self.username_env is None) != (self.password_env is None):
            raise ValueError("basic auth needs both `username_env` and `password_env`")
        if self.token_env is not None and self.username_env is not None:
            raise ValueError("give a bearer `token_env` or basic auth (`username_env`), not both")
