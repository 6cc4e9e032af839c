"""Alerts reach real local servers: an HTTP receiver, an SMTP server, a program."""

from __future__ import annotations

import email
import email.policy
import json
import logging
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from exportctl.clock import FakeClock
from exportctl.jobs.alerts import Outcome, human_bytes, send_alerts
from exportctl.model import Alerts, Email, Webhook
from tests.support.jsonlines import json_lines
from tests.support.servers import HttpReceiver, free_port


def fake_clock() -> FakeClock:
    """Backoff between alert attempts passes on it at once, and is noted."""
    return FakeClock(datetime(2026, 1, 1, tzinfo=UTC))


TOKEN = "T0AAA/B0BBB/xoxSeCrEtPaThToKeN"
HEADER_SECRET = "Bearer hdr-SeCrEt-42"
PASSWORD = "pw-SeCrEt-99"
SECRETS = (TOKEN, "xoxSeCrEtPaThToKeN", HEADER_SECRET, "hdr-SeCrEt-42", PASSWORD)

FAILED = Outcome(
    spec="pool-backup",
    run_id="20240102T030405Z-abcd",
    status="failed",
    rows=0,
    bytes=0,
    destination="/exports/pool.csv.gz",
    error="source unreachable: postgresql://app:hunter2@db/prod\nsecond line",
    started_at="2024-01-02T03:04:05Z",
    finished_at="2024-01-02T03:04:09Z",
    attempts=2,
)
SUCCEEDED = Outcome(
    spec="pool-backup",
    run_id="20240102T030405Z-abcd",
    status="succeeded",
    rows=1000,
    bytes=2_100_000,
    destination="/exports/pool.csv.gz",
    error=None,
    started_at="2024-01-02T03:04:05Z",
    finished_at="2024-01-02T03:04:09Z",
)


def with_status(status: str) -> Outcome:
    base = SUCCEEDED if status == "succeeded" else FAILED
    return replace(base, status=status)


# --- a webhook receiver ------------------------------------------------------------


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    with HttpReceiver() as server:
        yield server


def webhook(url: str, timeout: float = 5.0) -> Webhook:
    return Webhook(
        url=f"{url}/services/{TOKEN}", headers=(("Authorization", HEADER_SECRET),), timeout=timeout
    )


# --- an SMTP server ------------------------------------------------------------------


class Mailbox:
    def __init__(self) -> None:
        self.envelopes: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        return "250 OK"

    def messages(self) -> list[email.message.EmailMessage]:
        return [
            email.message_from_bytes(e.content, policy=email.policy.default) for e in self.envelopes
        ]


def _authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
    good = (b"alerts", PASSWORD.encode())
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == good
    return AuthResult(success=ok, handled=False)  # not handled: aiosmtpd answers 535


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[Controller, Mailbox]]:
    mailbox = Mailbox()
    controller = Controller(
        mailbox,
        hostname="127.0.0.1",
        port=free_port(),
        authenticator=_authenticate,
        auth_require_tls=False,
    )
    controller.start()
    yield controller, mailbox
    controller.stop()


@pytest.fixture
def mailbox(smtp: tuple[Controller, Mailbox]) -> Mailbox:
    smtp[1].envelopes.clear()
    return smtp[1]


def mail(smtp: tuple[Controller, Mailbox], **options: Any) -> Email:
    return Email(
        host="127.0.0.1",
        port=smtp[0].port,
        sender="exportctl@example.com",
        to=("ops@example.com", "dba@example.com"),
        timeout=5,
        **options,
    )


# --- a command -----------------------------------------------------------------------

DUMP = """\
import json, os, sys
names = "SPEC RUN_ID STATUS ERROR ROWS DESTINATION".split()
keys = ["EXPORTCTL_" + name for name in names] + ["PATH"]
record = {"env": {k: os.environ.get(k) for k in keys}, "stdin": sys.stdin.read()}
with open(sys.argv[1], "a") as out:
    out.write(json.dumps(record) + "\\n")
"""


@pytest.fixture
def dump(tmp_path: Path) -> tuple[tuple[str, ...], Path]:
    script = tmp_path / "dump.py"
    script.write_text(DUMP)
    out = tmp_path / "alerts.jsonl"
    return (sys.executable, str(script), str(out)), out


def dumped(out: Path) -> list[dict[str, Any]]:
    return json_lines(out.read_text()) if out.exists() else []


def assert_no_secret(lines: list[str], caplog: pytest.LogCaptureFixture) -> None:
    text = "\n".join(lines) + "\n" + caplog.text
    for secret in (*SECRETS, "hunter2"):
        assert secret not in text


# --- what each channel delivers ------------------------------------------------------


