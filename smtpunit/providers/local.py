"""Mail providers for development: print each message, or write it to a file, instead
of sending it (``console://`` and ``file:///some/dir``, as Django's console and file
email backends do).

Both are whole mail providers (:class:`~smtpunit.interfaces.IMailer`): every entry
point works with them, after the same checks of the input as a real send. Each
message is the bytes its recipients would get (no dot-stuffing); the envelope, which
holds the Bcc recipients the header does not show, goes beside it.
"""

from __future__ import annotations

import datetime
import json
import os
import sys
import threading
import uuid
from typing import Optional, TextIO, Union

from zope.interface import implementer

from ..core.commands import Envelope
from ..core.reply import Reply
from ..core.results import RecipientResult, SendResult
from ..errors import InvalidArgument, SMTPTransportError
from ..interfaces import IMailer
from ..options import SendOptions
from ..units.contract import MailProvider

__all__ = ["ConsoleMailer", "FileMailer"]

SEPARATOR = "-" * 79


def _accepted(envelope: Envelope, text: str) -> SendResult:
    reply = Reply(250, (text,))
    return SendResult(tuple(RecipientResult(r, reply) for r in envelope.recipients), reply)


@implementer(IMailer)
class ConsoleMailer(MailProvider):
    """Prints each message, after its envelope, to ``stream`` (by default whatever
    ``sys.stdout`` is at the time of the send), and a line of dashes after it. Bytes
    that are not UTF-8 are shown as ``\\x..`` escapes.

    :param stream: a text stream to write to instead of ``sys.stdout``.
    """

    def __init__(self, stream: Optional[TextIO] = None) -> None:
        self.stream = stream
        self._lock = threading.Lock()  # one message at a time, from any thread

    def deliver(self, server: str, port: int, envelope: Envelope, options: SendOptions) -> SendResult:
        """Print ``envelope`` (signed, if ``options`` say so); ``server`` and ``port`` play no part."""
        envelope = options.prepared(envelope)
        text = envelope.message_bytes().decode("utf-8", "backslashreplace").replace("\r\n", "\n")
        text += "" if text.endswith("\n") else "\n"
        recipients = ", ".join(f"<{r}>" for r in envelope.recipients)
        with self._lock:
            stream = self.stream or sys.stdout
            stream.write(f"MAIL FROM:<{envelope.sender}>\nRCPT TO:{recipients}\n\n{text}{SEPARATOR}\n")
            stream.flush()
        return _accepted(envelope, "2.0.0 printed")

    def __repr__(self) -> str:
        return f"ConsoleMailer(stream={self.stream!r})"


@implementer(IMailer)
class FileMailer(MailProvider):
    """Writes each message to ``directory`` as ``<time>-<id>.eml``, and its envelope
    beside it as ``<time>-<id>.json`` (``{"sender": ..., "recipients": [...]}``). The
    directory is made if it does not exist; a file appears whole or not at all.

    :param directory: where the files go.
    """

    def __init__(self, directory: Union[str, os.PathLike[str]]) -> None:
        self.directory = os.fspath(directory)
        if not self.directory or "\0" in self.directory:
            raise InvalidArgument(f"the directory must be a non-empty path, not {directory!r}")

    def deliver(self, server: str, port: int, envelope: Envelope, options: SendOptions) -> SendResult:
        """Write ``envelope`` (signed, if ``options`` say so); ``server`` and ``port`` play no part.

        :raises SMTPTransportError: the files could not be written (nothing is left half-written).
        """
        envelope = options.prepared(envelope)
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d-%H%M%S-%f")
        base = os.path.join(self.directory, f"{stamp}-{uuid.uuid4().hex[:12]}")
        envelope_text = json.dumps({"sender": envelope.sender, "recipients": list(envelope.recipients)})
        try:
            os.makedirs(self.directory, exist_ok=True)
            _write_whole(base + ".eml", envelope.message_bytes())
            try:
                _write_whole(base + ".json", envelope_text.encode())
            except BaseException:
                os.unlink(base + ".eml")  # one outcome: not written
                raise
        except OSError as exc:
            raise SMTPTransportError(f"could not write the message to {self.directory}: {exc}") from exc
        return _accepted(envelope, f"2.0.0 written to {base}.eml")

    def __repr__(self) -> str:
        return f"FileMailer({self.directory!r})"


def _write_whole(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file renamed into place."""
    temporary = path + ".part"
    try:
        with open(temporary, "xb") as file:
            file.write(data)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
