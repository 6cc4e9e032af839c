"""Redaction: secret columns, nested keys and secret text hidden before any byte is encoded."""

from __future__ import annotations

import io
import json
import sqlite3
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exportctl.cli.main import main
from exportctl.errors import SpecError
from exportctl.ledger.store import Ledger
from exportctl.model import Field, Redaction
from exportctl.plan.compiler import compile_plan
from exportctl.run import runner
from exportctl.run.result import RunResult
from exportctl.spec.load import load_spec
from exportctl.transforms.redact import columns
from exportctl.transforms.redact.columns import Redactor
from exportctl.transforms.redact.keys import key_matcher
from tests.support.codecs import decompressed
from tests.support.jsonlines import json_lines

NOW = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
TEXT = pd.ArrowDtype(pa.string())
#: Characters of generated secrets: no delimiter ends a `key=value` value early.
SECRET_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789._~+-"


def texts(*values: str | None) -> pd.Series:
    return pd.Series(list(values), dtype=TEXT)


def redacted(frame: pd.DataFrame, **rules: Any) -> tuple[list[dict[str, Any]], dict[str, int]]:
    redactor = Redactor(Redaction(**rules))
    out = redactor.apply(frame)
    return out.to_dict("records"), dict(redactor.counts)


# --- by name ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("password", "password"),
        ("cache_encryption_key", "encryption_key"),
        ("PROXYWHIRL_API_KEY", "api_key"),
        ("proxywhirlApiKey", "api_key"),
        ("db-password2", "password"),
        ("oauth_token", "token"),
        ("Set-Cookie", "cookie"),
        ("credentials", "credential"),
        ("passwords", "password"),
        ("x_auth", "auth"),
        ("author", None),
        ("authenticated_at", None),
        ("monkey", None),
        ("username", None),
        ("health_status", None),
    ],
)
def test_secret_names_are_found_inside_compound_names(name: str, key: str | None) -> None:
    assert key_matcher(Redaction().keys)(name) == key


def test_a_secret_column_is_masked_and_nulls_stay_null() -> None:
    frame = pd.DataFrame({"host": ["a", "b"], "PROXYWHIRL_API_KEY": texts("k1", None)})

    rows, counts = redacted(frame)

    assert rows == [
        {"host": "a", "PROXYWHIRL_API_KEY": "***"},
        {"host": "b", "PROXYWHIRL_API_KEY": None},
    ]
    assert counts == {"key:api_key": 1}


def test_a_renamed_or_computed_secret_is_found_by_its_source() -> None:
    fields = (Field("pw", "password"), Field("line", None, "{{ host }}:{{ token }}"))
    frame = pd.DataFrame({"pw": ["hunter2"], "line": ["h:t0k3n"]})

    out = Redactor(Redaction(), fields).apply(frame)

    assert out.to_dict("records") == [{"pw": "***", "line": "***"}]


def test_drop_removes_the_column_and_keys_can_be_replaced() -> None:
    frame = pd.DataFrame({"session_id": ["s"], "pin": ["1234"], "note": ["x"]})

    rows, counts = redacted(frame, mode="drop", keys=("pin",))

    assert rows == [{"session_id": "s", "note": "x"}]
    assert counts == {"key:pin": 1}


def test_nested_maps_and_dicts_are_redacted_by_key() -> None:
    labels = pa.array(
        [[("proxy", "p1"), ("api_token", "t")], None], pa.map_(pa.string(), pa.string())
    )
    frame = pd.DataFrame(
        {
            "labels": pd.Series(pd.arrays.ArrowExtensionArray(labels)),
            "extra": [{"user": {"password": "pw"}, "u": "http://a:b@h"}, None],
        }
    )

    rows, counts = redacted(frame)

    assert rows[0]["labels"] == [("proxy", "p1"), ("api_token", "***")]
    assert rows[0]["extra"] == {"user": {"password": "***"}, "u": "http://***:***@h"}
    assert counts == {"key:token": 1, "key:password": 1, "url_credentials": 1}


