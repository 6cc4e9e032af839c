"""Schedule phrases fire at the right instants: an injected `after`, never the clock or sleep."""

from __future__ import annotations

import itertools
import json
import re
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from exportctl.cli.describe import describe_plan
from exportctl.cli.main import main
from exportctl.lang import schedule as scheduler
from exportctl.lang.schedule import Rule, next_run, next_runs, parse
from exportctl.plan.compiler import compile_plan
from exportctl.spec.load import load_spec
from exportctl.spec.schema import export_spec_schema


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def local(zone: str, *args: int, fold: int = 0) -> datetime:
    """The instant `zone`'s clock shows the wall time `args`, in UTC."""
    wall = datetime(*args, tzinfo=ZoneInfo(zone), fold=fold)  # type: ignore[misc]
    return wall.astimezone(UTC)


# --- parsing -----------------------------------------------------------------

PHRASES = [
    ("every 15 minutes", Rule("interval", interval=timedelta(minutes=15))),
    ("every 1 seconds", Rule("interval", interval=timedelta(seconds=1))),
    ("every 2 hours", Rule("interval", interval=timedelta(hours=2))),
    ("every 3 days", Rule("interval", interval=timedelta(days=3))),
    ("every 2 weeks", Rule("interval", interval=timedelta(weeks=2))),
    ("every second", Rule("interval", interval=timedelta(seconds=1))),
    ("every minute", Rule("interval", interval=timedelta(minutes=1))),
    ("every hour", Rule("hourly", at=time(0, 0))),
    ("every hour at :05", Rule("hourly", at=time(0, 5))),
    ("every day", Rule("daily", at=time(0, 0))),
    ("every day at 02:00", Rule("daily", at=time(2, 0))),
    ("every day at 23:59:30", Rule("daily", at=time(23, 59, 30))),
    ("every monday at 03:30", Rule("weekly", at=time(3, 30), weekday=0)),
    ("every sunday", Rule("weekly", at=time(0, 0), weekday=6)),
]


@pytest.mark.parametrize(("phrase", "rule"), PHRASES, ids=[p for p, _ in PHRASES])
def test_each_phrase_parses_to_its_rule(phrase: str, rule: Rule) -> None:
    assert parse(phrase) == rule


@pytest.mark.parametrize(
    "phrase",
    ["every day at 25:00", "every 0 minutes", "every fortnight", "every hour at 5", "0 2 * *"],
)
def test_an_unparseable_phrase_is_a_value_error_naming_it(phrase: str) -> None:
    with pytest.raises(ValueError, match=f"`{re.escape(phrase)}`"):
        parse(phrase)


def test_the_schema_examples_parse() -> None:
    for example in export_spec_schema()["$defs"]["schedulePhrase"]["examples"]:
        parse(example)


@pytest.mark.parametrize(
    ("phrase", "canonical"),
    [
        ("Every Day At 02:00", "every day at 02:00"),
        ("EVERY   monday at 03:30", "every monday at 03:30"),
        ("every 1 day", "every 1 days"),
        ("every 15 minute", "every 15 minutes"),
    ],
)
def test_case_spaces_and_a_singular_unit_are_accepted(phrase: str, canonical: str) -> None:
    assert parse(phrase) == parse(canonical)


# --- cron expressions ----------------------------------------------------------


@pytest.mark.parametrize(
    ("nickname", "fields"),
    [
        ("@hourly", "0 * * * *"),
        ("@daily", "0 0 * * *"),
        ("@midnight", "0 0 * * *"),
        ("@weekly", "0 0 * * 0"),
        ("@monthly", "0 0 1 * *"),
        ("@yearly", "0 0 1 1 *"),
        ("@Annually", "0 0 1 1 *"),
    ],
)
def test_cron_nicknames_are_their_five_fields(nickname: str, fields: str) -> None:
    assert parse(nickname) == Rule("cron", cron=fields)


