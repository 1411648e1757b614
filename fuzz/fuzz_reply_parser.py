"""Coverage-guided fuzzing of the reply parser (atheris, libFuzzer).

Feeds arbitrary bytes, split at arbitrary points, to :class:`smtpunit.core.reply.ReplyParser`
and takes replies until it asks for more. The only exception allowed out is
:class:`smtpunit.errors.SMTPProtocolError`; every reply must obey the grammar
(a code from 200 to 599, lines without CR or LF). Anything else is a crash.

    pip install atheris
    python fuzz/fuzz_reply_parser.py -max_total_time=600 -print_final_stats=1

Any libFuzzer flag works (``-runs=N``, ``-jobs``, a corpus directory).
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    from smtpunit.core.reply import ReplyParser
    from smtpunit.errors import SMTPProtocolError


def check(data: bytes) -> None:
    """One input: the first byte chooses how to split the rest."""
    if not data:
        return
    step = data[0] % 17 + 1
    payload = data[1:]
    parser = ReplyParser(max_line_length=512, max_reply_lines=16)
    try:
        for start in range(0, len(payload), step):
            parser.feed(payload[start : start + step])
            while (reply := parser.next_reply()) is not None:
                if not 200 <= reply.code <= 599 or not reply.lines:
                    raise AssertionError(f"reply out of grammar: {reply!r}")
                if any("\r" in line or "\n" in line for line in reply.lines):
                    raise AssertionError(f"line break inside a reply line: {reply!r}")
                reply.summary()
                _ = reply.enhanced_status
    except SMTPProtocolError:
        pass


def main() -> None:
    atheris.Setup(sys.argv, check)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