# --- by value --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected", "rule"),
    [
        (
            "via http://u:p%40ss@1.2.3.4:80 ok",
            "via http://***:***@1.2.3.4:80 ok",
            "url_credentials",
        ),
        (
            "GET https://tok3n@api.example.com/x",
            "GET https://***@api.example.com/x",
            "url_credentials",
        ),
        ("Authorization: Bearer abc.def-ghi", "Authorization: Bearer ***", "authorization"),
        (
            "headers={'Authorization': 'Basic dXNlcjpwYXNz'}",
            "headers={'Authorization': 'Basic ***'}",
            "authorization",
        ),
        ("sent bearer eyJhbGciOi to upstream", "sent bearer *** to upstream", "authorization"),
        ("login with password=hunter2 failed", "login with password=*** failed", "key_value"),
        ("db_password: s3cr3t", "db_password: ***", "key_value"),
        ('{"api_key": "k\\"q", "n": 1}', '{"api_key": "***", "n": 1}', "key:api_key"),
        ('sent {"api_key": "k\\"q", "n": 1', 'sent {"api_key": "***", "n": 1', "key_value"),
        ("https://h/p?access_key=AKIA&x=1", "https://h/p?access_key=***&x=1", "key_value"),
    ],
)
def test_secrets_inside_text_are_replaced(text: str, expected: str, rule: str) -> None:
    rows, counts = redacted(pd.DataFrame({"message": texts(text)}))

    assert rows == [{"message": expected}]
    assert counts == {rule: 1}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # A list or an object under a secret key goes whole, in JSON text or not.
        ('{"password": ["a1", "b2"], "n": 1}', '{"password": "***", "n": 1}'),
        ('{"token":{"v":"abc","w":[1]}}', '{"token":"***"}'),
        ('sent {"token": {"v": "abc"}} upstream', 'sent {"token": ***} upstream'),
        ("extra={'password': ['x1', 'y2']} ok", "extra={'password': ***} ok"),
        ("secret=[a, [b, c]] then", "secret=*** then"),
        # JSON escaped inside a string, once or twice.
        ('{"msg": "{\\"password\\": \\"hunter2\\"}"}', '{"msg": "{\\"password\\": \\"***\\"}"}'),
        (
            json.dumps({"m": json.dumps({"e": json.dumps({"token": "t0k"})})}),
            json.dumps({"m": json.dumps({"e": json.dumps({"token": "***"})})}),
        ),
        ('body="{\\"token\\": \\"abc\\"}" sent', 'body="{\\"token\\": \\"***\\"}" sent'),
        ('retry password=\\"s3cr3t\\" now', 'retry password=\\"***\\" now'),
        # A JSON document's strings are scanned like any text, its keys too.
        ('[{"u": "http://bob:pw@h:1"}]', '[{"u": "http://***:***@h:1"}]'),
        ('{"http://bob:pw@h": 1}', '{"http://***:***@h": 1}'),
    ],
)
def test_structured_secrets_inside_text_go_whole(text: str, expected: str) -> None:
    rows, counts = redacted(pd.DataFrame({"message": texts(text)}))

    assert rows == [{"message": expected}]
    assert sum(counts.values()) >= 1


def test_every_kind_of_column_is_scanned() -> None:
    """Categoricals, Arrow dictionaries, bytes and maps nested in lists and structs."""
    secret_url = "http://bob:pw1@h:1"
    nested = pa.array(
        [[[("api_key", "k1"), ("region", "eu")]], None],
        pa.list_(pa.map_(pa.string(), pa.string())),
    )
    struct = pa.array(
        [{"labels": [("token", "t1")], "note": f"via {secret_url}"}, None],
        pa.struct([("labels", pa.map_(pa.string(), pa.string())), ("note", pa.string())]),
    )
    frame = pd.DataFrame(
        {
            "category": pd.Series([f"via {secret_url}", "ok"], dtype="category"),
            "dictionary": pd.Series(
                pd.arrays.ArrowExtensionArray(pa.array(["password=pw2", "ok"]).dictionary_encode())
            ),
            "raw": [b"token=t2 \xff", b"ok"],
            "binary": pd.Series(pd.arrays.ArrowExtensionArray(pa.array([b"secret=s3", None]))),
            "nested": pd.Series(pd.arrays.ArrowExtensionArray(nested)),
            "struct": pd.Series(pd.arrays.ArrowExtensionArray(struct)),
        }
    )

    rows, _ = redacted(frame)

    assert rows[0]["category"] == "via http://***:***@h:1"
    assert rows[0]["dictionary"] == "password=***"
    assert rows[0]["raw"] == b"token=*** \xff"
    assert rows[0]["binary"] == b"secret=***"
    assert rows[0]["nested"] == [[("api_key", "***"), ("region", "eu")]]
    assert rows[0]["struct"] == {"labels": [("token", "***")], "note": "via http://***:***@h:1"}
    assert [rows[1][c] for c in ("category", "dictionary", "raw")] == ["ok", "ok", b"ok"]


