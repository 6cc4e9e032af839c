"""The log files: loguru's serialized JSON, one file per day (rotated days gzipped),
and the same records in proxywhirl's logfmt template."""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterable
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path
from typing import Any

from exportctl.demo.events import LogEvent
from exportctl.demo.times import DAY_US, END_US, EPOCH, LOG_DAYS

_LEVELS = {
    "DEBUG": (10, "🐞"),
    "INFO": (20, "ℹ️"),
    "SUCCESS": (25, "✅"),
    "WARNING": (30, "⚠️"),
    "ERROR": (40, "❌"),
}
_CALL_SITES = {  # component -> (module, function, line), as loguru would record them
    "rotator": ("rotator", "_make_request", 412),
    "fetchers": ("fetchers", "fetch_all", 233),
    "health_monitor": ("health_monitor", "_run_checks", 158),
    "circuit_breaker": ("circuit_breaker", "record_failure", 97),
    "strategies": ("strategies", "select", 301),
    "storage": ("storage", "save", 188),
}
_SITE_PACKAGES = "/srv/proxywhirl/.venv/lib/python3.12/site-packages/proxywhirl"
_PROCESS = {"id": 2817, "name": "MainProcess"}
_THREAD = {"id": 140245871601472, "name": "MainThread"}


def write_logs(logs_dir: Path, events: Iterable[LogEvent]) -> tuple[Path, ...]:
    """One file per day as loguru's `rotation="00:00", compression="gz"` leaves them, in JSON
    (`configure_logging(format="json")`); the same events in logfmt in `logfmt/`."""
    logs_dir.mkdir(parents=True, exist_ok=True)
    (logs_dir / "logfmt").mkdir(exist_ok=True)
    first_day = END_US // DAY_US - LOG_DAYS
    paths = [_rotated_name(logs_dir, first_day + d) for d in range(LOG_DAYS - 1)]
    paths.append(logs_dir / "proxywhirl.log")
    logfmt = logs_dir / "logfmt" / "proxywhirl.log"
    with ExitStack() as stack:
        files = [stack.enter_context(_open_log(p)) for p in paths]
        plain = stack.enter_context(_open_log(logfmt))
        for event in events:
            day = min(max(event.time_us // DAY_US - first_day, 0), LOG_DAYS - 1)
            files[day].write(loguru_line(event).encode("utf-8"))
            plain.write(logfmt_line(event).encode("utf-8"))
    return (*paths, logfmt)


def _rotated_name(logs_dir: Path, day: int) -> Path:
    # loguru names a rotated file after the time the file was started.
    started = EPOCH + timedelta(days=day)
    return logs_dir / f"proxywhirl.{started:%Y-%m-%d_%H-%M-%S_%f}.log.gz"


def _open_log(path: Path) -> io.BufferedIOBase:
    if path.suffix == ".gz":
        # mtime=0 keeps the gzip header, and so the bytes, independent of the clock.
        return gzip.GzipFile(path, "wb", mtime=0)
    return path.open("wb")


def loguru_line(event: LogEvent) -> str:
    """One line as `logger.add(..., serialize=True)` writes it."""
    module, function, line = _CALL_SITES[event.component]
    number, icon = _LEVELS[event.level]
    moment = EPOCH + timedelta(microseconds=event.time_us)
    elapsed = timedelta(microseconds=event.time_us - (END_US - LOG_DAYS * DAY_US))
    text = f"{moment:%Y-%m-%d %H:%M:%S}.{moment.microsecond // 1000:03d} | {event.level: <8} | "
    text += f"proxywhirl.{module}:{function}:{line} - {event.message}\n"
    exception: dict[str, Any] | None = None
    if event.exception:
        exception = {"type": event.exception[0], "value": event.exception[1], "traceback": True}
        text += f"Traceback (most recent call last):\n{event.exception[0]}: {event.exception[1]}\n"
    record = {
        "elapsed": {"repr": str(elapsed), "seconds": elapsed.total_seconds()},
        "exception": exception,
        "extra": {"component": event.component, "request_id": event.request_id},
        "file": {"name": f"{module}.py", "path": f"{_SITE_PACKAGES}/{module}.py"},
        "function": function,
        "level": {"icon": icon, "name": event.level, "no": number},
        "line": line,
        "message": event.message,
        "module": module,
        "name": f"proxywhirl.{module}",
        "process": _PROCESS,
        "thread": _THREAD,
        "time": {"repr": str(moment), "timestamp": moment.timestamp()},
    }
    return json.dumps({"text": text, "record": record}, ensure_ascii=False) + "\n"


def logfmt_line(event: LogEvent) -> str:
    """One record as proxywhirl's `configure_logging(format="logfmt")` template writes it.

    loguru fills `{extra}` with the dict's repr and appends `\\n{exception}` to a text
    format, so a record with a traceback (or a message with a newline) spans lines.
    """
    module, function, line = _CALL_SITES[event.component]
    moment = EPOCH + timedelta(microseconds=event.time_us)
    extra = {"component": event.component, "request_id": event.request_id}
    text = f"time={moment:%Y-%m-%d %H:%M:%S}.{moment.microsecond // 1000:03d} "
    text += f"level={event.level} name=proxywhirl.{module} function={function} line={line} "
    text += f"message={event.message} {extra!r}\n"
    if event.exception:
        text += f"Traceback (most recent call last):\n{event.exception[0]}: {event.exception[1]}\n"
    return text
