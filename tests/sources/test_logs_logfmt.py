"""`format: logfmt`: proxywhirl's logfmt records, multi-line ones included, read back whole."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exportctl.plan.compiler import compile_plan
from exportctl.run import runner
from exportctl.sources.logs.lines import numbered_lines
from exportctl.sources.logs.logfmt import LogfmtParser, records
from exportctl.sources.logs.options import LogOptions
from exportctl.spec.load import load_spec

ZONE = ZoneInfo("America/New_York")
NOW = datetime(2026, 12, 1, tzinfo=UTC)

#: Lines of a message: anything but a line that would start a record, or a traceback's.
message_lines = st.text(
    st.characters(exclude_characters="\r\n\x00", exclude_categories=("Cs",)), max_size=30
).filter(lambda line: not line.startswith("time=") and not line.startswith("Traceback"))
messages = st.lists(message_lines, min_size=1, max_size=3).map("\n".join)
literals = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(st.characters(exclude_categories=("Cs",)), max_size=12),
)
extras = st.dictionaries(
    st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=10),
    literals,
    max_size=4,
)
made_records = st.tuples(
    st.sampled_from(["DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL"]),
    messages,
    extras,
    st.booleans(),  # with a traceback
)


def logfmt(moment: datetime, level: str, message: str, extra: dict[str, Any], tb: bool) -> str:
    """One record as loguru renders proxywhirl's logfmt template (plus `\\n{exception}`)."""
    local = moment.astimezone(ZONE)
    text = f"time={local:%Y-%m-%d %H:%M:%S}.{local.microsecond // 1000:03d} level={level} "
    text += f"name=proxywhirl.rotator function=_make_request line=412 message={message} "
    text += f"{extra!r}\n"
    if tb:
        text += 'Traceback (most recent call last):\n  File "x.py", line 1\nValueError: {bad}\n'
    return text


def export(tmp_path: Path, log: Path, **options: Any) -> list[dict[str, Any]]:
    spec = tmp_path / "spec.yaml"
    source = {"type": "logs", "path": str(log), "format": "logfmt", **options}
    spec.write_text(
        json.dumps({"version": 1, "name": "lf", "source": source, "format": "jsonl"})[:-1]
        + f', "destination": "{tmp_path / "out.jsonl"}"}}'
    )
    result = runner.run(compile_plan(load_spec(spec, env={}), now=NOW, run_id="r"))
    assert result.status == "succeeded", result.error
    lines = (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def parsed(log: Path, zone: str = "America/New_York") -> list[dict[str, Any]]:
    """The file's rows as the `logs` source reads them: lines joined into records, parsed."""
    parse = LogfmtParser(ZoneInfo(zone))
    found = []
    for _, record in records(numbered_lines(str(log), 1 << 20), 1 << 20):
        assert isinstance(record, bytes)
        found.append(parse(record, str(log))[0])
    return found


@settings(max_examples=150, deadline=None)
@given(st.lists(made_records, min_size=1, max_size=6))
def test_records_read_back_whole(tmp_path_factory: pytest.TempPathFactory, made: list) -> None:
    log = tmp_path_factory.mktemp("logfmt") / "proxywhirl.log"
    # After New York's clocks went back: a local time in the repeated hour names two instants.
    start = datetime(2026, 11, 1, 7, 0, 0, 999000, tzinfo=UTC)
    moments = [start + timedelta(minutes=37 * i) for i in range(len(made))]
    log.write_text(
        "".join(logfmt(at, *record) for at, record in zip(moments, made, strict=True)),
        encoding="utf-8",
    )

    rows = parsed(log)

    assert len(rows) == len(made)
    for row, at, (level, message, extra, tb) in zip(rows, moments, made, strict=True):
        assert row["timestamp"] == at
        assert (row["level"], row["message"], row["line"]) == (level, message, 412)
        assert json.loads(row["extra"] or "{}") == json.loads(json.dumps(extra))
        assert (row["exception"] is not None) == tb


def test_an_export_holds_every_record(tmp_path: Path) -> None:
    log = tmp_path / "proxywhirl.log"
    moment = datetime(2026, 11, 2, 12, tzinfo=UTC)
    log.write_text(
        logfmt(moment, "ERROR", "a\nb {x}", {"component": "rotator"}, True)
        + logfmt(moment, "INFO", "", {}, False)
    )

    rows = export(tmp_path, log, timezone="America/New_York", min_level="WARNING")

    assert [(r["level"], r["message"], r["component"]) for r in rows] == [
        ("ERROR", "a\nb {x}", "rotator")
    ]
    assert rows[0]["timestamp"] == "2026-11-02T12:00:00.000000Z"


def test_a_line_that_is_no_record_is_malformed_and_named(tmp_path: Path) -> None:
    log = tmp_path / "proxywhirl.log"
    log.write_text("time=2026-11-01 10:00:00.000 level=INFO message=no extra dict\n")
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        f"version: 1\nname: lf\nsource: {{type: logs, path: {log}, format: logfmt}}\n"
        f"format: jsonl\ndestination: {tmp_path / 'out.jsonl'}\n"
    )

    result = runner.run(compile_plan(load_spec(spec, env={}), now=NOW, run_id="r"))

    assert result.status == "failed"
    assert f"{log}:1: not a proxywhirl logfmt record" in str(result.error)


def test_time_format_is_refused_for_logfmt() -> None:
    with pytest.raises(ValueError, match="`time_format` is for `format: jsonl` and `regex`"):
        LogOptions(path="x.log", format="logfmt", time_format="%Y")
