"""Every command's `--json` validates against its schema in schemas/cli/: one shape for run
ids (`run_id`), timestamps (`...T...Z`), files (objects) and estimates (integer or null)."""

from __future__ import annotations

import json
from typing import Any

import click
import pytest
from click.testing import CliRunner
from jsonschema import Draft202012Validator

from exportctl.cli.main import main
from exportctl.demo.build import init_demo
from tests.paths import REPO

SCHEMAS = REPO / "schemas" / "cli"

INCREMENTAL = """\
version: 1
name: inc
source: {{type: sql, url: "sqlite:///{db}"}}
query: {{table: validation_results}}
incremental: {{cursor: validated_at, key: id}}
format: jsonl
destination: "out/{{{{ spec.name }}}}-{{{{ run.id }}}}.jsonl"
"""
POOL = """\
version: 1
name: pool
source: {{type: sql, url: "sqlite:///{db}"}}
query: {{table: proxy_identities}}
format: csv
compression: gzip
destination: "out/{{{{ spec.name }}}}-{{{{ run.id }}}}.csv.gz"
"""
CONFIG = """\
version: 1
name: cfg
source: {{type: config, path: "{config}"}}
format: yaml
destination: out/cfg.yaml
"""


def json_commands(group: click.Group, prefix: str = "") -> set[str]:
    """Every command that takes --json, as `watermark-show`."""
    found = set()
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found |= json_commands(command, f"{prefix}{name}-")
        elif any("--json" in p.opts for p in command.params if isinstance(p, click.Option)):
            found.add(prefix + name)
    return found


def test_every_command_with_json_has_a_schema() -> None:
    assert json_commands(main) <= {p.stem for p in SCHEMAS.glob("*.json")}


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Any]]:
    """Each command's --json output, run for real against a demo and its ledger."""
    root = tmp_path_factory.mktemp("json")
    init_demo(root / "demo", proxies=30, metrics=50, log_lines=20)
    (root / "specs").mkdir()
    spec = root / "specs" / "inc.yaml"
    spec.write_text(INCREMENTAL.format(db=root / "demo" / "system.db"))
    pool = root / "specs" / "pool.yaml"
    pool.write_text(POOL.format(db=root / "demo" / "system.db"))
    (root / "specs" / "cfg.yaml").write_text(CONFIG.format(config=root / "demo" / "config"))
    env = {"EXPORTCTL_STATE": str(root / "state.db"), "PROXYWHIRL_API_KEY": "k"}
    seen: dict[str, list[Any]] = {}

    def run(name: str, *args: str, code: int = 0) -> Any:
        result = CliRunner().invoke(main, [*args, "--json"], env=env, catch_exceptions=False)
        assert result.exit_code == code, result.output
        document = json.loads(result.stdout)
        seen.setdefault(name, []).append(document)
        return document

    specs = str(root / "specs")
    run("validate", "validate", specs)
    run("plan", "plan", specs)
    run("plan", "plan", "--no-count", specs)
    run("plan", "apply", "--dry-run", specs)
    first = run("apply", "apply", specs)
    run("apply", "apply", "--only", "inc", "--only", "pool", specs)
    run_id = next(r["run_id"] for r in first if r["spec"] == "inc")
    run("history", "history")
    run("status", "status", run_id)
    run("verify", "verify", run_id)
    run("watermark-show", "watermark", "show", "inc")
    run("watermark-show", "watermark", "show", "none-such")
    run("audit", "audit")
    pool.write_text(pool.read_text() + "retention: {keep_last: 1}\n")
    run("prune", "prune", "--dry-run", specs)
    export = str(root / "specs" / "out" / "cfg.yaml")
    refused = run("restore", "restore", export, "--to", str(root / "restored"), code=2)
    env |= {r["variable"]: "s3cret" for r in refused["redacted"]}
    run("restore", "restore", export, "--to", str(root / "restored"), "--secrets-from", "env")
    return seen


@pytest.mark.parametrize("name", sorted(p.stem for p in SCHEMAS.glob("*.json")))
def test_the_json_output_validates_against_its_schema(
    outputs: dict[str, list[Any]], name: str
) -> None:
    schema = json.loads((SCHEMAS / f"{name}.json").read_text())
    Draft202012Validator.check_schema(schema)
    documents = outputs[name]
    for document in documents:
        errors = [e.message for e in Draft202012Validator(schema).iter_errors(document)]
        assert not errors, (name, errors)
    # Something to check: every list output held an item (an empty list proves nothing).
    assert any(d not in ([], None) for d in documents)
