"""Email over STARTTLS and implicit TLS, with a login, against a local aiosmtpd server whose
certificate a test CA signs (trusted through SSL_CERT_FILE, as an operator's private CA
would be): sent when the certificate and the password are right, and refused otherwise."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from core.settings import SmtpSecurity
from outbound.email import Attachment, SmtpConfig, send_email
from tests.alerts.conftest import Mailbox
from tests.servers import free_port

# aiosmtpd warns of AUTH without STARTTLS on every connection; on implicit TLS it is TLS.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
USER, PASSWORD = "alerts@example.test", "s3cret-pass"


@dataclass(frozen=True)
class Certificates:
    ca_file: Path
    server: ssl.SSLContext


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    """A CA and a certificate it signs for 127.0.0.1 and localhost."""
    folder = tmp_path_factory.mktemp("smtp-tls")
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("test CA"))
        .issuer_name(_name("test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_file, cert_file, key_file = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    return Certificates(ca_file, server)


@pytest.fixture
def trusted(certificates: Certificates, monkeypatch: pytest.MonkeyPatch) -> None:
    """The test CA is what the process trusts (OpenSSL reads SSL_CERT_FILE)."""
    monkeypatch.setenv("SSL_CERT_FILE", str(certificates.ca_file))


def _authenticate(
    _server: Any, _session: Any, _envelope: Any, _mechanism: str, data: Any
) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    if ok:
        return AuthResult(success=True)
    # With `handled` left True aiosmtpd sends no reply at all, and the client times out.
    return AuthResult(success=False, handled=False, message="535 5.7.8 Bad credentials")


@asynccontextmanager
async def smtp_server(security: SmtpSecurity, certificates: Certificates) -> AsyncIterator[Mailbox]:
    """aiosmtpd requiring a login over TLS: STARTTLS required first, or TLS from the start."""
    box = Mailbox(port=free_port())
    tls: dict[str, Any] = (
        {"tls_context": certificates.server, "require_starttls": True, "auth_require_tls": True}
        # aiosmtpd's auth_require_tls knows only STARTTLS; here the socket is TLS from the start
        if security is SmtpSecurity.STARTTLS
        else {"ssl_context": certificates.server, "auth_require_tls": False}
    )
    controller = Controller(
        box,
        hostname="127.0.0.1",
        port=box.port,
        auth_required=True,
        authenticator=_authenticate,
        **tls,
    )
    await asyncio.to_thread(controller.start)
    try:
        yield box
    finally:
        await asyncio.to_thread(controller.stop)


def config(port: int, security: SmtpSecurity, password: str = PASSWORD) -> SmtpConfig:
    return SmtpConfig("localhost", port, security, USER, password, "alerts@example.test")


REPORT = Attachment("report.csv", b"request_id\nabc\n", "text/csv")


@pytest.mark.usefixtures("trusted")
@pytest.mark.parametrize("security", [SmtpSecurity.STARTTLS, SmtpSecurity.TLS])
async def test_a_message_is_sent_over_tls_with_a_login(
    certificates: Certificates, security: SmtpSecurity
) -> None:
    async with smtp_server(security, certificates) as box:
        delivery = await send_email(
            config(box.port, security), "ops@example.test", "FIRING", "p95 over", (REPORT,)
        )
    assert delivery.ok, delivery
    (message,) = box.messages
    assert message["Subject"] == "FIRING"
    (attachment,) = message.iter_attachments()
    assert attachment.get_content() == "request_id\nabc\n"


@pytest.mark.usefixtures("trusted")
@pytest.mark.parametrize("security", [SmtpSecurity.STARTTLS, SmtpSecurity.TLS])
async def test_a_wrong_password_is_refused_with_its_code(
    certificates: Certificates, security: SmtpSecurity
) -> None:
    async with smtp_server(security, certificates) as box:
        delivery = await send_email(
            config(box.port, security, "wrong"), "ops@example.test", "FIRING", "p95 over"
        )
    assert not delivery.ok
    assert delivery.status_code == 535, delivery  # authentication failed
    assert box.messages == []


@pytest.mark.usefixtures("trusted")
async def test_plain_smtp_to_a_server_that_requires_starttls_sends_nothing(
    certificates: Certificates,
) -> None:
    async with smtp_server(SmtpSecurity.STARTTLS, certificates) as box:
        delivery = await send_email(
            config(box.port, SmtpSecurity.NONE), "ops@example.test", "FIRING", "p95 over"
        )
    assert not delivery.ok
    assert box.messages == []


@pytest.mark.parametrize("security", [SmtpSecurity.STARTTLS, SmtpSecurity.TLS])
async def test_a_certificate_no_trusted_ca_signed_is_refused(
    certificates: Certificates, security: SmtpSecurity, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", "/nonexistent/ca.pem")  # the test CA is not trusted
    monkeypatch.setenv("SSL_CERT_DIR", "/nonexistent")
    async with smtp_server(security, certificates) as box:
        delivery = await send_email(
            config(box.port, security), "ops@example.test", "FIRING", "p95 over"
        )
    assert not delivery.ok
    assert delivery.error == "SSLCertVerificationError"
    assert box.messages == []
