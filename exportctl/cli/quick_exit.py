"""End the process without tearing the interpreter down, once everything is written.

After a run, Python's own finalisation frees every object pandas, pyarrow and SQLAlchemy
made, one at a time: 0.2-0.3 CPU-seconds of an export (docs/benchmarks.md) that the
operating system does at once when the process ends. `install` registers an atexit handler
before any library registers one, so it runs last: the others (logging, temporary files,
thread pools, multiprocessing) have run, and only the finalisation is skipped. stdout and
stderr are flushed, and the process exits with the code `record` kept. Without one (an
uncaught exception, `sys.exit("text")`), the process ends the usual way.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys

_codes: list[int] = []


def install() -> None:
    atexit.register(_exit_now)


def record(code: object) -> None:
    """The code a `SystemExit` carries, where Python would exit with it as is."""
    if code is None or isinstance(code, int):
        _codes.append(code or 0)


def _exit_now() -> None:
    if not _codes:
        return
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: the reader has gone
            stream.flush()
    os._exit(_codes[-1])