def test_cron_counts_from_the_instant_given_and_strictly_after_it() -> None:
    rule = parse("0 2 * * *")
    assert next_runs(rule, "UTC", utc(2024, 5, 6, 2), 2) == [utc(2024, 5, 7, 2), utc(2024, 5, 8, 2)]
    assert next_run(rule, "UTC", utc(2024, 5, 6, 1, 59, 59)) == utc(2024, 5, 6, 2)
    weekdays = next_runs(parse("30 3 * * mon-fri"), "UTC", utc(2024, 5, 10, 4), 2)  # a Friday
    assert weekdays == [utc(2024, 5, 13, 3, 30), utc(2024, 5, 14, 3, 30)]


def test_a_bad_cron_expression_names_itself_and_the_allowed_forms() -> None:
    with pytest.raises(ValueError, match=r"`61 2 \* \* \*` is not a schedule.*`0 2 \* \* \*`"):
        parse("61 2 * * *")


DST_ZONES = ["Europe/Berlin", "America/New_York", "America/Santiago", "Australia/Lord_Howe"]


def transitions(zone: str) -> list[datetime]:
    """The instants in 2024-2026 at which `zone`'s offset changes, found hour by hour."""
    tz, found = ZoneInfo(zone), []
    instant = utc(2024, 1, 1)
    while instant.year < 2027:
        following = instant + timedelta(hours=1)
        if instant.astimezone(tz).utcoffset() != following.astimezone(tz).utcoffset():
            found.append(instant)
        instant = following
    return found


@settings(max_examples=80, deadline=None)
@given(
    zone=st.sampled_from(DST_ZONES),
    which=st.integers(0, 5),
    offset_hours=st.integers(-30, 6),
    hour=st.integers(0, 23),
    minute=st.integers(0, 59),
    weekday=st.integers(0, 6),
)
def test_cron_and_phrases_agree_on_every_instant_across_dst_changes(
    zone: str, which: int, offset_hours: int, hour: int, minute: int, weekday: int
) -> None:
    """The phrases' DST rules are cron's: the same instants for daily, weekly and hourly forms."""
    after = transitions(zone)[which] + timedelta(hours=offset_hours)
    day = scheduler.WEEKDAYS[weekday]
    pairs = [
        (f"every day at {hour:02}:{minute:02}", f"{minute} {hour} * * *", 4),
        (f"every {day} at {hour:02}:{minute:02}", f"{minute} {hour} * * {(weekday + 1) % 7}", 2),
    ]
    if zone != "Australia/Lord_Howe":  # see the test below
        pairs.append((f"every hour at :{minute:02}", f"{minute} * * * *", 40))
    for phrase, cron, count in pairs:
        assert next_runs(parse(cron), zone, after, count) == next_runs(
            parse(phrase), zone, after, count
        ), (phrase, cron)


def test_cron_started_in_the_second_pass_of_a_repeated_hour_answers_after_it() -> None:
    """02:00 CET on the fall-back day is the second 02:00: the 02:01 run was an hour ago."""
    after = utc(2024, 10, 27, 1)  # 02:00+01:00, Europe/Berlin
    runs = next_runs(parse("1 2 * * *"), "Europe/Berlin", after, 2)
    assert runs == [utc(2024, 10, 28, 1, 1), utc(2024, 10, 29, 1, 1)]


def test_where_cron_and_the_hourly_phrase_part_a_half_hour_dst_change() -> None:
    """Lord Howe falls back by 30 minutes: 01:30-02:00 happens twice. `every hour at :30` runs
    in both, as it does in any repeated hour; cron (cronsim, after Debian's cron) runs once."""
    after, zone = utc(2024, 4, 6, 13), "Australia/Lord_Howe"
    phrase = next_runs(parse("every hour at :30"), zone, after, 3)
    cron = next_runs(parse("30 * * * *"), zone, after, 3)
    assert phrase == [utc(2024, 4, 6, 13, 30), utc(2024, 4, 6, 14, 30), utc(2024, 4, 6, 15)]
    assert cron == [utc(2024, 4, 6, 13, 30), utc(2024, 4, 6, 14, 30), utc(2024, 4, 6, 16)]


