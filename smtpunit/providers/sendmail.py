"""A mail provider (:class:`~smtpunit.interfaces.IMailer`) that pipes the message to the
local ``sendmail``; sessions, pools and asyncio get the framework's generic forms.

Racket's ``net/sendmail`` hands a message to the ``sendmail`` program instead of
speaking SMTP; :class:`SendmailSMTP` does the same behind the ``smtp^`` signature, so
it can be linked in place of the ``smtp@`` unit::

    registry = smtpunit.link(smtpunit.provide(smtpunit.ISMTP, SendmailSMTP()))
    smtpunit.invoke(registry).smtp_send_message("ignored", sender, recipients, header, lines)

The program runs as ``sendmail [extra_args...] -i -f <sender> -- <recipient>...``:

* ``-i``: a line holding a lone ``.`` does not end the input;
* ``-f``: the envelope sender, as an argument of its own (``<>`` for the null sender);
* ``--``: nothing after it is an option, so a recipient starting with ``-`` cannot
  become one;
* with ``dsn=``, ``-N`` (notify), ``-R`` (ret) and ``-V`` (envid) before them, as
  Postfix's and Sendmail's ``sendmail`` take them.

Its standard input gets the header followed by the message lines, each ending in
CRLF, exactly the data the SMTP unit sends after ``DATA`` but without dot-stuffing
(sendmail implementations accept CRLF; Postfix's turns it into LF). Every argument is
checked with :func:`smtpunit.core.commands.prepare_envelope` before the program starts.
"""

from __future__ import annotations

import os
import selectors
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Optional, Union

from zope.interface import implementer

from ..core.commands import Envelope, Line, prepare_envelope
from ..core.conversation import RecipientResult, SendResult
from ..core.dsn import DSN
from ..core.reply import Reply, sanitize
from ..errors import InvalidAddress, InvalidArgument, SMTPOutcomeUnknown, SMTPTimeout, SMTPTransportError
from ..interfaces import IMailer
from ..options import SendOptions, Timeouts
from ..units.contract import MailProvider
from . import guard

__all__ = ["DEFAULT_SENDMAIL", "DEFAULT_TIMEOUT", "SendmailError", "SendmailSMTP"]

_DEFAULT_TIMEOUTS = Timeouts()

DEFAULT_SENDMAIL = "/usr/sbin/sendmail"
"""Where the Linux and BSD mail systems install their ``sendmail`` command."""

DEFAULT_TIMEOUT = 60.0
"""Seconds sendmail may take over a message, unless told otherwise."""

_ACCEPTED = Reply(250, ("2.0.0 handed to sendmail",))
_CHUNK = 65536


class SendmailError(SMTPTransportError):
    """The ``sendmail`` program could not be run, or did not accept the message.

    :ivar argv: the command line (it holds no secret).
    :ivar returncode: the exit status, or ``None`` if the program never ran; negative
        for a signal, as in :mod:`subprocess`.
    :ivar stderr: what the program wrote to its standard error (decoded, may be ``""``).
    :ivar stdout: what it wrote to its standard output.
    """

    def __init__(self, message: str, *, argv: Sequence[str], returncode: Optional[int] = None,
                 stderr: str = "", stdout: str = "") -> None:
        self.argv = tuple(argv)
        self.returncode = returncode
        self.stderr = stderr
        self.stdout = stdout
        detail = stderr.strip() or stdout.strip()
        super().__init__(f"{message}: {sanitize(detail, 2000)}" if detail else message)


def _check_for_command_line(envelope: Envelope) -> None:
    """Refuse what sendmail's command line would read differently from ``RCPT TO:<...>``.

    sendmail parses each address argument as an RFC 822 address list, so one argument
    ``a@x,b@y`` becomes two recipients; through SMTP it is one (invalid) path.
    """
    for role, address in (("sender", envelope.sender), *(("recipient", r) for r in envelope.recipients)):
        if "," in address:
            raise InvalidAddress(
                f"{role} address {address!r} holds ',', which sendmail would read as a list of addresses"
            )


