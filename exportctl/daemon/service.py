"""The daemon as a process: JSON logs, signal handlers, the HTTP endpoint, the exit code."""

from __future__ import annotations

import ipaddress
import os
import signal
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from types import FrameType

from exportctl.daemon.claiming import DEFAULT_LEASE, MIN_LEASE
from exportctl.daemon.loop import Daemon
from exportctl.daemon.telemetry import json_logs, serve_http
from exportctl.daemon.web.app import App
from exportctl.daemon.workers import ProcessRuns
from exportctl.errors import UsageError
from exportctl.ledger.store import Ledger

TOKEN_VARIABLE = "EXPORTCTL_API_TOKEN"  # noqa: S105 (a variable's name, not a secret)


def parse_listen(text: str) -> tuple[str, int] | None:
    """`127.0.0.1:9464` → ("127.0.0.1", 9464); `off` → None."""
    if text == "off":
        return None
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise UsageError(f"--listen takes HOST:PORT (like 127.0.0.1:9464) or `off`, not `{text}`")
    return host.strip("[]"), int(port)


def api_token(listen: tuple[str, int] | None, environ: Mapping[str, str]) -> str | None:
    """The token that guards starting runs over HTTP; UsageError if one is needed and unset.

    Without a token the daemon listens on loopback only: anyone who can reach a wider
    address could start exports."""
    token = environ.get(TOKEN_VARIABLE) or None
    if listen is None or token is not None or _is_loopback(listen[0]):
        return token
    raise UsageError(
        f"--listen {listen[0]}:{listen[1]} reaches beyond this machine: set {TOKEN_VARIABLE}"
        " to the bearer token that must start runs through the API, or listen on 127.0.0.1"
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


def run_daemon(
    paths: tuple[Path, ...],
    state: str,
    listen: tuple[str, int] | None,
    max_parallel: int,
    grace: float,
    lease: timedelta = DEFAULT_LEASE,
) -> int:
    """Schedule until SIGTERM or SIGINT; SIGHUP reloads. The exit code: 128 + the signal.

    `lease`: how long this daemon's claims on ticks last unrenewed (at least MIN_LEASE)."""
    if lease < MIN_LEASE:
        raise UsageError(
            f"--lease must be at least {MIN_LEASE.seconds}s, not {lease.total_seconds():g}s"
        )
    token = api_token(listen, os.environ)
    runs = ProcessRuns(state, max_parallel)
    try:
        with json_logs():
            runs.warm()
            ledger = Ledger(state)
            daemon = Daemon(paths, ledger, max_parallel=max_parallel, run=runs, lease=lease)
            return _serve(daemon, listen, grace, token)
    finally:
        runs.close()


def _serve(daemon: Daemon, listen: tuple[str, int] | None, grace: float, token: str | None) -> int:

    def stop(signum: int, _frame: FrameType | None) -> None:
        daemon.request_stop(signum)

    def reload(_signum: int, _frame: FrameType | None) -> None:
        daemon.request_reload()

    handlers = {signal.SIGTERM: stop, signal.SIGINT: stop, signal.SIGHUP: reload}
    previous = {signum: signal.signal(signum, handler) for signum, handler in handlers.items()}
    server = None
    try:
        if listen is not None:
            try:
                app = App(daemon, daemon.ledger, token, daemon.clock)
                server = serve_http(*listen, lambda: daemon.health, daemon.metrics, app)
            except OSError as exc:
                raise UsageError(f"cannot listen on {listen[0]}:{listen[1]}: {exc}") from None
        signum = daemon.serve(grace)
    finally:
        if server is not None:
            server.shutdown()
        for signum_, handler in previous.items():
            signal.signal(signum_, handler)
    return 128 + signum
