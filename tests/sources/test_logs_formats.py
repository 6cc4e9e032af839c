"""The `logs` source's line formats (jsonl, regex) and its line filters, on files written here.

Expectations are written out by hand or computed with plain Python, never with exportctl's
own parsers.
"""

from __future__ import annotations

import gzip
import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from exportctl.model import Query
from exportctl.sources.base import Request
from exportctl.sources.logs.options import LogOptions
from exportctl.sources.logs.source import LogSource
from tests.support.cli import apply_outcome

Row = dict[str, Any]


def write_spec(folder: Path, name: str, source: dict[str, Any], **more: Any) -> Path:
    doc = {
        "version": 1,
        "name": name,
        "source": {"type": "logs", **source},
        "format": "jsonl",
        "destination": f"out/{name}.jsonl",
        **more,
    }
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def export(folder: Path, source: dict[str, Any], **more: Any) -> list[Row]:
    result = apply_outcome(write_spec(folder, "logs", source, **more))
    assert (result["exit_code"], result["status"]) == (0, "succeeded"), result["error"]
    lines = Path(result["uri"]).read_text("utf-8").splitlines()
    return [{k: v for k, v in json.loads(x).items() if k != "file"} for x in lines]


def write(path: Path, lines: list[bytes]) -> Path:
    data = b"".join(line + b"\n" for line in lines)
    path.write_bytes(gzip.compress(data, mtime=0) if path.suffix == ".gz" else data)
    return path


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# --- format: jsonl ----------------------------------------------------------------------


def test_jsonl_maps_time_level_message_and_known_keys_and_keeps_the_rest_in_extra(
    tmp_path: Path,
) -> None:
    lines = [  # a file's lines come in the file's order
        {"ts": "2024-03-31T00:10:00Z", "severity": 40, "msg": {"nested": True}, "line": 7},
        {"ts": "2024-03-31 01:30:00", "severity": "info", "msg": "naive, Berlin", "port": 80},
        {"ts": 1711848600.5, "severity": "ERROR", "msg": "epoch", "component": "rotator"},
    ]
    write(tmp_path / "app.jsonl", [json.dumps(x).encode() for x in lines])
    source = {"path": "app.jsonl", "format": "jsonl", "time_field": "ts"}
    source |= {"level_field": "severity", "message_field": "msg", "timezone": "Europe/Berlin"}

    rows = export(tmp_path, source)

    nulls = dict.fromkeys(("logger", "module", "function", "process", "thread", "exception"))
    assert rows == [
        {
            **nulls,
            "timestamp": "2024-03-31T00:10:00.000000Z",
            "level": "40",
            "message": '{"nested": true}',
            "line": 7,
            "component": None,
            "request_id": None,
            "extra": None,
        },
        {
            **nulls,
            "timestamp": "2024-03-31T00:30:00.000000Z",  # 01:30 CET is 00:30 UTC
            "level": "info",
            "message": "naive, Berlin",
            "line": None,
            "component": None,
            "request_id": None,
            "extra": '{"port": 80}',
        },
        {
            **nulls,
            "timestamp": "2024-03-31T01:30:00.500000Z",
            "level": "ERROR",
            "message": "epoch",
            "line": None,
            "component": "rotator",
            "request_id": None,
            "extra": None,
        },
    ]


def test_jsonl_defaults_read_timestamp_or_time_and_message_or_msg(tmp_path: Path) -> None:
    # Two files: files are read in the order of their first line's time.
    write(
        tmp_path / "b.jsonl",
        [b'{"time": "2024-01-01T00:00:01+01:00", "level": "WARNING", "msg": "second"}'],
    )
    write(tmp_path / "a.jsonl", [b'{"timestamp": "2024-01-01T00:00:00+02:00", "message": "first"}'])

    rows = export(tmp_path, {"path": "*.jsonl", "format": "jsonl"})

    assert [(r["timestamp"], r["level"], r["message"]) for r in rows] == [
        ("2023-12-31T22:00:00.000000Z", None, "first"),
        ("2023-12-31T23:00:01.000000Z", "WARNING", "second"),
    ]


