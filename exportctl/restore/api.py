"""Restore settings exported from an HTTP API into a running one: check everything, one PUT.

`exportctl restore EXPORT --to http(s)://host/api/v1/config` reads the export's one settings
object (see `settings`), fills its redacted values from `--secrets-from` as a file restore
does (named by the URL's path: `api/v1/config:cors_origins[0]`, or the key alone), and sends
nothing until all of it has been checked against the target. Then one PUT, with the headers
`--header-env NAME=VARIABLE` takes from the environment (an API key never shows in a
message): a refused PUT is an error naming the target's reasons and changes nothing we
sent. Read back with GET, the settings must equal the export's.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from exportctl.errors import RunError, UsageError
from exportctl.net.http import network_error, safe_url, status_error
from exportctl.restore import secrets, settings
from exportctl.restore.apply import masked_diff
from exportctl.sources.auth import Auth
from exportctl.sources.web import Client

TIMEOUT = 30.0
_HEADER = re.compile(r"([!#$%&'*+.^_`|~0-9A-Za-z-]+)=([A-Za-z_][A-Za-z0-9_]*)")


def is_url(target: str) -> bool:
    return urlsplit(target).scheme in ("http", "https")


@dataclass
class ApiRestore:
    """What a restore to an API did, or would do (`dry_run`)."""

    source: Path
    url: str
    dry_run: bool
    #: The body of the PUT, secrets filled in: never shown.
    body: dict[str, Any] = field(repr=False)
    #: Settings in the export that the PUT cannot set (the target reports them only).
    read_only: list[str]
    changed: list[str]
    diff: str
    client: Client = field(repr=False)
    backup: Path | None = None
    verified: bool = False
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    #: What the target held before, secrets in clear: only for the backup.
    before: dict[str, Any] = field(default_factory=dict, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "document": str(self.source),
            "to": safe_url(self.url),
            "dry_run": self.dry_run,
            "status": "failed" if self.error else ("planned" if self.dry_run else "restored"),
            "changed": self.changed,
            "read_only": self.read_only,
            "backup": None if self.backup is None else str(self.backup),
            "verified": self.verified,
            "diff": self.diff,
            "warnings": self.warnings,
            "error": self.error,
        }


def plan(
    source: Path,
    url: str,
    *,
    header_env: tuple[str, ...] = (),
    secrets_from: str | None = None,
    marker: str = "***",
    environ: Mapping[str, str] | None = None,
) -> ApiRestore:
    """Read the export, fill its secrets, check it all against the target; send nothing."""
    environ = os.environ if environ is None else environ
    document = settings.load(source)
    client = Client(Auth(), _headers(header_env, environ), timeout=TIMEOUT, pool=1)
    where = safe_url(url)
    try:
        before = settings.settings_of(_get_json(client, url), where)
        document = settings.nested_read_back(document, before)
        supplied = secrets.supplier(secrets_from, environ)
        entry = urlsplit(url).path.strip("/") or "settings"
        filled, missing, used = secrets.fill(
            entry, document, marker, supplied, from_env=secrets_from == "env"
        )
        if missing:
            raise secrets.SecretsMissing(missing)
        settings.check_against(filled, before, where)
        keys = _put_keys(client, url, filled, where)
    except BaseException:
        client.close()
        raise
    warnings = [] if keys is not None else [f"{where} publishes no OpenAPI schema for its PUT"]
    read_only = sorted(set(filled) - keys) if keys is not None else []
    body = {k: v for k, v in filled.items() if k not in read_only}
    old = {k: before.get(k) for k in filled}
    hide = [s for s in used if isinstance(s, str) and s]
    diff = masked_diff(entry, _text(old).encode(), _text(filled).encode(), hide)
    changed = sorted(k for k in body if before.get(k) != body[k])
    return ApiRestore(
        source, url, True, body, read_only, changed, diff, client, warnings=warnings, before=old
    )


def execute(restore: ApiRestore, *, now: datetime, backup_dir: Path | None = None) -> ApiRestore:
    """Back up the target's settings (with `backup_dir`), send one PUT, read them back."""
    restore.dry_run = False
    where = safe_url(restore.url)
    try:
        if backup_dir is not None:
            restore.backup = _backup(restore, now, backup_dir)
        _put(restore.client, restore.url, restore.body)
        after = settings.settings_of(_get_json(restore.client, restore.url), where)
    except (RunError, UsageError) as exc:
        restore.error = str(exc)
        return restore
    finally:
        restore.client.close()
    wrong = [k for k in restore.body if after.get(k) != restore.body[k]]
    differing = [k for k in restore.read_only if after.get(k) != restore.before.get(k)]
    for key in differing:
        restore.warnings.append(f"`{key}` cannot be set through PUT; {where} keeps its own")
    restore.verified = not wrong
    if wrong:
        restore.error = (
            f"read back, {where} does not hold the exported values of: {', '.join(wrong)}"
        )
    return restore


