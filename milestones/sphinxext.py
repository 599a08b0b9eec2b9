"""Sphinx extension: registry-driven pages, the results page and the strict verdict.

Directives ``milestone-table``, ``module-map`` and ``scoreboard`` render tables from the
registry (and the judge's records); at the end of the build the scoreboard is printed and,
under STRICT, the build fails naming every missed criterion and every chapter that raised.
"""

from __future__ import annotations

import re
import sys
import time
from collections import Counter
from pathlib import Path

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles

from milestones import execute, readiness, registry, scoreboard, settings

RESULTS_DOCNAME = "docs/results"
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


def _table(headers: list[str], body: list[list[str]], classes: tuple[str, ...] = (),
           status_column: int | None = None) -> nodes.table:
    """A docutils table from plain strings."""
    table = nodes.table(classes=list(classes))
    group = nodes.tgroup(cols=len(headers))
    table += group
    group.extend(nodes.colspec(colwidth=1) for _ in headers)
    head = nodes.thead()
    group += head
    head += _row(headers)
    tbody = nodes.tbody()
    group += tbody
    for cells in body:
        tbody += _row(cells, status_column)
    return table


def _row(cells: list[str], status_column: int | None = None) -> nodes.row:
    """A table row; the status cell (if any) gets a class so the page can colour it."""
    row = nodes.row()
    for column, text in enumerate(cells):
        classes = [f"tinytorch-status-{text.replace(' ', '-')}"] if column == status_column else []
        entry = nodes.entry(classes=classes)
        entry += nodes.paragraph(text=text)
        row += entry
    return row


def _criteria_text(stone: registry.Milestone) -> str:
    parts = []
    for part in stone.parts:
        crits = "; ".join(f"{c.description} {c.requirement}" for c in part.criteria) or "reported"
        prefix = f"part {part.number}: " if len(stone.parts) > 1 else ""
        parts.append(prefix + crits)
    return " | ".join(parts)


def _modules_text(stone: registry.Milestone) -> str:
    if len(stone.parts) == 1 or len({p.modules for p in stone.parts}) == 1:
        return registry.module_range(stone.parts[0].modules)
    return ", ".join(f"part {p.number}: {registry.module_range(p.modules)}" for p in stone.parts)


class MilestoneTable(SphinxDirective):
    """The milestone table (id, milestone, year, modules, criteria) straight from the registry.

    Each milestone's title links to its chapter; a milestone whose chapter is not part of
    this build says "not written yet" instead.
    """

    option_spec = {"extras": lambda arg: True}
    NOT_WRITTEN = "not written yet"

    def run(self):
        from sphinx import addnodes

        stones = registry.EXTRAS if "extras" in self.options else registry.MILESTONES
        body = [[s.id, s.title, str(s.year), _modules_text(s), _criteria_text(s)] for s in stones]
        table = _table(["id", "milestone", "year", "needs modules", "success criteria"], body)
        rows = next(iter(table.findall(nodes.tbody))).children
        for stone, row in zip(stones, rows):
            title = row.children[1].children[0]  # the paragraph of the "milestone" cell
            if stone.docname in self.env.found_docs:
                link = addnodes.pending_xref("", refdomain="std", reftype="doc", reftarget="/" + stone.docname,
                                             refexplicit=True, refwarn=True, refdoc=self.env.docname)
                link += nodes.inline(text=stone.title)
                title.children = []
                title += link
            else:
                title += nodes.emphasis(text=f" ({self.NOT_WRITTEN})")
        return [table]


class ModuleMap(SphinxDirective):
    """Modules 01-19: import path, key names, the files that are the module's work, and the
    milestones each one unlocks."""

    def run(self):
        body = []
        for mod in registry.MODULES:
            users = [s.id for s in registry.MILESTONES if mod.number in s.modules]
            files = [path.removeprefix("tinytorch/") for path in mod.files if path not in registry.SCAFFOLDING]
            body.append([f"{mod.number:02d}", mod.title, mod.import_path,
                         ", ".join(mod.names) or "(kernels)", ", ".join(files), ", ".join(users)])
        return [_table(["module", "name", "import path", "key names", "your files", "used by milestones"], body)]


class ApiReference(SphinxDirective):
    """One section per module the tinytorch under test provides, documented by autodoc.

    The generated lines are MyST Markdown (the directive is used in a MyST page); autodoc's
    own output is reStructuredText, hence the ``eval-rst`` block around each module.
    """

    def run(self):
        lines = []
        found = readiness.probe(Path(self.config.tinytorch_settings["root"]))  # in a child process
        for mod in registry.MODULES:
            state = found[mod.number]
            lines += [f"## {mod.number:02d} {mod.title}", ""]
            if not state.runnable:
                lines += [f"*Not documented: {state.text()}.*", ""]
                continue
            lines += ["```{eval-rst}", f".. automodule:: {mod.import_path}",
                      f"   :members: {', '.join(mod.names) or '__all__'}" if mod.names else "   :members:",
                      "   :no-index:", "```", ""]
        section = nodes.section()
        nested_parse_with_titles(self.state, StringList(lines, source="api-reference"), section)
        return section.children