# --- format: regex ----------------------------------------------------------------------

LOGURU_TEXT = [
    b"2024-01-02 03:04:05.678 | INFO     | app.db:connect:42 - connected | pool=5",
    b"2024-01-02 03:04:06.000 | WARNING  | app.rotator:_make_request:412 - timeout via 1.2.3.4",
    b"2024-01-02 03:04:07.250 | ERROR    | app.rotator:_make_request:420 - connection refused",
    "2024-01-02 03:04:08.000 | SUCCESS  | app:main:1 - ünïcode «ok»".encode(),
]


def test_the_loguru_text_pattern_cuts_loguru_default_lines(tmp_path: Path) -> None:
    write(tmp_path / "app.log", LOGURU_TEXT)

    rows = export(tmp_path, {"path": "app.log", "format": "regex", "pattern": "loguru_text"})

    assert rows[0] == {
        "timestamp": "2024-01-02T03:04:05.678000Z",
        "level": "INFO",
        "logger": "app.db",
        "function": "connect",
        "line": 42,
        "message": "connected | pool=5",
    }
    assert [r["message"] for r in rows[1:]] == [
        "timeout via 1.2.3.4",
        "connection refused",
        "ünïcode «ok»",
    ]


def test_the_common_log_pattern_reads_its_own_time_format(tmp_path: Path) -> None:
    write(
        tmp_path / "access.log",
        [
            b'10.0.0.2 - - [10/Oct/2000:20:00:00 +0000] "POST /b HTTP/1.1" 503 -',
            b'127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /a.gif HTTP/1.0" 200 2326',
        ],
    )

    rows = export(tmp_path, {"path": "access.log", "format": "regex", "pattern": "common_log"})

    assert rows == [
        {
            "host": "10.0.0.2",
            "ident": "-",
            "user": "-",
            "timestamp": "2000-10-10T20:00:00.000000Z",
            "request": "POST /b HTTP/1.1",
            "status": "503",
            "bytes": "-",
        },
        {
            "host": "127.0.0.1",
            "ident": "-",
            "user": "frank",
            "timestamp": "2000-10-10T20:55:36.000000Z",
            "request": "GET /a.gif HTTP/1.0",
            "status": "200",
            "bytes": "2326",
        },
    ]


def test_a_custom_pattern_with_time_format_and_timezone(tmp_path: Path) -> None:
    write(
        tmp_path / "svc.log",
        [b"[02/01/2024 09:00:00] info db: ok", b"[02/01/2024 10:00:00] warn db: slow query"],
    )
    source = {
        "path": "svc.log",
        "format": "regex",
        "pattern": r"\[(?P<timestamp>[^\]]+)\] (?P<level>\w+) (?P<component>\w+): (?P<message>.*)",
        "time_format": "%d/%m/%Y %H:%M:%S",
        "timezone": "America/New_York",
        "min_level": "WARNING",
    }

    rows = export(tmp_path, source)

    assert rows == [
        {
            "timestamp": "2024-01-02T15:00:00.000000Z",
            "level": "warn",
            "component": "db",
            "message": "slow query",
        }
    ]


# --- malformed lines in jsonl and regex files -------------------------------------------

GOOD_JSONL = b'{"timestamp": "2024-01-01T00:00:%02dZ", "level": "INFO", "message": "m%d"}'
HUGE = b'{"timestamp": "2024-01-01T00:00:00Z", "message": "' + b"x" * (10 << 20) + b'"}'
BAD = {
    "jsonl": [b'{"timestamp": "2024-01-01T00:', b'{"message": "\xff\xfe"}', HUGE, b"[1, 2]"],
    "regex": [b"a line loguru never wrote", b"2024-01-02 03:04:05.678 | INFO \xff", HUGE],
}
SOURCES = {
    "jsonl": {"format": "jsonl"},
    "regex": {"format": "regex", "pattern": "loguru_text"},
}


def good_lines(fmt: str, n: int) -> list[bytes]:
    if fmt == "jsonl":
        return [GOOD_JSONL % (i, i) for i in range(n)]
    return [b"2024-01-02 03:04:%02d.000 | INFO     | a:b:1 - m%d" % (i, i) for i in range(n)]


