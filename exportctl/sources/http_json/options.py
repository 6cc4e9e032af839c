"""The typed options of the `http_json` source."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from exportctl.errors import OptionError
from exportctl.sources.auth import Auth

_PATH = re.compile(r"[^.\s]+(\.[^.\s]+)*")


@dataclass(frozen=True)
class Pagination:
    """How the next page is asked for, and how the last one is known."""

    #: `page`: ?page=1,2,...; `offset`: ?offset=0,size,...; `cursor`: the body's next cursor;
    #: `link`: the `Link: <...>; rel="next"` header.
    type: Literal["page", "offset", "cursor", "link"]
    #: The query parameter of the page number, offset or cursor.
    param: str | None = None
    #: The query parameter of the page size, and the size asked for.
    size_param: str | None = None
    size: int | None = None
    #: The first page's number (`page`).
    start: int = 1
    #: Where the next cursor is in a page's body (`cursor`): a dotted path.
    cursor: str | None = None

    def __post_init__(self) -> None:
        defaults = {"page": "page", "offset": "offset", "cursor": "cursor", "link": None}
        if self.param is None:
            object.__setattr__(self, "param", defaults[self.type])
        if self.type in ("page", "offset") and self.size is None:
            # A short page is how the last one is known; without a size there is no "short".
            raise ValueError(f"`pagination.type: {self.type}` needs the page `size` the API uses")
        if self.size is not None and self.size < 1:
            raise ValueError("`pagination.size` must be at least 1")
        if self.type == "cursor" and not self.cursor:
            raise ValueError(
                "`pagination.type: cursor` needs `cursor`, where the body has the next one"
            )
        if self.type == "link" and (self.size_param or self.cursor):
            raise ValueError(
                "`pagination.type: link` follows the Link header and takes no parameters"
            )


@dataclass(frozen=True)
class HttpJsonOptions:
    url: str = ""
    #: `json`: an array, or an object holding one at `records`; `ndjson`: one object per line;
    #: `auto`: by the Content-Type (`application/x-ndjson`, `application/jsonl`), else JSON.
    format: Literal["auto", "json", "ndjson"] = "auto"
    #: Where the records are in a JSON object body: a dotted path such as `data.items`.
    records: str | None = None
    #: Where the one record is in a body that answers one object (a settings document):
    #: a dotted path such as `data`, or `.` for the body itself.
    record: str | None = None
    pagination: Pagination | None = None
    #: Query parameters sent with every request.
    params: tuple[tuple[str, str], ...] = ()
    # Header values carry tokens: kept out of reprs.
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    #: Fields read as UTC timestamps (ISO-8601 text, or epoch seconds).
    timestamps: tuple[str, ...] = ()
    #: The fields to read, in order; default: the keys of the first page's records.
    columns: tuple[str, ...] | None = None
    chunk_size: int = 10_000
    timeout: float = 30.0
    #: Stop after this many pages, a guard against an API that never says it is done.
    max_pages: int = 100_000
    username_env: str | None = None
    password_env: str | None = None
    token_env: str | None = None

    def __post_init__(self) -> None:
        for key in ("params", "headers"):
            value = getattr(self, key)
            if isinstance(value, Mapping):
                pairs = tuple((str(k), _text(v)) for k, v in value.items())
                object.__setattr__(self, key, pairs)
        if isinstance(self.pagination, Mapping):
            object.__setattr__(self, "pagination", _pagination(self.pagination))
        for key in ("timestamps", "columns"):
            if getattr(self, key) is not None:
                object.__setattr__(self, key, tuple(getattr(self, key)))
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise OptionError("url", f"`url` must be an http(s) URL, not {self.url!r}")
        if self.records is not None and not _PATH.fullmatch(self.records):
            raise OptionError(
                "records",
                f"`records` must be a dotted path such as `data.items`, not {self.records!r}",
            )
        if self.record is not None and (
            self.records is not None or self.pagination is not None or self.format == "ndjson"
        ):
            raise OptionError(
                "record", "`record` names one object in a JSON body: no `records` or pages"
            )
        if self.record is not None and self.record != "." and not _PATH.fullmatch(self.record):
            raise OptionError(
                "record", f"`record` must be a dotted path such as `data`, not {self.record!r}"
            )
        if self.records is not None and self.format == "ndjson":
            raise OptionError(
                "records", "`records` is for JSON bodies; NDJSON has one record per line"
            )
        if self.timeout <= 0 or self.chunk_size < 1 or self.max_pages < 1:
            raise OptionError("timeout", "`timeout`, `chunk_size` and `max_pages` must be positive")
        self.auth.check()

    @property
    def rows_identity(self) -> tuple[object, ...]:
        """What picks the rows, for the incremental fingerprint."""
        return (self.url, self.records or self.record, self.params, self.columns, self.timestamps)

    @property
    def auth(self) -> Auth:
        return Auth(self.username_env, self.password_env, self.token_env)


def _text(value: Any) -> str:
    """A parameter's value as a query string writes it: `true`, not `True`."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def _pagination(doc: Mapping[str, Any]) -> Pagination:
    try:
        return Pagination(**doc)
    except TypeError as exc:
        raise OptionError("pagination", f"`pagination`: {exc}") from None
