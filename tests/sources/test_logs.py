"""The `logs` source, through the CLI: loguru's serialized lines, rotated .gz files included.

Every expectation comes from reading the demo's log files again with `gzip` and `json`,
never from exportctl's own parser.
"""

from __future__ import annotations

import csv
import gzip
import json
import re
import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

from exportctl.demo.build import init_demo
from tests.support.cli import apply_outcome

LOG_LINES = 600
LOGS = "logs/proxywhirl*.log*"
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?(Z|\+00:00)$")
INTEGERS = ("line", "process", "thread")
NULLABLE_TEXT = ("exception", "component", "request_id", "extra")

Row = dict[str, Any]


# --- the demo, and reading it independently -------------------------------------------


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("demo")
    init_demo(root, proxies=60, metrics=10, log_lines=LOG_LINES)
    return root / "logs"


@pytest.fixture
def demo(tmp_path: Path, pristine: Path) -> Path:
    """A folder of its own holding a copy of the demo's logs/, which a test may change."""
    shutil.copytree(pristine, tmp_path / "logs")
    return tmp_path


def raw_lines(path: Path) -> list[bytes]:
    """The file's lines, without their line ends, decompressed if it is gzipped."""
    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    assert data.endswith(b"\n")
    return data[:-1].split(b"\n")


def parsed(line: bytes, file: str) -> Row:
    """A loguru serialized line as the row it should become."""
    record = json.loads(line.decode("utf-8"))["record"]
    return {
        "timestamp": datetime.fromisoformat(record["time"]["repr"]).astimezone(UTC),
        "level": record["level"]["name"],
        "message": record["message"],
        "logger": record["name"],
        "module": record["module"],
        "function": record["function"],
        "line": record["line"],
        "process": record["process"]["id"],
        "thread": record["thread"]["id"],
        "exception": record["exception"],
        "component": record["extra"].get("component"),
        "request_id": record["extra"].get("request_id"),
        "extra": record["extra"] or None,
        "file": file,
    }


def expected_rows(logs: Path) -> list[Row]:
    """Every line of every log file in the folder, in time order."""
    rows = [
        parsed(line, f.name) for f in sorted(logs.glob("proxywhirl*.log*")) for line in raw_lines(f)
    ]
    return sorted(rows, key=lambda r: r["timestamp"])  # stable: a file's order breaks ties


def exported(values: dict[str, Any]) -> Row:
    """An exported row (JSONL, or CSV typed back) in the shape of `parsed`."""
    stamp = values["timestamp"]
    assert ISO_UTC.match(stamp), f"not ISO-8601 UTC: {stamp!r}"
    return {
        **values,
        "timestamp": datetime.fromisoformat(stamp),
        "exception": values["exception"] and json.loads(values["exception"]),
        "extra": values["extra"] and json.loads(values["extra"]),
        "file": Path(values["file"]).name,
    }


def typed_csv(values: dict[str, str]) -> dict[str, Any]:
    """CSV holds text: integers back to numbers, the empty NULL marker back to None."""
    typed: dict[str, Any] = dict(values)
    for name in INTEGERS:
        typed[name] = int(values[name]) if values[name] else None
    for name in NULLABLE_TEXT:
        typed[name] = values[name] or None
    return typed


def read_export(path: Path) -> list[Row]:
    if path.suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as f:
            return [exported(typed_csv(r)) for r in csv.DictReader(f)]
    return [exported(json.loads(line)) for line in path.read_text("utf-8").splitlines()]


# --- specs and the CLI -------------------------------------------------------------------


def write_spec(
    folder: Path,
    name: str,
    *,
    source: dict[str, Any] | None = None,
    query: dict[str, Any] | None = None,
    fmt: str = "jsonl",
    **more: Any,
) -> Path:
    doc: dict[str, Any] = {
        "version": 1,
        "name": name,
        "source": {"type": "logs", "path": LOGS, **(source or {})},
    }
    if query is not None:
        doc["query"] = query
    doc |= {"format": fmt, "destination": f"out/{name}.{fmt}", **more}
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def export_rows(spec: Path) -> list[Row]:
    result = apply_outcome(spec)
    assert (result["exit_code"], result["status"]) == (0, "succeeded"), result["error"]
    rows = read_export(Path(result["uri"]))
    assert result["rows"] == len(rows)
    return rows


