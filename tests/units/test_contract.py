"""The one mail contract: every provider and double serves every entry point."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

import pytest
from zope.interface import implementer
from zope.interface.verify import verifyObject

import smtpunit
import smtpunit.aio
from smtpunit import ISMTP, errors
from smtpunit.interfaces import IMailer
from smtpunit.options import SendOptions
from smtpunit.providers.sendmail import SendmailSMTP
from smtpunit.testing import AsyncMemoryTransport, MemoryServer, Outbox
from smtpunit.testing.conformance import ConformanceError, check_mailer
from smtpunit.units.contract import MailProvider, as_mailer

HEADER = "Subject: contract\r\n\r\n"


@implementer(ISMTP)
class RacketOnly:
    """A provider of the Racket signature alone."""

    smtp_sending_server = smtpunit.smtp_sending_server
    smtp_sending_end_of_message = smtpunit.smtp_sending_end_of_message

    def __init__(self):
        self.sent = []

    def smtp_send_message(self, server_address, from_, to, header, message, port_no=25, **options):
        self.sent.append((from_, tuple(to)))
        reply = smtpunit.core.reply.Reply(250, ("2.0.0 ok",))
        return smtpunit.SendResult(tuple(smtpunit.RecipientResult(r, reply) for r in to), reply)

    def smtp_send_message_star(self, connection, from_, to, header, message, *args, **options):
        raise AssertionError("not used")


def fake_sendmail(tmp_path: Path) -> SendmailSMTP:
    """A sendmail that keeps each message it is given in a file."""
    program = tmp_path / "sendmail"
    program.write_text(f"#!/bin/sh\ncat > \"$(mktemp {tmp_path}/message.XXXXXX)\"\n")
    program.chmod(program.stat().st_mode | stat.S_IEXEC)
    return SendmailSMTP(program, timeout=10)


def test_the_smtp_unit_serves_every_entry_point():
    check_mailer(smtpunit.invoke(smtpunit.default_registry()))


def test_the_outbox_serves_every_entry_point():
    outbox = Outbox()
    check_mailer(outbox)
    assert len(outbox.messages) == 52  # every entry point once, send_many twice


def test_sendmail_serves_every_entry_point(tmp_path):
    check_mailer(fake_sendmail(tmp_path))
    assert len(list(tmp_path.glob("message.*"))) == 52


def test_a_provider_of_the_racket_signature_alone_serves_every_entry_point():
    provider = RacketOnly()
    check_mailer(provider)
    assert len(provider.sent) == 52


def test_a_provider_that_breaks_an_entry_point_fails_the_check():
    class NoSessions(Outbox):
        def open_session(self, server, port, options):
            raise RuntimeError("no sessions here")

    with pytest.raises(ConformanceError, match="^check_mailer: send_many: a good message was refused"):
        check_mailer(NoSessions())


def test_every_provider_verifies_as_the_mail_contract(tmp_path):
    for provider in (smtpunit.invoke(smtpunit.default_registry()), Outbox(), fake_sendmail(tmp_path),
                     as_mailer(RacketOnly())):
        assert verifyObject(IMailer, provider)
        assert isinstance(as_mailer(provider), MailProvider)


def test_asyncio_with_an_outbox_installed():
    # Once: AttributeError: 'Outbox' object has no attribute 'smtp_send_message_async'.
    outbox = Outbox()
    registry = smtpunit.link(smtpunit.provide(ISMTP, outbox), bases=(smtpunit.default_registry(),))
    with smtpunit.current_registry.parameterize(registry):
        result = asyncio.run(smtpunit.aio.smtp_send_message("mail.example.org", "a@example.org",
                                                            ["b@example.org"], HEADER, ["hi"], 587))
    assert result.accepted == ("b@example.org",) and outbox.messages[0].recipients == ("b@example.org",)


def test_sendmail_through_sessions_and_a_pool(tmp_path):
    # Once: TypeError: ... does not provide IMailer.
    registry = smtpunit.link(smtpunit.provide(ISMTP, fake_sendmail(tmp_path)), bases=(smtpunit.default_registry(),))
    with smtpunit.current_registry.parameterize(registry):
        with smtpunit.connect("localhost") as session:
            outcomes = session.send_many([("a@example.org", ["b@example.org"], HEADER, [f"{n}"]) for n in range(3)])
        with smtpunit.Pool("localhost", size=2) as pool:
            pool.send("a@example.org", ["b@example.org"], HEADER, ["pooled"])
    assert all(isinstance(o, smtpunit.SendResult) for o in outcomes)
    bodies = sorted(path.read_bytes().rsplit(b"\r\n\r\n", 1)[1] for path in tmp_path.glob("message.*"))
    assert bodies == [b"0\r\n", b"1\r\n", b"2\r\n", b"pooled\r\n"]


def test_the_asyncio_memory_transport_carries_a_real_conversation():
    server = MemoryServer()
    result = asyncio.run(smtpunit.aio.smtp_send_message("mail.invalid", "a@example.org", ["b@example.org"],
                                                        HEADER, ["hi"], tcp_connect=AsyncMemoryTransport(server)))
    assert result.reply.code == 250
    assert server.messages[0].recipients == ("b@example.org",) and server.received.startswith(b"EHLO ")


def test_options_are_one_frozen_object_checked_once():
    options = SendOptions.of("connect", {"tls_encode": True, "timeout": 5}, chunking=True)
    assert options.tls_policy is smtpunit.TLSPolicy.STARTTLS and options.timeouts == smtpunit.Timeouts.coerce(5)
    assert options.chunking is True and "auth_passwd" not in repr(SendOptions(auth_user="u", auth_passwd="pw-x"))
    with pytest.raises(Exception, match="frozen|cannot assign"):
        options.timeout = 3  # type: ignore[misc]
    with pytest.raises(TypeError, match="^Pool\\(\\) got an unexpected keyword argument 'tiemout'; did you mean"):
        smtpunit.Pool("mail.example.org", tiemout=3)
    with pytest.raises(TypeError, match="^connect\\(\\): option partial_delivery must be True or False"):
        smtpunit.connect("mail.example.org", partial_delivery="yes")
    with pytest.raises(errors.InvalidArgument, match="go together"):
        smtpunit.Pool("mail.example.org", auth_user="u")


# -- what the framework supplies behaves as the real thing ----------------------------------


@implementer(ISMTP)
class StrictRacket:
    """Takes only the keywords smtp^ documents, and returns nothing, as Racket's does."""

    smtp_sending_server = smtpunit.smtp_sending_server
    smtp_sending_end_of_message = smtpunit.smtp_sending_end_of_message

    def __init__(self):
        self.calls = []

    def smtp_send_message(self, server_address, from_, to, header, message, port_no=25, *, auth_user=None,
                          auth_passwd=None, tcp_connect=None, tls_encode=None):
        self.calls.append((header, list(message), auth_user, tls_encode))

    def smtp_send_message_star(self, connection, from_, to, header, message, *args, **options):
        raise AssertionError("not used")


