"""``tito grade``: a class's tinytorches judged in one command, one table out.

Each submission (a folder holding a ``tinytorch/`` package) is judged by the book itself: a
copy of the book with only the chosen milestone chapters, built strictly with
``TINYTORCH_SRC`` pointing at the submission (:mod:`milestones.tools.bookbuild`), in its own
process group, scratch folder and time limit. The judge's records of that build become the
student's rows of ``grades.csv`` and ``grades.json`` and their feedback page.

Trust: where ``bwrap`` (bubblewrap) works, each build runs in a sandbox that sees the file
system read-only except its own scratch folder, cannot see the other submissions, the output
folder, home and temporary folders at all, and has no network. What a student's code can
still do is make its *own* verdicts lie (it runs in the judge's process); see docs/teachers.md.
"""

from __future__ import annotations

import csv
import html
import io
import json
import math
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil

from milestones import book, execute, registry, settings, status
from milestones.registry import Milestone
from milestones.tools import bookbuild

COLUMNS = ("student", "milestone", "part", "criterion", "status", "value", "requirement", "detail")
DEFAULT_TIMEOUT = 1200.0  # seconds: 20 minutes, several times a strict build of every milestone
LOG_TAIL = 200_000  # bytes of each build's output kept in the student's log
RECORD_LIMIT = 1_000_000  # a results file larger than this was not written by the judge
DETAIL_LIMIT = 2000
# Folders a student's run never sees (when they exist): homes, temporary and runtime folders
# (/run holds sockets, such as Docker's, that a read-only mount would not stop).
PRIVATE_FOLDERS = ("/home", "/root", "/tmp", "/var/tmp", "/run", "/mnt", "/media")
BWRAP_FLAGS = ("--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-all",
               "--die-with-parent", "--new-session")
STATES = status.CRITERION_STATES
FILE_LINE = re.compile(r"(tinytorch/[\w./-]+\.py) line (\d+)")


class BadArguments(ValueError):
    """A bad ``tito grade`` argument: tito prints it as one ``tito grade: ...`` line, exit status 2."""


# ---------------------------------------------------------------- what to grade

@dataclass(frozen=True)
class Submission:
    """One student's folder (holding ``tinytorch/``), the name their rows carry and, unique too,
    the name their files carry (``feedback/<file_stem>.html``)."""

    name: str
    path: Path
    file_stem: str


@dataclass(frozen=True)
class Plan:
    """A checked ``tito grade`` command line."""

    submissions: tuple[Submission, ...]
    milestones: tuple[Milestone, ...]
    out: Path
    timeout: float
    keep_books: bool = False


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _names(paths: list[Path]) -> list[str]:
    """Each folder's name; where two share one, enough of their parents to tell them apart."""
    for depth in range(1, max(len(p.parts) for p in paths) + 1):
        names = ["-".join(p.parts[-depth:]).lstrip("/") for p in paths]
        if len(set(names)) == len(names):
            return names
    return [str(p) for p in paths]


def submissions(folders: list[str]) -> tuple[Submission, ...]:
    """The submissions named on the command line, checked: each a folder holding tinytorch/__init__.py."""
    if not folders:
        raise BadArguments("give at least one submission: a folder holding a tinytorch/ package")
    paths = []
    for text in folders:
        path = Path(text).expanduser().resolve()
        if not path.is_dir():
            raise BadArguments(f"{text} is not a folder")
        if not (path / "tinytorch" / "__init__.py").is_file():
            hint = " (give the folder that contains tinytorch/)" if path.name == "tinytorch" else ""
            raise BadArguments(f"{text} has no tinytorch/__init__.py{hint}")
        if path in paths:
            raise BadArguments(f"{text} is given twice")
        paths.append(path)
    for path in paths:
        outer = next((other for other in paths if other != path and _inside(path, other)), None)
        if outer:
            raise BadArguments(f"submission {path} is inside submission {outer}")
    names = _names(paths)
    stems = [re.sub(r"[^A-Za-z0-9._-]", "_", name).lstrip(".") or "student" for name in names]
    stems = [stem if stems.count(stem) == 1 else f"{stem}-{number}" for number, stem in enumerate(stems, 1)]
    return tuple(Submission(name, path, stem) for name, path, stem in zip(names, paths, stems))


