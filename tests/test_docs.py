"""The documentation names tests that exist: every ``tests/<path>.py::<name>`` in
``docs/*.rst`` and ``README.md`` is a file of tests/ and a test in it (``<name>``
before any ``[``: a parametrized test is named without its parameters), and every
``tests/<path>.py`` a file of tests/."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [*sorted((ROOT / "docs").glob("*.rst")), ROOT / "README.md"]
# A path under the project's tests/ (not some other tests/ directory), then any
# ::Name parts: a test, or a test class and then its test.
REFERENCE = re.compile(r"(?<![\w/.-])(tests/[\w/]+\.py)((?:::\w+)*)")


def references(text: str) -> list[tuple[str, tuple[str, ...]]]:
    """The test references in ``text``: (path, names), in order."""
    return [(match.group(1), tuple(filter(None, match.group(2).split("::")))) for match in REFERENCE.finditer(text)]


def _defined(body: list[ast.stmt]) -> dict[str, ast.stmt]:
    """The names ``body`` defines: functions, classes and assigned names (a hypothesis
    state machine's ``TestCase`` is assigned)."""
    defined: dict[str, ast.stmt] = {}
    for statement in body:
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defined[statement.name] = statement
        elif isinstance(statement, ast.Assign):
            defined.update((target.id, statement) for target in statement.targets if isinstance(target, ast.Name))
    return defined


def missing(path: str, names: tuple[str, ...], root: Path = ROOT) -> str | None:
    """Why ``path::names`` names no test, or None if it does."""
    file = root / path
    if not file.is_file():
        return f"{path}: no such file"
    body: list[ast.stmt] = ast.parse(file.read_text()).body
    for name in names:
        if not name.startswith(("test", "Test")):  # what pytest collects
            return f"{path}::{name}: not a test name"
        found = _defined(body).get(name)
        if found is None:
            return f"{path}::{name}: not defined there"
        body = found.body if isinstance(found, ast.ClassDef) else []
    return None


def all_references() -> list[tuple[str, str, tuple[str, ...]]]:
    return [(document.name, path, names) for document in DOCUMENTS
            for path, names in references(document.read_text())]


def test_the_documents_name_tests():
    assert len([names for _, _, names in all_references() if names]) > 50  # the pattern finds them


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda document: document.name)
def test_every_test_a_document_names_exists(document):
    broken = [why for path, names in references(document.read_text()) if (why := missing(path, names))]
    assert broken == []


def test_references_are_found_as_written():
    text = ("``tests/drivers/test_fault_matrix.py::test_fault_at_phase[one-shot]``, see tests/test_layout.py;"
            " not fuzz/tests/x.py. tests/drivers/test_stateful.py::TestChaos::test_step")
    assert references(text) == [("tests/drivers/test_fault_matrix.py", ("test_fault_at_phase",)),
                                ("tests/test_layout.py", ()),
                                ("tests/drivers/test_stateful.py", ("TestChaos", "test_step"))]


def test_a_stale_reference_is_reported(tmp_path):
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_x.py").write_text(
        "def test_a(): pass\ndef helper(): pass\nclass TestB:\n    def test_c(self): pass\nTestD = object\n")
    assert missing("tests/test_x.py", ("test_a",), tmp_path) is None
    assert missing("tests/test_x.py", ("TestB", "test_c"), tmp_path) is None
    assert missing("tests/test_x.py", ("TestD",), tmp_path) is None
    assert missing("tests/test_x.py", (), tmp_path) is None
    assert missing("tests/test_y.py", ("test_a",), tmp_path) == "tests/test_y.py: no such file"
    assert missing("tests/test_x.py", ("test_b",), tmp_path) == "tests/test_x.py::test_b: not defined there"
    assert missing("tests/test_x.py", ("TestB", "test_a"), tmp_path) == "tests/test_x.py::test_a: not defined there"
    assert missing("tests/test_x.py", ("helper",), tmp_path) == "tests/test_x.py::helper: not a test name"
