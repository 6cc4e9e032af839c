"""Sending one alert email over SMTP (SSL, STARTTLS, login), its failures classed for retry:
4xx answers, time-outs and dropped connections are transient; 5xx answers are not."""

from __future__ import annotations

import smtplib
import ssl
from contextlib import suppress
from email.message import EmailMessage

from exportctl.errors import ExportctlError, TransientError
from exportctl.model import Email


def send(mail: Email, message: EmailMessage) -> None:
    """Deliver `message`; a partial delivery (some recipients refused) is not retried."""
    port = mail.port or (465 if mail.ssl else 25)
    smtp: smtplib.SMTP
    try:
        if mail.ssl:
            context = ssl.create_default_context()
            smtp = smtplib.SMTP_SSL(mail.host, port, timeout=mail.timeout, context=context)
        else:
            smtp = smtplib.SMTP(mail.host, port, timeout=mail.timeout)
    except (OSError, smtplib.SMTPException) as exc:
        raise _error(exc, f"cannot connect to {mail.host}:{port}") from None
    try:
        if mail.starttls and not mail.ssl:
            smtp.starttls(context=ssl.create_default_context())
        if mail.username:
            smtp.login(mail.username, mail.password or "")
        refused = smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        raise _error(exc, f"{mail.host}:{port}") from None
    finally:
        with suppress(OSError, smtplib.SMTPException):
            smtp.quit()  # the message is sent or not by now; a failed goodbye changes nothing
        smtp.close()
    if refused:
        # Some recipients have it: not retried, or they would get it twice.
        who = ", ".join(f"{addr} ({code})" for addr, (code, _) in refused.items())
        raise ExportctlError(f"{mail.host}:{port} refused {who}")


def _error(exc: BaseException, where: str) -> ExportctlError:
    """4xx answers, timeouts and dropped connections are transient; 5xx answers are not."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        who = ", ".join(f"{addr} ({code})" for addr, (code, _) in exc.recipients.items())
        return ExportctlError(f"{where} refused every recipient: {who}")
    if isinstance(exc, smtplib.SMTPResponseException):
        said = exc.smtp_error
        text = said.decode(errors="replace") if isinstance(said, bytes) else str(said)
        error = f"{where} answered {exc.smtp_code} {' '.join(text.split())}"
        transient = 400 <= exc.smtp_code < 500
        return TransientError(error) if transient else ExportctlError(error)
    if isinstance(exc, smtplib.SMTPNotSupportedError | ssl.SSLCertVerificationError):
        return ExportctlError(f"{where}: {exc}")
    if isinstance(exc, TimeoutError):
        return TransientError(f"{where} did not answer in time")
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return TransientError(f"{where}: {reason or type(exc).__name__}")
