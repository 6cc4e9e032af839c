"""Redaction never misses: secrets at random depths, in random shapes, in every output.

Documents are generated with secrets under secret keys (as text, numbers, lists or
objects), inside URLs, `key=value` pairs and `Authorization` headers in free text, and
the same documents as JSON text and as JSON escaped inside JSON. After redaction no
secret may be found in any form, and every value that held none is unchanged.
"""

from __future__ import annotations

import io
import json
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exportctl.model import Redaction
from exportctl.plan.compiler import compile_plan
from exportctl.run import runner
from exportctl.spec.load import load_spec
from exportctl.transforms.redact.columns import Redactor
from tests.support.codecs import decompressed
from tests.support.jsonlines import json_lines

#: Characters of generated secrets: none ends a `key=value` value early.
SECRET_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789._~+-"
SECRET_KEYS = (
    "password",
    "db_password",
    "PROXYWHIRL_API_KEY",
    "cacheEncryptionKey",
    "auth_token",
    "client-secret",
    "Cookie",
    "private_key",
    "credentials",
)
PLAIN_KEYS = ("host", "port", "region", "pool", "author", "timeout", "name", "tags")
PLAIN_WORDS = ("Paris", "São Paulo", "東京", "ok", "GET /health", "a,b", "ratio 3:4", "")

#: Text the outputs hold anyway (keys, shapes, headers): no secret may be part of it.
STRUCTURE = (
    " ".join(
        (*SECRET_KEYS, *PLAIN_KEYS, *PLAIN_WORDS, "via retry token now sent Authorization Bearer"),
    ).lower()
    + " db_password get https://h.example/p?api_key proxy-user timestamp message extra"
)
secrets_ = st.text(SECRET_ALPHABET, min_size=12, max_size=24).filter(
    lambda s: s.lower() not in STRUCTURE
)


class Secrets(list[str]):
    """The secrets a generated document holds."""


@st.composite
def secret_text(draw: st.DrawFn, found: Secrets) -> str:
    """Free text with one secret in it, in one of the shapes the value rules know."""
    secret = draw(secrets_)
    found.append(secret)
    user = draw(st.sampled_from(["bob", "proxy-user", "u.1"]))
    shape = draw(st.integers(0, 4))
    return [
        f"via http://{user}:{quote(secret, safe='')}@10.0.0.1:8080/x",
        f"retry token={secret} now",
        f"sent Authorization: Bearer {secret}",
        f"db_password: {secret}",
        f"GET https://h.example/p?api_key={secret}&x=1",
    ][shape]


@st.composite
def documents(draw: st.DrawFn, found: Secrets, depth: int = 0) -> Any:
    """A JSON-shaped document; its secrets are appended to `found`."""
    kind = draw(st.integers(0, 3 if depth < 3 else 1))
    if kind == 0:
        return draw(st.sampled_from(PLAIN_WORDS)) if draw(st.booleans()) else draw(st.integers())
    if kind == 1:
        return draw(secret_text(found))
    if kind == 2:
        return [draw(documents(found, depth + 1)) for _ in range(draw(st.integers(0, 3)))]
    out: dict[str, Any] = {}
    for key in draw(st.lists(st.sampled_from(PLAIN_KEYS), max_size=3, unique=True)):
        out[key] = draw(documents(found, depth + 1))
    for key in draw(st.lists(st.sampled_from(SECRET_KEYS), max_size=2, unique=True)):
        out[key] = draw(secret_values(found))
    return out


@st.composite
def secret_values(draw: st.DrawFn, found: Secrets) -> Any:
    """What may sit under a secret key: text, a list of text, an object."""
    secret = draw(secrets_)
    found.append(secret)
    return draw(
        st.sampled_from([secret, [secret, "x"], {"value": secret, "n": 1}, f"{secret}:{secret}"])
    )


def forms(secret: str) -> set[str]:
    """A secret as it could appear: raw, percent-encoded, JSON-escaped once and twice."""
    once = json.dumps(secret)[1:-1]
    return {secret, quote(secret, safe=""), once, json.dumps(once)[1:-1]}


def leaked(secrets: list[str], output: str) -> list[str]:
    return [s for s in secrets if any(form in output for form in forms(s))]


