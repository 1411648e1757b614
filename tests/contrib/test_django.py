"""The Django email backend, in a real Django (its settings, its mail API, its test
runner), against aiosmtpd and Postfix on 127.0.0.1, and as a project's command."""

from __future__ import annotations

import email
import email.policy
import os
import ssl
import subprocess
import sys
import textwrap

import django
import pytest
from conftest import HOST, PASSWORD, USER, Greylisting, RecordingHandler, free_port
from django.conf import settings
from django.core import mail
from django.test.utils import override_settings, setup_test_environment, teardown_test_environment
from postfix import PostfixInstance
from postfix import postfix as postfix_fixture  # noqa: F401

from smtpunit import errors
from smtpunit.contrib import django as backend_module
from smtpunit.contrib.django import EmailBackend
from smtpunit.core.retry import Retry

if not settings.configured:
    settings.configure(
        EMAIL_BACKEND="smtpunit.contrib.django.EmailBackend",
        DEFAULT_FROM_EMAIL="Webmaster <webmaster@example.org>",
        SERVER_EMAIL="server@example.org",
        ADMINS=[("Admin", "admin@example.org")],
        INSTALLED_APPS=[],
        USE_TZ=True,
    )
    django.setup()


@pytest.fixture(autouse=True)
def fresh_mailers():
    """Each test builds its backends' mailers anew (they are shared by settings)."""
    yield
    for mailer in backend_module._MAILERS.values():
        mailer.close()
    backend_module._MAILERS.clear()


@pytest.fixture
def server(start_server):
    return start_server(starttls=True, require_starttls=True, auth=True, handler=RecordingHandler())


def email_settings(server, certs, **more):
    """Django's own settings for the server, and a context that trusts the test CA."""
    return override_settings(EMAIL_HOST=HOST, EMAIL_PORT=server.port, EMAIL_HOST_USER=USER,
                             EMAIL_HOST_PASSWORD=PASSWORD, EMAIL_USE_TLS=True,
                             SMTPUNIT_OPTIONS={"tls_encode": certs.client_context()}, **more)


def parsed(delivered):
    return email.message_from_bytes(delivered.content.replace(b"\r\n", b"\n"), policy=email.policy.default)


def test_send_mail_goes_over_starttls_with_django_settings(server, certs):
    with email_settings(server, certs):
        assert isinstance(mail.get_connection(), EmailBackend)
        assert mail.send_mail("Subject", "Body\n", None, ["to@example.org"]) == 1
    (delivered,) = server.handler.messages
    assert (delivered.mail_from, delivered.rcpt_tos) == ("webmaster@example.org", ["to@example.org"])
    assert delivered.tls and delivered.authenticated == USER
    assert parsed(delivered)["Subject"] == "Subject" and parsed(delivered).get_content() == "Body\n"


def test_multi_alternatives_with_attachments_bcc_and_non_ascii_headers_go_as_they_are(server, certs):
    message = mail.EmailMultiAlternatives(
        "Grüße aus Köln ✓", "Text body\n", "Jürgen Müller <jm@example.org>", ["Zoë <to@example.org>"],
        bcc=["hidden@example.org"], cc=["copy@example.org"], headers={"X-Tag": "ünï"})
    message.attach_alternative("<p>HTML body</p>", "text/html")
    message.attach("report.csv", "a,b\n1,2\n", "text/csv")
    message.attach("blob.bin", bytes(range(256)), "application/octet-stream")
    with email_settings(server, certs):
        assert message.send() == 1
    (delivered,) = server.handler.messages
    assert delivered.mail_from == "jm@example.org"
    assert delivered.rcpt_tos == ["to@example.org", "copy@example.org", "hidden@example.org"]
    received = parsed(delivered)
    assert "Bcc" not in received and b"hidden@example.org" not in delivered.content
    assert received["Subject"] == "Grüße aus Köln ✓" and received["X-Tag"] == "ünï"
    assert received["From"].addresses[0].display_name == "Jürgen Müller"
    html = received.get_body(("html",))
    assert html is not None and html.get_content() == "<p>HTML body</p>"
    attachments = {part.get_filename(): part.get_content() for part in received.iter_attachments()}
    assert attachments == {"report.csv": "a,b\n1,2\n", "blob.bin": bytes(range(256))}


def test_send_mass_mail_is_one_pipelined_connection(server, certs):
    messages = [(f"Mass {n}", "Body\n", "from@example.org", [f"to{n}@example.org"]) for n in range(3)]
    with email_settings(server, certs):
        assert mail.send_mass_mail(messages) == 3
    assert server.handler.connections == 1
    assert [m.rcpt_tos for m in server.handler.messages] == [[f"to{n}@example.org"] for n in range(3)]


def test_mail_admins(server, certs):
    with email_settings(server, certs):
        mail.mail_admins("Alert", "Something happened\n")
    (delivered,) = server.handler.messages
    assert (delivered.mail_from, delivered.rcpt_tos) == ("server@example.org", ["admin@example.org"])
    assert parsed(delivered)["Subject"] == "[Django] Alert"