def test_latest_tick_and_period_of_a_cron_rule() -> None:
    from exportctl.daemon.slots import latest_tick

    rule = parse("0 9 * * mon-fri")
    monday = utc(2024, 5, 13, 10)
    assert latest_tick(rule, "UTC", utc(2024, 5, 1), monday) == utc(2024, 5, 13, 9)
    assert latest_tick(rule, "UTC", utc(2024, 5, 13, 9), monday) is None
    # Over a weekend the longest gap is three days: staleness waits twice that.
    assert scheduler.period(rule, "UTC", utc(2024, 5, 10, 10)) == timedelta(days=3)
    assert scheduler.period(parse("*/5 * * * *"), "UTC", monday) == timedelta(minutes=5)


# --- daily, weekly, hourly, intervals -----------------------------------------


def test_daily_runs_at_the_time_each_day_in_utc() -> None:
    runs = next_runs(parse("every day at 02:00"), "UTC", utc(2024, 5, 6, 7, 8, 9), 3)

    assert runs == [utc(2024, 5, 7, 2), utc(2024, 5, 8, 2), utc(2024, 5, 9, 2)]
    assert all(r.tzinfo is UTC for r in runs)


def test_a_time_later_today_runs_today() -> None:
    assert next_run(parse("every day at 02:00"), "UTC", utc(2024, 5, 6, 1, 59)) == utc(
        2024, 5, 6, 2
    )


def test_asking_at_exactly_a_run_instant_gives_the_next_one() -> None:
    assert next_run(parse("every day at 02:00"), "UTC", utc(2024, 5, 6, 2)) == utc(2024, 5, 7, 2)
    assert next_run(parse("every 15 minutes"), "UTC", utc(2024, 5, 6, 2, 15)) == utc(
        2024, 5, 6, 2, 30
    )
    assert next_run(parse("every hour at :05"), "UTC", utc(2024, 5, 6, 2, 5)) == utc(
        2024, 5, 6, 3, 5
    )


def test_weekly_runs_on_its_weekday_only() -> None:
    # 2024-05-06 is a Monday.
    rule = parse("every monday at 03:30")

    assert next_runs(rule, "UTC", utc(2024, 5, 6, 3, 29), 2) == [
        utc(2024, 5, 6, 3, 30),
        utc(2024, 5, 13, 3, 30),
    ]
    assert next_run(rule, "UTC", utc(2024, 5, 6, 3, 30)) == utc(2024, 5, 13, 3, 30)
    assert next_run(parse("every sunday"), "UTC", utc(2024, 5, 6)) == utc(2024, 5, 12)


def test_weekly_follows_the_local_weekday() -> None:
    # Monday 00:30 in Tokyo is still Sunday in UTC.
    rule = parse("every monday at 00:30")

    assert next_run(rule, "Asia/Tokyo", utc(2024, 5, 1)) == utc(2024, 5, 5, 15, 30)


def test_hour_at_runs_at_that_minute_of_every_hour() -> None:
    runs = next_runs(parse("every hour at :05"), "UTC", utc(2024, 5, 6, 7, 8), 3)

    assert runs == [utc(2024, 5, 6, 8, 5), utc(2024, 5, 6, 9, 5), utc(2024, 5, 6, 10, 5)]


def test_every_hour_is_on_the_local_hour_even_half_an_hour_off_utc() -> None:
    runs = next_runs(parse("every hour"), "Asia/Kolkata", utc(2024, 5, 6, 7, 8), 2)

    assert runs == [utc(2024, 5, 6, 7, 30), utc(2024, 5, 6, 8, 30)]


