"""smtpunit.Mailer: configured once (or by URL), the verbs without the configuration,
over real servers on 127.0.0.1; and a test double catches even a mailer made before it."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage
from urllib.parse import quote

import pytest
from conftest import HOST, PASSWORD, USER, recording_sendmail

import smtpunit
from smtpunit import errors

HEADER = "Subject: configured\r\n\r\n"
CREDENTIALS = f"{quote(USER)}:{quote(PASSWORD)}"

# Made when the module is imported, before any test double: a double still catches its mail.
IMPORT_TIME_MAILER = smtpunit.Mailer.from_url(f"smtp://{CREDENTIALS}@{HOST}:9?tls=none", allow_insecure_auth=True)
IMPORT_TIME_CONSOLE = smtpunit.Mailer.from_url("console://")
IMPORT_TIME_UNIX = smtpunit.Mailer.from_url("smtp+unix:///nonexistent/smtp.sock")


def message(subject: str = "configured") -> EmailMessage:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "a@example.org", "b@example.org", subject
    mail.set_content("hello\n")
    return mail


def test_a_url_gives_starttls_and_credentials_once_for_every_send(start_server, certs):
    server = start_server(starttls=True, require_starttls=True, auth=True)
    with smtpunit.Mailer.from_url(f"smtp://{CREDENTIALS}@{HOST}:{server.port}",
                                  tls_encode=certs.client_context()) as mailer:
        mailer.send_message(message("one"))
        mailer.send("a@example.org", ["c@example.org"], "Subject: two\r\n\r\n", ["x"])
        outcomes = mailer.send_many([("a@example.org", ["d@example.org"], f"Subject: {n}\r\n\r\n", ["x"])
                                     for n in range(3)])
    assert all(isinstance(o, smtpunit.SendResult) for o in outcomes)
    assert len(server.handler.messages) == 5
    assert all(m.tls and m.authenticated == USER for m in server.handler.messages)


def test_starttls_is_required_unless_the_url_relaxes_it(start_server):
    server = start_server()  # offers no STARTTLS
    with pytest.raises(errors.StartTLSNotOffered):
        smtpunit.Mailer.from_url(f"smtp://{HOST}:{server.port}").send_message(message())
    assert server.handler.messages == []
    for tls in ("opportunistic", "none"):
        smtpunit.Mailer.from_url(f"smtp://{HOST}:{server.port}?tls={tls}").send_message(message(tls))
    assert [m.tls for m in server.handler.messages] == [False, False]


def test_smtps_is_tls_from_the_first_byte(start_server, certs):
    server = start_server(implicit_tls=True)
    mailer = smtpunit.Mailer.from_url(f"smtps://{HOST}:{server.port}", tls_encode=certs.client_context())
    mailer.send_message(message())
    mailer.close()
    assert [m.tls for m in server.handler.messages] == [True]


def test_the_mailer_keeps_a_connection_for_its_sends(start_server, certs):
    server = start_server(starttls=True)
    mailer = smtpunit.Mailer(HOST, server.port, pool_size=2, tls_encode=certs.client_context())
    for n in range(5):
        mailer.send_message(message(str(n)))
    assert server.handler.connections == 1 and len(server.handler.messages) == 5
    mailer.close()  # it still sends after, over a new connection
    mailer.send_message(message("after"))
    mailer.close()
    assert server.handler.connections == 2 and b"Subject: after" in server.handler.messages[-1].content
    assert all(m.tls for m in server.handler.messages)


def test_threads_share_the_pool(start_server):
    server = start_server()
    mailer = smtpunit.Mailer(HOST, server.port, pool_size=3)
    with ThreadPoolExecutor(6) as executor:
        list(executor.map(lambda n: mailer.send_message(message(str(n))), range(30)))
    mailer.close()
    assert len(server.handler.messages) == 30


def test_lmtp_url(lmtp_server):
    controller, handler = lmtp_server
    result = smtpunit.Mailer.from_url(f"lmtp://{HOST}:{controller.port}?tls=none").send(
        "a@example.org", ["b@example.org", "c@example.org"], HEADER, ["x"])
    assert [r.data_reply.text for r in result.recipients] == [  # LMTP answers per recipient
        "2.1.5 delivered to b@example.org", "2.1.5 delivered to c@example.org"]
    assert handler.messages[0].rcpt_tos == ["b@example.org", "c@example.org"]


def test_a_unix_socket_url_blocking_and_asyncio(unix_server):
    path, handler = unix_server
    mailer = smtpunit.Mailer.from_url(f"smtp+unix://{quote(str(path))}")
    mailer.send_message(message("blocking"))
    asyncio.run(mailer.send_message_async(message("asyncio")))
    mailer.close()
    assert [m.rcpt_tos for m in handler.messages] == [["b@example.org"]] * 2
    assert [b"Subject: blocking" in m.content for m in handler.messages] == [True, False]


def test_a_sendmail_url(tmp_path):
    program = recording_sendmail(tmp_path)
    smtpunit.Mailer.from_url(f"sendmail://{program}").send_message(message())
    assert (tmp_path / "argv").read_text() == "-i -f a@example.org -- b@example.org\n"
    assert b"Subject: configured" in (tmp_path / "message").read_bytes()


def test_the_asyncio_verbs(start_server, certs):
    server = start_server(starttls=True, auth=True)
    mailer = smtpunit.Mailer.from_url(f"smtp://{CREDENTIALS}@{HOST}:{server.port}", tls_encode=certs.client_context())

    async def main():
        await mailer.send_message_async(message("async"))
        await mailer.send_async("a@example.org", ["c@example.org"], HEADER, ["x"])
        many = await mailer.send_many_async([("a@example.org", ["d@example.org"], HEADER, ["y"])] * 2)
        async with await mailer.connect_async() as session:
            await session.send_message(message("session"))
        return many

    outcomes = asyncio.run(main())
    assert all(isinstance(o, smtpunit.SendResult) for o in outcomes)
    assert len(server.handler.messages) == 5 and all(m.tls for m in server.handler.messages)


def test_from_env_reads_smtpunit_url(monkeypatch, start_server):
    server = start_server()
    monkeypatch.setenv("SMTPUNIT_URL", f"smtp://{HOST}:{server.port}?tls=none")
    smtpunit.Mailer.from_env().send_message(message())
    assert len(server.handler.messages) == 1
    monkeypatch.delenv("SMTPUNIT_URL")
    with pytest.raises(errors.InvalidArgument, match="SMTPUNIT_URL is not set"):
        smtpunit.Mailer.from_env()


def test_the_password_is_never_shown():
    mailer = smtpunit.Mailer.from_url("smtp://me:s3cret%21@mail.example.org")
    assert repr(mailer) == "<Mailer smtp://me:***@mail.example.org via SMTPUnit>"
    assert "s3cret" not in repr(mailer.options) and "s3cret" not in str(vars(mailer))
    for url, problem in (("smtp://me:s3cret%21@mail.example.org?tls=bogus", "tls must be one of"),
                         ("smtp://me:s3cret%21@mail.example.org?timeout=-1", "timeout must be"),
                         ("smtp:me:s3cret@mail.example.org", "not a connection URL"),  # a typo for smtp://
                         ("smtps://me:s3cret@mail.example.org?tls=none", "unknown query parameter")):
        with pytest.raises(errors.InvalidArgument, match=problem) as caught:
            smtpunit.Mailer.from_url(url)
        assert "s3cret" not in str(caught.value), url
    with pytest.raises(errors.InvalidArgument, match=r"^smtp://me@mail.example.org: auth_user and auth_passwd go"):
        smtpunit.Mailer.from_url("smtp://me@mail.example.org")  # a user, and no password given anywhere


def test_a_misspelled_option_is_refused_when_the_mailer_is_made():
    with pytest.raises(TypeError, match=r"^Mailer\(\) got an unexpected keyword argument 'tls_encdoe'"):
        smtpunit.Mailer("mail.example.org", tls_encdoe=True)
    with pytest.raises(TypeError, match=r"^Mailer.from_url\(\) got an unexpected keyword argument 'tls_encdoe'"):
        smtpunit.Mailer.from_url("smtp://mail.example.org", tls_encdoe=True)
    with pytest.raises(errors.InvalidArgument, match="port"):
        smtpunit.Mailer("mail.example.org", 70000)


def test_bad_input_sends_nothing(start_server):
    server = start_server()
    mailer = smtpunit.Mailer(HOST, server.port)
    with pytest.raises(errors.InvalidAddress):
        mailer.send("a@example.org", ["b@example.org\r\nRCPT TO:<c@example.org>"], HEADER, ["x"])
    with pytest.raises(errors.InvalidAddress):
        asyncio.run(mailer.send_async("a@example.org", ["bad address"], HEADER, ["x"]))
    assert server.handler.mail_commands == []


def test_an_outbox_catches_a_mailer_made_at_import_time_from_every_thread_and_task(smtp_outbox, capsys):
    IMPORT_TIME_MAILER.send_message(message("main"))
    IMPORT_TIME_CONSOLE.send_message(message("console"))
    thread = threading.Thread(target=IMPORT_TIME_MAILER.send_message, args=(message("thread"),))
    thread.start()
    thread.join()
    with ThreadPoolExecutor(2) as executor:
        executor.submit(IMPORT_TIME_MAILER.send_message, message("executor")).result()
    asyncio.run(IMPORT_TIME_MAILER.send_message_async(message("task")))
    with IMPORT_TIME_MAILER.connect() as session:
        session.send_message(message("lent"))
    assert sorted(m.subject for m in smtp_outbox.messages) == [
        "console", "executor", "lent", "main", "task", "thread"]
    assert capsys.readouterr().out == ""  # the console mailer printed nothing: the double got it


MADE_IN_A_TEST: list[smtpunit.Mailer] = []


def test_a_mailer_made_while_a_double_is_installed_sends_to_it(smtp_outbox):
    MADE_IN_A_TEST.append(smtpunit.Mailer(HOST, 9))
    MADE_IN_A_TEST[0].send_message(message("during"))
    assert [m.subject for m in smtp_outbox.messages] == ["during"]


def test_after_the_test_the_mailers_send_for_real_again(start_server, capsys):
    # The previous tests' outbox is gone: the import-time console mailer prints again,
    # and a mailer made during a test did not keep the double.
    IMPORT_TIME_CONSOLE.send_message(message("printed"))
    assert "Subject: printed" in capsys.readouterr().out
    server = start_server()
    smtpunit.Mailer(HOST, server.port).send_message(message())
    assert len(server.handler.messages) == 1
    with pytest.raises(errors.SMTPTransportError):  # a real attempt (nobody listens on port 9), not an outbox
        MADE_IN_A_TEST[0].send_message(message("after"))


def test_memory_server_catches_an_import_time_unix_socket_mailer(smtp_memory_server):
    IMPORT_TIME_UNIX.send_message(message("unix"))
    asyncio.run(IMPORT_TIME_UNIX.send_message_async(message("unix async")))
    assert [m.recipients for m in smtp_memory_server.messages] == [("b@example.org",)] * 2


def test_closing_a_mailer_never_fails_a_send_of_another_thread(start_server):
    server = start_server()
    mailer = smtpunit.Mailer(HOST, server.port, pool_size=1)
    failures = []

    def send(n):
        try:
            mailer.send_message(message(str(n)))
        except smtpunit.SMTPError as exc:
            failures.append(exc)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for _ in range(20):
        mailer.close()
    for thread in threads:
        thread.join()
    assert failures == [] and len(server.handler.messages) == 8


def test_send_many_of_nothing_connects_nowhere():
    mailer = smtpunit.Mailer(HOST, 9)  # nobody listens there
    assert mailer.send_many([]) == [] and asyncio.run(mailer.send_many_async([])) == []
