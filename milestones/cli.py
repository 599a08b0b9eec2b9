"""``tito``: list, inspect and run the milestones, check the modules and run their tests.

Everything it shows is derived from :mod:`milestones.registry`, the module states of
:mod:`milestones.readiness` and the judge's records, in the one status model of
:mod:`milestones.status`. Records live in a folder per fingerprint of the code that ran
(``.tito/results/<fingerprint>``), so a result is shown only for the code that produced it. The
reader's tinytorch is only ever imported in child processes, so a broken tinytorch cannot
crash ``tito`` itself.
"""

from __future__ import annotations

import argparse
import functools
import os
import subprocess
import sys
from pathlib import Path

from milestones import readiness, records, registry, scoreboard, settings, skeleton, status
from milestones.registry import Milestone, Module, Part
from milestones.status import Status

# -P keeps the working folder off sys.path, so the book's tinytorch cannot shadow TINYTORCH_SRC.
PYTHON = [sys.executable, "-P"] if sys.version_info >= (3, 11) else [sys.executable]


class UsageError(Exception):
    """A bad argument: printed as one ``tito: ...`` line on stderr, exit status 2."""


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one clear line on stderr and exit status 2."""

    def error(self, message: str) -> None:
        if "required: COMMAND" in message or "required: ACTION" in message:
            choices = [a for a in self._subparsers._group_actions[0].choices] if self._subparsers else []
            message = f"choose one of: {', '.join(choices)}"
        raise UsageError(f"{self.prog}: {message} (see `{self.prog} --help`)")


# ---------------------------------------------------------------- terminal

def use_colour() -> bool:
    """Colour only for a terminal, and never when NO_COLOR is set (https://no-color.org)."""
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ


def paint(text: str, state: Status) -> str:
    """``text`` in the state's colour (plain text without a terminal)."""
    return scoreboard.paint(text, state, use_colour())


def say(text: str = "") -> None:
    """Print and flush, so tito's lines stay in order with a child's streamed output."""
    print(text, flush=True)


# ---------------------------------------------------------------- environment

def tinytorch_root() -> Path:
    """The folder holding the tinytorch under test: ``$TINYTORCH_SRC`` or the book root."""
    try:
        return settings.tinytorch_root()
    except FileNotFoundError as exc:
        raise UsageError(str(exc)) from exc


@functools.lru_cache(maxsize=None)
def results_dir() -> Path:
    """Where tito records results for the tinytorch under test: ``<base>/<fingerprint>``.

    ``<base>`` is ``$TINYTORCH_RESULTS_DIR`` or ``.tito/results`` in the book; the fingerprint is
    that of the tinytorch sources, the data and the harness, so editing any of them starts afresh.
    """
    base = Path(os.environ.get(settings.RESULTS_ENV) or registry.BOOK_ROOT / ".tito" / "results")
    return base / settings.fingerprint(tinytorch_root())


def child_env() -> dict[str, str]:
    """Environment of every child process: the tinytorch under test first on PYTHONPATH."""
    env = dict(os.environ)
    env["PYTHONPATH"] = settings.python_path(tinytorch_root())
    env.update(MPLBACKEND="Agg", PYTHONUNBUFFERED="1", **settings.RUN_ENV)
    env[settings.RESULTS_ENV] = str(results_dir())
    return env


@functools.lru_cache(maxsize=None)
def probe() -> dict[int, readiness.ModuleState]:
    """The state of every module of the tinytorch under test, found in a child process."""
    return readiness.probe(tinytorch_root())


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


# ---------------------------------------------------------------- part and milestone status

def labels(numbers) -> str:
    """Module numbers as ``05, 06``."""
    return ", ".join(f"{n:02d}" for n in numbers)


# When a part's criteria disagree, the part reads as the worst of them, in this order.
_WORST_FIRST = (status.ERROR, status.MISSED, status.NOT_RUN, status.NOT_IMPLEMENTED, status.LOCKED,
                status.NO_DATA, status.MET)


def part_status(stone: Milestone, part: Part, found: dict[str, records.Record]) -> tuple[Status, str]:
    """One part's state for this code: from its modules (error, locked) or its records (met, missed, ...).

    With no record for this code: ``stubs left`` when a module it needs still has stubs, else
    ``not run`` (for this code). A record is shown only if this code produced it.
    """
    states = [probe()[n] for n in part.modules]
    broken = [s for s in states if s.status is status.ERROR]
    if broken:
        return status.ERROR, broken[0].where
    gaps = [s.number for s in states if not s.runnable]
    if gaps:
        return status.LOCKED, f"needs {registry.module_range(tuple(gaps))}"
    graded = [found[c.key].status for c in part.criteria if c.key in found]
    if len(graded) == len(part.criteria):
        return next(s for s in _WORST_FIRST if s in graded), ""
    stubs = {s.number: s.stubs for s in states if s.stubs}
    if stubs:
        return status.STUBS_LEFT, f"{sum(stubs.values())} in {registry.module_range(tuple(stubs))}"
    return status.NOT_RUN, "for this code"


def stone_status(stone: Milestone) -> str:
    """The status text of a milestone for the list: one state, or one per part when they differ."""
    if not stone.chapter_path.exists():
        return paint(status.NOT_WRITTEN.label(stone.chapter), status.NOT_WRITTEN)
    found = records.load(stone, results_dir())
    parts = [(part, *part_status(stone, part, found)) for part in stone.parts]
    if len({(state, detail) for _, state, detail in parts}) == 1:
        _, state, detail = parts[0]
        return paint(state.label(detail), state)
    return "; ".join(f"part {part.number} " + paint(state.label(detail), state) for part, state, detail in parts)


def print_table(title: str, stones: tuple[Milestone, ...]) -> None:
    """One table of milestones: id, name, year, modules per part, status."""
    width, name = max(len(s.id) for s in stones), max(len(s.title) for s in stones)
    mods = {stone.id: " / ".join(registry.module_range(p.modules) for p in stone.parts) for stone in stones}
    wide = max(len("modules (per part)"), *map(len, mods.values()))
    say(title)
    say(f"  {'id':<{width}}  {'name':<{name}} {'year':<5} {'modules (per part)':<{wide}} status")
    for stone in stones:
        say(f"  {stone.id:<{width}}  {stone.title:<{name}} {stone.year:<5} {mods[stone.id]:<{wide}} "
            f"{stone_status(stone)}")


def cmd_list(args) -> int:
    """``tito milestone list``: the milestones and the extras with their status for this code."""
    print_table("Milestones", registry.MILESTONES)
    say()
    print_table("Extras", registry.EXTRAS)
    say()
    say(f"Results for this code (tinytorch from {tinytorch_root()}) are recorded by `tito milestone run` "
        f"in {results_dir()}")
    return 0


def cmd_info(args) -> int:
    """``tito milestone info ID``: history, chapter, and per part its modules, state and criteria."""
    stone = find_milestone(args.id)
    written = "" if stone.chapter_path.exists() else " (not written yet)"
    say(f"Milestone {stone.id}: {stone.title} ({stone.year}){'  [extra]' if stone.extra else ''}")
    say(f"  {stone.summary}")
    if stone.history:
        say(f"  History: {stone.history}")
    say(f"  Chapter: {stone.chapter}{written}")
    say(f"  Status:  {stone_status(stone)}")
    found = records.load(stone, results_dir())
    for part in stone.parts:
        state, detail = part_status(stone, part, found)
        say(f"\n  Part {part.number}: {part.title}: {paint(state.label(detail), state)}")
        say(f"    modules {registry.module_range(part.modules)}")
        for criterion in part.criteria:
            say(f"    - {criterion.key}: {criterion.description}, required {criterion.requirement}")
        if not part.criteria:
            say("    (no criteria: reports what it reaches)")
    return 0


# ---------------------------------------------------------------- running a chapter

def execute(stone: Milestone, parts: tuple[Part, ...]) -> int:
    """Run the chapter's set-up and chosen parts in a fresh Python (milestones.runner), output streamed here."""
    command = [*PYTHON, "-m", "milestones.runner", stone.id, "--chapter", str(stone.chapter_path)]
    for part in parts:
        command += ["--part", str(part.number)]
    sys.stdout.flush()
    return subprocess.call(command, cwd=stone.chapter_path.parent, env=child_env(), stdin=subprocess.DEVNULL)


def report(stone: Milestone, parts: tuple[Part, ...]) -> bool:
    """Print every selected criterion's recorded result; True if all are met."""
    found = records.load(stone, results_dir())
    ok = True
    say(f"\nMilestone {stone.id} ({stone.title}) results:")
    for part in parts:
        say(f"  part {part.number} {part.title}")
        for criterion in part.criteria:
            record = found.get(criterion.key)
            state = record.status if record else status.NOT_RUN
            detail = record.detail if record else "never checked"
            value = records.format_value(record.value if record else None)
            ok = ok and state is status.MET
            say(f"    {paint(f'[{state.name.upper()}]', state)} {criterion.key}: {value} "
                f"(required {criterion.requirement})" + (f": {detail}" if detail and state is not status.MET else ""))
    return ok


def cmd_run(args) -> int:
    """``tito milestone run ID [--part N]``: execute the chapter's cells here and grade them."""
    stone = find_milestone(args.id)
    parts = find_parts(stone, args.part)
    if not stone.chapter_path.exists():
        print(f"tito: milestone {stone.id} is not written yet ({stone.chapter})", file=sys.stderr)
        return 1
    chosen = ", ".join(str(p.number) for p in parts)
    say(f"Running {stone.chapter} (part {chosen}) with tinytorch from {tinytorch_root()}")
    code = execute(stone, parts)
    all_met = report(stone, parts)
    if code != 0:
        say(f"The chapter's Python process ended abnormally (exit status {code}); see above.")
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


def tests_cell(mod: Module, run: bool) -> tuple[str, Status | None]:
    """The tests column of ``module status``: a file count, or the result of running them now."""
    files = list(mod.tests)
    if not files:
        return "no tests yet", None
    if not run:
        return f"{len(files)} file{'s' * (len(files) > 1)}, run `tito test {mod.number}`", None
    return ("passed", status.MET) if run_pytest(files, capture=True) == 0 else ("failed", status.MISSED)


def cmd_status(args) -> int:
    """``tito module status``: each module not written, locked, error (file and line), stubs left
    (n of m) or written; its tests; and each milestone's state for this code."""
    say(f"tinytorch under test: {tinytorch_root()}")
    say(f"  {'module':<24} {'state':<22} tests")
    failures = 0
    for mod in registry.MODULES:
        state = probe()[mod.number]
        tests, tests_state = tests_cell(mod, args.tests)
        failures += tests_state is status.MISSED
        short = state.text() if state.status is status.STUBS_LEFT else state.status.name
        tests = paint(tests, tests_state) if tests_state else tests
        say(f"  {mod.label:<24} {paint(f'{short:<22}', state.status)} {tests}")
        if state.detail and state.status is not status.STUBS_LEFT:
            say(f"  {'':<24}   {state.detail}")
    say("\nMilestones (for this code):")
    for stone in registry.ALL_MILESTONES:
        say(f"  {stone.id:<18} {stone.title:<22} {stone_status(stone)}")
    return 1 if failures else 0


def cmd_test(args) -> int:
    """``tito test N|all``: run a module's tests (or every module's) with pytest."""
    if args.module is None:
        raise UsageError("tito test: which module? give a number (1-19), a name such as tensor, or 'all'")
    mods = registry.MODULES if args.module.strip().lower() == "all" else (find_module(args.module),)
    files = list(dict.fromkeys(f for mod in mods for f in mod.tests))
    if not files:
        names = ", ".join(str(m.test_folder.relative_to(registry.BOOK_ROOT)) for m in mods)
        print(f"tito: no test files yet ({names})", file=sys.stderr)
        return 5  # pytest's "no tests collected"
    return run_pytest(files, args.pytest_args)


def cmd_init(args) -> int:
    """``tito init DIR``: write DIR/tinytorch, every module as stubs to fill in, generated from the reference."""
    folder = Path(args.folder).expanduser()
    try:
        written = skeleton.write_skeleton(folder)
    except skeleton.SkeletonExists as err:
        raise UsageError(f"tito init: {err}") from None
    say(f"Wrote {len(written)} files to {folder / 'tinytorch'}: every module's classes and functions with")
    say("their signatures and docstrings; each body raises NotImplementedError naming its module and file.")
    say("Next: implement module 01 (tinytorch/core/tensor.py and friends), then see what it unlocks:")
    say(f"  TINYTORCH_SRC={folder} tito module status")
    say(f"  TINYTORCH_SRC={folder} tito test 1")
    say(f"  TINYTORCH_SRC={folder} make strict")
    return 0


def cmd_grade(args) -> int:
    """``tito grade SUBMISSION...``: every student's tinytorch judged by a strict build (milestones.grade)."""
    from milestones import grade
    try:
        plan = grade.plan(args.submissions, args.out, args.milestones, args.timeout, args.keep_books)
    except grade.BadArguments as err:
        raise UsageError(f"tito grade: {err}") from None
    return grade.run(plan)


# ---------------------------------------------------------------- argument parsing

_EPILOG = """\
commands:
  tito milestone list                every milestone: modules per part, status
  tito milestone info ID             history, chapter, modules and criteria of one milestone
  tito milestone run ID [--part N]   execute the chapter's cells here and grade them
  tito module status [--tests]       which modules your tinytorch provides, what is unlocked
  tito test N|all                    run a module's tests (or every module's) with pytest
  tito init DIR                      write DIR/tinytorch: every module as stubs to fill in
  tito grade SUBMISSION... [--out DIR] [--milestones 01,02] [--timeout S] [--keep-books]
                                     judge a class's tinytorches: grades.csv, grades.json, feedback pages

milestone IDs: a number (1 or 01), a name or an alias, or an extra's id:
  {ids}
  extras: {extras}
exit codes: 0 success; 1 a criterion missed, a part locked, a chapter raised, a chapter not
  written or tests failed; 2 a bad argument; tito test returns pytest's own exit code
environment: TINYTORCH_SRC (folder holding the tinytorch to test), TINYTORCH_RESULTS_DIR
  (where results are recorded, default .tito/results, one folder per fingerprint of the code),
  NO_COLOR (no colours)
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
    test.add_argument("module", nargs="?", help="module number (1 or 01), name (tensor), or 'all'")
    test.add_argument("pytest_args", nargs=argparse.REMAINDER, help="passed on to pytest (-x, -k ...)")
    test.set_defaults(func=cmd_test)

    init = commands.add_parser("init", help="write a tinytorch skeleton to fill in")
    init.add_argument("folder", help="where to write it (DIR/tinytorch must not exist yet)")
    init.set_defaults(func=cmd_init)

    grade = commands.add_parser("grade", help="judge a class's tinytorches, one table out")
    grade.add_argument("submissions", nargs="*", metavar="SUBMISSION", help="a folder holding a tinytorch/ package")
    grade.add_argument("--out", default="grades", help="where grades.csv, grades.json and the feedback go (./grades)")
    grade.add_argument("--milestones", help="which milestones, e.g. 01,02 (default: every main milestone)")
    grade.add_argument("--timeout", type=float, help="seconds each student's build may take (default: 20 minutes)")
    grade.add_argument("--keep-books", action="store_true", help="also keep each student's rendered book pages")
    grade.set_defaults(func=cmd_grade)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``tito`` console script and of ``python -m milestones.cli``."""
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    try:
        unknown = next((a for a in argv[:1] if a.startswith("-") and a not in ("-h", "--help")), None)
        if unknown:
            raise UsageError(f"tito: unrecognized option {unknown!r} (see `tito --help`)")
        args = parser.parse_args(argv)
        return args.func(args)
    except UsageError as err:
        text = str(err)
        print(text if text.startswith("tito") else f"tito: {text}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tito: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `tito ... | head`: the reader has seen enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