def milestones(text: str | None) -> tuple[Milestone, ...]:
    """``01,02`` (ids, slugs or aliases) as milestones in book order; None means every main milestone."""
    if text is None:
        return registry.MILESTONES
    chosen = set()
    for ident in filter(None, (part.strip() for part in text.split(","))):
        try:
            stone = registry.milestone(ident)
        except KeyError as err:
            raise BadArguments(err.args[0]) from None
        if not stone.chapter_path.exists():
            raise BadArguments(f"milestone {stone.id} is not written yet ({stone.chapter})")
        chosen.add(stone.id)
    if not chosen:
        raise BadArguments("--milestones names no milestone; give ids such as 01,02")
    return tuple(stone for stone in registry.ALL_MILESTONES if stone.id in chosen)


def _harness_folders() -> list[Path]:
    """What every build needs to read: the book (the harness), this Python and its environment."""
    folders = {registry.BOOK_ROOT, Path(sys.prefix), Path(sys.base_prefix), Path(sys.executable).resolve().parent}
    return sorted({folder.resolve() for folder in folders})


def plan(folders: list[str], out: str = "grades", milestone_ids: str | None = None,
         timeout: float | None = None, keep_books: bool = False) -> Plan:
    """Check a ``tito grade`` command line; a bad argument raises :class:`BadArguments`."""
    subs = submissions(folders)
    stones = milestones(milestone_ids)
    timeout = DEFAULT_TIMEOUT if timeout is None else timeout
    if not timeout > 0:
        raise BadArguments(f"--timeout must be a positive number of seconds, not {timeout:g}")
    target = Path(out).expanduser().resolve()
    for sub in subs:
        if _inside(target, sub.path):
            raise BadArguments(f"--out {out} is inside submission {sub.path}: students' code would see it")
    for folder in _harness_folders():
        if _inside(folder, target):
            raise BadArguments(f"--out {out} holds {folder}, which every student's run reads; "
                               "choose a folder of its own, such as ./grades")
    if target.exists() and not target.is_dir():
        raise BadArguments(f"--out {out} is a file, not a folder")
    return Plan(subs, stones, target, float(timeout), keep_books)


# ---------------------------------------------------------------- the sandbox

def find_sandbox() -> tuple[str | None, str]:
    """bwrap's path when it can build a sandbox here (None otherwise), and a line saying which."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return None, ("runs are not sandboxed (bwrap not found; install bubblewrap): a student's code "
                      "can read and change your files and other students' results")
    try:
        probe = subprocess.run([bwrap, *BWRAP_FLAGS, "true"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as err:
        probe = subprocess.CompletedProcess([bwrap], 1, "", str(err))
    if probe.returncode != 0:
        said = (probe.stderr.strip().splitlines() or [f"exit status {probe.returncode}"])[-1]
        return None, (f"runs are not sandboxed (bwrap cannot make a sandbox here: {said}): a student's "
                      "code can read and change your files and other students' results")
    return bwrap, ("each run is sandboxed by bwrap: read-only file system but its scratch folder, "
                   "no other submission, no output folder, no network")


def mounts(hidden: list[Path], readable: list[Path], writable: list[Path]) -> list[str]:
    """bwrap arguments over a read-only ``/``: an empty tmpfs on each hidden folder, the readable
    and writable folders mounted back, shallow paths first so deeper ones win (a path both hidden
    and needed stays readable); last, the empty folders made read-only too."""
    kinds = {}
    for rank, paths in enumerate((hidden, readable, writable)):
        for path in paths:
            kinds[path] = max(kinds.get(path, rank), rank)
    flags, empty = [], []
    for path in sorted(kinds, key=lambda p: (len(p.parts), kinds[p], str(p))):
        flags += {0: ["--tmpfs"], 1: ["--ro-bind", str(path)], 2: ["--bind", str(path)]}[kinds[path]] + [str(path)]
        empty += ["--remount-ro", str(path)] if kinds[path] == 0 else []
    return flags + empty


def _data_folders() -> dict[str, Path]:
    """The downloaded data sets the teacher's own build would use, passed on to every run."""
    from milestones import datasets

    found = {"TINYTORCH_MNIST_DIR": datasets.mnist_dir(), "TINYTORCH_CIFAR10_DIR": datasets.cifar10_dir(),
             "TINYTORCH_FASHION_MNIST_DIR": datasets.fashion_mnist_dir()}
    return {name: path.resolve() for name, path in found.items() if path.is_dir()}


