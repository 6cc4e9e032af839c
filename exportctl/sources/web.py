"""GET requests for the sources that read a running system over HTTP.

Credentials come from environment variables the spec names, read when the run
starts; they never reach a repr, a message or the ledger. Failures are told and
classed as the HTTP destination does (`destinations.http`): network trouble,
5xx, 408, 425 and 429 are transient, so the spec's `retry` runs the export again;
anything else is final. Redirects are not followed: they would carry the
credentials to wherever the server points.
"""

from __future__ import annotations

import json
import os
from typing import Any

import requests

from exportctl.errors import RunError
from exportctl.net.http import network_error, safe_url, status_error
from exportctl.sources.auth import Auth


class Client:
    """A session with the spec's headers and credentials, and our errors for its failures."""

    def __init__(
        self,
        auth: Auth,
        headers: tuple[tuple[str, str], ...] = (),
        timeout: float = 30,
        pool: int = 4,
    ):
        self.timeout = timeout
        self.session = requests.Session()
        # One connection per request in flight; requests keeps 10 per host otherwise.
        adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=max(pool, 1))
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers.update(dict(headers))
        if auth.token_env is not None:
            self.session.headers["Authorization"] = f"Bearer {_env(auth.token_env, 'token_env')}"
        if auth.username_env is not None and auth.password_env is not None:
            user = _env(auth.username_env, "username_env")
            self.session.auth = (user, _env(auth.password_env, "password_env"))

    def get(self, url: str, params: Any = None, *, stream: bool = False) -> requests.Response:
        """The answer to a GET; a non-2xx answer raised as our error, with the server's reason."""
        try:
            response = self.session.get(
                url,
                params=params,
                stream=stream,
                timeout=(self.timeout, self.timeout),
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise network_error(exc, "reading", url, self.timeout) from None
        if 200 <= response.status_code < 300:
            return response
        with response:
            error = status_error(response, "reading", url)
            reason = server_reason(response)
            if 300 <= response.status_code < 400:
                reason = "it redirects elsewhere, and credentials are not sent after a redirect"
            if reason:
                error = type(error)(f"{error}: {reason}")
            raise error

    def close(self) -> None:
        self.session.close()


def server_reason(response: requests.Response) -> str:
    """The `error` a JSON API puts in its body (Prometheus: "parse error at char 5"), cut short."""
    try:
        body = json.loads(response.content[:65536])
    except ValueError:
        return ""
    reason = body.get("error") if isinstance(body, dict) else None
    return str(reason)[:300] if reason else ""


def _env(name: str, key: str) -> str:
    value = os.environ.get(name)
    if value is None:
        raise RunError(f"environment variable {name} (from the source's `{key}`) is not set")
    return value


__all__ = ["Auth", "Client", "safe_url"]
