"""The tutorial's code runs as written (docs/tutorial.rst)."""

from __future__ import annotations

import re
from pathlib import Path

pytest_plugins = ["pytester"]

TUTORIAL = Path(__file__).resolve().parent.parent / "docs" / "tutorial.rst"


def blocks() -> list[str]:
    found = re.findall(r"\.\. code-block:: python\n\n((?:   .*\n|\n)+)", TUTORIAL.read_text())
    return ["\n".join(line[3:] for line in block.split("\n")) for block in found]


def test_the_first_three_steps_run(capsys):
    namespace: dict = {}
    exec(compile("\n".join(blocks()[:3]), str(TUTORIAL), "exec"), namespace)
    printed = capsys.readouterr().out
    assert "('bob@example.org',)" in printed and "['SendResult', 'RecipientsRefused', 'SendResult']" in printed
    assert printed.rstrip().endswith("2")


def test_the_outbox_step_passes_under_pytest(pytester):
    pytester.makepyfile(test_notify=blocks()[3])
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=2)
