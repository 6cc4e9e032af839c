"""The `config` source: a configuration folder as one portable, typed, redacted document."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exportctl.demo.build import init_demo
from exportctl.errors import SpecError
from exportctl.formats.json import JsonEncoder
from exportctl.formats.options import JsonOptions, YamlOptions
from exportctl.formats.yaml import YamlEncoder
from exportctl.plan.compiler import compile_plan
from exportctl.restore import document
from exportctl.run import runner
from exportctl.run.result import RunResult
from exportctl.sources.config import files, typed
from exportctl.sources.config.source import _frame
from exportctl.spec.load import load_spec

NOW = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)
FORMATS = {".env": "env", "api.ini": "ini", "logging.yaml": "yaml"}
FORMATS |= {"proxywhirl.toml": "toml", "sources.json": "json"}
SPEC = """\
version: 1
name: {name}
source: {{type: config, path: {config}, env_prefix: PROXYWHIRL_}}
format: {format}
destination: out/{name}.{ext}
{extra}
"""


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("config") / "demo"
    init_demo(folder, proxies=10, metrics=10, log_lines=10)
    return folder


def export(
    folder: Path, config: Path, fmt: str = "yaml", extra: str = "", name: str = "cfg"
) -> RunResult:
    ext = "json" if "json" in fmt else "yaml"
    spec_file = folder / f"{name}.yaml"
    spec_file.write_text(
        SPEC.format(name=name, config=config, format=fmt, ext=ext, extra=extra), encoding="utf-8"
    )
    result = runner.run(compile_plan(load_spec(spec_file, env={}), now=NOW, run_id="r1"))
    assert result.status == "succeeded", result.error
    return result


def read_document(path: Path) -> list[dict[str, Any]]:
    text = path.read_text(encoding="utf-8")
    return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)


def secrets_of(config: Path) -> list[str]:
    """Every secret the demo's configuration holds, read by independent parsers."""
    import configparser
    import tomllib

    toml = tomllib.loads((config / "proxywhirl.toml").read_text())
    sources = json.loads((config / "sources.json").read_text())
    ini = configparser.ConfigParser(interpolation=None)
    ini.read_string((config / "api.ini").read_text())
    env = dict(
        line.split("=", 1)
        for line in (config / ".env").read_text().splitlines()
        if line and not line.startswith("#")
    )
    password = ini["database"]["url"].split(":")[2].split("@")[0]
    return [
        toml["cache"]["encryption_key"],
        toml["upstreams"][0]["password"],
        sources["sources"][1]["api_key"],
        sources["webhook"]["token"],
        ini["access"]["api_key"],
        password,
        env["PROXYWHIRL_API_KEY"],
        env["PROXYWHIRL_CACHE_ENCRYPTION_KEY"],
    ]


