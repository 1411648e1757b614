"""Retries and pacing: what may be retried, the plan of attempts, the rate limiter."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smtpunit import errors
from smtpunit.core.commands import prepare_envelope
from smtpunit.core.reply import Reply
from smtpunit.core.results import RecipientResult, SendResult
from smtpunit.core.retry import RateLimiter, Retry, retryable, retrying

OK = Reply(250, ("ok",))


def envelope(n: int = 0):
    return prepare_envelope("a@example.org", [f"r{n}@example.org"], "Subject: x\r\n\r\n", ["x"])


def refused(code: int) -> errors.RecipientsRefused:
    reply = Reply(code, ("no",))
    return errors.RecipientsRefused(reply, "RCPT TO:<b@example.org>", "rcpt",
                                    (RecipientResult("b@example.org", reply),))


def delivered() -> SendResult:
    return SendResult((RecipientResult("b@example.org", OK),), OK)


@pytest.mark.parametrize("error, expected", [
    (refused(451), True),
    (refused(550), False),
    (errors.SMTPReplyError(Reply(421, ("closing",)), "MAIL", "mail"), True),
    (errors.SMTPReplyError(Reply(554, ("no",)), "DATA", "data-end"), False),
    (errors.SMTPReplyError(Reply(452, ("full",)), ".", "data-end"), True),
    (errors.SMTPOutcomeUnknown("dropped after the final dot"), False),
    (errors.SMTPTimeout("data-end", 1.0), False),
    (errors.SMTPTimeout("rcpt", 1.0), True),
    (errors.NotAttempted("not sent"), True),
    (errors.SMTPTransportError("refused"), True),
    (errors.RealConnectionRefused("a double is installed"), False),
    (errors.InvalidAddress("bad"), False),
    (errors.StartTLSNotOffered("no"), False),
])
def test_what_may_be_retried(error, expected):
    assert retryable(error) is expected


def test_a_mixed_refusal_with_a_5xx_is_not_retried():
    error = errors.RecipientsRefused(Reply(451, ("later",)), "RCPT", "rcpt", (
        RecipientResult("a@example.org", Reply(451, ("later",))),
        RecipientResult("b@example.org", Reply(550, ("never",)))))
    assert not retryable(error)


def run(plan, answers):
    """Drive a plan: each batch gets the next answers (one per envelope asked for)."""
    waits, batches = [], []
    try:
        step = next(plan)
        while True:
            if isinstance(step, float):
                waits.append(step)
                step = plan.send(None)
            else:
                batches.append(len(step))
                step = plan.send([answers.pop(0) for _ in step])
    except StopIteration as stop:
        return stop.value, waits, batches


def test_a_4xx_is_tried_again_and_the_result_keeps_the_earlier_attempts():
    first = refused(451)
    outcomes, waits, batches = run(retrying([envelope()], Retry(attempts=3, backoff=2.0), draw=lambda: 1.0),
                                   [first, delivered()])
    assert isinstance(outcomes[0], SendResult) and outcomes[0].attempts == (first,)
    assert waits == [2.0] and batches == [1, 1]


def test_attempts_run_out_and_the_last_error_keeps_the_earlier_ones():
    errors_ = [refused(451), refused(451), refused(452)]
    outcomes, waits, _ = run(retrying([envelope()], Retry(attempts=3, backoff=1.0), draw=lambda: 1.0), list(errors_))
    assert outcomes == [errors_[2]] and errors_[2].attempts == tuple(errors_[:2])
    assert waits == [1.0, 2.0]  # doubling


def test_only_the_failed_messages_of_a_batch_go_again_together():
    greylisted = refused(451)
    outcomes, _, batches = run(retrying([envelope(0), envelope(1), envelope(2)], Retry(backoff=0.0)),
                               [delivered(), greylisted, refused(550), delivered()])
    assert batches == [3, 1]
    assert [type(o).__name__ for o in outcomes] == ["SendResult", "SendResult", "RecipientsRefused"]
    assert outcomes[1].attempts == (greylisted,) and outcomes[2].attempts == ()


def test_the_deadline_stops_the_attempts():
    now = [0.0]
    plan = retrying([envelope()], Retry(attempts=5, backoff=10.0, deadline=15.0), clock=lambda: now[0],
                    draw=lambda: 1.0)
    first, second = refused(451), refused(451)
    step = next(plan)
    step = plan.send([first])
    assert step == 10.0
    now[0] = 10.0
    step = plan.send(None)
    with pytest.raises(StopIteration) as stop:
        plan.send([second])  # the next wait (20 s) would end after the deadline
    assert stop.value.value == [second] and second.attempts == (first,)


def test_without_retry_one_attempt():
    error = refused(451)
    outcomes, waits, batches = run(retrying([envelope()], None), [error])
    assert outcomes == [error] and waits == [] and batches == [1]


@given(st.integers(1, 30), st.floats(0, 1))
def test_a_wait_is_between_half_and_all_of_the_doubled_backoff_up_to_its_bound(number, draw):
    retry = Retry(backoff=0.5, max_backoff=30.0)
    full = min(30.0, 0.5 * 2 ** (number - 1))
    assert full / 2 <= retry.wait(number, lambda: draw) <= full


@pytest.mark.parametrize("arguments", [{"attempts": 0}, {"attempts": 1.5}, {"backoff": -1}, {"deadline": "soon"}])
def test_bad_retry_values_are_value_errors(arguments):
    with pytest.raises(ValueError):
        Retry(**arguments)


def test_the_rate_limiter_books_slots_for_every_caller():
    now = [0.0]
    limiter = RateLimiter(10, clock=lambda: now[0])
    assert [limiter.delay() for _ in range(3)] == pytest.approx([0.0, 0.1, 0.2])
    assert limiter.delay(5) == pytest.approx(0.3)  # a batch of five: the next caller waits for all of them
    assert limiter.delay() == pytest.approx(0.8)
    now[0] = 5.0  # idle long enough: no wait, and no burst saved up
    assert limiter.delay() == 0.0 and limiter.delay() == pytest.approx(0.1)
    with pytest.raises(ValueError):
        RateLimiter(0)


def test_lmtp_reads_the_replies_after_the_data_and_never_resends_to_who_took_it():
    def lmtp(*data_codes):
        results = tuple(RecipientResult(f"r{n}@example.org", OK, Reply(code, ("x",)))
                        for n, code in enumerate(data_codes))
        return errors.RecipientsRefused(Reply(data_codes[-1], ("x",)), ".", "data-end", results)

    assert retryable(lmtp(452, 452))  # every mailbox full for now: again
    assert not retryable(lmtp(250, 452))  # r0 has it: again would deliver it twice
    assert not retryable(lmtp(552, 452))
