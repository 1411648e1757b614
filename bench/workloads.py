"""The workloads (a)-(f), their clients and their targets."""

from __future__ import annotations

from dataclasses import dataclass

SMTP_SOURCE = "smtp-source"
FLOOR = "floor (raw socket, 1 RT/msg)"  # bench/clients.py: pipelining_floor
FLOOR_PER_CONNECTION = "floor (raw socket, a connection per message)"  # the same, for (c)
RAW = ("smtpunit.Session.send_envelopes(raw)",)
ONE_CONN_CLIENTS = ("smtpunit.send_many", "smtpunit.send", "smtplib", "aiosmtplib", SMTP_SOURCE)


@dataclass(frozen=True)
class Target:
    """smtpunit must reach ``factor`` times ``versus``'s msgs/s (and at most
    ``max_round_trips`` round trips per message, if set)."""

    versus: str
    factor: float
    max_round_trips: float | None = None

    def describe(self) -> str:
        """The target as the table shows it."""
        text = f">= {self.factor:g}x {self.versus}"
        if self.max_round_trips is not None:
            text += f", <= {self.max_round_trips:g} round trip/msg"
        return text


@dataclass(frozen=True)
class Workload:
    """One workload.

    :ivar count: messages per timed run (all connections together); ``quick_count``
        with ``--quick``.
    :ivar smtpunit_rows: the smtpunit clients, each a row of the final table.
    :ivar others: the clients compared with.
    :ivar extras: smtpunit clients shown for reference in the detail table only.
    :ivar delay: one-way latency added by the proxy (timed runs go through it if > 0).
    """

    key: str
    title: str
    size: int
    rcpts: int
    conns: int
    per_message: bool
    count: int
    quick_count: int
    smtpunit_rows: tuple[str, ...]
    others: tuple[str, ...]
    target: Target
    delay: float = 0.0
    extras: tuple[str, ...] = ()

    @property
    def clients(self) -> tuple[str, ...]:
        """Every client, smtpunit's first."""
        return (*self.smtpunit_rows, *self.extras, *self.others)

    def messages(self, quick: bool) -> int:
        """Messages per timed run, a multiple of the connection count."""
        count = self.quick_count if quick else self.count
        return max(self.conns, count - count % self.conns)


WORKLOADS = {
    w.key: w
    for w in (
        Workload("a", "1 KB, 1 rcpt, one connection", 1024, 1, 1, False, 2000, 50,
                 ONE_CONN_CLIENTS[:2], ONE_CONN_CLIENTS[2:], Target("smtplib", 4), extras=(*RAW, FLOOR)),
        Workload("b", "1 KB, 10 rcpts, one connection", 1024, 10, 1, False, 1000, 30,
                 ONE_CONN_CLIENTS[:2], ONE_CONN_CLIENTS[2:], Target("smtplib", 10), extras=(FLOOR,)),
        Workload("c", "1 KB, 1 rcpt, new connection per message", 1024, 1, 1, True, 500, 20,
                 ("smtpunit.smtp_send_message",), ("smtplib", "aiosmtplib", SMTP_SOURCE), Target("smtplib", 1.2),
                 extras=(FLOOR_PER_CONNECTION,)),
        Workload("d", "100 KB, 1 rcpt, one connection", 100 * 1024, 1, 1, False, 200, 10,
                 ONE_CONN_CLIENTS[:2], ONE_CONN_CLIENTS[2:], Target("smtplib", 2), extras=(*RAW, FLOOR)),
        Workload("e", "1 KB, 1 rcpt, 10 concurrent connections", 1024, 1, 10, False, 2000, 50,
                 ("smtpunit.aio.send_many", "smtpunit.aio.send"), ("aiosmtplib", "smtplib", SMTP_SOURCE),
                 Target("aiosmtplib", 3)),
        Workload("f", "1 KB, 1 rcpt, one connection, 20 ms RTT", 1024, 1, 1, False, 50, 10,
                 ONE_CONN_CLIENTS[:2], ONE_CONN_CLIENTS[2:], Target("smtplib", 4, max_round_trips=1.0),
                 delay=0.010),
    )
}