def test_text_without_secrets_is_left_alone() -> None:
    plain = ["author=bob", "ratio 3:4", "http://example.com:8080/a@b", "GET / -> 200", "", None]
    frame = pd.DataFrame({"message": texts(*plain)})

    rows, counts = redacted(frame)

    assert [r["message"] for r in rows] == plain
    assert counts == {}


def test_extra_patterns_replace_their_secret_group_or_whole_match() -> None:
    frame = pd.DataFrame({"m": texts("card 4111-1111 sid=ab12", "x")})

    rows, counts = redacted(frame, values=(r"\d{4}-\d{4}", r"sid=(?P<secret>\w+)"))

    assert rows[0]["m"] == "card *** sid=***"
    assert counts == {"pattern:1": 1, "pattern:2": 1}


def test_counts_weigh_each_distinct_value_by_its_rows() -> None:
    frame = pd.DataFrame({"m": texts(*["token=abc"] * 3, "ok", None)})

    _, counts = redacted(frame)

    assert counts == {"key_value": 3}


def test_strip_credentials_leaves_a_usable_url() -> None:
    url = f"socks5://{quote('us:er', safe='')}:{quote('p@ss/w', safe='')}@[2001:db8::1]:1080"

    rows, _ = redacted(pd.DataFrame({"url": texts(url)}), url_mode="strip_credentials")

    parts = urlsplit(rows[0]["url"])
    assert rows[0]["url"] == "socks5://[2001:db8::1]:1080"
    assert (parts.scheme, parts.hostname, parts.port, parts.username) == (
        "socks5",
        "2001:db8::1",
        1080,
        None,
    )


# --- hash ------------------------------------------------------------------------------


#: Environment variables hold no NUL (HMAC pads a key with NULs: `k` and `k\0` are one key).
env_keys = st.text(
    st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), min_size=1
).map(str.encode)


@settings(max_examples=50, deadline=None)
@given(
    secret=st.text(min_size=1),
    token=st.text(SECRET_ALPHABET, min_size=1),
    key=env_keys,
    other=env_keys,
)
def test_hash_is_deterministic_per_key(secret: str, token: str, key: bytes, other: bytes) -> None:
    frame = pd.DataFrame({"password": texts(secret), "m": texts(f"token={token}")})

    first, _ = redacted(frame, mode="hash", hash_key=key)
    again, _ = redacted(frame, mode="hash", hash_key=key)
    elsewhere, _ = redacted(frame, mode="hash", hash_key=other)

    assert first == again
    assert first[0]["password"] != secret and len(first[0]["password"]) == 64
    if other != key:
        assert first[0]["password"] != elsewhere[0]["password"]
        assert first[0]["m"] != elsewhere[0]["m"]


def test_hash_without_a_key_is_refused() -> None:
    with pytest.raises(Exception, match="EXPORTCTL_HASH_KEY"):
        Redactor(Redaction(mode="hash"))


# --- the spec --------------------------------------------------------------------------

SPEC = """\
version: 1
name: pool
source: {{type: sql, url: "sqlite:///db.sqlite", chunk_size: {chunk}}}
query: {{table: pool, order_by: [id]}}
{fields}format: {format}
{compression}destination: {destination}
{redact}
"""


def write_spec(folder: Path, redact_yaml: str, **overrides: Any) -> Path:
    values = {
        "chunk": 1000,
        "fields": "",
        "format": "csv",
        "compression": "",
        "destination": "out/pool.csv",
        "redact": redact_yaml,
        **overrides,
    }
    path = folder / "pool.yaml"
    path.write_text(SPEC.format(**values))
    return path


@pytest.mark.parametrize(
    ("redact_yaml", "expected"),
    [
        ("", None),
        ("redact: false", None),
        ("redact: true", Redaction()),
        (
            "redact: {keys: {add: [pin], remove: [session]}, mode: mask, marker: X}",
            Redaction(
                keys=tuple(k for k in Redaction().keys if k != "session") + ("pin",), marker="X"
            ),
        ),
        ("redact: {keys: [pin], values: ['a+']}", Redaction(keys=("pin",), values=("a+",))),
    ],
)
def test_the_spec_section_parses(tmp_path: Path, redact_yaml: str, expected: Any) -> None:
    assert load_spec(write_spec(tmp_path, redact_yaml), env={}).redact == expected


