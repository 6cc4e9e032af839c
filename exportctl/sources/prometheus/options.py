"""The typed options of the `prometheus` and `prometheus_text` sources."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import urlsplit

from exportctl import timerange, units
from exportctl.sources.web import Auth

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
            raise ValueError(f"`url` must be the server's http(s) URL, not {self.url!r}")
        if not self.query.strip():
            raise ValueError("`query` must be a PromQL expression")
        if self.step_ms <= 0:
            raise ValueError("`step` must be at least 1ms")
        if not 1 <= self.max_points <= SERVER_MAX_POINTS:
            raise ValueError(f"`max_points` must be between 1 and {SERVER_MAX_POINTS:,}")
        if not 1 <= self.concurrency <= 32:
            raise ValueError("`concurrency` must be between 1 and 32")
        if self.timeout <= 0:
            raise ValueError("`timeout` must be more than 0 seconds")
        if self.label_columns and self.labels != "columns":
            raise ValueError("`label_columns` is for `labels: columns`")
        for key in ("since", "until"):
            text = getattr(self, key)
            if text is not None:
                timerange.instant(text, _ANY_TIME, UTC)  # its ValueError says what is allowed
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
    """A saved scrape in the text exposition format (what `/metrics` answers)."""

    path: str = ""
    labels: Literal["object", "columns"] = "object"
    label_columns: tuple[str, ...] = ()
    chunk_size: int = 10_000

    def __post_init__(self) -> None:
        object.__setattr__(self, "label_columns", tuple(self.label_columns))
        if not self.path:
            raise ValueError("`path` must name the saved scrape")
        if self.label_columns and self.labels != "columns":
            raise ValueError("`label_columns` is for `labels: columns`")
