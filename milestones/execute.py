"""Run the chapters in parallel while Sphinx reads the book: one kernel per core, longest first.

Sphinx's own ``-j`` reads documents in parallel in chunks of several documents, fixed before
any of them runs, so one slow chapter holds back the chapters queued behind it in its chunk and
nothing balances the load. Instead, as Sphinx starts reading, every chapter that must run is
submitted here, ``jobs`` at a time, the longest first (:attr:`Milestone.seconds`), each in its
own kernel with one BLAS thread. Sphinx reads the other pages meanwhile, then each chapter in
the order they are expected to finish; reading a chapter waits for its run, whose outputs go
into the build's execution cache (jupyter-cache, keyed by the chapter's code, in a folder keyed
by the fingerprint of the code under test) exactly as myst-nb would have stored them, so myst-nb
renders the chapter from that cache. A chapter whose kernel died or timed out is cached too, so
that Sphinx renders what it printed instead of running it again; the build reports it and drops
it from the cache at the end (:func:`forget`), so a later build runs it afresh.

The timed criteria stay honest under this load: each compares two timings taken interleaved in
the same kernel, and each kernel has a core of its own.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
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
        # record_timing off as myst-nb (the cache key hashes cell metadata); the kernel is killed once the last
        # cell has answered: everything it printed or wrote is in by then, and a graceful shutdown waits ~0.5 s
        execute_notebook(notebook, cwd=cwd, timeout=timeout, allow_errors=True, record_timing=False,
                         shutdown_kernel="immediate")
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


def _expected_finish(docnames: list[str], workers: int) -> dict[str, float]:
    """When each chapter should finish if ``workers`` run them longest first (from :attr:`Milestone.seconds`)."""
    seconds = {stone.docname: stone.seconds for stone in registry.ALL_MILESTONES}
    free = [0.0] * max(workers, 1)
    finish = {}
    for docname in sorted(docnames, key=lambda d: -seconds[d]):
        start = min(free)
        free[free.index(start)] = finish[docname] = start + seconds[docname]
    return finish


class ChapterRuns:
    """The chapters of one build running in worker processes while Sphinx reads; see the module docstring."""

    def __init__(self, env, docnames: list[str], cache_path: str, timeout: int, workers: int, say=print):
        import nbformat
        from jupyter_cache import get_cache

        self.env, self.say, self.cache = env, say, get_cache(cache_path)
        chapters = {stone.docname: stone for stone in registry.ALL_MILESTONES}
        pending = []
        for docname in docnames:
            notebook = _notebook(env, docname) if docname in chapters else None
            if notebook is None:
                continue
            try:
                self.cache.match_cache_notebook(notebook)
            except KeyError:
                pending.append(docname)
        self.runs: dict[str, Run] = {}
        self.futures = {}
        self.started = time.perf_counter()
        self.pool = None
        if not pending:
            return
        at_once = min(workers, len(pending))
        say(f"Running {len(pending)} chapter{'s' * (len(pending) > 1)}, "
            + (f"{at_once} at a time:" if at_once > 1 else "one at a time:"))
        self.pool = ProcessPoolExecutor(max_workers=at_once, mp_context=get_context("spawn"))
        self.finish = _expected_finish(pending, at_once)
        for docname in sorted(pending, key=lambda d: -chapters[d].seconds):  # the longest first
            notebook = _notebook(env, docname)
            future = self.pool.submit(_execute, nbformat.writes(notebook), str(Path(env.doc2path(docname)).parent),
                                      timeout)
            future.add_done_callback(lambda done, docname=docname: self._announce(docname, done))
            self.futures[docname] = future

    def reading_order(self, docnames: list[str]) -> None:
        """Reorder ``docnames`` in place: the pages that wait for nothing first, then the chapters that
        run, in the order they should finish."""
        waiting = sorted((d for d in docnames if d in self.futures), key=lambda d: self.finish[d])
        docnames[:] = [d for d in docnames if d not in self.futures] + waiting

    def _announce(self, docname: str, future) -> None:
        """As a chapter finishes (in the pool's thread): its progress line."""
        try:
            _, seconds, failure = future.result()
        except Exception as exc:  # the worker itself died: myst-nb runs the chapter as Sphinx reads it
            self.say(f"  {docname}.md could not run here ({type(exc).__name__}: {exc}); Sphinx runs it")
            return
        stone = next(s for s in registry.ALL_MILESTONES if s.docname == docname)
        outcome = _counts(stone) + ("" if failure is None else "; the chapter did not finish: " + _last_line(failure))
        self.say(f"  {docname}.md ran in {seconds:.1f} s: {outcome}")

    def wait(self, docname: str) -> Run | None:
        """Block until this chapter ran; put its outputs in the cache (here, in Sphinx's thread). None if
        it did not run here (cached already, or its worker died)."""
        future = self.futures.pop(docname, None)
        if future is None:
            return None
        try:
            text, seconds, failure = future.result()
        except Exception:
            return None  # announced already; myst-nb runs it
        import nbformat
        from jupyter_cache.base import CacheBundleIn

        record = self.cache.cache_notebook_bundle(
            CacheBundleIn(nbformat.reads(text, as_version=4), str(self.env.doc2path(docname)),
                          data={"execution_seconds": seconds}),
            check_validity=False, overwrite=True)
        self.runs[docname] = Run(docname, seconds, failure, record.pk)
        return self.runs[docname]

    def stop(self) -> None:
        """Stop at once: cancel what has not started, end the workers (and with them their kernels)."""
        if self.pool is not None:
            for process in list(getattr(self.pool, "_processes", {}).values()):
                process.terminate()
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = None

    def close(self) -> dict[str, Run]:
        """Wait for what is left (a chapter Sphinx did not read), stop the workers, say the totals."""
        for docname in list(self.futures):
            self.wait(docname)
        if self.pool is not None:
            self.pool.shutdown()
            self.pool = None
            serial = sum(run.seconds for run in self.runs.values())
            self.say(f"Chapters ran in {time.perf_counter() - self.started:.1f} s of wall time "
                     f"({serial:.1f} s one after another).")
        return self.runs


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
