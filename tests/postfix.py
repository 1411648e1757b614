"""A private Postfix instance (and Postfix's smtp-sink) for the tests.

Import the session fixture in a test module with::

    from postfix import postfix  # noqa: F401

The fixture starts a Postfix that belongs to the test session alone: its own
``main.cf``/``master.cf``, queue, data directory, log file and mailbox, all in one
temporary directory (``/tmp/smtpunit-postfix-*``, see :func:`postfix` for why not
in pytest's tree), started with ``postfix -c DIR start`` and stopped, with every
daemon it spawned, at the end of the session. The system's Postfix is never
started, stopped or reconfigured.

What the instance offers (see :class:`PostfixInstance`):

* ``smtpd`` on ``127.0.0.1:<port>`` with STARTTLS (a certificate from the
  session's ``trustme`` CA for ``localhost``, ``127.0.0.1`` and
  ``mail.smtpunit.test``), PIPELINING, CHUNKING, 8BITMIME, SMTPUTF8, and Cyrus SASL
  AUTH (PLAIN LOGIN CRAM-MD5 SCRAM-SHA-256) against a private sasldb, allowed over
  plaintext too (the tests only use loopback);
* delivery of *all* mail, whatever the domain, to one maildir in the temporary
  directory (:meth:`PostfixInstance.messages`), so nothing ever leaves the machine;
* the Postfix ``sendmail`` command bound to this instance
  (:attr:`PostfixInstance.sendmail_argv`).

SASL user names: the user is stored in the sasldb as ``<user>@mail.smtpunit.test``
(realm ``mail.smtpunit.test``, from ``saslpasswd2 -u``). Postfix hands Cyrus
``smtpd_sasl_local_domain = mail.smtpunit.test`` as the user realm, so a client may
log in as the bare ``<user>`` (Cyrus appends the realm) or as
``<user>@mail.smtpunit.test``.

Where the SASL configuration is read: Debian 12's smtpd was seen to look for
``smtpd.conf`` only in ``$config_directory/sasl`` and ``/usr/lib/sasl``, whatever
``cyrus_sasl_config_path`` says; upstream Postfix reads ``cyrus_sasl_config_path``.
Both are ``<config_dir>/sasl`` here.

Needs root (Postfix insists on a root-owned configuration and starts its daemons as
root) and the Debian packages ``postfix``, ``sasl2-bin`` (``saslpasswd2``),
``libsasl2-modules`` (PLAIN, LOGIN, CRAM-MD5, SCRAM) and ``libsasl2-modules-db``
(the sasldb plugin). Without them the fixture skips, unless
``SMTPUNIT_REQUIRE_POSTFIX=1`` (set by CI), in which case it fails.

Nothing outside the temporary directory is changed. The default
``/etc/postfix/main.cf`` is not touched (it need not even exist):
``alternate_config_directories`` is only checked for callers that are not root, and
``sendmail -C DIR`` (with its set-gid ``postdrop``) runs as root here.
"""

from __future__ import annotations

import contextlib
import ctypes
import email.parser
import email.policy
import grp
import itertools
import os
import pty
import pwd
import select
import shutil
import signal
import socket
import ssl
import stat
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any, NoReturn, Optional

import pytest
import trustme

__all__ = [
    "HOST",
    "DOMAIN",
    "HOSTNAME",
    "REQUIRE_ENV",
    "Delivery",
    "PostfixError",
    "PostfixInstance",
    "REFUSED",
    "SmtpSink",
    "TRACE_FIELDS",
    "free_port",
    "postfix",
    "require_postfix",
    "searchable_temp_dir",
    "running_postfix",
    "start_smtp_sink",
]

HOST = "127.0.0.1"
DOMAIN = "smtpunit.test"
"""The domain tests send to; every other domain is delivered to the same mailbox too."""
HOSTNAME = "mail.smtpunit.test"
"""The instance's ``myhostname``, also the SASL realm."""
REQUIRE_ENV = "SMTPUNIT_REQUIRE_POSTFIX"
"""When ``1``, a missing Postfix fails the tests instead of skipping them (CI)."""

