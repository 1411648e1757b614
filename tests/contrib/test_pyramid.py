"""The Pyramid include, in real Pyramid applications (Configurator, views, pyramid_tm's
request transactions), against aiosmtpd on 127.0.0.1."""

from __future__ import annotations

import logging
from email.message import EmailMessage

import pytest
import transaction
from conftest import HOST, PASSWORD, USER
from pyramid.config import Configurator
from pyramid.request import Request

from smtpunit import errors
from smtpunit.contrib.pyramid import IPyramidMailer, get_mailer
from smtpunit.interfaces import IMailer
from smtpunit.testing import Outbox


def message(to: str = "to@example.org", sender: str | None = "app@example.org") -> EmailMessage:
    mail = EmailMessage()
    if sender is not None:
        mail["From"] = sender
    mail["To"], mail["Subject"] = to, "from pyramid"
    mail.set_content("hello\n")
    return mail


def application(settings, *, includes=("smtpunit.contrib.pyramid",), before=None, tm=True):
    """A Pyramid app, with pyramid_tm unless not ``tm``: /send sends (at commit with
    pyramid_tm), /fail sends then raises, /now sends at once."""
    with Configurator(settings=settings) as config:
        if before is not None:
            before(config)
        if tm:
            config.include("pyramid_tm")
        for include in includes:
            config.include(include)

        def send(request):
            result = get_mailer(request).send(message(request.params.get("to", "to@example.org")))
            request.response.text = "queued" if result is None else "sent"
            return request.response

        def fail(request):
            get_mailer(request).send(message("never@example.org"))
            raise RuntimeError("the view failed: the transaction aborts")

        def now(request):
            result = get_mailer(request).send_immediately(message("now@example.org"))
            request.response.text = ",".join(result.accepted)
            return request.response

        for name, view in (("send", send), ("fail", fail), ("now", now)):
            config.add_route(name, f"/{name}")
            config.add_view(view, route_name=name)
        return config.make_wsgi_app()


def get(app, path):
    return Request.blank(path).get_response(app)


def test_a_view_sends_when_its_request_transaction_commits(start_server, certs, tmp_path):
    server = start_server(starttls=True, require_starttls=True, auth=True)
    certs.ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    app = application({"mail.host": HOST, "mail.port": str(server.port), "mail.tls": "true",
                       "mail.username": USER, "mail.password": PASSWORD, "smtpunit.cafile": str(tmp_path / "ca.pem")})
    assert get(app, "/send").text == "queued"
    (delivered,) = server.handler.messages
    assert delivered.tls and delivered.authenticated == USER and delivered.rcpt_tos == ["to@example.org"]


def test_the_settings_make_a_verified_starttls_mailer(start_server):
    server = start_server(starttls=True)
    app = application({"mail.host": HOST, "mail.port": str(server.port), "mail.tls": "true"})
    mailer = get_mailer(app.registry).mailer
    assert (mailer.server, mailer.port, mailer.options.tls_policy.value) == (HOST, server.port, "starttls")
    with pytest.raises(errors.SMTPTLSError):  # the test CA is not trusted: verification fails closed
        get_mailer(app.registry).send_immediately(message())
    assert server.handler.messages == []


def test_an_aborted_transaction_drops_its_messages(start_server):
    server = start_server()
    app = application({"mail.host": HOST, "mail.port": str(server.port)})
    with pytest.raises(RuntimeError, match="the view failed"):
        get(app, "/fail")
    assert server.handler.messages == []
    get(app, "/send?to=after@example.org")
    assert [m.rcpt_tos for m in server.handler.messages] == [["after@example.org"]]


