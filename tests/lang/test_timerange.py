"""Time ranges: [from, to) at every kind of bound, over SQLite, PostgreSQL and log files."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exportctl.cli.main import main
from exportctl.demo.build import init_demo
from exportctl.errors import SpecError
from exportctl.lang import timerange
from exportctl.model import TimeRange
from exportctl.plan.compiler import compile_plan
from exportctl.run import runner
from exportctl.spec.load import load_spec
from tests.conftest import copy_tables, pg_url
from tests.support.jsonlines import json_lines

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 3, 30, 9, 15, tzinfo=UTC)  # the Monday after Berlin's spring-forward
US = timedelta(microseconds=1)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


# --- expressions and windows, pure --------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now", NOW),
        ("now-7d", NOW - timedelta(days=7)),
        ("now - 1h30m", NOW - timedelta(hours=1, minutes=30)),
        ("now+2w", NOW + timedelta(weeks=2)),
        ("2026-03-01T00:00:00+01:00", utc(2026, 2, 28, 23)),
        ("2026-03-01T00:00:00Z", utc(2026, 3, 1)),
        ("2026-07-01", utc(2026, 6, 30, 22)),  # a date: midnight in Berlin (summer time)
        ("2026-07-01T12:00", utc(2026, 7, 1, 10)),  # no offset: Berlin's wall clock
    ],
)
def test_expressions_resolve_to_utc_instants(text: str, expected: datetime) -> None:
    assert timerange.instant(text, NOW, BERLIN) == expected


@pytest.mark.parametrize("text", ["yesterday", "now-7x", "now-", "2026-13-01", "soon", "7d"])
def test_bad_expressions_say_what_is_allowed(text: str) -> None:
    with pytest.raises(ValueError, match="now-7d"):
        timerange.instant(text, NOW, BERLIN)


def test_a_wall_clock_time_the_clocks_skip_is_refused() -> None:
    with pytest.raises(ValueError, match="does not exist"):
        timerange.instant("2026-03-29T02:30", NOW, BERLIN)


@pytest.mark.parametrize(
    ("name", "now", "start", "end"),
    [
        # The day the clocks went forward (29 March 2026) has 23 hours in Berlin...
        ("yesterday", NOW, utc(2026, 3, 28, 23), utc(2026, 3, 29, 22)),
        ("today", NOW, utc(2026, 3, 29, 22), utc(2026, 3, 30, 22)),
        # ... and the day they went back (25 October 2026) has 25.
        ("yesterday", utc(2026, 10, 26, 12), utc(2026, 10, 24, 22), utc(2026, 10, 25, 23)),
        ("this_week", NOW, utc(2026, 3, 29, 22), utc(2026, 4, 5, 22)),
        ("last_week", NOW, utc(2026, 3, 22, 23), utc(2026, 3, 29, 22)),  # 167 hours
        ("this_month", NOW, utc(2026, 2, 28, 23), utc(2026, 3, 31, 22)),
        ("last_month", NOW, utc(2026, 1, 31, 23), utc(2026, 2, 28, 23)),
        ("last_month", utc(2026, 1, 10), utc(2025, 11, 30, 23), utc(2025, 12, 31, 23)),
        # At 23:30 UTC on Sunday it is already Monday in Berlin: a new week there.
        ("this_week", utc(2026, 3, 22, 23, 30), utc(2026, 3, 22, 23), utc(2026, 3, 29, 22)),
    ],
)
def test_windows_run_midnight_to_midnight_in_their_timezone(
    name: str, now: datetime, start: datetime, end: datetime
) -> None:
    assert timerange.window(name, now, BERLIN) == (start, end)


def test_windows_in_utc_and_new_york() -> None:
    assert timerange.window("yesterday", NOW, UTC) == (utc(2026, 3, 29), utc(2026, 3, 30))
    # New York sprang forward on 8 March 2026: that Sunday is 23 hours long.
    day = timerange.window("yesterday", utc(2026, 3, 9, 12), ZoneInfo("America/New_York"))
    assert day == (utc(2026, 3, 8, 5), utc(2026, 3, 9, 4))


def test_cli_bounds_replace_a_windows_bounds() -> None:
    spec_range = TimeRange("t", start="now-30h", window="yesterday", timezone="Europe/Berlin")

    resolved = timerange.resolve(spec_range, NOW)

    assert (resolved.start, resolved.end) == (NOW - timedelta(hours=30), utc(2026, 3, 29, 22))


# --- SQLite: samples on and beside every bound ----------------------------------------


def sqlalchemy_text(moment: datetime) -> str:
    """How SQLAlchemy stores a naive UTC DATETIME in SQLite."""
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S.%f}"


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite table of naive UTC timestamps, with a sample on and beside every bound used."""
    db = tmp_path_factory.mktemp("ranges") / "samples.db"
    bounds = [
        utc(2026, 3, 1),
        utc(2026, 3, 2),
        NOW - timedelta(days=7),
        NOW - timedelta(hours=1),
        NOW,
        *timerange.window("yesterday", NOW, BERLIN),
        *timerange.window("last_week", NOW, BERLIN),
        *timerange.window("last_month", NOW, BERLIN),
        *timerange.window("today", NOW, BERLIN),
    ]
    moments = sorted({b + d for b in bounds for d in (-US, timedelta(0), US)})
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE samples (id INTEGER PRIMARY KEY, timestamp DATETIME, v FLOAT)")
        conn.executemany(
            "INSERT INTO samples (timestamp, v) VALUES (?, ?)",
            [(sqlalchemy_text(m), i / 7) for i, m in enumerate(moments)],
        )
    return db


