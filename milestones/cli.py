"""``tito``: list, inspect and run the milestones, check the modules and run their tests.

Everything it shows is derived from :mod:`milestones.registry` and the judge's records; the
reader's tinytorch is only ever imported in child processes, so a broken tinytorch cannot
crash ``tito`` itself.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from milestones import book, judge, registry, scoreboard
from milestones.registry import Milestone, Module, Part

LOCKED_EXIT = 3  # exit status of a chapter script stopped by judge.PartLocked
NOT_RUN = scoreboard.NOT_RUN
# -P keeps the working folder off sys.path, so the book's tinytorch cannot shadow TINYTORCH_SRC.
PYTHON = [sys.executable, "-P"] if sys.version_info >= (3, 11) else [sys.executable]


class UsageError(Exception):
    """A bad argument: printed as one ``tito: ...`` line on stderr, exit status 2."""


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one clear line on stderr and exit status 2."""

    def error(self, message: str) -> None:
        raise UsageError(f"{message} (see `{self.prog} --help`)")


# ---------------------------------------------------------------- terminal

def use_colour() -> bool:
    """Colour only for a terminal, and never when NO_COLOR is set (https://no-color.org)."""
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ


_PAINT = {**scoreboard.ANSI_COLOURS, "passed": "32", "ready": "36", "error": "31"}


def paint(text: str, status: str) -> str:
    """Colour ``text`` by the status word it starts with (plain text without a terminal)."""
    code = next((c for s, c in _PAINT.items() if status.startswith(s)), None)
    return f"\033[{code}m{text}\033[0m" if code and use_colour() else text


def say(text: str = "") -> None:
    """Print and flush, so tito's lines stay in order with a child's streamed output."""
    print(text, flush=True)


# ---------------------------------------------------------------- environment

def tinytorch_root() -> Path:
    """The folder holding the tinytorch under test: ``$TINYTORCH_SRC`` or the book root."""
    try:
        return book.tinytorch_root()
    except FileNotFoundError as exc:
        raise UsageError(str(exc)) from exc


def results_dir() -> Path:
    """Where chapters run by tito record results: ``$TINYTORCH_RESULTS_DIR`` or ``.tito/results``."""
    return Path(os.environ["TINYTORCH_RESULTS_DIR"])


def child_env() -> dict[str, str]:
    """Environment of every child process: the tinytorch under test first on PYTHONPATH."""
    env = dict(os.environ)
    env["PYTHONPATH"] = book.python_path(tinytorch_root())
    env.update(MPLBACKEND="Agg", PYTHONUNBUFFERED="1", TINYTORCH_RESULTS_DIR=str(results_dir()))
    return env


_PROBE = """
import json
from milestones import registry
report = {}
for mod in registry.MODULES:
    try:
        report[mod.number] = registry.missing_names(mod.number)
    except BaseException as exc:
        report[mod.number] = [f"error: {type(exc).__name__}: {exc}".splitlines()[0]]
print(json.dumps(report))
"""


@functools.lru_cache(maxsize=None)
def probe() -> dict[int, tuple[str, ...]]:
    """Missing key names of every module, found by importing tinytorch in a child process."""
    try:
        done = subprocess.run([*PYTHON, "-c", _PROBE], env=child_env(), capture_output=True,
                              text=True, stdin=subprocess.DEVNULL, timeout=120,
                              cwd=registry.BOOK_ROOT)
        report = json.loads(done.stdout.strip().splitlines()[-1])
    except (subprocess.TimeoutExpired, ValueError, IndexError):
        report = {mod.number: ["error: importing tinytorch crashed or hung"] for mod in registry.MODULES}
    return {int(n): tuple(names) for n, names in report.items()}


def missing(modules: tuple[int, ...]) -> list[int]:
    """Which of these modules the tinytorch under test does not provide."""
    return [n for n in modules if probe()[n]]


# ---------------------------------------------------------------- resolving arguments

def find_milestone(ident: str) -> Milestone:
    """A milestone from ``1``, ``01``, its slug or an alias; a bad one is a usage error."""
    try:
        return registry.milestone(ident)
    except KeyError as err:
        raise UsageError(err.args[0]) from None


def find_module(ident: str) -> Module:
    """A module from ``1``, ``01`` or its slug; a bad one is a usage error."""
    text = ident.strip().lower()
    for mod in registry.MODULES:
        if (text.isdigit() and int(text) == mod.number) or text == mod.slug:
            return mod
    raise UsageError(f"unknown module {ident!r}; valid: 1-{len(registry.MODULES)} or a name ("
                     + ", ".join(m.slug for m in registry.MODULES) + "), or 'all'")


