"""Killing exportctl apply at random moments while a writer changes the source: the runs,
the kills, and the files they committed."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from exportctl.destinations.local import TEMP_SUFFIX
from exportctl.ledger.store import Ledger

SEED = int(os.environ.get("EXPORTCTL_SOAK_SEED", "20240506"))


#: What a run imports: the CLI itself imports them only in the commands that run exports.
RUN_MODULES = [
    "exportctl.cli.main",
    "exportctl.jobs.job",
    "exportctl.cli.progress",
    "exportctl.sources.sql",
    "exportctl.formats.json",
    "exportctl.formats.csv",
]


def apply_once(args: list[str], log: str) -> None:
    """`exportctl apply ...` as the console script runs it, its output to a log."""
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    from exportctl.cli import main as cli

    sys.argv = ["exportctl", *args]
    cli.run()


@dataclass
class Soak:
    root: Path
    rng: random.Random
    context: Any  # a multiprocessing context
    kills: Counter[str] = field(default_factory=Counter)
    runs: int = 0
    finished: Counter[int] = field(default_factory=Counter)  # exit codes of runs not killed
    durations: list[float] = field(default_factory=list)
    #: Kills the soak makes at least.
    min_kills: int = 50

    @property
    def db(self) -> Path:
        return self.root / "source.db"

    @property
    def out(self) -> Path:
        return self.root / "out"

    @property
    def spec(self) -> Path:
        return self.root / "items.yaml"

    @property
    def state(self) -> str:
        return f"sqlite:///{self.root / 'state.db'}"

    def files(self) -> dict[str, int]:
        """Each file in the destination folder, by name, with its inode."""
        if not self.out.is_dir():
            return {}
        return {entry.name: entry.inode() for entry in os.scandir(self.out)}

    def typical_run(self) -> float:
        return statistics.median(self.durations[-20:]) if self.durations else 0.2

    def run_and_kill(self) -> None:
        """One run, killed after a random delay or as soon as a file lands; or left alone."""
        before = self.files()
        log = str(self.root / "logs" / f"{self.runs:04d}.log")
        process = self.context.Process(
            target=apply_once, args=(["apply", str(self.spec), "--state", self.state], log)
        )
        on_commit = self.rng.random() < 0.25
        delay = self.rng.uniform(0, 1.3 * self.typical_run())
        started = time.monotonic()
        process.start()
        self.runs += 1
        if on_commit:
            while process.is_alive() and self.files() == before:
                time.sleep(0.0002)
        else:
            process.join(delay)
        if process.is_alive():
            # Not os.kill: the process may end after is_alive, and the forkserver (its
            # parent) reap it at once; Process.kill passes over a process gone.
            process.kill()
        process.join()
        if process.exitcode == -signal.SIGKILL:
            self.kills[self.moment_of_kill(process.pid, before)] += 1
        else:
            self.finished[process.exitcode] += 1
            self.durations.append(time.monotonic() - started)
            assert process.exitcode == 0, Path(log).read_text()

    def moment_of_kill(self, pid: int, before: dict[str, int]) -> str:
        with closing(Ledger(self.state)) as ledger:
            runs = [r for r in ledger.history("items", limit=5) if r["pid"] == pid]
        if not runs:
            return "before the run was recorded"
        run = runs[0]
        name = Path(run["destination"]).name
        if run["status"] == "succeeded":
            return "after the ledger commit"
        if self.files().get(name) not in (None, before.get(name)):
            return "after the file commit, before the ledger's"
        return "during the export"

    def apply_until_nothing_new(self) -> int:
        """Plain `python -m exportctl apply` until a run that is not a retry finds nothing."""
        for attempt in range(1, 11):
            done = subprocess.run(
                [sys.executable, "-m", "exportctl", "apply", str(self.spec), "--json"]
                + ["--state", self.state],
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert done.returncode == 0, done.stdout + done.stderr
            (result,) = json.loads(done.stdout)
            with closing(Ledger(self.state)) as ledger:
                record = ledger.run(result["run_id"])
            assert record is not None
            if result["rows"] == 0 and record["trigger"] != "retry":
                return attempt
        pytest.fail("ten runs after the writer stopped and still something new")


def committed_files(soak: Soak) -> dict[str, dict[str, Any]]:
    """The files the ledger lists for succeeded runs, by name; checked against the folder."""
    with closing(Ledger(soak.state)) as ledger:
        runs = ledger.history("items", limit=100_000)
        assert not [r for r in runs if r["status"] == "running"]
        listed = {
            Path(f["uri"]).name: f
            for r in runs
            if r["status"] == "succeeded"
            for f in ledger.run(r["id"])["files"]  # type: ignore[index]
        }
    present = sorted(soak.files())
    assert not [n for n in present if n.startswith(".") or n.endswith(TEMP_SUFFIX)], present
    assert present == sorted(listed), "the folder and the ledger disagree"
    for name, entry in listed.items():
        data = (soak.out / name).read_bytes()
        assert (len(data), hashlib.sha256(data).hexdigest()) == (entry["bytes"], entry["sha256"])
    return listed
