"""Plain-text proxy lists: each layout, from split columns or from a `url` column.

Credentials in the `url` layout are percent-encoded and must parse back exactly with
`urllib.parse`; layouts that cannot carry a value refuse it, naming the proxy.
"""

from __future__ import annotations

import io
from typing import Any
from urllib.parse import unquote, urlsplit

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exportctl.errors import FormatError
from exportctl.formats.options import TextOptions
from exportctl.formats.text import LINE_BREAKS, TextEncoder

PROXY_TYPES = {
    "protocol": pa.string(),
    "host": pa.string(),
    "port": pa.int64(),
    "username": pa.string(),
    "password": pa.string(),
    "url": pa.string(),
}
LAYOUTS = ("url", "host:port", "host:port:user:pass")


def proxies(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Arrow-backed columns, typed by name, holding exactly the fields the rows name."""
    names = list(rows[0])
    arrays = {n: pa.array([r[n] for r in rows], PROXY_TYPES[n]) for n in names}
    return pa.table(arrays).to_pandas(types_mapper=pd.ArrowDtype)


def proxy(protocol: str | None, host: str, port: int | None, user: str | None, pw: str | None):
    return {"protocol": protocol, "host": host, "port": port, "username": user, "password": pw}


def write_list(frame: pd.DataFrame, **options: Any) -> list[str]:
    stream = io.BytesIO()
    encoder = TextEncoder(TextOptions(**options), stream)
    encoder.write(frame)
    encoder.close()
    *lines, last = stream.getvalue().decode("utf-8").split("\n")
    assert last == "", "every line, the last included, ends with a line break"
    return lines


HOSTILE_USER = "a:b@c/d%e#f g"
HOSTILE_PASSWORD = "pä ss:@/%#密码🔑"

# (row, {layout: line})
FROM_COLUMNS = {
    "plain": (
        proxy("http", "10.0.0.1", 8080, None, None),
        ("http://10.0.0.1:8080", "10.0.0.1:8080", "10.0.0.1:8080"),
    ),
    "credentials": (
        proxy("socks5", "proxy.example", 1080, "user", "pass"),
        (
            "socks5://user:pass@proxy.example:1080",
            "proxy.example:1080",
            "proxy.example:1080:user:pass",
        ),
    ),
    "ipv6": (
        proxy("http", "2001:db8::1", 3128, "u", "p"),
        ("http://u:p@[2001:db8::1]:3128", "[2001:db8::1]:3128", "[2001:db8::1]:3128:u:p"),
    ),
    "no-protocol-means-http": (
        proxy(None, "proxy.example", 80, None, None),
        ("http://proxy.example:80", "proxy.example:80", "proxy.example:80"),
    ),
    "no-port": (
        proxy("https", "proxy.example", None, None, None),
        ("https://proxy.example", "proxy.example", "proxy.example"),
    ),
    "empty-password": (
        proxy("http", "h.example", 1, "u", ""),
        ("http://u:@h.example:1", "h.example:1", "h.example:1:u:"),
    ),
    "no-password": (
        proxy("http", "h.example", 1, "u", None),
        ("http://u@h.example:1", "h.example:1", "h.example:1:u:"),
    ),
    "non-ascii": (
        proxy("http", "h.example", 1, "émile", "pä"),
        ("http://%C3%A9mile:p%C3%A4@h.example:1", "h.example:1", "h.example:1:émile:pä"),
    ),
    "hostile-url": (
        proxy("http", "h.example", 1, HOSTILE_USER, HOSTILE_PASSWORD),
        (
            "http://a%3Ab%40c%2Fd%25e%23f%20g:p%C3%A4%20ss%3A%40%2F%25%23"
            "%E5%AF%86%E7%A0%81%F0%9F%94%91@h.example:1",
            "h.example:1",
            None,  # refused: see test_colon_in_credentials_is_refused_naming_the_proxy
        ),
    ),
}


@pytest.mark.parametrize(
    ("row", "layout", "expected"),
    [
        pytest.param(row, layout, line, id=f"{name}-{layout}")
        for name, (row, lines) in FROM_COLUMNS.items()
        for layout, line in zip(LAYOUTS, lines, strict=True)
        if line is not None
    ],
)
def test_layout_from_host_port_columns(row: dict[str, Any], layout: str, expected: str) -> None:
    assert write_list(proxies([row]), layout=layout) == [expected]


# (url, {layout: line}): a URL in, each layout out
FROM_URL = {
    "credentials": (
        "socks5://user:pass@proxy.example:1080",
        (
            "socks5://user:pass@proxy.example:1080",
            "proxy.example:1080",
            "proxy.example:1080:user:pass",
        ),
    ),
    "ipv6-encoded-credentials": (
        "http://%C3%A9mile:p%40ss%20w@[2001:db8::1]:8080",
        (
            "http://%C3%A9mile:p%40ss%20w@[2001:db8::1]:8080",
            "[2001:db8::1]:8080",
            "[2001:db8::1]:8080:émile:p@ss w",
        ),
    ),
    "no-credentials-no-port": ("https://[::1]", ("https://[::1]", "[::1]", "[::1]")),
}


@pytest.mark.parametrize(
    ("url", "layout", "expected"),
    [
        pytest.param(url, layout, line, id=f"{name}-{layout}")
        for name, (url, lines) in FROM_URL.items()
        for layout, line in zip(LAYOUTS, lines, strict=True)
    ],
)
def test_layout_from_a_url_column(url: str, layout: str, expected: str) -> None:
    assert write_list(proxies([{"url": url}]), layout=layout) == [expected]


def test_url_layout_is_the_default() -> None:
    row = proxy("socks5", "h.example", 1, "u", "p")
    assert write_list(proxies([row])) == write_list(proxies([row]), layout="url")


def test_url_layout_credentials_parse_back_exactly() -> None:
    row = proxy("http", "2001:db8::1", 8080, HOSTILE_USER, HOSTILE_PASSWORD)
    [line] = write_list(proxies([row]), layout="url")
    parts = urlsplit(line)
    assert (parts.scheme, parts.hostname, parts.port) == ("http", "2001:db8::1", 8080)
    assert parts.username is not None and unquote(parts.username) == HOSTILE_USER
    assert parts.password is not None and unquote(parts.password) == HOSTILE_PASSWORD


@pytest.mark.parametrize(
    ("username", "password", "culprit"),
    [
        ("a:b", "secret", "username"),
        ("user", "se:cret", "password"),
        (HOSTILE_USER, "hunter2", "username"),
    ],
)
def test_colon_in_credentials_is_refused_naming_the_proxy(
    username: str, password: str, culprit: str
) -> None:
    rows = [
        proxy("http", "ok.example", 1, "u", "p"),
        proxy("http", "bad.example", 3128, username, password),
    ]
    with pytest.raises(
        FormatError, match=f"proxy bad.example:3128: its {culprit} holds `:`"
    ) as info:
        write_list(proxies(rows), layout="host:port:user:pass")
    assert password not in str(info.value), "the error must not reveal the password"


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("1.2.3.4:8080", "no host"),
        ("proxy.example:8080", "no host"),
        ("user:secret@proxy.example:8080", "no host"),
        ("http://proxy.example:99999", "out of range"),
        ("http://user:secret@proxy.example:port", "could not be cast"),
    ],
)
def test_a_url_that_is_not_a_proxy_url_is_refused(url: str, complaint: str) -> None:
    with pytest.raises(FormatError, match=complaint) as info:
        write_list(proxies([{"url": url}]))
    assert "secret" not in str(info.value), "the error must not reveal the password"


def test_a_row_without_host_or_url_is_refused() -> None:
    with pytest.raises(FormatError, match="needs `host` and `port` fields, or a `url` field"):
        write_list(proxies([{"url": None}]))


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ host }}:{{ port }}", ["h.example:1", "g.example:"]),
        ("{{ protocol }} {{ username }}@{{ host }}", ["socks5 u@h.example", " @g.example"]),
        ("{{ host | upper }}", ["H.EXAMPLE", "G.EXAMPLE"]),
    ],
)
def test_template_renders_each_row_with_null_as_nothing(template: str, expected: list[str]) -> None:
    rows = [proxy("socks5", "h.example", 1, "u", "p"), proxy(None, "g.example", None, None, None)]
    assert write_list(proxies(rows), template=template) == expected


def test_template_naming_a_missing_field_is_refused() -> None:
    with pytest.raises(FormatError, match="'country' is undefined"):
        write_list(proxies([proxy("http", "h.example", 1, None, None)]), template="{{ country }}")


#: Derived from `str.splitlines` itself, over every code point.
SPLITS_LINES = sorted(c for c in map(chr, range(0x110000)) if len(f"a{c}b".splitlines()) > 1)
LINE_FIELDS = ("protocol", "host", "username", "password", "url")
EVERY_FIELD = "{{ protocol }}|{{ host }}|{{ port }}|{{ username }}|{{ password }}"


def row_holding(field: str, char: str, at: int) -> dict[str, Any]:
    """A proxy row whose `field` holds `char` at its start, middle or end (`at` 0, 1, 2)."""
    values = {"protocol": "http", "host": "h.example", "username": "us", "password": "pw"}
    values["url"] = "http://us:pw@h.example:1"
    value = values[field]
    cut = (0, len(value) // 2, len(value))[at]
    values[field] = value[:cut] + char + value[cut:]
    if field == "url":
        return {"url": values["url"]}
    return {**{k: values[k] for k in LINE_FIELDS if k != "url"}, "port": 1}


def test_the_refused_line_breaks_are_every_one_str_splitlines_splits_on() -> None:
    assert "".join(SPLITS_LINES) == "".join(sorted(LINE_BREAKS))


@pytest.mark.parametrize("at", [0, 1, 2], ids=["start", "middle", "end"])
@pytest.mark.parametrize("field", LINE_FIELDS)
@pytest.mark.parametrize("char", SPLITS_LINES, ids=lambda c: f"U+{ord(c):04X}")
def test_no_line_break_a_reader_splits_on_reaches_a_line(char: str, field: str, at: int) -> None:
    row = row_holding(field, char, at)
    good = row_holding(field, "", at)
    frame = proxies([good, row, good])
    template = "{{ url }}" if field == "url" else EVERY_FIELD
    for options in [{"layout": layout} for layout in LAYOUTS] + [{"template": template}]:
        try:
            stream = io.BytesIO()
            TextEncoder(TextOptions(**options), stream).write(frame)
        except FormatError as exc:
            assert f"U+{ord(char):04X}" in str(exc) and f"`{field}`" in str(exc)
            assert row[field] not in str(exc)  # names the field, never shows its value
            problems = TextEncoder.problems(frame, TextOptions(**options))
            assert problems is not None and list(problems.notna()) == [False, True, False]
            continue
        # Accepted: the value was left out or percent-encoded, and every reader sees 3 lines.
        text = stream.getvalue().decode("utf-8")
        assert text.splitlines() == text.split("\n")[:-1] and text.count("\n") == 3, options


def test_layout_and_template_together_are_refused() -> None:
    with pytest.raises(ValueError, match="not both"):
        TextOptions(layout="url", template="{{ host }}")


# --- hypothesis: any credentials survive the url layout --------------------

credentials = st.none() | st.text(st.characters(codec="utf-8"), max_size=10)
proxy_rows = st.builds(
    proxy,
    st.sampled_from(["http", "https", "socks5", None]),
    st.sampled_from(["10.0.0.1", "proxy.example", "2001:db8::1", "::1"]),
    st.integers(1, 65535),
    credentials,
    credentials,
)


@settings(max_examples=150, deadline=None)
@given(rows=st.lists(proxy_rows, min_size=1, max_size=5))
def test_url_layout_carries_any_credentials(rows: list[dict[str, Any]]) -> None:
    lines = write_list(proxies(rows), layout="url")
    assert len(lines) == len(rows)
    for line, row in zip(lines, rows, strict=True):
        parts = urlsplit(line)
        assert parts.scheme == (row["protocol"] or "http")
        assert (parts.hostname, parts.port) == (row["host"], row["port"])
        if row["username"] is None:  # a password alone cannot be written
            assert parts.username is None and parts.password is None
            continue
        assert parts.username is not None and unquote(parts.username) == row["username"]
        password = None if parts.password is None else unquote(parts.password)
        assert password == row["password"]


@settings(max_examples=100, deadline=None)
@given(rows=st.lists(proxy_rows, min_size=1, max_size=5))
def test_url_layout_reads_its_own_output_back_unchanged(rows: list[dict[str, Any]]) -> None:
    lines = write_list(proxies(rows), layout="url")
    assert write_list(proxies([{"url": line} for line in lines]), layout="url") == lines