# ---------------------------------------------------------------- one student's run

@dataclass(frozen=True)
class Row:
    """One student's result on one criterion: a line of grades.csv."""

    student: str
    milestone: str
    part: int
    criterion: str
    status: str
    value: float | bool | str | None
    requirement: str
    detail: str


@dataclass
class Graded:
    """Everything one student's run produced."""

    submission: Submission
    rows: list[Row]
    seconds: float
    timed_out: bool
    exit_status: int | None
    log: str = ""
    book: Path | None = field(default=None, repr=False)  # their rendered pages, with --keep-books

    @property
    def totals(self) -> dict[str, int]:
        counts = Counter(row.status for row in self.rows)
        return {s.name: counts[s.name] for s in STATES}

    @property
    def first_error(self) -> Row | None:
        return next((row for row in self.rows if row.status == status.ERROR.name), None)


class Unreadable(Exception):
    """The results folder holds something the judge did not write (a link, a huge or odd file)."""


def read_records(copy: Path) -> dict[tuple[str, str], dict]:
    """The judge's records of a build of the book copy ``copy`` (see :func:`bookbuild.records`), after
    checking its results folder holds only plain, small files: it was writable by the student's code,
    and a link must not make tito read (and show) a file of the teacher's."""
    results = copy / "_build" / "results"
    if results.is_symlink():
        raise Unreadable("the results folder is a link")
    for folder, subfolders, files in os.walk(results):
        for name in subfolders + files:
            info = os.lstat(os.path.join(folder, name))
            if stat.S_ISLNK(info.st_mode) or not (stat.S_ISDIR(info.st_mode) or stat.S_ISREG(info.st_mode)):
                raise Unreadable(f"the results folder holds {name}, which is not a plain file")
            if stat.S_ISREG(info.st_mode) and info.st_size > RECORD_LIMIT:
                raise Unreadable(f"the results file {name} is {info.st_size} bytes")
    try:
        return bookbuild.records(copy)
    except (ValueError, KeyError, TypeError, AttributeError, OSError) as err:
        raise Unreadable(f"the results could not be read ({type(err).__name__})") from None


def _value(value) -> float | bool | str | None:
    """A recorded value as the tables carry it: a number, a boolean, ``"nan"``/``"inf"``, or None."""
    if isinstance(value, bool) or value is None:
        return value
    if not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else str(float(value))


def rows(student: str, stones: tuple[Milestone, ...], records: dict, missing: str) -> list[Row]:
    """Every criterion of the chosen milestones, from its record; one without a record reads
    ``missing`` (an error's detail, or '' for 'not run: never checked')."""
    table = []
    for stone in stones:
        for part in stone.parts:
            for criterion in part.criteria:
                entry = records.get((stone.id, criterion.key))
                if isinstance(entry, dict):
                    known = entry.get("status") in {s.name for s in STATES}
                    state = entry["status"] if known else status.ERROR.name
                    value, detail = _value(entry.get("value")), str(entry.get("detail") or "")
                elif missing:
                    state, value, detail = status.ERROR.name, None, missing
                else:
                    state, value, detail = status.NOT_RUN.name, None, "never checked"
                table.append(Row(student, stone.id, part.number, criterion.key, state, value,
                                 criterion.requirement, detail[:DETAIL_LIMIT]))
    return table


def _environment(sub: Submission, scratch: Path) -> dict[str, str]:
    """The build's environment: the book's settings for this submission, none of the teacher's secrets."""
    home, tmp = scratch / "home", scratch / "tmp"
    home.mkdir(parents=True, exist_ok=True)
    tmp.mkdir(exist_ok=True)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "HOME": str(home),
           "TMPDIR": str(tmp), settings.SOURCE_ENV: str(sub.path), settings.STRICT_ENV: "1", "PYTHONPATH": "",
           book.REPOSITORY_ENV: os.environ.get(book.REPOSITORY_ENV, "")}
    passed_on = {name: os.environ[name] for name in (book.BRANCH_ENV, execute.JOBS_ENV) if os.environ.get(name)}
    return env | passed_on