# --- 1. every line, once, in time order, with its values ------------------------------


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_every_line_of_every_file_becomes_one_row_in_time_order(demo: Path, fmt: str) -> None:
    expected = expected_rows(demo / "logs")
    # The demo holds what an exporter trips over; without it this test would prove less.
    assert len(expected) == LOG_LINES
    assert sum(f.endswith(".log.gz") for f in {r["file"] for r in expected}) == 2
    assert any("\n" in r["message"] for r in expected)
    assert any('"' in r["message"] for r in expected)
    assert any("例え" in r["message"] for r in expected)
    assert any(r["message"] == "" for r in expected)
    assert any(r["exception"] for r in expected)
    assert any(r["request_id"] is None for r in expected)

    rows = export_rows(write_spec(demo, f"all-{fmt}", fmt=fmt))

    stamps = [r["timestamp"] for r in rows]
    assert stamps == sorted(stamps)
    assert rows == expected


# --- 2. filters -----------------------------------------------------------------------

A = datetime(2026, 10, 30, 6, tzinfo=UTC)
B = datetime(2026, 10, 31, 12, tzinfo=UTC)
PLUS_TWO = timezone(timedelta(hours=2))

FILTERS: dict[str, tuple[Any, Callable[[Row], bool]]] = {
    "level-in": (
        {"field": "level", "in": ["WARNING", "ERROR"]},
        lambda r: r["level"] in ("WARNING", "ERROR"),
    ),
    "component-eq": (
        {"field": "component", "eq": "storage"},
        lambda r: r["component"] == "storage",
    ),
    "message-contains-quotes": (
        {"field": "message", "contains": '"proxy, rotation"'},
        lambda r: '"proxy, rotation"' in r["message"],
    ),
    "message-contains-unicode": (
        {"field": "message", "contains": "例え"},
        lambda r: "例え" in r["message"],
    ),
    "timestamp-range": (
        [
            {"field": "timestamp", "ge": "2026-10-30T06:00:00Z"},
            {"field": "timestamp", "lt": B.astimezone(PLUS_TWO).isoformat()},  # same instant
        ],
        lambda r: A <= r["timestamp"] < B,
    ),
    "all-together": (
        [
            {"field": "level", "in": ["WARNING", "ERROR"]},
            {"field": "component", "eq": "rotator"},
            {"field": "message", "contains": "via"},
            {"field": "timestamp", "ge": "2026-10-30T06:00:00+00:00"},
        ],
        lambda r: (
            r["level"] in ("WARNING", "ERROR")
            and r["component"] == "rotator"
            and "via" in r["message"]
            and r["timestamp"] >= A
        ),
    ),
}


@pytest.mark.parametrize("name", FILTERS)
def test_where_keeps_exactly_the_lines_a_python_filter_keeps(demo: Path, name: str) -> None:
    where, keep = FILTERS[name]
    everything = expected_rows(demo / "logs")
    wanted = [r for r in everything if keep(r)]
    assert 0 < len(wanted) < len(everything)  # the filter has something to do

    assert export_rows(write_spec(demo, name, query={"where": where})) == wanted


def test_timestamp_bounds_keep_ge_and_drop_lt(demo: Path) -> None:
    everything = expected_rows(demo / "logs")
    low, high = everything[100]["timestamp"], everything[450]["timestamp"]
    assert everything[99]["timestamp"] < low and everything[449]["timestamp"] < high  # no ties
    where = [
        {"field": "timestamp", "ge": low.isoformat()},
        {"field": "timestamp", "lt": high.astimezone(PLUS_TWO).isoformat()},
    ]

    assert export_rows(write_spec(demo, "bounds", query={"where": where})) == everything[100:450]


LEVEL_NUMBERS = {"TRACE": 5, "DEBUG": 10, "INFO": 20, "SUCCESS": 25, "WARNING": 30, "ERROR": 40}


