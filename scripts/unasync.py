"""Generate the blocking driver and session from the asyncio ones.

``smtpunit/drivers/aio.py`` is the one source; ``smtpunit/drivers/blocking.py`` is
what it becomes without ``async`` and ``await``, with its ``Async`` names made
blocking. Run ``python scripts/unasync.py`` after changing the source;
``python scripts/unasync.py --check`` (and ``tests/drivers/test_unasync.py``) fails
if the generated file is stale.

The source is read as tokens, and only these are changed, in place (the rest of the
text, its layout and its comments, is kept as it is):

* code (``NAME`` tokens): ``async`` before ``def``/``with``/``for`` and ``await`` go,
  with the space after them; the names of :data:`NAMES` are renamed;
* strings (docstrings included; an f-string is one string, its expressions too): the
  names of :data:`NAMES`, as whole words, and the module path ``smtpunit.drivers.aio``
  are renamed; the words "async" and "await" stay;
* the module's docstring is replaced by :data:`DOCSTRING`.

The generated code is refused (:class:`UnasyncError`) if anything asynchronous is left
in it: an ``async``/``await`` the rules above did not remove, ``asyncio``, a name
starting with ``Async`` or ``IAsync`` that :data:`NAMES` does not rename, an
asynchronous dunder. An ``await asyncio.sleep(1)`` in the source must not become a
coroutine that is never awaited.
"""

from __future__ import annotations

import ast
import io
import re
import sys
import tokenize
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "smtpunit" / "drivers" / "aio.py"
TARGET = ROOT / "smtpunit" / "drivers" / "blocking.py"

HEADER = "# Generated from smtpunit/drivers/aio.py by scripts/unasync.py: do not edit.\n"
DOCSTRING = '''"""The blocking driver and session, generated from :mod:`smtpunit.drivers.aio` by
``scripts/unasync.py``: do not edit, change the asyncio source and run the script.

:class:`Driver` runs a conversation of the sans-IO core over an
:class:`~smtpunit.interfaces.IConnection`, with the same deadlines and the same
errors as the asyncio driver; :class:`Session` is an open connection that sends many
messages.
"""'''

# Exact names (a NAME token, or a whole word in a string): their blocking names.
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
# Module paths, renamed in strings only (the code imports neither driver).
MODULES = {"smtpunit.drivers.aio": "smtpunit.drivers.blocking"}
# ``async`` is dropped before these keywords only; ``await`` always.
ASYNC_STATEMENTS = frozenset({"def", "with", "for"})
# Names the generated code must not contain, and prefixes no name may start with.
FORBIDDEN_NAMES = frozenset({"async", "await", "asyncio", "__aenter__", "__aexit__", "__aiter__", "__anext__"})
FORBIDDEN_PREFIXES = ("Async", "IAsync")

_IN_STRINGS = {**NAMES, **MODULES}
_IN_STRINGS_WORDS = re.compile(r"\b(" + "|".join(map(re.escape, _IN_STRINGS)) + r")\b")
# From Python 3.12 an f-string is many tokens (its expressions are tokens of code).
_FSTRING_START = getattr(tokenize, "FSTRING_START", None)
_FSTRING_END = getattr(tokenize, "FSTRING_END", None)


class UnasyncError(ValueError):
    """The source cannot be made blocking: something asynchronous would be left."""


def _tokens(source: str) -> tuple[list[tokenize.TokenInfo], list[int]]:
    """The tokens of ``source``, and the offset in it where each line starts (the
    lines as ``tokenize`` counts them, from 1).

    An f-string is one ``STRING`` token, as before Python 3.12, so that every Python
    makes the same file of the same source."""
    starts = [0, 0]
    for line in io.StringIO(source).readlines():
        starts.append(starts[-1] + len(line))
    tokens: list[tokenize.TokenInfo] = []
    depth = 0  # of f-strings nested in f-strings
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == _FSTRING_START:
            depth += 1
            if depth == 1:
                first = token
        elif token.type == _FSTRING_END:
            depth -= 1
            if depth == 0:
                text = source[starts[first.start[0]] + first.start[1]:starts[token.end[0]] + token.end[1]]
                tokens.append(tokenize.TokenInfo(tokenize.STRING, text, first.start, token.end, first.line))
        elif depth == 0:
            tokens.append(token)
    return tokens, starts


