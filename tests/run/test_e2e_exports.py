"""Export the demo pool in every format and compression, from SQLite and PostgreSQL,
and read each file back with an independent reader: the same rows, the same values."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
import yaml
from click.testing import CliRunner
from cryptography.fernet import Fernet, MultiFernet

from exportctl.cli.main import main
from exportctl.demo.build import init_demo
from exportctl.demo.settings import cache_keys
from tests.conftest import copy_tables, pg_url
from tests.support.codecs import decompressed

TABLE = "proxy_identities"
FORMATS = {"csv": ".csv", "json": ".json", "jsonl": ".jsonl", "text": ".txt"}
CODECS = {"none": "", "gzip": ".gz", "zstd": ".zst", "zip": ".zip"}
ARROW_TYPES = {
    int: pa.int64(),
    float: pa.float64(),
    bool: pa.bool_(),
    str: pa.string(),
    dt.datetime: pa.timestamp("us", tz="UTC"),
}


#: The demo's keys (seed 11), as proxywhirl's environment holds them.
KEYS = dict(
    zip(
        ("PROXYWHIRL_CACHE_ENCRYPTION_KEY", "PROXYWHIRL_CACHE_KEY_PREVIOUS"),
        (k.decode() for k in cache_keys(11)),
        strict=True,
    )
)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("e2e")
    init_demo(root / "demo", proxies=400, metrics=50, log_lines=20, seed=11)
    return root / "demo"


@pytest.fixture(params=["sqlite", "postgresql"])
def source_url(request: pytest.FixtureRequest, demo: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{demo / 'system.db'}"
    engine = request.getfixturevalue("pg_engine")
    schema = request.getfixturevalue("pg_schema")
    copy_tables(demo / "system.db", engine, schema, [TABLE])
    return pg_url(schema)


def source_rows(url: str) -> tuple[list[str], list[type], list[tuple[Any, ...]]]:
    """The table as SQLAlchemy reads it, typed by reflection, in url order."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        table = sa.Table(TABLE, sa.MetaData(), autoload_with=conn)
        rows = [tuple(r) for r in conn.execute(sa.select(table).order_by(table.c.url))]
    engine.dispose()
    return [c.name for c in table.columns], [c.type.python_type for c in table.columns], rows


def export(tmp_path: Path, url: str, fmt: str, codec: str, extension: str = "") -> Path:
    """The pool as stored (credentials encrypted); a text list with them decrypted."""
    name = f"pool{extension or FORMATS[fmt]}{CODECS[codec]}"
    spec = tmp_path / "spec.yaml"
    fmt_doc = {"type": "text", "layout": "url"} if fmt == "text" else fmt
    spec.write_text(
        json.dumps(
            {
                "version": 1,
                "name": "pool",
                "source": {"type": "sql", "url": url, "chunk_size": 97},
                "query": {"table": TABLE, "order_by": ["url"]},
                "format": fmt_doc,
                "credentials": "reveal" if fmt == "text" else "keep",
                "destination": f"out/{name}",
            }
        )
    )
    result = CliRunner().invoke(main, ["apply", str(spec)], env=KEYS)
    assert result.exit_code == 0, result.output
    return tmp_path / "out" / name


def decompress(path: Path, codec: str) -> bytes:
    """The export's bytes; a zip holds one member, named as the export without `.zip`."""
    raw = path.read_bytes()
    if codec == "zip":
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            assert archive.namelist() == [path.name.removesuffix(".zip")]
    return decompressed(raw, codec)


def as_utc(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
    return value


def read_csv(data: bytes, names: list[str], types: list[type]) -> list[tuple[Any, ...]]:
    table = pacsv.read_csv(
        io.BytesIO(data),
        convert_options=pacsv.ConvertOptions(
            column_types={n: ARROW_TYPES[t] for n, t in zip(names, types, strict=True)},
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
        ),
    )
    assert table.column_names == names
    return [tuple(r.values()) for r in table.to_pylist()]


def read_json_values(obj: dict[str, Any], names: list[str], types: list[type]) -> tuple:
    assert list(obj) == names, "every field, NULL included, in source order"
    return tuple(
        dt.datetime.fromisoformat(v) if t is dt.datetime and v is not None else v
        for v, t in zip(obj.values(), types, strict=True)
    )


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_and_codec_reads_back_exactly(tmp_path, source_url, fmt, codec):
    names, types, rows = source_rows(source_url)
    data = decompress(export(tmp_path, source_url, fmt, codec), codec)
    expected = [tuple(as_utc(v) for v in row) for row in rows]

    if fmt == "csv":
        assert read_csv(data, names, types) == expected
    elif fmt == "json":
        objects = json.loads(data)
        assert [read_json_values(o, names, types) for o in objects] == expected
    elif fmt == "jsonl":
        lines = data.decode().splitlines()
        assert [read_json_values(json.loads(x), names, types) for x in lines] == expected
    else:
        parsed = [urlsplit(line) for line in data.decode().splitlines()]
        by_name = [dict(zip(names, row, strict=True)) for row in rows]
        assert [
            (p.scheme, p.hostname, p.port, _unquoted(p.username), _unquoted(p.password))
            for p in parsed
        ] == [
            (
                r["protocol"],
                r["host"].lower(),
                r["port"],
                _plain(r["username"]),
                _plain(r["password"]),
            )
            for r in by_name
        ]


def _plain(value: str | None) -> str | None:
    """A stored credential decrypted, as a reader with proxywhirl's keys would."""
    if value is None:
        return None
    token = base64.b64decode(value.removeprefix("encrypted:"), validate=True)
    keys = MultiFernet([Fernet(k) for k in KEYS.values()])
    return keys.decrypt(token).decode()


def _unquoted(value: str | None) -> str | None:
    return None if value is None else unquote(value)


def test_manifest_describes_the_file(tmp_path, demo):
    url = f"sqlite:///{demo / 'system.db'}"
    path = export(tmp_path, url, "jsonl", "zstd")
    manifest = json.loads(path.with_name(path.name + ".manifest.json").read_text())
    import hashlib

    assert manifest["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert manifest["bytes"] == path.stat().st_size
    assert manifest["rows"] == len(source_rows(url)[2])
    assert (manifest["spec"], manifest["format"], manifest["compression"]) == (
        "pool",
        "jsonl",
        "zstd",
    )


def read_typed(data: bytes, fmt: str, names: list[str], types: list[type]) -> list[tuple]:
    if fmt == "parquet":
        table = pq.read_table(io.BytesIO(data))
        assert table.column_names == names
        return [tuple(as_utc(v) for v in row.values()) for row in table.to_pylist()]
    return [read_json_values(o, names, types) for o in yaml.safe_load(data)]


@pytest.mark.parametrize("fmt", ["parquet", "yaml"])
def test_typed_formats_read_back_exactly(tmp_path, source_url, fmt):
    names, types, rows = source_rows(source_url)
    path = export(tmp_path, source_url, fmt, "none", extension=f".{fmt}")
    expected = [tuple(as_utc(v) for v in row) for row in rows]
    assert read_typed(path.read_bytes(), fmt, names, types) == expected