def write_spec(
    folder: Path, source: dict[str, Any], time_range: dict[str, Any], **more: Any
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    doc = {
        "version": 1,
        "name": "ranged",
        "source": source,
        "time_range": time_range,
        "format": "jsonl",
        "destination": str(folder / "out.jsonl"),
        **more,
    }
    path = folder / "ranged.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def export(path: Path, now: datetime = NOW) -> list[dict[str, Any]]:
    plan = compile_plan(load_spec(path, env={}), now=now, run_id="20260330T091500Z-abcdef")
    result = runner.run(plan)
    assert result.status == "succeeded", result.error
    manifest = json.loads(Path(result.uri + ".manifest.json").read_text())
    assert manifest["rows"] == result.rows
    return json_lines(Path(result.uri).read_text())


def stamps(rows: list[dict[str, Any]], field: str = "timestamp") -> list[datetime]:
    """The rows' times; raw SQL over SQLite returns the stored text, naive UTC."""
    moments = (datetime.fromisoformat(r[field]) for r in rows)
    return sorted(m if m.tzinfo else m.replace(tzinfo=UTC) for m in moments)


CASES = {
    "absolute with offsets": (
        {"from": "2026-03-01T01:00:00+01:00", "to": "2026-03-01T19:00:00-05:00"},
        (utc(2026, 3, 1), utc(2026, 3, 2)),
    ),
    "dates in a timezone": (
        {"from": "2026-03-01", "to": "2026-03-02", "timezone": "UTC"},
        (utc(2026, 3, 1), utc(2026, 3, 2)),
    ),
    "relative": (
        {"from": "now-7d", "to": "now-1h"},
        (NOW - timedelta(days=7), NOW - timedelta(hours=1)),
    ),
    "only a start": ({"from": "now-1h"}, (NOW - timedelta(hours=1), None)),
    "only an end": ({"to": "2026-03-01T00:00:00Z"}, (None, utc(2026, 3, 1))),
    **{
        f"window {name} across DST": (
            {"window": name, "timezone": "Europe/Berlin"},
            timerange.window(name, NOW, BERLIN),
        )
        for name in ("yesterday", "today", "last_week", "last_month")
    },
}


@pytest.mark.parametrize("case", CASES)
def test_sqlite_sample_at_the_start_is_in_and_at_the_end_is_out(
    samples: Path, tmp_path: Path, case: str
) -> None:
    given_range, (start, end) = CASES[case]
    source = {"type": "sql", "url": f"sqlite:///{samples}"}
    spec = write_spec(
        tmp_path, source, {"field": "timestamp", **given_range}, query={"table": "samples"}
    )

    got = stamps(export(spec))

    with sqlite3.connect(samples) as conn:
        every = [
            datetime.fromisoformat(t).replace(tzinfo=UTC)
            for (t,) in conn.execute("SELECT timestamp FROM samples")
        ]
    expected = sorted(
        t for t in every if (start is None or start <= t) and (end is None or t < end)
    )
    assert got == expected
    if start is not None:
        assert start in got and start - US not in got
    if end is not None:
        assert end - US in got and end not in got


def test_raw_sql_over_sqlite_text_compares_alike(samples: Path, tmp_path: Path) -> None:
    source = {"type": "sql", "url": f"sqlite:///{samples}"}
    query = {"sql": "SELECT id, timestamp FROM samples"}
    spec = write_spec(
        tmp_path,
        source,
        {"field": "timestamp", "window": "yesterday", "timezone": "Europe/Berlin"},
        query=query,
    )

    got = stamps(export(spec))

    start, end = timerange.window("yesterday", NOW, BERLIN)
    assert got[0] == start and got[-1] == end - US and end not in got


def test_plan_and_manifest_record_the_resolved_range(samples: Path, tmp_path: Path) -> None:
    source = {"type": "sql", "url": f"sqlite:///{samples}"}
    spec = write_spec(
        tmp_path,
        source,
        {"field": "timestamp", "window": "yesterday", "timezone": "Europe/Berlin"},
        query={"table": "samples"},
    )

    plan = compile_plan(load_spec(spec, env={}), now=NOW, run_id="r")

    assert plan.time_range is not None
    assert plan.time_range.to_json() == {
        "field": "timestamp",
        "from": "2026-03-28T23:00:00.000000Z",
        "to": "2026-03-29T22:00:00.000000Z",
        "timezone": "Europe/Berlin",
    }
    result = runner.run(plan)
    manifest = json.loads(Path(result.uri + ".manifest.json").read_text())
    assert manifest["time_range"] == plan.time_range.to_json()


# --- log files: offsets in the records ---------------------------------------------------


def log_line(moment: datetime, number: int) -> str:
    record = {
        "time": {"repr": moment.isoformat()},
        "level": {"name": "INFO"},
        "message": f"sample {number}",
    }
    return json.dumps({"text": "", "record": record})


def test_log_records_at_the_bounds(tmp_path: Path) -> None:
    start, end = timerange.window("yesterday", NOW, BERLIN)
    moments = [b + d for b in (start, end) for d in (-US, timedelta(0), US)]
    # Records written in Berlin time (+01:00 / +02:00), as loguru does on a Berlin host.
    lines = [log_line(m.astimezone(BERLIN), i) for i, m in enumerate(moments)]
    (tmp_path / "app.log").write_text("\n".join(lines) + "\n")
    source = {"type": "logs", "path": str(tmp_path / "app.log")}
    spec = write_spec(
        tmp_path / "spec",
        source,
        {"field": "timestamp", "window": "yesterday", "timezone": "Europe/Berlin"},
    )

    got = stamps(export(spec))

    assert got == [start, start + US, end - US]


# --- the command line -------------------------------------------------------------------


def test_cli_from_to_override_the_spec(samples: Path, tmp_path: Path) -> None:
    source = {"type": "sql", "url": f"sqlite:///{samples}"}
    spec = write_spec(
        tmp_path, source, {"field": "timestamp", "window": "today"}, query={"table": "samples"}
    )
    args = ["--from", "2026-03-01T00:00:00Z", "--to", "2026-03-02T00:00:00Z"]

    planned = CliRunner().invoke(main, ["plan", str(spec), "--json", "--count", *args])
    applied = CliRunner().invoke(main, ["apply", str(spec), "--json", *args])

    assert planned.exit_code == 0, planned.output
    (described,) = json.loads(planned.output)
    assert described["time_range"]["from"] == "2026-03-01T00:00:00.000000Z"
    assert described["estimated_rows"] == 3  # the start, 1 µs after it, 1 µs before the end
    assert applied.exit_code == 0, applied.output
    got = stamps(json_lines((tmp_path / "out.jsonl").read_text()))
    assert got[0] == utc(2026, 3, 1) and got[-1] == utc(2026, 3, 2) - US


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "last tuesday"], "is not a time"),
        (["--to", "now-3q"], "is not a time"),
        (["--from", "2026-03-02", "--to", "2026-03-01"], "the range is empty"),
    ],
)
def test_cli_bad_bounds_are_usage_errors(
    samples: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    source = {"type": "sql", "url": f"sqlite:///{samples}"}
    spec = write_spec(
        tmp_path, source, {"field": "timestamp", "from": "now-1d"}, query={"table": "samples"}
    )

    result = CliRunner().invoke(main, ["apply", str(spec), *args])

    assert result.exit_code == 2
    assert message in result.output


def test_cli_bounds_need_a_spec_with_a_range(samples: Path, tmp_path: Path) -> None:
    spec = write_spec(
        tmp_path,
        {"type": "sql", "url": f"sqlite:///{samples}"},
        {"field": "timestamp", "from": "now"},
        query={"table": "samples"},
    )
    doc = yaml.safe_load(spec.read_text())
    del doc["time_range"]
    spec.write_text(yaml.safe_dump(doc))

    result = CliRunner().invoke(main, ["plan", str(spec), "--from", "now-1d"])

    assert result.exit_code == 2
    assert "has none" in result.output


# --- spec errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("time_range", "extra", "path", "message"),
    [
        ({"field": "t", "from": "now-7x"}, {}, "$.time_range.from", "is not a time"),
        ({"field": "t", "to": "tomorrow"}, {}, "$.time_range.to", "is not a time"),
        ({"field": "t", "from": "2026-03-02", "to": "2026-03-01"}, {}, "$.time_range.to", "empty"),
        (
            {"field": "t", "window": "yesterday", "from": "now"},
            {},
            "$.time_range.window",
            "not both",
        ),
        ({"field": "t"}, {}, "$.time_range", "give a `window`"),
        ({"field": "t", "window": "lastweek"}, {}, "$.time_range.window", "not allowed"),
        (
            {"field": "t", "window": "today", "timezone": "Mars/Olympus"},
            {},
            "$.time_range.timezone",
            "IANA",
        ),
        (
            {"field": "t", "from": "now"},
            {"incremental": {"cursor": "t"}},
            "$.time_range",
            "incremental",
        ),
    ],
)
def test_bad_ranges_are_spec_errors_with_the_key_path(
    tmp_path: Path, time_range: dict[str, Any], extra: dict[str, Any], path: str, message: str
) -> None:
    spec = write_spec(
        tmp_path,
        {"type": "sql", "url": "sqlite:///x.db"},
        time_range,
        query={"table": "t"},
        **extra,
    )

    with pytest.raises(SpecError) as caught:
        load_spec(spec, env={})

    problems = [(p.path, p.message) for p in caught.value.problems]
    assert any(p == path and message in m for p, m in problems), problems
    assert all(p.line is not None for p in caught.value.problems)