def test_intervals_count_from_the_epoch_so_every_daemon_agrees() -> None:
    after = utc(2024, 5, 6, 7, 8, 9)

    assert next_runs(parse("every 15 minutes"), "UTC", after, 3) == [
        utc(2024, 5, 6, 7, 15),
        utc(2024, 5, 6, 7, 30),
        utc(2024, 5, 6, 7, 45),
    ]
    assert next_run(parse("every 2 hours"), "UTC", after) == utc(2024, 5, 6, 8)
    assert next_run(parse("every second"), "UTC", after) == utc(2024, 5, 6, 7, 8, 10)
    assert next_run(parse("every minute"), "UTC", after) == utc(2024, 5, 6, 7, 9)
    assert next_run(parse("every 1 days"), "Europe/Berlin", after) == utc(2024, 5, 7)
    # The epoch was a Thursday: two-week intervals fall on Thursdays at midnight UTC.
    assert next_run(parse("every 2 weeks"), "UTC", after).weekday() == 3


def test_an_interval_ignores_the_timezone() -> None:
    after = utc(2024, 5, 6, 7, 8)
    rule = parse("every 15 minutes")

    assert next_runs(rule, "Asia/Kolkata", after, 4) == next_runs(rule, "UTC", after, 4)


# --- timezones and DST --------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        ("Asia/Kolkata", utc(2024, 5, 6, 20, 30)),  # 02:00 +05:30 on the 7th
        ("America/New_York", utc(2024, 5, 7, 6)),  # 02:00 EDT on the 7th
        ("Europe/Berlin", utc(2024, 5, 7, 0)),  # 02:00 CEST on the 7th
    ],
)
def test_daily_is_at_the_local_wall_time(zone: str, expected: datetime) -> None:
    assert next_run(parse("every day at 02:00"), zone, utc(2024, 5, 6, 12)) == expected


SPRING = {"Europe/Berlin": date(2024, 3, 31), "America/New_York": date(2024, 3, 10)}
FALL = {"Europe/Berlin": date(2024, 10, 27), "America/New_York": date(2024, 11, 3)}
#: The hour that is skipped in spring and repeated in autumn.
CHANGE_HOUR = {
    "Europe/Berlin": {"spring": 2, "fall": 2},
    "America/New_York": {"spring": 2, "fall": 1},
}


def on(zone: str, day: date, hour: int, minute: int = 0, *, fold: int = 0) -> datetime:
    return local(zone, day.year, day.month, day.day, hour, minute, fold=fold)


def walls(runs: list[datetime], zone: str) -> list[str]:
    return [r.astimezone(ZoneInfo(zone)).strftime("%H:%M %Z") for r in runs]


@pytest.mark.parametrize("zone", SPRING)
def test_spring_forward_runs_a_missing_time_once_at_the_end_of_the_gap(zone: str) -> None:
    day, one = SPRING[zone], timedelta(days=1)

    runs = next_runs(parse("every day at 02:30"), zone, on(zone, day - one, 0), 3)

    assert runs == [on(zone, day - one, 2, 30), on(zone, day, 3, 0), on(zone, day + one, 2, 30)]
    just_before = (runs[1] - timedelta(seconds=1)).astimezone(ZoneInfo(zone))
    assert just_before.strftime("%H:%M:%S") == "01:59:59"  # runs[1] is the instant of the jump
    assert runs[2] - runs[0] == timedelta(hours=47)


@pytest.mark.parametrize("zone", FALL)
def test_fall_back_runs_a_repeated_time_once_at_its_first_occurrence(zone: str) -> None:
    day, hour = FALL[zone], CHANGE_HOUR[zone]["fall"]

    runs = next_runs(parse(f"every day at {hour:02d}:30"), zone, on(zone, day, 0), 2)

    first, second = on(zone, day, hour, 30, fold=0), on(zone, day, hour, 30, fold=1)
    assert second - first == timedelta(hours=1)
    assert runs == [first, on(zone, day + timedelta(days=1), hour, 30)]
    assert runs[1] - runs[0] == timedelta(hours=25)


