"""`exportctl restore`: a configuration export written back, exactly, atomically, no secret
guessed (SC-006)."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import os
import shutil
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
import zstandard
from click.testing import CliRunner
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from exportctl.cli.main import main
from exportctl.demo.build import init_demo
from exportctl.plan.compiler import compile_plan
from exportctl.restore import nested, writers
from exportctl.run import runner
from exportctl.sources.config import files, typed
from exportctl.spec.load import load_spec

NOW = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)
NAMES = (".env", "api.ini", "logging.yaml", "proxywhirl.toml", "sources.json")
SPEC = """\
version: 1
name: cfg
source: {{type: config, path: {config}, env_prefix: PROXYWHIRL_}}
format: {format}
destination: {out}
"""
ENVIRONMENT = {"PROXYWHIRL_REGION": "eu-west", "PROXYWHIRL_API_KEY": "pw_env_9f8e7d6c5b4a3210"}


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("restore") / "demo"
    init_demo(folder, proxies=10, metrics=10, log_lines=10)
    return folder / "config"


@pytest.fixture
def config(pristine: Path, tmp_path: Path) -> Path:
    """A copy of the demo's configuration folder the test may change."""
    copy = tmp_path / "system" / "config"
    shutil.copytree(pristine, copy)
    return copy


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name in [k for k in os.environ if k.startswith("PROXYWHIRL_")]:
        monkeypatch.delenv(name)
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    return ENVIRONMENT


def export(config: Path, out: Path, fmt: str = "yaml") -> Path:
    spec_file = out.parent / f"spec-{out.stem}.yaml"
    spec_file.parent.mkdir(parents=True, exist_ok=True)
    spec_file.write_text(SPEC.format(config=config, format=fmt, out=out))
    result = runner.run(compile_plan(load_spec(spec_file, env={}), now=NOW, run_id="r1"))
    assert result.status == "succeeded", result.error
    return out


