"""Racket parameters: smtp_sending_server and smtp_sending_end_of_message."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import functools
import threading
import time

import pytest

import smtpunit
from smtpunit import errors
from smtpunit.core.parameters import Parameter, inherit_parameterization
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


def test_end_of_message_guard_refuses_a_non_callable_with_a_type_error():
    with pytest.raises(TypeError, match="procedure of no arguments"):
        smtpunit.smtp_sending_end_of_message.set("not callable")


class NeedsAnArgument:
    def __call__(self, x: object) -> None:
        pass


class Uninspectable:
    """Callable with no arguments, but inspect.signature cannot tell."""

    __signature__ = "not a signature"

    def __call__(self) -> None:
        pass


@pytest.mark.parametrize(
    "procedure",
    [lambda x: None, lambda *, key: None, NeedsAnArgument(), functools.partial(lambda a, b: None, 1), len],
    ids=["one-argument", "required-keyword", "__call__-with-an-argument", "partial-missing-one", "built-in"],
)
def test_end_of_message_guard_refuses_a_procedure_that_needs_arguments(procedure):
    with pytest.raises(TypeError, match="procedure of no arguments"):
        with smtpunit.smtp_sending_end_of_message.parameterize(procedure):
            pass
    with pytest.raises(TypeError, match="procedure of no arguments"):
        smtpunit.smtp_sending_end_of_message.set(procedure)
    assert smtpunit.smtp_sending_end_of_message() is not procedure


@pytest.mark.parametrize(
    "procedure",
    [lambda x=1: None, lambda *args, **kwargs: None, functools.partial(lambda a: None, 1), time.time, Uninspectable()],
    ids=["default-argument", "varargs", "partial-complete", "built-in", "uninspectable"],
)
def test_end_of_message_guard_accepts_what_can_be_called_with_no_arguments(procedure):
    with smtpunit.smtp_sending_end_of_message.parameterize(procedure):
        assert smtpunit.smtp_sending_end_of_message() is procedure


def test_calling_a_parameter_with_a_value_sets_it_in_the_current_context():
    def body() -> tuple[object, str]:
        returned = smtpunit.smtp_sending_server("client.example.org")
        return returned, smtpunit.smtp_sending_server()

    assert contextvars.copy_context().run(body) == (None, "client.example.org")
    assert smtpunit.smtp_sending_server() == "localhost"


def test_calling_a_parameter_with_a_value_runs_its_guard():
    def body() -> None:
        with pytest.raises(errors.InvalidArgument):
            smtpunit.smtp_sending_server("two words")
        with pytest.raises(TypeError, match="procedure of no arguments"):
            smtpunit.smtp_sending_end_of_message(lambda x: None)
        assert smtpunit.smtp_sending_server() == "localhost"

    contextvars.copy_context().run(body)


def test_calling_a_parameter_with_none_sets_none():
    parameter: Parameter[object] = Parameter("p", "default")
    assert contextvars.copy_context().run(lambda: (parameter(None), parameter())) == (None, None)
    assert parameter() == "default"


def test_a_plain_thread_starts_with_the_defaults_but_an_inheriting_one_does_not():
    seen: dict[str, str] = {}

    def record(label: str) -> None:
        seen[label] = smtpunit.smtp_sending_server()

    with smtpunit.smtp_sending_server.parameterize("parent.example.org"):
        plain = threading.Thread(target=record, args=("plain",))
        inheriting = threading.Thread(target=inherit_parameterization(record), args=("inheriting",))
    for thread in (plain, inheriting):  # started outside the block: the values were taken when wrapped
        thread.start()
        thread.join()
    assert seen == {"plain": "localhost", "inheriting": "parent.example.org"}


def test_what_an_inheriting_thread_sets_stays_in_it():
    def change() -> str:
        smtpunit.smtp_sending_server("child.example.org")
        return smtpunit.smtp_sending_server()

    run = inherit_parameterization(change)
    with concurrent.futures.ThreadPoolExecutor(2) as executor:
        assert [f.result() for f in [executor.submit(run), executor.submit(run)]] == ["child.example.org"] * 2
    assert run() == "child.example.org"
    assert smtpunit.smtp_sending_server() == "localhost"


def test_set_changes_the_current_context_only():
    def in_thread(result: list) -> None:
        result.append(smtpunit.smtp_sending_server())

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
