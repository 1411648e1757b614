"""The clients under test, each sending ``n`` messages the way its users would.

Every client raises on any message that was not accepted, so a fast run is also a
correct one. Sync clients run ``conns`` connections in threads; asyncio clients run
them as tasks on one event loop.
"""

from __future__ import annotations

import asyncio
import smtplib
import socket
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from messages import SENDER, BenchMessage
from workloads import FLOOR, FLOOR_PER_CONNECTION

import smtpunit
import smtpunit.aio


@dataclass(frozen=True)
class Spec:
    """Where and how to send.

    :ivar per_message: one connection per message (else one per ``conns``).
    """

    host: str
    port: int
    conns: int = 1
    per_message: bool = False


SyncClient = Callable[[Spec, BenchMessage, int], None]
AsyncClient = Callable[[Spec, BenchMessage, int], Awaitable[None]]


def _check_outcomes(outcomes: list[object], expected: int) -> None:
    """Raise the first smtpunit outcome that is not a SendResult."""
    if len(outcomes) != expected:
        raise RuntimeError(f"smtpunit returned {len(outcomes)} outcomes for {expected} messages")
    for outcome in outcomes:
        if not isinstance(outcome, smtpunit.SendResult):
            raise RuntimeError(f"smtpunit did not send a message: {outcome!r}")


def _check_refused(refused: dict) -> None:
    if refused:
        raise RuntimeError(f"recipients refused: {refused!r}")


def _batch(message: BenchMessage, n: int) -> list[tuple]:
    return [(SENDER, message.recipients, message.header, message.lines)] * n


# -- smtpunit (blocking) ---------------------------------------------------------------


def smtpunit_send_many(spec: Spec, message: BenchMessage, n: int) -> None:
    """One session, all ``n`` messages in one ``send_many`` call (pipelined)."""
    with smtpunit.connect(spec.host, spec.port) as session:
        _check_outcomes(session.send_many(_batch(message, n)), n)


def smtpunit_send(spec: Spec, message: BenchMessage, n: int) -> None:
    """One session, ``session.send`` in a loop."""
    with smtpunit.connect(spec.host, spec.port) as session:
        for _ in range(n):
            session.send(SENDER, message.recipients, message.header, message.lines)


def smtpunit_one_shot(spec: Spec, message: BenchMessage, n: int) -> None:
    """``smtpunit.smtp_send_message`` (Racket's one-shot): a connection per message."""
    for _ in range(n):
        smtpunit.smtp_send_message(spec.host, SENDER, message.recipients, message.header, message.lines, spec.port)


def smtpunit_raw(spec: Spec, message: BenchMessage, n: int) -> None:
    """One session; each message given as bytes (``prepare_raw_envelope``), one
    ``send_envelopes`` call. An extra row: what the line-by-line API costs."""
    from smtpunit.core.commands import prepare_raw_envelope

    with smtpunit.connect(spec.host, spec.port) as session:
        envelopes = [prepare_raw_envelope(SENDER, message.recipients, message.raw) for _ in range(n)]
        _check_outcomes(session.send_envelopes(envelopes), n)


# -- the floor ----------------------------------------------------------------------------


def _await_replies(sock: socket.socket, pending: bytearray, count: int) -> None:
    """Read and drop ``count`` whole replies; raise on a reply that is not 2xx or 3xx."""
    while count:
        end = pending.find(b"\r\n")
        if end < 0:
            chunk = sock.recv(65536)
            if not chunk:
                raise RuntimeError("the server closed the connection")
            pending += chunk
            continue
        line = bytes(pending[:end])
        del pending[: end + 2]
        if line[3:4] != b"-":  # the last line of a reply
            if line[:1] not in (b"2", b"3"):
                raise RuntimeError(f"refused: {line!r}")
            count -= 1


def pipelining_floor(spec: Spec, message: BenchMessage, n: int) -> None:
    """Not an SMTP client: the least any client can do to send ``n`` messages at one
    round trip each -- the bytes built once, each message's data, "." and the next
    envelope in one write, replies only counted and their first digit checked. Its
    rate is what one round trip per message allows on this machine. With a
    connection per message (``spec.per_message``), each message has its own
    connection, greeting, EHLO and QUIT: the least CPU a one-shot client can use."""
    envelope = b"".join([b"MAIL FROM:<%s>\r\n" % SENDER.encode(),
                         *(b"RCPT TO:<%s>\r\n" % r.encode() for r in message.recipients), b"DATA\r\n"])
    data = message.raw.replace(b"\r\n.", b"\r\n..") + b".\r\n"
    for count in [1] * n if spec.per_message else [n]:
        _floor_connection(spec, envelope, data, len(message.recipients) + 2, count)


