"""The pytest plugin (entry point ``smtpunit``), run with pytester in a scratch directory."""

from __future__ import annotations

import smtpunit

pytest_plugins = ["pytester"]

INNER_TESTS = '''
import pytest
import smtpunit
from smtpunit import ISMTP, invoke
from smtpunit.interfaces import ITransport
from smtpunit.units.linking import resolve
from smtpunit.testing import Expect, Outbox, MemoryTransport, Reply, ScriptMismatch, standard_session

HEADER = "Subject: plugin\\r\\n\\r\\n"
seen = {}


def send(port=25, **options):
    return smtpunit.smtp_send_message("mail.invalid", "a@example.org", ["b@example.org"], HEADER, ["x"], port,
                                      **options)


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
    outcome.assert_outcomes(passed=9, errors=1)
    outcome.stdout.fnmatch_lines([
        "*ERROR at teardown of test_a_script_mismatch_fails_at_teardown*",
        "*ScriptMismatch: connection 0, step 1 Expect(b'HELO'): expected a line starting with b'HELO'*",
    ])
    assert smtpunit.current_registry() is None  # the outer session is left as it was
