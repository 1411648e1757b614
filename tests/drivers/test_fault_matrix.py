"""Every fault at every phase, through the one-shot, session and asyncio APIs.

A scripted server (a real socket on 127.0.0.1) plays a normal conversation and, at
one phase, misbehaves instead of answering. Each combination must end in the one
outcome it implies -- and the server checks that the client then closed the
connection without another command (ExpectClose), except where a polite QUIT is due.
"""

from __future__ import annotations

import asyncio

import pytest

import smtpunit
import smtpunit.aio
from smtpunit import errors
from smtpunit.testing.scripted import Close, Drip, Expect, ExpectClose, ExpectData, Raw, Reply, ScriptedServer

PHASES = ["greeting", "ehlo", "mail", "rcpt", "data", "data-end", "quit"]
FAULTS = ["drop", "mismatched", "not utf-8", "421", "silent", "drip", "eof mid-reply"]
TIMEOUTS = smtpunit.Timeouts(connect=5, reply=0.4, data_end=0.4, tls_handshake=5)
HEADER = "Subject: faults\r\n\r\n"

NORMAL = {
    "greeting": [Reply("220 scripted ESMTP")],
    "ehlo": [Expect("EHLO"), Reply("250 scripted")],
    "mail": [Expect("MAIL FROM:<"), Reply("250 2.1.0 ok")],
    "rcpt": [Expect("RCPT TO:<"), Reply("250 2.1.5 ok")],
    "data": [Expect("DATA", exact=True), Reply("354 go ahead")],
    "data-end": [ExpectData(), Reply("250 2.0.0 queued")],
    "quit": [Expect("QUIT", exact=True), Reply("221 bye")],
}
FAULT_STEPS = {
    "drop": [Close()],
    "mismatched": [Raw(b"250-part one\r\n251 part two\r\n"), ExpectClose()],
    "not utf-8": [Raw(b"250 \xff\xfe\r\n"), ExpectClose()],
    "421": [Reply("421 4.3.2 shutting down"), ExpectClose()],
    "silent": [ExpectClose()],
    "drip": [Drip(b"250 " + b"." * 40, 0.05)],
    "eof mid-reply": [Raw(b"250-first line of two\r\n"), Close()],
}


def script(phase: str, fault: str) -> list:
    steps: list = []
    for step in PHASES:
        if step == phase:
            command = NORMAL[step][:-1]  # read the command, then misbehave instead of answering
            return [*steps, *command, *FAULT_STEPS[fault]]
        steps += NORMAL[step]
    raise AssertionError(phase)


def expected(phase: str, fault: str) -> type[BaseException] | None:
    """The outcome: None for delivered, else the error class."""
    if phase == "quit":
        return None  # the message was accepted: QUIT's troubles do not matter
    if phase == "data-end":
        return errors.SMTPReplyError if fault == "421" else errors.SMTPOutcomeUnknown
    return {"drop": errors.SMTPConnectionClosed, "mismatched": errors.SMTPProtocolError,
            "not utf-8": errors.SMTPProtocolError, "421": errors.SMTPReplyError,
            "silent": errors.SMTPTimeout, "drip": errors.SMTPTimeout, "eof mid-reply": errors.SMTPProtocolError}[fault]


def one_shot(port: int) -> smtpunit.SendResult:
    return smtpunit.smtp_send_message("127.0.0.1", "a@example.org", ["b@example.org"], HEADER, ["x"], port,
                                      timeout=TIMEOUTS)


def session(port: int) -> smtpunit.SendResult:
    with smtpunit.connect("127.0.0.1", port, timeout=TIMEOUTS) as opened:
        return opened.send("a@example.org", ["b@example.org"], HEADER, ["x"])


def asyncio_session(port: int) -> smtpunit.SendResult:
    async def main() -> smtpunit.SendResult:
        async with await smtpunit.aio.connect("127.0.0.1", port, timeout=TIMEOUTS) as opened:
            return await opened.send("a@example.org", ["b@example.org"], HEADER, ["x"])

    return asyncio.run(main())


@pytest.mark.parametrize("api", [one_shot, session, asyncio_session], ids=["one-shot", "session", "asyncio"])
@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("phase", PHASES)
def test_fault_at_phase(api, phase: str, fault: str) -> None:
    with ScriptedServer(script(phase, fault), timeout=5) as server:
        outcome = expected(phase, fault)
        if outcome is None:
            assert api(server.port).reply.code == 250
        else:
            with pytest.raises(outcome) as caught:
                api(server.port)
            if fault == "421":
                assert caught.value.code == 421
            if phase == "data-end" and outcome is errors.SMTPOutcomeUnknown:
                assert isinstance(caught.value, ConnectionError)
