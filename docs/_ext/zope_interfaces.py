"""``.. autointerface:: dotted.name``: document a ``zope.interface`` interface.

autodoc does not recognise :class:`zope.interface.interface.InterfaceClass`
objects (they are not classes), so this directive writes the reST itself: a
``py:class`` for the interface with its docstring, its bases, one
``py:attribute`` per :class:`zope.interface.Attribute`, one ``py:method`` per
method (signature from the interface), and its invariants.
"""

from __future__ import annotations

import importlib
import inspect

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective
from zope.interface.interface import InterfaceClass, Method


def _import(dotted: str) -> InterfaceClass:
    module_name, _, name = dotted.rpartition(".")
    obj = getattr(importlib.import_module(module_name), name)
    if not isinstance(obj, InterfaceClass):
        raise TypeError(f"{dotted} is not a zope.interface interface")
    return obj


def _indent(text: str, prefix: str) -> list[str]:
    return [prefix + line if line else "" for line in inspect.cleandoc(text).splitlines()]


class AutoInterface(SphinxDirective):
    required_arguments = 1
    has_content = False

    def run(self) -> list[nodes.Node]:
        dotted = self.arguments[0]
        iface = _import(dotted)
        self.env.note_dependency(inspect.getsourcefile(importlib.import_module(iface.__module__)) or "")
        lines = [f".. py:class:: {iface.__name__}", f"   :module: {iface.__module__}", ""]
        bases = [b for b in iface.__bases__ if b.__name__ != "Interface"]
        if bases:
            names = ", ".join(f":class:`~{b.__module__}.{b.__name__}`" for b in bases)
            lines += [f"   Extends {names}.", ""]
        if iface.__doc__:
            lines += _indent(iface.__doc__, "   ") + [""]
        lines += [
            f"   A ``zope.interface`` interface: providers declare it with"
            f" ``@implementer({iface.__name__})``, and"
            f" ``verifyObject({iface.__name__}, provider)`` checks them.",
            "",
        ]
        for name in iface.names():  # definition order
            member = iface[name]
            if isinstance(member, Method):
                lines.append(f"   .. py:method:: {name}{member.getSignatureString()}")
            else:
                lines.append(f"   .. py:attribute:: {name}")
            lines.append("")
            if member.__doc__:
                lines += _indent(member.__doc__, "      ") + [""]
        invariants = iface.queryTaggedValue("invariants") or []
        if invariants:
            lines.append("   Invariants (checked by :func:`smtpunit.units.linking.link`):")
            lines.append("")
            for check in invariants:
                doc = inspect.getdoc(check)
                summary = doc.splitlines()[0] if doc else check.__name__.strip("_").replace("_", " ")
                lines.append(f"   * {summary}")
            lines.append("")
        content = StringList(lines, source=f"<autointerface {dotted}>")
        node = nodes.section()
        node.document = self.state.document
        self.state.nested_parse(content, self.content_offset, node)
        return node.children


def setup(app):  # type: ignore[no-untyped-def]
    app.add_directive("autointerface", AutoInterface)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
