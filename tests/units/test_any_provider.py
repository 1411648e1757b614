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
from smtpunit import ISMTP, errors, link, provide
from smtpunit.interfaces import IMailer
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


def test_a_bare_ismtp_provider_serves_every_entry_point():
    sent = []

    @implementer(ISMTP)
    class Bare:  # the Racket signature alone: smtp_send_message with a header and lines
        smtp_sending_server = smtpunit.smtp_sending_server
        smtp_sending_end_of_message = smtpunit.smtp_sending_end_of_message

        def smtp_send_message(self, server_address, from_, to, header, message, port_no=25, **options):
            def octets(line):
                return line.encode() if isinstance(line, str) else bytes(line)

            sent.append((server_address, port_no, from_, tuple(to), octets(header), [octets(m) for m in message],
                         options))
            reply = smtpunit.core.reply.Reply(250, ("2.0.0 bare",))
            return smtpunit.SendResult(tuple(smtpunit.RecipientResult(r, reply) for r in to), reply)

        def smtp_send_message_star(self, connection, from_, to, header, message, *args, **options):
            raise AssertionError("not used")

    async def through_asyncio():
        await smtpunit.aio.smtp_send_message("mail.invalid", "d@example.org", ["e@example.org"], HEADER, ["x"])
        async with await smtpunit.aio.connect("mail.invalid", 2525) as session:
            await session.send("f@example.org", ["g@example.org"], HEADER, ["x"])

    with smtpunit.current_registry.parameterize(link(provide(ISMTP, Bare()))):
        smtpunit.smtp_send_message("mail.invalid", "a@example.org", ["b@example.org"], HEADER, ["x"])
        with smtpunit.connect("mail.invalid", 587, timeout=7) as session:
            outcomes = session.send_many([("b@example.org", ["c@example.org"], HEADER, ["one", ".dot"])])
        assert outcomes[0].reply.text == "2.0.0 bare"
        smtpunit.send_message("mail.invalid", message())
        with smtpunit.Pool("mail.invalid") as pool:
            pool.send("c@example.org", ["d@example.org"], HEADER, ["x"])
        asyncio.run(through_asyncio())
    senders = [entry[2] for entry in sent]
    assert senders == ["a@example.org", "b@example.org", "a@example.org", "c@example.org", "d@example.org",
                       "f@example.org"]
    # The envelope reaches the Racket signature as it was given: header and lines, undotted.
    assert sent[1][:2] == ("mail.invalid", 587) and sent[1][4:6] == (HEADER.encode(), [b"one", b".dot"])
    assert sent[1][6]["timeout"] == smtpunit.Timeouts.coerce(7)
