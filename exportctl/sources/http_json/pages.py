"""The pages of an API answer, read one after another, and the records in each, streamed.

A JSON array and NDJSON are read as they arrive; a body whose records sit inside an
object (`records: data.items`) is read whole, one page at a time. A page that is not
what it claims to be fails the run, naming the page and where in it.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

from exportctl.errors import SourceError, TransientError
from exportctl.sources.http_json.options import HttpJsonOptions
from exportctl.sources.web import Client, safe_url
from exportctl.values import json_numbers

NDJSON_TYPES = ("application/x-ndjson", "application/jsonl", "application/ndjson")
_READ = 1 << 16
_NUMBER_CHARACTERS = "0123456789.eE+-"


class Pages:
    """Every record of every page, in order; `pages` counts the pages read."""

    def __init__(self, options: HttpJsonOptions, client: Client):
        self.options = options
        self.client = client
        self.pages = 0

    def records(self) -> Iterator[dict[str, Any]]:
        options, paging = self.options, self.options.pagination
        url, params = options.url, dict(options.params)
        number, offset = (paging.start if paging else 1), 0
        if paging and paging.size_param and paging.size:
            params[paging.size_param] = str(paging.size)
        while True:
            if self.pages == options.max_pages:
                raise SourceError(
                    f"{safe_url(options.url)} still had more pages after {options.max_pages:,} "
                    "(`max_pages`); is the pagination right?"
                )
            if paging and paging.type == "page":
                params[str(paging.param)] = str(number)
            if paging and paging.type == "offset":
                params[str(paging.param)] = str(offset)
            self.pages += 1
            page = _Page(self.client.get(url, params, stream=True), self.pages, options)
            with page.response:
                count = 0
                for record in page.records():
                    count += 1
                    yield record
            if paging is None:
                return
            if paging.type in ("page", "offset"):
                if count < (paging.size or 0) or count == 0:
                    return
                number, offset = number + 1, offset + count
            elif paging.type == "cursor":
                following = _at(page.body, str(paging.cursor)) if page.body is not None else None
                if following in (None, ""):
                    return
                params[str(paging.param)] = str(following)
            else:
                link = page.response.links.get("next", {}).get("url")
                if not link:
                    return
                url, params = _same_origin(url, urljoin(url, link)), {}


class _Page:
    """One answer: its records, and its body where it was read whole (for a cursor)."""

    def __init__(self, response: requests.Response, number: int, options: HttpJsonOptions):
        self.response = response
        self.number = number
        self.options = options
        self.body: Any = None
        self.where = f"page {number} of {safe_url(response.url or options.url)}"

    def records(self) -> Iterator[dict[str, Any]]:
        kind = self.options.format
        if kind == "auto":
            content_type = self.response.headers.get("Content-Type", "").split(";")[0].strip()
            kind = "ndjson" if content_type.lower() in NDJSON_TYPES else "json"
        if kind == "ndjson":
            values = self._lines()
        elif (
            self.options.records is not None
            or self.options.record is not None
            or (self.options.pagination and self.options.pagination.type == "cursor")
        ):
            values = self._whole()
        else:
            values = self._array()
        for index, value in enumerate(values, 1):
            if not isinstance(value, dict):
                raise SourceError(f"{self.where}: record {index} is not a JSON object")
            yield value

    def _lines(self) -> Iterator[Any]:
        lines = self.response.iter_lines(chunk_size=_READ)
        for number, line in enumerate(_guarded(lines, self.where), 1):
            if not line.strip():
                continue
            try:
                yield json_numbers.loads(line)
            except ValueError as exc:
                raise SourceError(
                    f"{self.where}: line {number} is not JSON ({_why(exc)})"
                ) from None

    def _whole(self) -> Iterator[Any]:
        content = b"".join(_guarded(self.response.iter_content(_READ), self.where))
        try:
            self.body = json_numbers.loads(content)
        except ValueError as exc:
            raise SourceError(f"{self.where} is not valid JSON ({_why(exc)})") from None
        if self.options.record is not None:
            one = self.body if self.options.record == "." else _at(self.body, self.options.record)
            if not isinstance(one, dict):
                raise SourceError(f"{self.where} holds no object at `{self.options.record}`")
            yield one
            return
        found = self.body if self.options.records is None else _at(self.body, self.options.records)
        if not isinstance(found, list):
            at = f" at `{self.options.records}`" if self.options.records else ""
            raise SourceError(f"{self.where} holds no array of records{at}")
        yield from found

    def _array(self) -> Iterator[Any]:
        return array_items(_guarded(self.response.iter_content(_READ), self.where), self.where)


def array_items(pieces: Iterator[bytes], where: str) -> Iterator[Any]:
    """The values of a JSON array arriving in pieces, each as soon as it is complete."""
    text = _Text(pieces, where)
    text.expect("[")
    if text.peek() == "]":
        text.take()
    else:
        while True:
            yield text.value()
            sign = text.take()
            if sign == "]":
                break
            if sign != ",":
                text.fail(f"expected `,` or `]`, found {sign or 'the end'!r}")
    if text.peek() != "":
        text.fail("more after the array's end")


class _Text:
    """A JSON text arriving in pieces, read value by value."""

    def __init__(self, pieces: Iterator[bytes], where: str):
        self.pieces = pieces
        self.where = where
        self.utf8 = codecs.getincrementaldecoder("utf-8")()
        self.buffer = ""
        self.position = 0
        self.read = 0  # characters dropped from the buffer's front
        self.done = False
        self.decoder = json_numbers.DECODER

    def more(self) -> bool:
        if self.done:
            return False
        piece = next(self.pieces, None)
        try:
            self.buffer = self.buffer[self.position :] + self.utf8.decode(
                piece or b"", piece is None
            )
        except UnicodeDecodeError:
            self.fail("not UTF-8")
        self.read += self.position
        self.position = 0
        self.done = piece is None
        return True

    def peek(self) -> str:
        """The next character that is not white space; "" at the end."""
        while True:
            while self.position < len(self.buffer) and self.buffer[self.position] in " \t\r\n":
                self.position += 1
            if self.position < len(self.buffer) or not self.more():
                return self.buffer[self.position : self.position + 1]

    def take(self) -> str:
        sign = self.peek()
        self.position += len(sign)
        return sign

    def expect(self, sign: str) -> None:
        found = self.take()
        if found != sign:
            self.fail(f"expected {sign!r}, found {found or 'the end'!r}")

    def value(self) -> Any:
        self.peek()
        while True:
            try:
                value, end = self.decoder.raw_decode(self.buffer, self.position)
            except ValueError as exc:
                if self.more():
                    continue
                self.fail(_why(exc))
            # A number cut off by the end of a piece (`12`, `0.`, `1e-`) still decodes, as
            # its start: be sure it ended before the buffer did.
            rest = self.buffer[end:]
            cut = isinstance(value, int | float) and not rest.strip(_NUMBER_CHARACTERS)
            if (end == len(self.buffer) or cut) and self.more():
                continue
            self.position = end
            return value

    def fail(self, reason: str) -> Any:
        at = self.read + self.position
        raise SourceError(f"{self.where} is not valid JSON at character {at}: {reason}")


def _guarded(pieces: Iterator[bytes], where: str) -> Iterator[bytes]:
    """The body's pieces; a connection that breaks off mid-body is transient."""
    try:
        yield from pieces
    except requests.RequestException:
        raise TransientError(f"{where}: the connection broke off while reading") from None


def _at(body: Any, path: str) -> Any:
    for key in path.split("."):
        if not isinstance(body, dict):
            return None
        body = body.get(key)
    return body


def _same_origin(current: str, following: str) -> str:
    """The next page's URL, refused if it leaves the server: it would get the credentials."""
    here, there = urlsplit(current), urlsplit(following)
    if (here.scheme, here.netloc) != (there.scheme, there.netloc):
        raise SourceError(
            f"the Link header points the next page at {safe_url(following)}, another server "
            "than the one asked; the credentials are not sent there"
        )
    return following


def _why(exc: ValueError) -> str:
    return getattr(exc, "msg", None) or str(exc)[:200]
