"""The package's shape: no import cycle (imports inside functions included), a small
root, and the layers importing downwards only."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import smtpunit

PACKAGE = Path(smtpunit.__file__).resolve().parent


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}


def _type_checking_only(tree: ast.AST) -> set[int]:
    """The nodes under ``if TYPE_CHECKING:``, which never run."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(inner) for inner in ast.walk(node))
    return skipped


def imported_modules(name: str, source: str, is_package: bool) -> set[str]:
    """The smtpunit modules ``source`` imports anywhere: at the top, in functions, in
    methods (not under ``if TYPE_CHECKING:``)."""
    tree = ast.parse(source)
    skipped = _type_checking_only(tree)
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = name.split(".") if is_package else name.split(".")[:-1]
                package = package[: len(package) - (node.level - 1)]
                base = ".".join(package + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.add(submodule if submodule in MODULES else base)
    found = {module for module in found if module in MODULES}
    # Importing a module runs its packages' __init__ first: those are imported too,
    # except the importer's own packages (already being imported when it runs).
    own = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1 + is_package)}
    packages = {".".join(module.split(".")[:i]) for module in found for i in range(1, module.count(".") + 1)}
    return (found | packages) - own - {name}


def import_graph() -> dict[str, set[str]]:
    return {name: imported_modules(name, path.read_text(), path.name == "__init__.py")
            for name, path in MODULES.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for successor in sorted(graph[node]):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_module_takes_part_in_an_import_cycle():
    assert cycles(import_graph()) == []


def test_the_cycle_finder_sees_imports_inside_functions():
    graph = {"a": imported_modules("smtpunit.errors", "def f():\n    from .smtp import x\n", False),
             "b": set()}
    assert graph["a"] == {"smtpunit.smtp"}
    # and the package of a module imported from another package
    assert imported_modules("smtpunit.drivers.session", "from ..units.contract import x\n", False) == {
        "smtpunit.units", "smtpunit.units.contract"}
    assert cycles({"smtpunit.a": {"smtpunit.b"}, "smtpunit.b": {"smtpunit.a"}}) == [["smtpunit.a", "smtpunit.b"]]


def test_type_checking_imports_do_not_count():
    source = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .smtp import x\n"
    assert imported_modules("smtpunit.errors", source, False) == set()


def test_at_most_a_dozen_modules_at_the_root():
    root = sorted(path.name for path in PACKAGE.glob("*.py"))
    assert len(root) <= 12, root


LAYERS = {
    # a module of the left layer never imports one of the right ones
    "smtpunit.core": ("smtpunit.drivers", "smtpunit.units", "smtpunit.providers", "smtpunit.testing",
                      "smtpunit.cli", "smtpunit.smtp", "smtpunit.aio", "smtpunit.pool", "smtpunit.options"),
    "smtpunit.drivers": ("smtpunit.units.builtin", "smtpunit.units.lookup", "smtpunit.units.smtp_unit",
                         "smtpunit.testing", "smtpunit.cli", "smtpunit.smtp", "smtpunit.aio", "smtpunit.pool"),
    "smtpunit.providers": ("smtpunit.testing", "smtpunit.cli", "smtpunit.smtp", "smtpunit.aio", "smtpunit.pool"),
    "smtpunit.units": ("smtpunit.testing", "smtpunit.cli", "smtpunit.smtp", "smtpunit.aio", "smtpunit.pool"),
}


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_a_layer_imports_only_the_layers_below_it(layer):
    graph = import_graph()
    upward = sorted((module, imported) for module, imports in graph.items()
                    if module == layer or module.startswith(layer + ".")
                    for imported in imports
                    if any(imported == above or imported.startswith(above + ".") for above in LAYERS[layer]))
    assert upward == []
