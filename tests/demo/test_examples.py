"""The example specs are valid, run on the demo system, and together show every feature."""

from __future__ import annotations

import csv
import gzip
import io
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from exportctl import registry
from exportctl.demo.build import init_demo
from exportctl.model import ExportSpec
from exportctl.plan.compiler import ExportPlan, compile_plan
from exportctl.run import runner
from exportctl.spec.load import load_spec, load_specs
from tests.conftest import demo_env
from tests.paths import REPO
from tests.support.sshd_server import SshServer

REPO = REPO
EXAMPLES_DIR = REPO / "examples"
EXAMPLES = sorted(EXAMPLES_DIR.glob("*.yaml"))
#: What loading every example needs: a password, and a Fernet key for `credentials: reveal`.
ENV = {
    "PGPASSWORD": "example-password",
    "PROXYWHIRL_CACHE_ENCRYPTION_KEY": "7-x3cVUZxP4qXpS9T6QYZk0mkyBq6D9dqvJCdYrQDqY=",
    "PROXYWHIRL_API_KEY": "example-api-key",
}
NOW = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
RUN_ID = "20240506T070809Z-abc123"
MODELINE = "# yaml-language-server: $schema=../schemas/export-spec.draft-07.schema.json\n"
DEMO_URL = "sqlite:///../demo/system.db"
#: proxywhirl's L3 cache database: cache_entries and health_history.
DEMO_CACHE_URL = "sqlite:///../demo/cache/db/proxywhirl.db"
NEEDS_POSTGRES = {"postgres-env"}
#: Written to an S3 store or an HTTP server, not under ../exports: run against local ones below.
REMOTE = {"s3", "http-upload", "sftp"}
#: Read a running system (a Prometheus server, an HTTP API, a saved scrape): each runs in its
#: source's own tests, against a real Prometheus and a local HTTP server.
LIVE_SOURCES = {
    *("prometheus-metrics", "prometheus-incremental", "prometheus-scrape", "http-proxies"),
    "proxywhirl-api",  # tests/proxywhirl/test_rest_api.py, on proxywhirl's own API
    "proxywhirl-metrics",  # tests/proxywhirl/test_rest_api.py, its live /metrics
    "proxywhirl-config",  # tests/proxywhirl/test_config_restore.py, restored into another
}
#: Their rows are picked relative to today, and the demo's data lies in a fixed past.
EMPTY_ON_THE_DEMO = {"sql-params"}


@dataclass(frozen=True)
class Example:
    raw: dict[str, Any]
    spec: ExportSpec
    plan: ExportPlan


def example(path: Path) -> Example:
    spec = load_spec(path, env=ENV)
    return Example(
        yaml.safe_load(path.read_text()), spec, compile_plan(spec, now=NOW, run_id=RUN_ID)
    )


def by_name(paths: list[Path]) -> Any:
    return pytest.mark.parametrize("path", paths, ids=[p.stem for p in paths])


def test_there_is_an_example_per_feature() -> None:
    assert len(EXAMPLES) >= 15


def test_the_modeline_points_at_the_schema() -> None:
    schema = EXAMPLES_DIR / "../schemas/export-spec.draft-07.schema.json"

    assert schema.resolve() == REPO / "schemas" / "export-spec.draft-07.schema.json"
    assert schema.is_file()


@by_name(EXAMPLES)
def test_example_starts_with_the_modeline_and_a_comment(path: Path) -> None:
    first, second = path.read_text().splitlines(keepends=True)[:2]

    assert first == MODELINE
    assert second.startswith("# ")


@by_name(EXAMPLES)
def test_example_loads_and_plans(path: Path) -> None:
    loaded = example(path)

    assert loaded.spec.name == path.stem
    assert loaded.spec.description
    if path.stem not in REMOTE:
        assert Path(loaded.plan.destination).parent == REPO / "exports"
    if loaded.spec.source.type == "logs":
        assert loaded.raw["source"]["path"].startswith("../demo/logs/")
    elif loaded.spec.source.type == "config":
        assert loaded.raw["source"]["path"] == "../demo/config"
    elif loaded.spec.source.type == "files":
        assert loaded.raw["source"]["path"].startswith("../demo/")
    elif path.stem not in NEEDS_POSTGRES | LIVE_SOURCES:
        assert loaded.raw["source"]["url"] in (DEMO_URL, DEMO_CACHE_URL)


