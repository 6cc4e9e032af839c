"""The `http_json` source against a local HTTP API: pages of JSON and NDJSON, faults, auth."""

from __future__ import annotations

import io
import json
import os
import random
import shutil
import threading
from base64 import b64decode, b64encode
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from exportctl.errors import SourceError
from exportctl.ledger.store import Ledger
from exportctl.sources.http_json.pages import array_items
from tests.paths import REPO
from tests.support.cli import apply, cli, write_spec
from tests.support.jsonlines import json_lines

EXAMPLES = REPO / "examples"
TOKEN = "tok-3f9a-secret"


def proxies(n: int, seed: int = 3, start: int = 0) -> list[dict[str, Any]]:
    """Pool records as the API serves them: nested values, NULLs, floats to the last bit."""
    rng = random.Random(seed)
    base = datetime(2024, 3, 1, tzinfo=UTC)
    return [
        {
            "id": i,
            "url": f"http://10.0.{i // 250}.{i % 250}:{8000 + i % 7}",
            "protocol": rng.choice(["http", "https", "socks5"]),
            "host": f"10.0.{i // 250}.{i % 250}",
            "port": 8000 + i % 7,
            "country_code": rng.choice(["DE", "US", None]),
            "health_status": rng.choice(["healthy", "degraded", "dead"]),
            "avg_response_time_ms": rng.uniform(1, 2000),
            "last_checked": (
                base + timedelta(minutes=i, milliseconds=rng.randrange(1000))
            ).isoformat(),
            "tags": [rng.choice(["a", "b"]), 'é"\\'],
            "meta": {"pool": rng.choice(["residential", "dc"]), "weight": rng.randrange(5)},
        }
        for i in range(start, start + n)
    ]


