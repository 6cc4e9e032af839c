"""Plain-text proxy lists, one proxy per line, in layouts other tools import."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO
from urllib.parse import quote, unquote, urlsplit

import jinja2
import numpy as np
import pandas as pd
import pyarrow as pa

from exportctl.errors import FormatError
from exportctl.formats.base import (
    Refusal,
    arrow_columns,
    fine_timestamps,
    is_binary,
    python_columns,
    refused_types,
    row_problems,
)
from exportctl.formats.options import TextOptions
from exportctl.lang import templating

#: Every character `str.splitlines` ends a line at (the test derives the set from it):
#: readers split there, so a value holding one would become two proxies, or half of one.
LINE_BREAKS = "\n\v\f\r\x1c\x1d\x1e\x85\u2028\u2029"
_LINE_BREAK = re.compile(f"[{re.escape(LINE_BREAKS)}]")


@dataclass(frozen=True)
class Proxy:
    scheme: str | None
    host: str
    port: int | None
    username: str | None
    password: str | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Proxy:
        """From `host`/`port`/... columns when present, else by parsing `url`."""
        if row.get("host") is not None:
            port = row.get("port")
            return cls(
                row.get("protocol"),
                str(row["host"]),
                None if port is None else int(port),
                row.get("username"),
                row.get("password"),
            )
        if row.get("url") is None:
            raise FormatError("a proxy list needs `host` and `port` fields, or a `url` field")
        url = str(row["url"])
        if found := _LINE_BREAK.search(url):  # urlsplit would drop CR and LF, not refuse them
            raise FormatError(_spanning(found.group(), {"url": url}))
        parts = urlsplit(url)
        try:
            port, problem = parts.port, "" if parts.hostname else "no host"
        except ValueError as exc:  # a port out of range or not a number
            port, problem = None, str(exc)
        if problem:
            shown = "…@" + url.rpartition("@")[2] if "@" in url else url  # never credentials
            raise FormatError(
                f"proxy URL `{shown}`: {problem}; write it as scheme://[user:pass@]host:port"
            )
        user = None if parts.username is None else unquote(parts.username)
        password = None if parts.password is None else unquote(parts.password)
        return cls(parts.scheme or None, parts.hostname or "", port, user, password)

    @property
    def host_port(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port is None else f"{host}:{self.port}"


def as_url(proxy: Proxy) -> str:
    credentials = ""
    if proxy.username is not None:
        credentials = quote(proxy.username, safe="")
        if proxy.password is not None:
            credentials += ":" + quote(proxy.password, safe="")
        credentials += "@"
    return f"{proxy.scheme or 'http'}://{credentials}{proxy.host_port}"


def as_host_port(proxy: Proxy) -> str:
    return proxy.host_port


def as_host_port_user_pass(proxy: Proxy) -> str:
    if proxy.username is None:
        return proxy.host_port
    for label, value in (("username", proxy.username), ("password", proxy.password or "")):
        if ":" in value:
            raise FormatError(
                f"proxy {proxy.host_port}: its {label} holds `:`, which the host:port:user:pass "
                "layout cannot carry; use layout `url`, which percent-encodes it"
            )
    return f"{proxy.host_port}:{proxy.username}:{proxy.password or ''}"


LAYOUTS: dict[str, Callable[[Proxy], str]] = {
    "url": as_url,
    "host:port": as_host_port,
    "host:port:user:pass": as_host_port_user_pass,
}


def _render(template: jinja2.Template, row: dict[str, Any]) -> str:
    try:
        return template.render(row)
    except jinja2.UndefinedError as exc:
        raise FormatError(
            f"the proxy list template: {exc.message}; fields: {', '.join(row)}"
        ) from None
    except jinja2.TemplateError as exc:  # a row's values break the template's limits or types
        raise FormatError(f"the proxy list template: {exc}") from None


Line = Callable[[dict[str, Any]], str]

#: The fields a layout may read from a row.
PROXY_FIELDS = ("protocol", "host", "port", "username", "password", "url")


def _line_for(options: TextOptions) -> Line:
    """The row → line function the options choose, refusing a line that would span several."""
    if options.template:
        template = templating.compile_template(options.template)
        line: Line = lambda row: _render(template, row)  # noqa: E731
    else:
        layout = LAYOUTS[options.layout or "url"]
        line = lambda row: layout(Proxy.from_row(row))  # noqa: E731

    def one_line(row: dict[str, Any]) -> str:
        text = line(row)
        if found := _LINE_BREAK.search(text):
            raise FormatError(_spanning(found.group(), row))
        return text

    return one_line


def _spanning(char: str, row: dict[str, Any]) -> str:
    """Why a line is refused, naming the fields that hold the break, never their values."""
    fields = [k for k, v in row.items() if isinstance(v, str) and _LINE_BREAK.search(v)]
    where = f"field {', '.join(f'`{f}`' for f in fields)}" if fields else "the template"
    name = unicodedata.name(char, "")
    return (
        f"a proxy line would span several lines: {where} holds U+{ord(char):04X}"
        f"{f' {name}' if name else ''}, where readers end a line"
    )


def _bad_lines(chunk: pd.DataFrame, options: TextOptions) -> list[Refusal]:
    """The rows whose line `write` would refuse, found by making each line.

    A field missing from every row (no `host` nor `url`, a template's unknown name) is not
    a row's fault: `write` reports it for the whole export.
    """
    if options.template:
        needed = sorted(templating.variables(options.template))
        if not set(needed) <= set(chunk.columns):
            return []
    else:
        needed = [name for name in PROXY_FIELDS if name in chunk.columns]
        if "host" not in needed and "url" not in needed:
            return []
    try:
        columns = python_columns(chunk[needed])
    # FormatError: binary or finer-than-µs values, refused row by row already; Arrow and
    # ValueError: a column of mixed types, which `write` cannot convert either.
    except (FormatError, pa.ArrowException, ValueError, TypeError, OverflowError):
        return []
    line = _line_for(options)
    rows, reasons = np.zeros(len(chunk), dtype=bool), {}
    for position, values in enumerate(zip(*columns, strict=True)):
        try:
            line(dict(zip(needed, values, strict=True)))
        except FormatError as exc:
            rows[position], reasons[position] = True, str(exc)
        except (ValueError, TypeError) as exc:  # a port that is not a number
            rows[position], reasons[position] = True, f"cannot make a proxy line: {exc}"
    return [(rows, reasons.__getitem__)]


class TextEncoder:
    Options = TextOptions
    extension = ".txt"

    def __init__(self, options: TextOptions, stream: BinaryIO):
        self.stream = stream
        self.line = _line_for(options)

    @staticmethod
    def problems(chunk: pd.DataFrame, options: TextOptions | None = None) -> pd.Series | None:
        """Per row, why no proxy line can be made of it; None if every row is fine.

        Without `options` only what every layout and template refuses is known (bytes,
        timestamps finer than a microsecond); with them, each row's line is tried.
        """
        columns = arrow_columns(chunk)
        refusals = fine_timestamps(columns)
        refusals += refused_types(
            columns,
            lambda t: "binary data cannot be written in a proxy list" if is_binary(t) else None,
        )
        if options is not None:
            refusals += _bad_lines(chunk, options)
        return row_problems(chunk, refusals)

    def write(self, chunk: pd.DataFrame) -> None:
        names = [str(c) for c in chunk.columns]
        lines = []
        for values in zip(*python_columns(chunk), strict=True):
            lines.append(self.line(dict(zip(names, values, strict=True))) + "\n")
        self.stream.write("".join(lines).encode("utf-8"))

    def close(self) -> None:
        """A list has no trailer."""
