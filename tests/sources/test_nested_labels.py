"""A `json: true` field: JSON text parsed into a map, written nested, or as JSON text in CSV."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from exportctl.errors import RunError, SpecError
from exportctl.formats.csv import CsvEncoder
from exportctl.formats.json import JsonEncoder, JsonlEncoder
from exportctl.formats.options import (
    CsvOptions,
    JsonlOptions,
    JsonOptions,
    ParquetOptions,
    YamlOptions,
)
from exportctl.formats.parquet import ParquetEncoder
from exportctl.formats.yaml import YamlEncoder
from exportctl.model import Field
from exportctl.spec.load import load_spec
from exportctl.transforms.fields import select_fields
from exportctl.transforms.validate import validate
from tests.support.jsonlines import json_lines

LABELS = [
    {"proxy_id": "p1", "status": "200"},
    None,
    {"pool": 'café "premium"', "z": "", "a": None},  # key order kept, not sorted
    {},
    {"pool": "geo:日本, tokyo"},
]
FIELDS = (Field("name", "name"), Field("labels", "labels", json=True))


def parsed() -> pd.DataFrame:
    texts = [None if v is None else json.dumps(v, ensure_ascii=False) for v in LABELS]
    source = pd.DataFrame(
        {"name": pa.array(list("abcde")), "labels": pa.array(texts, pa.string())}
    ).astype({"name": pd.ArrowDtype(pa.string()), "labels": pd.ArrowDtype(pa.string())})
    return select_fields(source, FIELDS)


def encode(encoder_type: Any, options: Any) -> bytes:
    stream = io.BytesIO()
    encoder = encoder_type(options, stream)
    chunk = parsed()
    assert validate(chunk, {}, encoder_type, options=options).invalid.empty
    encoder.write(chunk.iloc[:2])
    encoder.write(chunk.iloc[2:])
    encoder.close()
    return stream.getvalue()


def test_json_and_jsonl_write_nested_objects_in_order() -> None:
    array = json.loads(encode(JsonEncoder, JsonOptions(indent=2)))
    lines = json_lines(encode(JsonlEncoder, JsonlOptions()))

    for rows in (array, lines):
        assert [r["labels"] for r in rows] == LABELS
        assert [list(r["labels"] or {}) for r in rows] == [list(v or {}) for v in LABELS]


def test_yaml_writes_nested_mappings() -> None:
    rows = yaml.safe_load(encode(YamlEncoder, YamlOptions()))

    assert [r["labels"] for r in rows] == LABELS


def test_parquet_writes_a_map_of_text() -> None:
    table = pq.read_table(io.BytesIO(encode(ParquetEncoder, ParquetOptions())))

    assert table.schema.field("labels").type == pa.map_(pa.string(), pa.string())
    read = table.column("labels").to_pylist()
    assert [None if v is None else dict(v) for v in read] == LABELS


def test_csv_writes_compact_json_text() -> None:
    data = encode(CsvEncoder, CsvOptions()).decode()

    rows = list(csv.DictReader(io.StringIO(data, newline="")))
    assert rows[0]["labels"] == '{"proxy_id":"p1","status":"200"}'
    assert rows[1]["labels"] == ""  # NULL, unquoted
    assert [json.loads(r["labels"]) if r["labels"] else None for r in rows] == LABELS
    assert '"{""pool"":""café \\""premium\\"""",' in data  # quoted, quotes doubled, UTF-8


@pytest.mark.parametrize(
    ("text", "why"),
    [("{not json", "valid JSON"), ("[1, 2]", "a JSON object"), ('{"a": 1}', "a JSON object")],
)
def test_text_that_is_not_a_label_set_fails_naming_it(text: str, why: str) -> None:
    source = pd.DataFrame({"labels": [text]})
    with pytest.raises(RunError, match=f"field `labels` has `json: true`.*not {why}"):
        select_fields(source, (Field("labels", "labels", json=True),))


SPEC = """\
version: 1
name: labels
source: {type: sql, url: "sqlite:///x.db"}
query: {table: metric_samples}
fields: [FIELD]
format: jsonl
destination: out.jsonl
"""


def test_the_spec_parses_json_true(tmp_path: Path) -> None:
    path = tmp_path / "labels.yaml"
    path.write_text(SPEC.replace("FIELD", "{name: labels, as: l, json: true}"))

    assert load_spec(path, env={}).fields == (Field("l", "labels", json=True),)


def test_a_template_cannot_be_json(tmp_path: Path) -> None:
    path = tmp_path / "labels.yaml"
    path.write_text(SPEC.replace("FIELD", "{as: l, template: '{{ labels }}', json: true}"))

    with pytest.raises(SpecError, match="json"):
        load_spec(path, env={})
