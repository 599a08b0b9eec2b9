"""Launching the book: the repository setting, Binder's configuration and the Colab set-up cell.

- The repository setting (milestones/book.py): $TINYTORCH_REPOSITORY_URL, conf.py, or the
  checkout's GitHub origin; without one the build warns once and renders no buttons.
- Binder: repo2docker's own dry run (no Docker) picks the pinned Python, the pinned
  requirements with the project installed, and postBuild.
- Colab: a chapter's committed twin runs top to bottom in a fresh virtual environment with
  Colab simulated (a fake ``google.colab``, Colab's session list served locally, and git
  sending the fork's GitHub URL to a local clone of this working tree).
"""

from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import nbformat
import pytest
from milestones.tools.bookbuild import ROOT, build, copy_book

from milestones import book, registry

FORK = "https://github.com/tinytorch-fork/tinytorch"
BIN = Path(sys.executable).parent


# ---------------------------------------------------------------- the repository setting

@pytest.mark.parametrize("text", ["https://github.com/fork/tiny-torch", "https://github.com/fork/tiny-torch.git",
                                  "https://github.com/fork/tiny-torch/", "http://www.github.com/fork/tiny-torch",
                                  "git@github.com:fork/tiny-torch.git", "ssh://git@github.com/fork/tiny-torch.git",
                                  "git@github.com:fork/tiny-torch"])
def test_github_urls_in_https_or_ssh_form_normalise_to_one_https_url(text):
    assert book.github_url(text) == "https://github.com/fork/tiny-torch"


@pytest.mark.parametrize("text", ["https://gitlab.com/fork/tiny", "file:///srv/tiny.git", "/srv/tiny",
                                  "https://github.com/fork", "https://github.com/fork/tiny/tree/main"])
def test_other_urls_are_not_github_repositories(text):
    assert book.github_url(text) is None


