"""Sphinx configuration of the API reference: ``sphinx-build -W -b html docs docs/_build/html``."""

import os
import sys

sys.path.insert(0, os.path.abspath(".."))

import rmsjax  # noqa: E402

project = "rmsjax"
copyright = "the rmsjax authors"
release = rmsjax.__version__
extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.mathjax"]
exclude_patterns = ["_build"]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
# furo: maintained, and its article column widened by _static/wide.css so code shows at full width
# (the theme and Sphinx are the `docs` extra of pyproject.toml).
html_theme = "furo"
html_title = f"rmsjax {release}"
html_static_path = ["_static"]
html_css_files = ["wide.css"]
nitpicky = False
