"""The `engine` section: its partitions parsed, and refused (at file:line and key path)
where key ranges cannot give exactly the rows of one export today."""

from __future__ import annotations

from pathlib import Path

import pytest

from exportctl import model as m
from exportctl.errors import SpecError
from exportctl.spec.load import load_spec

SPEC = """\
version: 1
name: cut
source: {source}
query: {query}
format: {format}
destination: {destination}
engine:
  type: local
  partitions: {{by: id, {cut}}}
{more}"""
SQL = "{type: sql, url: 'sqlite:///system.db'}"


def _write(tmp_path: Path, **parts: str) -> Path:
    given = {
        "source": SQL,
        "query": "{table: t}",
        "format": "csv",
        "destination": "out.csv",
        "cut": "count: 4",
        "more": "",
    }
    spec = tmp_path / "cut.yaml"
    spec.write_text(SPEC.format(**{**given, **parts}))
    return spec


def test_partitions_parse_into_the_engine(tmp_path: Path) -> None:
    spec = load_spec(_write(tmp_path), env={})
    assert spec.engine == m.Engine("local", m.Partitioning("id", count=4))
    sized = load_spec(_write(tmp_path, cut="size: 1000000"), env={})
    assert sized.engine.partitions == m.Partitioning("id", size=1_000_000)
    daily = load_spec(_write(tmp_path, cut="every: 1d"), env={})
    assert daily.engine.partitions == m.Partitioning("id", every="1d")


def test_no_engine_section_is_the_local_engine_uncut(tmp_path: Path) -> None:
    spec = tmp_path / "plain.yaml"
    spec.write_text(_write(tmp_path).read_text().split("engine:")[0])
    assert load_spec(spec, env={}).engine == m.Engine()


@pytest.mark.parametrize(
    ("parts", "line", "path", "says"),
    [
        (
            {"source": "{type: logs, path: app.log}", "query": "{}"},
            9,
            "$.engine.partitions",
            "a `logs` source cannot be partitioned: a partition reads one range of a key "
            "column, which only a `sql` or `prometheus` source can do today",
        ),
        (
            {"more": "incremental: {mode: changes, key: id}\n"},
            9,
            "$.engine.partitions",
            "mode `changes` diffs the whole source against one snapshot",
        ),
        (
            {"more": "reshape: {wide: {index: a, columns: b, values: c, names: [x]}}\n"},
            9,
            "$.engine.partitions",
            "`reshape` gathers a wide row from rows a partition boundary could split",
        ),
        (
            {"format": "json", "destination": "out.json"},
            9,
            "$.engine.partitions",
            "each partition writes parts of its own, and a JSON array cannot be split",
        ),
        (
            {"destination": "out.csv.zip"},
            9,
            "$.engine.partitions",
            "zip archives do not join by concatenation; compress with gzip or zstd instead",
        ),
        (
            {"query": "{table: t, limit: 10}"},
            4,
            "$.query.limit",
            "`limit` keeps the first rows of the whole export, which no partition knows",
        ),
        (
            {"query": "{table: t, order_by: [name]}"},
            4,
            "$.query.order_by",
            "`order_by` must start with `id`, ascending",
        ),
        (
            {"cut": "every: 0.5s"},
            9,
            "$.engine.partitions.every",
            "a period shorter than a second is no period to cut by",
        ),
        (
            {"destination": "{uri: out.csv, manifest: false}"},
            6,
            "$.destination.manifest",
            "a partitioned export needs its manifest",
        ),
    ],
)
def test_what_partitions_cannot_make_exact_is_refused_where_it_is_written(
    tmp_path: Path, parts: dict[str, str], line: int, path: str, says: str
) -> None:
    spec = _write(tmp_path, **parts)
    with pytest.raises(SpecError) as caught:
        load_spec(spec, env={})
    found = [(p.file, p.line, p.path) for p in caught.value.problems if says in p.message]
    assert found == [(str(spec), line, path)], [str(p) for p in caught.value.problems]


@pytest.mark.parametrize(
    "cut", ["count: 0", "count: 2, size: 3", "every: 1 day", "size: -1", "every: 1d, count: 2"]
)
def test_the_schema_refuses_a_cut_that_is_not_one_count_size_or_period(
    tmp_path: Path, cut: str
) -> None:
    spec = _write(tmp_path, cut=cut)
    with pytest.raises(SpecError) as caught:
        load_spec(spec, env={})
    assert {p.line for p in caught.value.problems} == {9}
    assert all(p.path.startswith("$.engine.partitions") for p in caught.value.problems)


def test_an_engine_type_other_than_local_or_dask_is_refused(tmp_path: Path) -> None:
    spec = _write(tmp_path)
    spec.write_text(spec.read_text().replace("type: local", "type: spark"))
    with pytest.raises(SpecError) as caught:
        load_spec(spec, env={})
    assert [(p.line, p.path) for p in caught.value.problems] == [(8, "$.engine.type")]


def test_the_dask_engine_parses_with_its_scheduler(tmp_path: Path) -> None:
    spec = _write(tmp_path)
    spec.write_text(spec.read_text().replace("type: local", "type: dask\n  address: ${SCHEDULER}"))
    loaded = load_spec(spec, env={"SCHEDULER": "tcp://10.0.0.5:8786"})
    assert loaded.engine == m.Engine("dask", m.Partitioning("id", count=4), "tcp://10.0.0.5:8786")


@pytest.mark.parametrize(
    ("engine", "more", "line", "path", "says"),
    [
        ("type: dask", "", 7, "$.engine", "the `dask` engine runs each partition as a task"),
        (
            "type: dask\n  partitions: {by: id, count: 2}",
            "validation: {on_invalid: quarantine}\n",
            10,
            "$.validation.on_invalid",
            "the `dask` engine cannot quarantine yet",
        ),
        (
            "type: local\n  address: tcp://h:8786",
            "",
            9,
            "$.engine.address",
            "`address` names a Dask scheduler: set `type: dask`",
        ),
        (
            "type: local\n  merge: true",
            "",
            9,
            "$.engine.merge",
            "`merge` joins a partitioned export's parts: give `partitions`",
        ),
        (
            "merge: true\n  partitions: {by: id, count: 2}",
            "",
            8,
            "$.engine.merge",
            "`merge` writes one file, `destination.split` parts: choose one",
        ),
    ],
    ids=["no-partitions", "quarantine", "address-on-local", "merge-uncut", "merge-split"],
)
def test_what_the_dask_engine_cannot_run_is_refused_where_it_is_written(
    tmp_path: Path, engine: str, more: str, line: int, path: str, says: str
) -> None:
    spec = tmp_path / "cut.yaml"
    split = ", split: {rows: 10}" if "split" in says else ""
    spec.write_text(
        f"version: 1\nname: cut\nsource: {SQL}\nquery: {{table: t}}\nformat: csv\n"
        f"destination: {{uri: out.csv{split}}}\nengine:\n  {engine}\n{more}"
    )
    with pytest.raises(SpecError) as caught:
        load_spec(spec, env={})
    found = [(p.line, p.path) for p in caught.value.problems if says in p.message]
    assert found == [(line, path)], [str(p) for p in caught.value.problems]
