"""The `http(s)://` destination's options, without requests (the spec parser needs them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class HttpOptions:
    method: Literal["PUT", "POST"] = "PUT"
    # Header values carry tokens: kept out of reprs.
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    content_type: str | None = None
    timeout: float = 30.0