def test_a_time_clear_of_the_change_keeps_its_wall_time_across_it() -> None:
    runs = next_runs(parse("every day at 04:00"), "Europe/Berlin", utc(2024, 3, 30), 3)

    assert walls(runs, "Europe/Berlin") == ["04:00 CET", "04:00 CEST", "04:00 CEST"]
    assert runs[1] - runs[0] == timedelta(hours=23)


@pytest.mark.parametrize("zone", SPRING)
def test_hour_at_skips_the_missing_hour_but_stays_an_hour_apart(zone: str) -> None:
    runs = next_runs(parse("every hour at :05"), zone, on(zone, SPRING[zone], 0, 30), 3)

    assert [w[:5] for w in walls(runs, zone)] == ["01:05", "03:05", "04:05"]
    assert [b - a for a, b in itertools.pairwise(runs)] == [timedelta(hours=1)] * 2


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        ("Europe/Berlin", ["01:05 CEST", "02:05 CEST", "02:05 CET", "03:05 CET"]),
        ("America/New_York", ["01:05 EDT", "01:05 EST", "02:05 EST", "03:05 EST"]),
    ],
)
def test_hour_at_runs_in_both_copies_of_a_repeated_hour(zone: str, expected: list[str]) -> None:
    runs = next_runs(parse("every hour at :05"), zone, on(zone, FALL[zone], 0, 30), 4)

    assert walls(runs, zone) == expected
    assert [b - a for a, b in itertools.pairwise(runs)] == [timedelta(hours=1)] * 3


@pytest.mark.parametrize("zone", SPRING)
@pytest.mark.parametrize("phrase", ["every 2 hours", "every 15 minutes", "every 1 days"])
def test_intervals_are_elapsed_time_across_a_dst_change(zone: str, phrase: str) -> None:
    rule = parse(phrase)
    for day in (SPRING[zone], FALL[zone]):
        runs = next_runs(rule, zone, on(zone, day, 0), 12)
        assert [b - a for a, b in itertools.pairwise(runs)] == [rule.interval] * 11


def test_weekly_on_a_dst_sunday_follows_the_daily_rules() -> None:
    rule = parse("every sunday at 02:30")

    assert next_run(rule, "Europe/Berlin", utc(2024, 3, 30)) == local(
        "Europe/Berlin", 2024, 3, 31, 3
    )
    assert next_run(rule, "Europe/Berlin", utc(2024, 10, 26)) == local(
        "Europe/Berlin", 2024, 10, 27, 2, 30, fold=0
    )


def test_a_naive_after_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        next_run(parse("every day"), "UTC", datetime(2024, 5, 6))


def test_an_unknown_timezone_suggests_the_closest() -> None:
    with pytest.raises(ValueError, match="did you mean `Europe/Berlin`"):
        scheduler.zone("Europe/Berln")
    with pytest.raises(ValueError, match="did you mean `America/New_York`"):
        scheduler.zone("america/new_york")


ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"]


@settings(max_examples=300, deadline=None)
@given(
    after=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)
    ),
    zone=st.sampled_from(ZONES),
    hour=st.integers(0, 23),
    minute=st.integers(0, 59),
)
def test_daily_next_run_is_after_within_a_day_and_at_the_wall_time(
    after: datetime, zone: str, hour: int, minute: int
) -> None:
    run = next_run(parse(f"every day at {hour:02d}:{minute:02d}"), zone, after)

    assert after < run < after + timedelta(days=1, hours=1)
    tz = ZoneInfo(zone)
    wall = datetime.combine(run.astimezone(tz).date(), time(hour, minute))
    exists = wall.replace(tzinfo=tz).astimezone(UTC).astimezone(tz).replace(tzinfo=None) == wall
    if exists:
        assert run == wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    else:  # in a gap: the first instant after it, where the offset has just changed
        before = (run - timedelta(seconds=1)).astimezone(tz)
        assert before.utcoffset() != run.astimezone(tz).utcoffset()
        assert before.replace(tzinfo=None) < wall < run.astimezone(tz).replace(tzinfo=None)


# --- the spec and the CLI -----------------------------------------------------