def test_a_with_block_holds_one_session_for_several_sends(server, certs):
    with email_settings(server, certs):
        with mail.get_connection() as connection:
            for n in range(3):
                mail.EmailMessage(f"n{n}", "x\n", "a@example.org", ["b@example.org"], connection=connection).send()
    assert server.handler.connections == 1 and len(server.handler.messages) == 3


def test_fail_silently_and_failures(start_server, certs):
    refusing = start_server(refuse=frozenset({"refused@example.org"}))
    with override_settings(EMAIL_HOST=HOST, EMAIL_PORT=refusing.port):
        def message():
            return mail.EmailMessage("s", "b\n", "a@example.org", ["refused@example.org", "ok@example.org"])

        with pytest.raises(errors.RecipientsRefused):
            message().send()
        assert message().send(fail_silently=True) == 0
        assert refusing.handler.messages == []  # all or nothing: the others did not get it either
    with override_settings(EMAIL_HOST=HOST, EMAIL_PORT=free_port()):  # nobody listens
        with pytest.raises(errors.SMTPError):
            mail.send_mail("s", "b\n", "a@example.org", ["b@example.org"])
        assert mail.send_mail("s", "b\n", "a@example.org", ["b@example.org"], fail_silently=True) == 0


def test_a_bad_message_sends_nothing_of_the_batch(server, certs):
    good = mail.EmailMessage("good", "b\n", "a@example.org", ["b@example.org"])
    bad = mail.EmailMessage("bad", "b\n", "a@example.org", ["b@example.org>\r\nRCPT TO:<evil@example.org"])
    with email_settings(server, certs):
        connection = mail.get_connection()
        with pytest.raises(ValueError):
            connection.send_messages([good, bad])
        assert server.handler.messages == [] and server.handler.connections == 0
        assert mail.get_connection(fail_silently=True).send_messages([good, bad]) == 1  # the bad one left out
    assert [m.rcpt_tos for m in server.handler.messages] == [["b@example.org"]]


def test_get_connection_arguments_win_over_the_settings(start_server):
    plain = start_server()
    with override_settings(EMAIL_HOST="mail.invalid", EMAIL_PORT=1):
        connection = mail.get_connection(host=HOST, port=plain.port)
        assert mail.send_mail("s", "b\n", "a@example.org", ["b@example.org"], connection=connection) == 1
    assert len(plain.handler.messages) == 1


def test_implicit_tls_with_email_use_ssl(start_server, certs):
    implicit = start_server(implicit_tls=True)
    with override_settings(EMAIL_HOST=HOST, EMAIL_PORT=implicit.port, EMAIL_USE_SSL=True,
                           SMTPUNIT_OPTIONS={"tls_encode": certs.client_context()}):
        assert mail.send_mail("s", "b\n", "a@example.org", ["b@example.org"]) == 1
    assert implicit.handler.messages[0].tls


def test_tls_and_ssl_together_are_refused_naming_the_settings():
    with override_settings(EMAIL_USE_TLS=True, EMAIL_USE_SSL=True):
        with pytest.raises(errors.InvalidArgument, match="EMAIL_USE_TLS and EMAIL_USE_SSL are mutually exclusive"):
            mail.get_connection()


def test_the_server_certificate_is_verified(server):
    # No trust in the test CA: Django's settings alone ask for TLS, which must verify.
    with override_settings(EMAIL_HOST=HOST, EMAIL_PORT=server.port, EMAIL_USE_TLS=True):
        with pytest.raises(errors.SMTPTLSError):
            mail.send_mail("s", "b\n", "a@example.org", ["b@example.org"])
    assert server.handler.messages == []


def test_a_connection_url_setting(start_server, monkeypatch):
    plain = start_server()
    with override_settings(SMTPUNIT_URL=f"smtp://{HOST}:{plain.port}?tls=none"):
        assert mail.send_mail("s", "b\n", "a@example.org", ["b@example.org"]) == 1
    # The environment is the settings' business (SMTPUNIT_URL = os.environ.get(...)):
    # a variable left in it does not override EMAIL_* behind their back.
    monkeypatch.setenv("SMTPUNIT_URL", "smtp://mail.invalid:1")
    with override_settings(EMAIL_HOST=HOST, EMAIL_PORT=plain.port):
        assert mail.send_mail("s", "b\n", "a@example.org", ["c@example.org"]) == 1
    assert [m.rcpt_tos for m in plain.handler.messages] == [["b@example.org"], ["c@example.org"]]


def test_retry_in_smtpunit_options_holds_for_djangos_sends(start_server):
    """``SMTPUNIT_OPTIONS``' ``retry=`` (and ``rate=``) reach what Django sends: the
    backend sends through the Mailer, not around it. A greylisted message goes on the
    second attempt."""
    greylisting = start_server(handler=Greylisting())
    with override_settings(EMAIL_HOST=HOST, EMAIL_PORT=greylisting.port,
                           SMTPUNIT_OPTIONS={"retry": Retry(attempts=3, backoff=0.01), "rate": 1000}):
        assert mail.send_mail("s", "b\n", "a@example.org", ["b@example.org"]) == 1
    assert [m.rcpt_tos for m in greylisting.handler.messages] == [["b@example.org"]]


