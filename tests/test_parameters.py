"""Racket parameters: smtp_sending_server and smtp_sending_end_of_message."""

from __future__ import annotations

import asyncio
import threading

import pytest

import smtpunit
from smtpunit import errors
from smtpunit.testing import MemoryServer, MemoryTransport


def test_defaults_are_rackets():
    assert smtpunit.smtp_sending_server() == "localhost"
    assert smtpunit.smtp_sending_end_of_message()() is None


def test_parameterize_is_dynamic_and_restored():
    with smtpunit.smtp_sending_server.parameterize("outer.example.org"):
        with smtpunit.smtp_sending_server.parameterize("inner.example.org"):
            assert smtpunit.smtp_sending_server() == "inner.example.org"
        assert smtpunit.smtp_sending_server() == "outer.example.org"
    assert smtpunit.smtp_sending_server() == "localhost"


def test_parameterize_restores_after_an_exception():
    with pytest.raises(RuntimeError):
        with smtpunit.smtp_sending_server.parameterize("x.example.org"):
            raise RuntimeError
    assert smtpunit.smtp_sending_server() == "localhost"


def test_threads_do_not_see_each_others_values():
    seen = {}
    barrier = threading.Barrier(2)

    def worker(name: str) -> None:
        with smtpunit.smtp_sending_server.parameterize(name):
            barrier.wait()
            seen[name] = smtpunit.smtp_sending_server()

    threads = [threading.Thread(target=worker, args=(n,)) for n in ("one.example", "two.example")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == {"one.example": "one.example", "two.example": "two.example"}


def test_asyncio_tasks_do_not_see_each_others_values():
    async def task(name: str) -> str:
        with smtpunit.smtp_sending_server.parameterize(name):
            await asyncio.sleep(0.01)
            return smtpunit.smtp_sending_server()

    async def main() -> list[str]:
        return list(await asyncio.gather(task("a.example"), task("b.example")))

    assert asyncio.run(main()) == ["a.example", "b.example"]


@pytest.mark.parametrize("bad", ["", "two words", "crlf\r\n", 42])
def test_sending_server_guard(bad):
    with pytest.raises(errors.InvalidArgument):
        with smtpunit.smtp_sending_server.parameterize(bad):
            pass


def test_end_of_message_guard():
    with pytest.raises(errors.InvalidArgument):
        smtpunit.smtp_sending_end_of_message.set("not callable")


def test_set_changes_the_current_context_only():
    def in_thread(result: list) -> None:
        result.append(smtpunit.smtp_sending_server())

    import contextvars

    def body() -> str:
        smtpunit.smtp_sending_server.set("set.example.org")
        result: list = []
        thread = threading.Thread(target=in_thread, args=(result,))
        thread.start()
        thread.join()
        return result[0] + " " + smtpunit.smtp_sending_server()

    assert contextvars.copy_context().run(body) == "localhost set.example.org"
    assert smtpunit.smtp_sending_server() == "localhost"


def test_the_unit_reads_the_parameter_at_call_time():
    server = MemoryServer()
    with smtpunit.smtp_sending_server.parameterize("relay.example.org"):
        smtpunit.smtp_send_message("mail.invalid", "a@example.org", ["b@example.org"], "Subject: p\r\n\r\n", ["x"],
                                   tcp_connect=MemoryTransport(server))
    assert server.received.startswith(b"EHLO relay.example.org\r\n")
