"""Celery: a real worker (prefork, two processes) and a real Redis broker, both started
by the test on 127.0.0.1, sending to aiosmtpd and to a scripted server."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from email.message import EmailMessage
from pathlib import Path

import pytest
from conftest import HOST, RecordingHandler, free_port

from smtpunit import errors
from smtpunit.testing import Close, ExpectData, ScriptedServer, accept_envelope, standard_session

REDIS = shutil.which("redis-server") or "/usr/bin/redis-server"

APP = """
    import os
    from celery import Celery
    from smtpunit import Retry
    from smtpunit.contrib.celery import register

    app = Celery("mailing", broker=os.environ["TEST_BROKER"], backend=os.environ["TEST_BROKER"])
    app.conf.update(broker_connection_retry_on_startup=True, task_serializer="json", result_serializer="json")
    send_mail = register(app, retry=Retry(attempts=3, backoff=0.2))
"""


@pytest.fixture(scope="module")
def redis():
    if not os.path.exists(REDIS):
        reason = "redis-server is not installed (Debian's redis-server package; .ci/run installs it)"
        if os.environ.get("SMTPUNIT_REQUIRE_REDIS") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    port = free_port()
    process = subprocess.Popen([REDIS, "--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((HOST, port), timeout=1) as probe:
                probe.sendall(b"PING\r\n")
                if probe.recv(16).startswith(b"+PONG"):
                    break
        except OSError:
            time.sleep(0.05)
    else:
        process.kill()
        pytest.fail("redis-server did not start")
    yield f"redis://{HOST}:{port}/0"
    process.terminate()
    process.wait(timeout=10)


class Worker:
    """A Celery worker for the app, sending through ``url``."""

    def __init__(self, directory: Path, broker: str, url: str) -> None:
        (directory / "celery_mailing.py").write_text(textwrap.dedent(APP))
        self.log = directory / "worker.log"
        environment = {**os.environ, "TEST_BROKER": broker, "SMTPUNIT_URL": url,
                       "PYTHONPATH": os.pathsep.join([str(directory), os.environ.get("PYTHONPATH", "")])}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "celery_mailing", "worker", "--pool", "prefork",
             "--concurrency", "2", "--loglevel", "INFO", "--without-gossip", "--without-mingle",
             "--without-heartbeat"],
            cwd=directory, env=environment, stdout=self.log.open("wb"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while b"ready." not in self.log.read_bytes():
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.stop()
                pytest.fail("the worker did not start:\n" + self.log.read_text())
            time.sleep(0.1)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()


@pytest.fixture
def producer(tmp_path, redis, monkeypatch):
    """The app as the producer imports it, and a function starting a worker for a URL."""
    (tmp_path / "celery_mailing.py").write_text(textwrap.dedent(APP))
    monkeypatch.setenv("TEST_BROKER", redis)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("celery_mailing", None)
    import celery_mailing

    workers = []

    def start(url):
        workers.append(Worker(tmp_path, redis, url))
        return workers[-1]

    yield celery_mailing, start
    for worker in workers:
        worker.stop()
    sys.modules.pop("celery_mailing", None)


def message(to: str = "b@example.org") -> EmailMessage:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "shop@example.org", to, "your order"
    mail.set_content("shipped\n")
    return mail


class RefusesTheFirstData(RecordingHandler):
    """451 at the end of the first message's data: the task must try again, the same message."""

    async def handle_DATA(self, server, session, envelope):
        await super().handle_DATA(server, session, envelope)
        return "451 4.3.0 try again later" if len(self.messages) == 1 else "250 2.0.0 queued"


def test_a_forked_process_makes_its_own_mailer():
    """A worker forked from a process that already had a mailer makes its own (its
    pool's sockets are not shared with the parent's), and keeps it."""
    from smtpunit.contrib.celery import _PerProcess

    made: list[int] = []
    mailers = _PerProcess(lambda: made.append(os.getpid()) or object())
    parent = mailers.get()
    assert mailers.get() is parent and made == [os.getpid()]
    read, write = os.pipe()
    child = os.fork()
    if child == 0:
        try:
            own = mailers.get()
            kept = mailers.get() is own
            os.write(write, b"own" if own is not parent and kept and made[-1] == os.getpid() else b"shared")
        finally:
            os._exit(0)
    os.close(write)
    answer = os.read(read, 16)
    os.close(read)
    os.waitpid(child, 0)
    assert answer == b"own"
    assert mailers.get() is parent  # the parent keeps its own


def test_a_worker_sends_and_retries_the_same_message(producer, start_server):
    from smtpunit.contrib.celery import enqueue

    app, start = producer
    server = start_server(handler=RefusesTheFirstData())
    start(f"smtp://{HOST}:{server.port}?tls=none")
    job = enqueue(app.send_mail, message())
    result = job.get(timeout=60)
    assert result["status"] == "delivered" and result["attempt"] == 2
    first, second = server.handler.messages
    assert first.content == second.content  # the very same bytes: one Message-ID, made once
    assert f"Message-ID: {result['message_id']}".encode() in first.content and job.id == result["message_id"]


def test_an_unknown_outcome_is_recorded_never_retried(producer):
    from smtpunit.contrib.celery import enqueue

    app, start = producer
    script = [*standard_session(), *accept_envelope(), ExpectData(b"shipped\r\n"), Close()]
    with ScriptedServer(script, timeout=60) as server:  # a second connection would break the script
        start(f"smtp://{HOST}:{server.port}?tls=none")
        result = enqueue(app.send_mail, message()).get(timeout=60)
    assert result["status"] == "unknown" and result["attempt"] == 1
    assert "may or may not have accepted" in result["error"]


def test_a_permanent_refusal_fails_the_task_at_once(producer, start_server):
    from smtpunit.contrib.celery import enqueue

    app, start = producer
    server = start_server(refuse=frozenset({"nobody@example.org"}))
    start(f"smtp://{HOST}:{server.port}?tls=none")
    job = enqueue(app.send_mail, message("nobody@example.org"))
    with pytest.raises(Exception, match="550"):
        job.get(timeout=60)
    assert server.handler.mail_commands == ["shop@example.org"]  # one attempt


def test_bad_input_is_refused_before_anything_is_queued(producer):
    from smtpunit.contrib.celery import enqueue

    app, _ = producer
    bad = message()
    del bad["To"]
    with pytest.raises(errors.InvalidArgument):
        enqueue(app.send_mail, bad)