def test_djangos_test_runner_still_gets_a_locmem_outbox(start_server):
    plain = start_server()
    with override_settings(EMAIL_HOST=HOST, EMAIL_PORT=plain.port):
        setup_test_environment()
        try:
            mail.send_mail("in a Django test", "b\n", "a@example.org", ["b@example.org"])
            assert [m.subject for m in mail.outbox] == ["in a Django test"]
        finally:
            teardown_test_environment()
    assert settings.EMAIL_BACKEND == "smtpunit.contrib.django.EmailBackend"
    assert plain.handler.messages == []


def test_smtpunits_outbox_catches_django_mail(smtp_outbox):
    with override_settings(EMAIL_HOST="mail.example.org", EMAIL_PORT=587, EMAIL_USE_TLS=True):
        mail.send_mail("caught", "b\n", "a@example.org", ["b@example.org"], html_message="<p>b</p>")
    assert [(m.subject, m.recipients) for m in smtp_outbox.messages] == [("caught", ("b@example.org",))]


def test_through_postfix(postfix: PostfixInstance, certs):
    rcpt = postfix.address("django")
    with override_settings(EMAIL_HOST=HOST, EMAIL_PORT=postfix.port, EMAIL_HOST_USER=postfix.username,
                           EMAIL_HOST_PASSWORD=postfix.password, EMAIL_USE_TLS=True,
                           SMTPUNIT_OPTIONS={"tls_encode": certs.client_context()}):
        message = mail.EmailMultiAlternatives("Über Postfix", "Text\n", "sender@example.org", [rcpt])
        message.attach_alternative("<p>HTML</p>", "text/html")
        assert message.send() == 1
    (delivery,) = postfix.messages(to=rcpt)
    received = email.message_from_bytes(delivery.original(), policy=email.policy.default)
    assert received["Subject"] == "Über Postfix" and delivery.sender == "sender@example.org"


PROJECT_SETTINGS = """
    import os
    SECRET_KEY = "test"
    INSTALLED_APPS = []
    EMAIL_BACKEND = "smtpunit.contrib.django.EmailBackend"
    EMAIL_HOST = "127.0.0.1"
    EMAIL_PORT = int(os.environ["TEST_SMTP_PORT"])
    DEFAULT_FROM_EMAIL = "project@example.org"
"""


def test_a_django_projects_sendtestemail_command(start_server, tmp_path):
    plain = start_server()
    (tmp_path / "project_settings.py").write_text(textwrap.dedent(PROJECT_SETTINGS))
    environment = {**os.environ, "TEST_SMTP_PORT": str(plain.port), "DJANGO_SETTINGS_MODULE": "project_settings"}
    environment.pop("SMTPUNIT_URL", None)
    done = subprocess.run([sys.executable, "-m", "django", "sendtestemail", "--pythonpath", str(tmp_path),
                           "to@example.org"], env=environment, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    (delivered,) = plain.handler.messages
    assert (delivered.mail_from, delivered.rcpt_tos) == ("project@example.org", ["to@example.org"])
    assert parsed(delivered)["Subject"].startswith("Test email from")


def test_the_timeout_setting_bounds_every_wait():
    with override_settings(EMAIL_HOST=HOST, EMAIL_TIMEOUT=2.5):
        timeouts = mail.get_connection().mailer.options.timeouts
    assert (timeouts.connect, timeouts.reply, timeouts.data_end, timeouts.tls_handshake) == (2.5, 2.5, 2.5, 2.5)


def test_a_client_certificate_from_the_settings(start_server, certs, tmp_path, monkeypatch):
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certs.ca.issue_cert(HOST).configure_cert(server_context)
    certs.ca.configure_trust(server_context)
    server_context.verify_mode = ssl.CERT_REQUIRED  # no certificate, no TLS
    server = start_server(starttls=True, require_starttls=True, server_context=server_context)
    client = certs.ca.issue_cert("client.example.org")
    client.cert_chain_pems[0].write_to_path(str(tmp_path / "client.pem"))
    client.private_key_pem.write_to_path(str(tmp_path / "client.key"))
    certs.ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))  # how a private CA is trusted system-wide
    with override_settings(EMAIL_HOST=HOST, EMAIL_PORT=server.port, EMAIL_USE_TLS=True):
        with pytest.raises(errors.SMTPError):  # the server asks for a certificate the client does not have
            mail.send_mail("s", "b\n", "a@example.org", ["b@example.org"])
        with override_settings(EMAIL_SSL_CERTFILE=str(tmp_path / "client.pem"),
                               EMAIL_SSL_KEYFILE=str(tmp_path / "client.key")):
            assert mail.send_mail("s", "b\n", "a@example.org", ["b@example.org"]) == 1
    assert [m.tls for m in server.handler.messages] == [True]