def _floor_connection(spec: Spec, envelope: bytes, data: bytes, opening: int, n: int) -> None:
    """One connection of :func:`pipelining_floor`, sending ``n`` messages."""
    pending = bytearray()
    with socket.create_connection((spec.host, spec.port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        _await_replies(sock, pending, 1)
        sock.sendall(b"EHLO localhost\r\n")
        _await_replies(sock, pending, 1)
        sock.sendall(envelope)
        _await_replies(sock, pending, opening)
        for _ in range(n - 1):
            sock.sendall(data + envelope)
            _await_replies(sock, pending, 1 + opening)
        sock.sendall(data + b"QUIT\r\n")
        _await_replies(sock, pending, 2)


# -- smtplib ------------------------------------------------------------------------------


def smtplib_client(spec: Spec, message: BenchMessage, n: int) -> None:
    """``smtplib.SMTP.sendmail`` on one connection, or connect/sendmail/quit per message."""
    if spec.per_message:
        for _ in range(n):
            with smtplib.SMTP(spec.host, spec.port) as client:
                _check_refused(client.sendmail(SENDER, message.recipients, message.raw))
        return
    with smtplib.SMTP(spec.host, spec.port) as client:
        for _ in range(n):
            _check_refused(client.sendmail(SENDER, message.recipients, message.raw))


# -- asyncio ------------------------------------------------------------------------------


async def aio_send_many(spec: Spec, message: BenchMessage, n: int) -> None:
    """``await smtpunit.aio.connect(...)``, then one ``send_many``."""
    async with await smtpunit.aio.connect(spec.host, spec.port) as session:
        _check_outcomes(await session.send_many(_batch(message, n)), n)


async def aio_send(spec: Spec, message: BenchMessage, n: int) -> None:
    """``await smtpunit.aio.connect(...)``, then ``send`` in a loop."""
    async with await smtpunit.aio.connect(spec.host, spec.port) as session:
        for _ in range(n):
            await session.send(SENDER, message.recipients, message.header, message.lines)


async def aiosmtplib_client(spec: Spec, message: BenchMessage, n: int) -> None:
    """``aiosmtplib.SMTP.sendmail`` on one connection, or ``aiosmtplib.send`` per message."""
    import aiosmtplib

    if spec.per_message:
        for _ in range(n):
            errors, _reply = await aiosmtplib.send(message.raw, sender=SENDER, recipients=message.recipients,
                                                   hostname=spec.host, port=spec.port, start_tls=False)
            _check_refused(errors)
        return
    async with aiosmtplib.SMTP(hostname=spec.host, port=spec.port, start_tls=False) as client:
        for _ in range(n):
            errors, _reply = await client.sendmail(SENDER, message.recipients, message.raw)
            _check_refused(errors)


SYNC_CLIENTS: dict[str, SyncClient] = {
    "smtpunit.send_many": smtpunit_send_many,
    "smtpunit.send": smtpunit_send,
    "smtpunit.smtp_send_message": smtpunit_one_shot,
    "smtpunit.Session.send_envelopes(raw)": smtpunit_raw,
    FLOOR: pipelining_floor,
    FLOOR_PER_CONNECTION: pipelining_floor,
    "smtplib": smtplib_client,
}

ASYNC_CLIENTS: dict[str, AsyncClient] = {
    "smtpunit.aio.send_many": aio_send_many,
    "smtpunit.aio.send": aio_send,
    "aiosmtplib": aiosmtplib_client,
}

CLIENTS = (*SYNC_CLIENTS, *ASYNC_CLIENTS)


def _in_threads(client: SyncClient, spec: Spec, message: BenchMessage, per_conn: int) -> None:
    """Run ``client`` on ``spec.conns`` threads; re-raise the first failure."""
    if spec.conns == 1:
        client(spec, message, per_conn)
        return
    failures: list[BaseException] = []

    def target() -> None:
        try:
            client(spec, message, per_conn)
        except BaseException as exc:  # reported below, in the main thread
            failures.append(exc)

    threads = [threading.Thread(target=target) for _ in range(spec.conns)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]


async def _in_tasks(client: AsyncClient, spec: Spec, message: BenchMessage, per_conn: int) -> None:
    await asyncio.gather(*(client(spec, message, per_conn) for _ in range(spec.conns)))


def run_client(name: str, spec: Spec, message: BenchMessage, per_conn: int) -> None:
    """Send ``per_conn`` messages on each of ``spec.conns`` connections with client ``name``."""
    if name in SYNC_CLIENTS:
        _in_threads(SYNC_CLIENTS[name], spec, message, per_conn)
    elif name in ASYNC_CLIENTS:
        asyncio.run(_in_tasks(ASYNC_CLIENTS[name], spec, message, per_conn))
    else:
        raise KeyError(f"unknown client {name!r}; known: {', '.join(CLIENTS)}")