def test_the_racket_adapter_gives_the_header_the_lines_and_only_the_options_given():
    provider = StrictRacket()
    registry = smtpunit.link(smtpunit.provide(ISMTP, provider), bases=(smtpunit.default_registry(),))
    with smtpunit.current_registry.parameterize(registry):
        smtpunit.smtp_send_message("localhost", "a@example.org", ["b@example.org"], HEADER, ["one-shot"])
        with smtpunit.connect("localhost") as session:  # connect's chunking=True is its own default
            result = session.send("a@example.org", ["b@example.org"], "\r\n", ["first", "", "after a blank"])
        with smtpunit.Pool("localhost", tls_encode=True) as pool:
            pool.send("a@example.org", ["b@example.org"], HEADER, ["pooled"])
    assert result.accepted == ("b@example.org",)  # Racket's returns nothing: taken as sent
    assert provider.calls == [(HEADER, ["one-shot"], None, None), ("\r\n", ["first", "", "after a blank"], None, None),
                              (HEADER, ["pooled"], None, True)]


def test_a_session_without_a_connection_greets_with_the_name_current_when_it_opened(monkeypatch):
    import threading

    names = []
    converse = Outbox._converse

    def spy(self, message, plan):
        names.append(plan.ehlo_name)
        return converse(self, message, plan)

    monkeypatch.setattr(Outbox, "_converse", spy)
    registry = smtpunit.link(smtpunit.provide(ISMTP, Outbox()), bases=(smtpunit.default_registry(),))
    with smtpunit.current_registry.parameterize(registry):
        with smtpunit.smtp_sending_server.parameterize("opened.example.org"):
            session = smtpunit.connect("localhost")
        with session:
            session.send("a@example.org", ["b@example.org"], HEADER, ["x"])
        with smtpunit.smtp_sending_server.parameterize("pool.example.org"):
            pool = smtpunit.Pool("localhost")
        sender = threading.Thread(target=pool.send, args=("a@example.org", ["b@example.org"], HEADER, ["y"]))
        sender.start()
        sender.join(10)
        pool.close()
    assert names == ["opened.example.org", "pool.example.org"]


def test_a_pool_never_retries_a_message_on_a_session_without_a_connection(tmp_path):
    # sendmail read the whole message, then took too long: the outcome is unknown (the
    # message may well be queued). It must not be handed over a second time.
    program = tmp_path / "sendmail"
    program.write_text(f"#!/bin/sh\ncat > \"$(mktemp {tmp_path}/message.XXXXXX)\"\nsleep 2\n")
    program.chmod(program.stat().st_mode | stat.S_IEXEC)
    registry = smtpunit.link(smtpunit.provide(ISMTP, SendmailSMTP(program, timeout=0.5)),
                             bases=(smtpunit.default_registry(),))
    with smtpunit.current_registry.parameterize(registry):
        with smtpunit.Pool("localhost", size=1) as pool:
            for body in ("first", "second"):
                with pytest.raises(errors.SMTPOutcomeUnknown):
                    pool.send("a@example.org", ["b@example.org"], HEADER, [body])
    assert len(list(tmp_path.glob("message.*"))) == 2