POSTFIX = "/usr/sbin/postfix"
POSTCONF = "/usr/sbin/postconf"
SENDMAIL = "/usr/sbin/sendmail"
SMTP_SINK = "/usr/sbin/smtp-sink"
SASLPASSWD2 = "/usr/sbin/saslpasswd2"
SASL_PLUGIN_DIRS = ("/usr/lib/x86_64-linux-gnu/sasl2", "/usr/lib/aarch64-linux-gnu/sasl2", "/usr/lib/sasl2")
SASL_MECHANISMS = ("PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-256")
TRACE_FIELDS = (b"return-path", b"x-original-to", b"delivered-to", b"received")

_START_TIMEOUT = 10.0
_STOP_TIMEOUT = 10.0


REFUSED = f"refused@{DOMAIN}"
"""The recipient the instance always answers with ``550 5.1.1``."""


class PostfixError(RuntimeError):
    """The private Postfix could not be set up, started or stopped (log tail included)."""


# -- availability ------------------------------------------------------------------------


def require_postfix() -> None:
    """Skip (or, with ``SMTPUNIT_REQUIRE_POSTFIX=1``, fail) unless a private Postfix can run."""
    if os.geteuid() != 0:
        _unavailable("Postfix tests need root: Postfix wants a root-owned configuration")
    for program, package in ((POSTFIX, "postfix"), (POSTCONF, "postfix"), (SENDMAIL, "postfix"),
                             (SMTP_SINK, "postfix"), (SASLPASSWD2, "sasl2-bin")):
        if not os.access(program, os.X_OK):
            _unavailable(f"{program} is missing (Debian package {package!r})")
    for name, package in (("sasldb", "libsasl2-modules-db"), ("plain", "libsasl2-modules"),
                          ("scram", "libsasl2-modules")):
        if not any(Path(d, f"lib{name}.so").exists() or Path(d, f"lib{name}.so.2").exists()
                   for d in SASL_PLUGIN_DIRS):
            _unavailable(f"the Cyrus SASL {name} plugin is missing (Debian package {package!r})")
    try:
        pwd.getpwnam("postfix")
        grp.getgrnam("postdrop")
    except KeyError as exc:
        _unavailable(f"the postfix user or postdrop group is missing: {exc}")


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{REQUIRE_ENV}=1 but Postfix cannot run: {reason}", pytrace=False)
    pytest.skip(reason)


# -- running commands -------------------------------------------------------------------


def _run(argv: list[str], *, timeout: float = 30.0) -> tuple[int, str]:
    """Run a Postfix command with its stderr on a pseudo-terminal.

    Postfix commands write their messages (``postfix: fatal: ...``) to stderr only
    when it is a terminal; otherwise to syslog, which may not exist here.
    """
    leader, follower = pty.openpty()
    try:
        process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=follower, stderr=follower, env=_environment(), close_fds=True,
        )
    except BaseException:
        os.close(leader)
        os.close(follower)
        raise
    os.close(follower)
    output = bytearray()
    try:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                process.kill()
                process.wait()
                raise PostfixError(f"{argv} timed out after {timeout}s: {output.decode(errors='replace')}")
            ready, _, _ = select.select([leader], [], [], min(remaining, 0.2))
            if ready:
                try:
                    chunk = os.read(leader, 65536)
                except OSError:  # EIO: every writer is gone
                    chunk = b""
                if not chunk:
                    break
                output += chunk
            elif process.poll() is not None:
                # Exited, but a daemon it started may still hold the terminal.
                break
        returncode = process.wait(timeout=max(deadline - time.monotonic(), 0.1))
    finally:
        os.close(leader)
    return returncode, output.decode("utf-8", "replace").replace("\r\n", "\n")


def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAIL_")}
    env["LANG"] = "C"
    return env