def test_hash_reads_its_key_from_the_environment(tmp_path: Path) -> None:
    path = write_spec(tmp_path, "redact: {mode: hash, hash_key_env: MY_KEY}")

    spec = load_spec(path, env={"MY_KEY": "s3cret-key"})

    assert spec.redact is not None and spec.redact.hash_key == b"s3cret-key"
    assert "s3cret-key" not in repr(spec)


@pytest.mark.parametrize(
    ("redact_yaml", "line", "path", "message"),
    [
        ("redact: {values: ['(unclosed']}", 7, "$.redact.values[0]", "not a valid regular"),
        ("redact: {mode: hash}", 7, "$.redact.mode", "`EXPORTCTL_HASH_KEY`"),
        ("redact: {keys: {remove: [nope]}}", 7, "$.redact.keys.remove[0]", "`nope` is not one"),
        ("redact: {mode: scramble}", 7, "$.redact", ""),
    ],
)
def test_bad_redact_sections_are_located(
    tmp_path: Path, redact_yaml: str, line: int, path: str, message: str
) -> None:
    with pytest.raises(SpecError) as caught:
        load_spec(write_spec(tmp_path, redact_yaml), env={})

    problem = caught.value.problems[0]
    assert (problem.line, problem.path.startswith(path), message in problem.message) == (
        line,
        True,
        True,
    )


def test_drop_refuses_a_secret_field_the_spec_asks_for(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, "redact: {mode: drop}", fields="fields: [id, password]\n")

    with pytest.raises(SpecError, match=r"\$\.fields\[1\].*`password` is secret"):
        load_spec(spec, env={})


def test_validate_exits_2_on_a_bad_pattern(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, "redact: {values: ['[a-']}")

    result = CliRunner().invoke(main, ["validate", str(spec)])

    assert result.exit_code == 2
    assert "pool.yaml:7 at $.redact.values[0]" in result.output


# --- through the runner ----------------------------------------------------------------

COLUMNS = ("id", "city", "password", "cache_encryption_key", "url", "note", "message")


def make_db(folder: Path, rows: list[tuple[Any, ...]]) -> None:
    with sqlite3.connect(folder / "db.sqlite") as db:
        db.execute(f"CREATE TABLE pool ({', '.join(COLUMNS)})")
        db.executemany(f"INSERT INTO pool VALUES ({', '.join('?' * len(COLUMNS))})", rows)


def run_spec(path: Path, env: dict[str, str] | None = None) -> RunResult:
    return runner.run(compile_plan(load_spec(path, env=env or {}), now=NOW, run_id="r1"))


def test_drop_is_the_same_in_every_chunk_of_a_csv(tmp_path: Path) -> None:
    make_db(tmp_path, [(i, "Paris", f"pw{i}", None, "", "", "") for i in range(7)])

    result = run_spec(write_spec(tmp_path, "redact: {mode: drop}", chunk=2))

    assert result.status == "succeeded", result.error
    lines = (tmp_path / "out" / "pool.csv").read_text().splitlines()
    assert lines[0] == '"id","city","url","note","message"'
    assert len(lines) == 8 and all("pw" not in line for line in lines)
    assert result.redactions == {"key:password": 7}


def test_a_failure_inside_redaction_fails_the_run_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_db(tmp_path, [(i, "Paris", "hunter2", None, "", "", "") for i in range(5)])

    def broken(self: Redactor, value: Any) -> str:
        raise ValueError(f"cannot hide {value}")

    monkeypatch.setattr(Redactor, "hidden", broken)
    result = run_spec(write_spec(tmp_path, "redact: true", chunk=2))

    assert result.status == "failed"
    assert "redaction failed on field `password`" in (result.error or "")
    assert "hunter2" not in (result.error or "")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_the_ledger_records_rule_counts_and_no_values(tmp_path: Path, private_ledger: str) -> None:
    make_db(tmp_path, [(1, "Oslo", "hunter2", "k3y", "http://u:pw@h:1", "token=abc", "")])
    spec = write_spec(tmp_path, "redact: true")

    result = CliRunner().invoke(main, ["apply", str(spec)])

    assert result.exit_code == 0, result.output
    (run,) = Ledger(private_ledger).history("pool")
    assert run["summary"]["redactions"] == {
        "key:password": 1,
        "key:encryption_key": 1,
        "url_credentials": 1,
        "key_value": 1,
    }
    stored = json.dumps(run, default=str)
    assert not any(secret in stored for secret in ("hunter2", "k3y", ":pw@", "abc"))


def test_redaction_is_a_pure_stage() -> None:
    assert "runner" not in vars(columns) and "destinations" not in vars(columns)


