"""The pytest plugin (entry point ``smtpunit``), run with pytester in a scratch directory."""

from __future__ import annotations

import smtpunit

pytest_plugins = ["pytester"]

INNER_TESTS = '''
import socket

import pytest
import smtpunit
from zope.interface.registry import Components
from smtpunit import ISMTP, invoke
from smtpunit.interfaces import IMailer, ITransport
from smtpunit.units.linking import resolve
from smtpunit.testing import Expect, MemoryServer, Outbox, MemoryTransport, Reply, ScriptMismatch, standard_session

HEADER = "Subject: plugin\\r\\n\\r\\n"
seen = {}


def send(port=25, **options):
    return smtpunit.smtp_send_message("mail.invalid", "a@example.org", ["b@example.org"], HEADER, ["x"], port,
                                      **options)


def send_to_loopback(smtp=None):
    """Send to a closed port of 127.0.0.1: if the TCP transport is wrongly used, it is refused there."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        return (smtp or smtpunit).smtp_send_message("127.0.0.1", "a@example.org", ["b@example.org"], HEADER, ["x"],
                                                    port)


def test_outbox_catches_module_level_sends(smtp_outbox, smtp_registry):
    assert isinstance(smtp_outbox, Outbox)
    assert smtpunit.current_registry() is not smtp_registry  # the outbox layer over it
    send()
    assert len(smtp_outbox.messages) == 1
    seen["outbox"], seen["registry"] = smtp_outbox, smtp_registry


def test_the_next_test_has_its_own_outbox_and_registry(smtp_outbox, smtp_registry):
    assert smtp_outbox.messages == []
    assert smtp_outbox is not seen["outbox"] and smtp_registry is not seen["registry"]
    assert invoke(smtpunit.current_registry()) is smtp_outbox


def test_registry_is_fresh_and_installed(smtp_registry):
    assert smtpunit.current_registry() is smtp_registry
    assert smtp_registry is not seen["registry"]
    smtp_registry.registerUtility(MemoryTransport(), ITransport)  # changed here only


def test_changes_to_a_registry_do_not_leak(smtp_registry):
    assert type(resolve(smtp_registry, ITransport)).__name__ == "TCPTransport"


def test_memory_server_runs_the_real_client(smtp_memory_server):
    result = send()
    (message,) = smtp_memory_server.messages
    assert message.recipients == ("b@example.org",) and result.reply.code == 250
    assert bytes(smtp_memory_server.received).startswith(b"EHLO localhost\\r\\n")


def test_memory_server_takes_asyncio_sends_too(smtp_memory_server):
    import asyncio
    import smtpunit.aio

    with socket.socket() as closed:  # if the TCP transport is wrongly used, it is refused here
        closed.bind(("127.0.0.1", 0))
        result = asyncio.run(smtpunit.aio.smtp_send_message(
            "127.0.0.1", "a@example.org", ["b@example.org"], HEADER, ["hi"], closed.getsockname()[1]))
    (message,) = smtp_memory_server.messages
    assert message.recipients == ("b@example.org",) and result.reply.code == 250


def test_memory_server_serves_lmtp_too(smtp_memory_server, smtp_registry):
    with pytest.raises(smtpunit.errors.SMTPReplyError):  # it speaks no LMTP, but it is reached
        send_to_loopback(invoke(smtpunit.current_registry(), ISMTP, "lmtp"))
    assert bytes(smtp_memory_server.received).startswith(b"LHLO localhost\\r\\n")
    assert invoke(smtp_registry, ITransport).__class__.__name__ == "TCPTransport"  # left as it was


def test_a_transport_registered_in_the_registry_carries_the_sends(smtp_registry):
    server = MemoryServer()
    smtp_registry.registerUtility(MemoryTransport(server), ITransport)
    send_to_loopback()
    assert len(server.messages) == 1


def test_a_transport_registered_under_its_name_reaches_the_unnamed_alias(smtp_registry):
    server = MemoryServer()
    smtp_registry.registerUtility(MemoryTransport(server), ITransport, "tcp")
    send_to_loopback()
    assert len(server.messages) == 1


def test_the_registry_under_the_outbox_keeps_its_own_wiring(smtp_outbox, smtp_registry):
    server = MemoryServer()
    smtp_registry.registerUtility(MemoryTransport(server), ITransport)
    send()
    assert len(smtp_outbox.messages) == 1 and invoke(smtpunit.current_registry(), IMailer) is smtp_outbox
    host = Components("host", bases=(smtpunit.current_registry(),))
    with pytest.raises(smtpunit.errors.SMTPReplyError):  # smtp_registry's lmtp@ through two layers
        send_to_loopback(invoke(host, ISMTP, "lmtp"))
    assert bytes(server.received).startswith(b"LHLO localhost\\r\\n")


def test_without_fixtures_the_default_registry_is_back():
    assert smtpunit.current_registry() is None


def test_scripted_server_factory(scripted_smtp_server):
    server = scripted_smtp_server([Reply(b"554 5.7.1 no"), Expect(b"QUIT"), Reply(b"221 bye")])
    with pytest.raises(smtpunit.errors.SMTPReplyError):
        smtpunit.smtp_send_message("127.0.0.1", "a@example.org", ["b@example.org"], HEADER, ["x"], server.port)


def test_a_script_mismatch_fails_at_teardown(scripted_smtp_server):
    server = scripted_smtp_server([Reply(b"220 hi"), Expect(b"HELO")])
    with pytest.raises(smtpunit.errors.SMTPConnectionClosed):
        smtpunit.smtp_send_message("127.0.0.1", "a@example.org", ["b@example.org"], HEADER, ["x"], server.port)


def test_replay_server_factory(replay_smtp_server):
    from smtpunit.testing import Conversation
    server = replay_smtp_server(Conversation([("server", b"554 no\\r\\n"), ("client", b"QUIT\\r\\n"),
                                              ("server", b"221 bye\\r\\n")]))
    with pytest.raises(smtpunit.errors.SMTPReplyError):
        smtpunit.smtp_send_message("127.0.0.1", "a@example.org", ["b@example.org"], HEADER, ["x"], server.port)
'''


QUIET = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-p", "no:benchmark")  # fast inner sessions


def test_the_plugin_is_registered_through_its_entry_point(pytester):
    pytester.makepyfile(test_probe="def test_probe(request):\n"
                                   "    assert request.config.pluginmanager.has_plugin('smtpunit')\n")
    pytester.runpytest(*QUIET).assert_outcomes(passed=1)
    pytester.runpytest(*QUIET, "-p", "no:smtpunit").assert_outcomes(failed=1)


def test_fixtures_isolate_tests_and_report_mismatches(pytester):
    pytester.makepyfile(test_inner=INNER_TESTS)
    outcome = pytester.runpytest(*QUIET)
    outcome.assert_outcomes(passed=14, errors=1)
    outcome.stdout.fnmatch_lines([
        "*ERROR at teardown of test_a_script_mismatch_fails_at_teardown*",
        "*ScriptMismatch: connection 0, step 1 Expect(b'HELO'): expected a line starting with b'HELO'*",
    ])
    assert smtpunit.current_registry() is None  # the outer session is left as it was
