"""Valid specs load into typed, frozen objects; shorthands mean their long forms."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from exportctl import model as m
from exportctl.cli.main import main
from exportctl.errors import SpecError
from exportctl.formats.options import CsvOptions, TextOptions
from exportctl.model import ExportSpec
from exportctl.sources.sql.options import SqlOptions
from exportctl.spec.load import load_spec, load_specs

MINIMAL = """\
version: 1
name: proxies
source: {type: sql, url: "sqlite:///system.db"}
query: {table: proxy_identities}
format: csv
destination: out.csv
"""


def write(folder: Path, text: str, name: str = "spec.yaml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def load(folder: Path, text: str) -> ExportSpec:
    return load_spec(write(folder, text), env={})


def with_lines(*lines: str) -> str:
    """MINIMAL with `key: value` lines replacing those with the same key, or added."""
    document = yaml.safe_load(MINIMAL)
    for line in lines:
        document.update(yaml.safe_load(line))
    return yaml.safe_dump(document, sort_keys=False)


def test_minimal_spec_gets_the_documented_defaults(tmp_path: Path) -> None:
    spec = load(tmp_path, MINIMAL)

    assert spec.name == "proxies"
    assert spec.description == ""
    assert spec.source == m.Component(
        "sql", SqlOptions(url="sqlite:///system.db", chunk_size=10_000)
    )
    assert spec.query == m.Query(table="proxy_identities")
    assert spec.fields is None
    assert spec.format == m.Component("csv", CsvOptions())
    assert (spec.compression, spec.compression_level) == (None, None)
    assert spec.destination == m.Destination("out.csv", manifest=True)
    assert (spec.retention, spec.schedule) == (None, None)


def test_spec_remembers_its_folder_and_digest(tmp_path: Path) -> None:
    spec = load(tmp_path, MINIMAL)

    assert spec.base_dir == tmp_path.resolve()
    assert spec.digest == hashlib.sha256(MINIMAL.encode()).hexdigest()


def test_loaded_spec_is_immutable(tmp_path: Path) -> None:
    spec = load(tmp_path, MINIMAL)

    with pytest.raises(AttributeError):
        spec.name = "other"  # type: ignore[misc]


SHORTHANDS = [
    pytest.param("format: csv", "format: {type: csv}", "format", id="format"),
    pytest.param("destination: out.csv", "destination: {uri: out.csv}", "destination", id="dest"),
    pytest.param("compression: none", "compression: {type: none}", "compression", id="compression"),
    pytest.param(
        "schedule: every day at 02:00",
        "schedule: {every: every day at 02:00, timezone: UTC}",
        "schedule",
        id="schedule",
    ),
    pytest.param(
        "query: {table: t, where: [{field: port, eq: 80}]}",
        "query: {table: t, where: {field: port, eq: 80}}",
        "query",
        id="where-list-of-one",
    ),
]


@pytest.mark.parametrize(("short", "long", "attribute"), SHORTHANDS)
def test_shorthand_means_its_long_form(
    tmp_path: Path, short: str, long: str, attribute: str
) -> None:
    short_spec = load(tmp_path, with_lines(short))
    long_spec = load(tmp_path, with_lines(long))

    assert getattr(short_spec, attribute) == getattr(long_spec, attribute)


FILTERS = [
    ("{field: port, eq: 80}", m.Compare("port", "eq", 80)),
    ("{field: port, ne: 80}", m.Compare("port", "ne", 80)),
    ("{field: latency, lt: 1.5}", m.Compare("latency", "lt", 1.5)),
    ("{field: ok, ge: true}", m.Compare("ok", "ge", True)),
    ("{field: cc, in: [DE, FR]}", m.InSet("cc", ("DE", "FR"))),
    ("{field: cc, not_in: [CN]}", m.InSet("cc", ("CN",), negate=True)),
    ("{field: port, between: [1, 1023]}", m.Between("port", 1, 1023)),
    ("{field: isp, like: 'Deutsche %'}", m.Like("isp", "Deutsche %")),
    ("{field: isp, contains: '100%'}", m.Contains("isp", "100%")),
    ("{field: user, is_null: true}", m.IsNull("user")),
    ("{field: user, is_null: false}", m.IsNull("user", negate=True)),
    (
        "{or: [{field: a, eq: 1}, {and: [{field: b, eq: 2}, {field: c, eq: 3}]}]}",
        m.Or((m.Compare("a", "eq", 1), m.And((m.Compare("b", "eq", 2), m.Compare("c", "eq", 3))))),
    ),
    ("{not: {field: a, is_null: true}}", m.Not(m.IsNull("a"))),
    (
        "[{field: a, eq: 1}, {field: b, eq: 2}]",
        m.And((m.Compare("a", "eq", 1), m.Compare("b", "eq", 2))),
    ),
]


@pytest.mark.parametrize(("where", "expected"), FILTERS, ids=[f[0] for f in FILTERS])
def test_filter_parses_to_its_node(tmp_path: Path, where: str, expected: m.Filter) -> None:
    spec = load(tmp_path, with_lines(f"query: {{table: t, where: {where}}}"))

    assert spec.query.where == expected


def test_full_spec_parses_every_section(tmp_path: Path) -> None:
    spec = load(
        tmp_path,
        with_lines(
            "description: Fast proxies.",
            "source: {type: sql, url: 'sqlite:///s.db', chunk_size: 500}",
            "query: {sql: 'SELECT * FROM t WHERE d < :day', params: {day: '{{ today }}', n: 3},"
            " order_by: [-latency, url], limit: 10}",
            "fields: [url, {name: avg_ms, as: latency}, {as: endpoint, template: '{{ host }}'}]",
            "format: {type: text, layout: 'host:port'}",
            "compression: {type: zstd, level: 19}",
            "destination: {uri: out.txt.zst, manifest: false}",
            "retention: {keep_last: 7, max_age: 30d}",
            "schedule: {every: every monday at 03:30, timezone: Europe/Berlin}",
        ),
    )

    assert spec.description == "Fast proxies."
    assert spec.source.options == SqlOptions(url="sqlite:///s.db", chunk_size=500)
    assert spec.query == m.Query(
        sql="SELECT * FROM t WHERE d < :day",
        params=(("day", "{{ today }}"), ("n", 3)),
        order_by=(m.OrderKey("latency", descending=True), m.OrderKey("url")),
        limit=10,
    )
    assert spec.fields == (
        m.Field("url", "url"),
        m.Field("latency", "avg_ms"),
        m.Field("endpoint", None, "{{ host }}"),
    )
    assert spec.format == m.Component("text", TextOptions(layout="host:port"))
    assert (spec.compression, spec.compression_level) == ("zstd", 19)
    assert spec.destination == m.Destination("out.txt.zst", manifest=False)
    assert spec.retention == m.Retention(keep_last=7, max_age="30d")
    assert spec.schedule == m.Schedule("every monday at 03:30", "Europe/Berlin")


def test_load_specs_reads_yaml_and_yml_files_of_a_folder_in_name_order(tmp_path: Path) -> None:
    for name, spec_name in [("b.yml", "bravo"), ("a.yaml", "alpha"), ("c.yaml", "charlie")]:
        write(tmp_path, MINIMAL.replace("proxies", spec_name), name)
    write(tmp_path, "not a spec", "notes.txt")

    specs, problems = load_specs([tmp_path], env={})

    assert problems == []
    assert [s.name for s in specs] == ["alpha", "bravo", "charlie"]


def test_load_specs_takes_files_named_directly(tmp_path: Path) -> None:
    first = write(tmp_path, MINIMAL, "one.yaml")
    second = write(tmp_path, MINIMAL.replace("proxies", "other"), "two.yaml")

    specs, problems = load_specs([second, first], env={})

    assert problems == []
    assert [s.name for s in specs] == ["other", "proxies"]


def test_load_specs_refuses_a_missing_path(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="no such file or folder"):
        load_specs([tmp_path / "absent.yaml"], env={})


def test_a_file_that_is_not_utf8_is_a_spec_error(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_bytes(MINIMAL.encode("utf-16"))

    with pytest.raises(SpecError, match="cannot read the file"):
        load_spec(path, env={})


def test_validate_exits_0_for_valid_specs(tmp_path: Path) -> None:
    write(tmp_path, MINIMAL, "a.yaml")
    write(tmp_path, MINIMAL.replace("proxies", "other"), "b.yaml")

    result = CliRunner().invoke(main, ["validate", str(tmp_path)])

    assert result.exit_code == 0, result.output
    assert "✓ proxies" in result.output
    assert "✓ other" in result.output