def test_failure_alert_by_webhook(receiver: HttpReceiver) -> None:
    assert send_alerts(Alerts(webhook=webhook(receiver.url)), FAILED) == []
    [got] = receiver.requests
    assert (got.method, got.path) == ("POST", f"/services/{TOKEN}")
    assert got.header("Authorization") == HEADER_SECRET
    assert got.header("Content-Type") == "application/json"
    body = json.loads(got.body)
    error = "source unreachable: postgresql://***:***@db/prod\nsecond line"
    assert body == {
        "text": ":x: export `pool-backup` failed: "
        "source unreachable: postgresql://***:***@db/prod second line",
        "spec": "pool-backup",
        "run_id": "20240102T030405Z-abcd",
        "status": "failed",
        "rows": 0,
        "bytes": 0,
        "destination": "/exports/pool.csv.gz",
        "error": error,
        "started_at": "2024-01-02T03:04:05Z",
        "finished_at": "2024-01-02T03:04:09Z",
        "attempts": 2,
    }


def test_success_text_reads_for_people(receiver: HttpReceiver) -> None:
    alerts = Alerts(when=frozenset({"success"}), webhook=webhook(receiver.url))
    assert send_alerts(alerts, SUCCEEDED) == []
    text = json.loads(receiver.requests[0].body)["text"]
    assert text == (
        ":white_check_mark: export `pool-backup` succeeded: "
        "1,000 rows, 2.1 MB to /exports/pool.csv.gz"
    )


def test_slack_text_escapes_mentions(receiver: HttpReceiver) -> None:
    outcome = replace(FAILED, status="interrupted", error="bad <!channel> & co")
    send_alerts(Alerts(webhook=webhook(receiver.url)), outcome)
    text = json.loads(receiver.requests[0].body)["text"]
    assert text == ":warning: export `pool-backup` was interrupted: bad &lt;!channel&gt; &amp; co"


def test_failure_alert_by_command(dump: tuple[tuple[str, ...], Path]) -> None:
    argv, out = dump
    assert send_alerts(Alerts(command=argv), FAILED) == []
    [record] = dumped(out)
    assert record["env"] | {"PATH": None} == {
        "EXPORTCTL_SPEC": "pool-backup",
        "EXPORTCTL_RUN_ID": "20240102T030405Z-abcd",
        "EXPORTCTL_STATUS": "failed",
        "EXPORTCTL_ERROR": "source unreachable: postgresql://***:***@db/prod\nsecond line",
        "EXPORTCTL_ROWS": "0",
        "EXPORTCTL_DESTINATION": "/exports/pool.csv.gz",
        "PATH": None,
    }
    assert record["env"]["PATH"]  # added to the environment, not replacing it
    stdin = json.loads(record["stdin"])
    assert stdin["status"] == "failed" and stdin["text"].startswith(":x: export `pool-backup`")


def test_command_exit_status_is_a_failed_alert(tmp_path: Path) -> None:
    script = tmp_path / "fail.py"
    script.write_text("import sys; print('no route to pager', file=sys.stderr); sys.exit(3)")
    lines = send_alerts(Alerts(command=(sys.executable, str(script))), FAILED)
    assert lines == [f"command: {sys.executable} exited with status 3: no route to pager"]
    missing = send_alerts(Alerts(command=(str(tmp_path / "nope"),)), FAILED)
    assert missing == [f"command: cannot run {tmp_path / 'nope'}: No such file or directory"]


def test_failure_alert_by_email(smtp: tuple[Controller, Mailbox], mailbox: Mailbox) -> None:
    assert send_alerts(Alerts(email=mail(smtp)), FAILED) == []
    [envelope] = mailbox.envelopes
    assert envelope.mail_from == "exportctl@example.com"
    assert envelope.rcpt_tos == ["ops@example.com", "dba@example.com"]
    [message] = mailbox.messages()
    assert message["Subject"] == "[exportctl] pool-backup failed"
    assert message["To"] == "ops@example.com, dba@example.com"
    text = message.get_content().replace("\r\n", "\n")
    assert text.startswith("export pool-backup failed: source unreachable: postgresql://***:***@")
    assert "run id:      20240102T030405Z-abcd" in text
    assert "error:\nsource unreachable: postgresql://***:***@db/prod\nsecond line" in text
    assert "hunter2" not in text


def test_email_logs_in(
    smtp: tuple[Controller, Mailbox], mailbox: Mailbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="exportctl.alerts")
    good = mail(smtp, username="alerts", password=PASSWORD)
    assert send_alerts(Alerts(email=good), FAILED) == []
    assert len(mailbox.envelopes) == 1

    clock = fake_clock()
    bad = mail(smtp, username="alerts", password="wrong-" + PASSWORD)
    lines = send_alerts(Alerts(email=bad), FAILED, clock=clock)
    assert len(lines) == 1 and lines[0].startswith("email: 127.0.0.1:")
    assert "535" in lines[0]
    assert clock.slept == []  # a refused login is not retried
    assert len(mailbox.envelopes) == 1
    assert_no_secret(lines, caplog)
    assert "alert not sent: email: 127.0.0.1" in caplog.text