def _after_spaces(source: str, offset: int) -> int:
    """The offset of the first character at or after ``offset`` that is not a space."""
    while source[offset:offset + 1] in (" ", "\t"):
        offset += 1
    return offset


def _rename_in_string(text: str) -> str:
    """``text`` (a string's source) with the exact names and module paths renamed."""
    return _IN_STRINGS_WORDS.sub(lambda match: _IN_STRINGS[match.group(1)], text)


def _edits(source: str) -> Iterator[tuple[int, int, str]]:
    """The changes to make: (start, end, replacement), offsets into ``source``, in order."""
    tokens, starts = _tokens(source)
    significant = [token for token in tokens
                   if token.type not in (tokenize.ENCODING, tokenize.COMMENT, tokenize.NL)]
    if not significant or significant[0].type != tokenize.STRING:
        raise UnasyncError("the source must start with its docstring")
    docstring = significant[0]
    yield 0, starts[docstring.end[0]] + docstring.end[1], HEADER + DOCSTRING
    # Every token but the docstring and the ENDMARKER, with the one after it.
    for token, following in zip(significant[1:-1], significant[2:], strict=True):
        start = starts[token.start[0]] + token.start[1]
        end = starts[token.end[0]] + token.end[1]
        if token.type == tokenize.NAME:
            if token.string == "await" or (token.string == "async" and following.string in ASYNC_STATEMENTS):
                yield start, _after_spaces(source, end), ""
            elif token.string in NAMES:
                yield start, end, NAMES[token.string]
        elif token.type == tokenize.STRING:
            renamed = _rename_in_string(source[start:end])
            if renamed != source[start:end]:
                yield start, end, renamed


def _asynchronous_leftovers(code: str) -> list[str]:
    """What is still asynchronous in ``code``, as ``line:column name`` descriptions."""
    tokens, _ = _tokens(code)
    found = [f"{token.start[0]}:{token.start[1]} {token.string}" for token in tokens
             if token.type == tokenize.NAME
             and (token.string in FORBIDDEN_NAMES or token.string.startswith(FORBIDDEN_PREFIXES))]
    # The expressions inside f-strings are in STRING tokens: the tree sees them.
    found += [f"{node.lineno}:{node.col_offset} {type(node).__name__}" for node in ast.walk(ast.parse(code))
              if isinstance(node, (ast.Await, ast.AsyncFunctionDef, ast.AsyncWith, ast.AsyncFor))]
    return found


def unasync(source: str) -> str:
    """``source`` without ``async``/``await``, its asyncio names made blocking.

    :raises UnasyncError: the source does not start with its docstring, or the result
        would still be asynchronous (see the module's docstring).
    """
    pieces: list[str] = []
    done = 0
    for start, end, replacement in _edits(source):
        pieces += [source[done:start], replacement]
        done = end
    code = "".join(pieces) + source[done:]
    leftovers = _asynchronous_leftovers(code)
    if leftovers:
        raise UnasyncError("the generated code would still be asynchronous (line:column in it): "
                           + ", ".join(leftovers))
    return code


def main(argv: list[str]) -> int:
    """Write the blocking driver (``--check``: only compare). 0: done or up to date;
    1: stale; 2: the source cannot be made blocking."""
    try:
        generated = unasync(SOURCE.read_text())
    except UnasyncError as exc:
        print(f"{SOURCE.relative_to(ROOT)}: {exc}", file=sys.stderr)
        return 2
    if "--check" in argv:
        if TARGET.read_text() != generated:
            print(f"{TARGET.relative_to(ROOT)} is stale: run python scripts/unasync.py", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(generated)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