def test_an_unquoted_date_is_explained(tmp_path: Path) -> None:
    spec = write_spec(
        tmp_path, {"type": "sql", "url": "sqlite:///x.db"}, {"field": "t"}, query={"table": "t"}
    )
    spec.write_text(spec.read_text().replace("field: t", "field: t\n  from: 2026-03-01"))

    with pytest.raises(SpecError) as caught:
        load_spec(spec, env={})

    (problem,) = caught.value.problems
    assert problem.path == "$.time_range.from"
    assert problem.line == spec.read_text().splitlines().index("  from: 2026-03-01") + 1
    assert "unquoted" in problem.message and "quote it" in problem.message


def test_a_bad_range_exits_2_from_validate(tmp_path: Path) -> None:
    spec = write_spec(
        tmp_path,
        {"type": "sql", "url": "sqlite:///x.db"},
        {"field": "t", "from": "now-7x"},
        query={"table": "t"},
    )

    result = CliRunner().invoke(main, ["validate", str(spec)])

    assert result.exit_code == 2
    assert "$.time_range.from" in result.output


def test_a_relative_range_that_resolves_empty_is_a_plan_error(tmp_path: Path) -> None:
    spec = write_spec(
        tmp_path,
        {"type": "sql", "url": "sqlite:///x.db"},
        {"field": "t", "from": "now", "to": "2026-01-01T00:00:00Z"},
        query={"table": "t"},
    )

    with pytest.raises(SpecError, match="empty"):
        compile_plan(load_spec(spec, env={}), now=NOW, run_id="r")