@pytest.mark.parametrize("fmt", BAD)
def test_malformed_lines_are_skipped_and_counted(tmp_path: Path, fmt: str) -> None:
    lines = good_lines(fmt, 30)
    for i, bad in enumerate(BAD[fmt]):
        lines.insert(5 + 7 * i, bad)
    write(tmp_path / "app.log", lines)
    source = {"path": "app.log", "on_malformed": "skip", "chunk_size": 4, **SOURCES[fmt]}

    result = apply_outcome(write_spec(tmp_path, "lenient", source))

    assert result["status"] == "succeeded", result["error"]
    assert result["rows"] == 30
    (warning,) = result["warnings"]
    assert warning.startswith(f"{len(BAD[fmt])} malformed line(s) skipped in ")


@pytest.mark.parametrize(("fmt", "which"), [(f, i) for f in BAD for i in range(len(BAD[f]))])
def test_a_malformed_line_fails_the_run_and_leaves_no_file(
    tmp_path: Path, fmt: str, which: int
) -> None:
    lines = good_lines(fmt, 30)
    lines.insert(21, BAD[fmt][which])
    write(tmp_path / "app.log", lines)
    source = {"path": "app.log", "chunk_size": 4, **SOURCES[fmt]}

    result = apply_outcome(write_spec(tmp_path, "strict", source))

    assert (result["exit_code"], result["status"]) == (1, "failed")
    assert f"{tmp_path / 'app.log'}:22:" in result["error"]
    assert leftovers(tmp_path / "out") == []


# --- min_level ----------------------------------------------------------------------------

RANKS = {"TRACE": 5, "DEBUG": 10, "INFO": 20, "SUCCESS": 25, "WARNING": 30, "ERROR": 40}
RANKS |= {"CRITICAL": 50}


def loguru_line(i: int, level: str, number: int) -> bytes:
    at = datetime(2024, 1, 1, tzinfo=UTC).timestamp() + i
    record = {
        "time": {"repr": str(datetime.fromtimestamp(at, UTC))},
        "level": {"name": level, "no": number},
        "message": f"m{i}",
    }
    return json.dumps({"record": record}).encode()


def read_all(options: LogOptions, folder: Path) -> list[Row]:
    source = LogSource(options, folder)
    chunks = list(source.chunks(Request(Query())))
    return [r for chunk in chunks for r in chunk.to_dict("records")]