# -- what Postfix delivered -------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """One message file Postfix's virtual(8) agent wrote to the test maildir.

    Postfix stores lines with LF endings and puts its trace fields first:
    ``Return-Path`` (the envelope sender), ``X-Original-To`` (the recipient as
    given), ``Delivered-To`` (the recipient delivered to) and one ``Received``
    field per hop. Cleanup(8) appends ``Message-Id``/``Date``/``From`` to headers
    that lack them, so tests that compare whole messages send complete headers.

    :ivar path: the maildir file.
    :ivar raw: its bytes.
    """

    path: Path
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        """The parsed message (``email.policy.default``)."""
        parsed = email.parser.BytesParser(policy=email.policy.default).parsebytes(self.raw)
        assert isinstance(parsed, EmailMessage)
        return parsed

    def _trace(self, name: str) -> Optional[str]:
        value = self.message.get(name)
        return None if value is None else str(value)

    @property
    def sender(self) -> Optional[str]:
        """The envelope sender from ``Return-Path`` (``""`` for the null sender)."""
        value = self._trace("Return-Path")
        return None if value is None else value.strip().removeprefix("<").removesuffix(">")

    @property
    def recipient(self) -> Optional[str]:
        """The envelope recipient as the client gave it (``X-Original-To``)."""
        return self._trace("X-Original-To")

    @property
    def delivered_to(self) -> Optional[str]:
        """The recipient Postfix delivered to (``Delivered-To``)."""
        return self._trace("Delivered-To")

    @property
    def received(self) -> list[str]:
        """Every ``Received`` field, newest first."""
        return [str(v) for v in self.message.get_all("Received", [])]

    def original(self, *, crlf: bool = True) -> bytes:
        """The message as the client sent it: without the leading trace fields Postfix
        added, with CRLF line endings again (``crlf=False`` keeps Postfix's LF)."""
        lines = self.raw.split(b"\n")
        index = 0
        while index < len(lines):
            name = lines[index].split(b":", 1)[0].strip().lower()
            if name not in TRACE_FIELDS:
                break
            index += 1
            while index < len(lines) and lines[index][:1] in (b" ", b"\t"):
                index += 1
        text = b"\n".join(lines[index:])
        return text.replace(b"\n", b"\r\n") if crlf else text

    @property
    def header(self) -> bytes:
        """The original header, blank line included, with CRLF endings."""
        original = self.original()
        end = original.find(b"\r\n\r\n")
        return original if end < 0 else original[: end + 4]

    @property
    def body(self) -> bytes:
        """The body after the header's blank line, with CRLF endings."""
        original = self.original()
        end = original.find(b"\r\n\r\n")
        return b"" if end < 0 else original[end + 4:]


# -- the instance ----------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=0.5):
            return True
        time.sleep(0.05)
    return False


def _alive(pid: int) -> bool:
    """True unless the process is gone or a zombie nobody has reaped yet."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in (b"Z", b"X")


@contextlib.contextmanager
def _adopting_orphans() -> Iterator[None]:
    """Make this process a child subreaper (Linux ``prctl``) for the duration.

    ``postfix start`` leaves master(8) an orphan; adopted, it is reaped by
    :meth:`PostfixInstance.stop` instead of lingering ``<defunct>`` until init gets to
    it. Harmless where ``prctl`` is missing.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        previous = ctypes.c_int(0)
        libc.prctl(_PR_GET_CHILD_SUBREAPER, ctypes.byref(previous), 0, 0, 0)
        adopted = libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        adopted = False
    try:
        yield
    finally:
        if adopted:
            libc.prctl(_PR_SET_CHILD_SUBREAPER, previous.value, 0, 0, 0)


_PR_SET_CHILD_SUBREAPER, _PR_GET_CHILD_SUBREAPER = 36, 37

_MASTER_CF = """\
# service type  private unpriv  chroot  wakeup  maxproc command + args
{host}:{port} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""
# No smtp, relay, lmtp or local services: nothing is ever delivered off this machine.


class PostfixInstance:
    """A private Postfix in ``root`` (a fresh directory), with a TLS certificate from ``ca``.

    Use :func:`running_postfix` (or the :func:`postfix` fixture) rather than
    :meth:`start`/:meth:`stop` directly.

    :ivar port: smtpd's port on 127.0.0.1.
    :ivar username: the SASL user (see the module docstring for its forms).
    :ivar password: its password.
    :ivar config_dir: the directory of ``main.cf`` and ``master.cf`` (``postfix -c``).
    :ivar sendmail_path: Postfix's ``sendmail`` command.
    """

    host = HOST
    domain = DOMAIN
    hostname = HOSTNAME
    sendmail_path = SENDMAIL

    def __init__(self, root: Path, ca: trustme.CA, *, username: str = "tester",
                 password: str = "Postfix-s3cret!") -> None:
        self.root = Path(root)
        self.ca = ca
        self.username = username
        self.password = password
        self.port = 0
        self.config_dir = self.root / "config"
        self.queue_dir = self.root / "queue"
        self.data_dir = self.root / "data"
        self.mail_dir = self.root / "mail"
        self.mailbox = self.mail_dir / "inbox"
        self.sasl_dir = self.config_dir / "sasl"
        self.sasldb = self.root / "sasl" / "sasldb2"
        self.tls_file = self.root / "tls" / "server.pem"
        self.log_file = self.root / "maillog"
        self._counter = itertools.count(1)
        self.running = False
        self._master: Optional[int] = None

    # -- what tests use --------------------------------------------------------------

    @property
    def sendmail_args(self) -> tuple[str, ...]:
        """The arguments that make ``sendmail`` use this instance: ``("-C", config_dir)``."""
        return ("-C", str(self.config_dir))

    @property
    def sendmail_argv(self) -> tuple[str, ...]:
        """``sendmail`` bound to this instance; append ``-i -f ... -- rcpt...``."""
        return (self.sendmail_path, *self.sendmail_args)

    def client_context(self) -> ssl.SSLContext:
        """A verifying client context that trusts the instance's CA."""
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        return context

    def address(self, tag: str = "rcpt", domain: str = DOMAIN) -> str:
        """A recipient address no other test uses, e.g. ``plain-3-1a2b3c4d@smtpunit.test``."""
        return f"{tag}-{next(self._counter)}-{uuid.uuid4().hex[:8]}@{domain}"

    def deliveries(self) -> list[Delivery]:
        """Every message in the mailbox now, oldest first."""
        found = []
        for sub in ("new", "cur"):
            directory = self.mailbox / sub
            if directory.is_dir():
                for path in directory.iterdir():
                    with contextlib.suppress(FileNotFoundError):
                        found.append((path.stat().st_mtime_ns, path.name, Delivery(path, path.read_bytes())))
        return [d for _, _, d in sorted(found, key=lambda item: item[:2])]

    def messages(self, timeout: float = 10.0, *, to: Optional[str] = None, count: int = 1) -> list[Delivery]:
        """Wait until at least ``count`` messages (for recipient ``to``, if given) were
        delivered, and return them all (oldest first).

        :raises AssertionError: when they do not arrive within ``timeout`` seconds; the
            message holds the tail of the instance's log.
        """
        deadline = time.monotonic() + timeout
        while True:
            found = [d for d in self.deliveries() if to is None or to in (d.recipient, d.delivered_to)]
            if len(found) >= count:
                return found
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"{len(found)} of {count} message(s){f' for {to}' if to else ''} delivered after "
                    f"{timeout}s; queue: {[p.name for p in self.queued()]}\n--- {self.log_file}:\n{self.log_tail()}"
                )
            time.sleep(0.05)

    def queued(self) -> list[Path]:
        """The files still in the queue (maildrop, incoming, active, deferred, hold)."""
        files: list[Path] = []
        for sub in ("maildrop", "incoming", "active", "deferred", "hold"):
            directory = self.queue_dir / sub
            if directory.is_dir():
                files.extend(p for p in directory.rglob("*") if p.is_file())
        return files

    def assert_nothing_delivered(self, to: str, *, settle: float = 1.0) -> None:
        """Assert that no message for ``to`` arrives and the queue empties within ``settle`` seconds.

        A message on its way always sits in a queue file until it is delivered, so an
        empty queue and an empty mailbox mean nothing is coming.
        """
        deadline = time.monotonic() + settle
        while True:
            delivered = [d for d in self.deliveries() if to in (d.recipient, d.delivered_to)]
            assert not delivered, f"unexpected delivery to {to}: {delivered[0].raw[:500]!r}"
            queued = self.queued()
            if time.monotonic() >= deadline:
                assert not queued, f"still queued after {settle}s: {queued}\n{self.log_tail()}"
                return
            time.sleep(0.1)

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the instance's log file."""
        try:
            text = self.log_file.read_text("utf-8", "replace")
        except FileNotFoundError:
            return "(no log file)"
        return "\n".join(text.splitlines()[-lines:])

    # -- setting up -----------------------------------------------------------------

    def _ids(self) -> tuple[int, int]:
        user = pwd.getpwnam("postfix")
        return user.pw_uid, user.pw_gid

    def _main_cf(self) -> str:
        uid, gid = self._ids()
        settings = {
            "compatibility_level": "3.6",
            "queue_directory": self.queue_dir,
            "data_directory": self.data_dir,
            "maillog_file": self.log_file,
            "maillog_file_prefixes": self.root,
            "inet_interfaces": HOST,
            "inet_protocols": "ipv4",
            "myhostname": HOSTNAME,
            "mydomain": DOMAIN,
            "myorigin": "$myhostname",
            "mynetworks": "127.0.0.0/8",
            "mydestination": "",
            "relay_domains": "",
            "relayhost": "",
            "alias_maps": "",
            "alias_database": "",
            "biff": "no",
            "smtpd_peername_lookup": "no",
            "smtpd_banner": "$myhostname ESMTP smtpunit private Postfix",
            "smtpd_relay_restrictions": "permit_mynetworks permit_sasl_authenticated reject_unauth_destination",
            # One address is always refused, for tests of a refusal inside a pipelined group.
            "smtpd_recipient_restrictions":
                f"check_recipient_access inline:{{ {{ {REFUSED} = 550 5.1.1 no such user }} }}",
            # Every domain ends in the test maildir: smtpunit.test as a virtual mailbox
            # domain, all others through default_transport; bounces land there too.
            "virtual_mailbox_domains": DOMAIN,
            "virtual_mailbox_base": self.mail_dir,
            "virtual_mailbox_maps": "static:inbox/",
            "virtual_uid_maps": f"static:{uid}",
            "virtual_gid_maps": f"static:{gid}",
            "virtual_minimum_uid": uid,
            "default_transport": "virtual",
            "relay_transport": "virtual",
            "smtpd_tls_security_level": "may",
            "smtpd_tls_chain_files": self.tls_file,
            "smtpd_tls_auth_only": "no",
            "smtpd_tls_loglevel": "1",
            "smtpd_tls_received_header": "yes",
            "smtpd_sasl_auth_enable": "yes",
            "smtpd_sasl_type": "cyrus",
            "smtpd_sasl_path": "smtpd",
            "cyrus_sasl_config_path": self.sasl_dir,
            "smtpd_sasl_local_domain": HOSTNAME,
            "smtpd_sasl_security_options": "noanonymous",
        }
        return "".join(f"{name} = {value}\n" for name, value in settings.items())

    def _write_config(self) -> None:
        uid, gid = self._ids()
        for directory in (self.config_dir, self.queue_dir, self.sasl_dir, self.sasldb.parent, self.tls_file.parent):
            directory.mkdir(parents=True, exist_ok=True)
            os.chown(directory, 0, 0)
            directory.chmod(0o755)
        for directory in (self.data_dir, self.mail_dir, *(self.mailbox / s for s in ("", "new", "cur", "tmp"))):
            directory.mkdir(parents=True, exist_ok=True)
            os.chown(directory, uid, gid)
            directory.chmod(0o700)
        (self.config_dir / "main.cf").write_text(self._main_cf())
        (self.config_dir / "master.cf").write_text(_MASTER_CF.format(host=HOST, port=self.port))
        (self.sasl_dir / "smtpd.conf").write_text(
            "pwcheck_method: auxprop\n"
            "auxprop_plugin: sasldb\n"
            f"sasldb_path: {self.sasldb}\n"
            f"mech_list: {' '.join(SASL_MECHANISMS)}\n"
        )
        cert = self.ca.issue_cert("localhost", HOST, HOSTNAME)
        self.tls_file.write_bytes(b"")
        self.tls_file.chmod(0o600)
        cert.private_key_and_cert_chain_pem.write_to_path(str(self.tls_file))
        self._create_sasl_user()

    def _create_sasl_user(self) -> None:
        argv = [SASLPASSWD2, "-f", str(self.sasldb), "-p", "-c", "-u", HOSTNAME, self.username]
        self.sasldb.unlink(missing_ok=True)
        result = subprocess.run(argv, input=self.password.encode(), capture_output=True, timeout=30, env=_environment())
        if result.returncode != 0:
            raise PostfixError(f"{argv} failed ({result.returncode}): {result.stderr.decode(errors='replace')}")
        _, gid = self._ids()
        for path in self.sasldb.parent.iterdir():  # the db, and its lock files if any
            os.chown(path, 0, gid)
            path.chmod(0o640)

    def _check_reachable(self) -> None:
        """The daemons that read the sasldb and write the mailbox run as ``postfix``:
        every directory above ``root`` must be searchable by others."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o755)
        for directory in self.root.resolve().parents:
            if not directory.stat().st_mode & stat.S_IXOTH:
                raise PostfixError(f"{directory} is not searchable by others, so the postfix user cannot "
                                   f"reach {self.root}; put the instance elsewhere")

    # -- start and stop -------------------------------------------------------------

    def start(self) -> None:
        """Write the configuration and start the instance; raise :class:`PostfixError` if it fails."""
        self._check_reachable()
        last_error: Optional[PostfixError] = None
        for _attempt in range(3):  # the free port may be taken between asking and binding
            self.port = free_port()
            self._write_config()
            with _adopting_orphans():  # master(8) becomes our child, so stop() can reap it
                code, output = _run([POSTFIX, "-c", str(self.config_dir), "start"], timeout=_START_TIMEOUT + 20)
            self._master = self.master_pid()
            if code == 0 and _wait_for_port(self.port, _START_TIMEOUT):
                self.running = True
                return
            last_error = PostfixError(
                f"postfix -c {self.config_dir} start failed (exit {code}):\n{output}\n"
                f"--- {self.log_file}:\n{self.log_tail()}"
            )
            self.stop()
            if "Address already in use" not in self.log_tail():
                break
        assert last_error is not None
        raise last_error

    def master_pid(self) -> Optional[int]:
        """The pid of this instance's master(8), if its pid file names a live one."""
        try:
            pid = int((self.queue_dir / "pid" / "master.pid").read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _alive(pid) else None

    def processes(self) -> list[int]:
        """Every live process working in this instance's queue directory (the master
        and the daemons it spawned chdir there)."""
        queue = str(self.queue_dir.resolve())
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cwd = os.readlink(entry / "cwd")
            except OSError:
                continue
            if (cwd == queue or cwd.startswith(queue + "/")) and _alive(int(entry.name)):
                found.append(int(entry.name))
        return found

    def stop(self) -> None:
        """Stop the instance and wait until its master and daemons are gone (``kill -9``
        as a last resort)."""
        try:
            if self.master_pid() is not None:
                _run([POSTFIX, "-c", str(self.config_dir), "stop"], timeout=_STOP_TIMEOUT)
            deadline = time.monotonic() + _STOP_TIMEOUT
            while self.processes() and time.monotonic() < deadline:
                time.sleep(0.05)
            leftovers = self.processes()
            for pid in leftovers:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 5
            while self.processes() and time.monotonic() < deadline:
                time.sleep(0.05)
            if self.processes():
                raise PostfixError(f"Postfix processes {self.processes()} survived kill -9")
        finally:
            self.running = False
            if self._master is not None:  # reap it, or it stays <defunct> until init does
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(self._master, os.WNOHANG)
                self._master = None


@contextlib.contextmanager
def running_postfix(root: Path, ca: trustme.CA, **kwargs: str) -> Iterator[PostfixInstance]:
    """Start a :class:`PostfixInstance` in ``root`` and stop it on exit."""
    instance = PostfixInstance(root, ca, **kwargs)
    try:
        instance.start()
        yield instance
    finally:
        instance.stop()


def searchable_temp_dir() -> Path:
    """A temporary directory whose every ancestor others may search (``/tmp`` usually)."""
    for candidate in (tempfile.gettempdir(), "/tmp", "/var/tmp"):
        path = Path(candidate).resolve()
        if path.is_dir() and all(p.stat().st_mode & stat.S_IXOTH for p in (path, *path.parents)):
            return path
    raise PostfixError("no temporary directory the postfix user can reach")


@pytest.fixture(scope="session", name="postfix")
def postfix(tmp_path_factory: pytest.TempPathFactory, certs: Any) -> Iterator[PostfixInstance]:
    """A private Postfix for the whole session (see :class:`PostfixInstance`).

    Import it into a test module with ``from postfix import postfix  # noqa: F401``,
    or, to keep ruff's F811 quiet about test parameters named ``postfix``, as
    ``from postfix import postfix as postfix_fixture  # noqa: F401`` (the fixture is
    registered under the name ``postfix`` either way).

    Skips when Postfix cannot run here, or fails when ``SMTPUNIT_REQUIRE_POSTFIX=1``.
    Its certificate comes from the ``certs`` fixture's CA (``certs.ca``).

    The instance lives in ``/tmp/smtpunit-postfix-*``, not in pytest's own temporary
    tree: pytest keeps that tree mode 0700 (and a concurrent pytest session resets it
    to 0700), where the daemons running as ``postfix`` could not reach their files. A
    symbolic link ``instance`` in the session's ``postfix*`` temporary directory
    points to it while it runs; at teardown its log is copied there and the instance
    directory is removed. Every module importing the fixture shares one instance.
    """
    require_postfix()
    if _shared.failure is not None:
        raise PostfixError(f"the private Postfix failed to start earlier in this session: {_shared.failure}")
    if _shared.instance is None:
        stack = contextlib.ExitStack()
        try:
            _shared.instance = stack.enter_context(_session_instance(tmp_path_factory, certs.ca))
        except BaseException as exc:
            stack.close()
            _shared.failure = exc
            raise
        _shared.stack = stack
    _shared.users += 1
    try:
        yield _shared.instance
    finally:
        _shared.users -= 1
        if _shared.users == 0 and _shared.stack is not None:
            stack, _shared.stack, _shared.instance = _shared.stack, None, None
            stack.close()


class _Shared:
    """The one instance of the session.

    Each test module that imports the fixture gets a fixture definition of its own,
    and pytest would run a session-scoped fixture once per definition: all of them
    share this instance, stopped when the last one is torn down.
    """

    instance: Optional[PostfixInstance] = None
    stack: Optional[contextlib.ExitStack] = None
    users = 0
    failure: Optional[BaseException] = None


_shared = _Shared()


@contextlib.contextmanager
def _session_instance(tmp_path_factory: pytest.TempPathFactory, ca: trustme.CA) -> Iterator[PostfixInstance]:
    keep = tmp_path_factory.mktemp("postfix")
    root = Path(tempfile.mkdtemp(prefix="smtpunit-postfix-", dir=searchable_temp_dir()))
    (keep / "instance").symlink_to(root)
    try:
        with running_postfix(root, ca) as instance:
            yield instance
    finally:
        with contextlib.suppress(OSError):
            shutil.copy(root / "maillog", keep / "maillog")
        (keep / "instance").unlink()
        shutil.rmtree(root, ignore_errors=True)


# -- smtp-sink --------------------------------------------------------------------------------


@dataclass
class SmtpSink:
    """A running ``smtp-sink``: ``port`` on 127.0.0.1, ``process`` its Popen."""

    port: int
    process: subprocess.Popen[bytes]
    argv: list[str] = field(default_factory=list)


@contextlib.contextmanager
def start_smtp_sink(port: Optional[int] = None, *options: str, backlog: int = 100) -> Iterator[SmtpSink]:
    """Run Postfix's ``smtp-sink`` on ``127.0.0.1:port`` (a free port if ``None``).

    ``options`` are smtp-sink's own (``-c`` to count, ``-L`` for LMTP, ``-h name``,
    ...). As root it must drop privileges, so ``-u postfix`` is added then (smtp-sink
    refuses to run as root without ``-u``). Stopped (SIGTERM, then SIGKILL) on exit.
    """
    if not os.access(SMTP_SINK, os.X_OK):
        _unavailable(f"{SMTP_SINK} is missing (Debian package 'postfix')")
    port = free_port() if port is None else port
    argv = [SMTP_SINK]
    if os.geteuid() == 0 and "-u" not in options:
        argv += ["-u", "postfix"]
    argv += [*options, f"{HOST}:{port}", str(backlog)]
    output = tempfile.TemporaryFile()  # a file, not a pipe: a full pipe would stall smtp-sink (-c counts)
    process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
                               env=_environment(), start_new_session=True)
    try:
        deadline = time.monotonic() + 5
        while not _wait_for_port(port, 0.2):
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                process.wait()
                output.seek(0)
                said = output.read().decode(errors="replace") or "(nothing: its errors go to syslog)"
                raise PostfixError(f"{argv} did not start (exit {process.returncode}): {said}")
        yield SmtpSink(port, process, argv)
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        output.close()

