"""Sphinx configuration for the smtpunit documentation.

Build with::

    sphinx-build -W --keep-going -b html docs docs/_build/html
"""

from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # the smtpunit package
sys.path.insert(0, os.path.join(HERE, "_ext"))  # local extensions

import smtpunit  # noqa: E402

project = "smtpunit"
author = "the smtpunit authors"
copyright = "the smtpunit authors"
version = release = smtpunit.__version__

extensions = [
    "sphinx.ext.autodoc",
    "zope_interfaces",  # docs/_ext/zope_interfaces.py: the autointerface directive
    "smtpunit_refs",  # docs/_ext/smtpunit_refs.py: interface names, re-exported names
]

exclude_patterns = ["_build"]
templates_path: list[str] = []

primary_domain = "py"

autodoc_member_order = "bysource"
autodoc_typehints = "signature"

html_theme = "alabaster"
html_title = f"smtpunit {release}"
html_static_path: list[str] = []
html_theme_options = {
    "description": "Racket's net/smtp for Python, as pluggable units",
    "fixed_sidebar": True,
}