class Api:
    """A paginated proxy API on a free loopback port, with faults to order."""

    def __init__(self, records: list[dict[str, Any]]):
        self.records = records
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.faults: dict[tuple[str, str], list[tuple[int, bytes]]] = {}
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.server.api = self  # type: ignore[attr-defined]
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def fault(self, route: str, page: str, status: int, body: bytes = b"") -> None:
        """The next request for `page` of `route` gets this answer instead."""
        self.faults.setdefault((route, page), []).append((status, body))

    def answer(self, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        route = parts.path.strip("/")
        with self.lock:
            self.requests.append((path, headers))
            page = query.get("page") or query.get("offset") or query.get("cursor") or "first"
            queued = self.faults.get((route, page))
            if queued:
                status, body = queued.pop(0)
                return status, {"Content-Type": "application/json"}, body
        if route.startswith("private") and not _authorized(headers):
            return 401, {"Content-Type": "application/json"}, b'{"error": "who are you?"}'
        route = route.removeprefix("private/")
        size = int(query.get("per_page") or query.get("limit") or 10)
        if route == "array":  # ?page=1,2,...: a bare JSON array
            first = (int(query.get("page", 1)) - 1) * size
            return 200, {}, json.dumps(self.records[first : first + size]).encode()
        if route == "offset":  # ?offset=0,...: {"data": {"items": [...]}}
            first = int(query.get("offset", 0))
            body = {
                "data": {"items": self.records[first : first + size]},
                "total": len(self.records),
            }
            return 200, {}, json.dumps(body).encode()
        if route == "cursor":  # ?cursor=<opaque>: {"data": [...], "meta": {"next_cursor": ...}}
            first = int(b64decode(query["cursor"])) if "cursor" in query else 0
            following = first + size
            token = b64encode(str(following).encode()).decode()
            more = following < len(self.records)
            body = {
                "data": self.records[first:following],
                "meta": {"next_cursor": token if more else None},
            }
            return 200, {}, json.dumps(body).encode()
        if route == "ndjson":  # Link: <...?page=N>; rel="next", one object per line
            number = int(query.get("page", 1))
            rows = self.records[(number - 1) * size : number * size]
            headers = {"Content-Type": "application/x-ndjson"}
            if number * size < len(self.records):
                headers["Link"] = f'</ndjson?page={number + 1}&per_page={size}>; rel="next"'
            return 200, headers, b"".join(json.dumps(r).encode() + b"\n" for r in rows)
        return 404, {}, b""

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _authorized(headers: dict[str, str]) -> bool:
    return headers.get("Authorization") == f"Bearer {TOKEN}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Any

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:  # noqa: N802
        status, headers, body = self.server.api.answer(self.path, dict(self.headers.items()))
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", **headers}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def api() -> Iterator[Api]:
    server = Api(proxies(47))
    yield server
    server.stop()


def history(name: str) -> list[dict[str, Any]]:
    return Ledger(os.environ["EXPORTCTL_STATE"]).history(name)


def as_exported(record: dict[str, Any]) -> dict[str, Any]:
    """A record as the export holds it: nested values as their JSON text."""
    return {
        k: json.dumps(v, ensure_ascii=False) if isinstance(v, dict | list) else v
        for k, v in record.items()
    }


PAGINATIONS = {
    "page": ("array", {"pagination": {"type": "page", "size_param": "per_page", "size": 10}}),
    "offset": (
        "offset",
        {
            "records": "data.items",
            "pagination": {"type": "offset", "size_param": "limit", "size": 8},
        },
    ),
    "cursor": (
        "cursor",
        {
            "records": "data",
            "pagination": {
                "type": "cursor",
                "cursor": "meta.next_cursor",
                "size_param": "limit",
                "size": 9,
            },
        },
    ),
    "link": ("ndjson", {"params": {"per_page": 6}, "pagination": {"type": "link"}}),
}


@pytest.mark.parametrize("kind", PAGINATIONS)
def test_every_pagination_reads_every_record_once(api: Api, tmp_path: Path, kind: str) -> None:
    route, options = PAGINATIONS[kind]
    spec = write_spec(
        tmp_path,
        kind,
        {"type": "http_json", "url": f"{api.url}/{route}", "chunk_size": 7, **options},
    )

    run = apply(spec)

    exported = [json.loads(line) for line in Path(run["uri"]).read_text().splitlines()]
    assert exported == [as_exported(r) for r in api.records]
    pages = len(api.requests)
    assert pages >= 5  # several pages, the last one short or without a next


def test_a_page_that_fails_once_is_retried_and_the_export_is_whole(
    api: Api, tmp_path: Path
) -> None:
    api.fault("array", "3", 503, b"busy")
    spec = write_spec(
        tmp_path,
        "flaky",
        {"type": "http_json", "url": f"{api.url}/array", **PAGINATIONS["page"][1]},
        retry={"attempts": 3, "backoff": "0.01s", "max_backoff": "0.02s"},
    )

    run = apply(spec)

    assert run["status"] == "succeeded" and run["attempts"] == 2
    exported = [json.loads(line) for line in Path(run["uri"]).read_text().splitlines()]
    assert exported == [as_exported(r) for r in api.records]
    events = Ledger(os.environ["EXPORTCTL_STATE"]).audit_events(run["run_id"])
    (failed,) = [e for e in events if e["event"] == "run.attempt_failed"]
    assert "HTTP 503" in json.dumps(failed, default=str)


@pytest.mark.parametrize(
    ("route", "body", "reason"),
    [
        ("array", b'[{"id": 1}, {"id": 2', "is not valid JSON at character"),
        ("array", b'[{"id": 1}, 7]', "record 2 is not a JSON object"),
        ("offset", b'{"data": {"items": {"id": 1}}}', "holds no array of records at `data.items`"),
    ],
)
def test_a_malformed_page_fails_naming_it_and_nothing_is_written(
    api: Api, tmp_path: Path, route: str, body: bytes, reason: str
) -> None:
    options = PAGINATIONS["page" if route == "array" else "offset"][1]
    api.fault(route, "2" if route == "array" else "8", 200, body)
    spec = write_spec(
        tmp_path,
        "malformed",
        {"type": "http_json", "url": f"{api.url}/{route}", "chunk_size": 5, **options},
        retry={"attempts": 3, "backoff": "0.01s", "max_backoff": "0.02s"},
    )

    run = apply(spec, expect=1)

    assert run["status"] == "failed" and run["attempts"] == 1  # not worth retrying
    assert "page 2 of " in run["error"] and reason in run["error"]
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []
    (recorded,) = history("malformed")
    assert recorded["status"] == "failed" and reason in recorded["error"]


def test_a_key_the_first_records_lacked_fails_the_run(api: Api, tmp_path: Path) -> None:
    api.records[30]["surprise"] = 1
    spec = write_spec(
        tmp_path,
        "surprise",
        {
            "type": "http_json",
            "url": f"{api.url}/array",
            "chunk_size": 10,
            **PAGINATIONS["page"][1],
        },
    )
    declared = write_spec(
        tmp_path,
        "declared",
        {
            "type": "http_json",
            "url": f"{api.url}/array",
            "chunk_size": 10,
            "columns": ["id", "surprise"],
            **PAGINATIONS["page"][1],
        },
    )

    run, kept = apply(spec, expect=1), apply(declared)

    assert "`surprise`" in run["error"] and "`columns`" in run["error"]
    rows = [json.loads(line) for line in Path(kept["uri"]).read_text().splitlines()]
    assert [r["surprise"] for r in rows] == [1 if i == 30 else None for i in range(47)]


def test_a_token_from_the_environment_is_sent_and_never_shown(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POOL_TOKEN", TOKEN)
    source = {
        "type": "http_json",
        "url": f"{api.url}/private/array",
        "token_env": "POOL_TOKEN",
        **PAGINATIONS["page"][1],
    }
    spec = write_spec(tmp_path, "private", source)

    run = apply(spec)
    monkeypatch.setenv("POOL_TOKEN", "wrong-" + TOKEN)
    refused = apply(spec, expect=1)
    plan = cli("plan", spec, "--json").output

    assert run["rows"] == 47
    assert all(h.get("Authorization") == f"Bearer {TOKEN}" for _, h in api.requests[:5])
    assert "HTTP 401" in refused["error"] and "who are you?" in refused["error"]
    for text in (refused["error"], plan, json.dumps(history("private"), default=str)):
        assert TOKEN not in text


def test_a_next_link_to_another_server_is_refused(api: Api, tmp_path: Path) -> None:
    other = Api([{"id": 1}])
    try:
        api.records = api.records[:3]
        original = api.answer

        def answer(path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
            status, found, body = original(path, headers)
            return status, {**found, "Link": f'<{other.url}/ndjson>; rel="next"'}, body

        api.answer = answer  # type: ignore[method-assign]
        spec = write_spec(
            tmp_path,
            "elsewhere",
            {"type": "http_json", "url": f"{api.url}/ndjson", "pagination": {"type": "link"}},
        )

        run = apply(spec, expect=1)

        assert "another server" in run["error"]
        assert other.requests == []
    finally:
        other.stop()


def test_incremental_exports_by_timestamp_skip_and_repeat_nothing(api: Api, tmp_path: Path) -> None:
    spec = write_spec(
        tmp_path,
        "changes",
        {
            "type": "http_json",
            "url": f"{api.url}/ndjson",
            "params": {"per_page": 10},
            "pagination": {"type": "link"},
            "timestamps": ["last_checked"],
        },
        incremental={"cursor": "last_checked", "key": "id"},
        destination="out/changes-{{ run.id }}.jsonl",
    )

    first = apply(spec)
    api.records = api.records + proxies(12, seed=9, start=47)
    second = apply(spec)
    third = apply(spec)

    ids = [
        [json.loads(line)["id"] for line in Path(r["uri"]).read_text().splitlines()]
        for r in (first, second)
    ]
    assert ids == [list(range(47)), list(range(47, 59))]
    assert third["rows"] == 0 and third["uri"] == ""
    # Another query string picks other rows: the watermark no longer stands for them.
    doc = yaml.safe_load(spec.read_text())
    doc["source"]["params"]["status"] = "active"
    spec.write_text(yaml.safe_dump(doc))
    changed = apply(spec, expect=1)
    assert "watermark reset changes" in changed["error"]


def test_the_example_through_zstd_reads_back_with_zstandard(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "examples").mkdir()
    shutil.copy(EXAMPLES / "http-proxies.yaml", tmp_path / "examples")
    monkeypatch.setenv("POOL_API_URL", f"{api.url}/example")
    monkeypatch.setenv("POOL_API_TOKEN", TOKEN)
    original = api.answer

    def answer(path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        assert _authorized(headers) and "status=active" in path
        return original(path.replace("/example/api/v1/proxies", "/cursor"), headers)

    api.answer = answer  # type: ignore[method-assign]

    run = apply(tmp_path / "examples" / "http-proxies.yaml")

    assert Path(run["uri"]) == tmp_path / "exports" / "http-proxies.jsonl.zst"
    raw = (
        zstandard.ZstdDecompressor().stream_reader(io.BytesIO(Path(run["uri"]).read_bytes())).read()
    )
    rows = json_lines(raw.decode())
    fields = ["url", "protocol", "host", "port", "country_code", "health_status", "last_checked"]
    wanted = [
        {**{k: r[k] for k in fields}, "last_checked": _utc_text(r["last_checked"])}
        for r in api.records
        if r["health_status"] in ("healthy", "degraded")
    ]
    assert rows == wanted and len(rows) > 10


def _utc_text(text: str) -> str:
    return f"{datetime.fromisoformat(text).astimezone(UTC):%Y-%m-%dT%H:%M:%S.%fZ}"


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(JSON_VALUES, max_size=6),
    cuts=st.lists(st.integers(0, 400), max_size=8),
    indent=st.sampled_from([None, 1]),
)
def test_a_streamed_array_parses_the_same_wherever_it_is_cut(
    values: list[Any], cuts: list[int], indent: int | None
) -> None:
    body = json.dumps(values, indent=indent, ensure_ascii=False).encode()
    points = sorted({min(c, len(body)) for c in cuts})
    pieces = [body[a:b] for a, b in zip([0, *points], [*points, len(body)], strict=True)]

    assert list(array_items(iter(pieces), "page 1")) == values


@pytest.mark.parametrize("body", [b"", b"{}", b"[1,]", b"[1] 2", b'["\xff"]', b"[1, 2"])
def test_a_broken_array_is_an_error_naming_the_page(body: bytes) -> None:
    with pytest.raises(SourceError, match="page 4"):
        list(array_items(iter([body[:2], body[2:]]), "page 4"))


def test_redaction_hides_secrets_the_api_returns(api: Api, tmp_path: Path) -> None:
    for index, record in enumerate(api.records):
        record["url"] = f"http://user{index}:pw-{index}@10.0.0.{index}:8080"
        record["api_token"] = f"secret-{index}"
    spec = write_spec(
        tmp_path,
        "redacted",
        {"type": "http_json", "url": f"{api.url}/array", **PAGINATIONS["page"][1]},
        fields=["id", "url", "api_token"],
        redact={"url_mode": "strip_credentials"},
        format="csv",
        destination="out/redacted.csv",
    )

    run = apply(spec)

    text = Path(run["uri"]).read_text()
    assert "pw-" not in text and "secret-" not in text and "user1" not in text
    assert '"http://10.0.0.5:8080"' in text
    assert text.count("***") == 47