def find_parts(stone: Milestone, number: int | None) -> tuple[Part, ...]:
    """The selected part (``--part N``) or every part; a bad number is a usage error."""
    if number is None:
        return stone.parts
    try:
        return (stone.part(number),)
    except KeyError as err:
        raise UsageError(err.args[0]) from None


# ---------------------------------------------------------------- milestone status

def labels(numbers) -> str:
    """Module numbers as ``05, 06``."""
    return ", ".join(f"{n:02d}" for n in numbers)


def passed(stone: Milestone) -> bool:
    """Are all of this milestone's criteria recorded as met?"""
    records = judge.load_records(stone)
    keys = [c.key for part in stone.parts for c in part.criteria]
    return bool(keys) and all(records.get(k, {}).get("status") == judge.MET for k in keys)


def stone_status(stone: Milestone) -> str:
    """``passed``, ``ready``, ``locked (needs 05, 06)`` or ``not written``, for the list."""
    if not stone.chapter_path.exists():
        return "not written"
    if passed(stone):
        return "passed"
    locked = [(part, missing(part.modules)) for part in stone.parts]
    if not any(gaps for _, gaps in locked):
        return "ready"
    if all(gaps for _, gaps in locked):
        return f"locked (needs {labels(missing(stone.modules))})"
    return "; ".join(f"part {p.number} " + (f"locked (needs {labels(g)})" if g else "ready")
                     for p, g in locked)


def print_table(title: str, stones: tuple[Milestone, ...]) -> None:
    """One table of milestones: id, name, year, modules per part, status."""
    width = max(len(s.id) for s in stones)
    say(title)
    say(f"  {'id':<{width}}  {'name':<22} {'year':<5} {'modules (per part)':<20} status")
    for stone in stones:
        mods = " / ".join(registry.module_range(p.modules) for p in stone.parts)
        status = stone_status(stone)
        say(f"  {stone.id:<{width}}  {stone.title:<22} {stone.year:<5} {mods:<20} "
            f"{paint(status, status)}")


def cmd_list(args) -> int:
    """``tito milestone list``: the milestones and the extras with their status."""
    print_table("Milestones", registry.MILESTONES)
    say()
    print_table("Extras", registry.EXTRAS)
    say()
    say(f"Results recorded by `tito milestone run` in {results_dir()}")
    return 0


def cmd_info(args) -> int:
    """``tito milestone info ID``: history, chapter, and per part its modules and criteria."""
    stone = find_milestone(args.id)
    written = "" if stone.chapter_path.exists() else " (not written yet)"
    say(f"Milestone {stone.id}: {stone.title} ({stone.year}){'  [extra]' if stone.extra else ''}")
    say(f"  {stone.summary}")
    if stone.history:
        say(f"  History: {stone.history}")
    say(f"  Chapter: {stone.chapter}{written}")
    say(f"  Status:  {stone_status(stone)}")
    for part in stone.parts:
        gaps = missing(part.modules)
        need = f"missing {labels(gaps)}" if gaps else "all provided"
        say(f"\n  Part {part.number}: {part.title}")
        say(f"    modules {registry.module_range(part.modules)} ({need})")
        for criterion in part.criteria:
            say(f"    - {criterion.key}: {criterion.description}, required {criterion.requirement}")
        if not part.criteria:
            say("    (no criteria: reports what it reaches)")
    return 0


# ---------------------------------------------------------------- running a chapter

_BEGIN = re.compile(r"\bbegin\(\s*[^,)]+(?:,\s*(?:part\s*=\s*)?(\d+))?\s*[,)]")
_MAGIC = re.compile(r"^\s*[%!]")


def begin_part(source: str) -> int | None:
    """The part a cell starts (it calls ``judge.begin(id, part=N)``), or None."""
    match = _BEGIN.search(source)
    return None if match is None else int(match.group(1) or 1)


def without_magics(source: str) -> str:
    """IPython magics (``%...``, ``!...``) cannot run in plain Python: comment them out."""
    return "\n".join(f"# tito: skipped IPython magic: {line.strip()}" if _MAGIC.match(line) else line
                     for line in source.splitlines())


def chapter_cells(path: Path) -> tuple[list[str], dict[int, list[str]]]:
    """A chapter's code cells: the setup before the first ``begin``, and each part's cells."""
    import jupytext

    setup: list[str] = []
    parts: dict[int, list[str]] = {}
    current = setup
    for cell in jupytext.read(path, fmt="md:myst").cells:
        if cell.cell_type != "code" or "skip-execution" in cell.metadata.get("tags", []):
            continue
        number = begin_part(cell.source)
        if number is not None:
            current = parts.setdefault(number, [])
        current.append(without_magics(cell.source))
    return setup, parts


