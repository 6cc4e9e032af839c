"""HTTP(S) upload: the finished file in one PUT or POST."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal


@dataclass(frozen=True)
class HttpOptions:
    method: Literal["PUT", "POST"] = "PUT"
    # Header values carry tokens: kept out of reprs.
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    content_type: str | None = None
    timeout: float = 30.0


class HttpDestination:
    """Uploads to `http://` and `https://` URLs."""

    schemes = ("http", "https")
    options_key: ClassVar[str | None] = "http"
    Options = HttpOptions

    def __init__(self, options: HttpOptions | None = None):
        self.options = options or HttpOptions()