class ScoreboardPlaceholder(nodes.General, nodes.Element):
    """Filled in after every chapter has run (see :func:`_fill_scoreboard`)."""


class Scoreboard(SphinxDirective):
    """The results page: every criterion with its measured value, from the judge's records."""

    def run(self):
        return [ScoreboardPlaceholder()]


def _fill_scoreboard(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    """Replace the placeholder once all chapters have executed and recorded their results."""
    for placeholder in doctree.findall(ScoreboardPlaceholder):
        body = [[r.name, str(r.part), r.criterion, r.value, r.requirement, r.status.name, r.detail]
                for r in scoreboard.rows()]
        placeholder.replace_self(_table(["milestone", "part", "criterion", "value", "required",
                                         "status", "why"], body, classes=("tinytorch-scoreboard",),
                                        status_column=5))


def _always_reread(app, env, added, changed, removed) -> list[str]:
    """Read again: the results page (it depends on every chapter's run) and every chapter that did
    not finish in the last build (its outputs were dropped from the cache, so it runs again)."""
    unfinished = [run.docname for run in getattr(env, "tinytorch_unfinished", ()) if run.docname in env.found_docs]
    return ([RESULTS_DOCNAME] if RESULTS_DOCNAME in env.found_docs else []) + unfinished


CHAPTER_DOCS = {stone.docname: stone for stone in registry.ALL_MILESTONES}


def _exec_data(app: Sphinx, docname: str) -> dict | None:
    return getattr(app.env, "nb_metadata", {}).get(docname, {}).get("exec_data")


def _log_file(app: Sphinx) -> Path:
    """Where the raw execution tracebacks of this build go (``_build/execution.log``)."""
    return Path(app.outdir).parent / "execution.log"


def _start_chapters(app: Sphinx, env, docnames: list[str]) -> None:
    """As Sphinx starts reading: run the chapters it will read in parallel (:mod:`milestones.execute`),
    and read the other pages first, then the chapters in the order they should finish."""
    app.tinytorch_runs = execute.ChapterRuns(env, docnames, app.config.tinytorch_settings["cache"],
                                             app.config.nb_execution_timeout, execute.jobs())
    app.tinytorch_runs.reading_order(docnames)
    env.tinytorch_unfinished = []


def _wait_for_chapter(app: Sphinx, docname: str) -> bool:
    """Before Sphinx reads a chapter that is running: wait for it; note a chapter that did not finish.
    False when it did not run after all (its worker died): myst-nb runs it now."""
    run = app.tinytorch_runs.wait(docname)
    if run is not None and run.error is not None:
        app.env.tinytorch_unfinished.append(run)
        _note_crash(app, run.docname, run.error)
    return run is not None


def _chapters_done(app: Sphinx, env) -> list[str]:
    """Every page is read: the workers stop (a chapter no page read is waited for too)."""
    for run in app.tinytorch_runs.close().values():
        if run.error is not None and run not in env.tinytorch_unfinished:
            env.tinytorch_unfinished.append(run)
            _note_crash(app, run.docname, run.error)
    return []


def _reported_before(app: Sphinx, docname: str) -> bool:
    """Was this chapter run (and reported) before Sphinx read it?"""
    runs = getattr(app, "tinytorch_runs", None)
    return runs is not None and (docname in runs.runs or docname in runs.futures)


def _announce_chapter(app: Sphinx, docname: str, source: list[str]) -> None:
    """Before a chapter is read: wait for its run, or (when myst-nb runs it now) say so, since it can take a while."""
    if docname not in CHAPTER_DOCS or (_reported_before(app, docname) and _wait_for_chapter(app, docname)):
        return
    app.env.tinytorch_started = time.time()
    print(f"  {docname}.md ...", end="", flush=True)


def _report_chapter(app: Sphinx, doctree: nodes.document) -> None:
    """After a chapter is read: how long it ran (or that it came from the cache) and what it recorded."""
    docname = app.env.docname
    stone = CHAPTER_DOCS.get(docname)
    if stone is None or _reported_before(app, docname):
        return
    data = _exec_data(app, docname) or {}
    fresh = data.get("mtime", 0) >= getattr(app.env, "tinytorch_started", 0)
    counts = Counter(row.status.name for row in scoreboard.rows((stone,)))
    recorded = ", ".join(f"{n} {state}" for state, n in counts.items()) or "no criteria"
    ran = f"ran in {data['runtime']:.1f} s" if fresh and data.get("runtime") else "outputs from the cache"
    print(f" {ran}: {recorded}", flush=True)
    if fresh and not data.get("succeeded", True):
        last = _note_crash(app, docname, data.get("traceback") or data.get("error") or "")
        print(f"    the chapter did not finish: {last} (traceback in {_log_file(app)})", flush=True)


def _note_crash(app: Sphinx, docname: str, traceback: str) -> str:
    """Log a chapter that did not finish (its traceback to execution.log); return its last line."""
    text = ANSI_ESCAPE.sub("", traceback)
    with _log_file(app).open("a") as log:
        log.write(f"===== {docname}.md\n{text}\n")
    last = [line for line in text.strip().splitlines() if line.strip()] or ["unknown error"]
    app.env.tinytorch_crashes[docname] = last[-1]
    return last[-1]


def _chapter_errors(app: Sphinx) -> list[str]:
    """Chapters whose execution did not finish in this build (a crashed kernel, a timeout)."""
    return [f"milestones: {docname}.md did not finish running: {error}"
            for docname, error in sorted(getattr(app.env, "tinytorch_crashes", {}).items())]


def _run_times(app: Sphinx) -> str:
    """How long each chapter executed in this build (cached chapters are not listed)."""
    metadata = getattr(app.env, "nb_metadata", {})
    times = [(docname, data["exec_data"]) for docname, data in sorted(metadata.items())
             if data.get("exec_data") and data["exec_data"].get("runtime")
             and data["exec_data"]["mtime"] >= app.env.nb_build_started]
    if not times:
        return "No chapter executed in this build (all outputs came from the cache)."
    listed = ", ".join(f"{Path(doc).name} {data['runtime']:.1f} s" for doc, data in times)
    return f"Chapters executed in this build ({sum(d['runtime'] for _, d in times):.1f} s): {listed}"


def _note_build_start(app: Sphinx) -> None:
    """Remember when this build began (to tell fresh executions from cached ones); start a new log."""
    app.env.nb_build_started = time.time()
    app.env.tinytorch_crashes = {}
    log = _log_file(app)
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("")
    chosen = app.config.tinytorch_settings
    if settings.strict():
        mode = "strict: every chapter runs"
    elif any(Path(chosen["cache"]).glob("*")):
        mode = "chapters already run for this code reuse their cached outputs"
    else:
        mode = "nothing cached for this code yet: every chapter runs"
    print(f"TinyTorch book: tinytorch from {chosen['root']} (fingerprint {chosen['fingerprint']}), "
          f"{mode}", flush=True)


def _verdict(app: Sphinx, exception) -> None:
    """Print the scoreboard; under STRICT fail the build with one line per problem."""
    if getattr(app, "tinytorch_runs", None) is not None:
        app.tinytorch_runs.stop()  # after an error in Sphinx itself, no kernel outlives the build
    execute.forget(app.config.tinytorch_settings["cache"], getattr(app.env, "tinytorch_unfinished", ()))
    if exception is not None or app.builder.format != "html":
        return
    table = scoreboard.rows()
    print("\n" + scoreboard.render_text(table, colour=sys.stdout.isatty()), flush=True)
    print(_run_times(app), flush=True)
    _write_root_redirect(Path(app.outdir), app.config.root_doc)
    print(f"The book is in {app.outdir}; open {Path(app.outdir) / 'index.html'}", flush=True)
    if not settings.strict():
        return
    problems = _chapter_errors(app) + scoreboard.problem_lines(scoreboard.failures(table))
    if problems:
        print("\nSTRICT build failed:\n  " + "\n  ".join(problems), file=sys.stderr, flush=True)
        app.statuscode = 1


def _write_root_redirect(outdir: Path, root_doc: str) -> None:
    """``_build/html/index.html`` sends readers to the landing page."""
    target = f"{root_doc}.html"
    if root_doc != "index":
        (outdir / "index.html").write_text(
            f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>TinyTorch</title>'
            f'<meta http-equiv="refresh" content="0; url={target}">'
            f'<link rel="icon" href="_static/favicon.svg"></head>'
            f'<body><a href="{target}">TinyTorch</a></body></html>\n')


def setup(app: Sphinx) -> dict:
    app.add_config_value("tinytorch_fingerprint", "", "env")
    app.add_config_value("tinytorch_settings", {}, "")
    app.add_directive("milestone-table", MilestoneTable)
    app.add_directive("module-map", ModuleMap)
    app.add_directive("scoreboard", Scoreboard)
    app.add_directive("api-reference", ApiReference)
    app.add_node(ScoreboardPlaceholder)
    app.connect("env-get-outdated", _always_reread)
    app.connect("doctree-resolved", _fill_scoreboard)
    app.connect("builder-inited", _note_build_start)
    app.connect("env-before-read-docs", _start_chapters)
    app.connect("env-updated", _chapters_done)
    app.connect("source-read", _announce_chapter)
    app.connect("doctree-read", _report_chapter)
    app.connect("build-finished", _verdict)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
