"""Tell people how a run ended, by webhook, command and email, as a spec's `alerts` ask.

An alert that cannot be sent is logged and returned; it never raises and never changes
the run's own result. No secret (a webhook URL's path, a header value, a password)
reaches a returned line or a log record.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from email.message import EmailMessage
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from tenacity import (
    RetryCallState,
    RetryError,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from exportctl.clock import SYSTEM, Clock
from exportctl.errors import ExportctlError, TransientError, os_reason, scrub
from exportctl.jobs import smtp
from exportctl.model import Alerts, Email, Webhook

log = logging.getLogger("exportctl.alerts")

#: Tries of one webhook or email send, the first included.
ATTEMPTS = 3
#: Seconds a command may take before it counts as failed.
COMMAND_TIMEOUT = 60.0

# Status → (the `on` value that asks for it, Slack emoji, how the sentence reads);
# "skipped", and any status not here, never alerts.
_STATUSES = {
    "succeeded": ("success", ":white_check_mark:", "succeeded"),
    "failed": ("failure", ":x:", "failed"),
    "interrupted": ("failure", ":warning:", "was interrupted"),
    "stale": ("failure", ":warning:", "is stale"),
}
_MAX_TEXT_ERROR = 500

Sleep = Callable[[float], None]
Send = Callable[["Outcome", dict[str, Any]], None]


@dataclass(frozen=True)
class Outcome:
    """What happened in one run: no secrets in it (the caller scrubs the destination)."""

    spec: str
    run_id: str
    status: str  # "succeeded" | "failed" | "interrupted" | "skipped" | "stale"
    rows: int
    bytes: int
    destination: str
    error: str | None
    started_at: str
    finished_at: str
    attempts: int = 1


def wanted(alerts: Alerts, status: str) -> bool:
    """Whether `alerts.when` asks to hear about a run that ended with `status`."""
    return _style(status)[0] in alerts.when


def _style(status: str) -> tuple[str, str, str]:
    return _STATUSES.get(status, ("", ":grey_question:", status))


def send_alerts(alerts: Alerts | None, outcome: Outcome, *, clock: Clock = SYSTEM) -> list[str]:
    """Send the alerts that `alerts.when` asks for; return one line per channel that failed
    ("webhook: 503 Service Unavailable", ...). Never raises for a channel failure."""
    if alerts is None or not wanted(alerts, outcome.status):
        return []
    body = payload(outcome)
    failures = []
    for name, send, secrets in _channels(alerts, clock.sleep):
        try:
            send(outcome, body)
        except Exception as exc:  # one channel failing never stops the others
            line = f"{name}: {_redact(_describe(exc), secrets)}"
            log.warning("%s run %s: alert not sent: %s", outcome.spec, outcome.run_id, line)
            failures.append(line)
        else:
            log.info("%s run %s: alert sent by %s", outcome.spec, outcome.run_id, name)
    return failures


def _channels(alerts: Alerts, sleep: Sleep) -> Iterator[tuple[str, Send, list[str]]]:
    """Each configured channel: its name, how to send, and the secrets its errors must hide."""
    if alerts.webhook is not None:
        hook = alerts.webhook
        yield "webhook", partial(_send_webhook, hook, sleep), _webhook_secrets(hook)
    if alerts.command is not None:
        yield "command", partial(_run_command, alerts.command), []
    if alerts.email is not None:
        mail = alerts.email
        yield "email", partial(_send_email, mail, sleep), [mail.password or ""]


# --- the message ---------------------------------------------------------------


def payload(outcome: Outcome) -> dict[str, Any]:
    """The JSON body: Slack's `text`, then every field of the outcome."""
    fields = asdict(outcome)
    fields["error"] = scrub(outcome.error) if outcome.error is not None else None
    return {"text": slack_text(outcome)} | fields


def summary(outcome: Outcome, name: str | None = None) -> str:
    """One line for people: "export pool-backup failed: <error>"."""
    head = f"export {name or outcome.spec} {_style(outcome.status)[2]}"
    if outcome.status == "succeeded":
        rows = f"{outcome.rows:,} {'row' if outcome.rows == 1 else 'rows'}"
        where = f" to {outcome.destination}" if outcome.destination else ""
        return f"{head}: {rows}, {human_bytes(outcome.bytes)}{where}"
    if not outcome.error:
        return head
    error = " ".join(scrub(outcome.error).split())  # one line, whatever the error's shape
    if len(error) > _MAX_TEXT_ERROR:
        error = error[: _MAX_TEXT_ERROR - 1] + "…"
    return f"{head}: {error}"


def slack_text(outcome: Outcome) -> str:
    """The summary with an emoji, escaped so Slack shows it as written."""
    emoji = _style(outcome.status)[1]
    line = summary(outcome, name=f"`{outcome.spec}`")
    # Slack reads <...> as links and mentions: an error holding "<!channel>" must not ping.
    line = line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return f"{emoji} {line}"


def human_bytes(size: int) -> str:
    """Decimal units, as the spec's byte sizes are: 2100000 → "2.1 MB"."""
    if size < 1000:
        return f"{size} {'byte' if size == 1 else 'bytes'}"
    value = size / 1000
    for unit in ("kB", "MB", "GB"):
        if value < 999.95:  # what would print as "1000.0 kB" reads "1.0 MB"
            return f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"


# --- webhook ---------------------------------------------------------------------


def _send_webhook(hook: Webhook, sleep: Sleep, _: Outcome, body: dict[str, Any]) -> None:
    _with_retries("webhook", sleep, _webhook_secrets(hook), _post, hook, body)