def assert_same_where_no_secret(before: Any, after: Any, marker: str = "***") -> None:
    """`after` is `before` with secret-keyed values masked; what held no secret is equal."""
    if isinstance(before, dict):
        assert isinstance(after, dict) and list(after) == list(before)
        for key, value in before.items():
            if key in SECRET_KEYS:
                assert after[key] == marker
            else:
                assert_same_where_no_secret(value, after[key], marker)
    elif isinstance(before, list):
        assert isinstance(after, list) and len(after) == len(before)
        for a, b in zip(before, after, strict=True):
            assert_same_where_no_secret(a, b, marker)
    elif not isinstance(before, str) or before in PLAIN_WORDS:
        assert after == before
    else:
        assert after != before  # a text that held a secret; `leaked` checks it is gone


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_no_secret_survives_at_any_depth_or_escaping(data: st.DataObject) -> None:
    found = Secrets()
    docs = [data.draw(documents(found)) for _ in range(data.draw(st.integers(1, 4)))]
    frame = pd.DataFrame(
        {
            "doc": pd.Series(docs, dtype=object),
            "as_json": [json.dumps(d, ensure_ascii=False) for d in docs],
            "escaped": [json.dumps(json.dumps(d)) for d in docs],
            "in_text": [f"payload={json.dumps(d)} sent" for d in docs],
        }
    )

    out = Redactor(Redaction()).apply(frame)

    assert leaked(found, json.dumps(out.to_dict("records"), default=repr)) == []
    for i, doc in enumerate(docs):
        assert_same_where_no_secret(doc, out["doc"][i])
        assert_same_where_no_secret(doc, json.loads(out["as_json"][i]))
        assert_same_where_no_secret(doc, json.loads(json.loads(out["escaped"][i])))


# --- log records, through every format and compression -----------------------------------

FORMATS = {
    "csv": ("csv", ("none", "gzip", "zstd", "zip")),
    "json": ("json", ("none", "gzip", "zstd", "zip")),
    "jsonl": ("jsonl", ("none", "gzip", "zstd", "zip")),
    "yaml": ("yaml", ("none", "gzip", "zstd")),
    "text": (
        "{type: text, template: '{{ timestamp }} {{ message }} {{ extra }}'}",
        ("none", "gzip"),
    ),
    "parquet": ("{type: parquet, codec: zstd}", ("none",)),
}
SUFFIX = {"none": "", "gzip": ".gz", "zstd": ".zst", "zip": ".zip"}
SPEC = """\
version: 1
name: logs
source: {{type: logs, path: app.jsonl, format: jsonl, time_field: time, message_field: message}}
format: {format}
compression: {codec}
redact: true
destination: out/logs.{extension}{suffix}
"""


def text_of(output: bytes, fmt: str) -> str:
    """The output as text, Parquet's values included (its pages may be compressed)."""
    if fmt == "parquet":
        return json.dumps(pq.read_table(io.BytesIO(output)).to_pylist(), default=str)
    return output.decode("utf-8")


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_no_secret_in_log_records_survives_any_format(fmt: str, data: st.DataObject) -> None:
    found = Secrets()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    records = [
        {
            "time": (start + timedelta(seconds=i)).isoformat(),
            "level": "INFO",
            "message": data.draw(secret_text(found)),
            "extra": data.draw(documents(found, depth=1)),
        }
        for i in range(data.draw(st.integers(1, 5)))
    ]
    format_yaml, codecs = FORMATS[fmt]
    codec = data.draw(st.sampled_from(codecs))
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "app.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
        spec = root / "logs.yaml"
        extension = "txt" if fmt == "text" else fmt
        spec.write_text(
            SPEC.format(format=format_yaml, codec=codec, extension=extension, suffix=SUFFIX[codec])
        )
        result = runner.run(compile_plan(load_spec(spec, env={}), now=start, run_id="r1"))
        assert result.status == "succeeded", result.error
        output = decompressed(Path(result.uri).read_bytes(), codec)

    assert leaked(found, text_of(output, fmt)) == []
    assert result.rows == len(records)
    if fmt in ("json", "jsonl", "yaml"):
        back = (
            yaml.safe_load(output)
            if fmt == "yaml"
            else json.loads(output)
            if fmt == "json"
            else json_lines(output)
        )
        assert [r["timestamp"][:19] for r in back] == [r["time"][:19] for r in records]
