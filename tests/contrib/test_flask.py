"""The Flask extension, in a real Flask application (its config, its request handling,
its test client), against aiosmtpd on 127.0.0.1."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage

import pytest
from conftest import HOST, PASSWORD, USER
from flask import Flask

from smtpunit import errors
from smtpunit.contrib.flask import Mail


def welcome(to: str = "new@example.org", sender: str | None = "site@example.org") -> EmailMessage:
    message = EmailMessage()
    if sender is not None:
        message["From"] = sender
    message["To"], message["Bcc"], message["Subject"] = to, "audit@example.org", "Willkommen, Zoë"
    message.set_content("Welcome!\n")
    return message


def make_app(**config) -> tuple[Flask, Mail]:
    app = Flask("mailing")
    app.config.update(config)
    mail = Mail()
    mail.init_app(app)

    @app.post("/signup")
    def signup():
        result = mail.send(welcome())
        return {"accepted": list(result.accepted) if result else None}

    return app, mail


def test_a_request_sends_with_flask_mail_configuration(start_server, certs):
    server = start_server(starttls=True, require_starttls=True, auth=True)
    app, _ = make_app(MAIL_SERVER=HOST, MAIL_PORT=server.port, MAIL_USE_TLS=True, MAIL_USERNAME=USER,
                      MAIL_PASSWORD=PASSWORD, SMTPUNIT_OPTIONS={"tls_encode": certs.client_context()})
    response = app.test_client().post("/signup")
    assert response.json == {"accepted": ["new@example.org", "audit@example.org"]}
    (delivered,) = server.handler.messages
    assert delivered.tls and delivered.authenticated == USER
    assert delivered.rcpt_tos == ["new@example.org", "audit@example.org"] and b"Bcc" not in delivered.content
    parsed = email.message_from_bytes(delivered.content, policy=email.policy.default)
    assert parsed["Subject"] == "Willkommen, Zoë"


def test_mail_app_and_the_default_sender(start_server):
    server = start_server()
    app = Flask("direct")
    app.config.update(MAIL_SERVER=HOST, MAIL_PORT=server.port, MAIL_DEFAULT_SENDER=("Site", "site@example.org"))
    mail = Mail(app)
    message = welcome(sender=None)
    mail.send(message)
    assert message["From"] is None  # the caller's message is left as it was
    assert server.handler.messages[0].mail_from == "site@example.org"
    assert b"From: Site <site@example.org>" in server.handler.messages[0].content


def test_record_messages_and_testing_mode_send_nothing_out(start_server):
    server = start_server()
    app, mail = make_app(MAIL_SERVER=HOST, MAIL_PORT=server.port, TESTING=True)
    with app.app_context(), mail.record_messages() as outbox:
        response = app.test_client().post("/signup")
        assert mail.send(welcome("other@example.org")) is None
    assert response.json == {"accepted": None}
    assert [m["To"] for m in outbox] == ["new@example.org", "other@example.org"]
    assert server.handler.messages == []


def test_suppress_send_can_be_turned_off_in_testing_and_on_outside_it(start_server):
    server = start_server()
    app, mail = make_app(MAIL_SERVER=HOST, MAIL_PORT=server.port, TESTING=True, MAIL_SUPPRESS_SEND=False)
    with mail.record_messages() as outbox:
        app.test_client().post("/signup")
    assert len(outbox) == len(server.handler.messages) == 1
    app, mail = make_app(MAIL_SERVER=HOST, MAIL_PORT=server.port, MAIL_SUPPRESS_SEND="true")
    app.test_client().post("/signup")
    assert len(server.handler.messages) == 1


def test_several_messages_over_one_session(start_server):
    server = start_server()
    app, mail = make_app(MAIL_SERVER=HOST, MAIL_PORT=server.port)
    with app.app_context():
        outcomes = mail.send_many([welcome(f"user{n}@example.org") for n in range(3)])
    assert [o.accepted[0] for o in outcomes] == [f"user{n}@example.org" for n in range(3)]
    assert len(server.handler.messages) == 3


def test_a_connection_url_in_the_config(start_server):
    server = start_server()
    app, mail = make_app(SMTPUNIT_URL=f"smtp://{HOST}:{server.port}?tls=none")
    app.test_client().post("/signup")
    assert len(server.handler.messages) == 1
    with app.app_context():
        assert mail.mailer.port == server.port


def test_bad_input_raises_before_anything_is_recorded_or_sent(start_server):
    server = start_server()
    app, mail = make_app(MAIL_SERVER=HOST, MAIL_PORT=server.port)
    with app.app_context(), mail.record_messages() as outbox:
        with pytest.raises(errors.InvalidArgument, match="no Sender or From"):
            mail.send(welcome(sender=None))
    assert outbox == [] and server.handler.mail_commands == []


def test_tls_and_ssl_together_are_refused_naming_the_keys():
    with pytest.raises(errors.InvalidArgument, match="MAIL_USE_TLS and MAIL_USE_SSL are mutually exclusive"):
        make_app(MAIL_USE_TLS=True, MAIL_USE_SSL=True)


def test_outside_an_application_the_error_says_what_to_do():
    with Flask("other").app_context(), pytest.raises(RuntimeError, match="call mail.init_app"):
        Mail().send(welcome())


def test_smtpunits_outbox_catches_flask_mail(smtp_outbox):
    app, _ = make_app(MAIL_SERVER="mail.example.org", MAIL_PORT=587, MAIL_USE_TLS=True)
    app.test_client().post("/signup")
    assert [m.subject for m in smtp_outbox.messages] == ["Willkommen, Zoë"]
