"""IMailer: the module-level session, EmailMessage and asyncio functions work with any
provider of it, the Outbox double included, and fail clearly with a bare ISMTP."""

from __future__ import annotations

import asyncio
from email.message import EmailMessage

import pytest
from zope.interface import implementer
from zope.interface.verify import verifyObject

import smtpunit
import smtpunit.aio
from smtpunit import ISMTP, IMailer, errors, link, provide
from smtpunit.testing import Outbox

HEADER = "Subject: mailer\r\n\r\n"


def message() -> EmailMessage:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "a@example.org", "b@example.org", "mailer"
    mail.set_content("hello\n")
    return mail


def test_the_unit_and_the_outbox_provide_imailer():
    assert verifyObject(IMailer, smtpunit.invoke(smtpunit.default_registry()))
    assert verifyObject(IMailer, Outbox())


def test_sessions_messages_and_asyncio_land_in_the_outbox(smtp_outbox):
    with smtpunit.connect("mail.invalid") as session:
        session.send("a@example.org", ["b@example.org"], HEADER, ["session"])
        outcomes = session.send_many([("a@example.org", ["b@example.org"], HEADER, ["many"])])
        assert isinstance(outcomes[0], smtpunit.SendResult)
    smtpunit.send_message("mail.invalid", message())

    async def main() -> None:
        await smtpunit.aio.send_message("mail.invalid", message())
        async with await smtpunit.aio.connect("mail.invalid") as session:
            await session.send("a@example.org", ["b@example.org"], HEADER, ["async session"])

    asyncio.run(main())
    assert len(smtp_outbox.messages) == 5


def test_outbox_session_reports_injected_failures(smtp_outbox):
    smtp_outbox.refuse("bad@example.org")
    with smtpunit.connect("mail.invalid") as session:
        with pytest.raises(errors.RecipientsRefused):
            session.send("a@example.org", ["bad@example.org"], HEADER, ["x"])
        outcomes = session.send_many([("a@example.org", ["bad@example.org"], HEADER, ["x"]),
                                      ("a@example.org", ["b@example.org"], HEADER, ["y"])])
    assert isinstance(outcomes[0], errors.RecipientsRefused) and isinstance(outcomes[1], smtpunit.SendResult)


def test_a_bare_ismtp_provider_serves_only_smtp_send_message():
    sent = []

    @implementer(ISMTP)
    class Bare:
        smtp_sending_server = smtpunit.smtp_sending_server
        smtp_sending_end_of_message = smtpunit.smtp_sending_end_of_message

        def smtp_send_message(self, server_address, from_, to, header, message, port_no=25, **options):
            sent.append(from_)

        def smtp_send_message_star(self, connection, from_, to, header, message, *args, **options):
            sent.append(from_)

    with smtpunit.current_registry.parameterize(link(provide(ISMTP, Bare()))):
        smtpunit.smtp_send_message("mail.invalid", "a@example.org", ["b@example.org"], HEADER, ["x"])
        with pytest.raises(TypeError, match="IMailer"):
            smtpunit.connect("mail.invalid")
        with pytest.raises(TypeError, match="IMailer"):
            smtpunit.send_message("mail.invalid", message())
    assert sent == ["a@example.org"]
