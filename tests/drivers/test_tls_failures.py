"""Bad certificates fail closed, with STARTTLS and implicit TLS, blocking and asyncio."""

from __future__ import annotations

import asyncio
import datetime
import ssl
import warnings

import pytest
import trustme
from conftest import HOST
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import smtpunit
import smtpunit.aio
from smtpunit import errors

HEADER = "Subject: tls\r\n\r\n"
NOW = datetime.datetime.now(datetime.timezone.utc)


def _context_with(cert_pem: bytes, key_pem: bytes, tmp_path) -> ssl.SSLContext:
    path = tmp_path / "server.pem"
    path.write_bytes(key_pem + cert_pem)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(path))
    return context


def self_signed(tmp_path) -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(NOW - datetime.timedelta(days=1))
            .not_valid_after(NOW + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(__import__("ipaddress").ip_address(HOST))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return _context_with(cert.public_bytes(serialization.Encoding.PEM), key_pem, tmp_path)


def issued(ca: trustme.CA, *names: str, **dates) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names, **dates).configure_cert(context)
    return context


@pytest.fixture(params=["self-signed", "unknown CA", "wrong host name", "expired"])
def bad_certificate(request, certs, tmp_path):
    """A server context whose certificate a client trusting ``certs.ca`` must refuse."""
    if request.param == "self-signed":
        return self_signed(tmp_path)
    if request.param == "unknown CA":
        return issued(trustme.CA(), "localhost", HOST)
    if request.param == "wrong host name":
        return issued(certs.ca, "mail.other.invalid")
    return issued(certs.ca, "localhost", HOST, not_before=NOW - datetime.timedelta(days=30),
                  not_after=NOW - datetime.timedelta(days=1))


def attempt(port, **options):
    return smtpunit.smtp_send_message(HOST, "a@example.org", ["b@example.org"], HEADER, ["x"], port, **options)


def test_starttls_refuses_a_bad_certificate(start_server, certs, bad_certificate):
    server = start_server(starttls=True, require_starttls=True, server_context=bad_certificate)
    with pytest.raises(errors.TLSHandshakeError, match="CERTIFICATE_VERIFY_FAILED"):
        attempt(server.port, tls_encode=certs.client_context(), auth_user="u", auth_passwd="p")
    assert server.handler.mail_commands == []


def test_implicit_tls_refuses_a_bad_certificate(start_server, certs, bad_certificate):
    server = start_server(implicit_tls=True, server_context=bad_certificate)
    with pytest.raises(errors.TLSHandshakeError, match="CERTIFICATE_VERIFY_FAILED"):
        attempt(server.port, tls_encode=certs.client_context(), tls_policy="implicit")
    assert server.handler.mail_commands == []


def test_asyncio_starttls_refuses_a_bad_certificate(start_server, certs, bad_certificate):
    server = start_server(starttls=True, require_starttls=True, server_context=bad_certificate)
    with pytest.raises(errors.TLSHandshakeError, match="CERTIFICATE_VERIFY_FAILED"):
        asyncio.run(smtpunit.aio.smtp_send_message(HOST, "a@example.org", ["b@example.org"], HEADER, ["x"],
                                                   server.port, tls_encode=certs.client_context()))
    assert server.handler.mail_commands == []


def test_the_good_certificate_is_accepted(start_server, certs):
    server = start_server(starttls=True, require_starttls=True)
    attempt(server.port, tls_encode=certs.client_context())
    assert server.handler.messages[0].tls


def test_tls_older_than_1_2_is_refused(start_server, certs):
    assert smtpunit.providers.default_context().minimum_version is ssl.TLSVersion.TLSv1_2
    old = issued(certs.ca, "localhost", HOST)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        old.maximum_version = ssl.TLSVersion.TLSv1_1
        old.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    server = start_server(starttls=True, require_starttls=True, server_context=old)
    with pytest.raises(errors.TLSHandshakeError):
        attempt(server.port, tls_encode=certs.client_context())
    assert server.handler.mail_commands == []