# --- all metrics of the period, and nothing else: against a direct query --------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("demo")
    init_demo(folder, proxies=20, metrics=400, log_lines=0)
    return folder / "warehouse.db"  # metric_samples: the demo's warehouse, not proxywhirl's


def direct_query(db: Path, start: datetime, end: datetime) -> list[tuple[Any, ...]]:
    """The period's metrics read without exportctl: SQLite text parsed as naive UTC."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT id, timestamp, name, labels, value FROM metric_samples"
        ).fetchall()
    kept = []
    for id_, text, name, labels, value in rows:
        moment = datetime.fromisoformat(text).replace(tzinfo=UTC)
        if start <= moment < end:
            kept.append((id_, moment, name, labels, value))
    return sorted(kept)


def demo_stamps(db: Path) -> list[datetime]:
    with sqlite3.connect(db) as conn:
        return [
            datetime.fromisoformat(t).replace(tzinfo=UTC)
            for (t,) in conn.execute("SELECT timestamp FROM metric_samples")
        ]


OFFSETS = st.sampled_from(
    [timedelta(0), timedelta(hours=2), timedelta(hours=-5), timedelta(hours=5, minutes=30)]
)
SPAN = (utc(2026, 9, 30), utc(2026, 11, 2))


@st.composite
def periods(draw: st.DrawFn, stamps_: list[datetime]) -> tuple[datetime, datetime]:
    """A period whose bounds are often exactly a sample's time, or a microsecond beside it."""

    def bound() -> datetime:
        if draw(st.booleans()):
            return draw(st.sampled_from(stamps_)) + draw(st.sampled_from([-US, timedelta(0), US]))
        return draw(
            st.datetimes(
                min_value=SPAN[0].replace(tzinfo=None), max_value=SPAN[1].replace(tzinfo=None)
            )
        ).replace(tzinfo=UTC)

    start, end = sorted([bound(), bound()])
    return (start, end + US) if start == end else (start, end)


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_exported_metrics_equal_a_direct_query_of_the_period(
    demo: Path, tmp_path: Path, data: st.DataObject
) -> None:
    start, end = data.draw(periods(demo_stamps(demo)))
    offsets = data.draw(st.tuples(OFFSETS, OFFSETS))
    bounds = [m.astimezone(timezone(o)) for m, o in zip((start, end), offsets, strict=True)]
    source = {"type": "sql", "url": f"sqlite:///{demo}"}
    time_range = {"field": "timestamp", "from": bounds[0].isoformat(), "to": bounds[1].isoformat()}
    spec = write_spec(
        tmp_path / f"{start:%Y%m%d%H%M%S%f}-{end:%Y%m%d%H%M%S%f}",
        source,
        time_range,
        query={"table": "metric_samples"},
        fields=["id", "timestamp", "name", "labels", "value"],
    )

    got = samples_of(export(spec))
    assert got == direct_query(demo, start, end)