def _kill(process: subprocess.Popen) -> None:
    """Kill a build that is still running: its process group and every process it started (kernels
    start sessions of their own, outside the group)."""
    try:
        children = psutil.Process(process.pid).children(recursive=True)
    except psutil.Error:  # it ended meanwhile
        children = []
    _kill_group(process)
    for child in children:
        try:
            child.kill()
        except psutil.Error:
            pass
    process.wait()


def _kill_group(process: subprocess.Popen) -> None:
    """Kill what is left of the build's process group (a finished build's strays)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _tail(path: Path) -> str:
    with open(path, "rb") as handle:
        handle.seek(max(0, path.stat().st_size - LOG_TAIL))
        return handle.read().decode("utf-8", "replace")


def judge_one(sub: Submission, plan: Plan, scratch: Path, sandbox: str | None, hidden: list[Path]) -> Graded:
    """Build the chosen chapters strictly against one submission, in ``scratch``, within the time limit."""
    scratch.mkdir(parents=True)
    copy = bookbuild.copy_book(scratch / "book", chapters=tuple(s.id for s in plan.milestones))
    data = _data_folders()
    env = _environment(sub, scratch) | {name: str(path) for name, path in data.items()}
    command = [str(bookbuild.SPHINX_BUILD), "-b", "html", "-q", "-E", str(copy), str(copy / "_build" / "html")]
    if sandbox:
        others = [s.path for s in plan.submissions if s != sub]
        readable = [*_harness_folders(), *data.values(), sub.path]
        command = [sandbox, *BWRAP_FLAGS, *mounts(hidden + others, readable, [scratch]), "--chdir", str(copy),
                   *command]
    log = scratch.parent / f"{sub.file_stem}.log"  # outside the scratch folder: the build cannot swap it for a link
    started = time.monotonic()
    with open(log, "wb") as output:
        process = subprocess.Popen(command, cwd=copy, env=env, stdin=subprocess.DEVNULL, stdout=output,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        try:
            exit_status, timed_out = process.wait(timeout=plan.timeout), False
        except subprocess.TimeoutExpired:
            exit_status, timed_out = None, True
            _kill(process)
        finally:
            _kill_group(process)  # a finished build's strays; an interrupted one's whole group
    seconds = time.monotonic() - started
    text = _tail(log)
    log.unlink()
    try:
        records, why = read_records(copy), ""
    except Unreadable as err:
        records, why = {}, f"results not graded: {err}"
    if timed_out:
        why = f"timed out after {plan.timeout:g} s"
    elif not why and exit_status != 0:
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        why = f"the build stopped before judging: {lines[-1][:300] if lines else f'exit status {exit_status}'}"
    graded = Graded(sub, rows(sub.name, plan.milestones, records, why), seconds, timed_out, exit_status, text)
    graded.book = copy / "_build" / "html" if plan.keep_books else None
    return graded


# ---------------------------------------------------------------- output

def _cell(text: str) -> str:
    """A text cell a spreadsheet will not run as a formula (a student writes their error messages)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _csv(graded: list[Graded]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for student in graded:
        for row in student.rows:
            value = "" if row.value is None else row.value
            writer.writerow([_cell(row.student), row.milestone, row.part, row.criterion, row.status, value,
                             row.requirement, _cell(row.detail)])
    return buffer.getvalue()


def _where(row: Row | None) -> dict | None:
    """The first error as the JSON carries it: its criterion, detail, and file and line when named."""
    if row is None:
        return None
    found = FILE_LINE.search(row.detail)
    return {"milestone": row.milestone, "part": row.part, "criterion": row.criterion, "detail": row.detail,
            "file": found[1] if found else None, "line": int(found[2]) if found else None}


def _json(plan: Plan, graded: list[Graded], sandboxed: bool) -> str:
    students = [{"student": g.submission.name, "submission": str(g.submission.path),
                 "seconds": round(g.seconds, 1), "timed_out": g.timed_out, "exit_status": g.exit_status,
                 "totals": g.totals, "first_error": _where(g.first_error),
                 "criteria": [{k: v for k, v in asdict(row).items() if k != "student"} for row in g.rows]}
                for g in graded]
    return json.dumps({"milestones": [s.id for s in plan.milestones], "timeout_s": plan.timeout,
                       "sandboxed": sandboxed, "columns": list(COLUMNS), "students": students}, indent=1)


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 72em; padding: 0 1em; color: #202124; }}
table {{ border-collapse: collapse; width: 100%; }}
th, td {{ text-align: left; padding: 4px 8px; border-bottom: 1px solid #dadce0; vertical-align: top; }}
td.detail {{ font-family: monospace; white-space: pre-wrap; font-size: 90%; }}
.box {{ padding: 8px 12px; margin: 1em 0; border-left: 4px solid; font-family: monospace; white-space: pre-wrap; }}
{styles}
</style></head><body>
{body}
</body></html>
"""
_STYLES = "\n".join(f".s-{s.css} {{ background: {s.background}; color: {s.colour}; border-color: {s.colour}; }}"
                    for s in STATES)


def _counted(items, noun: str, names: str = "") -> str:
    """``3 students``, ``1 student``; with names: ``milestone 01``, ``milestones 01, 02``."""
    plural = noun + "s" * (len(items) != 1)
    return f"{plural} {names}" if names else f"{len(items)} {plural}"


def _ids(plan: Plan) -> str:
    return ", ".join(s.id for s in plan.milestones)


def _badge(name: str, tag: str = "td") -> str:
    """A status in its colours and mark, as a table cell (or another element)."""
    look = status.of(name)
    return f'<{tag} class="s-{look.css}">{look.mark} {html.escape(name)}</{tag}>'


def _totals_text(totals: dict[str, int]) -> str:
    """``5 met, 0 missed, 1 error, 0 locked, 2 not implemented``: the main four always, others when any."""
    main = ("met", "missed", "error", "locked")
    return ", ".join(f"{n} {name}" for name, n in totals.items() if name in main or n)


def feedback_page(graded: Graded, plan: Plan, book_link: str | None) -> str:
    """One student's page: totals, the first error with its file and line, every criterion's verdict."""
    e = html.escape
    sub = graded.submission
    titles = ", ".join(f"{s.id} {s.title}" for s in plan.milestones)
    parts = [f"<h1>TinyTorch grades: {e(sub.name)}</h1>",
             f"<p>Judged on {e(_counted(plan.milestones, 'milestone', titles))} in {graded.seconds:.1f} s: "
             f"{e(_totals_text(graded.totals))}.</p>"]
    first = graded.first_error
    if first is not None:
        parts.append(f'<h2>First error</h2><div class="box s-error">Milestone {e(first.milestone)} part {first.part}, '
                     f"{e(first.criterion)}:\n{e(first.detail)}</div>")
    if book_link:
        parts.append(f'<p>Your book pages, as this build rendered them: <a href="{e(book_link)}">open</a>.</p>')
    lines = []
    for row in graded.rows:
        stone = registry.milestone(row.milestone)
        description = stone.criterion(row.criterion)[1].description
        value = "-" if row.value is None else e(str(row.value))
        lines.append(f"<tr><td>{e(stone.id)} {e(stone.title)}</td><td>{row.part}</td>"
                     f"<td><code>{e(row.criterion)}</code><br><small>{e(description)}</small></td>"
                     f"{_badge(row.status)}<td>{value}</td><td>{e(row.requirement)}</td>"
                     f'<td class="detail">{e(row.detail)}</td></tr>')
    parts.append("<table><tr><th>milestone</th><th>part</th><th>criterion</th><th>status</th><th>value</th>"
                 "<th>required</th><th>detail</th></tr>\n" + "\n".join(lines) + "</table>")
    meaning = "".join(f"<li>{_badge(s.name, 'span')}: {e(s.meaning)}</li>" for s in STATES)
    parts.append(f"<h2>What the states mean</h2><ul>{meaning}</ul>")
    return _PAGE.format(title=f"TinyTorch grades: {e(sub.name)}", styles=_STYLES, body="\n".join(parts))


def index_page(plan: Plan, graded: list[Graded]) -> str:
    """The class at a glance: one line per student, linking their feedback page."""
    e = html.escape
    names = [s.name for s in STATES]
    head = "".join(f"<th>{e(n)}</th>" for n in names)
    lines = [f'<tr><td><a href="feedback/{e(g.submission.file_stem)}.html">{e(g.submission.name)}</a></td>'
             + "".join(f"<td>{g.totals[n] or ''}</td>" for n in names) + f"<td>{g.seconds:.1f}</td></tr>"
             for g in graded]
    body = (f"<h1>TinyTorch grades</h1><p>{e(_counted(graded, 'student'))} judged on "
            f"{e(_counted(plan.milestones, 'milestone', _ids(plan)))}.</p><table><tr><th>student</th>{head}<th>seconds</th></tr>\n"
            + "\n".join(lines) + "</table>")
    return _PAGE.format(title="TinyTorch grades", styles=_STYLES, body=body)


def _write(path: Path, text: str) -> None:
    """Write a file whole or not at all (a grading run interrupted midway leaves the last full table)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    partial.replace(path)


def _copy_pages(source: Path, target: Path) -> None:
    """Copy a rendered book, plain files only: a link a student's build left must not copy a teacher's file."""
    shutil.rmtree(target, ignore_errors=True)
    for folder, subfolders, files in os.walk(source):
        subfolders[:] = [d for d in subfolders if not os.path.islink(os.path.join(folder, d))]
        for name in files:
            path = Path(folder, name)
            if stat.S_ISREG(os.lstat(path).st_mode):
                destination = target / path.relative_to(source)
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, destination)


def save(plan: Plan, graded: list[Graded], sandboxed: bool) -> None:
    """Write the tables (all students so far) and the last student's feedback, logs and pages."""
    latest = graded[-1]
    stem = latest.submission.file_stem
    link = None
    if latest.book is not None and latest.book.is_dir():
        _copy_pages(latest.book, plan.out / "books" / stem)
        link = f"../books/{stem}/index.html"
    _write(plan.out / "feedback" / f"{stem}.html", feedback_page(latest, plan, link))
    _write(plan.out / "logs" / f"{stem}.txt", latest.log)
    _write(plan.out / "grades.csv", _csv(graded))
    _write(plan.out / "grades.json", _json(plan, graded, sandboxed))
    _write(plan.out / "index.html", index_page(plan, graded))


# ---------------------------------------------------------------- the whole class

def run(plan: Plan) -> int:
    """Judge every submission in turn, a progress line as each finishes; the tables are rewritten
    after each student, so an interrupted run keeps the students already graded."""
    sandbox, note = find_sandbox()
    print(f"tito grade: {note}", file=sys.stdout if sandbox else sys.stderr, flush=True)
    print(f"Grading {_counted(plan.submissions, 'submission')} on {_counted(plan.milestones, 'milestone', _ids(plan))} "
          f"(time limit {plan.timeout:g} s each) into {plan.out}", flush=True)
    plan.out.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="tito-grade-")).resolve()
    private = [Path(p) for p in (*PRIVATE_FOLDERS, Path.home()) if Path(p).is_dir()]
    hidden = sorted(({p.resolve() for p in private} | {s.path.parent for s in plan.submissions}
                     | {plan.out, root}) - {Path("/")})
    graded: list[Graded] = []
    width = max(len(s.name) for s in plan.submissions)
    try:
        for number, sub in enumerate(plan.submissions, 1):
            scratch = root / sub.file_stem
            try:
                graded.append(judge_one(sub, plan, scratch, sandbox, hidden))
                save(plan, graded, sandbox is not None)
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
            done = graded[-1]
            late = f", timed out after {plan.timeout:g} s" if done.timed_out else ""
            print(f"[{number}/{len(plan.submissions)}] {sub.name:<{width}}  {_totals_text(done.totals)}  "
                  f"({done.seconds:.1f} s{late})", flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"Wrote {plan.out / 'grades.csv'}, {plan.out / 'grades.json'} and a feedback page per student "
          f"({plan.out / 'index.html'})", flush=True)
    return 0
