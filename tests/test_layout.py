"""The package's shape: no import cycle (imports inside functions included), a small
root, the layers importing downwards only, and the tests laid out as the package."""

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
    """The nodes in the body of ``if TYPE_CHECKING:``, which never runs (its ``else:``
    branch always does)."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
            skipped.update(id(inner) for statement in node.body for inner in ast.walk(statement))
    return skipped


def _packages_of(module: str) -> set[str]:
    """The packages ``module`` is in: ``a.b.c`` is in ``a`` and ``a.b``."""
    parts = module.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts))}


def imported_modules(name: str, source: str, is_package: bool) -> set[str]:
    """The smtpunit modules ``source`` imports anywhere: at the top, in functions, in
    methods (not in the body of ``if TYPE_CHECKING:``).

    What an import names always counts (``from smtpunit import Pool`` imports
    ``smtpunit``, whoever does it); so do the packages of what it names, whose
    ``__init__`` runs first, except the importer's own packages, already being imported
    when it runs."""
    tree = ast.parse(source)
    skipped = _type_checking_only(tree)
    named: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            named.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = name.split(".") if is_package else name.split(".")[:-1]
                package = package[: len(package) - (node.level - 1)]
                base = ".".join(package + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                named.add(submodule if submodule in MODULES else base)
    named = {module for module in named if module in MODULES}
    packages = set().union(*map(_packages_of, named)) - _packages_of(name)
    return (named | packages) - {name}


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


def test_an_import_of_the_importers_own_package_counts():
    # the root: the facade, which imports everything
    assert imported_modules("smtpunit.core.state", "from smtpunit import Pool\n", False) == {"smtpunit"}
    assert imported_modules("smtpunit.core.state", "from .. import Pool\n", False) == {"smtpunit"}
    assert imported_modules("smtpunit.units.lookup", "import smtpunit.units\n", False) == {"smtpunit.units"}
    # but not the packages on the way to a module, already being imported
    assert imported_modules("smtpunit.core.state", "from .. import errors\n", False) == {"smtpunit.errors"}
    assert imported_modules("smtpunit.core.state", "import smtpunit.core.reply\n", False) == {
        "smtpunit.core.reply"}


def test_type_checking_imports_do_not_count():
    source = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .smtp import x\n"
    assert imported_modules("smtpunit.errors", source, False) == set()


def test_the_else_of_type_checking_counts():
    source = "if TYPE_CHECKING:\n    from .smtp import x\nelse:\n    from .pool import x\n"
    assert imported_modules("smtpunit.errors", source, False) == {"smtpunit.pool"}
    source = "if not typing.TYPE_CHECKING:\n    from .smtp import x\n"
    assert imported_modules("smtpunit.errors", source, False) == {"smtpunit.smtp"}


def test_at_most_a_dozen_modules_at_the_root():
    root = sorted(path.name for path in PACKAGE.glob("*.py"))
    assert len(root) <= 12, root


# The root modules every layer but the core may use: errors, signatures, options.
SUPPORT = ("smtpunit.errors", "smtpunit.interfaces", "smtpunit.options")
LAYERS = {
    # a module of the layer (the longest key it is in) imports, besides its own layer,
    # only these modules and packages (and the packages on the way to them)
    "smtpunit.core": ("smtpunit.errors", "smtpunit.interfaces"),
    "smtpunit.drivers": ("smtpunit.core", *SUPPORT),
    # the mail contract every provider serves, the session verbs over the drivers
    "smtpunit.units.contract": ("smtpunit.drivers", "smtpunit.core", *SUPPORT),
    # a transport, TLS or SASL provider, or a whole mail provider (sendmail) built on
    # the mail contract: nothing else of the units, and no driver of its own
    "smtpunit.providers": ("smtpunit.units.contract", "smtpunit.core", *SUPPORT),
    "smtpunit.units": ("smtpunit.providers", "smtpunit.drivers", "smtpunit.core", *SUPPORT),
    # the facade, each module on its own (testing and cli, on top, may use anything)
    **{facade: ("smtpunit.units", "smtpunit.providers", "smtpunit.drivers", "smtpunit.core", *SUPPORT)
       for facade in ("smtpunit.smtp", "smtpunit.aio", "smtpunit.pool")},
    # the configured mailer sends over a pool
    "smtpunit.mailer": ("smtpunit.pool", "smtpunit.units", "smtpunit.providers", "smtpunit.drivers",
                        "smtpunit.core", *SUPPORT),
}


def _is_in(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def layer_of(module: str) -> str | None:
    """The innermost layer ``module`` is in, if any."""
    return max((layer for layer in LAYERS if _is_in(module, layer)), key=len, default=None)


def may_import(layer: str, module: str) -> bool:
    """Whether a module of ``layer`` may import ``module``."""
    allowed = (layer, *LAYERS[layer])
    return (any(_is_in(module, below) for below in allowed)
            or any(below.startswith(module + ".") and module != "smtpunit" for below in allowed))


def test_the_layers_are_checked_as_stated():
    assert layer_of("smtpunit.units.contract") == "smtpunit.units.contract"
    assert layer_of("smtpunit.units.lookup") == "smtpunit.units"
    assert may_import("smtpunit.providers", "smtpunit.units.contract")
    assert may_import("smtpunit.providers", "smtpunit.units")  # its package, on the way
    assert not may_import("smtpunit.providers", "smtpunit.units.lookup")
    assert not may_import("smtpunit.providers", "smtpunit.drivers.blocking")
    assert not may_import("smtpunit.units.contract", "smtpunit.units.lookup")
    assert not may_import("smtpunit.core", "smtpunit")
    assert not may_import("smtpunit.core", "smtpunit.options")


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_a_layer_imports_only_the_layers_below_it(layer):
    upward = sorted((module, imported) for module, imports in import_graph().items() if layer_of(module) == layer
                    for imported in imports if not may_import(layer, imported))
    assert upward == []


def test_every_layer_has_modules():
    assert all(any(layer_of(module) == layer for module in MODULES) for layer in LAYERS)


TESTS = Path(__file__).resolve().parent
# Subpackages of smtpunit whose tests are all elsewhere (none today): each is named.
WITHOUT_TESTS: frozenset[str] = frozenset()


def test_the_tests_mirror_the_package():
    """tests/core holds the tests of smtpunit.core, and so on: every test directory is a
    subpackage of smtpunit, every subpackage has one."""
    subpackages = {path.parent.name for path in PACKAGE.glob("*/__init__.py")}
    test_directories = {path.name for path in TESTS.iterdir()
                        if path.is_dir() and not path.name.startswith(("_", "."))}
    assert test_directories - subpackages == set(), "test directories that are no subpackage of smtpunit"
    assert subpackages - WITHOUT_TESTS - test_directories == set(), "subpackages with no test directory"
    assert WITHOUT_TESTS <= subpackages - test_directories, "WITHOUT_TESTS is stale"
    assert [name for name in test_directories if not any((TESTS / name).glob("test_*.py"))] == []