def samples_of(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Exported metric samples, comparable with `direct_query`."""
    return sorted(
        (r["id"], datetime.fromisoformat(r["timestamp"]), r["name"], r["labels"], r["value"])
        for r in rows
    )


# --- PostgreSQL -------------------------------------------------------------------------------


@pytest.mark.parametrize("column_type", ["timestamp", "timestamptz"])
def test_a_range_on_a_postgresql_copy_of_the_metrics(
    demo: Path, pg_engine: sa.Engine, pg_schema: str, tmp_path: Path, column_type: str
) -> None:
    copy_tables(demo, pg_engine, pg_schema, ["metric_samples"])  # naive UTC: `timestamp`
    if column_type == "timestamptz":
        with pg_engine.begin() as conn:
            conn.execute(
                sa.text(
                    f'ALTER TABLE "{pg_schema}".metric_samples ALTER COLUMN timestamp '
                    "TYPE timestamptz USING timestamp AT TIME ZONE 'UTC'"
                )
            )
    every = sorted(demo_stamps(demo))
    start, end = every[100], every[300]
    # A session timezone other than UTC: the bounds must not depend on it.
    source = {"type": "sql", "url": pg_url(pg_schema) + "%20-ctimezone%3DAmerica/New_York"}
    time_range = {
        "field": "timestamp",
        "from": start.astimezone(BERLIN).isoformat(),
        "to": end.isoformat(),
    }
    spec = write_spec(
        tmp_path,
        source,
        time_range,
        query={"table": "metric_samples"},
        fields=["id", "timestamp", "name", "labels", "value"],
    )

    got = samples_of(export(spec))
    assert got == direct_query(demo, start, end)
    assert len(got) >= 200 and got[0][1] == start and got[-1][1] < end


def test_date_only_bounds_are_midnight_in_the_timezone() -> None:
    assert timerange.instant("2026-03-29", NOW, BERLIN) == datetime.combine(
        date(2026, 3, 29), datetime.min.time(), BERLIN
    ).astimezone(UTC)