def test_examples_load_together_without_problems() -> None:
    specs, problems = load_specs([EXAMPLES_DIR], env=ENV)

    assert problems == []
    assert len(specs) == len(EXAMPLES)


def test_readme_lists_every_example_once() -> None:
    readme = (EXAMPLES_DIR / "README.md").read_text()
    rows = re.findall(r"^\| \[([^]]+)\]\(([^)]+)\) \| (.+) \|$", readme, flags=re.MULTILINE)

    assert sorted(target for _, target, _ in rows) == [p.name for p in EXAMPLES]
    assert all(text == target for text, target, _ in rows)


FILTER_OPERATORS = {
    *("eq", "ne", "in", "not_in", "lt", "le", "gt", "ge", "between", "like", "contains"),
    *("is_null", "and", "or", "not"),
}


def filter_operators(node: Any) -> Iterator[str]:
    if isinstance(node, list):
        for item in node:
            yield from filter_operators(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key != "field":
                yield key
            if key in ("and", "or", "not"):
                yield from filter_operators(value)


def format_option(name: str) -> Callable[[Example], Any]:
    return lambda e: getattr(e.spec.format.options, name, None)


FEATURES: dict[str, Callable[[list[Example]], bool]] = {
    "every format": lambda es: {e.spec.format.type for e in es} == set(registry.FORMATS),
    "every source": lambda es: {e.spec.source.type for e in es} == set(registry.SOURCES),
    "every csv option": lambda es: any(
        e.raw["format"].keys() >= {"delimiter", "header", "quoting", "null", "line_terminator"}
        for e in es
        if isinstance(e.raw["format"], dict)
    ),
    "json indent": lambda es: any(format_option("indent")(e) for e in es),
    "every text layout": lambda es: (
        {format_option("layout")(e) for e in es} >= {"url", "host:port", "host:port:user:pass"}
    ),
    "a text template": lambda es: any(format_option("template")(e) for e in es),
    "every compression": lambda es: (
        {e.plan.compression for e in es} == {"none", "gzip", "zstd", "zip"}
    ),
    "a compression level": lambda es: any(e.spec.compression_level for e in es),
    "every filter operator": lambda es: (
        set(filter_operators([e.raw.get("query", {}).get("where") for e in es])) >= FILTER_OPERATORS
    ),
    "raw sql with a templated parameter": lambda es: any(
        e.spec.query.sql and "{{ today }}" in dict(e.spec.query.params).values() for e in es
    ),
    "a renamed field": lambda es: any(
        f.source not in (None, f.name) for e in es for f in e.spec.fields or ()
    ),
    "a computed field": lambda es: any(f.template for e in es for f in e.spec.fields or ()),
    "a password from the environment": lambda es: any(
        "${PGPASSWORD}@" in e.raw["source"].get("url", "") for e in es
    ),
    "every destination": lambda es: (
        {registry.destination_class(e.plan.destination) for e in es}
        == set(registry.DESTINATIONS.values())
    ),
    "every s3 option": lambda es: any(
        e.raw["destination"].get("s3", {}).keys()
        >= {"endpoint_url", "region", "server_side_encryption", "storage_class"}
        for e in es
        if isinstance(e.raw["destination"], dict)
    ),
    "a retry policy": lambda es: any(
        e.raw.get("retry", {}).keys() >= {"attempts", "backoff", "max_backoff", "budget"}
        for e in es
    ),
    "every alert channel": lambda es: any(
        e.spec.alerts and e.spec.alerts.webhook and e.spec.alerts.command and e.spec.alerts.email
        for e in es
    ),
    "every field check": lambda es: (
        {key for e in es for f in e.raw.get("fields") or () if isinstance(f, dict) for key in f}
        >= {"type", "nullable", "allowed", "pattern", "min", "max"}
    ),
    "a quarantine": lambda es: any(e.plan.quarantine for e in es),
    "a byte limit": lambda es: any(e.spec.destination.max_bytes for e in es),
    "a schedule": lambda es: any(e.spec.schedule for e in es),
    "a retention policy": lambda es: any(e.spec.retention for e in es),
    "a time range": lambda es: any(e.plan.time_range for e in es),
    "partitions": lambda es: any(e.spec.engine.partitions for e in es),
    "redaction": lambda es: any(e.spec.redact and e.spec.redact.values for e in es),
}


@pytest.fixture(scope="module")
def all_examples() -> list[Example]:
    return [example(path) for path in EXAMPLES]


@pytest.mark.parametrize("feature", FEATURES)
def test_some_example_shows(all_examples: list[Example], feature: str) -> None:
    assert FEATURES[feature](all_examples)


@pytest.fixture(scope="module")
def demo_checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of examples/ beside a small demo system, laid out as in the repository."""
    root = tmp_path_factory.mktemp("checkout")
    init_demo(root / "demo", proxies=120, metrics=200, log_lines=200)
    shutil.copytree(EXAMPLES_DIR, root / "examples")
    return root


RUNNABLE = [p for p in EXAMPLES if p.stem not in NEEDS_POSTGRES | REMOTE | LIVE_SOURCES]


@by_name(RUNNABLE)
def test_example_runs_on_the_demo_system(demo_checkout: Path, path: Path) -> None:
    spec = load_spec(demo_checkout / "examples" / path.name, env=demo_env(demo_checkout / "demo"))

    result = runner.run(compile_plan(spec, now=NOW, run_id=RUN_ID))

    assert result.status == "succeeded", result.error
    assert Path(result.uri).parent == demo_checkout / "exports"
    # A split export's destination names its manifest; the parts sit beside it.
    assert Path(result.uri).is_file() or Path(result.uri + ".manifest.json").is_file()
    assert result.rows > 0 or path.stem in EMPTY_ON_THE_DEMO


def test_the_s3_example_runs_against_an_s3_store(demo_checkout: Path, s3_bucket) -> None:
    env = {"EXPORT_BUCKET": s3_bucket.name, "S3_ENDPOINT_URL": s3_bucket.endpoint}
    spec = load_spec(demo_checkout / "examples" / "s3.yaml", env=env)

    result = runner.run(compile_plan(spec, now=NOW, run_id=RUN_ID))

    assert result.status == "succeeded", result.error
    assert s3_bucket.keys() == [
        "pool/2024-05-06.jsonl.gz",
        "pool/2024-05-06.jsonl.gz.manifest.json",
    ]
    head = s3_bucket.client.head_object(Bucket=s3_bucket.name, Key="pool/2024-05-06.jsonl.gz")
    assert head["ServerSideEncryption"] == "AES256"
    assert head["StorageClass"] == "STANDARD_IA"
    assert gzip.decompress(s3_bucket.read("pool/2024-05-06.jsonl.gz")).count(b"\n") == 120


def test_the_sftp_example_uploads_to_an_ssh_server(
    demo_checkout: Path, sshd: SshServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {
        "EXPORT_SSH_USER": sshd.user,
        "EXPORT_SSH_SERVER": f"127.0.0.1:{sshd.port}",
        "EXPORT_SSH_FOLDER": str(tmp_path),
        "EXPORT_KNOWN_HOSTS": str(sshd.known_hosts),
    }
    monkeypatch.setenv("EXPORT_SSH_KEY", str(sshd.folder / "agent_key"))  # not encrypted
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    spec = load_spec(demo_checkout / "examples" / "sftp.yaml", env=env)

    result = runner.run(compile_plan(spec, now=NOW, run_id=RUN_ID))

    assert result.status == "succeeded", result.error
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "pool-2024-05-06.csv.gz",
        "pool-2024-05-06.csv.gz.manifest.json",
    ]
    data = gzip.decompress((tmp_path / "pool-2024-05-06.csv.gz").read_bytes()).decode()
    assert len(list(csv.reader(io.StringIO(data)))) == 1 + result.rows == 121  # header, rows


def test_the_http_example_uploads_to_a_server(demo_checkout: Path, http_receiver) -> None:
    env = {"UPLOAD_URL": f"{http_receiver.url}/proxies/http.txt", "UPLOAD_TOKEN": "t0ken"}
    spec = load_spec(demo_checkout / "examples" / "http-upload.yaml", env=env)

    result = runner.run(compile_plan(spec, now=NOW, run_id=RUN_ID))

    assert result.status == "succeeded", result.error
    (upload,) = http_receiver.received("PUT")
    assert upload.header("Authorization") == "Bearer t0ken"
    lines = upload.body.decode().splitlines()
    assert len(lines) == result.rows > 0
    assert all(re.fullmatch(r"(\[[0-9a-f:]+\]|[^:\s]+):\d+", line) for line in lines), lines
