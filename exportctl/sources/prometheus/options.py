"""The typed options of the `prometheus` and `prometheus_text` sources."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import urlsplit

from exportctl.errors import OptionError
from exportctl.lang import timerange, units
from exportctl.sources.auth import Auth

#: Prometheus refuses a range query of more points per series than this.
SERVER_MAX_POINTS = 11_000
_ANY_TIME = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class PrometheusOptions:
    url: str = ""
    query: str = ""
    mode: Literal["range", "instant"] = "range"
    #: The resolution of a range query, e.g. `15s`; its points lie on multiples of it.
    step: str = "1m"
    labels: Literal["object", "columns"] = "object"
    #: Label names to have as columns beside those the first results show (`labels: columns`).
    label_columns: tuple[str, ...] = ()
    #: Points per series one request may ask for.
    max_points: int = SERVER_MAX_POINTS
    #: Requests in flight at once.
    concurrency: int = 4
    timeout: float = 30.0
    #: Where a range starts when nothing else bounds it (an incremental export's first run).
    since: str | None = None
    #: Where a range ends when nothing else bounds it; an instant query's time.
    until: str = "now"
    username_env: str | None = None
    password_env: str | None = None
    token_env: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "label_columns", tuple(self.label_columns))
        if urlsplit(self.url).scheme not in ("http", "https") or not urlsplit(self.url).hostname:
            raise OptionError("url", f"`url` must be the server's http(s) URL, not {self.url!r}")
        if not self.query.strip():
            raise OptionError("query", "`query` must be a PromQL expression")
        if self.step_ms <= 0:
            raise OptionError("step", "`step` must be at least 1ms")
        if not 1 <= self.max_points <= SERVER_MAX_POINTS:
            raise OptionError(
                "max_points", f"`max_points` must be between 1 and {SERVER_MAX_POINTS:,}"
            )
        if not 1 <= self.concurrency <= 32:
            raise OptionError("concurrency", "`concurrency` must be between 1 and 32")
        if self.timeout <= 0:
            raise OptionError("timeout", "`timeout` must be more than 0 seconds")
        if self.label_columns and self.labels != "columns":
            raise OptionError("label_columns", "`label_columns` is for `labels: columns`")
        for key in ("since", "until"):
            text = getattr(self, key)
            try:
                if text is not None:
                    timerange.instant(text, _ANY_TIME, UTC)
            except ValueError as exc:  # it says what is allowed
                raise OptionError(key, str(exc)) from None
        self.auth.check()

    @property
    def rows_identity(self) -> tuple[object, ...]:
        """What picks the rows, for the incremental fingerprint: not where the server is."""
        return (self.query, self.mode, self.step_ms, self.labels, self.label_columns)

    @property
    def step_ms(self) -> int:
        return round(units.duration(self.step).total_seconds() * 1000)

    @property
    def auth(self) -> Auth:
        return Auth(self.username_env, self.password_env, self.token_env)


@dataclass(frozen=True)
class PrometheusTextOptions:
    """A scrape in the text exposition format: a saved file (`path`), or what a `/metrics`
    endpoint answers now (`url`), read with the spec's headers and credentials."""

    path: str = ""
    url: str = ""
    labels: Literal["object", "columns"] = "object"
    label_columns: tuple[str, ...] = ()
    chunk_size: int = 10_000
    # Header values carry tokens: kept out of reprs.
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    timeout: float = 30.0
    username_env: str | None = None
    password_env: str | None = None
    token_env: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "label_columns", tuple(self.label_columns))
        if isinstance(self.headers, Mapping):
            pairs = tuple((str(k), str(v)) for k, v in self.headers.items())
            object.__setattr__(self, "headers", pairs)
        if bool(self.path) == bool(self.url):
            raise ValueError("give the scrape's `path` (a saved file) or its `url`, one of them")
        parts = urlsplit(self.url)
        if self.url and (parts.scheme not in ("http", "https") or not parts.hostname):
            raise OptionError("url", f"`url` must be the endpoint's http(s) URL, not {self.url!r}")
        remote = ("headers", "username_env", "password_env", "token_env")
        if self.path and any(getattr(self, key) for key in remote):
            raise ValueError("headers and credentials are for a `url`, not a saved file")
        if self.label_columns and self.labels != "columns":
            raise OptionError("label_columns", "`label_columns` is for `labels: columns`")
        if self.timeout <= 0:
            raise OptionError("timeout", "`timeout` must be more than 0 seconds")
        self.auth.check()

    @property
    def auth(self) -> Auth:
        return Auth(self.username_env, self.password_env, self.token_env)
