"""Small fixes to how the smtpunit API reads in Sphinx.

* Signatures that name an interface in an annotation (``-> IConnection``) show the
  interface's dotted name instead of its repr, ``<InterfaceClass …>``.
* A ``:param name_:`` field keeps its trailing underscore (``from_``) instead of
  being read as a reST reference.
* A class that implements interfaces says so, with links to them.
* A cross-reference to a name a module imports (``:class:`IConnection``` in
  :mod:`smtpunit.providers.tcp`, ``:func:`link``` in :mod:`smtpunit`) resolves to
  where that object is documented, under the module that defines it.
"""

from __future__ import annotations

import importlib
import re
from typing import Any, Optional

from docutils import nodes
from sphinx.addnodes import pending_xref
from sphinx.util.nodes import make_refnode

_INTERFACE_REPR = re.compile(r"<InterfaceClass ([\w.]+)>")


def _clean_signature(app, what, name, obj, options, signature, return_annotation):  # type: ignore[no-untyped-def]
    if signature:
        signature = _INTERFACE_REPR.sub(r"\1", signature)
    if return_annotation:
        return_annotation = _INTERFACE_REPR.sub(r"\1", return_annotation)
    return signature, return_annotation


_TRAILING_UNDERSCORE_FIELD = re.compile(r"^(\s*:(?:param|ivar|var|type)\s+(?:\S+\s+)?)(\w+)_:")


def _process_docstring(app, what, name, obj, options, lines):  # type: ignore[no-untyped-def]
    for index, line in enumerate(lines):
        lines[index] = _TRAILING_UNDERSCORE_FIELD.sub(r"\1\2\\_:", line)
    if what == "class" and isinstance(obj, type):
        from zope.interface import implementedBy

        declared = list(implementedBy(obj).declared)
        if declared:
            names = ", ".join(f":class:`~{i.__module__}.{i.__name__}`" for i in declared)
            lines.extend(["", f"Implements {names}."])


def _defining_name(module_name: str, target: str) -> Optional[str]:
    """The dotted name under which ``target``, as seen from ``module_name``, is defined."""
    if not module_name.startswith("smtpunit"):
        return None
    try:
        obj: Any = importlib.import_module(module_name)
        for part in target.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError):
        return None
    owner = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
    if not owner or not qualname:
        return None
    return f"{owner}.{qualname}"


def _resolve_reexport(app, env, node: pending_xref, contnode: nodes.Element):  # type: ignore[no-untyped-def]
    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"]
    candidates = [node.get("py:module") or "", "smtpunit"]
    if "." in target:
        head, _, tail = target.rpartition(".")
        candidates.append(head)
        target_in = {head: tail}
    else:
        target_in = {}
    domain = env.get_domain("py")
    for module_name in candidates:
        if not module_name:
            continue
        name = _defining_name(module_name, target_in.get(module_name, target))
        if name and name in domain.objects:
            entry = domain.objects[name]
            return make_refnode(app.builder, node["refdoc"], entry.docname, entry.node_id, contnode, name)
    return None


def setup(app):  # type: ignore[no-untyped-def]
    app.connect("autodoc-process-signature", _clean_signature)
    app.connect("autodoc-process-docstring", _process_docstring)
    app.connect("missing-reference", _resolve_reexport)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
