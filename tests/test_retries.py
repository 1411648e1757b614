"""Retries and rate limits through every entry point, against aiosmtpd on 127.0.0.1:
a greylisting server (451 the first time a recipient is seen) and one that drops
the connection after the final dot."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import HOST, Greylisting

import smtpunit
import smtpunit.aio
from smtpunit import errors
from smtpunit.core.retry import Retry
from smtpunit.testing import Close, ExpectData, ScriptedServer, accept_envelope, standard_session

HEADER = "Subject: retried\r\n\r\n"
FAST = Retry(attempts=3, backoff=0.01)


@pytest.fixture
def greylisting(start_server):
    return start_server(handler=Greylisting())


def test_a_greylisted_message_is_delivered_on_the_second_attempt(greylisting):
    result = smtpunit.send(HOST, "a@example.org", ["b@example.org"], HEADER, ["x"], greylisting.port, retry=FAST)
    assert result.accepted == ("b@example.org",)
    (first,) = result.attempts
    assert isinstance(first, errors.RecipientsRefused) and first.code == 451
    assert len(greylisting.handler.messages) == 1


def test_without_retry_the_4xx_is_the_outcome(greylisting):
    with pytest.raises(errors.RecipientsRefused) as caught:
        smtpunit.send(HOST, "a@example.org", ["b@example.org"], HEADER, ["x"], greylisting.port)
    assert caught.value.code == 451 and caught.value.attempts == ()


def test_a_5xx_is_never_retried(start_server):
    server = start_server(refuse=frozenset({"nobody@example.org"}))
    with pytest.raises(errors.RecipientsRefused) as caught:
        smtpunit.send(HOST, "a@example.org", ["nobody@example.org"], HEADER, ["x"], server.port, retry=FAST)
    assert caught.value.code == 550 and caught.value.attempts == ()
    assert server.handler.mail_commands == ["a@example.org"]  # one attempt


def test_never_after_the_final_dot():
    script = [*standard_session(), *accept_envelope(), ExpectData(b"x\r\n"), Close()]
    with ScriptedServer(script) as server:
        with pytest.raises(errors.SMTPOutcomeUnknown) as caught:
            smtpunit.send(HOST, "a@example.org", ["b@example.org"], HEADER, ["x"], server.port,
                          retry=Retry(attempts=5, backoff=0.01))
    assert caught.value.attempts == ()  # and the script saw one connection: a second would fail it


def failing_first(attempts: list):
    """A tcp_connect procedure whose first connection fails; each attempt is noted."""
    def connect(host, port):
        attempts.append(port)
        if len(attempts) == 1:
            raise ConnectionResetError("the first connection fails")
        return smtpunit.providers.TCPTransport().connect(host, port, 5.0)

    return connect


def test_a_connection_that_fails_before_the_data_is_tried_again(greylisting):
    attempts = []
    flaky = failing_first(attempts)
    smtpunit.send(HOST, "a@example.org", ["c@example.org"], HEADER, ["x"], greylisting.port, tcp_connect=flaky,
                  retry=Retry(attempts=4, backoff=0.01))
    assert len(attempts) == 3  # reset, greylisted, delivered
    assert len(greylisting.handler.messages) == 1


def test_send_many_a_pool_and_a_mailer_retry_only_what_failed(greylisting):
    message = ("a@example.org", ["many@example.org"], HEADER, ["x"])
    outcomes = smtpunit.send_many(HOST, [message, ("a@example.org", ["other@example.org"], HEADER, ["y"])],
                                  greylisting.port, retry=FAST)
    assert [len(o.attempts) for o in outcomes] == [1, 1]
    with smtpunit.Pool(HOST, greylisting.port, retry=FAST) as pool:
        assert len(pool.send("a@example.org", ["pool@example.org"], HEADER, ["x"]).attempts) == 1
    with smtpunit.Mailer(HOST, greylisting.port, retry=FAST) as mailer:
        assert len(mailer.send("a@example.org", ["mailer@example.org"], HEADER, ["x"]).attempts) == 1
        result = asyncio.run(mailer.send_async("a@example.org", ["async@example.org"], HEADER, ["x"]))
        assert len(result.attempts) == 1
    assert len(greylisting.handler.messages) == 5


def test_aio_retries_too(greylisting):
    result = asyncio.run(smtpunit.aio.send(HOST, "a@example.org", ["aio@example.org"], HEADER, ["x"],
                                           greylisting.port, retry=FAST))
    assert len(result.attempts) == 1 and len(greylisting.handler.messages) == 1


def test_a_pools_rate_is_shared_by_its_threads(start_server):
    server = start_server()
    rate, count = 40.0, 20
    with smtpunit.Pool(HOST, server.port, size=4, rate=rate) as pool:
        started = time.monotonic()
        with ThreadPoolExecutor(4) as workers:
            list(workers.map(lambda n: pool.send("a@example.org", [f"r{n}@example.org"], HEADER, ["x"]),
                             range(count)))
        elapsed = time.monotonic() - started
    assert elapsed >= (count - 1) / rate * 0.95  # 20 messages at 40 a second: at least 0.475 s, all threads together
    assert len(server.handler.messages) == count


def test_a_mailers_rate_covers_its_asyncio_sends_too(start_server):
    server = start_server()
    mailer = smtpunit.Mailer(HOST, server.port, rate=50.0)

    async def main():
        await asyncio.gather(*(mailer.send_async("a@example.org", [f"r{n}@example.org"], HEADER, ["x"])
                               for n in range(6)))

    started = time.monotonic()
    asyncio.run(main())
    mailer.send("a@example.org", ["sync@example.org"], HEADER, ["x"])
    assert time.monotonic() - started >= 6 / 50.0 * 0.95  # the blocking send waited for the asyncio ones' slots
    assert len(server.handler.messages) == 7


def test_bad_rate_and_retry_are_refused_when_made():
    with pytest.raises(errors.InvalidArgument, match="rate"):
        smtpunit.Pool(HOST, 25, rate=0)
    with pytest.raises(TypeError, match="option retry must be a smtpunit.Retry"):
        smtpunit.send(HOST, "a@example.org", ["b@example.org"], HEADER, ["x"], retry=3)


def test_the_command_line_retries_and_paces(greylisting, tmp_path, capsys):
    from smtpunit.cli.main import main

    arguments = ["send", "--server", HOST, "--port", str(greylisting.port), "--from", "a@example.org",
                 "--to", "cli@example.org", "--body", "x"]
    assert main([*arguments, "--retry", "3", "--retry-backoff", "0.01"]) == 0
    folder = tmp_path / "out"
    folder.mkdir()
    for n in range(6):
        (folder / f"{n}.eml").write_bytes(f"From: a@example.org\nTo: bulk{n}@example.org\n\nx\n".encode())
    started = time.monotonic()
    assert main(["bulk", str(folder), "--server", HOST, "--port", str(greylisting.port), "--retry", "2",
                 "--retry-backoff", "0.01", "--rate", "50", "--progress", "none"]) == 0
    assert time.monotonic() - started >= 11 / 50 * 0.95  # 12 attempts (each greylisted once) at 50 a second
    assert "6 delivered, 0 refused" in capsys.readouterr().out


def test_a_pool_batch_retries_a_failed_connection_and_keeps_what_was_delivered(greylisting):
    attempts = []
    with smtpunit.Pool(HOST, greylisting.port, tcp_connect=failing_first(attempts), retry=FAST) as pool:
        outcomes = pool.send_many([("a@example.org", [f"batch{n}@example.org"], HEADER, ["x"]) for n in range(2)])
    assert [type(o).__name__ for o in outcomes] == ["SendResult", "SendResult"]
    assert len(attempts) == 2 and len(greylisting.handler.messages) == 2  # reset; then one session for both tries


def test_when_the_retry_cannot_connect_the_delivered_results_are_kept(greylisting):
    from zope.interface import implementer

    from smtpunit.interfaces import IAsyncTransport
    from smtpunit.providers import AsyncTCPTransport

    @implementer(IAsyncTransport)
    class OnlyOnce:
        """The first connection is made; the server is gone for the retry."""

        def __init__(self):
            self.made = 0

        async def connect(self, host, port, timeout, ssl_context=None):
            self.made += 1
            if self.made > 1:
                raise ConnectionRefusedError("the server is gone")
            return await AsyncTCPTransport().connect(host, port, timeout, ssl_context)

    greylisting.handler.seen.add("one@example.org")  # delivered at once; two is greylisted
    mailer = smtpunit.Mailer(HOST, greylisting.port, tcp_connect=OnlyOnce(), retry=Retry(attempts=2, backoff=0.01))
    messages = [("a@example.org", ["one@example.org"], HEADER, ["x"]),
                ("a@example.org", ["two@example.org"], HEADER, ["y"])]
    outcomes = asyncio.run(mailer.send_many_async(messages))  # once: raised, and message one's result was lost
    assert isinstance(outcomes[0], smtpunit.SendResult)
    assert isinstance(outcomes[1], errors.SMTPTransportError) and outcomes[1].attempts[0].code == 451
    assert [m.rcpt_tos for m in greylisting.handler.messages] == [["one@example.org"]]