def _headers(specs: tuple[str, ...], environ: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """`NAME=VARIABLE` pairs as headers whose values come from the environment."""
    found = []
    for spec in specs:
        match = _HEADER.fullmatch(spec)
        if match is None:
            raise UsageError(
                f"--header-env takes NAME=VARIABLE (`X-API-Key=PROXYWHIRL_API_KEY`), not {spec!r}"
            )
        name, variable = match.groups()
        if variable not in environ:
            raise UsageError(f"environment variable {variable} (for the {name} header) is not set")
        found.append((name, environ[variable]))
    return tuple(found)


def _get_json(client: Client, url: str) -> Any:
    with client.get(url) as response:
        try:
            return response.json()
        except ValueError:
            raise RunError(f"{safe_url(url)} answered with something not JSON") from None


def _put_keys(client: Client, url: str, body: dict[str, Any], where: str) -> set[str] | None:
    """The settings a PUT may set, by the target's OpenAPI document, after checking the whole
    body against its schema; None if it publishes none (FastAPI's `/openapi.json`)."""
    parts = urlsplit(url)
    try:
        openapi = _get_json(client, f"{parts.scheme}://{parts.netloc}/openapi.json")
    except (RunError, UsageError):
        return None
    schema = settings.put_schema(openapi, parts.path, where)
    if schema is None:
        return None
    keys = settings.settable(schema)
    settings.check_body({k: v for k, v in body.items() if keys is None or k in keys}, schema, where)
    return keys if keys is not None else set(body)


def _put(client: Client, url: str, body: dict[str, Any]) -> None:
    """One PUT; a refusal as our error with the target's reasons, never a value."""
    try:
        response = client.session.put(
            url, json=body, timeout=(TIMEOUT, TIMEOUT), allow_redirects=False
        )
    except requests.RequestException as exc:
        raise network_error(exc, "restoring to", url, TIMEOUT) from None
    with response:
        if 200 <= response.status_code < 300:
            return
        error = status_error(response, "restoring to", url)
        reason = _refusal(response)
        message = f"{error}: {reason}" if reason else str(error)
        raise type(error)(f"{message}; the settings were sent in one PUT, and it was refused")


def _refusal(response: requests.Response) -> str:
    """FastAPI's `detail`: its text, or each problem's place and message (not its `input`)."""
    try:
        detail = json.loads(response.content[:65536]).get("detail")
    except (ValueError, AttributeError):
        return ""
    if isinstance(detail, list):
        return "; ".join(
            f"{'.'.join(str(p) for p in d.get('loc', ()) if p != 'body')}: {d.get('msg')}"
            for d in detail
            if isinstance(d, dict)
        )[:300]
    return str(detail)[:300] if detail else ""


def _backup(restore: ApiRestore, now: datetime, folder: Path) -> Path:
    """The target's settings before, as JSON, owner-only (they may hold secrets)."""
    parts = urlsplit(restore.url)
    name = re.sub(r"[^A-Za-z0-9.-]+", "_", f"{parts.netloc}{parts.path}").strip("_")
    path = folder / f"{name}.backup-{now.strftime('%Y%m%dT%H%M%S%fZ')}.json"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(_text(restore.before))
    return path


def _text(values: Mapping[str, Any]) -> str:
    return json.dumps(values, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
