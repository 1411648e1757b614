"""Small fixes to how the smtpunit API reads in Sphinx.

* Signatures that name an interface in an annotation (``-> IConnection``) show the
  interface's dotted name instead of its repr, ``<InterfaceClass …>``.
* A ``:param name_:`` field keeps its trailing underscore (``from_``) instead of
  being read as a reST reference.
* A class that implements interfaces says so, with links to them.
* A cross-reference to a name a module imports (``:class:`IConnection``` in
  :mod:`smtpunit.providers.tcp`, ``:func:`link``` in :mod:`smtpunit`,
  ``:data:`smtpunit.current_registry```) resolves to where that object is
  documented, under the module that defines it.
* A bare name in an annotation or a reference that several documented objects
  share (``Reply``: :class:`smtpunit.core.reply.Reply`, the parsed reply, and
  :class:`smtpunit.testing.scripted.Reply`, a script step) resolves to what the
  name means in the referring module; failing that (a name imported only for type
  checking), a module outside :mod:`smtpunit.testing` never means a test double.
"""

from __future__ import annotations

import importlib
import re
from typing import Any, Optional

from docutils import nodes
from sphinx.addnodes import pending_xref
from sphinx.transforms.post_transforms import SphinxPostTransform
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


def _lookup(module_name: str, target: str) -> Any:
    """The object ``target`` names as seen from ``module_name``, or ``_MISSING``."""
    try:
        obj: Any = importlib.import_module(module_name)
        for part in target.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError):
        return _MISSING
    return obj


_MISSING = object()


def _documented_as(objects: Any, module_name: str, target: str) -> Optional[str]:
    """For a value without ``__module__`` (a tuple, a Parameter): the documented name,
    under another smtpunit module, of the very same object."""
    value = _lookup(module_name, target)
    if value is _MISSING or hasattr(value, "__qualname__"):
        return None
    last = target.rpartition(".")[2]
    for name in objects:
        owner, _, attribute = name.rpartition(".")
        if attribute == last and owner.startswith("smtpunit") and _lookup(owner, attribute) is value:
            return str(name)
    return None


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
        if not module_name or not module_name.startswith("smtpunit"):
            continue
        local = target_in.get(module_name, target)
        name = _defining_name(module_name, local) or _documented_as(domain.objects, module_name, local)
        if name and name in domain.objects:
            entry = domain.objects[name]
            return make_refnode(app.builder, node["refdoc"], entry.docname, entry.node_id, contnode, name)
    return None


class _DisambiguateBareNames(SphinxPostTransform):
    """Give an ambiguous bare target its full name before references are resolved
    (the resolver runs at priority 10 and would warn: "more than one target found")."""

    default_priority = 5

    def run(self, **kwargs: Any) -> None:
        domain = self.env.get_domain("py")
        objects = domain.objects
        for node in self.document.findall(pending_xref):
            if node.get("refdomain") != "py":
                continue
            target = node["reftarget"]
            module_name = node.get("py:module") or ""
            if "." in target or not module_name.startswith("smtpunit") or f"{module_name}.{target}" in objects:
                continue
            candidates = [name for name in objects if name.endswith("." + target)]
            if len(candidates) < 2:
                continue
            chosen = _defining_name(module_name, target)
            if chosen not in objects:
                if not module_name.startswith("smtpunit.testing"):
                    candidates = [c for c in candidates if not c.startswith("smtpunit.testing")]
                chosen = candidates[0] if len(candidates) == 1 else None
            if chosen:
                node["reftarget"] = chosen
                node["refspecific"] = False


def setup(app):  # type: ignore[no-untyped-def]
    app.add_post_transform(_DisambiguateBareNames)
    app.connect("autodoc-process-signature", _clean_signature)
    app.connect("autodoc-process-docstring", _process_docstring)
    app.connect("missing-reference", _resolve_reexport)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
