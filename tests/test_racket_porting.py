"""What a Racket user porting net/smtp code meets: replies Racket's reader cannot take."""

from __future__ import annotations

import smtpunit
from smtpunit.testing import Expect, ExpectData, Reply, ScriptedServer, StartTLS


def test_reply_lines_of_just_the_code_are_read_in_every_reply(certs):
    # Racket fails on the last line of this EHLO reply when #:tls-encode is given:
    # it takes the text after "250" and the separator, and there is neither.
    script = [Reply(b"220"), Expect(b"EHLO"), Reply(b"250-scripted.invalid", b"250-STARTTLS", b"250"),
              Expect(b"STARTTLS", exact=True), Reply(b"220"), StartTLS(certs.server_context),
              Expect(b"EHLO"), Reply(b"250"), Expect(b"MAIL FROM:<"), Reply(b"250"), Expect(b"RCPT TO:<"),
              Reply(b"250"), Expect(b"DATA", exact=True), Reply(b"354"), ExpectData(), Reply(b"250"),
              Expect(b"QUIT", exact=True), Reply(b"221")]
    with ScriptedServer(script) as server:
        result = smtpunit.smtp_send_message("127.0.0.1", "a@example.org", ["b@example.org"], "Subject: bare\r\n\r\n",
                                            ["hi"], server.port, tls_encode=certs.client_context())
    assert server.peers[0].secure
    assert server.peers[0].messages == [b"Subject: bare\r\n\r\nhi\r\n"]
    assert (result.reply.code, result.reply.lines) == (250, ("",))