def test_a_transactions_messages_go_over_one_session_at_commit(start_server):
    server = start_server()
    app = application({"smtpunit.url": f"smtp://{HOST}:{server.port}?tls=none", "mail.default_sender": "d@example.org"})
    mailer = get_mailer(app.registry).bound(transaction.manager)  # a script's transactions
    with transaction.manager:
        for n in range(3):
            assert mailer.send(message(f"to{n}@example.org", sender=None)) is None
        assert server.handler.messages == []  # not before the commit
    assert [m.rcpt_tos for m in server.handler.messages] == [[f"to{n}@example.org"] for n in range(3)]
    assert all(m.mail_from == "d@example.org" for m in server.handler.messages)


def test_send_immediately_does_not_wait_for_the_transaction(start_server):
    server = start_server()
    app = application({"mail.host": HOST, "mail.port": str(server.port)})
    assert get(app, "/now").text == "now@example.org"
    transaction.begin()
    get_mailer(app.registry).send_immediately(message("at-once@example.org"))
    transaction.abort()
    assert [m.rcpt_tos for m in server.handler.messages] == [["now@example.org"], ["at-once@example.org"]]


def test_bad_input_raises_in_the_view_not_at_commit(start_server):
    server = start_server()
    app = application({"mail.host": HOST, "mail.port": str(server.port)})
    with transaction.manager, pytest.raises(errors.InvalidArgument, match="no Sender or From"):
        get_mailer(app.registry).send(message(sender=None))
    assert server.handler.messages == []


def test_a_failure_after_commit_is_logged_with_the_recipients(caplog):
    from conftest import free_port

    app = application({"mail.host": HOST, "mail.port": str(free_port())})  # nobody listens
    with caplog.at_level(logging.ERROR, logger="smtpunit.contrib.pyramid"):
        get(app, "/send?to=lost@example.org")
    assert "was not sent to lost@example.org" in caplog.text


def test_the_applications_registry_provides_the_mail_provider():
    # Pyramid's registry is a zope.interface Components: a provider registered there is used.
    outbox = Outbox()
    app = application({"mail.host": "mail.example.org"},
                      before=lambda config: config.registry.registerUtility(outbox, IMailer))
    get(app, "/send")
    assert [m.recipients for m in outbox.messages] == [("to@example.org",)]


def test_the_testing_include_installs_an_outbox():
    app = application({"mail.default_sender": "Site <site@example.org>"},
                      includes=("smtpunit.contrib.pyramid.testing",))
    get(app, "/send?to=a@example.org")
    with pytest.raises(RuntimeError):
        get(app, "/fail")
    get(app, "/now")
    outbox = get_mailer(app.registry).outbox
    assert [m.recipients for m in outbox.messages] == [("a@example.org",), ("now@example.org",)]
    assert IPyramidMailer.providedBy(get_mailer(app.registry))


def test_smtpunits_outbox_catches_pyramid_mail(smtp_outbox):
    app = application({"mail.host": "mail.example.org", "mail.port": "587", "mail.tls": "true"})
    get(app, "/send")
    assert [m.recipients for m in smtp_outbox.messages] == [("to@example.org",)]


def test_with_pyramid_tms_explicit_manager_the_request_transaction_is_joined(start_server):
    # pyramid_tm's cookiecutter default: request.tm is not the thread-local manager.
    server = start_server()
    app = application({"mail.host": HOST, "mail.port": str(server.port),
                       "tm.manager_hook": "pyramid_tm.explicit_manager"})
    assert get(app, "/send").text == "queued"
    with pytest.raises(RuntimeError):
        get(app, "/fail")
    assert [m.rcpt_tos for m in server.handler.messages] == [["to@example.org"]]


def test_without_a_request_transaction_send_sends_at_once(start_server):
    server = start_server()
    app = application({"mail.host": HOST, "mail.port": str(server.port)}, tm=False)
    assert get(app, "/send").text == "sent"
    assert get_mailer(app.registry).send(message("script@example.org")).accepted == ("script@example.org",)
    transaction.commit()  # nothing was left in the thread's transaction for a later commit
    assert [m.rcpt_tos for m in server.handler.messages] == [["to@example.org"], ["script@example.org"]]
