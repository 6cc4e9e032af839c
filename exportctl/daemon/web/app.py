"""The daemon's web face: the status page and the run API under /api/v1, as one request handler.

Plain functions of (method, path, query, headers, body) to a Response, so the HTTP server
stays a thin adapter and tests can call them directly or over a real socket.

Reads are open, like /metrics. Starting a run (POST) needs `Authorization: Bearer TOKEN`
when the daemon was given a token (`EXPORTCTL_API_TOKEN`); without one it listens on
loopback only (the daemon refuses to start otherwise).
"""

from __future__ import annotations

import hmac
import inspect
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, unquote

from exportctl.clock import SYSTEM, Clock
from exportctl.daemon.web import page, views
from exportctl.errors import UsageError
from exportctl.lang import timerange
from exportctl.ledger.store import Ledger
from exportctl.values import jsontext

JSON = "application/json"
STATUSES = ("running", "succeeded", "failed", "interrupted", "skipped")


class BadRequest(UsageError):
    """A request's parameter the API cannot take: a 400 with this message."""


@dataclass(frozen=True)
class Response:
    status: int
    content_type: str
    body: bytes

    @classmethod
    def json(cls, document: Any, status: int = 200) -> Response:
        return cls(status, JSON, (jsontext.dumps(document) + "\n").encode())

    @classmethod
    def error(cls, status: int, message: str) -> Response:
        return cls.json({"error": message}, status)


@dataclass
class App:
    board: views.Board
    ledger: Ledger
    #: The bearer token that POST requests must carry; None: no token asked.
    token: str | None = None
    clock: Clock = SYSTEM

    def handle(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes = b""
    ) -> Response:
        path, _, query_text = target.partition("?")
        query = {k: v[-1] for k, v in parse_qs(query_text).items()}
        for pattern, allowed, view in self._routes():
            match = re.fullmatch(pattern, path)
            if match is None:
                continue
            if method != allowed:
                return Response.error(405, f"{path} answers {allowed} only")
            if method == "POST" and not self._authorized(headers):
                return Response.error(401, "send Authorization: Bearer <EXPORTCTL_API_TOKEN>")
            arguments = [unquote(g) for g in match.groups()]
            unknown = sorted(set(query) - set(inspect.signature(view).parameters))
            if unknown:
                return Response.error(400, f"unknown query parameter `{unknown[0]}`")
            try:
                return view(*arguments, **query)
            except BadRequest as exc:
                return Response.error(400, str(exc))
        return Response.error(404, f"nothing at {path}: see /api/v1/openapi.json")

    def _routes(self) -> list[tuple[str, str, Callable[..., Response]]]:
        return [
            (r"/", "GET", self.index),
            (r"/specs/([^/]+)", "GET", self.spec_page),
            (r"/api/v1/specs", "GET", self.list_specs),
            (r"/api/v1/specs/([^/]+)/runs", "POST", self.start_run),
            (r"/api/v1/runs", "GET", self.list_runs),
            (r"/api/v1/runs/([^/]+)", "GET", self.one_run),
            (r"/api/v1/audit", "GET", self.list_audit),
            (r"/api/v1/openapi.json", "GET", self.openapi),
        ]

    def _authorized(self, headers: Mapping[str, str]) -> bool:
        if self.token is None:
            return True
        given = headers.get("authorization", "").removeprefix("Bearer ").strip()
        return hmac.compare_digest(given.encode(), self.token.encode())

    # --- pages ---------------------------------------------------------------------------

    def index(self) -> Response:
        specs, running = views.specs(self.board, self.ledger), views.running(self.ledger)
        html = page.index(specs, running, self.clock.now())
        return Response(200, "text/html; charset=utf-8", html.encode())

    def spec_page(self, name: str) -> Response:
        known = {s["name"]: s for s in views.specs(self.board, self.ledger)}
        if name not in known:
            html = page.not_found(name, self.clock.now())
            return Response(404, "text/html; charset=utf-8", html.encode())
        html = page.spec(known[name], views.audit(self.ledger, spec=name), self.clock.now())
        return Response(200, "text/html; charset=utf-8", html.encode())

    # --- the API -------------------------------------------------------------------------

    def list_specs(self) -> Response:
        described = views.specs(self.board, self.ledger)
        return Response.json([{k: v for k, v in s.items() if k != "recent"} for s in described])

    def start_run(self, name: str) -> Response:
        from exportctl.daemon.loop import SpecBusy  # the daemon imports this module's caller

        try:
            run_id = self.board.request_run(name)
        except KeyError:
            return Response.error(404, f"the daemon schedules no spec named `{name}`")
        except SpecBusy as exc:
            return Response.error(409, str(exc))
        return Response.json({"run_id": run_id, "spec": name}, 202)

    def list_runs(
        self,
        spec: str | None = None,
        status: str | None = None,
        since: str | None = None,
        limit: str = "50",
    ) -> Response:
        if status is not None and status not in STATUSES:
            raise BadRequest(f"status must be one of {', '.join(STATUSES)}, not `{status}`")
        runs = self.ledger.history_as_seen(spec, self._since(since), status, _count(limit))
        return Response.json([views.run_summary(r) for r in runs])

    def one_run(self, run_id: str) -> Response:
        run = self.ledger.run(run_id)
        if run is None:
            return Response.error(404, f"no run `{run_id}` in the ledger")
        return Response.json(views.run_summary(run))

    def list_audit(
        self, spec: str | None = None, since: str | None = None, limit: str = "100"
    ) -> Response:
        return Response.json(views.audit(self.ledger, spec, self._since(since), _count(limit)))

    def _since(self, text: str | None) -> datetime | None:
        try:
            return None if text is None else timerange.since(text, self.clock.now())
        except ValueError as exc:
            raise BadRequest(str(exc)) from None

    def openapi(self) -> Response:
        text = resources.files("exportctl.daemon.web").joinpath("openapi.json").read_bytes()
        return Response(200, JSON, text)


def _count(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 10_000:
        raise BadRequest(f"limit must be a whole number from 1 to 10000, not `{text}`")
    return int(text)
