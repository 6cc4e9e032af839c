"""The cross-section rules, for the built-in components, by what their entries declare."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from exportctl import registry
from exportctl.errors import SpecError
from exportctl.spec import rules
from exportctl.spec.load import load_spec

BASE = """\
version: 1
name: rules
source: {source}
query: {query}
format: {format}
destination: {destination}
"""
SQL = "{type: sql, url: 'sqlite:///system.db'}"
LOGS = "{type: logs, path: app.log}"


def problems(tmp_path: Path, **parts: str) -> list[tuple[str, str]]:
    given = {"source": SQL, "query": "{table: t}", "format": "csv", "destination": "out.csv"}
    spec = tmp_path / "rules.yaml"
    spec.write_text(BASE.format(**{**given, **parts}))
    with pytest.raises(SpecError) as caught:
        load_spec(spec, env={})
    return [(p.path, p.message) for p in caught.value.problems]


@pytest.mark.parametrize(
    ("parts", "path", "message"),
    [
        (
            {"format": "parquet", "destination": "out.parquet\ncompression: gzip"},
            "$.compression",
            "Parquet compresses inside the file: set the format's `codec`, not `compression`",
        ),
        (
            {"format": "json", "destination": "{uri: out.json, split: {rows: 5}}"},
            "$.destination.split",
            "a JSON array cannot be split into parts that join back; use `jsonl`",
        ),
        (
            {"destination": "{uri: out.csv.zip, split: {rows: 5}}"},
            "$.destination.split",
            "zip archives do not join by concatenation; split with gzip or zstd instead",
        ),
        (
            {"destination": "{uri: out.csv, split: {rows: 5}, manifest: false}"},
            "$.destination.manifest",
            "a split export needs its manifest: it is what says every part is there",
        ),
        (
            {"source": LOGS, "query": "{table: t}"},
            "$.query.table",
            "a `logs` source has no `table`",
        ),
        (
            {"query": "{table: t, sql: 'SELECT 1'}"},
            "$.query",
            "give exactly one of `table` and `sql`",
        ),
        (
            {"format": "text", "destination": "out.txt\ncredentials: keep"},
            "$.credentials",
            "`keep` writes the stored ciphertext, which the `text` format's layouts would "
            "carry as the password: use `reveal` for usable lines, a `template`, or another "
            "format for a backup",
        ),
        (
            {"destination": "out.csv\nincremental: {mode: changes, key: id}", "source": LOGS},
            "$.incremental",
            "mode `changes` needs a `sql` source, not `logs`",
        ),
    ],
)
def test_a_rule_refuses_what_a_component_cannot_do(
    tmp_path: Path, parts: dict[str, str], path: str, message: str
) -> None:
    assert (path, message) in problems(tmp_path, **parts)


def test_a_text_format_with_a_template_may_keep_credentials(tmp_path: Path) -> None:
    spec = tmp_path / "keep.yaml"
    text = "{type: text, template: '{{ host }}'}"
    spec.write_text(BASE.format(source=SQL, query="{table: t}", format=text, destination="o.txt"))
    spec.write_text(spec.read_text() + "credentials: keep\n")

    assert load_spec(spec, env={}).credentials.mode == "keep"


def test_every_rule_is_run_and_compares_no_component_name() -> None:
    """The rules ask the registry's entries; none tests a spec for a built-in's name."""
    source = Path(rules.__file__).read_text()
    names = (*registry.FORMATS, *registry.SOURCES)
    assert [n for n in names if re.search(rf'[=!]= *"{n}"|\("{n}",', source)] == []
    public = {
        f
        for name, f in vars(rules).items()
        if inspect.isfunction(f) and f.__module__ == rules.__name__ and not name.startswith("_")
    }
    # engine_problems: what the rule `dask_engine` reports, asked again by `apply --engine`.
    assert public - {rules.check, rules.engine_problems} == set(rules.RULES)