@pytest.mark.parametrize("threshold", ["INFO", "WARNING", "error"])
def test_min_level_keeps_the_level_and_above_in_every_file(demo: Path, threshold: str) -> None:
    everything = expected_rows(demo / "logs")
    numbers = {
        r["level"]: json.loads(line)["record"]["level"]["no"]
        for f in (demo / "logs").glob("proxywhirl*.log*")
        for line, r in zip(raw_lines(f), (parsed(x, f.name) for x in raw_lines(f)), strict=True)
    }
    wanted = [r for r in everything if numbers[r["level"]] >= LEVEL_NUMBERS[threshold.upper()]]
    assert 0 < len(wanted) < len(everything)
    assert {r["file"] for r in wanted} == {r["file"] for r in everything}  # .gz files too

    rows = export_rows(write_spec(demo, "threshold", source={"min_level": threshold}))

    assert rows == wanted


def test_message_regex_and_min_level_and_where_together(demo: Path) -> None:
    pattern = re.compile(r"timeout|refused|(?i:例え)")
    everything = expected_rows(demo / "logs")
    wanted = [
        r
        for r in everything
        if pattern.search(r["message"])
        and LEVEL_NUMBERS[r["level"]] >= LEVEL_NUMBERS["SUCCESS"]
        and r["component"] == "rotator"
    ]
    assert wanted
    source = {"message_regex": pattern.pattern, "min_level": "SUCCESS"}
    query = {"where": {"field": "component", "eq": "rotator"}}
    assert {r["level"] for r in everything} <= {"DEBUG", "INFO", "WARNING", "ERROR", "SUCCESS"}

    rows = export_rows(write_spec(demo, "regex", source=source, query=query))

    assert rows == wanted


# --- 3. malformed lines ---------------------------------------------------------------


