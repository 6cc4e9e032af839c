"""A malformed spec is refused with every problem located by file, line and JSON path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from exportctl.cli.main import main
from exportctl.errors import SpecError, SpecProblem
from exportctl.spec.load import load_spec, load_specs

VALID = """\
version: 1
name: proxies
source:
  type: sql
  url: sqlite:///system.db
query:
  table: proxy_identities
format: csv
destination: out.csv
"""

TABLE = "  table: proxy_identities"
URL = "  url: sqlite:///system.db"

# (replace, with, line, JSON path, part of the message)
MISTAKES = [
    pytest.param(
        "source:", "sourc:", 3, "$.sourc", "did you mean `source`?", id="unknown-top-level-key"
    ),
    pytest.param(
        "  table:", "  tabel:", 7, "$.query.tabel", "did you mean `table`?", id="unknown-nested-key"
    ),
    pytest.param(
        "format: csv",
        'format: {type: csv, delimter: ";"}',
        8,
        "$.format.delimter",
        "did you mean `delimiter`?",
        id="unknown-format-option",
    ),
    pytest.param(
        TABLE,
        f"{TABLE}\n  limit: ten",
        8,
        "$.query.limit",
        "not of type 'integer'",
        id="wrong-type",
    ),
    pytest.param(
        URL,
        f"{URL}\n  chunk_size: -1",
        6,
        "$.source.chunk_size",
        "minimum of 1",
        id="below-minimum",
    ),
    pytest.param(
        "format: csv", "format: xml", 8, "$.format", "allowed: `csv`, `json`", id="bad-enum"
    ),
    pytest.param(
        "format: csv", "format: cvs", 8, "$.format", "did you mean `csv`?", id="enum-typo"
    ),
    pytest.param(
        "format: csv\n", "", 1, "$", "`format` is a required property", id="missing-required-key"
    ),
    pytest.param(
        TABLE,
        f"{TABLE}\n  where: {{field: port, eq: 80, gt: 1000}}",
        8,
        "$.query.where",
        "exactly one operator, found `eq`, `gt`",
        id="two-operators",
    ),
    pytest.param(
        TABLE,
        f"{TABLE}\n  where:\n    - {{field: port, gt: 1}}\n    - or:\n"
        "        - {field: city, eq: Paris, ne: Lyon}",
        11,
        "$.query.where[1].or[0]",
        "exactly one operator, found `eq`, `ne`",
        id="two-operators-nested",
    ),
    pytest.param(
        TABLE,
        f"{TABLE}\n  sql: SELECT 1",
        6,
        "$.query",
        "exactly one of `table` and `sql`",
        id="table-and-sql",
    ),
    pytest.param(
        "destination: out.csv",
        "destination: out.csv\ncompression: gzip",
        10,
        "$.compression",
        "compression `gzip` contradicts the destination `out.csv`",
        id="compression-contradicts-extension",
    ),
    pytest.param(
        "sqlite:///system.db",
        "postgresql+psycopg://exporter:${PGPASSWORD}@db.internal/proxywhirl",
        5,
        "$.source.url",
        "environment variable `PGPASSWORD` is not set and has no default",
        id="missing-environment-variable",
    ),
    pytest.param(
        "destination: out.csv",
        "destination: out-{{ nope }}.csv",
        9,
        "$.destination",
        "undefined `nope` in the template",
        id="undefined-template-name",
    ),
    pytest.param(
        "destination: out.csv",
        "destination: {uri: 'out-{{ spec.name.csv'}",
        9,
        "$.destination.uri",
        "not a valid Jinja2 template",
        id="destination-template-syntax",
    ),
    pytest.param(
        "format: csv",
        "fields: [{as: endpoint, template: '{{ host'}]\nformat: csv",
        8,
        "$.fields[0].template",
        "not a valid Jinja2 template",
        id="computed-field-template-syntax",
    ),
    pytest.param(
        "format: csv",
        "format: csv\nname: other",
        9,
        "$.name",
        "key `name` is given twice",
        id="duplicate-key",
    ),
    pytest.param(
        "format: csv",
        "fields: [{name: host, as: h, template: '{{ host }}'}]\nformat: csv",
        8,
        "$.fields[0]",
        "a source column `name` or a `template`, not both",
        id="field-with-name-and-template",
    ),
    pytest.param(
        "format: csv",
        "fields: [{template: '{{ host }}'}]\nformat: csv",
        8,
        "$.fields[0]",
        "a computed field needs `as`",
        id="computed-field-without-as",
    ),
]

YAML_SYNTAX_ERRORS = [
    pytest.param(URL, f"{URL}\n   chunk_size: 10", 6, id="mis-indented-key"),
    pytest.param("format: csv", "\tformat: csv", 8, id="tab-indentation"),
]

THREE_MISTAKES = [
    pytest.param(
        [
            (TABLE, f"{TABLE}\n  limit: ten"),
            ("format: csv", "format: xml"),
            (URL, f"{URL}\n  chunk_size: 0"),
        ],
        {"$.query.limit", "$.format", "$.source.chunk_size"},
        id="schema",
    ),
    pytest.param(
        [
            (TABLE, f"{TABLE}\n  sql: SELECT 1"),
            (TABLE, f"{TABLE}\n  where: {{field: port, lt: 1, gt: 2}}"),
            ("destination: out.csv", "destination: out.csv\ncompression: zstd"),
        ],
        {"$.query", "$.query.where", "$.compression"},
        id="meaning",
    ),
]


def mutated(*edits: tuple[str, str]) -> str:
    text = VALID
    for old, new in edits:
        assert old in text, f"{old!r} is not in the spec"
        text = text.replace(old, new, 1)
    return text


def problems_of(spec: Path) -> list[SpecProblem]:
    with pytest.raises(SpecError) as caught:
        load_spec(spec, env={})
    assert str(caught.value) == "\n".join(str(p) for p in caught.value.problems)
    return caught.value.problems


def validate(*args: str) -> Result:
    """--strict-env: the missing variable is a problem only when asked (see test_env_needs.py)."""
    return CliRunner(env={"PGPASSWORD": None}).invoke(main, ["validate", "--strict-env", *args])


def flat(text: str) -> str:
    """The output with line wrapping undone."""
    return " ".join(text.split())


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run from tmp_path, so the CLI prints short relative file names."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize(("old", "new", "line", "path", "message"), MISTAKES)
def test_load_spec_locates_each_mistake(
    tmp_path: Path, old: str, new: str, line: int, path: str, message: str
) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(mutated((old, new)))

    located = {p.path: p for p in problems_of(spec)}

    assert path in located, located
    assert located[path].file == str(spec)
    assert located[path].line == line
    assert message in located[path].message


@pytest.mark.parametrize(("old", "new", "line", "path", "message"), MISTAKES)
def test_validate_exits_2_and_prints_file_line_and_path(
    in_tmp: Path, old: str, new: str, line: int, path: str, message: str
) -> None:
    (in_tmp / "spec.yaml").write_text(mutated((old, new)))

    result = validate("spec.yaml")

    assert result.exit_code == 2
    assert f"spec.yaml:{line} at {path}: " in result.output
    assert message in flat(result.output)


@pytest.mark.parametrize(("old", "new", "line"), YAML_SYNTAX_ERRORS)
def test_yaml_syntax_error_is_located_at_its_line(
    in_tmp: Path, old: str, new: str, line: int
) -> None:
    spec = in_tmp / "spec.yaml"
    spec.write_text(mutated((old, new)))

    [problem] = problems_of(spec)
    result = validate("spec.yaml")

    assert problem.line == line
    assert problem.message.startswith("YAML syntax error: ")
    assert result.exit_code == 2
    assert f"spec.yaml:{line}: YAML syntax error" in result.output


@pytest.mark.parametrize(("edits", "paths"), THREE_MISTAKES)
def test_every_problem_is_reported_not_just_the_first(
    in_tmp: Path, edits: list[tuple[str, str]], paths: set[str]
) -> None:
    spec = in_tmp / "spec.yaml"
    spec.write_text(mutated(*edits))

    problems = problems_of(spec)
    result = validate("spec.yaml")

    assert {p.path for p in problems} == paths
    assert len(problems) == 3
    assert [p.line for p in problems] == sorted(p.line or 0 for p in problems)
    assert result.exit_code == 2
    assert "3 problem(s) found" in result.output


def test_a_name_used_twice_is_reported_on_the_second_file(in_tmp: Path) -> None:
    (in_tmp / "a.yaml").write_text(VALID)
    (in_tmp / "b.yaml").write_text(mutated(("destination: out.csv", "destination: other.csv")))

    specs, problems = load_specs([in_tmp], env={})
    result = validate(".")

    assert [s.path.name for s in specs] == ["a.yaml"]
    [problem] = problems
    assert (Path(problem.file).name, problem.line, problem.path) == ("b.yaml", 2, "$.name")
    assert "name `proxies` is also used by" in problem.message
    assert result.exit_code == 2
    assert "b.yaml:2 at $.name: name `proxies` is also used by" in flat(result.output)


def test_one_bad_spec_does_not_hide_the_good_ones(in_tmp: Path) -> None:
    (in_tmp / "good.yaml").write_text(VALID)
    (in_tmp / "bad.yaml").write_text(mutated(("name: proxies", "name: Bad Name")))

    specs, problems = load_specs([in_tmp], env={})

    assert [s.name for s in specs] == ["proxies"]
    assert [(Path(p.file).name, p.path) for p in problems] == [("bad.yaml", "$.name")]


def test_validate_json_lists_problems_with_their_location(in_tmp: Path) -> None:
    (in_tmp / "spec.yaml").write_text(mutated(("  table:", "  tabel:")))

    result = validate("--json", "spec.yaml")

    assert result.exit_code == 2
    assert json.loads(result.stdout) == {
        "valid": [],
        "specs": [],
        "problems": [
            {
                "file": "spec.yaml",
                "line": 7,
                "path": "$.query.tabel",
                "message": "unknown key `tabel`; did you mean `table`?",
            }
        ],
    }


def test_plan_refuses_an_invalid_spec_with_the_same_location(in_tmp: Path) -> None:
    (in_tmp / "spec.yaml").write_text(mutated(("format: csv", "format: xml")))

    result = CliRunner().invoke(main, ["plan", "--no-count", "spec.yaml"])

    assert result.exit_code == 2
    assert "spec.yaml:8 at $.format: " in result.output


def test_an_unknown_format_type_is_one_problem_not_one_per_option(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(VALID.replace("format: csv", "format: {type: xml, delimiter: ';'}"))
    with pytest.raises(SpecError) as caught:
        load_spec(path, env={})
    assert [p.path for p in caught.value.problems] == ["$.format.type"]


def test_an_incremental_export_refuses_a_limit(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(
        VALID.replace(TABLE, f"{TABLE}\n  limit: 10") + "incremental: {cursor: discovered_at}\n"
    )
    with pytest.raises(SpecError) as caught:
        load_spec(path, env={})
    assert [(p.path, p.line) for p in caught.value.problems] == [("$.query.limit", 8)]


def test_an_incremental_export_refuses_its_own_order(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(
        VALID.replace(TABLE, f"{TABLE}\n  order_by: [url]")
        + "incremental: {cursor: discovered_at}\n"
    )
    with pytest.raises(SpecError) as caught:
        load_spec(path, env={})
    assert [p.path for p in caught.value.problems] == ["$.query.order_by"]


def test_zip_parts_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(
        VALID.replace("destination: out.csv", "destination: {uri: o.csv.zip, split: {rows: 9}}")
    )
    with pytest.raises(SpecError) as caught:
        load_spec(path, env={})
    assert [p.path for p in caught.value.problems] == ["$.destination.split"]


def enums(node: object, path: str = "$"):
    """Every `enum` of strings in the spec schema, with where it is."""
    if isinstance(node, dict):
        if all(isinstance(v, str) for v in node.get("enum", [0])):
            yield path, node["enum"]
        for key, value in node.items():
            yield from enums(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from enums(value, f"{path}[{index}]")


def test_a_typo_of_any_enum_value_is_answered_with_that_value() -> None:
    """One letter dropped, doubled or swapped in any allowed value: the message names it."""
    from exportctl.spec.schema import _unknown_value_message, export_spec_schema

    checked = 0
    for _where, allowed in enums(export_spec_schema()):
        for value in allowed:
            if len(value) < 4:
                continue
            for typo in (value[1:], value[0] + value, value[1] + value[0] + value[2:]):
                if typo in allowed:
                    continue
                guess = _unknown_value_message(typo, allowed, None)
                assert "did you mean" in guess, (typo, allowed)
                suggested = guess.split("did you mean `")[1].split("`")[0]
                assert suggested in allowed
                checked += 1
    assert checked > 100