@implementer(IMailer)
class SendmailSMTP(MailProvider):
    """Sends mail by running the local ``sendmail`` program, as Racket's ``net/sendmail``.

    :param path: the program; ``/usr/sbin/sendmail`` by default.
    :param extra_args: arguments put before smtpunit's own, e.g. ``("-C", "/etc/postfix-test")``
        to choose a Postfix configuration.
    :param timeout: seconds the whole run may take (writing the message and waiting for
        the program to exit); then the program is killed and
        :class:`~smtpunit.errors.SMTPTimeout` raised.

    The sending server name (:attr:`smtp_sending_server`) has no use here: the local
    mail system names itself. The end-of-message procedure
    (:attr:`smtp_sending_end_of_message`) is called after the last line is written
    and before sendmail's input is closed; if it raises, sendmail is killed, so
    nothing is queued, and the exception propagates.
    """

    def __init__(self, path: Union[str, os.PathLike[str]] = DEFAULT_SENDMAIL, extra_args: Iterable[str] = (),
                 timeout: float = DEFAULT_TIMEOUT) -> None:
        self.path = os.fspath(path)
        if not self.path or "\0" in self.path:
            raise InvalidArgument(f"sendmail path must be a non-empty path, not {path!r}")
        if isinstance(extra_args, (str, bytes)):
            raise InvalidArgument("extra_args must be a sequence of arguments, not a single string")
        self.extra_args = tuple(extra_args)
        for argument in self.extra_args:
            if not isinstance(argument, str) or "\0" in argument:
                raise InvalidArgument(f"every extra argument must be a str without NUL, not {argument!r}")
        self.timeout = Timeouts.coerce(timeout).data_end

    def __repr__(self) -> str:
        return f"SendmailSMTP(path={self.path!r}, extra_args={self.extra_args!r}, timeout={self.timeout!r})"

    # -- the mail contract -------------------------------------------------------------

    def deliver(self, server: str, port: int, envelope: Envelope, options: SendOptions) -> SendResult:
        """Hand one message to ``sendmail``.

        ``server`` and ``port`` are ignored: the local mail system decides where the
        message goes. So are the options that configure a connection there is none of
        (``auth_user``, ``tls_encode``, ``tcp_connect``, ...), except ``timeout``: the
        ``data_end`` of the :class:`~smtpunit.options.Timeouts` bounds this call, when
        one was given (else :attr:`timeout`).

        :returns: a :class:`~smtpunit.core.conversation.SendResult` with a synthetic 250 reply
            for every recipient, once sendmail exited with status 0.
        :raises ValueError: (:class:`~smtpunit.errors.SMTPInputError`) for input that
            would become a command-line option, before sendmail is started.
        :raises SendmailError: sendmail is missing, or failed (its stderr attached).
        :raises smtpunit.errors.SMTPTimeout: sendmail took longer than the timeout before
            it had the whole message (it is killed: nothing is queued).
        :raises smtpunit.errors.SMTPOutcomeUnknown: it had the whole message and did not
            exit in time (it is killed, but may have queued the message).
        """
        _check_for_command_line(envelope)
        timeout = self.timeout if options.timeouts == _DEFAULT_TIMEOUTS else options.timeouts.data_end
        dsn = envelope.dsn_over(options.dsn)
        return self._send(options.prepared(envelope), timeout, _dsn_arguments(dsn))

    def smtp_send_message_star(
        self,
        connection: Any,
        from_: str,
        to: Iterable[str],
        header: Line,
        message: Iterable[Line],
        *args: Any,
        server_hostname: Optional[str] = None,
        **options: Any,
    ) -> SendResult:
        """Close ``connection`` unused, then send the message as :meth:`deliver` does.

        The signature asks for an open connection; sendmail needs none, so it is only
        closed (as the contract says it is when the call ends), even when the input is
        refused. Positional ``auth_user``, ``auth_passwd`` and ``tls_encode`` are
        ignored, and so is ``server_hostname``.
        """
        try:
            envelope = prepare_envelope(from_, to, header, message)
            checked = SendOptions.of("smtp_send_message_star", options)
        finally:
            close = getattr(connection, "close", None)
            if callable(close):
                close()
        return self.deliver("localhost", 0, envelope, checked)

    # -- internals --------------------------------------------------------------------

    def argv(self, envelope: Envelope, dsn: Sequence[str] = ()) -> list[str]:
        """The command line for ``envelope``: ``path extra_args... [dsn...] -i -f sender -- recipients...``."""
        return [self.path, *self.extra_args, *dsn, "-i", "-f", envelope.sender or "<>", "--", *envelope.recipients]

    def _send(self, envelope: Envelope, timeout: float, dsn: Sequence[str] = ()) -> SendResult:
        data = envelope.message_bytes()  # the message as it is: no dot-stuffing
        end_of_message: Callable[[], object] = self.smtp_sending_end_of_message()
        argv = self.argv(envelope, dsn)
        guard.check(f"sendmail {self.path}")
        try:
            process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, close_fds=True)
        except OSError as exc:
            raise SendmailError(f"cannot run the sendmail program {self.path!r}: {exc.strerror or exc}",
                                argv=argv) from exc
        run = _Run(process, argv, time.monotonic() + timeout, timeout)
        try:
            complete = run.write(data)
            if complete:
                end_of_message()  # if it raises, sendmail is killed below before its input ends
            run.close_input()
            run.finish()
        except BaseException:
            run.kill()
            raise
        if process.returncode != 0:
            raise SendmailError(f"{self.path} exited with status {process.returncode}", argv=argv,
                                returncode=process.returncode, stderr=run.stderr_text, stdout=run.stdout_text)
        if not complete:
            raise SendmailError(f"{self.path} exited before reading the whole message", argv=argv,
                                returncode=process.returncode, stderr=run.stderr_text, stdout=run.stdout_text)
        return SendResult(tuple(RecipientResult(r, _ACCEPTED) for r in envelope.recipients),
                          Reply(250, (f"2.0.0 accepted by {self.path}",)))