def invoke(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(main, ["restore", *args], env=env, catch_exceptions=False)


def values(folder: Path) -> dict[str, Any]:
    """Each file's values, as its format's own reader gives them."""
    return {
        n: files.parse((folder / n).read_bytes(), files.format_of(Path(n)) or "") for n in NAMES
    }


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def rows_of(document: Path) -> list[dict[str, Any]]:
    data = document.read_bytes()
    if document.suffix == ".gz":
        data = gzip.decompress(data)
    elif document.suffix == ".zst":
        data = zstandard.ZstdDecompressor().decompress(data, max_output_size=1 << 24)
    return yaml.safe_load(data.decode("utf-8"))


def masked(document: Path, pristine: Path) -> dict[str, Any]:
    """Each value the export masked, by `file:key`, with the value it had: wherever the
    document's value differs from the file's (read by the file's own reader)."""
    found: dict[str, Any] = {}

    def walk(name: str, ours: Any, theirs: Any, key: str) -> None:
        if isinstance(ours, dict) and isinstance(theirs, dict):
            for k in ours:
                walk(name, ours[k], theirs[k], f"{key}.{k}" if key else k)
        elif isinstance(ours, list) and isinstance(theirs, list):
            for index, (a, b) in enumerate(zip(ours, theirs, strict=True)):
                walk(name, a, b, f"{key}[{index}]")
        elif not typed.same(ours, theirs):
            assert isinstance(ours, str) and "***" in ours, (name, key)
            found[f"{name}:{key}"] = theirs

    for row in rows_of(document):
        if row["path"] is None:
            walk("environment", row["content"], dict(sorted(ENVIRONMENT.items())), "")
        else:
            original = files.parse((pristine / row["path"]).read_bytes(), row["format"])
            walk(row["path"], typed.decode(typed.tagged(row["content"])), original, "")
    return found


#: Secrets given by their key alone, not `file:key` (each key is in one file).
BARE = ("cache.encryption_key", "upstreams[0].password", "webhook.token", "database.url")


def secrets_file(pristine: Path, document: Path, path: Path) -> Path:
    """The secrets the export masked, as an operator keeps them: a YAML file by name."""
    secrets = {}
    for name, value in masked(document, pristine).items():
        key = name.split(":", 1)[1]
        secrets[key if key in BARE else name] = value
    path.write_text(yaml.safe_dump(secrets))
    return path


def damage(config: Path) -> None:
    """Change values in four formats, delete keys in three, and delete a file."""
    toml = config / "proxywhirl.toml"
    toml.write_text(
        toml.read_text()
        .replace("min_size = 50", "min_size = 7")
        .replace("last_reviewed = 2026-10-15", "last_reviewed = 2025-01-01")
        .replace("max_retries = 3\n", "")
    )
    log = config / "logging.yaml"
    log.write_text(log.read_text().replace("level: INFO", "level: DEBUG"))
    ini = config / "api.ini"
    ini.write_text(
        ini.read_text().replace("port = 8000", "port = 9000").replace("burst = 20\n", "")
    )
    env = config / ".env"
    env.write_text(
        env.read_text()
        .replace("PROXYWHIRL_TIMEOUT=10", "PROXYWHIRL_TIMEOUT=99")
        .replace("PROXYWHIRL_LOG_LEVEL=INFO\n", "")
    )
    (config / "sources.json").unlink()


# --- SC-006: export, damage, restore, the same values; export again, the same document ----


@pytest.mark.parametrize("fmt", ["yaml", "{type: json, indent: 2}", "json"])
def test_round_trip_restores_every_format_exactly(
    pristine: Path, config: Path, tmp_path: Path, environment: dict[str, str], fmt: str
) -> None:
    ext = "yaml" if fmt == "yaml" else "json"
    first = export(config, tmp_path / "exports" / f"first.{ext}", fmt)
    damage(config)
    secrets = secrets_file(pristine, first, tmp_path / "secrets.yaml")
    env_file = tmp_path / "restored.env"

    done = invoke(
        str(first),
        "--to",
        str(config),
        "--secrets-from",
        str(secrets),
        "--env-file",
        str(env_file),
        "--json",
    )

    assert done.exit_code == 0, done.output
    report = json.loads(done.output)
    status = {f["path"]: f["status"] for f in report["files"]}
    assert status == {
        ".env": "changed",
        "api.ini": "changed",
        "logging.yaml": "changed",
        "proxywhirl.toml": "changed",
        "sources.json": "created",
        None: "created",
    }
    assert all(f["verified"] for f in report["files"])
    # Every file reads back to exactly the original values, types and key order included.
    assert typed.same(values(config), values(pristine))
    # Changed files keep comments, layout and key order: byte for byte the originals, and so
    # is the deleted JSON file, written as it was.
    assert snapshot(config) == snapshot(pristine)
    assert all(f["identical"] for f in report["files"] if f["kind"] == "file")
    # The environment variables, in a file a service manager loads.
    assert files.parse_env(env_file.read_text()) == dict(sorted(environment.items()))
    # A second export of the restored system is the first, byte for byte.
    again = export(config, tmp_path / "exports" / f"second.{ext}", fmt)
    assert again.read_bytes() == first.read_bytes()


def test_deleted_files_come_back_with_their_values(
    pristine: Path, config: Path, tmp_path: Path, environment: dict[str, str]
) -> None:
    document = export(config, tmp_path / "doc.json", "json")
    for name in NAMES:
        (config / name).unlink()
    secrets = secrets_file(pristine, document, tmp_path / "secrets.yaml")

    done = invoke(str(document), "--to", str(config), "--secrets-from", str(secrets), "--json")

    assert done.exit_code == 0, done.output
    report = json.loads(done.output)
    assert {f["path"]: f["status"] for f in report["files"]} == dict.fromkeys(NAMES, "created")
    assert report["backup"] is None  # nothing was replaced
    assert typed.same(values(config), values(pristine))
    # Their values are the exported ones (the digest is of values, not of bytes).
    identical = {f["path"] for f in report["files"] if f["identical"]}
    assert identical == set(NAMES)
    again = yaml.safe_load(export(config, tmp_path / "again.json", "json").read_text())
    first = yaml.safe_load(document.read_text())
    assert [{**r, "sha256": None} for r in again] == [{**r, "sha256": None} for r in first]


@pytest.mark.parametrize("name", ["doc.yaml", "doc.yaml.gz", "doc.json.zst"])
def test_restoring_an_undamaged_system_changes_nothing(
    pristine: Path, config: Path, tmp_path: Path, environment: dict[str, str], name: str
) -> None:
    document = export(config, tmp_path / name, "json" if ".json" in name else "yaml")
    before = snapshot(config.parent)
    secrets = secrets_file(pristine, document, tmp_path / "secrets.yaml")

    done = invoke(str(document), "--to", str(config), "--secrets-from", str(secrets), "--json")

    assert done.exit_code == 0, done.output
    report = json.loads(done.output)
    assert {f["status"] for f in report["files"]} == {"unchanged"}
    assert all(f["identical"] for f in report["files"])
    assert report["backup"] is None
    assert snapshot(config.parent) == before


# --- redacted values -------------------------------------------------------------------


def test_redacted_values_are_refused_by_name_and_nothing_is_written(
    pristine: Path, config: Path, tmp_path: Path, environment: dict[str, str]
) -> None:
    document = export(config, tmp_path / "doc.json", "json")
    secrets = masked(document, pristine)
    damage(config)
    before = snapshot(tmp_path)

    done = invoke(str(document), "--to", str(config), "--env-file", str(tmp_path / "e.env"))

    assert done.exit_code == 2
    for key in (
        "proxywhirl.toml:cache.encryption_key",
        "proxywhirl.toml:upstreams[0].password",
        "sources.json:sources[1].api_key",
        "sources.json:webhook.token",
        "api.ini:access.api_key",
        "api.ini:database.url",
        ".env:PROXYWHIRL_API_KEY",
        ".env:PROXYWHIRL_CACHE_ENCRYPTION_KEY",
        "environment:PROXYWHIRL_API_KEY",
    ):
        assert key in secrets
    for key in secrets:  # every masked value, each by name
        assert key in done.output
    assert f"{len(secrets)} redacted value(s)" in done.output
    assert snapshot(tmp_path) == before  # no file, no backup, no temporary file

    as_json = invoke(str(document), "--to", str(config), "--json")
    assert as_json.exit_code == 2
    refused = json.loads(as_json.output)
    assert refused["status"] == "refused"
    assert {
        "file": "api.ini",
        "key": "database.url",
        "variable": "EXPORTCTL_SECRET_DATABASE_URL",
    } in refused["redacted"]
    # Without --env-file the environment is not restored, so its secrets are not asked for.
    named = {f"{r['file']}:{r['key']}" for r in refused["redacted"]}
    assert named == {key for key in secrets if not key.startswith("environment:")}


def test_secrets_from_the_environment(
    pristine: Path, config: Path, tmp_path: Path, environment: dict[str, str]
) -> None:
    document = export(config, tmp_path / "doc.yaml")
    damage(config)
    given = yaml.safe_load(secrets_file(pristine, document, tmp_path / "s.yaml").read_text())
    # By file and key, or by the key alone: EXPORTCTL_SECRET_ and the name in capitals.
    env = {
        "EXPORTCTL_SECRET_"
        + "".join(c if c.isalnum() else "_" for c in name.upper())
        .replace("__", "_")
        .strip("_"): value
        for name, value in given.items()
        if not name.startswith("environment:")
    }
    assert "EXPORTCTL_SECRET_CACHE_ENCRYPTION_KEY" in env
    assert "EXPORTCTL_SECRET_API_INI_ACCESS_API_KEY" in env

    done = invoke(str(document), "--to", str(config), "--secrets-from", "env", env=env)

    assert done.exit_code == 0, done.output
    assert typed.same(values(config), values(pristine))
    for value in given.values():  # the diff shows no secret, supplied or found
        assert value not in done.output


def test_secrets_from_a_dotenv_file_must_all_be_there(
    pristine: Path, config: Path, tmp_path: Path, environment: dict[str, str]
) -> None:
    document = export(config, tmp_path / "doc.yaml")
    damage(config)
    given = yaml.safe_load(secrets_file(pristine, document, tmp_path / "s.yaml").read_text())
    del given["webhook.token"]
    dotenv = tmp_path / "secrets.env"
    dotenv.write_text("".join(files.env_line(k, v) + "\n" for k, v in given.items()))

    done = invoke(str(document), "--to", str(config), "--secrets-from", str(dotenv))
    assert done.exit_code == 2
    assert "1 redacted value(s)" in done.output and "sources.json:webhook.token" in done.output
    assert not (config / "sources.json").exists()

    with dotenv.open("a") as more:
        more.write(files.env_line("sources.json:webhook.token", "whk_new_token_1234") + "\n")
    done = invoke(str(document), "--to", str(config), "--secrets-from", str(dotenv))
    assert done.exit_code == 0, done.output
    restored = values(config)
    assert restored["sources.json"]["webhook"]["token"] == "whk_new_token_1234"
    assert restored["api.ini"] == values(pristine)["api.ini"]


# --- dry run, atomicity, backups, a bad document -------------------------------------------


def test_dry_run_prints_the_diff_and_writes_nothing(
    pristine: Path, config: Path, tmp_path: Path, environment: dict[str, str]
) -> None:
    document = export(config, tmp_path / "doc.yaml")
    damage(config)
    secrets = secrets_file(pristine, document, tmp_path / "secrets.yaml")
    before = snapshot(tmp_path)

    done = invoke(str(document), "--to", str(config), "--secrets-from", str(secrets), "--dry-run")

    assert done.exit_code == 0, done.output
    assert snapshot(tmp_path) == before
    assert "-min_size = 7\n+min_size = 50\n" in done.output
    assert "--- a/sources.json" in done.output and "+++ b/sources.json" in done.output
    assert "would restore 5 of 5 file(s)" in done.output
    for secret in yaml.safe_load(secrets.read_text()).values():
        assert secret not in done.output
    planned = json.loads(
        invoke(
            str(document),
            "--to",
            str(config),
            "--secrets-from",
            str(secrets),
            "--dry-run",
            "--json",
        ).output
    )
    assert planned["status"] == "planned" and not any(f["written"] for f in planned["files"])
    assert snapshot(tmp_path) == before


def test_a_failure_mid_restore_leaves_each_file_old_or_new(
    pristine: Path, config: Path, tmp_path: Path, environment: dict[str, str]
) -> None:
    document = export(config, tmp_path / "doc.yaml")
    secrets = secrets_file(pristine, document, tmp_path / "secrets.yaml")
    rows = yaml.safe_load(document.read_text())
    # A last file under a folder that cannot be made: a plain file has its name.
    rows.append({**rows[2], "path": "zz-blocked/logging.yaml"})
    document.write_text(yaml.safe_dump(rows, sort_keys=False))
    (config / "zz-blocked").write_text("not a folder\n")
    damage(config)
    damaged = snapshot(config)

    done = invoke(str(document), "--to", str(config), "--secrets-from", str(secrets), "--json")

    assert done.exit_code == 1
    report = json.loads(done.output)
    assert report["status"] == "failed" and "zz-blocked" in report["error"]
    after = snapshot(config)
    assert sorted(after) == sorted(set(damaged) | {"sources.json"})  # no temp files
    new = {f["path"]: f["sha256"] for f in report["files"]}
    for name, data in after.items():
        old = damaged.get(name)
        assert data == old or hashlib.sha256(data).hexdigest() == new[name], name
    assert after["zz-blocked"] == damaged["zz-blocked"]
    assert [f["path"] for f in report["files"] if not f["written"]] == ["zz-blocked/logging.yaml"]
    # The files it replaced are kept as they were, in a timestamped folder beside the target.
    backup = Path(report["backup"])
    assert backup.parent == config.parent and backup.name.startswith("config.backup-2")
    replaced = (".env", "api.ini", "logging.yaml", "proxywhirl.toml")
    assert snapshot(backup) == {name: damaged[name] for name in replaced}


def test_a_document_that_breaks_its_schema_is_refused_with_the_place(
    config: Path, tmp_path: Path, environment: dict[str, str]
) -> None:
    document = export(config, tmp_path / "doc.yaml")
    rows = yaml.safe_load(document.read_text())
    rows[2]["sha256"] = "not a digest"
    rows[3]["content"]["maintenance"]["last_reviewed"] = {"$date": "yesterday"}
    rows[4]["path"] = "../outside.json"
    document.write_text(yaml.safe_dump(rows, sort_keys=False))
    before = snapshot(tmp_path)

    done = invoke(str(document), "--to", str(config))
    assert done.exit_code == 2
    assert "at $[2].sha256" in done.output
    assert "at $[3].content.maintenance.last_reviewed" in done.output
    assert "at $[4].path" in done.output
    assert "doc.yaml:" in done.output
    assert snapshot(tmp_path) == before

    as_json = json.loads(invoke(str(document), "--to", str(config), "--json").output)
    assert as_json["status"] == "invalid"
    assert {p["path"] for p in as_json["problems"]} >= {"$[2].sha256", "$[4].path"}


def test_help() -> None:
    done = CliRunner().invoke(main, ["restore", "--help"])
    assert done.exit_code == 0
    for option in ("--to", "--dry-run", "--secrets-from", "--env-file", "--json", "--backup-dir"):
        assert option in done.output


# --- the writers, over many values: fresh, edited, and unchanged --------------------------

_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=10)
_offsets = st.integers(-14 * 60, 14 * 60).map(lambda m: dt.timezone(dt.timedelta(minutes=m)))
_toml_leaf = st.one_of(
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(),
    _text,
    st.dates(),
    st.datetimes(),
    st.datetimes(timezones=_offsets),
    st.times(),
)
_yaml_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), _text, st.dates(), st.datetimes()
)
_json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), _text
)


