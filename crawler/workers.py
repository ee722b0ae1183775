"""Extraction in worker processes, so the crawl uses every core: the Scrapy process fetches, judges and
writes while ZWGK_EXTRACT_WORKERS processes extract (and hash and segment for the search index).

    pool = ExtractorPool(2)
    pool.start()                                     # fork the workers now, while the process is small
    page, prepared = await pool.run(extract_and_prepare, html, url, site_name, prune, hints)
    pool.close()

A worker that dies (segfault, OOM kill, os._exit) costs only the page that killed it: at most
2 × workers pages are in the pool at once, and those caught by the crash are each retried once in a
process of their own, where only the culprit fails again (WorkerCrashed).
"""
from __future__ import annotations

import asyncio
import ctypes
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from archive.store import Prepared, prepare
from crawler.extract import Page, extract_page

logger = logging.getLogger(__name__)


class WorkerCrashed(RuntimeError):
    """The worker process running this task died (twice: in the pool and alone)."""


def default_workers() -> int:
    """ZWGK_EXTRACT_WORKERS when not set: one per core, at most two."""
    return min(2, os.cpu_count() or 1)


def extract_and_prepare(html: str, url: str, site_name: str | None, prune: Sequence[str],
                        hints: Mapping[str, str] | None) -> tuple[Page, Prepared]:
    """All the CPU-bound work on one page: extraction, then normalising, hashing and segmenting it."""
    page = extract_page(html, url, site_name=site_name, prune=prune, hints=hints)
    return page, prepare(page)


def extract_file(body: bytes, time_limit: float | None) -> tuple[Any, str | None]:
    """The CPU-bound work on one attachment: sniff and extract its text (archive.filetext, at most
    `time_limit` seconds), then segment the text for the search index. (Extracted, segmented text)."""
    from archive.filetext import extract
    from archive.search import segment

    result = extract(body, time_limit=time_limit)
    return result, segment(result.text) if result.text else None


def _ready() -> int:
    return os.getpid()


PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> None:
    """Worker initializer: end this worker when the crawl process ends, however it ends (kill -9
    included), so no orphan keeps the crawl's output pipes open. Linux: the kernel sends SIGKILL
    (prctl PR_SET_PDEATHSIG); everywhere: a watchdog thread checks the parent once a second."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass

    def watch() -> None:
        while True:
            if os.getppid() != parent:
                os._exit(0)
            time.sleep(1)

    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(0)
    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()


class ExtractorPool:
    """A process pool for extraction that survives a crashing worker (see the module docstring)."""

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise ValueError(f"ExtractorPool needs at least one worker, not {workers}")
        self.workers = workers
        self._context = multiprocessing.get_context("fork" if os.name == "posix" else "spawn")
        self._pool: ProcessPoolExecutor | None = None
        self._slots: asyncio.Semaphore | None = None

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(self.workers, mp_context=self._context,
                                             initializer=_die_with_parent, initargs=(os.getpid(),))
        return self._pool

    def start(self) -> None:
        """Start the workers now (one trivial task each) rather than at the first page."""
        pool = self._executor()
        for _ in range(self.workers):
            pool.submit(_ready)

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """fn(*args) in a worker process; its exception is re-raised here; WorkerCrashed if it kills
        its worker twice."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(2 * self.workers)
        async with self._slots:
            pool = self._executor()
            try:
                return await asyncio.wrap_future(pool.submit(fn, *args))
            except BrokenProcessPool:
                if self._pool is pool:  # the first task to notice replaces the pool for everyone
                    self._pool = None
                    pool.shutdown(wait=False, cancel_futures=True)
        # caught in a crash: once more, alone, so that only the page that kills its worker fails
        with ProcessPoolExecutor(1, mp_context=self._context, initializer=_die_with_parent,
                                 initargs=(os.getpid(),)) as alone:
            try:
                return await asyncio.wrap_future(alone.submit(fn, *args))
            except BrokenProcessPool:
                raise WorkerCrashed("the extraction worker process died on this page") from None

    def close(self) -> None:
        """Stop the workers (pending tasks are cancelled); safe to call twice."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
