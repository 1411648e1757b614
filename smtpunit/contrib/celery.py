"""Celery: mail sent by worker processes, each with a pool of its own, made after the
fork::

    from celery import Celery
    from smtpunit.contrib.celery import register, enqueue

    app = Celery("shop", broker="redis://127.0.0.1:6379/0", backend="redis://127.0.0.1:6379/0")
    send_mail = register(app, url="smtp://me:secret@mail.example.org")   # in the worker and the producer

    enqueue(send_mail, email_message)      # from a web request, say

:func:`enqueue` gives the message its ``Message-ID`` once, before it is queued, and
stores the message's bytes and envelope with the job: every attempt sends the very
same message, so a receiver that sees it twice can tell. The task retries (Celery's
own retry, with exponential backoff) only what may succeed later -- a 4xx, a
connection that failed before the end of the data (:func:`smtpunit.core.retry.retryable`)
-- and never after an unknown outcome (the connection broke after the final ``.``):
that is recorded for reconciliation instead, on the ``smtpunit.contrib.celery``
logger and in the task's result, with the Message-ID. Needs the ``celery`` extra.
"""

from __future__ import annotations

import base64
import copy
import logging
import os
import threading
from collections.abc import Iterable
from email.message import Message
from email.utils import make_msgid
from typing import Any, Optional

from ..core.commands import prepare_raw_envelope
from ..core.email_message import envelope_of
from ..core.retry import Retry, retryable
from ..errors import SMTPError, SMTPOutcomeUnknown
from ..mailer import Mailer

__all__ = ["DEFAULT_RETRY", "enqueue", "register"]

log = logging.getLogger("smtpunit.contrib.celery")

DEFAULT_RETRY = Retry(attempts=6, backoff=30.0, max_backoff=3600.0)
"""How the task retries by default: six attempts, from 30 s to an hour apart."""


class _PerProcess:
    """One mailer per process: made on first use in it, so never shared across a fork."""

    def __init__(self, make: Any) -> None:
        self._make = make
        self._lock = threading.Lock()
        self._pid = -1
        self._mailer: Optional[Mailer] = None

    def get(self) -> Mailer:
        """This process's mailer."""
        with self._lock:
            if self._pid != os.getpid() or self._mailer is None:
                self._mailer, self._pid = self._make(), os.getpid()  # the parent's, if any, is left alone
            return self._mailer


def register(app: Any, *, url: Optional[str] = None, name: str = "smtpunit.send", retry: Retry = DEFAULT_RETRY,
             **options: Any) -> Any:
    """Register the task that sends a queued message, and return it.

    :param url: the connection URL (:meth:`smtpunit.Mailer.from_url`); by default
        ``SMTPUNIT_URL`` from the worker's environment.
    :param retry: attempts and waits of Celery's retries (its ``deadline`` is not used).
    :param options: further :class:`~smtpunit.Mailer` options.
    """
    mailers = _PerProcess(lambda: Mailer.from_url(url, **options) if url else Mailer.from_env(**options))

    @app.task(bind=True, name=name, max_retries=retry.attempts - 1, acks_late=False)  # type: ignore[untyped-decorator]
    def send(task: Any, data: str, sender: str, recipients: list[str], message_id: str) -> dict[str, Any]:
        mailer = mailers.get()
        envelope = prepare_raw_envelope(sender, recipients, base64.b64decode(data))
        outcome = {"message_id": message_id, "pid": os.getpid(), "attempt": task.request.retries + 1}
        try:
            result = mailer.send_envelope(envelope)
        except SMTPOutcomeUnknown as exc:
            log.warning("unknown outcome for %s to %s: %s; not retried, reconcile by its Message-ID",
                        message_id, ", ".join(recipients), exc)
            return {**outcome, "status": "unknown", "error": str(exc)}
        except SMTPError as exc:
            if retryable(exc) and task.request.retries + 1 < retry.attempts:
                raise task.retry(exc=exc, countdown=retry.wait(task.request.retries + 1)) from exc
            raise
        return {**outcome, "status": "delivered", "accepted": list(result.accepted),
                "reply": result.reply.summary()}

    return send


def enqueue(task: Any, message: Message, *, from_: Optional[str] = None, to: Optional[Iterable[str]] = None,
            **apply_options: Any) -> Any:
    """Queue ``message`` (an :class:`email.message.EmailMessage`) for ``task``: checked
    now (bad input raises here, nothing is queued), its ``Message-ID`` made now if it
    has none (on a copy), its bytes and envelope stored with the job.

    :returns: Celery's ``AsyncResult``; its id is the Message-ID.
    """
    if message["Message-ID"] is None:
        message = copy.deepcopy(message)
        message["Message-ID"] = make_msgid()
    envelope = envelope_of(message, from_, to)
    message_id = str(message["Message-ID"])
    data = base64.b64encode(envelope.message_bytes()).decode("ascii")
    return task.apply_async(args=(data, envelope.sender, list(envelope.recipients), message_id),
                            task_id=message_id, **apply_options)
