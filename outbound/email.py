"""Email over SMTP: alert notifications and scheduled reports with their attachment.

The standard library's smtplib is synchronous, so each message is sent in a worker thread,
on purpose: one message per notification is rare enough that a pool is not worth a
dependency. Failures come back as a `Delivery` with the SMTP reply code when there is one.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage

from core.settings import SmtpSecurity
from outbound.webhooks import Delivery

SMTP_TIMEOUT_SECONDS = 20.0
SMTP_OK = 250


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    security: SmtpSecurity
    username: str
    password: str
    sender: str


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    media_type: str  # e.g. "text/csv"


def _message(
    sender: str, to: str, subject: str, text: str, attachments: tuple[Attachment, ...]
) -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, to, subject
    message.set_content(text)
    for attachment in attachments:
        maintype, _, subtype = attachment.media_type.partition(";")[0].strip().partition("/")
        message.add_attachment(
            attachment.content,
            maintype=maintype,
            subtype=subtype or "octet-stream",
            filename=attachment.filename,
        )
    return message


def _send(config: SmtpConfig, message: EmailMessage) -> None:
    context = ssl.create_default_context()
    smtp: smtplib.SMTP
    if config.security is SmtpSecurity.TLS:
        smtp = smtplib.SMTP_SSL(
            config.host, config.port, timeout=SMTP_TIMEOUT_SECONDS, context=context
        )
    else:
        smtp = smtplib.SMTP(config.host, config.port, timeout=SMTP_TIMEOUT_SECONDS)
    with smtp:
        if config.security is SmtpSecurity.STARTTLS:
            smtp.starttls(context=context)
        if config.username:
            smtp.login(config.username, config.password)
        smtp.send_message(message)


async def send_email(
    config: SmtpConfig,
    to: str,
    subject: str,
    text: str,
    attachments: tuple[Attachment, ...] = (),
) -> Delivery:
    """Send one message; a Delivery says whether the server accepted it."""
    if not config.host:
        return Delivery(ok=False, attempts=0, status_code=None, error="SMTP_HOST is not set")
    message = _message(config.sender, to, subject, text, attachments)
    try:
        await asyncio.to_thread(_send, config, message)
    except smtplib.SMTPResponseException as exc:
        return Delivery(ok=False, attempts=1, status_code=exc.smtp_code, error=str(exc.smtp_error))
    except (smtplib.SMTPException, OSError) as exc:
        return Delivery(ok=False, attempts=1, status_code=None, error=type(exc).__name__)
    return Delivery(ok=True, attempts=1, status_code=SMTP_OK)
