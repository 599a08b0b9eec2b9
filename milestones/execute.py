"""Run the chapters in parallel before Sphinx reads them: one kernel per core, longest first.

Sphinx's own ``-j`` reads documents in parallel in chunks of several documents, fixed before
any of them runs, so one slow chapter holds back the chapters queued behind it in its chunk and
nothing balances the load. Instead, just before Sphinx reads the documents, every chapter that
must run is executed here, ``jobs`` at a time, the longest first (:attr:`Milestone.seconds`),
each in its own kernel with one BLAS thread; its outputs go into the build's execution cache
(jupyter-cache, keyed by the chapter's code, in a folder keyed by the fingerprint of the code
under test), exactly as myst-nb would have stored them. Sphinx then renders every chapter from
that cache. A chapter whose kernel died or timed out is cached too, so that Sphinx renders what
it printed instead of running it again; the build reports it and drops it from the cache at the
end (:func:`forget`), so a later build runs it afresh.

The timed criteria stay honest under this load: each compares two timings taken interleaved in
the same kernel, and each kernel has a core of its own.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

from milestones import registry, scoreboard

JOBS_ENV = "TINYTORCH_JOBS"


def jobs() -> int:
    """How many chapters run at once: ``$TINYTORCH_JOBS``, else one per core (0 or 1: one at a time)."""
    text = os.environ.get(JOBS_ENV, "")
    if text.strip():
        try:
            return max(int(text), 1)
        except ValueError:
            raise ValueError(f"{JOBS_ENV}={text!r} is not a number of chapters to run at once") from None
    return max(os.cpu_count() or 1, 1)


@dataclass(frozen=True)
class Run:
    """One chapter's execution: how long it took and, if its kernel failed, why."""

    docname: str
    seconds: float
    error: str | None = None  # the kernel's failure (a traceback), None when the chapter ran to its end
    record: int | None = None  # its entry in the execution cache


def _execute(text: str, cwd: str, timeout: int) -> tuple[str, float, str | None]:
    """In a worker process: run one notebook (nbformat JSON); return it executed, its time, its failure.

    Cells that raise are the judge's business (it turns them into verdicts); a failure here is the
    kernel's: it died (the reader's code crashed the interpreter) or a cell ran past ``timeout``.
    The notebook comes back with the outputs of every cell that ran.
    """
    import traceback

    import nbformat
    from nbclient import execute as execute_notebook

    notebook = nbformat.reads(text, as_version=4)
    started, failure = time.perf_counter(), None
    try:
        execute_notebook(notebook, cwd=cwd, timeout=timeout, allow_errors=True, record_timing=False)  # as myst-nb
    except Exception:  # DeadKernelError, CellTimeoutError, a kernel that would not start
        failure = traceback.format_exc()
    return nbformat.writes(notebook), time.perf_counter() - started, failure


def _notebook(env, docname: str):
    """The chapter as myst-nb reads it (same cells, same metadata), so the cache key is the same."""
    from myst_nb.core.read import create_nb_reader

    path = env.doc2path(docname)
    text = Path(path).read_text(encoding="utf8")
    reader = create_nb_reader(str(path), env.myst_config, env.mystnb_config, text)
    return None if reader is None else reader.read(text)


def _counts(stone: registry.Milestone) -> str:
    counts = Counter(row.status.name for row in scoreboard.rows((stone,)))
    return ", ".join(f"{n} {state}" for state, n in counts.items()) or "no criteria"


def run_chapters(env, docnames, cache_path: str, timeout: int, workers: int, say=print) -> dict[str, Run]:
    """Execute the chapters among ``docnames`` that the cache lacks, ``workers`` at a time; cache them.

    Prints one line per chapter as it finishes. Returns what ran, by docname.
    """
    import nbformat
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    cache = get_cache(cache_path)
    chapters = {stone.docname: stone for stone in registry.ALL_MILESTONES}
    pending = []
    for docname in docnames:
        notebook = _notebook(env, docname) if docname in chapters else None
        if notebook is None:
            continue
        try:
            cache.match_cache_notebook(notebook)
        except KeyError:
            pending.append((docname, notebook))
    if not pending:
        return {}
    pending.sort(key=lambda item: -chapters[item[0]].seconds)  # the longest first: the shortest finish the day
    at_once = min(workers, len(pending))
    say(f"Running {len(pending)} chapter{'s' * (len(pending) > 1)}, "
        + (f"{at_once} at a time:" if at_once > 1 else "one at a time:"))
    done: dict[str, Run] = {}
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=min(workers, len(pending)), mp_context=get_context("spawn")) as pool:
        futures = {pool.submit(_execute, nbformat.writes(notebook), str(Path(env.doc2path(docname)).parent),
                               timeout): (docname, notebook) for docname, notebook in pending}
        while futures:
            finished, _ = wait(futures, return_when=FIRST_COMPLETED)
            for future in finished:
                docname, _ = futures.pop(future)
                try:
                    text, seconds, failure = future.result()
                except Exception as exc:  # the worker itself died: myst-nb runs the chapter as Sphinx reads it
                    say(f"  {docname}.md could not run here ({type(exc).__name__}: {exc}); Sphinx runs it")
                    continue
                record = cache.cache_notebook_bundle(
                    CacheBundleIn(nbformat.reads(text, as_version=4), str(env.doc2path(docname)),
                                  data={"execution_seconds": seconds}),
                    check_validity=False, overwrite=True)
                done[docname] = Run(docname, seconds, failure, record.pk)
                outcome = _counts(chapters[docname])
                if failure is not None:
                    outcome += "; the chapter did not finish: " + _last_line(failure)
                say(f"  {docname}.md ran in {seconds:.1f} s: {outcome}")
    wall = time.perf_counter() - started
    serial = sum(run.seconds for run in done.values())
    say(f"Chapters ran in {wall:.1f} s of wall time ({serial:.1f} s one after another).")
    return done


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "unknown error"


def forget(cache_path: str, runs) -> None:
    """Drop these runs (chapters that did not finish) from the execution cache, so they run again next time."""
    from jupyter_cache import get_cache

    cache = get_cache(cache_path)
    for run in runs:
        if run.record is not None:
            cache.remove_cache(run.record)