# --- which outcomes alert ------------------------------------------------------------

On = Literal["failure", "success"]
ONLY_SUCCESS: frozenset[On] = frozenset({"success"})
BOTH: frozenset[On] = frozenset({"success", "failure"})


@pytest.mark.parametrize(
    ("on", "status", "sent"),
    [
        (None, "failed", True),
        (None, "interrupted", True),
        (None, "stale", True),
        (None, "succeeded", False),
        (None, "skipped", False),
        (ONLY_SUCCESS, "succeeded", True),
        (ONLY_SUCCESS, "failed", False),
        (BOTH, "succeeded", True),
        (BOTH, "failed", True),
        (BOTH, "skipped", False),
    ],
)
def test_which_outcomes_alert(
    dump: tuple[tuple[str, ...], Path], on: frozenset[On] | None, status: str, sent: bool
) -> None:
    argv, out = dump
    alerts = Alerts(command=argv) if on is None else Alerts(when=on, command=argv)
    assert send_alerts(alerts, with_status(status)) == []
    assert [r["env"]["EXPORTCTL_STATUS"] for r in dumped(out)] == ([status] if sent else [])


def test_no_alerts_no_work() -> None:
    assert send_alerts(None, FAILED) == []


# --- when channels fail --------------------------------------------------------------


def test_transient_webhook_errors_are_retried(receiver: HttpReceiver) -> None:
    receiver.fail_next(2, status=503)
    clock = fake_clock()
    assert send_alerts(Alerts(webhook=webhook(receiver.url)), FAILED, clock=clock) == []
    assert len(receiver.requests) == 3
    assert len(clock.slept) == 2 and all(0 < s <= 5 for s in clock.slept)


def test_permanent_500_is_reported_and_others_still_sent(
    receiver: HttpReceiver,
    smtp: tuple[Controller, Mailbox],
    mailbox: Mailbox,
    dump: tuple[tuple[str, ...], Path],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="exportctl.alerts")
    receiver.reject(500)
    argv, out = dump
    alerts = Alerts(webhook=webhook(receiver.url), command=argv, email=mail(smtp))
    lines = send_alerts(alerts, FAILED, clock=fake_clock())
    host = receiver.url.removeprefix("http://")
    assert lines == [f"webhook: 500 Internal Server Error from {host} (gave up after 3 tries)"]
    assert len(receiver.requests) == 3
    assert len(dumped(out)) == 1 and len(mailbox.envelopes) == 1
    assert_no_secret(lines, caplog)
    assert "trying again" in caplog.text


def test_client_error_is_not_retried(receiver: HttpReceiver) -> None:
    receiver.reject(403)
    clock = fake_clock()
    lines = send_alerts(Alerts(webhook=webhook(receiver.url)), FAILED, clock=clock)
    assert lines == [f"webhook: 403 Forbidden from {receiver.url.removeprefix('http://')}"]
    assert (len(receiver.requests), clock.slept) == (1, [])


def test_connection_refused_is_reported(
    dump: tuple[tuple[str, ...], Path], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="exportctl.alerts")
    port = free_port()  # closed again: nothing listens there
    argv, out = dump
    clock = fake_clock()
    alerts = Alerts(webhook=webhook(f"http://127.0.0.1:{port}"), command=argv)
    lines = send_alerts(alerts, FAILED, clock=clock)
    assert lines == [
        f"webhook: cannot connect to 127.0.0.1:{port}: Connection refused (gave up after 3 tries)"
    ]
    assert len(clock.slept) == 2 and len(dumped(out)) == 1
    assert_no_secret(lines, caplog)


def test_hanging_receiver_times_out(
    receiver: HttpReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="exportctl.alerts")
    receiver.hang_next(3)
    lines = send_alerts(
        Alerts(webhook=webhook(receiver.url, timeout=0.2)), FAILED, clock=fake_clock()
    )
    host = receiver.url.removeprefix("http://")
    assert lines == [f"webhook: {host} did not answer within 0.2s (gave up after 3 tries)"]
    assert_no_secret(lines, caplog)


def test_unreachable_smtp_server_is_reported(caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()
    clock = fake_clock()
    alerts = Alerts(email=Email(host="127.0.0.1", port=port, sender="a@b.c", to=("d@e.f",)))
    lines = send_alerts(alerts, FAILED, clock=clock)
    assert lines == [
        f"email: cannot connect to 127.0.0.1:{port}: Connection refused (gave up after 3 tries)"
    ]
    assert len(clock.slept) == 2


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0 bytes"),
        (1, "1 byte"),
        (999, "999 bytes"),
        (1000, "1.0 kB"),
        (999_960, "1.0 MB"),
        (2_100_000, "2.1 MB"),
        (5 * 10**15, "5000.0 TB"),
    ],
)
def test_human_bytes(size: int, text: str) -> None:
    assert human_bytes(size) == text
