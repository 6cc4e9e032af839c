"""The `prometheus` source against a real server, and `prometheus_text` on saved scrapes.

Every test that needs the server is in this file, so that under `--dist loadfile`
one worker starts one (see tests/support/prometheus_server.py).
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import shutil
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from exportctl import model as m
from exportctl.ledger.store import Ledger
from exportctl.plan import incremental
from exportctl.plan.compiler import compile_plan
from exportctl.run import runner
from exportctl.sources.base import Request
from exportctl.sources.prometheus.bounds import time_bounds
from exportctl.sources.prometheus.options import PrometheusOptions, PrometheusTextOptions
from exportctl.sources.prometheus.source import PrometheusSource
from exportctl.sources.prometheus.text import PrometheusTextSource
from exportctl.sources.prometheus.windows import windows
from exportctl.spec.load import load_spec
from tests.paths import REPO
from tests.support.cli import apply, cli, write_spec
from tests.support.prometheus_server import (
    PASSWORD,
    SAMPLES,
    START_MS,
    STEP_MS,
    USER,
    PrometheusServer,
)
from tests.support.servers import free_port

EXAMPLES = REPO / "examples"
AUTH = {"username_env": "PROM_USER", "password_env": "PROM_PASSWORD"}
NOW = datetime(2026, 1, 1, tzinfo=UTC)
END_MS = START_MS + SAMPLES * STEP_MS


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


def ms_of(text: str) -> int:
    return round(datetime.fromisoformat(text).timestamp() * 1000)


@pytest.fixture
def prom(prometheus: PrometheusServer, monkeypatch: pytest.MonkeyPatch) -> PrometheusServer:
    monkeypatch.setenv("PROM_USER", USER)
    monkeypatch.setenv("PROM_PASSWORD", PASSWORD)
    return prometheus


def samples_of(lines: list[str]) -> list[tuple[str, str, int, str]]:
    """The exported rows as (name, labels, ms, repr of value), in file order."""
    found = []
    for line in lines:
        row = json.loads(line)
        labels = row["labels"] if isinstance(row["labels"], dict) else json.loads(row["labels"])
        value = float(row["value"])  # "NaN", "Infinity" and "-Infinity" too
        found.append(
            (row["name"], repr(dict(sorted(labels.items()))), ms_of(row["timestamp"]), repr(value))
        )
    return found


def source(prom: PrometheusServer, **options: Any) -> dict[str, Any]:
    return {"type": "prometheus", "url": prom.url, **AUTH, **options}


# --- windows and bounds, pure --------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    start=st.integers(-(10**9), 10**9),
    length=st.integers(0, 10**6),
    step=st.integers(1, 10**5),
    max_points=st.integers(1, 200),
)
def test_windows_ask_for_every_step_multiple_once(
    start: int, length: int, step: int, max_points: int
) -> None:
    end = start + length
    cut = windows(start, end, step, max_points)
    points = [p for first, last in cut for p in range(first, last + 1, step)]

    assert (
        points
        == [p for p in range(start - start % step, end + 1, step) if p >= start][: len(points)]
    )
    assert points == [p for p in range((start + step - 1) // step * step, end + 1, step)]
    assert all((last - first) // step + 1 <= max_points for first, last in cut)
    assert all(first % step == 0 and last % step == 0 for first, last in cut)


def test_the_range_comes_from_a_time_range_or_an_incremental_window() -> None:
    spec_range = m.And(
        (
            m.Compare("timestamp", "ge", "2024-04-01 00:00:00.000000"),
            m.Compare("timestamp", "lt", "2024-04-02 00:00:00.000000"),
        )
    )
    after = (datetime(2024, 4, 1, 1, tzinfo=UTC), "a{}")
    upto = (datetime(2024, 4, 1, 2, tzinfo=UTC), "z{}")
    window = incremental.Window(m.Incremental("timestamp", "series"), after, upto).filter()
    unrelated = m.Or((m.Compare("timestamp", "ge", "2030-01-01"), m.Compare("name", "eq", "x")))

    by_range = time_bounds(m.And((m.Compare("name", "ne", "up"), spec_range)), "timestamp")
    by_window = time_bounds(window, "timestamp")

    assert (str(by_range.start), str(by_range.end)) == (
        "2024-04-01 00:00:00+00:00",
        "2024-04-02 00:00:00+00:00",
    )
    assert (by_window.start, by_window.end) == (after[0], upto[0])
    assert by_range.end_excluded and not by_window.end_excluded
    assert time_bounds(unrelated, "timestamp") == type(by_range)()  # an `or` bounds nothing


# --- the server ------------------------------------------------------------------------


def test_a_range_over_several_windows_equals_the_loaded_samples(
    prom: PrometheusServer, tmp_path: Path
) -> None:
    spec = write_spec(
        tmp_path,
        "all",
        source(prom, query='{__name__=~"proxywhirl_.*"}', step="15s", max_points=50, concurrency=3),
        time_range={"field": "timestamp", "from": iso(START_MS), "to": iso(END_MS)},
    )
    plan = json.loads(cli("plan", spec, "--json", "--no-count").stdout)

    run = apply(spec)

    assert plan[0]["source"]["requests"] == math.ceil(SAMPLES / 50) >= 3
    assert run["status"] == "succeeded"
    exported = samples_of(Path(run["uri"]).read_text().splitlines())
    assert len(exported) == len(set(exported)) == sum(len(s.samples) for s in prom.series)
    assert set(exported) == prom.samples(START_MS, END_MS)
    stamps = [ms for _, _, ms, _ in exported]
    assert stamps == sorted(stamps)  # windows arrive in order, however many are in flight


@pytest.mark.parametrize("micros", [0, 1, 500, 999])
def test_an_exclusive_end_between_milliseconds_keeps_the_point_before_it(micros: int) -> None:
    """A partition's bound may fall inside a millisecond: `timestamp < P + 0.5 ms` holds
    the point at P, so the fetch must reach it (and `>= P + 0.5 ms` fetches from P on)."""
    point = datetime(2024, 4, 1, 0, 15, tzinfo=UTC)
    edge = point + timedelta(microseconds=micros)
    options = PrometheusOptions(url="http://127.0.0.1:9", query="up", step="15s")
    source = PrometheusSource(options, Path("."))
    below = m.And(
        (m.Compare("timestamp", "ge", "2024-04-01"), m.Compare("timestamp", "lt", edge.isoformat()))
    )
    above = m.Compare("timestamp", "ge", edge.isoformat())
    to = source.describe(Request(m.Query(where=below)))["to"]
    start = source.describe(Request(m.Query(where=above)))["from"]
    last_before = point - timedelta(milliseconds=1) if micros == 0 else point
    assert datetime.fromisoformat(to) == last_before
    assert datetime.fromisoformat(start) == point


@pytest.mark.parametrize("cut", [{"count": 7}, {"every": "30m"}])
def test_a_partitioned_range_is_the_whole_range_in_order(
    prom: PrometheusServer, tmp_path: Path, cut: dict[str, Any]
) -> None:
    """Time windows as partitions (`count: 7` cuts between milliseconds): together the
    unpartitioned export, each part within its range, and no partition for NULL times."""
    query = source(prom, query="proxywhirl_requests_total", step="15s", max_points=100)
    window = {"field": "timestamp", "from": iso(START_MS + 7 * STEP_MS), "to": iso(END_MS)}
    whole = apply(write_spec(tmp_path, "whole", query, time_range=window))
    engine = {"partitions": {"by": "timestamp", **cut}}
    cut_run = apply(write_spec(tmp_path, "cut", query, time_range=window, engine=engine))
    manifest = json.loads((tmp_path / "out" / "cut.jsonl.manifest.json").read_text())
    parts = [Path(p["uri"]).read_text().splitlines() for p in manifest["parts"]]
    assert sum(parts, []) == Path(whole["uri"]).read_text().splitlines()
    assert cut_run["rows"] == whole["rows"] > 0
    ranges = [p["key_range"] for p in manifest["parts"]]
    assert not [r for r in ranges if r.get("null")]
    for part, key_range in zip(parts, ranges, strict=True):
        stamps = [ms_of(json.loads(line)["timestamp"]) for line in part]
        low = ms_of(key_range["from"]) if key_range["from"] else -math.inf
        high = ms_of(key_range["to"]) if key_range["to"] else math.inf
        assert all(low <= ms < high for ms in stamps)
    if "every" in cut:  # half-hour periods from the first point's to the last's
        assert len(ranges) == 4 and all(ms_of(r["from"]) % 1_800_000 == 0 for r in ranges[1:])


def test_partitions_of_a_prometheus_source_are_cut_by_timestamp(
    prom: PrometheusServer, tmp_path: Path
) -> None:
    engine = {"partitions": {"by": "value", "count": 2}}
    spec = write_spec(tmp_path, "by-value", source(prom, query="up"), engine=engine)
    result = cli("validate", spec)
    assert result.exit_code == 2
    assert "by-value.yaml:" in result.output and "$.engine.partitions.by" in result.output
    assert "a `prometheus` source is cut by `timestamp`" in result.output


def test_a_step_aligned_range_is_complete_at_both_ends(
    prom: PrometheusServer, tmp_path: Path
) -> None:
    first, end = START_MS + 100 * STEP_MS, START_MS + 173 * STEP_MS
    spec = write_spec(
        tmp_path,
        "inner",
        source(prom, query="proxywhirl_requests_total", step="15s", max_points=20),
        time_range={"field": "timestamp", "from": iso(first), "to": iso(end)},
    )

    run = apply(spec)

    exported = samples_of(Path(run["uri"]).read_text().splitlines())
    assert set(exported) == {
        s for s in prom.samples(first, end) if s[0] == "proxywhirl_requests_total"
    }
    per_series: dict[str, list[int]] = {}
    for _, labels, ms, _ in exported:
        per_series.setdefault(labels, []).append(ms)
    assert len(per_series) == 6
    assert all(stamps == list(range(first, end, STEP_MS)) for stamps in per_series.values())


def test_incremental_runs_neither_skip_nor_repeat_a_sample(
    prom: PrometheusServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    query = "proxywhirl_proxy_health_status or proxywhirl_active_proxies"
    spec = write_spec(
        tmp_path,
        "incremental",
        source(prom, query=query, step="15s", max_points=40, since=iso(START_MS), until="${UNTIL}"),
        incremental={"cursor": "timestamp", "key": "series"},
        destination="out/incremental-{{ run.id }}.jsonl",
    )
    files = []
    # The second run ends past the data: points Prometheus extends past the last sample
    # (its 5-minute lookback) are not samples, so that run stops at the data's end.
    for until in (START_MS + 137 * STEP_MS + 7, START_MS + 300 * STEP_MS, END_MS - STEP_MS):
        monkeypatch.setenv("UNTIL", iso(until))
        run = apply(spec)
        assert run["status"] == "succeeded", run["error"]
        files.append(Path(run["uri"]).read_text().splitlines() if run["uri"] else [])

    runs = [samples_of(lines) for lines in files]
    names = ("proxywhirl_proxy_health_status", "proxywhirl_active_proxies")
    wanted = {s for s in prom.samples(START_MS, END_MS) if s[0] in names}
    assert len(runs[0]) == 138 * 5  # 5 series, up to the last step at or before `until`
    everything = [s for r in runs for s in r]
    assert len(everything) == len(set(everything))  # nothing twice
    assert set(everything) == wanted  # nothing missing
    assert max(ms for _, _, ms, _ in runs[0]) < min(ms for _, _, ms, _ in runs[1])


def test_labels_as_columns_and_a_wide_reshape(prom: PrometheusServer, tmp_path: Path) -> None:
    start, end = START_MS + 10 * STEP_MS, START_MS + 30 * STEP_MS
    columns = write_spec(
        tmp_path,
        "columns",
        source(prom, query="proxywhirl_requests_total", step="15s", labels="columns"),
        time_range={"field": "timestamp", "from": iso(start), "to": iso(end)},
        query={"where": {"field": "status", "eq": "503"}},
        fields=["timestamp", "proxy_id", "status", "value"],
        format="csv",
        destination="out/columns.csv",
    )
    wide = write_spec(
        tmp_path,
        "wide",
        source(
            prom,
            query='proxywhirl_active_proxies or proxywhirl_circuit_breaker_state{proxy_id="p2"}',
            step="15s",
            max_points=7,
        ),
        time_range={"field": "timestamp", "from": iso(start), "to": iso(end)},
        query={"order_by": ["timestamp"]},
        fields=["timestamp", "name", "value"],
        reshape={
            "wide": {
                "index": "timestamp",
                "columns": "name",
                "values": "value",
                "names": ["proxywhirl_active_proxies", "proxywhirl_circuit_breaker_state"],
            }
        },
        format="jsonl",
    )

    by_columns, by_wide = apply(columns), apply(wide)

    lines = Path(by_columns["uri"]).read_text().splitlines()
    assert lines[0] == '"timestamp","proxy_id","status","value"'
    expected = {
        (
            f"{datetime.fromtimestamp(ms / 1000, UTC):%Y-%m-%dT%H:%M:%S.%fZ}",
            dict(s.labels)["proxy_id"],
            repr(v),
        )
        for s in prom.series
        if s.name == "proxywhirl_requests_total" and dict(s.labels)["status"] == "503"
        for ms, v in s.samples
        if start <= ms < end
    }
    got = {
        (t.strip('"'), p.strip('"'), repr(float(v)))
        for t, p, st_, v in (line.split(",") for line in lines[1:])
    }
    assert got == expected
    rows = [json.loads(line) for line in Path(by_wide["uri"]).read_text().splitlines()]
    active = dict(next(s for s in prom.series if s.name == "proxywhirl_active_proxies").samples)
    breaker = dict(
        next(
            s
            for s in prom.series
            if s.name == "proxywhirl_circuit_breaker_state" and dict(s.labels)["proxy_id"] == "p2"
        ).samples
    )
    assert [ms_of(r["timestamp"]) for r in rows] == list(range(start, end, STEP_MS))
    assert all(
        repr(float(r["proxywhirl_active_proxies"])) == repr(active[ms_of(r["timestamp"])])
        for r in rows
    )
    assert all(
        r["proxywhirl_circuit_breaker_state"] == breaker[ms_of(r["timestamp"])] for r in rows
    )


def test_the_example_through_parquet_reads_back_through_pyarrow(
    prom: PrometheusServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "examples").mkdir()
    shutil.copy(EXAMPLES / "prometheus-metrics.yaml", tmp_path / "examples")
    monkeypatch.setenv("PROMETHEUS_USER", USER)
    monkeypatch.setenv("PROMETHEUS_PASSWORD", PASSWORD)
    spec = load_spec(
        tmp_path / "examples" / "prometheus-metrics.yaml", env={"PROMETHEUS_URL": prom.url}
    )
    spec = _with_range(spec, START_MS, END_MS)  # the day the samples lie in, not yesterday

    result = runner.run(compile_plan(spec, now=NOW, run_id="20260101T000000Z-abc123"))

    assert result.status == "succeeded", result.error
    assert Path(result.uri).parent == tmp_path / "exports"
    table = pq.read_table(result.uri)
    assert str(table.schema.field("timestamp").type) == "timestamp[us, tz=UTC]"
    got = {
        (
            r["name"],
            repr(dict(sorted(r["labels"]))),
            round(r["timestamp"].timestamp() * 1000),
            repr(r["value"]),
        )
        for r in table.to_pylist()
    }
    wanted = {s for s in prom.samples(START_MS, END_MS) if s[0] == "proxywhirl_requests_total"}
    assert len(got) == table.num_rows == len(wanted) > 0
    assert got == wanted


def _with_range(spec: m.ExportSpec, start: int, end: int) -> m.ExportSpec:
    return replace(spec, time_range=m.TimeRange("timestamp", iso(start), iso(end)))


def test_an_instant_range_selector_gives_the_raw_samples(
    prom: PrometheusServer, tmp_path: Path
) -> None:
    at = START_MS + 40 * STEP_MS
    spec = write_spec(
        tmp_path,
        "raw",
        source(prom, query="proxywhirl_active_proxies[5m]", mode="instant", until=iso(at)),
        format={"type": "jsonl"},
        compression="zstd",
        destination="out/raw.jsonl.zst",
    )

    run = apply(spec)

    text = (
        zstandard.ZstdDecompressor()
        .stream_reader(io.BytesIO(Path(run["uri"]).read_bytes()))
        .read()
        .decode()
    )
    exported = samples_of(text.splitlines())
    assert set(exported) == {
        s for s in prom.samples(at - 300_000, at + 1) if s[0] == "proxywhirl_active_proxies"
    }
    assert len(exported) == 21  # Prometheus 2 includes both ends of a range selector


def test_a_query_prometheus_refuses_fails_with_its_reason_and_writes_nothing(
    prom: PrometheusServer, tmp_path: Path
) -> None:
    spec = write_spec(
        tmp_path,
        "bad",
        source(prom, query="rate(proxywhirl_requests_total[5m]", step="15s"),
        time_range={"field": "timestamp", "from": iso(START_MS), "to": iso(END_MS)},
    )

    run = apply(spec, expect=1)

    assert run["status"] == "failed"
    assert "HTTP 400" in run["error"] and "parse error" in run["error"]
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    (recorded,) = _history("bad")
    assert recorded["status"] == "failed"
    assert "parse error" in recorded["error"]


def _history(name: str) -> list[dict[str, Any]]:
    return Ledger(os.environ["EXPORTCTL_STATE"]).history(name)


def test_wrong_credentials_fail_without_showing_the_password(
    prom: PrometheusServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROM_PASSWORD", "wrong-" + PASSWORD)
    spec = write_spec(
        tmp_path,
        "denied",
        source(prom, query="up", step="15s", since=iso(START_MS), until=iso(END_MS)),
        retry={"attempts": 3, "backoff": "0.01s", "max_backoff": "0.02s"},
    )

    run = apply(spec, expect=1)
    plan = cli("plan", spec, "--json", "--no-count").output

    assert "HTTP 401" in run["error"] and "credentials" in run["error"]
    assert run["attempts"] == 1  # refused is final, not retried
    history = json.dumps(_history("denied"), default=str)
    for text in (run["error"], plan, history):
        assert PASSWORD not in text and USER not in text


def test_a_server_that_is_down_is_retried_then_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = write_spec(
        tmp_path,
        "down",
        {
            "type": "prometheus",
            "url": f"http://127.0.0.1:{free_port()}",
            "query": "up",
            "since": "now-1h",
        },
        retry={"attempts": 2, "backoff": "0.01s", "max_backoff": "0.02s"},
    )

    run = apply(spec, expect=1)

    assert run["attempts"] == 2
    assert "connection refused" in run["error"]


# --- saved scrapes -------------------------------------------------------------------------


LABEL_TEXT = st.text(st.sampled_from('ab "\\\n{}=,é☃'), max_size=8)
VALUES = st.floats(allow_nan=True, allow_infinity=True) | st.integers(-(2**53), 2**53).map(float)
SAMPLE = st.tuples(
    st.dictionaries(st.from_regex(r"[a-z][a-z0-9_]{0,5}", fullmatch=True), LABEL_TEXT, max_size=3),
    VALUES,
    st.none() | st.integers(0, 2**41),
)


def exposition(families: dict[str, list[tuple[dict[str, str], float, int | None]]]) -> str:
    """The text format, written here by hand (escapes, NaN, +Inf, optional timestamps)."""
    lines = []
    for name, samples in families.items():
        lines.append(f"# TYPE {name} gauge")
        for labels, value, stamp in samples:
            inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
            text = (
                "NaN"
                if math.isnan(value)
                else "+Inf"
                if value == math.inf
                else "-Inf"
                if value == -math.inf
                else repr(value)
            )
            lines.append(f"{name}{{{inner}}} {text}" + ("" if stamp is None else f" {stamp}"))
    return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


@settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(
        st.from_regex(r"m_[a-z]{1,6}", fullmatch=True),
        st.lists(SAMPLE, min_size=1, max_size=4),
        min_size=1,
        max_size=3,
    )
)
def test_a_scrape_reads_back_exactly(
    tmp_path_factory: pytest.TempPathFactory, families: dict[str, list[Any]]
) -> None:
    folder = tmp_path_factory.mktemp("scrape")
    (folder / "metrics.txt").write_text(exposition(families))
    text_source = PrometheusTextSource(PrometheusTextOptions("metrics.txt", chunk_size=3), folder)

    rows = [r for chunk in text_source.chunks(Request(m.Query())) for r in chunk.to_dict("records")]

    wanted = [
        (n, labels, repr(v), stamp)
        for n, samples in families.items()
        for labels, v, stamp in samples
    ]
    got = [
        (
            r["name"],
            json.loads(r["labels"]),
            repr(r["value"]),
            None
            if r["timestamp"] is None or r["timestamp"] != r["timestamp"]
            else round(r["timestamp"].timestamp() * 1000),
        )
        for r in rows
    ]
    assert got == wanted


def test_a_saved_scrape_round_trips_through_an_export(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    requests = Counter(
        "proxywhirl_requests", "Requests.", ["status", "proxy_id"], registry=registry
    )
    requests.labels("200", 'p"1\\x\ny').inc(41)
    requests.labels("503", "p2").inc(2.5)
    health = Gauge("proxywhirl_proxy_health_status", "Health.", ["proxy_id"], registry=registry)
    health.labels("p1").set(math.nan)
    health.labels("p2").set(math.inf)
    health.labels("p3").set(-math.inf)
    duration = Histogram(
        "proxywhirl_request_duration_seconds",
        "Latency.",
        ["proxy_id"],
        buckets=(0.1, 1.0),
        registry=registry,
    )
    for seconds in (0.05, 0.3, 0.3, 7.0):
        duration.labels("p1").observe(seconds)
    scrape = generate_latest(registry).decode()
    scrape += "# TYPE proxywhirl_active_proxies gauge\nproxywhirl_active_proxies 17 1711929600123\n"
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "metrics.prom").write_text(scrape)
    (tmp_path / "examples").mkdir()
    shutil.copy(EXAMPLES / "prometheus-scrape.yaml", tmp_path / "examples")

    run = apply(tmp_path / "examples" / "prometheus-scrape.yaml")

    assert Path(run["uri"]) == tmp_path / "exports" / "prometheus-scrape.json"
    rows = json.loads(Path(run["uri"]).read_text())
    rebuilt = "".join(
        f"# TYPE {r['name']} untyped\n"
        + r["name"]
        + "{"
        + ",".join(f'{k}="{_escape(v)}"' for k, v in r["labels"].items())
        + "}"
        + f" {_text_value(r['value'])}"
        + ("" if r["timestamp"] is None else f" {ms_of(r['timestamp'])}")
        + "\n"
        for r in rows
    )
    original = [
        s
        for f in text_string_to_metric_families(scrape)
        for s in f.samples
        if not s.name.endswith("_created")
    ]
    again = [s for f in text_string_to_metric_families(rebuilt) for s in f.samples]
    assert [
        (s.name, s.labels, repr(float(s.value)), s.timestamp and float(s.timestamp)) for s in again
    ] == [
        (s.name, s.labels, repr(float(s.value)), s.timestamp and float(s.timestamp))
        for s in original
    ]
    assert {r["type"] for r in rows} == {"counter", "gauge", "histogram"}
    assert sum(r["name"] == "proxywhirl_request_duration_seconds_bucket" for r in rows) == 3


def _text_value(value: Any) -> str:
    number = float(value)
    return (
        "NaN"
        if math.isnan(number)
        else "+Inf"
        if number == math.inf
        else "-Inf"
        if number == -math.inf
        else repr(number)
    )


def test_the_daemon_runs_a_scheduled_prometheus_export(
    prom: PrometheusServer, tmp_path: Path, ledger: Ledger
) -> None:
    from exportctl.clock import FakeClock
    from exportctl.daemon.loop import Daemon

    specs = tmp_path / "specs"
    specs.mkdir()
    write_spec(
        specs,
        "scheduled",
        source(
            prom,
            query="proxywhirl_active_proxies",
            step="15s",
            since=iso(START_MS),
            until=iso(END_MS - STEP_MS),
        ),
        incremental={"cursor": "timestamp", "key": "series"},
        destination="../out/scheduled-{{ run.id }}.jsonl",
        schedule={"every": "every 10 seconds"},
    )
    tick = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=5)
    clock = FakeClock(tick + timedelta(seconds=3))
    ledger.clock = clock
    daemon = Daemon((specs,), ledger)
    daemon.start()
    for second in (10, 20):  # two ticks: the samples, then nothing new
        clock.advance((tick + timedelta(seconds=second) - clock.now()).total_seconds())
        daemon.step()
        assert daemon.wait_idle(timeout=60)
    daemon.shutdown(grace=5)

    runs = sorted(ledger.history("scheduled"), key=lambda r: r["scheduled_at"])
    assert [(r["status"], r["trigger"], r["rows"]) for r in runs] == [
        ("succeeded", "schedule", SAMPLES),
        ("succeeded", "schedule", 0),
    ]
    (written,) = (tmp_path / "out").glob("scheduled-*.jsonl")
    exported = samples_of(written.read_text().splitlines())
    assert set(exported) == {
        s for s in prom.samples(START_MS, END_MS + 1) if s[0] == "proxywhirl_active_proxies"
    }


def test_an_instant_query_in_a_time_range_is_taken_at_its_last_instant(
    prom: PrometheusServer, tmp_path: Path
) -> None:
    end = START_MS + 40 * STEP_MS
    spec = write_spec(
        tmp_path,
        "instant",
        source(prom, query="proxywhirl_request_duration_seconds", mode="instant"),
        time_range={"field": "timestamp", "from": iso(START_MS), "to": iso(end)},
    )

    run = apply(spec)

    rows = [json.loads(line) for line in Path(run["uri"]).read_text().splitlines()]
    latest = {  # the value at `to` minus a millisecond is the sample one step before `to`
        dict(s.labels)["proxy_id"]: dict(s.samples)[end - STEP_MS]
        for s in prom.series
        if s.name == "proxywhirl_request_duration_seconds"
    }
    assert {ms_of(r["timestamp"]) for r in rows} == {end - 1}
    assert {json.loads(r["labels"])["proxy_id"]: r["value"] for r in rows} == latest


class _MetricsHandler(BaseHTTPRequestHandler):
    """`/metrics` for a bearer token, as a proxywhirl API behind an authenticating proxy."""

    scrape = b""
    token = "scrape-t0ken-41"

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        allowed = self.headers.get("Authorization") == f"Bearer {self.token}"
        status, body = (200, self.scrape) if allowed else (401, b'{"error": "who are you"}')
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def metrics_url() -> Iterator[str]:
    registry = CollectorRegistry()
    Counter("proxywhirl_requests", "Requests.", ["status"], registry=registry).labels('2"0').inc(3)
    Gauge("proxywhirl_proxies_total", "Pool.", registry=registry).set(math.inf)
    Histogram("proxywhirl_latency", "Latency.", buckets=(0.5,), registry=registry).observe(0.2)
    _MetricsHandler.scrape = generate_latest(registry) + b"proxywhirl_up -0 1711929600123\n"
    server = ThreadingHTTPServer(("127.0.0.1", 0), _MetricsHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/metrics"
    server.shutdown()
    server.server_close()


def test_a_scrape_from_a_url_reads_as_the_same_scrape_saved(
    metrics_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCRAPE_TOKEN", _MetricsHandler.token)
    (tmp_path / "metrics.prom").write_bytes(_MetricsHandler.scrape)
    live = PrometheusTextSource(
        PrometheusTextOptions(url=metrics_url, token_env="SCRAPE_TOKEN", chunk_size=2), tmp_path
    )
    saved = PrometheusTextSource(PrometheusTextOptions("metrics.prom"), tmp_path)

    from_url = [r for c in live.chunks(Request(m.Query())) for r in c.to_dict("records")]
    from_file = [r for c in saved.chunks(Request(m.Query())) for r in c.to_dict("records")]

    assert len(from_url) > 6 and repr(from_url) == repr(from_file)  # NaN-safe, -0.0 kept
    assert live.describe(Request(m.Query()))["url"] == metrics_url


def test_a_scrape_url_that_refuses_fails_naming_it_not_the_token(
    metrics_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCRAPE_TOKEN", "wrong-t0ken-17")
    source = {
        "type": "prometheus_text",
        "url": metrics_url + "?sig=abc",
        "token_env": "SCRAPE_TOKEN",
    }

    run = apply(write_spec(tmp_path, "scrape", source), expect=1)

    assert run["status"] == "failed"
    assert f"reading {metrics_url}?… failed: HTTP 401" in run["error"]
    assert "who are you" in run["error"]
    assert "t0ken" not in json.dumps(run) and "sig=abc" not in json.dumps(run)
    assert not (tmp_path / "out" / "scrape.jsonl").exists()


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({}, "give the scrape's `path`"),
        ({"path": "m.prom", "url": "http://h/metrics"}, "give the scrape's `path`"),
        ({"url": "ftp://h/metrics"}, "http(s) URL"),
        ({"path": "m.prom", "token_env": "T"}, "are for a `url`"),
        ({"url": "http://h/metrics", "timeout": 0}, "`timeout`"),
    ],
)
def test_a_scrape_is_a_file_or_a_url(options: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValueError, match=re.escape(problem)):
        PrometheusTextOptions(**options)
