"""The two ways an alert leaves: e-mail (SMTP, STARTTLS, login) and a signed webhook POST.

Each returns what failed instead of raising, so one bad recipient or a dead webhook never stops
the others; error texts are redacted (no password or signing secret) by the caller.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import smtplib
import ssl
import time
from collections.abc import Mapping
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

import urllib3
from urllib3.util import Retry, Timeout

from .labels import count
from .settings import Settings

SIGNATURE_HEADER = "X-Evidence-Signature"
TIMESTAMP_HEADER = "X-Evidence-Timestamp"
DELIVERY_HEADER = "X-Evidence-Delivery"


def email_message(
    settings: Settings, recipient: str, subject: str, text: str, html: str
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = settings.alert_email_from or settings.smtp_user
    msg["To"] = recipient
    msg["Subject"] = subject
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    return msg


def tls_context(settings: Settings) -> ssl.SSLContext:
    """System CAs, plus ``smtp_ca_file`` for a server with a private certificate; the host name
    is always checked."""
    context = ssl.create_default_context()
    if settings.smtp_ca_file:
        context.load_verify_locations(cafile=settings.smtp_ca_file)
    return context


def send_emails(settings: Settings, messages: Mapping[str, EmailMessage]) -> dict[str, str]:
    """Send each recipient its message over one SMTP session (STARTTLS, then login when a user
    is set). Returns recipient -> error ("" when sent); a refused recipient fails alone."""
    results = {r: "" for r in messages}
    if not messages:
        return results
    try:
        smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout)
    except (OSError, smtplib.SMTPException) as exc:
        return {
            r: f"cannot reach {settings.smtp_host}:{settings.smtp_port}: {exc}" for r in results
        }
    with smtp:
        try:
            smtp.ehlo()
            smtp.starttls(context=tls_context(settings))
            smtp.ehlo()
            if settings.smtp_user:
                smtp.login(settings.smtp_user, settings.smtp_password)
        except (OSError, smtplib.SMTPException) as exc:
            return {r: f"SMTP session refused: {_smtp_error(exc)}" for r in results}
        order = list(messages)
        for n, recipient in enumerate(order):
            try:
                smtp.send_message(messages[recipient], to_addrs=[recipient])
            except smtplib.SMTPServerDisconnected as exc:
                for rest in order[n:]:  # the session is gone: this one and the rest wait
                    results[rest] = f"server disconnected: {exc}"
                break
            except (OSError, smtplib.SMTPException) as exc:
                results[recipient] = _smtp_error(exc)
    return results


def _smtp_error(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "; ".join(
            f"{rcpt} refused: {code} {_text(msg)}" for rcpt, (code, msg) in exc.recipients.items()
        )
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{exc.smtp_code} {_text(exc.smtp_error)}"
    return f"{type(exc).__name__}: {exc}"


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256 over ``<timestamp>.<body>``: the timestamp is signed too,
    so a captured request cannot be replayed later with a fresh timestamp."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def post_webhook(settings: Settings, body: Mapping[str, Any]) -> str:
    """POST the signed JSON body, retrying connection errors and 429/5xx answers with backoff.
    Returns "" when the receiver answered 2xx, else what went wrong."""
    raw = json.dumps(body, ensure_ascii=False, sort_keys=True).encode()
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": f"{settings.tool} alerts",
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: sign(settings.webhook_secret, timestamp, raw),
        DELIVERY_HEADER: str(body.get("delivery_id", "")),
    }
    retry = Retry(
        total=settings.webhook_retries,
        backoff_factor=settings.backoff_factor,
        backoff_max=settings.backoff_max,
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=frozenset({"POST"}),
        redirect=0,
        raise_on_status=False,
        raise_on_redirect=False,
    )
    http = urllib3.PoolManager(
        retries=retry, timeout=Timeout(total=settings.webhook_timeout), cert_reqs="CERT_REQUIRED"
    )
    hidden = _HidePath(urlsplit(settings.webhook_url).path)
    pool_log = logging.getLogger("urllib3.connectionpool")
    pool_log.addFilter(hidden)
    try:
        answer = http.request("POST", settings.webhook_url, body=raw, headers=headers)
    except urllib3.exceptions.MaxRetryError as exc:
        reason = hidden.hide(f"{type(exc.reason).__name__}: {exc.reason}")
        return f"webhook unreachable after {count(settings.webhook_retries, 'retry')} ({reason})"
    except urllib3.exceptions.HTTPError as exc:
        return hidden.hide(f"webhook request failed: {type(exc).__name__}: {exc}")
    finally:
        pool_log.removeFilter(hidden)
        http.clear()
    if 200 <= answer.status < 300:
        return ""
    tries = len(answer.retries.history) + 1 if answer.retries else 1
    return f"webhook answered HTTP {answer.status} (after {count(tries, 'try')})"


class _HidePath(logging.Filter):
    """A webhook URL's path is often its secret (Slack, Teams): urllib3 logs it on each retry,
    and Python prints such warnings on stderr, so it is masked there and in errors."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path if len(path) > 1 else ""

    def hide(self, text: str) -> str:
        return text.replace(self.path, "/***") if self.path else text

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.path and self.path in message:
            record.msg, record.args = self.hide(message), None
        return True
