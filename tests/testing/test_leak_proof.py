"""While the pytest plugin has a double installed, every send in the process reaches
it -- any thread, executor or asyncio task, and a Pool, Mailer or session made at
import time -- and a
real connection fails the test, even if the code under test swallows the error."""

from __future__ import annotations

import asyncio

import pytest

import smtpunit
import smtpunit.aio
from smtpunit.interfaces import IMailer
from smtpunit.testing import AsyncMemoryTransport, MemoryServer, MemoryTransport, Outbox
from smtpunit.units.installation import installed

pytest_plugins = ["pytester"]

QUIET = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-p", "no:benchmark")

INNER_TESTS = '''
import asyncio
import socket
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

import smtpunit
import smtpunit.aio
from smtpunit import errors
from smtpunit.providers import guard
from smtpunit.units import installation

POOL = smtpunit.Pool("mail.example.org", 25)  # made at import time, before any fixture
HEADER = "Subject: leak\\r\\n\\r\\n"


def send(name):
    return smtpunit.smtp_send_message("mail.example.org", "a@example.org", [name + "@example.org"], HEADER, ["x"])


async def send_async(name):
    return await smtpunit.aio.send("mail.example.org", "a@example.org", [name + "@example.org"], HEADER, ["x"])


def closed_port():
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        return closed.getsockname()[1]


def real_send():
    """A send through a registry of its own: the real client, real TCP (to a closed port)."""
    return smtpunit.invoke(smtpunit.default_registry()).smtp_send_message(
        "127.0.0.1", "a@example.org", ["b@example.org"], HEADER, ["x"], closed_port())


@pytest.mark.parametrize("fixture", ["smtp_outbox", "smtp_memory_server"])
def test_every_send_of_the_process_reaches_the_double(fixture, request):
    double = request.getfixturevalue(fixture)
    thread = threading.Thread(target=send, args=("thread",))
    thread.start()
    thread.join()
    with ThreadPoolExecutor(2) as executor:
        list(executor.map(send, ["executor1", "executor2"]))
    asyncio.run(send_async("task"))
    in_thread = threading.Thread(target=lambda: asyncio.run(send_async("threadtask")))
    in_thread.start()
    in_thread.join()
    POOL.send("a@example.org", ["pool@example.org"], HEADER, ["x"])
    got = sorted(r.split("@")[0] for m in double.messages for r in m.recipients)
    assert got == ["executor1", "executor2", "pool", "task", "thread", "threadtask"]


def test_a_real_connection_fails_the_test_even_if_swallowed(smtp_outbox):
    try:
        real_send()
    except errors.SMTPError:
        pass  # swallowed by the code under test


def test_a_real_connection_in_a_thread_is_refused_too(smtp_outbox):
    caught = []
    thread = threading.Thread(target=lambda: caught.append(pytest.raises(errors.RealConnectionRefused, real_send)))
    thread.start()
    thread.join()
    assert caught


def test_a_procedure_or_a_given_socket_is_refused_too(smtp_memory_server):
    with pytest.raises(errors.RealConnectionRefused):
        smtpunit.smtp_send_message("127.0.0.1", "a@example.org", ["b@example.org"], HEADER, ["x"], closed_port(),
                                   tcp_connect=lambda host, port: socket.create_connection((host, port)))
    with socket.socket() as unconnected, pytest.raises(errors.RealConnectionRefused):
        smtpunit.smtp_send_message_star(unconnected, "a@example.org", ["b@example.org"], HEADER, ["x"],
                                        server_hostname="127.0.0.1")
    assert smtp_memory_server.messages == []


@pytest.mark.smtpunit_real_connections
def test_a_marked_test_may_connect(smtp_outbox):
    with pytest.raises(errors.SMTPTransportError) as caught:  # the closed port refuses it
        real_send()
    assert not isinstance(caught.value, errors.RealConnectionRefused)


def test_everything_is_restored_after_the_test():
    assert installation._installed == [] and guard._blocks == []
    with pytest.raises(errors.SMTPTransportError) as caught:
        real_send()
    assert not isinstance(caught.value, errors.RealConnectionRefused)
'''


def test_doubles_catch_every_send_and_refuse_real_connections(pytester):
    pytester.makepyfile(test_inner=INNER_TESTS)
    outcome = pytester.runpytest(*QUIET)
    outcome.assert_outcomes(passed=7, errors=3)
    outcome.stdout.fnmatch_lines([
        "*ERROR at teardown of test_a_real_connection_fails_the_test_even_if_swallowed*",
        "*1 real connection attempt(s) during the test: a real connection (TCP to 127.0.0.1:*) while the "
        "smtp_outbox fixture is installed (mark the test @pytest.mark.smtpunit_real_connections to allow it)*",
        "*ERROR at teardown of test_a_procedure_or_a_given_socket_is_refused_too*",
        "*2 real connection attempt(s) during the test: a real connection (tcp_connect procedure to 127.0.0.1:*); "
        "a real connection (a connection to 127.0.0.1 given to smtp_send_message_star) while the smtp_memory_server*",
    ])


# A session opened before any double (at import time), over a connection of its own.
IMPORT_TIME_SERVER = MemoryServer()
IMPORT_TIME_SESSION = smtpunit.connect("mail.invalid", tcp_connect=MemoryTransport(IMPORT_TIME_SERVER))
HEADER = "Subject: opened before\r\n\r\n"


def test_a_session_opened_before_the_double_sends_to_it(smtp_outbox):
    IMPORT_TIME_SESSION.send("a@example.org", ["caught@example.org"], HEADER, ["x"])
    IMPORT_TIME_SESSION.send_many([("a@example.org", ["many@example.org"], HEADER, ["y"])] * 2)
    assert [m.recipients for m in smtp_outbox.messages] == [
        ("caught@example.org",), ("many@example.org",), ("many@example.org",)]
    assert IMPORT_TIME_SERVER.messages == [] and not IMPORT_TIME_SESSION.closed


def test_an_asyncio_session_opened_before_the_double_sends_to_it():
    server, outbox = MemoryServer(), Outbox()
    double = smtpunit.link(smtpunit.provide((smtpunit.ISMTP, IMailer), outbox), bases=(smtpunit.default_registry(),))

    async def main():
        async with await smtpunit.aio.connect("mail.invalid", tcp_connect=AsyncMemoryTransport(server)) as session:
            with installed(double):
                await session.send("a@example.org", ["caught@example.org"], HEADER, ["x"])
            await session.send("a@example.org", ["real@example.org"], HEADER, ["y"])  # uninstalled: its own again

    asyncio.run(main())
    assert [m.recipients for m in outbox.messages] == [("caught@example.org",)]
    assert [m.recipients for m in server.messages] == [("real@example.org",)]


def test_after_the_test_the_session_sends_over_its_own_connection():
    IMPORT_TIME_SESSION.send("a@example.org", ["own@example.org"], HEADER, ["z"])
    assert [m.recipients for m in IMPORT_TIME_SERVER.messages] == [("own@example.org",)]


def test_a_closed_session_stays_closed_while_a_double_is_installed():
    session = smtpunit.connect("mail.invalid", tcp_connect=MemoryTransport(MemoryServer()))
    session.close()
    outbox = Outbox()
    double = smtpunit.link(smtpunit.provide((smtpunit.ISMTP, IMailer), outbox), bases=(smtpunit.default_registry(),))
    with installed(double), pytest.raises(smtpunit.SMTPConnectionClosed):
        session.send("a@example.org", ["b@example.org"], HEADER, ["x"])  # as it would in production
    assert outbox.messages == []