def _dsn_arguments(dsn: Optional[DSN]) -> list[str]:
    """The delivery status notifications asked for, as sendmail's ``-N``, ``-R`` and
    ``-V`` options (Postfix's and Sendmail's); the original recipient has none."""
    if dsn is None:
        return []
    arguments = []
    if dsn.notify is not None:
        arguments += ["-N", ",".join(word.lower() for word in dsn.notify)]
    if dsn.ret is not None:
        arguments += ["-R", dsn.ret.lower()]
    if dsn.envid is not None:
        arguments += ["-V", dsn.envid]
    return arguments


class _Run:
    """One sendmail process: feeds its input and drains its output, all under one deadline."""

    def __init__(self, process: subprocess.Popen[bytes], argv: list[str], deadline: float, timeout: float) -> None:
        self.process = process
        self.argv = argv
        self.deadline = deadline
        self.timeout = timeout
        self.selector = selectors.DefaultSelector()
        assert process.stdout is not None and process.stderr is not None
        self.stdout_fd, self.stderr_fd = process.stdout.fileno(), process.stderr.fileno()
        self.output: dict[int, bytearray] = {self.stdout_fd: bytearray(), self.stderr_fd: bytearray()}
        for fd in self.output:
            os.set_blocking(fd, False)
            self.selector.register(fd, selectors.EVENT_READ)

    @property
    def stdout_text(self) -> str:
        return self.output[self.stdout_fd].decode("utf-8", "replace")

    @property
    def stderr_text(self) -> str:
        return self.output[self.stderr_fd].decode("utf-8", "replace")

    def _poll(self, extra: Optional[int] = None, limit: Optional[float] = None) -> list[int]:
        """Wait (at most ``limit`` seconds) for some I/O; read what is readable; return the ready fds."""
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise SMTPTimeout("sendmail", self.timeout)
        if extra is not None:
            self.selector.register(extra, selectors.EVENT_WRITE)
        try:
            events = self.selector.select(remaining if limit is None else min(remaining, limit))
        finally:
            if extra is not None:
                self.selector.unregister(extra)
        ready = []
        for key, _ in events:
            fd = int(key.fd)
            ready.append(fd)
            if fd in self.output:
                try:
                    chunk = os.read(fd, _CHUNK)
                except BlockingIOError:
                    continue
                if chunk:
                    self.output[fd] += chunk
                else:  # end of that stream
                    self.selector.unregister(fd)
        return ready

    def write(self, data: bytes) -> bool:
        """Write ``data`` to sendmail's input; False if sendmail closed it first."""
        stdin = self.process.stdin
        assert stdin is not None
        fd = stdin.fileno()
        os.set_blocking(fd, False)
        view = memoryview(data)
        while view:
            if fd in self._poll(fd):
                try:
                    written = os.write(fd, view[:_CHUNK])
                except BlockingIOError:
                    continue
                except BrokenPipeError:
                    return False
                view = view[written:]
        return True

    def close_input(self) -> None:
        stdin = self.process.stdin
        if stdin is not None and not stdin.closed:
            try:
                stdin.close()
            except BrokenPipeError:
                pass

    def finish(self) -> None:
        """Drain the output until both streams end, then wait for the exit status.

        Once sendmail has exited, a background process it left (a queue runner, say)
        may still hold the streams open: then whatever is buffered is read and the
        rest ignored.
        """
        try:
            while self.selector.get_map():
                exited = self.process.poll() is not None
                if not self._poll(limit=0.1) and exited:
                    break
        except SMTPTimeout:
            raise self._unknown() from None
        while self.process.poll() is None:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                raise self._unknown()
            try:
                self.process.wait(min(remaining, 0.1))
            except subprocess.TimeoutExpired:
                pass
        self._close()

    def _unknown(self) -> SMTPOutcomeUnknown:
        # Its input ended: it has the whole message, and may have queued it already.
        return SMTPOutcomeUnknown(f"sendmail read the whole message and did not exit within {self.timeout}s; "
                                  "it may or may not have queued it")

    def kill(self) -> None:
        """Kill sendmail before its input ends, so its queue never gets the message."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self.close_input()
        self._close()

    def _close(self) -> None:
        self.selector.close()
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()
