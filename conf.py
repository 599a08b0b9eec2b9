"""Sphinx configuration for TinyTorch, the executable book.

Chapters (milestones/*.md, jupytext MyST) are executed by myst-nb with the reader's own
tinytorch. The execution cache is keyed on a fingerprint of tinytorch, the data and the
harness, so editing tinytorch re-runs the chapters; ``STRICT=1`` forces execution and fails
the build on any missed criterion (see milestones/sphinxext.py).
"""

import sys
from pathlib import Path

BOOK_ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(BOOK_ROOT))

from milestones import book  # noqa: E402

SETTINGS = book.prepare(BOOK_ROOT)
sys.path.insert(0, str(SETTINGS.tinytorch_root))  # the API page documents the tinytorch under test
REPOSITORY_URL = book.REPOSITORY_URL
book.write_notebooks(BOOK_ROOT)

project = "TinyTorch"
author = "The TinyTorch authors"
copyright = "2026, " + author
root_doc = "docs/index"

extensions = ["myst_nb", "sphinx.ext.autodoc", "sphinx.ext.napoleon", "milestones.sphinxext"]
tinytorch_fingerprint = SETTINGS.fingerprint
tinytorch_settings = {"root": str(SETTINGS.tinytorch_root), "fingerprint": SETTINGS.fingerprint}

exclude_patterns = [
    "_build", ".venv", "**/.ipynb_checkpoints", "**/*.ipynb", "README.md", "data", "tests",
    "tinytorch", ".ci", ".pytest_cache", "**/__pycache__", "Thumbs.db", ".DS_Store",
]
myst_enable_extensions = ["colon_fence", "dollarmath", "deflist"]
myst_heading_anchors = 3
autodoc_member_order = "bysource"
autodoc_typehints = "description"

# Execution: every chapter runs in a fresh python3 kernel.
nb_execution_mode = "force" if SETTINGS.strict else "cache"
nb_execution_cache_path = str(SETTINGS.cache_path)
nb_execution_timeout = 600
nb_execution_raise_on_error = False  # the verdict names every failure at the end instead
nb_execution_allow_errors = True  # the judge turns a cell's exception into a verdict and skips the rest of its part
nb_execution_show_tb = SETTINGS.verbose  # tracebacks go to _build/execution.log; VERBOSE=1 prints them too
suppress_warnings = [] if SETTINGS.verbose else ["mystnb.exec"]  # our one-line chapter report replaces it
nb_merge_streams = True

html_theme = "sphinx_book_theme"
html_title = "TinyTorch: the executable book"
html_static_path = ["docs/_static"]
html_css_files = ["tinytorch.css"]
html_theme_options = {
    "repository_url": REPOSITORY_URL,
    "repository_branch": "main",
    "path_to_docs": "",
    "use_repository_button": True,
    "use_download_button": True,
    "launch_buttons": {
        "binderhub_url": "https://mybinder.org",
        "colab_url": "https://colab.research.google.com",
        "notebook_interface": "classic",
    },
    "show_toc_level": 2,
}