def _tree(leaf: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    nested = st.recursive(
        leaf,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3), st.dictionaries(_text, inner, max_size=3)
        ),
        max_leaves=8,
    )
    return st.dictionaries(_text, nested, max_size=5)


_ini_name = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_. -]{0,8}[A-Za-z0-9_]", fullmatch=True)
_ini_value = st.one_of(
    st.none(),
    st.from_regex(
        r"[^\s\n\r\x0b\x0c\x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]([^\n\r\x0b\x0c\x1c-\x1f\x85\u2028\u2029]{0,10}[^\s])?",
        fullmatch=True,
    ),
)
TREES = {
    "toml": _tree(_toml_leaf),
    "yaml": _tree(_yaml_leaf),
    "json": _tree(_json_leaf),
    "ini": st.dictionaries(
        _ini_name, st.dictionaries(_ini_name, _ini_value, max_size=4), max_size=3
    ),
    "env": st.dictionaries(
        st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True),
        st.text(
            st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\x00"), max_size=10
        ),
        max_size=5,
    ),
}


@pytest.mark.parametrize("fmt", list(TREES))
def test_writers_hold_any_values_fresh_and_edited(fmt: str) -> None:
    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(first=TREES[fmt], second=TREES[fmt])
    def check(first: dict[str, Any], second: dict[str, Any]) -> None:
        fresh = writers.render(fmt, None, first)
        assert typed.same(files.parse(fresh.encode(), fmt), first)
        assert writers.render(fmt, fresh, first) == fresh  # nothing to change, nothing changed
        edited = writers.render(fmt, fresh, second)
        assert typed.same(files.parse(edited.encode(), fmt), second)

    check()


