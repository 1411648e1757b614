"""The guard on real connections (smtpunit.providers.guard): blocks nest, each keeps
its own attempts, and nothing is left behind."""

from __future__ import annotations

import threading

import pytest

from smtpunit.errors import RealConnectionRefused
from smtpunit.providers import guard


def test_nothing_is_refused_outside_a_block():
    guard.check("TCP to 127.0.0.1:25")  # no error


def test_nested_blocks_each_keep_their_attempts_and_leave_nothing_behind():
    with guard.refusing("the outer double") as outer:
        with guard.refusing("the inner double") as inner:
            with pytest.raises(RealConnectionRefused, match="while the inner double"):
                guard.check("TCP to 127.0.0.1:25")
        with pytest.raises(RealConnectionRefused, match="while the outer double"):
            guard.check("TCP to 127.0.0.1:26")
    assert inner == ["a real connection (TCP to 127.0.0.1:25) while the inner double"]
    assert outer == ["a real connection (TCP to 127.0.0.1:25) while the inner double",
                     "a real connection (TCP to 127.0.0.1:26) while the outer double"]
    assert guard._blocks == []
    guard.check("TCP to 127.0.0.1:25")


def test_blocks_ended_out_of_order_leave_nothing_behind():
    first, second = guard.refusing("first"), guard.refusing("second")
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    with pytest.raises(RealConnectionRefused, match="while second"):
        guard.check("x")
    second.__exit__(None, None, None)
    assert guard._blocks == []


def test_an_attempt_in_another_thread_is_refused_and_recorded():
    caught = []

    def attempt():
        try:
            guard.check("TCP to 127.0.0.1:25, from a thread")
        except RealConnectionRefused as exc:
            caught.append(exc)

    with guard.refusing("a double") as attempts:
        thread = threading.Thread(target=attempt)
        thread.start()
        thread.join()
    assert len(caught) == 1 and len(attempts) == 1
