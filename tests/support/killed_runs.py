"""exportctl apply in forked processes, to be killed at any moment, over a table whose rows
say which run's data they are."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import time
from pathlib import Path

from exportctl.cli.main import main


def apply_in_process(spec: Path, state: str) -> None:
    """`exportctl apply` in this (forked) process, its summary to /dev/null."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    main(["apply", str(spec), "--state", state, "--json"], standalone_mode=False)


def fork_apply(spec: Path, state: str) -> multiprocessing.process.BaseProcess:
    process = multiprocessing.get_context("fork").Process(
        target=apply_in_process, args=(spec, state)
    )
    process.start()
    return process


def set_generation(db: Path, generation: int) -> None:
    """Every row carries the generation of the data a run reads."""
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE items SET gen = ?", (generation,))


def timed_run(spec: Path, state: str) -> float:
    started = time.monotonic()
    process = fork_apply(spec, state)
    process.join(60)
    assert process.exitcode == 0
    return time.monotonic() - started
