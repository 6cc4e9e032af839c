"""Editors check specs as exportctl does: the draft-07 schema refuses the same unknown keys."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from exportctl.cli.main import main
from exportctl.demo.build import init_demo
from exportctl.spec import editor_schema
from exportctl.spec.schema import export_spec_schema
from tests.paths import REPO

ROOT = REPO
SHIPPED = sorted(
    [
        *ROOT.glob("specs/*.yaml"),
        *ROOT.glob("examples/*.yaml"),
        *ROOT.glob("exportctl/demo/specs/*.yaml"),
    ]
)
DRAFT_07 = jsonschema.Draft7Validator(editor_schema.draft7_schema())
DRAFT_2020 = jsonschema.Draft202012Validator(export_spec_schema())


def mappings(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], dict]]:
    """Every mapping in a document, with its path."""
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from mappings(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from mappings(value, (*path, index))


def typos(key: str) -> list[str]:
    """A dropped letter, a doubled one and two swapped: `chunksize`, `delimeter` and kin."""
    return [key[:-1], key + key[-1], key[1] + key[0] + key[2:]] if len(key) > 2 else [key + "x"]


def test_the_checked_in_file_is_the_generated_schema() -> None:
    checked_in = (ROOT / "schemas" / editor_schema.FILE_NAME).read_text(encoding="utf-8")
    assert checked_in == editor_schema.text(), (
        "regenerate it: exportctl schema --out schemas/export-spec.draft-07.schema.json"
    )
    jsonschema.Draft7Validator.check_schema(json.loads(checked_in))
    assert "unevaluatedProperties" not in checked_in and "$defs" not in checked_in


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_draft_07_refuses_exactly_the_typos_that_exportctl_refuses(path: Path) -> None:
    """In every mapping of every shipped spec, each key misspelt three ways, and a stray key."""
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert DRAFT_2020.is_valid(document) and DRAFT_07.is_valid(document)
    refused = 0
    for where, mapping in mappings(document):
        for key in [*mapping, "zz_unknown"]:
            for wrong in typos(str(key)) if key != "zz_unknown" else [key]:
                if wrong in mapping:
                    continue
                mapping[wrong] = mapping.get(key, 1)
                by_exportctl = not DRAFT_2020.is_valid(document)
                by_editor = not DRAFT_07.is_valid(document)
                assert by_editor == by_exportctl, (where, wrong)
                refused += by_exportctl
                del mapping[wrong]
    assert refused > 0


def test_chunksize_and_delimeter_are_refused_by_draft_07() -> None:
    spec = {
        "version": 1,
        "name": "x",
        "source": {"type": "sql", "url": "sqlite:///x.db", "chunksize": 10},
        "query": {"table": "t"},
        "format": {"type": "csv", "delimeter": ";"},
        "destination": "out.csv",
    }
    messages = [e.message for e in DRAFT_07.iter_errors(spec)]
    assert any("'chunksize' was unexpected" in m for m in messages), messages
    assert any("'delimeter' was unexpected" in m for m in messages), messages


def test_schema_command_writes_either_draft(tmp_path: Path) -> None:
    out = tmp_path / "new" / "folder" / "spec.schema.json"
    runner = CliRunner()
    assert runner.invoke(main, ["schema", "--out", str(out)]).exit_code == 0
    assert out.read_text(encoding="utf-8") == editor_schema.text()
    published = runner.invoke(main, ["schema", "--draft", "2020-12"])
    assert json.loads(published.output) == export_spec_schema()


def test_demo_specs_point_at_a_local_copy_of_the_editor_schema(tmp_path: Path) -> None:
    made = init_demo(tmp_path, proxies=600, metrics=500, log_lines=400)
    for spec in made.spec_files:
        first = spec.read_text(encoding="utf-8").splitlines()[0]
        reference = first.removeprefix("# yaml-language-server: $schema=")
        assert (spec.parent / reference).resolve().read_text() == editor_schema.text()


def test_schema_command_cannot_write_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    result = CliRunner().invoke(main, ["schema", "--out", str(tmp_path / "file" / "x.json")])
    assert result.exit_code == 2 and "cannot write" in result.output
