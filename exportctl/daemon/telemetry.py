"""How the daemon is watched: JSON-lines logs, Prometheus metrics, and `/healthz`."""

from __future__ import annotations

import json
import logging
import socket
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import IO, Any, Protocol

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    generate_latest,
)

from exportctl.errors import scrub

log = logging.getLogger("exportctl.daemon")

_SECONDS = (0.5, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600, float("inf"))
_LATENESS = (0.1, 0.5, 1, 5, 30, 60, 300, 3600, float("inf"))


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ts, level, logger, event, then the record's `fields`.

    Every string is scrubbed, so a URL's password never reaches the log.
    """

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC)
        line: dict[str, Any] = {
            "ts": stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": scrub(record.getMessage()),
        }
        for key, value in getattr(record, "fields", {}).items():
            line[key] = scrub(value) if isinstance(value, str) else value
        if record.exc_info:
            line["traceback"] = scrub(self.formatException(record.exc_info))
        return json.dumps(line, default=str)


def log_event(event: str, level: int = logging.INFO, **fields: Any) -> None:
    """One structured log record: `event` and its fields (JSON in daemon mode)."""
    log.log(level, event, extra={"fields": fields})


@contextmanager
def json_logs(stream: IO[str] | None = None, level: int = logging.INFO) -> Iterator[None]:
    """While inside, exportctl's log records go to `stream` (stderr) as JSON lines only."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("exportctl")
    saved = root.level, root.propagate
    root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.level, root.propagate = saved


class Metrics:
    """The daemon's Prometheus metrics, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.runs = Counter(
            "exportctl_runs",
            "Scheduled runs by spec and how they ended",
            ["spec", "status"],
            registry=r,
        )
        self.duration = Histogram(
            "exportctl_run_duration_seconds",
            "Time a scheduled run took",
            ["spec"],
            buckets=_SECONDS,
            registry=r,
        )
        self.rows = Counter(
            "exportctl_rows", "Rows exported by scheduled runs", ["spec"], registry=r
        )
        self.bytes = Counter(
            "exportctl_bytes", "Bytes stored by scheduled runs", ["spec"], registry=r
        )
        self.lateness = Histogram(
            "exportctl_start_lateness_seconds",
            "How long after its scheduled tick a run started (ledger started_at - scheduled_at)",
            ["spec"],
            buckets=_LATENESS,
            registry=r,
        )
        self.skipped = Counter(
            "exportctl_ticks_skipped",
            "Ticks not run because a run was still going",
            ["spec"],
            registry=r,
        )
        self._claims(r)
        self.stale = Gauge(
            "exportctl_spec_stale",
            "1 while a spec has had no success for twice its interval",
            ["spec"],
            registry=r,
        )
        self.reloads = Counter(
            "exportctl_reloads", "Spec reloads, by result (ok, invalid)", ["result"], registry=r
        )
        self.running = Gauge("exportctl_running", "Exports running now", registry=r)
        self.specs = Gauge("exportctl_specs", "Specs being scheduled", registry=r)

    def _claims(self, r: CollectorRegistry) -> None:
        """Which ticks this daemon ran, and which it found claimed by another daemon on the
        same ledger (daemon/claiming.py)."""
        self.ticks_run = Counter(
            "exportctl_ticks_run",
            "Ticks this daemon claimed in the ledger and started a run for (takeovers included)",
            ["spec"],
            registry=r,
        )
        self.claimed_elsewhere = Counter(
            "exportctl_ticks_claimed_elsewhere",
            "Ticks found claimed by another daemon on the same ledger when they came due",
            ["spec"],
            registry=r,
        )
        self.taken_over = Counter(
            "exportctl_ticks_taken_over",
            "Ticks this daemon took over from a daemon whose lease had passed, and ran",
            ["spec"],
            registry=r,
        )
        self.last_tick_run = Gauge(
            "exportctl_last_tick_run_timestamp_seconds",
            "The latest tick this daemon ran, as a Unix time",
            ["spec"],
            registry=r,
        )
        self.last_tick_elsewhere = Gauge(
            "exportctl_last_tick_claimed_elsewhere_timestamp_seconds",
            "The latest tick found claimed by another daemon, as a Unix time",
            ["spec"],
            registry=r,
        )
        self.daemon = Info(
            "exportctl_daemon", "This daemon's holder id in the ledger's claims", registry=r
        )

    def finished(
        self, spec: str, status: str, seconds: float, rows: int, bytes_: int, late: float | None
    ) -> None:
        self.runs.labels(spec, status).inc()
        self.duration.labels(spec).observe(seconds)
        self.rows.labels(spec).inc(rows)
        self.bytes.labels(spec).inc(bytes_)
        if late is not None:
            self.lateness.labels(spec).observe(max(late, 0.0))

    def text(self) -> bytes:
        return generate_latest(self.registry)


class WebApp(Protocol):
    """What answers the other paths (exportctl.daemon.web.app.App)."""

    def handle(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes = b""
    ) -> Any: ...


#: The largest request body read; the API's requests carry none.
MAX_BODY = 64 * 1024


def serve_http(
    host: str,
    port: int,
    health: Callable[[], dict[str, Any]],
    metrics: Metrics,
    app: WebApp | None = None,
) -> ThreadingHTTPServer:
    """Answer `/healthz` (JSON; 503 once stopping), `/metrics` (Prometheus text) and, through
    `app`, the status page and API, on a thread of its own."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the name http.server calls)
            path = self.path.split("?", 1)[0]
            if path == "/healthz":
                state = health()  # 503 while shutting down
                body = json.dumps(state, default=str).encode()
                self._send(200 if state.get("up") else 503, "application/json", body)
            elif path == "/metrics":
                self._send(200, CONTENT_TYPE_LATEST, metrics.text())
            else:
                self._to_app("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._to_app("POST")

        def _to_app(self, method: str) -> None:
            if app is None:
                self._send(404, "text/plain", b"not found: try /healthz or /metrics\n")
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self._send(413, "text/plain", b"request body too large\n")
                return
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                answer = app.handle(method, self.path, headers, self.rfile.read(length))
            except Exception as exc:  # the ledger unreachable, say: the page says so
                message = scrub(f"{type(exc).__name__}: {exc}")
                body = json.dumps({"error": message}).encode()
                self._send(503, "application/json", body)
                return
            self._send(answer.status, answer.content_type, answer.body)

        def _send(self, code: int, kind: str, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            """Scrapes are not worth a log line."""

    class Server(ThreadingHTTPServer):
        address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        daemon_threads = True

    server = Server((host, port), Handler)
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    return server