_PROLOGUE = f"""\
# --- tito prologue: load the harness from the book, quiet exit on a locked part ---
import os, sys
sys.path.insert(0, {str(registry.BOOK_ROOT)!r})
import milestones.judge
sys.path.pop(0)
try:
    from IPython.display import display
except ImportError:
    display = print

def _tito_hook(kind, value, tb, _default=sys.excepthook):
    if issubclass(kind, milestones.judge.PartLocked):
        sys.stdout.flush(); sys.stderr.flush()
        os._exit({LOCKED_EXIT})
    _default(kind, value, tb)

sys.excepthook = _tito_hook
"""


def chapter_script(stone: Milestone, parts: tuple[Part, ...]) -> str:
    """The setup cells plus the selected parts' cells, as one Python script."""
    setup, found = chapter_cells(stone.chapter_path)
    absent = [p.number for p in parts if p.number not in found]
    if absent:
        raise UsageError(f"{stone.chapter} has no cell calling judge.begin({stone.id!r}, "
                         f"part={absent[0]})")
    cells = setup + [cell for part in parts for cell in found[part.number]]
    body = "".join(f"\n# --- cell {k} ---\n{cell}\n" for k, cell in enumerate(cells, 1))
    return _PROLOGUE + body


def execute(script: str, cwd: Path) -> int:
    """Run a script in a fresh Python, its output streamed straight to this terminal."""
    with tempfile.TemporaryDirectory(prefix="tito-") as tmp:
        path = Path(tmp) / "chapter.py"
        path.write_text(script)
        sys.stdout.flush()
        return subprocess.call([sys.executable, str(path)], cwd=cwd, env=child_env(),
                               stdin=subprocess.DEVNULL)


def report(stone: Milestone, parts: tuple[Part, ...]) -> bool:
    """Print every selected criterion's recorded result; True if all are met."""
    records = judge.load_records(stone)
    ok = True
    say(f"\nMilestone {stone.id} ({stone.title}) results:")
    for part in parts:
        gaps = missing(part.modules)
        say(f"  part {part.number} {part.title}" + (f": locked, needs modules "
            + ", ".join(registry.module(n).label for n in gaps) if gaps else ""))
        for criterion in part.criteria:
            entry = records.get(criterion.key)
            status = entry["status"] if entry else (judge.LOCKED if gaps else NOT_RUN)
            value = judge.format_value(entry["value"]) if entry else "-"
            ok = ok and status == judge.MET
            say(f"    {paint(f'[{status.upper()}]', status)} {criterion.key}: {value} "
                f"(required {criterion.requirement})")
    return ok


def cmd_run(args) -> int:
    """``tito milestone run ID [--part N]``: execute the chapter's cells and grade them."""
    stone = find_milestone(args.id)
    parts = find_parts(stone, args.part)
    if not stone.chapter_path.exists():
        print(f"tito: milestone {stone.id} is not written yet ({stone.chapter})", file=sys.stderr)
        return 1
    script = chapter_script(stone, parts)
    judge.forget(stone, tuple(p.number for p in parts))
    chosen = ", ".join(str(p.number) for p in parts)
    say(f"Running {stone.chapter} (part {chosen}) with tinytorch from {tinytorch_root()}")
    code = execute(script, stone.chapter_path.parent)
    all_met = report(stone, parts)
    if code == LOCKED_EXIT:
        say("Stopped before training: the part is locked (build the missing modules, see "
            "`tito module status`) or its data is not downloaded (see the instructions above).")
        return 1
    if code != 0:
        say(f"The chapter raised (exit status {code}); see the traceback above.")
        if any(missing(p.modules) for p in parts):
            say("Some modules it needs are not provided yet (`tito module status`).")
        return 1
    return 0 if all_met else 1


# ---------------------------------------------------------------- modules and tests

def pytest_command(files: list[Path], extra: list[str]) -> list[str]:
    """A pytest command line for these test files."""
    return [*PYTHON, "-m", "pytest", *extra, *map(str, files)]


def run_pytest(files: list[Path], extra: list[str] = (), capture: bool = False) -> int:
    """Run pytest on these files from the book root, against the tinytorch under test."""
    try:
        import pytest  # noqa: F401  (only to say clearly when it is missing)
    except ImportError:
        raise UsageError("pytest is not installed; pip install -r requirements-dev.txt") from None
    sys.stdout.flush()
    done = subprocess.run(pytest_command(files, ["-q", *extra] if capture else list(extra)), cwd=registry.BOOK_ROOT,
                          env=child_env(), stdin=subprocess.DEVNULL, capture_output=capture)
    return done.returncode


def tests_cell(mod: Module, run: bool) -> str:
    """The tests column of ``module status``: a file count, or the result of running them."""
    files = list(mod.tests)
    if not files:
        return "no tests yet"
    if not run:
        return f"{len(files)} file{'s' * (len(files) > 1)}, run `tito test {mod.number}`"
    return "passed" if run_pytest(files, capture=True) == 0 else "failed"