def git(*args: str, cwd: Path) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def checkout_with_origin(folder: Path, origin: str | None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    git("init", "-q", cwd=folder)
    if origin:
        git("remote", "add", "origin", origin, cwd=folder)
    return folder


def test_a_forks_origin_is_the_default_and_the_environment_or_conf_override_it(tmp_path, monkeypatch):
    monkeypatch.delenv(book.REPOSITORY_ENV, raising=False)
    monkeypatch.delenv(book.BRANCH_ENV, raising=False)
    fork = checkout_with_origin(tmp_path / "fork", "git@github.com:tinytorch-fork/tinytorch.git")
    repository, note = book.find_repository(fork)
    assert (repository.url, repository.branch, repository.owner, repository.name) == (
        FORK, "main", "tinytorch-fork", "tinytorch")
    assert "git remote origin" in note
    assert book.find_repository(fork, configured="https://github.com/conf/book")[0].url == "https://github.com/conf/book"
    monkeypatch.setenv(book.REPOSITORY_ENV, "https://github.com/env/book.git")
    monkeypatch.setenv(book.BRANCH_ENV, "dev")
    repository, _ = book.find_repository(fork, configured="https://github.com/conf/book")
    assert (repository.url, repository.branch) == ("https://github.com/env/book", "dev")


def test_without_a_github_url_there_is_no_repository_and_one_line_says_why(tmp_path, monkeypatch):
    monkeypatch.delenv(book.REPOSITORY_ENV, raising=False)
    for folder, origin, why in ((tmp_path / "none", None, "no git remote origin"),
                                (tmp_path / "lab", "https://gitlab.com/me/tiny.git", "not GitHub")):
        repository, note = book.find_repository(checkout_with_origin(folder, origin))
        assert repository is None and why in note and "\n" not in note
    monkeypatch.setenv(book.REPOSITORY_ENV, "file:///srv/tiny.git")
    repository, note = book.find_repository(tmp_path / "none")
    assert repository is None and "TINYTORCH_REPOSITORY_URL=file:///srv/tiny.git is not a GitHub" in note


def test_a_build_without_a_repository_warns_once_and_renders_no_launch_or_repository_buttons(tmp_path):
    copy = copy_book(tmp_path, chapters=("01",))
    result = build(copy, strict=False, TINYTORCH_REPOSITORY_URL="")
    assert result.returncode == 0, result.stderr[-3000:]
    warnings = [line for line in (result.stdout + result.stderr).splitlines() if "no GitHub repository" in line]
    assert len(warnings) == 1, warnings
    html = copy / "_build" / "html"
    chapter = (html / "milestones" / "01_1957_perceptron.html").read_text()
    assert "dropdown-download-buttons" in chapter  # the header is there, without the buttons
    for page in html.rglob("*.html"):
        text = page.read_text()
        for button in ("mybinder.org", "colab.research.google.com", "btn-source-repository-button"):
            assert button not in text, f"{page.name} has a {button} button although no repository is set"


# ---------------------------------------------------------------- Binder

def test_repo2docker_dry_run_picks_the_pinned_python_requirements_and_postbuild(tmp_path):
    import escapism  # comes with jupyter-repo2docker (requirements-dev.txt)

    done = subprocess.run([str(BIN / "repo2docker"), "--no-build", "--debug", str(ROOT)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    log, dockerfile = done.stderr, done.stdout
    pinned = (ROOT / "binder" / "runtime.txt").read_text().strip()
    assert pinned == "python-3.11"
    assert "Building conda environment for python=3.11" in log
    assert "Python version unspecified" not in log
    lock = escapism.escape("environment.py-3.11-linux-64.lock", escape_char="-")  # how the Dockerfile names it
    assert re.search(rf"COPY .*{re.escape(lock)}\S* /tmp/env/environment.lock", dockerfile, re.IGNORECASE)
    assert 'pip install --no-cache-dir -r "binder/requirements.txt"' in dockerfile
    # a plain `pip install .` would replace the editable install: the chapters would then look for
    # data/ inside site-packages
    assert "pip install --no-cache-dir .\n" not in dockerfile
    assert "RUN ./binder/postBuild" in dockerfile
    assert (ROOT / "binder" / "requirements.txt").read_text().split() == ["-r", "../requirements.txt"]
    assert "-e ." in (ROOT / "requirements.txt").read_text().splitlines()


def test_postbuild_makes_jupyterlab_and_notebook_7_open_the_markdown_chapters_as_notebooks(tmp_path):
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(tmp_path), IPYTHONDIR=str(tmp_path / "ipython"),
               PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")
    done = subprocess.run([str(ROOT / "binder" / "postBuild")], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    overrides = json.loads((tmp_path / "labconfig" / "default_setting_overrides.json").read_text())
    viewers = overrides["@jupyterlab/docmanager-extension:plugin"]["defaultViewers"]
    assert viewers == {"markdown": "Jupytext Notebook", "myst": "Jupytext Notebook"}
    startup = tmp_path / "ipython" / "profile_default" / "startup" / "50-tinytorch-judge.py"
    assert "_tinytorch_kernel.install()" in startup.read_text()  # the judge in every Binder kernel


# ---------------------------------------------------------------- Colab

def setup_cell(twin: Path) -> str:
    cell = nbformat.read(twin, as_version=4).cells[0]
    assert cell.metadata["tags"] == ["remove-cell"] and "google.colab" in cell.source
    return cell.source


def test_the_committed_twins_name_no_repository_so_forks_share_them():
    for stone in registry.ALL_MILESTONES:
        twin = stone.chapter_path.with_suffix(".ipynb")
        if twin.exists():
            source = setup_cell(twin)
            named = set(re.findall(r"github\.com/[\w.-]+/[\w.-]+", source)) - {"github.com/OWNER/REPO"}
            assert not named, f"{twin.name} names a repository: {named}"
            assert repr(Path(stone.chapter).with_suffix(".ipynb").as_posix()) in source


@contextmanager
def colab_sessions(notebook_url: str):
    """Colab's session list (``/api/sessions``) on 127.0.0.1, naming the notebook Colab opened."""
    body = json.dumps([{"id": "1", "name": notebook_url.rsplit("/", 1)[-1], "type": "notebook",
                        "path": "fileId=" + quote(notebook_url, safe="")}]).encode()

    class Sessions(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if self.path == "/api/sessions" else 404)
            self.end_headers()
            self.wfile.write(body if self.path == "/api/sessions" else b"")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Sessions)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield {"COLAB_JUPYTER_IP": "127.0.0.1", "KMP_TARGET_PORT": str(server.server_address[1])}
    finally:
        server.shutdown()
        server.server_close()


def fake_colab(folder: Path) -> Path:
    """A ``google.colab`` package to put on the path: the set-up cell only checks it is imported."""
    package = folder / "google" / "colab"
    package.mkdir(parents=True)
    (folder / "google" / "__init__.py").write_text("")
    (package / "__init__.py").write_text('"""Stands in for Colab in the tests."""\n')
    return folder


def clean_env(**settings: str) -> dict[str, str]:
    """This environment without the book's settings, the dev venv on PATH or a PYTHONPATH."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TINYTORCH_", "VIRTUAL_ENV", "PYTHON", "MPLBACKEND", "STRICT", "COLAB_"))}
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if Path(p) != BIN)
    return env | settings


def working_tree_repository(target: Path) -> Path:
    """A git repository holding this working tree's files (what a push would publish), on branch main."""
    listed = git("ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=ROOT)
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    git("init", "-q", "-b", "main", cwd=target)
    git("add", "-A", cwd=target)
    git("-c", "user.name=test", "-c", "user.email=test@example.invalid", "commit", "-q", "-m", "snapshot", cwd=target)
    return target


def git_redirect(url: str, to: Path) -> dict[str, str]:
    """Environment that makes git fetch ``url`` from the local repository ``to`` (nothing leaves the machine)."""
    return {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": f"url.{to.as_uri()}.insteadOf", "GIT_CONFIG_VALUE_0": url}


def run_setup_cell(source: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    """The set-up cell as a script, with ``google.colab`` imported first as Colab does."""
    script = "import google.colab\n" + source
    return subprocess.run([sys.executable, "-c", script], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def last_line(result: subprocess.CompletedProcess) -> str:
    return [line for line in result.stderr.splitlines() if line.strip()][-1]


def test_outside_colab_the_setup_cell_does_nothing(tmp_path):
    source = setup_cell(registry.milestone("01").chapter_path.with_suffix(".ipynb"))
    done = subprocess.run([sys.executable, "-c", source], env=clean_env(), cwd=tmp_path, capture_output=True, text=True)
    assert (done.returncode, done.stdout, done.stderr, list(tmp_path.iterdir())) == (0, "", "", [])


def test_the_setup_cell_fails_loudly_in_one_line_when_the_clone_or_the_install_fails(tmp_path):
    source = setup_cell(registry.milestone("01").chapter_path.with_suffix(".ipynb"))
    fake = fake_colab(tmp_path / "fake")
    base = clean_env(PYTHONPATH=str(fake), TINYTORCH_CLONE_DIR=str(tmp_path / "content" / "book"))

    # Colab names no GitHub notebook and no setting: say what to set
    done = run_setup_cell(source, base, tmp_path)
    assert done.returncode == 1
    assert last_line(done).startswith("RuntimeError: TinyTorch set-up failed: cannot tell which repository")

    # opened from a fork's branch whose name has a slash; the repository is not there
    notebook = f"{FORK}/blob/feature/launch/milestones/01_1957_perceptron.ipynb"
    with colab_sessions(notebook) as colab:
        env = base | colab | git_redirect("https://github.com/", tmp_path / "nowhere" / "")
        done = run_setup_cell(source, env, tmp_path)
    assert done.returncode == 1
    assert re.fullmatch(rf"RuntimeError: TinyTorch set-up failed: git clone {FORK} \(feature/launch\): fatal: .+",
                        last_line(done)), done.stderr[-2000:]

    # the clone works, the install does not (no package index: pip cannot fetch the build backend)
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text('[build-system]\nrequires = ["setuptools>=68"]\n'
                                            'build-backend = "setuptools.build_meta"\n[project]\nname = "x"\nversion = "0"\n')
    git("init", "-q", "-b", "main", cwd=project)
    git("add", "-A", cwd=project)
    git("-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-q", "-m", "project", cwd=project)
    (tmp_path / "no-wheels").mkdir()
    offline = {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(tmp_path / "no-wheels"), "TINYTORCH_REPOSITORY_URL": project.as_uri()}
    done = run_setup_cell(source, base | offline, tmp_path)
    assert done.returncode == 1
    assert last_line(done) == (f"RuntimeError: TinyTorch set-up failed: pip install -e {tmp_path}/content/book[chapters]: "
                               "ERROR: Could not find a version that satisfies the requirement setuptools>=68 "
                               "(from versions: none)"), done.stderr[-2000:]
    assert (tmp_path / "content" / "book" / "pyproject.toml").exists()


def test_a_twin_runs_top_to_bottom_in_a_fresh_environment_in_simulated_colab(tmp_path):
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    chapter = "milestones/01_1957_perceptron.ipynb"
    repository = working_tree_repository(tmp_path / "repository")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    constraints = tmp_path / "constraints.txt"  # Colab's own packages: here, the book's pins
    constraints.write_text("\n".join(l for l in (ROOT / "requirements.txt").read_text().splitlines() if "==" in l))
    env = clean_env(PIP_CONSTRAINT=str(constraints))
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "ipykernel"],
                   env=env, check=True, timeout=600)
    assert subprocess.run([str(python), "-c", "import numpy"], env=env, capture_output=True).returncode != 0, (
        "the fresh environment must not have what the set-up cell is to install")

    kernels = tmp_path / "kernels"
    (kernels / "colab").mkdir(parents=True)
    (kernels / "colab" / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}",
                 "--IPKernelApp.exec_lines=import google.colab"],
        "display_name": "Colab (simulated)", "language": "python"}))
    content = tmp_path / "content"
    content.mkdir()
    notebook = nbformat.reads((repository / chapter).read_text(), as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(
        "import os, subprocess, tinytorch, milestones\n"
        "print(tinytorch.__file__, milestones.__file__, os.getcwd(), sep='\\n')\n"
        "print(subprocess.run(['git', 'config', 'remote.origin.url'], capture_output=True, text=True).stdout.strip())"))
    with colab_sessions(f"{FORK}/blob/main/{chapter}") as colab:
        kernel_env = env | colab | git_redirect(FORK, repository) | {
            "PYTHONPATH": str(fake_colab(tmp_path / "fake")), "TINYTORCH_CLONE_DIR": str(content / "tinytorch-book"),
            "STRICT": "1"}  # a missed criterion raises
        manager = KernelManager(kernel_name="colab", kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernels)]))
        client = NotebookClient(notebook, km=manager, timeout=300, resources={"metadata": {"path": str(content)}})
        client.execute(env=kernel_env)

    clone = content / "tinytorch-book"
    setup_output = "".join(o.get("text", "") for o in notebook.cells[0].outputs)
    assert setup_output == f"TinyTorch set-up: {FORK} (main) cloned into {clone} and installed\n"
    where = notebook.cells[-1].outputs[0]["text"].split()
    assert where == [str(clone / "tinytorch" / "__init__.py"), str(clone / "milestones" / "__init__.py"),
                     str(clone / "milestones"), FORK]  # and so a book built in the clone points at the fork
    texts = "".join(o.get("text", "") + json.dumps(o.get("data", {})) for c in notebook.cells for o in c.get("outputs", []))
    assert "Milestone 01 part 2" in texts and "missed" not in texts
    installed = subprocess.run([str(python), "-m", "pip", "list", "--format=json"], capture_output=True, text=True)
    names = {p["name"].lower() for p in json.loads(installed.stdout)}
    assert {"tinytorch-book", "numpy", "matplotlib"} <= names
    assert not {"sphinx", "myst-nb", "jupytext"} & names, "the Colab set-up installs the Sphinx toolchain"
