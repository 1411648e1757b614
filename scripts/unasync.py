"""Generate the blocking driver and session from the asyncio ones.

``smtpunit/drivers/aio.py`` is the one source; ``smtpunit/drivers/blocking.py`` is
what it becomes without ``async`` and ``await``, with its ``Async`` names made
blocking. Run ``python scripts/unasync.py`` after changing the source;
``python scripts/unasync.py --check`` (and ``tests/drivers/test_unasync.py``) fails
if the generated file is stale.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "smtpunit" / "drivers" / "aio.py"
TARGET = ROOT / "smtpunit" / "drivers" / "blocking.py"

DOCSTRING = '''"""The blocking driver and session, generated from :mod:`smtpunit.drivers.aio` by
``scripts/unasync.py``: do not edit, change the asyncio source and run the script.

:class:`Driver` runs a conversation of the sans-IO core over an
:class:`~smtpunit.interfaces.IConnection`, with the same deadlines and the same
errors as the asyncio driver; :class:`Session` is an open connection that sends many
messages.
"""'''

# Whole words, in this order.
NAMES = {
    "AsyncSessionVerbs": "SessionVerbs",
    "AsyncSession": "Session",
    "AsyncDriver": "Driver",
    "IAsyncSession": "ISession",
    "IAsyncConnection": "IConnection",
    "IAsyncTLSUpgrader": "ITLSUpgrader",
    "wrap_async": "wrap",
    "__aenter__": "__enter__",
    "__aexit__": "__exit__",
}
KEYWORDS = [
    (re.compile(r"\basync def\b"), "def"),
    (re.compile(r"\basync with\b"), "with"),
    (re.compile(r"\basync for\b"), "for"),
    (re.compile(r"\bawait "), ""),
]
WORDS = re.compile(r"\b(" + "|".join(map(re.escape, NAMES)) + r")\b")


def unasync(source: str) -> str:
    """``source`` without ``async``/``await``, its asyncio names made blocking."""
    docstring = re.match(r'"""(?:.|\n)*?"""', source)
    if docstring is None:
        raise ValueError("the source must start with its docstring")
    body = source[docstring.end():]
    for pattern, replacement in KEYWORDS:
        body = pattern.sub(replacement, body)
    body = WORDS.sub(lambda match: NAMES[match.group(1)], body)
    header = "# Generated from smtpunit/drivers/aio.py by scripts/unasync.py: do not edit.\n"
    return header + DOCSTRING + body


def main(argv: list[str]) -> int:
    generated = unasync(SOURCE.read_text())
    if "--check" in argv:
        if TARGET.read_text() != generated:
            print(f"{TARGET.relative_to(ROOT)} is stale: run python scripts/unasync.py", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(generated)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