@pytest.mark.parametrize("fmt", ["yaml", "{type: json, indent: 2}", "json"])
def test_each_file_is_a_row_with_its_path_format_sha256_and_values(
    demo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    monkeypatch.setenv("PROXYWHIRL_REGION", "eu-west")
    config = demo / "config"
    result = export(tmp_path, config, fmt, extra="redact: false")
    rows = read_document(Path(result.uri))

    jsonschema.validate(typed.tagged(rows), document.schema())
    by_path = {row["path"]: row for row in rows}
    assert [r["path"] for r in rows] == [*sorted(FORMATS), None]
    for name, fmt_name in FORMATS.items():
        data = (config / name).read_bytes()
        row = by_path[name]
        assert (row["kind"], row["format"]) == ("file", fmt_name)
        # The digest is of the content as exported, never of the file's bytes.
        assert row["sha256"] == typed.digest(row["content"]) != hashlib.sha256(data).hexdigest()
        # The values as each format's own reader gives them, types and all.
        assert typed.same(typed.decode(typed.tagged(row["content"])), files.parse(data, fmt_name))
    environment = by_path[None]
    assert environment["kind"] == "environment"
    assert environment["content"]["PROXYWHIRL_REGION"] == "eu-west"
    assert all(name.startswith("PROXYWHIRL_") for name in environment["content"])
    assert any("holds its secrets as they are" in w for w in result.warnings)


def test_toml_dates_times_and_offsets_keep_their_types(demo: Path, tmp_path: Path) -> None:
    rows = read_document(Path(export(tmp_path, demo / "config", "json").uri))
    toml = next(r for r in rows if r["path"] == "proxywhirl.toml")
    maintenance = typed.decode(toml["content"])["maintenance"]

    assert maintenance["last_reviewed"] == dt.date(2026, 10, 15)
    assert maintenance["window_start"] == dt.time(2, 30)
    assert maintenance["next_window"].utcoffset() == dt.timedelta(hours=1)
    assert maintenance["created_at"] == dt.datetime(2026, 1, 5, 9, 15, 30, 250000)
    assert maintenance["created_at"].tzinfo is None


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_secrets_are_masked_by_default(demo: Path, tmp_path: Path, fmt: str) -> None:
    result = export(tmp_path, demo / "config", fmt)
    written = Path(result.uri).read_text(encoding="utf-8")

    secrets = secrets_of(demo / "config")
    assert len(secrets) == 8 and all(len(s) >= 16 for s in secrets)
    assert not [s for s in secrets if s in written]
    assert written.count("***") >= 8
    assert not [w for w in result.warnings if "redact" in w]


def test_a_config_export_must_mask_to_be_restorable(demo: Path, tmp_path: Path) -> None:
    spec_file = tmp_path / "cfg.yaml"
    extra = "redact: {mode: hash, hash_key_env: HASH_KEY}"
    spec_file.write_text(
        SPEC.format(name="cfg", config=demo, format="yaml", ext="yaml", extra=extra)
    )
    with pytest.raises(SpecError) as raised:
        load_spec(spec_file, env={"HASH_KEY": "k" * 32})
    assert "$.redact" in str(raised.value) and "mode: mask" in str(raised.value)


@pytest.mark.parametrize(
    ("source", "complaint"),
    [
        ("{type: config, path: ., env_prefix: 'PROXY-'}", "env_prefix"),
        ("{type: config, include: ['../*.toml']}", "inside `path`"),
        ("{type: config, colour: red}", "colour"),
    ],
)
def test_bad_options_are_spec_errors(tmp_path: Path, source: str, complaint: str) -> None:
    spec_file = tmp_path / "bad.yaml"
    spec_file.write_text(
        f"version: 1\nname: bad\nsource: {source}\nformat: yaml\ndestination: out.yaml\n"
    )
    with pytest.raises(SpecError) as raised:
        load_spec(spec_file, env={})
    assert "bad.yaml:3 at $.source" in str(raised.value)
    assert complaint in str(raised.value)


def test_a_file_in_no_known_format_or_broken_fails_the_run(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.mkdir()
    (config / "a.toml").write_text("x = [1,\n")
    spec_file = tmp_path / "s.yaml"
    spec_file.write_text(SPEC.format(name="s", config=config, format="yaml", ext="yaml", extra=""))
    result = runner.run(compile_plan(load_spec(spec_file, env={}), now=NOW, run_id="r1"))

    assert result.status == "failed"
    assert "a.toml is not valid TOML" in (result.error or "")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


# --- typed values through the real encoders ---------------------------------------------

_keys = st.one_of(st.text(max_size=8), st.sampled_from(typed.TAGS))
_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=12),
    st.dates(),
    st.datetimes(),
    st.datetimes(
        timezones=st.builds(
            dt.timezone, st.integers(-14 * 60, 14 * 60).map(lambda m: dt.timedelta(minutes=m))
        )
    ),
    st.times(),
)
_values = st.recursive(
    _leaves,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_keys, inner, max_size=4)),
    max_leaves=12,
)


VALIDATOR = jsonschema.Draft202012Validator(document.schema())


def _through(encoder: Any, options: Any, content: Any, parse: Any) -> Any:
    stream = io.BytesIO()
    row = {"kind": "file", "path": "x", "format": "yaml", "sha256": "0" * 64}
    writer = encoder(options, stream)
    writer.write(_frame([{**row, "content": content}]))
    writer.close()
    (read,) = parse(stream.getvalue())
    VALIDATOR.validate(typed.tagged([read]))
    return typed.decode(typed.tagged(read["content"]))


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=st.dictionaries(_keys, _values, max_size=5))
def test_any_value_reads_back_exactly_from_yaml_and_json(value: dict[str, Any]) -> None:
    content = typed.encode(value)

    assert typed.same(_through(YamlEncoder, YamlOptions(), content, yaml.safe_load), value)
    for indent in (None, 2):
        back = _through(JsonEncoder, JsonOptions(indent=indent), content, json.loads)
        assert typed.same(back, value)
