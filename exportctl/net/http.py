"""HTTP failures in words, shared by the HTTP source and destination.

Messages name the URL without its query string or credentials (a presigned URL's
signature is a secret), and describe a network failure from its exception's type and
causes, never its text, which holds the full URL.
"""

from __future__ import annotations

import re
import ssl
from http import HTTPStatus
from typing import TypeVar, cast
from urllib.parse import urlsplit

import requests
import urllib3

from exportctl.errors import RunError, TransientError, causes

#: Statuses that may pass on retry; every other non-2xx answer is final.
TRANSIENT_STATUSES = frozenset({408, 425, 429})

_ERROR_CODE = re.compile(rb"<Code>([A-Za-z.]{1,64})</Code>")


def safe_url(uri: str) -> str:
    """The URL without credentials or query: `https://host/path?…`."""
    parts = urlsplit(uri)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    query = "?…" if parts.query else ""
    return f"{parts.scheme}://{host}{port}{parts.path}{query}"


def status_error(response: requests.Response, doing: str, uri: str) -> RunError:
    status = response.status_code
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    reason = f"HTTP {status} {phrase}".rstrip()
    code = _ERROR_CODE.search(response.content[:4096])  # an S3-style error names its code
    if code:
        reason += f" ({code.group(1).decode()})"
    if status in (401, 403):
        reason += "; check the credentials in the headers, or whether the URL has expired"
    transient = status >= 500 or status in TRANSIENT_STATUSES
    return (TransientError if transient else RunError)(f"{doing} {safe_url(uri)} failed: {reason}")


def network_error(exc: BaseException, doing: str, uri: str, timeout: float) -> RunError:
    """The failure in words, from the exception's type and causes, never its text."""
    reason, kind = "the connection broke off", cast(type[RunError], TransientError)
    if isinstance(exc, requests.Timeout | urllib3.exceptions.TimeoutError):
        reason = f"timed out, no answer within {timeout:g} s"
    elif cert := _find(exc, ssl.SSLCertVerificationError):
        reason, kind = f"its TLS certificate is not trusted ({cert.verify_message})", RunError
    elif _find(exc, ConnectionRefusedError):
        reason = "connection refused"
    elif _find(exc, ConnectionResetError):
        reason = "connection reset"
    elif isinstance(exc, requests.exceptions.InvalidURL | requests.exceptions.URLRequired):
        reason, kind = "the URL is not valid", RunError
    elif isinstance(exc, requests.TooManyRedirects):
        reason, kind = "it redirects too many times", RunError
    elif "NameResolution" in _type_names(exc):
        reason = "its host name does not resolve"
    return kind(f"{doing} {safe_url(uri)} failed: {reason}")


_E = TypeVar("_E", bound=BaseException)


def _find(exc: BaseException, kind: type[_E]) -> _E | None:
    return next((c for c in causes(exc) if isinstance(c, kind)), None)


def _type_names(exc: BaseException) -> str:
    return " ".join(type(c).__name__ for c in causes(exc))
