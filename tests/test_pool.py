"""The session pool: thread-safe reuse, idle timeout, dead connections replaced."""

from __future__ import annotations

import threading
import time

import pytest
from conftest import HOST

import smtpunit
from smtpunit import errors
from smtpunit.testing.scripted import (
    Close,
    ExpectData,
    ScriptedServer,
    accept_envelope,
    standard_session,
)

HEADER = "Subject: pool\r\n\r\n"


def test_threads_share_a_bounded_number_of_sessions(start_server):
    server = start_server()
    connections = []
    with smtpunit.Pool(HOST, server.port, size=2) as pool:
        original = pool._connect

        def counting_connect():
            connections.append(1)
            return original()

        pool._connect = counting_connect

        def worker(n: int) -> None:
            for m in range(5):
                pool.send("a@example.org", ["b@example.org"], HEADER, [f"{n}-{m}"])

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(server.handler.messages) == 20
    assert sorted(m.content.rsplit(b"\r\n\r\n", 1)[1] for m in server.handler.messages) == sorted(
        f"{n}-{m}\r\n".encode() for n in range(4) for m in range(5))
    assert 1 <= len(connections) <= 2


def test_a_connection_the_server_closed_is_replaced_without_loss_or_duplicate(start_server):
    server = start_server(timeout=0.3)  # aiosmtpd closes idle connections after 0.3 s
    with smtpunit.Pool(HOST, server.port, size=1, idle_timeout=60) as pool:
        pool.send("a@example.org", ["b@example.org"], HEADER, ["first"])
        time.sleep(1.0)
        pool.send("a@example.org", ["b@example.org"], HEADER, ["second"])
    bodies = [m.content.rsplit(b"\r\n\r\n", 1)[1] for m in server.handler.messages]
    assert bodies == [b"first\r\n", b"second\r\n"]


def test_idle_sessions_are_closed_after_the_idle_timeout(start_server):
    server = start_server()
    with smtpunit.Pool(HOST, server.port, size=1, idle_timeout=0.2) as pool:
        pool.send("a@example.org", ["b@example.org"], HEADER, ["1"])
        (first, _), = pool._idle
        time.sleep(0.4)
        pool.send("a@example.org", ["b@example.org"], HEADER, ["2"])
        assert first.closed
    assert len(server.handler.messages) == 2


def test_an_unknown_outcome_is_never_retried():
    drop_after_dot = [*standard_session(), *accept_envelope(1), ExpectData(), Close()]
    with ScriptedServer(scripts=[drop_after_dot]) as server:  # a second connection would be a mismatch
        with smtpunit.Pool(HOST, server.port, size=1) as pool:
            with pytest.raises(errors.SMTPOutcomeUnknown):
                pool.send("a@example.org", ["b@example.org"], HEADER, ["once"])
        assert len(server.peers) == 1


def test_a_closed_pool_refuses():
    pool = smtpunit.Pool(HOST, 1)
    pool.close()
    with pytest.raises(errors.SMTPConnectionClosed):
        pool.send("a@example.org", ["b@example.org"], HEADER, ["x"])


def test_a_dead_reused_connection_is_retried_once_on_a_new_one(start_server, monkeypatch):
    from smtpunit import pool as pool_module

    server = start_server(timeout=0.3)
    monkeypatch.setattr(pool_module, "_server_went_away", lambda session: False)  # miss it at reuse
    with smtpunit.Pool(HOST, server.port, size=1) as pool:
        pool.send("a@example.org", ["b@example.org"], HEADER, ["first"])
        time.sleep(1.0)
        pool.send("a@example.org", ["b@example.org"], HEADER, ["second"])
    bodies = [m.content.rsplit(b"\r\n\r\n", 1)[1] for m in server.handler.messages]
    assert bodies == [b"first\r\n", b"second\r\n"]


class DyingSession:
    """A session whose second message meets a dead connection after reading the body."""

    def __init__(self) -> None:
        self.closed = False
        self.sent = 0

    def send_envelopes(self, envelopes, **options):
        (envelope,) = envelopes
        self.sent += 1
        if self.sent == 1:
            return [smtpunit.SendResult((), smtpunit.core.reply.Reply(250, ("ok",)))]
        b"".join(envelope.content.data_pieces())  # the body is read, then the connection dies
        self.closed = True
        return [errors.SMTPConnectionClosed("gone")]

    def close(self) -> None:
        self.closed = True


@pytest.mark.parametrize("streamed, connections", [(True, 1), (False, 2)])
def test_a_streamed_body_already_read_is_not_retried(monkeypatch, streamed, connections):
    from smtpunit import pool as pool_module
    from smtpunit.core.commands import prepare_envelope, prepare_stream_envelope

    made = []

    def connect():
        made.append(DyingSession())
        return made[-1]

    monkeypatch.setattr(pool_module, "_server_went_away", lambda session: False)
    prepare = prepare_stream_envelope if streamed else prepare_envelope
    with smtpunit.Pool(HOST, 25, size=1, connect=connect) as pool:
        pool.send("a@example.org", ["b@example.org"], HEADER, ["first"])
        second = prepare("a@example.org", ["b@example.org"], HEADER, iter(["second"]))
        if streamed:
            with pytest.raises(errors.SMTPConnectionClosed):
                pool.send_envelope(second)
        else:
            pool.send_envelope(second)  # retried on a new connection: the lines can be sent again
    assert len(made) == connections


def test_a_pool_over_the_outbox(smtp_outbox):
    with smtpunit.Pool("mail.invalid", size=1) as pool:
        pool.send("a@example.org", ["b@example.org"], HEADER, ["1"])
        pool.send("a@example.org", ["b@example.org"], HEADER, ["2"])
    assert len(smtp_outbox.messages) == 2


def test_connect_lends_a_session_that_goes_back_to_the_pool(start_server):
    server = start_server()
    with smtpunit.Pool(HOST, server.port, size=1) as pool:
        with pool.connect() as session:
            outcomes = session.send_many([("a@example.org", ["b@example.org"], HEADER, ["1"]),
                                          ("a@example.org", ["c@example.org"], HEADER, ["2"])])
            lent = session
        assert [o.accepted for o in outcomes] == [("b@example.org",), ("c@example.org",)]
        assert not lent.closed
        with pool.connect() as again:
            assert again is lent  # the same connection, back from the pool
            again.close()  # a session closed in the block leaves the pool
        with pool.connect() as fresh:
            assert fresh is not lent and not fresh.closed
            fresh.send("a@example.org", ["d@example.org"], HEADER, ["3"])
    assert len(server.handler.messages) == 3


def test_a_session_opened_before_a_double_is_installed_is_not_reused_under_it(start_server):
    from smtpunit.testing import Outbox
    from smtpunit.units.lookup import installed

    server = start_server()
    outbox = Outbox()
    double = smtpunit.link(smtpunit.provide(smtpunit.ISMTP, outbox), bases=(smtpunit.default_registry(),))
    with smtpunit.Pool(HOST, server.port, size=1) as pool:
        lent = pool.connect()
        real = lent.__enter__()  # opened before the double is installed...
        with installed(double):
            lent.__exit__(None, None, None)  # ...and given back while it is
            pool.send("a@example.org", ["double@example.org"], HEADER, ["1"])
        pool.send("a@example.org", ["server@example.org"], HEADER, ["2"])
        assert real.closed  # it left the pool instead of carrying the double's mail
    assert [m.recipients for m in outbox.messages] == [("double@example.org",)]
    assert [m.rcpt_tos for m in server.handler.messages] == [["server@example.org"]]