# --- TOML: key order everywhere (inline tables, arrays of tables, nested), public API only -

_toml_scalar = st.one_of(st.booleans(), st.integers(-(2**63), 2**63 - 1), _text, st.dates())
_toml_value = st.recursive(
    _toml_scalar,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(_text, inner, max_size=3)),
    max_leaves=12,
)
_toml_document = st.dictionaries(_text, _toml_value, max_size=4)


def _key_orders(value: Any) -> Any:
    """The keys of every table, in order, all the way down."""
    if isinstance(value, dict):
        return [(k, _key_orders(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [_key_orders(v) for v in value]
    return None


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(first=_toml_document, second=_toml_document)
@example(first={"a": [False, {"t": {}, "b": False}]}, second={"a": [{"t": {}, "b": 1}]})
def test_toml_keeps_every_key_order_fresh_and_edited(
    first: dict[str, Any], second: dict[str, Any]
) -> None:
    fresh = writers.render("toml", None, first)
    for text, value in ((fresh, first), (writers.render("toml", fresh, second), second)):
        read = tomllib.loads(text)  # an independent reader
        assert read == value
        assert _key_orders(read) == _key_orders(value)


def test_a_new_toml_key_lands_after_its_neighbour_and_every_other_line_stays() -> None:
    old = (
        "# head\ntitle = 'x'   # kept\n[server]\nhost = \"a\"  # the host\n\n# port next\n"
        "port = 1\n\n[other]\nx = 1\ninline = { a = 1, c = 3 }\n"
    )
    value = {
        "title": "x",
        "server": {"host": "a", "timeout": 5, "port": 1},
        "other": {"x": 1, "inline": {"a": 1, "b": 2, "c": 3}},
    }
    text = nested.toml(old, value)  # the edit itself, not a fresh file in its place
    assert _key_orders(tomllib.loads(text)) == _key_orders(value)
    lines = text.splitlines()
    assert lines[lines.index('host = "a"  # the host') + 1] == "timeout = 5"
    assert [line for line in lines if line not in ("timeout = 5",) and "inline" not in line] == [
        line for line in old.splitlines() if "inline" not in line
    ]