def _post(hook: Webhook, body: dict[str, Any]) -> None:
    import requests  # here: most runs send no webhook, and requests takes a while to import

    where = _host(hook.url)
    try:
        # Redirects not followed: they would carry the headers (tokens) to another host.
        response = requests.post(
            hook.url,
            json=body,
            headers=dict(hook.headers),
            timeout=hook.timeout,
            allow_redirects=False,
        )
    except requests.Timeout:
        raise TransientError(f"{where} did not answer within {hook.timeout:g}s") from None
    except requests.ConnectionError as exc:
        # requests' own text names the whole URL, path and token included: never pass it on.
        raise TransientError(f"cannot connect to {where}: {os_reason(exc)}") from None
    except requests.RequestException as exc:
        raise ExportctlError(f"cannot post to {where} ({type(exc).__name__})") from None
    with response:
        if 200 <= response.status_code < 300:
            return
        answer = f"{response.status_code} {response.reason or ''}".strip()
        if response.status_code >= 500 or response.status_code == 429:
            raise TransientError(f"{answer} from {where}")
        raise ExportctlError(f"{answer} from {where}")


def _host(url: str) -> str:
    """The host (and port) alone: a webhook URL's path and query are its secret."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    host = parts.hostname or "an unparsable URL"
    return f"{host}:{port}" if port else host


def _webhook_secrets(hook: Webhook) -> list[str]:
    parts = urlsplit(hook.url)
    tail = parts.path + ("?" + parts.query if parts.query else "")
    secrets = [hook.url, *(value for _, value in hook.headers)]
    return secrets + ([tail] if len(tail) > 1 else [])


# --- command ---------------------------------------------------------------------


def _run_command(argv: tuple[str, ...], outcome: Outcome, body: dict[str, Any]) -> None:
    """Run the program, no shell, with the run in its environment and the body on stdin."""
    env = os.environ | {
        "EXPORTCTL_SPEC": outcome.spec,
        "EXPORTCTL_RUN_ID": outcome.run_id,
        "EXPORTCTL_STATUS": outcome.status,
        "EXPORTCTL_ERROR": body["error"] or "",
        "EXPORTCTL_ROWS": str(outcome.rows),
        "EXPORTCTL_DESTINATION": outcome.destination,
    }
    env = {key: value.replace("\0", "") for key, value in env.items()}  # NUL is not allowed
    # Not retried: a program may not be safe to run twice.
    try:
        done = subprocess.run(
            argv,
            input=json.dumps(body).encode(),
            env=env,
            capture_output=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ExportctlError(f"{argv[0]} did not finish within {COMMAND_TIMEOUT:g}s") from None
    except OSError as exc:
        raise ExportctlError(f"cannot run {argv[0]}: {exc.strerror or exc}") from None
    if done.returncode != 0:
        said = done.stderr.decode(errors="replace").strip().splitlines()
        tail = f": {said[-1][:200]}" if said else ""
        raise ExportctlError(f"{argv[0]} exited with status {done.returncode}{tail}")


# --- email -----------------------------------------------------------------------


def _send_email(mail: Email, sleep: Sleep, outcome: Outcome, body: dict[str, Any]) -> None:
    message = email_message(mail, outcome, body)
    _with_retries("email", sleep, [mail.password or ""], smtp.send, mail, message)


def email_message(mail: Email, outcome: Outcome, body: dict[str, Any]) -> EmailMessage:
    """Subject "[exportctl] pool-backup failed"; the summary, then every detail."""
    message = EmailMessage()
    message["Subject"] = f"[exportctl] {outcome.spec} {_style(outcome.status)[2]}"
    message["From"] = mail.sender
    message["To"] = ", ".join(mail.to)
    rows = [
        ("spec", outcome.spec),
        ("run id", outcome.run_id),
        ("status", outcome.status),
        ("rows", f"{outcome.rows:,}"),
        ("bytes", f"{outcome.bytes:,} ({human_bytes(outcome.bytes)})"),
        ("destination", outcome.destination),
        ("started at", outcome.started_at),
        ("finished at", outcome.finished_at),
        ("attempts", str(outcome.attempts)),
    ]
    details = "\n".join(f"{key + ':':<13}{value}" for key, value in rows)
    error = f"\n\nerror:\n{body['error']}" if body["error"] else ""
    message.set_content(f"{summary(outcome)}\n\n{details}{error}\n")
    return message


# --- retries and messages ----------------------------------------------------------


def _with_retries(
    name: str, sleep: Sleep, secrets: list[str], send: Callable[..., None], *args: Any
) -> None:
    """Call `send`, trying again a few times with a short backoff on transient errors."""

    def note(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        pause = state.next_action.sleep if state.next_action else 0
        said = _redact(_describe(error), secrets)
        log.info("%s: %s; trying again in %gs", name, said, pause)

    retrying = Retrying(
        stop=stop_after_attempt(ATTEMPTS),
        wait=wait_exponential(multiplier=1, max=4),
        retry=retry_if_exception_type(TransientError),
        sleep=sleep,
        before_sleep=note,
    )
    try:
        retrying(send, *args)
    except RetryError as exc:
        last = exc.last_attempt.exception()
        raise ExportctlError(f"{_describe(last)} (gave up after {ATTEMPTS} tries)") from None


def _describe(exc: BaseException | None) -> str:
    """Our own errors are written to be shown; anything else is named by its type alone."""
    if isinstance(exc, ExportctlError):
        return str(exc)
    return f"unexpected {type(exc).__name__}"


def _redact(text: str, secrets: list[str]) -> str:
    """Belt and braces: our messages name no secret, but make sure of it."""
    text = scrub(text)
    for secret in sorted(filter(None, secrets), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text
