"""Every float a source reads keeps its bits: -0.0, NaN, ±infinity, subnormals, 17 digits."""

from __future__ import annotations

import json
import math
import struct
from datetime import UTC
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exportctl.sources.http_json.pages import array_items
from exportctl.sources.logs.jsonl import JsonlParser
from exportctl.sources.prometheus.rows import parse_value
from exportctl.values.json_numbers import loads
from tests.support.cli import apply, write_spec
from tests.support.strategies import FLOAT64_EDGES

floats = st.one_of(
    st.sampled_from((*FLOAT64_EDGES, math.nan, math.inf, -math.inf, -0.0, 1e300, 1e-300)),
    st.floats(),
)


def bits(value: float) -> bytes:
    """The float's bits; a NaN's as text names it (text carries no NaN payload or sign)."""
    return struct.pack(">d", math.nan if math.isnan(value) else value)


def json_spellings(value: float) -> list[str]:
    """The JSON number texts that name `value` (none for NaN and infinities)."""
    if not math.isfinite(value):
        return []
    texts = [repr(value), f"{value:.17g}", f"{value:.17e}", f"{value:.17E}"]
    if value.is_integer() and abs(value) < 1e20:
        whole = str(int(value))
        texts.append("-" + whole if math.copysign(1, value) < 0 and value == 0 else whole)
        if value == 0:
            texts.append("-0" if math.copysign(1, value) < 0 else "0")
    return texts


def prometheus_spellings(value: float) -> list[str]:
    """Every way the exposition format (Go's ParseFloat) may write `value`."""
    if math.isnan(value):
        return ["NaN", "nan"]
    if math.isinf(value):
        return ["+Inf", "Inf", "inf"] if value > 0 else ["-Inf", "-inf"]
    texts = json_spellings(value)
    if math.copysign(1, value) > 0:
        texts.append("+" + repr(value))
    elif value == 0:
        texts += ["-00", "-0.0", "-0e0"]
    return texts


@settings(max_examples=25, deadline=None)
@given(st.lists(floats, min_size=1, max_size=12))
def test_prometheus_text_exports_each_sample_value_with_its_bits(
    tmp_path_factory: pytest.TempPathFactory, values: list[float]
) -> None:
    folder = tmp_path_factory.mktemp("scrape")
    samples = [(v, text) for v in values for text in prometheus_spellings(v)]
    lines = [f'm{{i="{i}",text="{t}"}} {t}' for i, (_, t) in enumerate(samples)]
    (folder / "metrics.txt").write_text("# TYPE m gauge\n" + "\n".join(lines) + "\n")
    spec = write_spec(
        folder,
        "bits",
        {"type": "prometheus_text", "path": "metrics.txt"},
        format="parquet",
        destination="out/bits.parquet",
    )

    apply(spec)

    table = pq.read_table(folder / "out" / "bits.parquet").to_pylist()
    got = [(json.loads(r["labels"])["text"], bits(r["value"])) for r in table]
    assert got == [(text, bits(v)) for v, text in samples]


@settings(max_examples=200, deadline=None)
@given(floats)
def test_logs_jsonl_keeps_each_number_with_its_bits(value: float) -> None:
    parse = JsonlParser(None, "level", None, None, UTC)
    for text in json_spellings(value) or [json.dumps(value)]:  # NaN, Infinity, -Infinity
        line = f'{{"time": 1700000000, "level": "INFO", "v": {text}}}\n'.encode()
        row, _ = parse(line, "app.log")
        (read,) = json.loads(row["extra"]).values()
        assert bits(read) == bits(value), text


@settings(max_examples=200, deadline=None)
@given(floats)
def test_http_json_keeps_each_number_with_its_bits(value: float) -> None:
    texts = json_spellings(value)
    body = ("[" + ",".join(f'{{"v": {t}}}' for t in texts) + "]").encode()
    streamed = [r["v"] for r in array_items(iter([body]), "page 1")]
    whole = [r["v"] for r in loads(body)]
    for read in (streamed, whole):
        assert [bits(v) for v in read] == [bits(value)] * len(texts)


def test_the_issues_example_keeps_the_sign_of_minus_zero(tmp_path: Path) -> None:
    (tmp_path / "metrics.txt").write_text('m{a="x} -0"} -0\nm -0.0\n')
    spec = write_spec(
        tmp_path,
        "zero",
        {"type": "prometheus_text", "path": "metrics.txt"},
        format="parquet",
        destination="out/zero.parquet",
    )
    apply(spec)
    values = pq.read_table(tmp_path / "out" / "zero.parquet")["value"].to_pylist()
    assert [bits(v) for v in values] == [bits(-0.0)] * 2


@settings(max_examples=300, deadline=None)
@given(floats)
def test_the_prometheus_apis_value_text_keeps_its_bits(value: float) -> None:
    """A range or instant query's values are Go's FormatFloat text in JSON strings."""
    for text in prometheus_spellings(value):
        assert bits(parse_value(text)) == bits(value), text