@settings(max_examples=40, deadline=None)
@given(
    levels=st.lists(st.sampled_from(sorted(RANKS)), max_size=40),
    threshold=st.sampled_from(sorted(RANKS)),
    spelling=st.sampled_from([str.upper, str.lower, str.title]),
)
def test_min_level_keeps_a_line_iff_its_rank_reaches_the_threshold(
    levels: list[str], threshold: str, spelling: Any
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        lines = [loguru_line(i, lv, RANKS[lv]) for i, lv in enumerate(levels)]
        write(Path(folder) / "a.log.gz", lines[: len(lines) // 2])
        write(Path(folder) / "b.log", lines[len(lines) // 2 :])
        wanted = [f"m{i}" for i, lv in enumerate(levels) if RANKS[lv] >= RANKS[threshold]]

        for fmt in ("loguru", "jsonl"):
            if fmt == "jsonl":  # the same levels as plain JSON lines, ranked by name
                plain = [
                    json.dumps({"time": f"2024-01-01T00:00:{i:02d}Z", "level": lv, "msg": f"m{i}"})
                    for i, lv in enumerate(levels)
                ]
                write(Path(folder) / "a.log.gz", [x.encode() for x in plain[: len(plain) // 2]])
                write(Path(folder) / "b.log", [x.encode() for x in plain[len(plain) // 2 :]])
            options = LogOptions(path="*.log*", format=fmt, min_level=spelling(threshold))
            assert [r["message"] for r in read_all(options, Path(folder))] == wanted


def test_loguru_custom_levels_rank_by_their_number_and_unknown_names_are_kept(
    tmp_path: Path,
) -> None:
    write(tmp_path / "a.log", [loguru_line(0, "NOTICE", 35), loguru_line(1, "CHATTY", 15)])
    write(
        tmp_path / "b.jsonl",
        [b'{"time": 1, "level": "NOTICE"}', b'{"time": 2, "level": "warn"}', b'{"time": 3}'],
    )

    loguru_rows = read_all(LogOptions(path="a.log", min_level="WARNING"), tmp_path)
    source = LogSource(LogOptions(path="b.jsonl", format="jsonl", min_level=30), tmp_path)
    jsonl_rows = [r for c in source.chunks(Request(Query())) for r in c.to_dict("records")]

    assert [r["level"] for r in loguru_rows] == ["NOTICE"]
    assert [r["level"] for r in jsonl_rows] == ["NOTICE", "warn", None]
    assert source.unranked == 2
    assert any("2 line(s) kept whose level" in note for note in source.report())


# --- spec errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "complaint"),
    [
        ({"pattern": "loguru_text"}, "`pattern` is for `format: regex`"),
        ({"format": "regex"}, "needs a `pattern`"),
        ({"format": "regex", "pattern": "(?P<level>x)"}, "(?P<timestamp>...)"),
        ({"format": "regex", "pattern": "(?P<timestamp>"}, "not a valid regex"),
        (
            {"format": "regex", "pattern": "common_log", "min_level": "ERROR"},
            "(?P<level>...)` group",
        ),
        ({"min_level": "LOUD"}, "`min_level` 'LOUD' is not a level"),
        ({"message_regex": "(unclosed"}, "`message_regex` is not a valid regex"),
        ({"format": "jsonl", "timezone": "Mars/Base"}, "not an IANA time zone"),
        ({"time_field": "ts"}, "`time_field` is for `format: jsonl`"),
        ({"timezone": "Europe/Berlin"}, "loguru records carry their own UTC offset"),
        ({"format": "syslog"}, "$.source.format"),
    ],
)
def test_bad_options_are_spec_errors(
    tmp_path: Path, source: dict[str, Any], complaint: str
) -> None:
    write(tmp_path / "app.log", [])

    result = apply_outcome(write_spec(tmp_path, "bad", {"path": "app.log", **source}))

    assert result["exit_code"] == 2
    assert complaint in result["stderr"]


# --- s3 -----------------------------------------------------------------------------------


def test_logs_are_read_from_s3_by_glob_and_by_uri(tmp_path: Path, s3_bucket: Any) -> None:
    rotated = [
        loguru_line(i, "WARNING" if i % 2 else "INFO", 30 if i % 2 else 20) for i in range(6)
    ]
    current = [loguru_line(i, "ERROR", 40) for i in range(6, 9)]
    put = s3_bucket.client.put_object
    put(Bucket=s3_bucket.name, Key="logs/app.log", Body=b"".join(x + b"\n" for x in current))
    put(
        Bucket=s3_bucket.name,
        Key="logs/app.2024-01-01_00-00-00_000000.log.gz",
        Body=gzip.compress(b"".join(x + b"\n" for x in rotated), mtime=0),
    )
    put(Bucket=s3_bucket.name, Key="other/app.log", Body=b"not read\n")

    by_glob = export(tmp_path, {"path": s3_bucket.uri("logs/app*.log*"), "min_level": "WARNING"})
    one_file = export(tmp_path, {"path": s3_bucket.uri("logs/app.log")})

    assert [r["message"] for r in by_glob] == ["m1", "m3", "m5", "m6", "m7", "m8"]
    assert [r["message"] for r in one_file] == ["m6", "m7", "m8"]
    missing = apply_outcome(write_spec(tmp_path, "none", {"path": s3_bucket.uri("nothing/*.log")}))
    assert "no log file matches" in missing["error"]


def test_globs_in_other_uris_are_refused(tmp_path: Path) -> None:
    result = apply_outcome(write_spec(tmp_path, "gs", {"path": "gs://bucket/logs/*.log"}))

    assert result["status"] == "failed"
    assert "globs work in local paths and s3:// URIs" in result["error"]
