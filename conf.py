"""Sphinx configuration for TinyTorch, the executable book.

Chapters (milestones/*.md, jupytext MyST) are executed by myst-nb with the reader's own
tinytorch. The execution cache is keyed on a fingerprint of tinytorch, the data and the
harness, so editing tinytorch re-runs the chapters; ``STRICT=1`` forces execution and fails
the build on any missed criterion (see milestones/sphinxext.py).
"""

import shutil
import sys
from pathlib import Path

BOOK_ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(BOOK_ROOT))

from milestones import book  # noqa: E402

try:
    SETTINGS = book.prepare(BOOK_ROOT)
except (FileNotFoundError, ValueError) as error:  # a bad TINYTORCH_SRC or TINYTORCH_JOBS: one line, not a traceback
    from sphinx.errors import ConfigError
    raise ConfigError(f"TinyTorch book: {error}") from None
sys.path.insert(0, str(SETTINGS.tinytorch_root))  # the API page documents the tinytorch under test
book.write_notebooks(BOOK_ROOT)

# The repository setting: the Colab, Binder and repository buttons and the docs point here. None means
# $TINYTORCH_REPOSITORY_URL, else the checkout's `origin` remote when it is on GitHub (so a fork's book
# points at the fork); without a GitHub URL the build warns once and renders no such buttons.
repository_url = None
REPOSITORY, REPOSITORY_NOTE = book.find_repository(BOOK_ROOT, repository_url)
if REPOSITORY is None:
    from sphinx.util import logging as sphinx_logging

    sphinx_logging.getLogger("tinytorch").warning(REPOSITORY_NOTE)

project = "TinyTorch"
author = "The TinyTorch authors"
copyright = "2026, " + author
root_doc = "docs/index"

extensions = ["myst_nb", "sphinx.ext.autodoc", "sphinx.ext.napoleon", "milestones.sphinxext"]
tinytorch_fingerprint = SETTINGS.fingerprint
tinytorch_settings = {"root": str(SETTINGS.tinytorch_root), "fingerprint": SETTINGS.fingerprint,
                      "cache": str(SETTINGS.cache_path)}

exclude_patterns = [
    "_build", ".venv", "**/.ipynb_checkpoints", "**/*.ipynb", "README.md", "data", "tests",
    "tinytorch", ".ci", ".pytest_cache", "**/__pycache__", "Thumbs.db", ".DS_Store",
]
myst_enable_extensions = ["colon_fence", "dollarmath", "deflist", "substitution"]
myst_substitutions = {  # the repository setting, as the docs print it
    "repository": f"<{REPOSITORY.url}> (branch `{REPOSITORY.branch}`)" if REPOSITORY
                  else "not set for this build, so there are no launch buttons",
}
myst_heading_anchors = 3
autodoc_member_order = "bysource"
autodoc_typehints = "description"

# Execution: every chapter runs in a fresh python3 kernel, in parallel before Sphinx reads them
# (milestones/execute.py), into the execution cache of this code's fingerprint, from which the pages
# are rendered. A strict build starts from an empty cache (book.prepare), so every chapter runs.
nb_execution_mode = "cache"
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
html_favicon = "docs/_static/favicon.svg"  # declared, so browsers do not ask the server for /favicon.ico
html_context = {"default_mode": "auto"}  # light/dark as the reader's system says (unset, the theme logs an error)
html_theme_options = {
    "path_to_docs": "",
    "use_download_button": True,
    "show_toc_level": 2,
}
if REPOSITORY:
    html_theme_options |= {
        "repository_url": REPOSITORY.url,
        "repository_branch": REPOSITORY.branch,
        "use_repository_button": True,
        "launch_buttons": {  # both open the chapter's committed .ipynb twin
            "binderhub_url": "https://mybinder.org",
            "colab_url": "https://colab.research.google.com",
            "notebook_interface": "classic",  # tree/<path>: Notebook 7 on mybinder.org
        },
    }

# Maths offline: MathJax 3.2.2 from the pinned django-static-mathjax package (a plain copy of MathJax's
# release), served from the book's own _static/mathjax, so no page loads anything from the network.
import mathjax as mathjax_release  # noqa: E402  (django-static-mathjax; needs no Django)

MATHJAX_RELEASE = Path(mathjax_release.__file__).parent / "static" / "mathjax"
mathjax_path = "mathjax/tex-mml-chtml.js"
MATHJAX_UNUSED = ("tex-chtml*.js", "tex-svg*.js", "tex-mml-svg.js", "mml-*.js", "node-main.js", "latest.js", "svg*")


def copy_mathjax(app, exception) -> None:
    """Copy MathJax's browser build (one combined file, fonts, extensions, accessibility) into _static."""
    if exception is None and app.builder.format == "html":
        target = Path(app.outdir) / "_static" / "mathjax"
        shutil.copytree(MATHJAX_RELEASE / "es5", target, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns(*MATHJAX_UNUSED))
        shutil.copy2(MATHJAX_RELEASE / "LICENSE", target / "LICENSE")


def setup(app):
    app.connect("build-finished", copy_mathjax)