SPEC = """\
version: 1
name: nightly
description: A nightly export.
source: {type: sql, url: "sqlite:///system.db"}
query: {table: proxy_identities}
format: csv
destination: out.csv
"""


def write_spec(folder: Path, schedule: str) -> Path:
    path = folder / "nightly.yaml"
    path.write_text(SPEC + schedule + "\n")
    return path


def test_plan_describes_the_next_three_runs_from_the_time_it_is_given(tmp_path: Path) -> None:
    spec = load_spec(
        write_spec(tmp_path, "schedule: {every: every day at 02:30, timezone: Europe/Berlin}"),
        env={},
    )
    plan = compile_plan(spec, now=utc(2024, 3, 30, 12), run_id="20240330T120000Z-abc123")

    described = describe_plan(plan)

    assert described["next_runs"] == [
        "2024-03-31T01:00:00Z",
        "2024-04-01T00:30:00Z",
        "2024-04-02T00:30:00Z",
    ]
    assert described["next_runs_local"] == [
        "2024-03-31T03:00:00+02:00",
        "2024-04-01T02:30:00+02:00",
        "2024-04-02T02:30:00+02:00",
    ]


def test_plan_cli_shows_next_runs_in_utc_and_local_time(tmp_path: Path) -> None:
    path = write_spec(tmp_path, "schedule: {every: every day at 02:00, timezone: Asia/Kolkata}")
    runner = CliRunner(env={"PGPASSWORD": None})
    before = datetime.now(UTC)

    as_json = runner.invoke(main, ["plan", "--no-count", "--json", str(path)])
    human = runner.invoke(main, ["plan", "--no-count", str(path)])

    assert as_json.exit_code == 0, as_json.output
    described = json.loads(as_json.output)[0]
    runs = [datetime.fromisoformat(r) for r in described["next_runs"]]
    assert len(runs) == 3 and before < runs[0] < runs[1] < runs[2]
    assert all(r.utcoffset() == timedelta(0) for r in runs)
    assert [
        datetime.fromisoformat(r).strftime("%H:%M%z") for r in described["next_runs_local"]
    ] == ["02:00+0530"] * 3
    assert human.exit_code == 0, human.output
    assert "next runs" in human.output
    for utc_text, local_text in zip(
        described["next_runs"], described["next_runs_local"], strict=True
    ):
        assert f"{utc_text}  ({local_text} local)" in human.output


def test_a_timezone_typo_is_a_spec_problem_with_a_suggestion(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write_spec(tmp_path, "schedule:\n  every: every day at 02:00\n  timezone: Europe/Berln")

    result = CliRunner(env={"PGPASSWORD": None}).invoke(main, ["validate", "nightly.yaml"])

    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert "nightly.yaml:10 at $.schedule.timezone: unknown timezone `Europe/Berln`" in text
    assert "did you mean `Europe/Berlin`?" in text


def test_an_impossible_time_is_refused_with_the_allowed_forms(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write_spec(tmp_path, "schedule: every day at 25:00")

    result = CliRunner(env={"PGPASSWORD": None}).invoke(main, ["validate", "nightly.yaml"])

    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert "nightly.yaml:8 at $.schedule: `every day at 25:00` is not a schedule" in text
    assert "`every day at 02:00`" in text and "`0 2 * * *`" in text
    assert "[0-5]" not in text  # no regular expression in the message


def test_plan_shows_a_cron_schedules_next_runs_in_local_time(tmp_path: Path) -> None:
    path = write_spec(tmp_path, "schedule: {every: '30 2 * * *', timezone: Europe/Berlin}")

    result = CliRunner(env={"PGPASSWORD": None}).invoke(
        main, ["plan", "--no-count", "--json", str(path)]
    )

    assert result.exit_code == 0, result.output
    local_runs = json.loads(result.output)[0]["next_runs_local"]
    assert [datetime.fromisoformat(r).strftime("%H:%M") for r in local_runs] == ["02:30"] * 3
