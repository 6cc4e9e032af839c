"""A format added by one registry entry is held to the spec rules by its capabilities.

The toy format (tests/spec/toy_format.py) declares that it cannot be split and takes no
outer compression; the rules, which name no format, refuse both for it, and a spec within
its limits validates and runs.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from exportctl import registry
from exportctl.cli.main import main
from exportctl.errors import SpecError
from exportctl.spec.load import load_spec
from tests.spec.toy_format import ToyOptions

TOY = registry.FormatEntry(
    "tests.spec.toy_format:ToyEncoder",
    "tests.spec.toy_format:ToyOptions",
    schema={"properties": {"sep": {"description": "Between values.", "type": "string"}}},
    splittable=False,
    codecs=frozenset({"none"}),
)

SPEC = """\
version: 1
name: toy
source: {{type: sql, url: "sqlite:///{db}"}}
query: {{table: pool, order_by: [port]}}
format: {format}
destination: {destination}
"""


@pytest.fixture(autouse=True)
def toy() -> Iterator[None]:
    registry.FORMATS.register("toy", TOY)
    try:
        yield
    finally:
        registry.FORMATS.unregister("toy")


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "pool.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE pool (host TEXT, port INTEGER)")
        connection.executemany("INSERT INTO pool VALUES (?, ?)", [("a", 1), ("b", 2)])
    connection.close()
    return path


def problems(spec: Path) -> list[str]:
    with pytest.raises(SpecError) as caught:
        load_spec(spec, env={})
    return [f"{p.line} {p.path} {p.message}" for p in caught.value.problems]


def written(tmp_path: Path, db: Path, format: str, destination: str) -> Path:
    spec = tmp_path / "toy.yaml"
    spec.write_text(SPEC.format(db=db, format=format, destination=destination))
    return spec


@pytest.mark.parametrize(
    ("destination", "compression"),
    [("out.toy.gz", ""), ("out.toy.zst", "\ncompression: zstd")],
)
def test_the_rules_refuse_a_compression_the_toy_format_does_not_take(
    tmp_path: Path, db: Path, destination: str, compression: str
) -> None:
    spec = written(tmp_path, db, "toy", str(tmp_path / destination) + compression)
    codec = "gzip" if destination.endswith(".gz") else "zstd"
    expected = f"the `toy` format takes no `{codec}` compression, only `none`"
    if compression:
        assert problems(spec) == [f"7 $.compression {expected}"]
    else:  # implied by the name, and said so where the name is
        said = f"{expected} (the destination's name says `gzip`)"
        assert problems(spec) == [f"6 $.destination {said}"]


def test_the_rules_refuse_to_split_the_toy_format(tmp_path: Path, db: Path) -> None:
    destination = f"{{uri: {tmp_path / 'out.toy'}, split: {{rows: 1}}}}"
    spec = written(tmp_path, db, "toy", destination)

    assert problems(spec) == [
        "6 $.destination.split `toy` files cannot be split into parts that join back"
    ]


def test_an_option_error_is_located_at_its_key(tmp_path: Path, db: Path) -> None:
    spec = written(tmp_path, db, "{type: toy, sep: ab}", str(tmp_path / "out.toy"))

    assert problems(spec) == ["5 $.format.sep `sep` must be one character, not 'ab'"]


def test_an_unknown_option_of_the_toy_format_is_refused_by_the_schema(
    tmp_path: Path, db: Path
) -> None:
    spec = written(tmp_path, db, "{type: toy, step: ';'}", str(tmp_path / "out.toy"))

    assert problems(spec) == ["5 $.format.step unknown key `step`; did you mean `sep`?"]


def test_a_valid_toy_spec_loads_and_applies(tmp_path: Path, db: Path) -> None:
    out = tmp_path / "out.toy"
    spec = written(tmp_path, db, "{type: toy, sep: ';'}", str(out))

    loaded = load_spec(spec, env={})
    result = CliRunner().invoke(main, ["apply", str(spec)])

    assert (loaded.format.type, loaded.format.options) == ("toy", ToyOptions(";"))
    assert result.exit_code == 0, result.output
    assert out.read_text() == "a;1\nb;2\n"
