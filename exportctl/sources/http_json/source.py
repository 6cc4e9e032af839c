"""The `http_json` source: records from a REST API, page after page, as rows."""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import Any

import pandas as pd

from exportctl.sources.base import Request, greatest_position
from exportctl.sources.http_json.options import HttpJsonOptions
from exportctl.sources.http_json.pages import Pages
from exportctl.sources.http_json.records import Framer
from exportctl.sources.web import Client, safe_url


class HttpJsonSource:
    Options = HttpJsonOptions

    def __init__(self, options: HttpJsonOptions, base_dir: Path):
        self.options = options
        self._client: Client | None = None

    def describe(self, request: Request) -> dict[str, Any]:
        paging = self.options.pagination
        return {
            "url": safe_url(self.options.url),
            "format": self.options.format,
            "records": self.options.records,
            "pagination": paging.type if paging else None,
            "filter": repr(request.query.where) if request.query.where else None,
        }

    def count(self, request: Request) -> int | None:
        return None  # counting would mean reading every page twice

    def last_position(self, request: Request, columns: tuple[str, ...]) -> tuple[Any, ...] | None:
        return greatest_position(self.chunks(request), request, columns)

    def chunks(self, request: Request) -> Generator[pd.DataFrame, None, None]:
        framer = Framer(self.options.columns, self.options.timestamps)
        pages = Pages(self.options, self.client)
        batch: list[dict[str, Any]] = []
        for record in pages.records():
            batch.append(record)
            if len(batch) == self.options.chunk_size:
                yield framer.frame(batch, f"page {pages.pages}")
                batch = []
        yield framer.frame(batch, f"page {pages.pages}")

    def report(self) -> list[str]:
        return []

    @property
    def client(self) -> Client:
        if self._client is None:
            self._client = Client(self.options.auth, self.options.headers, self.options.timeout)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
