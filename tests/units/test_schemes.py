"""The connection URL schemes: what each URL names, and a plugin's own scheme."""

from __future__ import annotations

import importlib

import pytest
from test_discovery import write_distribution

import smtpunit
from smtpunit import TLSPolicy, errors
from smtpunit.interfaces import IAsyncTransport, IMailer, ITransport, IURLScheme
from smtpunit.providers.local import ConsoleMailer, FileMailer
from smtpunit.providers.sendmail import DEFAULT_SENDMAIL, SendmailSMTP
from smtpunit.providers.unix import AsyncUnixSocketTransport, UnixSocketTransport
from smtpunit.units.linking import resolve
from smtpunit.units.urls import MailURL, endpoint, schemes


@pytest.fixture(scope="module")
def registry():
    return smtpunit.default_registry()


def named(url, registry):
    return endpoint(MailURL.parse(url), registry)


def test_every_built_in_scheme_is_registered(registry):
    assert schemes(registry) == ("console", "file", "lmtp", "lmtp+unix", "sendmail", "smtp", "smtp+unix", "smtps")
    for name in schemes(registry):
        assert IURLScheme.providedBy(registry.getUtility(IURLScheme, name))


def test_smtp_is_587_with_starttls_required_and_the_credentials(registry):
    target = named("smtp://me%40example.org:p%40ss@mail.example.org", registry)
    assert target.provider is resolve(registry, IMailer)
    assert (target.server, target.port) == ("mail.example.org", 587)
    assert target.options == {"tls_encode": True, "auth_user": "me@example.org", "auth_passwd": "p@ss"}
    assert smtpunit.options.SendOptions.of("x", target.options).tls_policy is TLSPolicy.STARTTLS


@pytest.mark.parametrize("tls, expected", [("none", TLSPolicy.NONE), ("opportunistic", TLSPolicy.OPPORTUNISTIC),
                                           ("starttls", TLSPolicy.STARTTLS)])
def test_smtp_tls_may_be_relaxed_by_name(registry, tls, expected):
    target = named(f"smtp://mail.example.org:25?tls={tls}", registry)
    assert target.port == 25
    assert smtpunit.options.SendOptions.of("x", target.options).tls_policy is expected


def test_smtps_is_465_with_implicit_tls_that_cannot_be_relaxed(registry):
    target = named("smtps://mail.example.org?timeout=7&auth_mechanism=PLAIN", registry)
    checked = smtpunit.options.SendOptions.of("x", target.options)
    assert (target.port, checked.tls_policy, checked.timeouts.reply, checked.auth_mechanism) == (
        465, TLSPolicy.IMPLICIT, 7.0, "PLAIN")
    with pytest.raises(errors.InvalidArgument, match="unknown query parameter 'tls'"):
        named("smtps://mail.example.org?tls=none", registry)


def test_lmtp_is_the_lmtp_unit_on_port_24(registry):
    target = named("lmtp://mail.example.org", registry)
    assert target.provider is resolve(registry, IMailer, "lmtp") and target.port == 24


@pytest.mark.parametrize("scheme, lmtp", [("smtp+unix", False), ("lmtp+unix", True)])
def test_a_unix_socket_scheme_links_its_unit_with_transports_to_the_path(registry, scheme, lmtp):
    target = named(f"{scheme}:///run/mta/smtp.sock", registry)
    assert target.server == "localhost" and "tcp_connect" not in target.options  # an installed double's wins
    assert target.provider.lmtp is lmtp
    imports = target.provider._imports
    assert isinstance(imports(ITransport), UnixSocketTransport) and imports(ITransport).path == "/run/mta/smtp.sock"
    assert isinstance(imports(IAsyncTransport), AsyncUnixSocketTransport)
    assert smtpunit.options.SendOptions.of("x", target.options).tls_policy is TLSPolicy.NONE


def test_sendmail_console_and_file(registry, tmp_path):
    assert named("sendmail://", registry).provider.path == DEFAULT_SENDMAIL
    program = named("sendmail:///opt/bin/sendmail?timeout=9", registry).provider
    assert isinstance(program, SendmailSMTP) and (program.path, program.timeout) == ("/opt/bin/sendmail", 9.0)
    assert isinstance(named("console://", registry).provider, ConsoleMailer)
    written = named(f"file://{tmp_path}", registry).provider
    assert isinstance(written, FileMailer) and written.directory == str(tmp_path)


@pytest.mark.parametrize("url, problem", [
    ("smtp://", "names a host"),
    ("smtp://host/path", "has no path"),
    ("smtp://host?tls=maybe", "tls must be one of starttls, opportunistic, none"),
    ("smtp://host?verify=no", "unknown query parameter 'verify'"),
    ("smtp+unix://", "names the socket"),
    ("smtp+unix://localhost:25/x.sock", "has no port"),
    ("console://host", "no host, port or user"),
    ("console:///x", "has no path"),
    ("file://", "names a directory"),
    ("file://tmp/mail", "no host, port or user"),
    ("sendmail://me:secret@/usr/sbin/sendmail", "no host, port or user"),
    ("gopher://host", "no provider of the 'gopher' scheme .*smtp, smtp\\+unix, smtps"),
])
def test_a_url_a_scheme_cannot_use_is_refused_without_its_password(registry, url, problem):
    with pytest.raises(errors.InvalidArgument, match=problem) as caught:
        named(url, registry)
    assert "secret" not in str(caught.value)


SCHEME = """
    from zope.interface import implementer
    from smtpunit.interfaces import IURLScheme
    from smtpunit.units.urls import Endpoint
    from smtpunit.testing import Outbox

    OUTBOX = Outbox()

    @implementer(IURLScheme)
    class Example:
        def endpoint(self, url, registry):
            return Endpoint(OUTBOX, url.host, url.port or 2525, {"tls_policy": "none"})
"""


def test_a_plugin_adds_a_scheme_through_an_entry_point(tmp_path, monkeypatch):
    write_distribution(tmp_path, "smtpunit_example_scheme", "[smtpunit.schemes]\nexample = example_scheme:Example\n",
                       {"example_scheme": SCHEME})
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    mailer = smtpunit.Mailer.from_url("example://relay.invalid", registry=smtpunit.default_registry())
    mailer.send("a@example.org", ["b@example.org"], "Subject: plugin\r\n\r\n", ["hi"])
    outbox = importlib.import_module("example_scheme").OUTBOX
    assert [(m.server, m.port, m.recipients) for m in outbox.messages] == [("relay.invalid", 2525, ("b@example.org",))]