def broken_json(good: bytes) -> bytes:
    return good[: len(good) // 2]


def invalid_utf8(good: bytes) -> bytes:
    return good.replace(b'"message": "', b'"message": "\xff\xfe\xc3(', 1)


def huge(good: bytes) -> bytes:
    """A loguru record in every way but its size: a 10 MB message."""
    doc = json.loads(good)
    doc["record"]["message"] = "x" * (10 * 1024 * 1024)
    return json.dumps(doc).encode()


def not_loguru(good: bytes) -> bytes:
    return b'{"time": "2026-10-31T00:00:00Z", "level": "INFO", "msg": "a structlog line"}'


def wrong_types(good: bytes) -> bytes:
    """Loguru's shape, but `line` is text."""
    doc = json.loads(good)
    doc["record"]["line"] = "four hundred and twelve"
    return json.dumps(doc).encode()


MALFORMED = {
    "broken-json": broken_json,
    "invalid-utf8": invalid_utf8,
    "10-mb-line": huge,
    "not-a-loguru-record": not_loguru,
    "wrong-types": wrong_types,
}


def write_lines(path: Path, lines: list[bytes]) -> None:
    data = b"".join(line + b"\n" for line in lines)
    path.write_bytes(gzip.compress(data, mtime=0) if path.suffix == ".gz" else data)


def plant(path: Path, bad: dict[int, bytes]) -> None:
    """Insert lines so that they land at the given 1-based line numbers."""
    lines = raw_lines(path)
    for number in sorted(bad):
        lines.insert(number - 1, bad[number])
    write_lines(path, lines)


@pytest.fixture
def copies(demo: Path) -> tuple[Path, Path]:
    """A folder holding a copy of the current log and of one rotated file."""
    folder = demo / "bad"
    folder.mkdir()
    current = shutil.copy(demo / "logs" / "proxywhirl.log", folder)
    rotated = shutil.copy(sorted((demo / "logs").glob("*.log.gz"))[-1], folder)
    return Path(current), Path(rotated)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@pytest.mark.parametrize("kind", MALFORMED)
def test_a_malformed_line_fails_the_run_naming_file_and_line(
    demo: Path, copies: tuple[Path, Path], kind: str
) -> None:
    current, _ = copies
    lines = raw_lines(current)
    number = len(lines) * 3 // 4  # after several chunks were written
    plant(current, {number: MALFORMED[kind](lines[0])})
    source = {"path": "bad/proxywhirl*.log*", "chunk_size": 10}

    result = apply_outcome(write_spec(demo, "strict", source=source))

    assert (result["exit_code"], result["status"]) == (1, "failed")
    assert str(current) in result["error"]
    assert re.search(rf"(?<!\d){number}(?!\d)", result["error"].replace(str(current), ""))
    assert leftovers(demo / "out") == []


def test_skipped_lines_are_counted_per_file_and_every_good_line_is_exported(
    demo: Path, copies: tuple[Path, Path]
) -> None:
    current, rotated = copies
    good = expected_rows(current.parent)
    sample = raw_lines(current)[0]
    bad_current = {1: broken_json(sample), 2: huge(sample), 40: not_loguru(sample)}
    bad_current |= {41: invalid_utf8(sample), 77: wrong_types(sample)}
    plant(current, bad_current)
    plant(rotated, {5: invalid_utf8(sample), len(raw_lines(rotated)) + 1: broken_json(sample)})
    source = {"path": "bad/proxywhirl*.log*", "chunk_size": 10, "on_malformed": "skip"}

    result = apply_outcome(write_spec(demo, "lenient", source=source))

    assert (result["exit_code"], result["status"]) == (0, "succeeded"), result["error"]
    assert read_export(Path(result["uri"])) == good
    assert result["rows"] == len(good)
    warnings = result["warnings"]
    assert len(warnings) == 2
    for path, count in ((current, 5), (rotated, 2)):
        (warning,) = [w for w in warnings if str(path) in w]
        assert re.search(rf"(?<!\d){count} malformed line", warning)
        assert "skipped" in warning


def test_a_record_under_min_level_is_passed_over_unchecked(
    demo: Path, copies: tuple[Path, Path]
) -> None:
    current, _ = copies
    high = ("WARNING", "ERROR", "CRITICAL")
    expected = [r for r in expected_rows(current.parent) if r["level"] in high]
    sample = json.loads(raw_lines(current)[0])
    sample["record"]["level"] = {"icon": "🐞", "name": "DEBUG", "no": 10}
    sample["record"]["time"]["repr"] = "not a time"
    plant(current, {3: json.dumps(sample).encode()})
    source = {"path": "bad/proxywhirl*.log*", "chunk_size": 10}

    every = apply_outcome(write_spec(demo, "every", source=source))
    warnings = export_rows(write_spec(demo, "warnings", source=source | {"min_level": "WARNING"}))

    assert (every["exit_code"], every["status"]) == (1, "failed")
    assert f"{current}:3" in every["error"]
    assert warnings == expected and expected


# --- 4. incremental by timestamp, across a rotation -----------------------------------


def loguru_line(at: datetime, message: str) -> bytes:
    """A line as `logger.add(..., serialize=True)` writes it."""
    record = {
        "elapsed": {"repr": "0:00:01", "seconds": 1.0},
        "exception": None,
        "extra": {"component": "rotator", "request_id": f"req-{message}"},
        "file": {"name": "rotator.py", "path": "/srv/proxywhirl/rotator.py"},
        "function": "_make_request",
        "level": {"icon": "ℹ️", "name": "INFO", "no": 20},
        "line": 412,
        "message": message,
        "module": "rotator",
        "name": "proxywhirl.rotator",
        "process": {"id": 4242, "name": "MainProcess"},
        "thread": {"id": 7, "name": "MainThread"},
        "time": {"repr": str(at), "timestamp": at.timestamp()},
    }
    return json.dumps({"text": f"{message}\n", "record": record}, ensure_ascii=False).encode()


def new_lines(start: datetime, count: int, tag: str) -> list[bytes]:
    # One line in every three carries a +02:00 offset, as a non-UTC host writes it.
    return [
        loguru_line(
            (start + timedelta(seconds=7 * i, microseconds=i)).astimezone(
                PLUS_TWO if i % 3 == 0 else UTC
            ),
            f'{tag} line {i} «ünïcode» "quoted"\nsecond line',
        )
        for i in range(count)
    ]


def test_incremental_exports_each_new_line_once_across_appends_and_rotation(
    demo: Path,
) -> None:
    logs = demo / "logs"
    spec = write_spec(
        demo,
        "incremental-logs",
        incremental={"cursor": "timestamp"},
        destination="out/logs-{{ run.id }}.jsonl",
    )
    exports: list[list[Row]] = []

    def run() -> list[Row]:
        result = apply_outcome(spec)
        assert (result["exit_code"], result["status"]) == (0, "succeeded"), result["error"]
        rows = read_export(Path(result["uri"])) if result["uri"] else []
        assert result["rows"] == len(rows)
        exports.append(rows)
        return rows

    assert run() == expected_rows(logs)

    current = logs / "proxywhirl.log"
    appended = new_lines(datetime(2026, 11, 1, tzinfo=UTC), 30, "appended")
    with current.open("ab") as f:
        f.write(b"".join(line + b"\n" for line in appended))
    assert run() == [r for r in expected_rows(logs) if r["message"].startswith("appended")]
    assert len(exports[-1]) == 30

    rotated = logs / "proxywhirl.2026-10-31_00-00-00_000000.log.gz"
    rotated.write_bytes(gzip.compress(current.read_bytes(), mtime=0))
    write_lines(current, new_lines(datetime(2026, 11, 2, tzinfo=UTC), 25, "after rotation"))
    assert run() == [r for r in expected_rows(logs) if r["message"].startswith("after rotation")]
    assert len(exports[-1]) == 25

    assert run() == []  # nothing new, nothing exported

    def without_file(rows: list[Row]) -> list[str]:
        # A line's file changes when it is rotated; the line itself does not.
        return sorted(json.dumps({**r, "file": None}, default=str, sort_keys=True) for r in rows)

    union = without_file([row for rows in exports for row in rows])
    assert len(set(union)) == len(union) == LOG_LINES + 30 + 25  # none twice
    assert union == without_file(expected_rows(logs))


# --- 5. errors ------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["logs/nothing*.log*", "logs/missing.log"])
def test_a_path_matching_no_file_fails_the_run(demo: Path, path: str) -> None:
    result = apply_outcome(write_spec(demo, "nothing", source={"path": path}))

    assert (result["exit_code"], result["status"]) == (1, "failed")
    assert "no log file matches" in result["error"]
    assert path in result["error"]


@pytest.mark.parametrize(
    ("query", "at"),
    [
        ({"table": "request_logs"}, "$.query.table"),
        ({"sql": "SELECT 1"}, "$.query.sql"),
        ({"order_by": ["timestamp"]}, "$.query.order_by"),
        (
            {"order_by": ["-timestamp"], "where": {"field": "level", "eq": "ERROR"}},
            "$.query.order_by",
        ),
    ],
)
def test_sql_only_query_keys_are_spec_errors(demo: Path, query: dict[str, Any], at: str) -> None:
    result = apply_outcome(write_spec(demo, "not-sql", query=query))

    assert result["exit_code"] == 2
    assert at in result["stderr"]
    assert leftovers(demo / "out") == []


# --- 6. a last line without its line end ---------------------------------------------

#: Three log files, oldest first; the last is the live one unless it is compressed.
UNENDED_FILES = {
    "rotated plain": "app.2026-10-29.log",
    "rotated gzip": "app.2026-10-30.log.gz",
    "newest plain": "app.log",
    "newest gzip": "app.log.gz",
}


def unended_folder(root: Path, newest: str, unended: str, last: bytes) -> dict[str, list[bytes]]:
    """The three files, every line ended but `unended`'s last one, which is `last`."""
    logs = root / "logs"
    logs.mkdir()
    names = [UNENDED_FILES["rotated plain"], UNENDED_FILES["rotated gzip"], newest]
    content: dict[str, list[bytes]] = {}
    for day, name in enumerate(names):
        lines = new_lines(datetime(2026, 10, 29 + day, tzinfo=UTC), 3, name)
        data = b"".join(line + b"\n" for line in lines)
        if name == unended:
            data += last
            lines.append(last)
        (logs / name).write_bytes(gzip.compress(data, mtime=0) if name.endswith(".gz") else data)
        content[name] = lines
    return content


@pytest.mark.parametrize("on_malformed", ["skip", "fail"])
@pytest.mark.parametrize("malformed", [False, True], ids=["parses", "malformed"])
@pytest.mark.parametrize("where", list(UNENDED_FILES))
def test_only_the_live_logs_unended_last_line_waits_and_every_other_counts(
    tmp_path: Path, where: str, malformed: bool, on_malformed: str
) -> None:
    newest = UNENDED_FILES["newest gzip" if where == "newest gzip" else "newest plain"]
    unended = UNENDED_FILES[where]
    whole = loguru_line(datetime(2026, 11, 5, tzinfo=UTC), "the last line")
    last = broken_json(whole) if malformed else whole
    content = unended_folder(tmp_path, newest, unended, last)
    source = {"path": "logs/app*", "on_malformed": on_malformed, "chunk_size": 2}

    result = apply_outcome(write_spec(tmp_path, "unended", source=source))

    live = where == "newest plain"
    ended = [parsed(line, name) for name, lines in content.items() for line in lines[:3]]
    if live:  # held back, complete or not, and said so
        assert (result["exit_code"], result["status"]) == (0, "succeeded"), result["error"]
        assert read_export(Path(result["uri"])) == ended
        (warning,) = result["warnings"]
        assert str(tmp_path / "logs" / unended) in warning and "held back" in warning
    elif not malformed:  # a finished file's last line is complete: exported
        assert (result["exit_code"], result["status"]) == (0, "succeeded"), result["error"]
        rows = read_export(Path(result["uri"]))
        # Files are read in the order of their first line, each line in its file's order.
        assert rows == [parsed(line, name) for name, lines in content.items() for line in lines]
        assert result["warnings"] == []
    elif on_malformed == "skip":  # counted like any malformed line
        assert (result["exit_code"], result["status"]) == (0, "succeeded"), result["error"]
        assert read_export(Path(result["uri"])) == ended
        (warning,) = result["warnings"]
        assert f"1 malformed line(s) skipped in {tmp_path / 'logs' / unended}" == warning
    else:  # fails like any malformed line, naming it
        assert (result["exit_code"], result["status"]) == (1, "failed")
        assert f"{tmp_path / 'logs' / unended}:4:" in result["error"]


@pytest.mark.parametrize("cut", [0.0, 0.5, 1.0], ids=["nothing", "half", "all but its end"])
def test_a_held_last_line_is_exported_once_by_the_next_incremental_run(
    tmp_path: Path, cut: float
) -> None:
    live = UNENDED_FILES["newest plain"]
    whole = loguru_line(datetime(2026, 11, 5, tzinfo=UTC), "the last line")
    written = whole[: int(len(whole) * cut)]
    unended_folder(tmp_path, live, live, written)
    spec = write_spec(
        tmp_path,
        "held",
        source={"path": "logs/app*"},
        incremental={"cursor": "timestamp"},
        destination="out/held-{{ run.id }}.jsonl",
    )

    def run() -> tuple[list[str], list[str]]:
        result = apply_outcome(spec)
        assert (result["exit_code"], result["status"]) == (0, "succeeded"), result["error"]
        rows = read_export(Path(result["uri"])) if result["uri"] else []
        return [r["message"].split(" line ")[0] for r in rows], result["warnings"]

    first, held = run()
    assert first == ["app.2026-10-29.log"] * 3 + ["app.2026-10-30.log.gz"] * 3 + [live] * 3
    assert len(held) == (1 if written else 0)
    with (tmp_path / "logs" / live).open("ab") as f:
        f.write(whole[len(written) :] + b"\n")
    assert run() == (["the last line"], [])
    assert run() == ([], [])
