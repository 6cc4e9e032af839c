"""`compile_plan` renders templates, resolves paths and picks compression, purely."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from exportctl.cli.describe import describe_plan
from exportctl.compression import member_name
from exportctl.errors import SpecError
from exportctl.model import Destination, ExportSpec
from exportctl.plan.compiler import ExportPlan, compile_plan, new_run_id
from exportctl.spec.load import load_spec

NOW = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
RUN_ID = "20240506T070809Z-abc123"

SPEC = """\
version: 1
name: proxies
description: Every proxy.
source: {type: sql, url: "sqlite:///system.db"}
query: {table: proxy_identities}
format: csv
"""


@pytest.fixture
def specs_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "specs"
    folder.mkdir()
    return folder


def spec_with(folder: Path, destination: str, *lines: str) -> ExportSpec:
    path = folder / "spec.yaml"
    document = {**yaml.safe_load(SPEC), "destination": destination}
    document.update(yaml.safe_load("\n".join(lines)) or {})
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return load_spec(path, env={})


def plan_for(folder: Path, destination: str, *lines: str) -> ExportPlan:
    return compile_plan(spec_with(folder, destination, *lines), now=NOW, run_id=RUN_ID)


DESTINATION_TEMPLATES = [
    ("{{ spec.name }}.csv", "proxies.csv"),
    ("{{ run.id }}.csv", f"{RUN_ID}.csv"),
    ("{{ now | strftime('%Y%m%dT%H%M%SZ') }}.csv", "20240506T070809Z.csv"),
    ("{{ today }}.csv", "2024-05-06.csv"),
    ("{{ today | strftime('%d.%m.%Y') }}.csv", "06.05.2024.csv"),
    ("{{ spec.name }}/{{ now | strftime('%Y/%m') }}/all.csv", "proxies/2024/05/all.csv"),
    ("{{ spec.name | upper }}-{{ range(3) | join('') }}.csv", "PROXIES-012.csv"),
]


@pytest.mark.parametrize(("template", "expected"), DESTINATION_TEMPLATES)
def test_destination_template_is_rendered(specs_dir: Path, template: str, expected: str) -> None:
    plan = plan_for(specs_dir, template)

    assert plan.destination == str(specs_dir / expected)


def test_now_is_taken_in_utc(specs_dir: Path) -> None:
    east_of_utc = datetime(2024, 5, 6, 1, 30, tzinfo=timezone(timedelta(hours=3)))
    spec = spec_with(specs_dir, "{{ today }}-{{ now | strftime('%H%M') }}.csv")

    plan = compile_plan(spec, now=east_of_utc, run_id=RUN_ID)

    assert plan.now == east_of_utc
    assert plan.now.tzinfo == UTC
    assert Path(plan.destination).name == "2024-05-05-2230.csv"


DESTINATION_PATHS = [
    pytest.param("out.csv", "{specs}/out.csv", id="relative"),
    pytest.param("../exports/out.csv", "{tmp}/exports/out.csv", id="parent-folder"),
    pytest.param("./a/../b/out.csv", "{specs}/b/out.csv", id="normalized"),
    pytest.param("{tmp}/abs/out.csv", "{tmp}/abs/out.csv", id="absolute"),
    pytest.param("file://{tmp}/abs/out.csv", "{tmp}/abs/out.csv", id="file-uri"),
    pytest.param("~/out.csv", "{tmp}/home/out.csv", id="home"),
    pytest.param("s3://bucket/out.csv", "s3://bucket/out.csv", id="remote-uri-as-is"),
]


@pytest.mark.parametrize(("destination", "expected"), DESTINATION_PATHS)
def test_destination_path_resolves_against_the_spec_folder(
    tmp_path: Path,
    specs_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    destination: str,
    expected: str,
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    places = {"tmp": str(tmp_path), "specs": str(specs_dir)}

    plan = plan_for(specs_dir, destination.format(**places))

    assert plan.destination == expected.format(**places)


COMPRESSIONS = [
    ("out.csv", "none", "out.csv"),
    ("out.csv.gz", "gzip", "out.csv"),
    ("out.jsonl.zst", "zstd", "out.jsonl"),
    ("out.csv.zip", "zip", "out.csv"),
    ("{{ spec.name }}.txt.zip", "zip", "proxies.txt"),
    ("{{ spec.name }}-{{ today }}.json.gz", "gzip", "proxies-2024-05-06.json"),
]


@pytest.mark.parametrize(("destination", "codec", "inner_name"), COMPRESSIONS)
def test_compression_is_inferred_from_the_extension(
    specs_dir: Path, destination: str, codec: str, inner_name: str
) -> None:
    plan = plan_for(specs_dir, destination)

    name = Path(plan.destination).name
    assert (plan.compression, member_name(name)) == (codec, inner_name)


@pytest.mark.parametrize("codec", ["none", "gzip", "zstd", "zip"])
def test_stated_compression_that_matches_the_extension_is_kept(specs_dir: Path, codec: str) -> None:
    extension = {"none": "", "gzip": ".gz", "zstd": ".zst", "zip": ".zip"}[codec]

    plan = plan_for(specs_dir, f"out.csv{extension}", f"compression: {codec}")

    assert plan.compression == codec


def test_rendered_name_that_contradicts_the_compression_is_a_spec_error(specs_dir: Path) -> None:
    spec = spec_with(specs_dir, "{{ spec.name }}", "compression: gzip")

    with pytest.raises(SpecError) as caught:
        compile_plan(spec, now=NOW, run_id=RUN_ID)

    [problem] = caught.value.problems
    assert problem.path == "$.compression"
    assert "name it `proxies.gz`" in problem.message


def test_query_params_are_rendered_and_other_values_kept(specs_dir: Path) -> None:
    spec = spec_with(
        specs_dir,
        "out.csv",
        "query:",
        "  sql: SELECT * FROM t WHERE d < :day AND h < :hour AND n > :n",
        "  params: {day: '{{ today }}', hour: \"{{ now | strftime('%H') }}\", n: 3, flag: true,"
        " none: null}",
    )

    plan = compile_plan(spec, now=NOW, run_id=RUN_ID)

    assert plan.request.query.params == (
        ("day", "2024-05-06"),
        ("hour", "07"),
        ("n", 3),
        ("flag", True),
        ("none", None),
    )
    assert dict(spec.query.params)["day"] == "{{ today }}"


def test_request_reads_only_the_columns_the_fields_use(specs_dir: Path) -> None:
    spec = spec_with(
        specs_dir,
        "out.csv",
        "fields: [url, {name: port, as: p}, {as: endpoint, template: '{{ host }}:{{ port }}'}]",
    )

    plan = compile_plan(spec, now=NOW, run_id=RUN_ID)

    assert plan.request.columns == ("url", "port", "host")


def test_request_reads_every_column_without_fields(specs_dir: Path) -> None:
    assert plan_for(specs_dir, "out.csv").request.columns is None


def test_compile_plan_is_pure(tmp_path: Path, specs_dir: Path) -> None:
    spec = spec_with(specs_dir, "../exports/{{ spec.name }}-{{ run.id }}.csv.gz")
    before = sorted(tmp_path.rglob("*"))

    first = compile_plan(spec, now=NOW, run_id=RUN_ID)
    second = compile_plan(spec, now=NOW, run_id=RUN_ID)

    assert first == second
    assert first.run_id == RUN_ID
    assert sorted(tmp_path.rglob("*")) == before
    assert compile_plan(spec, now=NOW, run_id="other").destination != first.destination


UNSAFE_TEMPLATES = [
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ spec.__class__ }}",
    "{{ now.__class__.__init__.__globals__ }}",
    "{{ lipsum.__globals__['os'] }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
]


@pytest.mark.parametrize("template", UNSAFE_TEMPLATES)
def test_sandbox_refuses_unsafe_attribute_access(specs_dir: Path, template: str) -> None:
    # Refused when the spec loads (validate), not first when a run renders it.
    with pytest.raises(SpecError, match="unsafe|not available") as caught:
        spec_with(specs_dir, f"{template}.csv")

    assert "<class" not in str(caught.value)
    assert "builtins" not in str(caught.value)  # names the attribute, never what it holds


@pytest.mark.parametrize(
    ("where", "template", "path"),
    [
        ("destination", "{{ spec.nmae }}.csv", "$.destination.uri"),
        ("destination", "{{ run.id.nope }}.csv", "$.destination.uri"),
        ("params", "{{ run.start }}", "$.query.params.day"),
    ],
)
def test_undefined_template_attribute_is_a_clear_spec_error(
    specs_dir: Path, where: str, template: str, path: str
) -> None:
    if where == "destination":
        spec = spec_with(specs_dir, template)
    else:
        spec = spec_with(
            specs_dir, "out.csv", f"query: {{sql: 'SELECT :day', params: {{day: '{template}'}}}}"
        )

    with pytest.raises(SpecError) as caught:
        compile_plan(spec, now=NOW, run_id=RUN_ID)

    [problem] = caught.value.problems
    assert problem.path == path
    assert problem.file == str(spec.path)
    assert "is undefined" in problem.message or "has no attribute" in problem.message


def test_undefined_template_name_is_a_spec_error_even_past_the_loader(specs_dir: Path) -> None:
    spec = replace(spec_with(specs_dir, "out.csv"), destination=Destination("{{ nope }}.csv"))

    with pytest.raises(SpecError, match="template error: 'nope' is undefined"):
        compile_plan(spec, now=NOW, run_id=RUN_ID)


def test_run_ids_started_in_one_second_do_not_collide():
    """A daemon starts dozens of runs at one tick; 24 random bits collided in a few thousand."""
    now = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    ids = [new_run_id(now) for _ in range(100_000)]  # 24 bits: ~300 pairs; 48 bits: ~0

    assert len(set(ids)) == len(ids)
    assert all(i.startswith("20240506T070809Z-") for i in ids)


def test_plan_shows_where_a_symlinked_destination_lands(specs_dir: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "srv" / "exports"
    elsewhere.mkdir(parents=True)
    (specs_dir / "out").symlink_to(elsewhere)
    plan = plan_for(specs_dir, "out/proxies.csv")

    described = describe_plan(plan)

    assert described["destination"] == str(specs_dir / "out" / "proxies.csv")
    assert described["destination_resolved"] == str(elsewhere / "proxies.csv")


@pytest.mark.parametrize(
    ("destination", "what"),
    [
        ("spec.yaml", "the spec file"),
        ("./sub/../spec.yaml", "the spec file"),
        ("link.csv", "the spec file"),
        ("db.sqlite", "the source database"),
        ("db.sqlite-wal", "the source database"),
    ],
)
def test_a_destination_never_names_an_input(specs_dir: Path, destination: str, what: str) -> None:
    (specs_dir / "sub").mkdir()
    (specs_dir / "link.csv").symlink_to(specs_dir / "spec.yaml")
    spec = spec_with(specs_dir, "out.csv", 'source: {type: sql, url: "sqlite:///db.sqlite"}')
    spec = replace(spec, destination=replace(spec.destination, uri=destination))

    with pytest.raises(SpecError, match=what):
        compile_plan(spec, now=NOW, run_id=RUN_ID)
