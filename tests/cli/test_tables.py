"""Tables at 80 columns and in logs: ids never wrap, a logged row stays on one line."""

from __future__ import annotations

import io
import os
import re
import string
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from exportctl.cli.tables import Cell, Column, show
from exportctl.ledger.runs import RunRecord
from exportctl.ledger.store import Ledger
from tests.support.terminal import run_on_a_terminal

COLUMNS = [
    Column("run", "id"),
    Column("spec"),
    Column("status"),
    Column("rows", "number"),
    Column("destination", "path"),
    Column("error", "free"),
]
RUN_IDS = st.from_regex(r"2026\d{4}T\d{6}Z-[0-9a-f]{12}", fullmatch=True)
WORDS = st.text(string.ascii_lowercase + "-_.", min_size=1, max_size=24)
PATHS = st.lists(WORDS, min_size=1, max_size=6).map(lambda parts: "/" + "/".join(parts))
ERRORS = st.lists(st.text(string.ascii_letters + ":", max_size=12), max_size=12).map(
    lambda words: " \n".join(words)  # messages with line breaks, as exceptions have
)
ROWS = st.lists(
    st.tuples(RUN_IDS, WORDS, st.sampled_from(["succeeded", "failed"]), st.integers(0, 10**9))
    .flatmap(lambda t: st.tuples(st.just(t), PATHS, ERRORS))
    .map(lambda r: [*r[0][:2], Cell(r[0][2], "red"), f"{r[0][3]:,}", r[1], r[2]]),
    min_size=1,
    max_size=4,
    unique_by=lambda r: r[0],
)


@settings(max_examples=60, deadline=None)
@given(rows=ROWS, width=st.sampled_from([80, 100, 200]))
def test_on_a_terminal_ids_never_wrap_and_nothing_is_wider_than_the_terminal(rows, width):
    out = io.StringIO()
    show(Console(file=out, width=width, force_terminal=True, color_system=None), "t", COLUMNS, rows)
    lines = out.getvalue().splitlines()
    assert all(len(line) <= width for line in lines)
    for row in rows:
        assert any(row[0] in line for line in lines)  # the whole id on one line


@settings(max_examples=60, deadline=None)
@given(rows=ROWS)
def test_off_a_terminal_each_row_is_one_whole_line(rows):
    out = io.StringIO()
    show(Console(file=out, width=80, force_terminal=False), "t", COLUMNS, rows)
    header, *lines = out.getvalue().splitlines()
    assert header.split() == [c.name for c in COLUMNS]
    assert len(lines) == len(rows)
    for line, row in zip(lines, rows, strict=True):
        assert line.startswith(row[0]) and row[1] in line and row[4] in line  # nothing cut
        assert " ".join(row[5].split()) in line


def test_history_at_80_columns_on_a_terminal_and_piped(tmp_path: Path) -> None:
    state = f"sqlite:///{tmp_path / 'state.db'}"
    ledger = Ledger(state)
    long_path = "/srv/exports/" + "nightly/" * 6 + "proxy-list-20261207T045339Z.csv.gz"
    ids = []
    for n in range(3):
        run_id = f"20261207T04533{n}Z-{n:012x}"
        spec = f"spec-with-a-long-name-{n}"
        started = datetime(2026, 12, 7, 4, 53, n, tzinfo=UTC)
        ledger.start_run(RunRecord(run_id, spec, "0" * 64, "cli", long_path, started))
        ledger.finish_run(run_id, "failed", rows=10**6, bytes_=10**9, error="boom:\nline 2")
        ids.append(run_id)
    env = dict(os.environ, TERM="xterm", COLUMNS="80")
    for command, expected in ((["history"], ids[::-1]), (["status", ids[0]], ids[:1])):
        shown = run_on_a_terminal([*command, "--state", state], env)
        plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown)
        assert all(run_id in plain for run_id in expected)  # whole, on one line
        table = [line for line in plain.splitlines() if not line.startswith("ledger: ")]
        assert max(len(line) for line in table) <= 80
        piped = subprocess.run(
            [sys.executable, "-m", "exportctl", *command, "--state", state],
            capture_output=True, text=True, env=env, check=True,
        )  # fmt: skip
        rows = [line for line in piped.stdout.splitlines() if line.startswith("2026")]
        assert [row.split()[0] for row in rows] == expected
        assert all("boom: line 2" in row for row in rows) or command[0] == "status"
