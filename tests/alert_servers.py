"""Real loopback receivers for alert tests: an SMTP server (aiosmtpd, STARTTLS and AUTH required,
a self-signed certificate made here) and an HTTP webhook receiver that checks the signature."""

from __future__ import annotations

import datetime as dt
import email
import hashlib
import hmac
import ipaddress
import json
import socket
import ssl
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

SMTP_USER = "alerts-user"
SMTP_PASSWORD = "s3cret-smtp-password-for-tests"
WEBHOOK_SECRET = "s3cret-webhook-signing-key-for-tests"


def self_signed_cert(folder: Path) -> tuple[Path, Path]:
    """(certificate, key) for 127.0.0.1; the certificate doubles as the client's CA file."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Received:
    rcpt: str
    message: EmailMessage
    tls: bool
    authenticated: bool


@dataclass
class _Handler:
    refuse: set[str] = field(default_factory=set)
    received: list[Received] = field(default_factory=list)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        msg = email.message_from_bytes(envelope.content, policy=default)
        for rcpt in envelope.rcpt_tos:
            self.received.append(
                Received(rcpt, msg, session.ssl is not None, bool(session.authenticated))
            )
        return "250 Message accepted"


def _authenticator(server, session, envelope, mechanism, auth_data):
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == SMTP_USER.encode()
        and auth_data.password == SMTP_PASSWORD.encode()
    )
    return AuthResult(success=ok, handled=False)  # not handled: aiosmtpd answers 535


class SmtpServer:
    """aiosmtpd on 127.0.0.1 that refuses plain text: STARTTLS, then AUTH, then mail."""

    def __init__(self, folder: Path, refuse: set[str] | None = None) -> None:
        self.cert, key = self_signed_cert(folder)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, key)
        self.handler = _Handler(refuse=set(refuse or ()))
        self.port = free_port()
        self.controller = Controller(
            self.handler,
            hostname="127.0.0.1",
            port=self.port,
            tls_context=context,
            require_starttls=True,
            auth_required=True,
            auth_require_tls=True,
            authenticator=_authenticator,
        )

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    def env(self, recipients: list[str]) -> dict[str, str]:
        return {
            "EVIDENCE_ALERT_EMAIL_TO": ",".join(recipients),
            "EVIDENCE_ALERT_EMAIL_FROM": "evidence@example.org",
            "EVIDENCE_SMTP_HOST": "127.0.0.1",
            "EVIDENCE_SMTP_PORT": str(self.port),
            "EVIDENCE_SMTP_USER": SMTP_USER,
            "EVIDENCE_SMTP_PASSWORD": SMTP_PASSWORD,
            "EVIDENCE_SMTP_CA_FILE": str(self.cert),
            "EVIDENCE_SMTP_TIMEOUT": "20",
        }

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.controller.stop()


@dataclass
class Hook:
    body: dict[str, Any]
    raw: bytes
    headers: dict[str, str]
    signature_ok: bool


class WebhookServer:
    """A loopback HTTP receiver that verifies each POST's signature as the README says to, and
    answers 503 to the first ``fail_first`` requests (or to all while ``down`` is set)."""

    def __init__(self, secret: str = WEBHOOK_SECRET, fail_first: int = 0) -> None:
        self.secret, self.fail_first, self.down = secret, fail_first, False
        self.requests: list[Hook] = []  # every request, failed ones too
        self.accepted: list[Hook] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                hook = Hook(
                    json.loads(raw), raw, dict(self.headers), outer.verify(self.headers, raw)
                )
                outer.requests.append(hook)
                failing = outer.down or len(outer.requests) <= outer.fail_first
                status = 503 if failing else (200 if hook.signature_ok else 401)
                if status == 200:
                    outer.accepted.append(hook)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/evidence"

    def verify(self, headers, raw: bytes) -> bool:
        """The README's receiver check: HMAC-SHA256 over "<timestamp>.<raw body>"."""
        timestamp = headers.get("X-Evidence-Timestamp", "")
        expected = hmac.new(self.secret.encode(), f"{timestamp}.".encode() + raw, hashlib.sha256)
        return hmac.compare_digest(
            headers.get("X-Evidence-Signature", ""), f"sha256={expected.hexdigest()}"
        )

    def env(self) -> dict[str, str]:
        return {
            "EVIDENCE_WEBHOOK_URL": self.url,
            "EVIDENCE_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "EVIDENCE_WEBHOOK_RETRIES": "3",
            "EVIDENCE_WEBHOOK_TIMEOUT": "20",
        }

    def __enter__(self) -> WebhookServer:
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