# --- the property: no format or compression leaks a secret -----------------------------

#: Text every output holds anyway (column names, headers, hosts): no secret may be part of it.
STRUCTURE = " ".join((*COLUMNS, "Authorization Bearer proxy-user http https example 8080")).lower()
secrets_ = st.text(SECRET_ALPHABET, min_size=10, max_size=24).filter(
    lambda s: s.lower() not in STRUCTURE
)
words = st.sampled_from(["Paris", "Oslo", "São Paulo", "東京", "ok", "retry", "GET /", "a,b"])
FORMATS = {
    "csv": ("csv", ("none", "gzip", "zstd", "zip")),
    "json": ("json", ("none", "gzip", "zstd", "zip")),
    "jsonl": ("jsonl", ("none", "gzip", "zstd", "zip")),
    "yaml": ("yaml", ("none", "gzip", "zstd", "zip")),
    "text": ("{type: text, template: '{{ id }} {{ url }} {{ note }}'}", ("none", "gzip", "zstd")),
    "parquet": ("{type: parquet, codec: none}", ("none",)),
}
SUFFIX = {"none": "", "gzip": ".gz", "zstd": ".zst", "zip": ".zip"}


@st.composite
def rows_with_secrets(draw: st.DrawFn) -> tuple[list[tuple[Any, ...]], list[str]]:
    count = draw(st.integers(1, 6))
    rows, secrets = [], []
    for i in range(count):
        pw, key, url_pw, note_pw, token, bearer = (draw(secrets_) for _ in range(6))
        user = draw(st.sampled_from(["bob", "proxy-user", "u.1"]))
        city = draw(words)
        url = f"http://{user}:{quote(url_pw, safe='')}@10.0.0.{i}:8080"
        note = f"{city} via https://{user}:{quote(note_pw, safe='')}@h{i}.example/p token={token}"
        message = json.dumps({"msg": f"Authorization: Bearer {bearer}", "api_key": key})
        rows.append((i, city, pw, key, url, note, message))
        secrets += [pw, key, url_pw, note_pw, token, bearer]
    return rows, secrets


def read_back(data: bytes, fmt: str) -> list[dict[str, Any]]:
    """Rows with an independent reader (not exportctl's)."""
    if fmt == "csv":
        return pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False).to_dict("records")
    if fmt == "json":
        return list(json.loads(data))
    if fmt == "jsonl":
        return json_lines(data)
    if fmt == "yaml":
        return list(yaml.safe_load(data))
    if fmt == "parquet":
        return list(pq.read_table(io.BytesIO(data)).to_pylist())
    return [{"line": line} for line in data.decode().splitlines()]


def forms(secret: str) -> set[str]:
    """The secret as it could appear in output: raw, percent-encoded, JSON-escaped."""
    return {secret, quote(secret, safe=""), json.dumps(secret)[1:-1]}


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=rows_with_secrets(), pick=st.data())
def test_no_secret_survives_any_format_or_compression(fmt: str, data: Any, pick: Any) -> None:
    rows, secrets = data
    format_yaml, codecs = FORMATS[fmt]
    codec = pick.draw(st.sampled_from(codecs))
    mode = pick.draw(st.sampled_from(["mask", "hash"]))
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        make_db(root, rows)
        extension = "txt" if fmt == "text" else fmt
        spec = write_spec(
            root,
            f"redact: {{mode: {mode}}}",
            chunk=2,
            format=format_yaml,
            compression=f"compression: {codec}\n",
            destination=f"out/pool.{extension}{SUFFIX[codec]}",
        )
        result = run_spec(spec, env={"EXPORTCTL_HASH_KEY": "k"})
        assert result.status == "succeeded", result.error
        output = decompressed(Path(result.uri).read_bytes(), codec)

    text = output.decode("utf-8", errors="replace")
    for secret in secrets:
        assert not any(form.encode() in output or form in text for form in forms(secret))
    back = read_back(output, fmt)
    assert len(back) == len(rows)
    if fmt == "text":
        assert [r["line"].split(" ")[0] for r in back] == [str(row[0]) for row in rows]
        return
    assert [str(r["id"]) for r in back] == [str(row[0]) for row in rows]
    assert [r["city"] for r in back] == [row[1] for row in rows]
    for row, out in zip(rows, back, strict=True):
        host = urlsplit(row[4]).hostname
        assert out["url"].startswith("http://") and out["url"].endswith(f"@{host}:8080")
        assert out["note"].startswith(f"{row[1]} via https://")
