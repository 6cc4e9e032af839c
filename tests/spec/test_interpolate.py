"""`${VAR}`, `${VAR:-default}` and `$$` in spec strings; secrets never reach a message."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from exportctl.cli.main import main
from exportctl.errors import SpecError
from exportctl.spec.interpolate import interpolate
from exportctl.spec.load import load_spec

SECRET = "s3cr3t-Pa55w0rd"
PG_URL = "postgresql+psycopg://exporter:${PGPASSWORD}@db.internal/proxywhirl"

SPEC = f"""\
version: 1
name: proxies
source:
  type: sql
  url: "{PG_URL}"
query:
  table: proxy_identities
format: csv
destination: out.csv
"""


def resolve(document: Any, env: dict[str, str]) -> tuple[Any, list[tuple[Any, str]]]:
    missing: list[tuple[Any, str]] = []
    result = interpolate(document, env, lambda path, name: missing.append((path, name)))
    return result, missing


def escaped(text: str) -> str:
    return text.replace("$", "$$")


CASES = [
    pytest.param("${HOST}", {"HOST": "db"}, "db", id="variable"),
    pytest.param("a-${HOST}-b", {"HOST": "db"}, "a-db-b", id="inside-text"),
    pytest.param("${A}${B}", {"A": "1", "B": "2"}, "12", id="adjacent"),
    pytest.param("${HOST:-localhost}", {}, "localhost", id="default-when-unset"),
    pytest.param("${HOST:-localhost}", {"HOST": ""}, "localhost", id="default-when-empty"),
    pytest.param("${HOST:-localhost}", {"HOST": "db"}, "db", id="set-beats-default"),
    pytest.param("${HOST:-}", {}, "", id="empty-default"),
    pytest.param("${PORT:-a:-b}", {}, "a:-b", id="default-holding-colon-dash"),
    pytest.param("${HOST}", {"HOST": ""}, "", id="set-but-empty"),
    pytest.param("$$", {}, "$", id="escaped-dollar"),
    pytest.param("$${HOST}", {"HOST": "db"}, "${HOST}", id="escaped-reference"),
    pytest.param("$$$${HOST}", {"HOST": "db"}, "$${HOST}", id="two-escapes"),
    pytest.param("$$${HOST}", {"HOST": "db"}, "$db", id="escape-then-reference"),
    pytest.param("${X}", {"X": "${Y}", "Y": "no"}, "${Y}", id="values-are-not-reinterpolated"),
    pytest.param("cost: 5$ or $5", {}, "cost: 5$ or $5", id="lone-dollars-stay"),
    pytest.param("$HOST ${1X} ${ }", {"HOST": "db"}, "$HOST ${1X} ${ }", id="not-references"),
]


@pytest.mark.parametrize(("text", "env", "expected"), CASES)
def test_interpolates_a_string(text: str, env: dict[str, str], expected: str) -> None:
    assert resolve(text, env) == (expected, [])


def test_unset_variable_without_default_is_reported_with_its_path() -> None:
    document = {"source": {"url": "x://${USER}:${PASS}@h"}, "list": ["${PASS}"]}

    result, missing = resolve(document, {"USER": "me"})

    assert result == {"source": {"url": "x://me:@h"}, "list": [""]}
    assert missing == [(("source", "url"), "PASS"), (("list", 0), "PASS")]


def test_keys_are_not_interpolated() -> None:
    result, missing = resolve({"${KEY}": "${KEY}", "$$": "$$"}, {"KEY": "value"})

    assert result == {"${KEY}": "value", "$$": "$"}
    assert missing == []


def test_values_other_than_strings_are_kept_as_they_are() -> None:
    document = {"n": 1, "f": 1.5, "b": True, "none": None, "list": [2, False]}

    assert resolve(document, {}) == (document, [])


@given(st.text().filter(lambda text: "$" not in text))
def test_a_string_without_dollar_is_unchanged(text: str) -> None:
    assert resolve(text, {}) == (text, [])


@given(st.text(), st.dictionaries(st.from_regex(r"[A-Z_][A-Z0-9_]*", fullmatch=True), st.text()))
def test_escaping_every_dollar_round_trips(text: str, env: dict[str, str]) -> None:
    assert resolve(escaped(text), env) == (text, [])


@given(st.text(alphabet=st.characters(exclude_characters="}")), st.text())
def test_a_variable_is_replaced_by_its_value_verbatim(default: str, value: str) -> None:
    env = {"VAR": value}

    assert resolve("${VAR}", env) == (value, [])
    assert resolve("${VAR:-" + default + "}", env) == (value or default, [])


@given(st.text(), st.text())
def test_escaped_text_around_a_reference_survives(before: str, after: str) -> None:
    text = escaped(before) + "${VAR}" + escaped(after)

    assert resolve(text, {"VAR": "value"}) == (before + "value" + after, [])


def test_load_spec_interpolates_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC.replace("out.csv", "${OUT:-fallback}-$$HOME.csv"))

    spec = load_spec(path, env={"PGPASSWORD": SECRET})

    assert spec.source.options.url == PG_URL.replace("${PGPASSWORD}", SECRET)
    assert spec.destination.uri == "fallback-$HOME.csv"


def test_schema_errors_are_reported_on_the_raw_document(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC.replace("source:\n  type: sql\n  url:", "source:"))

    with pytest.raises(SpecError) as caught:
        load_spec(path, env={"PGPASSWORD": SECRET})

    assert "${PGPASSWORD}" in str(caught.value)
    assert SECRET not in str(caught.value)


LEAKY_MISTAKES = [
    pytest.param("format: csv", "format: xml", id="schema-error"),
    pytest.param("  url:", "  chunk_size: '${PGPASSWORD}'\n  url:", id="secret-in-wrong-type"),
    pytest.param("  table: proxy_identities", "  table: t\n  sql: SELECT 1", id="semantic-error"),
    pytest.param("destination: out.csv", "destination: out.csv\ncompression: zip", id="late-error"),
    pytest.param("@db.internal/", "@db.internal:port/", id="secret-in-broken-url"),
]


@pytest.mark.parametrize(("old", "new"), LEAKY_MISTAKES)
def test_a_secret_never_appears_in_spec_errors(tmp_path: Path, old: str, new: str) -> None:
    path = tmp_path / "spec.yaml"
    assert old in SPEC
    path.write_text(SPEC.replace(old, new))

    with pytest.raises(SpecError) as caught:
        load_spec(path, env={"PGPASSWORD": SECRET})
    result = CliRunner(env={"PGPASSWORD": SECRET}).invoke(main, ["validate", str(path)])

    assert result.exit_code == 2
    for shown in (str(caught.value), result.output):
        assert SECRET not in shown


@pytest.mark.parametrize("json_flag", [[], ["--json"]], ids=["text", "json"])
def test_plan_output_hides_the_password_in_the_source_url(
    tmp_path: Path, json_flag: list[str]
) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC)

    result = CliRunner(env={"PGPASSWORD": SECRET}).invoke(
        main, ["plan", "--no-count", *json_flag, str(path)]
    )

    assert result.exit_code == 0, result.output
    assert SECRET not in result.output
    assert "postgresql+psycopg://***:***@db.internal" in result.output