def test_the_outbox_under_asyncio_runs_on_the_loop_in_order():
    import threading

    outbox = Outbox()
    threads = set()
    registry = smtpunit.link(smtpunit.provide(ISMTP, outbox), bases=(smtpunit.default_registry(),))

    async def many():
        with smtpunit.smtp_sending_end_of_message.parameterize(lambda: threads.add(threading.get_ident())):
            await asyncio.gather(*(smtpunit.aio.smtp_send_message("localhost", "a@example.org", ["b@example.org"],
                                                                  HEADER, [str(n)]) for n in range(100)))
            async with await smtpunit.aio.connect("localhost") as session:
                await session.send("a@example.org", ["b@example.org"], HEADER, ["100"])

    with smtpunit.current_registry.parameterize(registry):
        asyncio.run(many())
    assert [m.lines for m in outbox.messages] == [(str(n).encode(),) for n in range(101)]
    assert threads == {threading.get_ident()}


def test_a_cancelled_asyncio_connect_leaves_no_session_open():
    import threading

    opened, closed = threading.Event(), threading.Event()

    class SlowSessions(Outbox):
        def open_session(self, server, port, options):
            session = super().open_session(server, port, options)
            opened.wait(5)  # the caller gives up meanwhile
            session.close = closed.set
            return session

    SlowSessions.open_session_async = MailProvider.open_session_async  # the generic, threaded form
    registry = smtpunit.link(smtpunit.provide(ISMTP, SlowSessions()), bases=(smtpunit.default_registry(),))

    async def give_up():
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(smtpunit.aio.connect("localhost"), 0.1)
        opened.set()
        await asyncio.sleep(0.5)

    with smtpunit.current_registry.parameterize(registry):
        asyncio.run(give_up())
    assert closed.wait(5)


def test_credentials_to_a_remote_name_are_refused_before_connecting():
    # mail.invalid cannot be resolved: the security error must come first.
    for connect in (lambda: smtpunit.connect("mail.invalid", auth_user="u", auth_passwd="secret-pw"),
                    lambda: smtpunit.smtp_send_message("mail.invalid", "a@example.org", ["b@example.org"], HEADER,
                                                       ["x"], auth_user="u", auth_passwd="secret-pw"),
                    lambda: asyncio.run(smtpunit.aio.connect("mail.invalid", auth_user="u", auth_passwd="pw-x"))):
        with pytest.raises(errors.SMTPSecurityError):
            connect()
    registry = smtpunit.link(smtpunit.provide(ISMTP, Outbox()), bases=(smtpunit.default_registry(),))
    with smtpunit.current_registry.parameterize(registry), pytest.raises(errors.SMTPSecurityError):
        smtpunit.connect("mail.invalid", auth_user="u", auth_passwd="secret-pw")


def test_a_provider_of_the_former_mailer_contract_is_served_as_a_racket_one():
    @implementer(IMailer)
    class Former(RacketOnly):  # send_envelope and connect with keywords, no deliver
        def send_envelope(self, server_address, envelope, port_no=25, **options):
            raise AssertionError("not used")

        def connect(self, server_address, port_no=25, **options):
            raise AssertionError("not used")

    provider = Former()
    registry = smtpunit.link(smtpunit.provide(ISMTP, provider), bases=(smtpunit.default_registry(),))
    with smtpunit.current_registry.parameterize(registry):
        with smtpunit.connect("localhost") as session:
            session.send("a@example.org", ["b@example.org"], HEADER, ["x"])
    assert provider.sent == [("a@example.org", ("b@example.org",))]


def test_chunking_none_keeps_the_entry_points_default():
    assert SendOptions.of("connect", {"chunking": None}, chunking=True).chunking is True
    assert SendOptions.of("connect", {"chunking": False}, chunking=True).chunking is False
    assert SendOptions.of("connect", {"timeout": 3}).given == {"timeout"}


def test_options_checked_once_are_kept_by_value_and_identity():
    first, second = AsyncMemoryTransport(), AsyncMemoryTransport()
    made = SendOptions.of("connect", {"tcp_connect": first, "timeout": 5})
    assert SendOptions.of("connect", {"tcp_connect": first, "timeout": 5}) is made  # checked once
    assert SendOptions.of("connect", {"tcp_connect": second, "timeout": 5}).tcp_connect is second
    assert SendOptions.of("connect", {"partial_delivery": True}).partial_delivery is True
    for ill_typed in (1, 0, "yes"):  # equal to True or False, or not: never served what was checked for them
        with pytest.raises(TypeError, match="partial_delivery must be True or False"):
            SendOptions.of("connect", {"partial_delivery": ill_typed})
    assert SendOptions.of("connect", {}, chunking=True).chunking is True
    assert SendOptions.of("connect", {}).chunking is None
    from smtpunit import options

    SendOptions.of("connect", {"auth_user": "u", "auth_passwd": "kept-nowhere"})
    assert not any(o.auth_passwd for o in options._CHECKED.values())  # no password kept