def cmd_status(args) -> int:
    """``tito module status``: which modules are provided, their tests, what is unlocked."""
    say(f"tinytorch under test: {tinytorch_root()}")
    say(f"  {'module':<24} {'provided':<10} tests")
    failures = 0
    for mod in registry.MODULES:
        gaps = probe()[mod.number]
        provided = paint(f"{'no':<10}", "missed") if gaps else paint(f"{'yes':<10}", "ready")
        tests = tests_cell(mod, args.tests)
        failures += tests == "failed"
        say(f"  {mod.label:<24} {provided} {paint(tests, tests)}")
        if gaps:
            say(f"  {'':<24}   missing: {', '.join(gaps)}")
    say("\nMilestones:")
    for stone in registry.ALL_MILESTONES:
        status = stone_status(stone)
        say(f"  {stone.id:<18} {stone.title:<22} {paint(status, status)}")
    return 1 if failures else 0


def cmd_test(args) -> int:
    """``tito test N|all``: run a module's tests (or every module's) with pytest."""
    mods = registry.MODULES if args.module.strip().lower() == "all" else (find_module(args.module),)
    files = list(dict.fromkeys(f for mod in mods for f in mod.tests))
    if not files:
        names = ", ".join(f"tests/test_{m.slug}*.py" for m in mods)
        print(f"tito: no test files yet ({names})", file=sys.stderr)
        return 5  # pytest's "no tests collected"
    return run_pytest(files, args.pytest_args)


# ---------------------------------------------------------------- argument parsing

_EPILOG = """\
commands:
  tito milestone list                every milestone: modules per part, status
  tito milestone info ID             history, chapter, modules and criteria of one milestone
  tito milestone run ID [--part N]   execute the chapter's cells here and grade them
  tito module status [--tests]       which modules your tinytorch provides, what is unlocked
  tito test N|all                    run a module's tests (or every module's) with pytest

milestone IDs: a number (1 or 01), a name or an alias, or an extra's id:
  {ids}
  extras: {extras}
exit codes: 0 success; 1 a criterion missed, a part locked, a chapter raised, a chapter not
  written or tests failed; 2 a bad argument; tito test returns pytest's own exit code
environment: TINYTORCH_SRC (folder holding the tinytorch to test), TINYTORCH_RESULTS_DIR
  (where results are recorded, default .tito/results), NO_COLOR (no colours)
"""


def build_parser() -> Parser:
    """The ``tito`` command line: milestone list|info|run, module status, test."""
    ids = ", ".join(f"{m.id} " + "/".join(dict.fromkeys((m.slug, *m.aliases)))
                    for m in registry.MILESTONES)
    extras = ", ".join(m.id for m in registry.EXTRAS)
    parser = Parser(prog="tito", description="Run and check TinyTorch milestones from a terminal.",
                    formatter_class=argparse.RawDescriptionHelpFormatter,
                    epilog=_EPILOG.format(ids=ids, extras=extras))
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    milestone = commands.add_parser("milestone", help="list, describe and run milestones")
    actions = milestone.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser("list", help="every milestone with its modules and status").set_defaults(
        func=cmd_list)
    info = actions.add_parser("info", help="history, modules and criteria of one milestone")
    info.add_argument("id", help="milestone id: 1, 01, perceptron, ...")
    info.set_defaults(func=cmd_info)
    run = actions.add_parser("run", help="execute a chapter's cells here and grade them")
    run.add_argument("id", help="milestone id: 1, 01, perceptron, ...")
    run.add_argument("--part", type=int, help="run only this part (after the setup cells)")
    run.set_defaults(func=cmd_run)

    module = commands.add_parser("module", help="the status of tinytorch's modules")
    mod_actions = module.add_subparsers(dest="action", metavar="ACTION", required=True)
    status = mod_actions.add_parser("status", help="which modules are provided, what is unlocked")
    status.add_argument("--tests", action="store_true", help="also run every module's tests")
    status.set_defaults(func=cmd_status)

    test = commands.add_parser("test", help="run a module's tests with pytest")
    test.add_argument("module", help="module number (1 or 01), name (tensor), or 'all'")
    test.add_argument("pytest_args", nargs=argparse.REMAINDER, help="passed on to pytest (-x, -k ...)")
    test.set_defaults(func=cmd_test)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``tito`` console script and of ``python -m milestones.cli``."""
    os.environ.setdefault("TINYTORCH_RESULTS_DIR", str(registry.BOOK_ROOT / ".tito" / "results"))
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        parser.print_help()
        return 0
    try:
        args = parser.parse_args(argv)
        return args.func(args)
    except UsageError as err:
        print(f"tito: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tito: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `tito ... | head`: the reader has seen enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
