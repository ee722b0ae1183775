"""Extraction in worker processes, so the crawl uses every core: the Scrapy process fetches, judges and
writes while ZWGK_EXTRACT_WORKERS processes extract (and hash and segment for the search index).

    pool = ExtractorPool(2)
    pool.start()                                     # fork the workers now, while the process is small
    page, prepared = await pool.run(extract_and_prepare, html, url, site_name, prune, hints)
    pool.close()

A worker that dies (segfault, OOM kill, os._exit) costs only the page that killed it: at most
QUEUED × workers pages are in the pool at once, and those caught by the crash are each retried once in a
process of their own, where only the culprit fails again (WorkerCrashed).

A worker loads the extractor and its rules as soon as it starts (`_warm_up`), not on its first page. The
crawl process (crawler/run.py) starts its workers before it imports Scrapy, so that this happens on the
other core while Scrapy starts; this module imports nothing heavy itself, for the same reason.
"""
from __future__ import annotations

import asyncio
import ctypes
import itertools
import logging
import multiprocessing
import os
import pickle
import queue
import signal
import struct
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from archive.store import Prepared
    from crawler.extract import Page

logger = logging.getLogger(__name__)
# Pages in the pool at once, per worker: one running and a few queued in its pipe, so the workers keep
# busy while the crawl's thread is away for a while (a group commit writes its pages' search rows).
QUEUED = 4


class WorkerCrashed(RuntimeError):
    """The worker process running this task died (twice: in the pool and alone)."""


def default_workers() -> int:
    """ZWGK_EXTRACT_WORKERS when not set: one per core, at most two."""
    return min(2, os.cpu_count() or 1)


def worker_count(setting: Any) -> int:
    """The number of workers the setting ZWGK_EXTRACT_WORKERS asks for (None or "": the default)."""
    return default_workers() if setting in (None, "") else int(setting)


def extract_and_prepare(html: str, url: str, site_name: str | None, prune: Sequence[str],
                        hints: Mapping[str, str] | None, body: bytes | None = None) -> tuple[Page, Prepared]:
    """All the CPU-bound work on one page: extraction, then normalising, hashing and segmenting it, and
    with `body` (the response's bytes) hashing and compressing its capture (Prepared.capture)."""
    from archive.captures import pack
    from archive.store import prepare
    from crawler.extract import extract_page

    page = extract_page(html, url, site_name=site_name, prune=prune, hints=hints)
    prepared = prepare(page)
    if prepared.text == page.text:  # one string, so the answer carries (pickles) the text once
        prepared = replace(prepared, text=page.text)
    if body is not None:
        prepared = replace(prepared, capture=pack(body))
    return page, prepared


def extract_file(body: bytes, time_limit: float | None) -> tuple[Any, str | None]:
    """The CPU-bound work on one attachment: sniff and extract its text (archive.filetext, at most
    `time_limit` seconds), then segment the text for the search index. (Extracted, segmented text)."""
    from archive.filetext import extract
    from archive.search import segment

    result = extract(body, time_limit=time_limit)
    return result, segment(result.text) if result.text else None


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


_STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


def _block_stop_signals():
    """Block SIGTERM and SIGINT in this thread; the mask before (None where signal masks do not exist)."""
    if not hasattr(signal, "pthread_sigmask"):
        return None
    return signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)


class _Worker:
    """One extraction process and its two pipes: tasks in, results out (pickled, one message each)."""

    def __init__(self, context, parent: int) -> None:
        task_read, self.tasks = context.Pipe(duplex=False)
        self.results, result_write = context.Pipe(duplex=False)
        self.process = context.Process(target=_serve, args=(task_read, result_write, parent), daemon=True,
                                       name="zwgk-extract")
        # Forked with SIGTERM and SIGINT blocked, until the worker has its own handlers (_serve): else a
        # signal to the whole group landing just after the fork runs the crawl's handler in the worker
        # (before Scrapy's: crawler/run.py Lifeline._stop_early, which ends the run as `abandoned`).
        blocked = _block_stop_signals()
        try:
            self.process.start()
        finally:
            if blocked is not None:
                signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        task_read.close()  # only the worker holds these ends: its death is an EOF on `results`
        result_write.close()
        for conn in (self.tasks, self.results):  # room for a few pages, so neither side waits on a write
            _widen(conn.fileno())
        self.pending: dict[int, asyncio.Future] = {}
        self.loop: asyncio.AbstractEventLoop | None = None


def _widen(fd: int, size: int = 1 << 20) -> None:
    """Grow a pipe's buffer (Linux F_SETPIPE_SZ; 64 KiB by default, less than some pages)."""
    try:
        import fcntl

        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, size)
    except (ImportError, AttributeError, OSError):
        pass


# A page for `_warm_up`: a title, a date and publisher line, a few paragraphs and a footer, so that the
# extractor, trafilatura and the rules they use are loaded and compiled.
WARM_UP_PAGE = (
    "<html><head><meta charset='utf-8'><title>关于开展年度工作的报告_区人民政府</title></head><body>"
    "<div class='header'><a href='/'>首页</a> &gt; <a href='/zwgk/'>政务公开</a></div>"
    "<div class='article'><h1>关于开展年度工作的报告</h1><div class='info'>发布时间：2024-03-01 来源：区司法局</div>"
    "<div class='content'>"
    + "".join(f"<p>第{n}部分：本年度各项工作按计划推进，依法履行职责，完善制度建设，"
              f"提升服务水平，共办理事项{n * 37}件，办结率达到百分之九十八，群众满意度持续提高。</p>"
              for n in range(1, 9))
    + "<p>附件：<a href='/files/report.pdf'>年度报告.pdf</a></p></div></div>"
    "<div class='footer'>主办单位：区人民政府办公室 版权所有</div></body></html>")


def _warm_up() -> None:
    """Load the extractor now rather than on the first page (~0.2 s: its modules, its rules compiled); a
    failure here is the first page's to report, not the worker's. (trafilatura, a fallback, is still
    imported when a page first needs it.)"""
    try:
        extract_and_prepare(WARM_UP_PAGE, "http://localhost/zwgk/warm-up.html", None, (), None, None)
    except Exception:  # noqa: BLE001
        pass


def _serve(tasks, results, parent: int) -> None:
    """A worker's life: run each task (fn, args) it is sent and send back (ok, result or exception)."""
    _die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the crawl process decides when its workers stop
    # forked from the crawl process, the worker would run its SIGTERM handler (which ends the crawl's run):
    # a worker told to stop just stops
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if hasattr(signal, "pthread_sigmask"):  # blocked across the fork (_Worker): a pending SIGTERM ends us now
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
    root = logging.getLogger()
    if not root.handlers:  # forked before Scrapy set logging up (crawler/run.py): warnings in the crawl's format
        from crawler.settings import LOG_FORMAT

        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        handler.setLevel(logging.WARNING)
        root.addHandler(handler)
    inbox: queue.SimpleQueue[bytes] = queue.SimpleQueue()
    # Tasks are read as they come, by a thread of their own: the crawl's thread writes a task into the pipe
    # without waiting for an answer, so a task larger than the pipe while this worker's answer, larger than
    # its pipe too, waits to be read would otherwise block both sides for ever.
    threading.Thread(target=_receive, args=(tasks, inbox), name="tasks", daemon=True).start()
    _warm_up()
    while True:
        data = inbox.get()
        if not data:  # the pool is closing, or gone
            return
        task_id, fn, args = pickle.loads(data)
        try:
            out = (task_id, True, fn(*args))
        except Exception as e:
            out = (task_id, False, e)
        try:
            payload = pickle.dumps(out, pickle.HIGHEST_PROTOCOL)
        except Exception as e:  # an unpicklable result or exception: say so rather than die
            payload = pickle.dumps((task_id, False, RuntimeError(f"unpicklable result: {e!r}")))
        _send(results, payload)


_HEADER = struct.Struct("!i")  # multiprocessing.Connection's framing: the length, then the bytes


def _send(conn, data: bytes) -> None:
    """conn.send_bytes(data) in one write: for a message over 16 KiB (most pages) multiprocessing writes
    the length and the bytes separately, two system calls that each wake the reader. recv_bytes reads
    either the same way."""
    if len(data) > 0x7FFFFFFF:  # multiprocessing's own framing for a message of 2 GiB or more
        conn.send_bytes(data)
        return
    view = memoryview(_HEADER.pack(len(data)) + data)
    fd = conn.fileno()
    while view:
        view = view[os.write(fd, view):]


def _receive(tasks, inbox: queue.SimpleQueue) -> None:
    """A worker's task reader: every task into `inbox`, then b"" at the end of the pipe."""
    while True:
        try:
            data = tasks.recv_bytes()
        except (EOFError, OSError):
            data = b""
        inbox.put(data)
        if not data:
            return


class _Broken(Exception):
    """The worker running the task died before answering."""


class ExtractorPool:
    """A process pool for extraction that survives a crashing worker (see the module docstring).

    Lighter than concurrent.futures.ProcessPoolExecutor, whose two helper threads (queue feeder and
    manager) and wake-up pipe cost the crawl process more CPU per page than its SQLite writes: here the
    event loop's own thread writes a task straight into a worker's pipe and reads the answer when the
    pipe is readable (asyncio add_reader), with no thread in between."""

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise ValueError(f"ExtractorPool needs at least one worker, not {workers}")
        self.workers = workers
        self._context = multiprocessing.get_context("fork" if os.name == "posix" else "spawn")
        self._pool: list[_Worker] = []
        self._slots: asyncio.Semaphore | None = None
        self._slots_loop: asyncio.AbstractEventLoop | None = None
        self._ids = itertools.count()

    def start(self) -> None:
        """Start the workers now rather than at the first page (forked while the process is small)."""
        while len(self._pool) < self.workers:
            self._pool.append(_Worker(self._context, os.getpid()))

    def _watch(self, worker: _Worker, loop: asyncio.AbstractEventLoop) -> None:
        if worker.loop is not loop:
            if worker.loop is not None and not worker.loop.is_closed():
                worker.loop.remove_reader(worker.results.fileno())
            loop.add_reader(worker.results.fileno(), self._answer, worker)
            worker.loop = loop

    def _answer(self, worker: _Worker) -> None:
        """The worker's result pipe is readable: one answer, or EOF when the worker died."""
        try:
            task_id, ok, value = pickle.loads(worker.results.recv_bytes())
        except (EOFError, OSError):
            self._lost(worker)
            return
        future = worker.pending.pop(task_id, None)
        if future is not None and not future.done():
            future.set_result(value) if ok else future.set_exception(value)

    def _lost(self, worker: _Worker) -> None:
        """A worker died: its tasks fail with _Broken (each is retried alone), a new worker replaces it."""
        if worker.loop is not None and not worker.loop.is_closed():
            worker.loop.remove_reader(worker.results.fileno())
        worker.results.close()
        worker.tasks.close()
        worker.process.join(1)
        for future in worker.pending.values():
            if not future.done():
                future.set_exception(_Broken())
        worker.pending.clear()
        if worker in self._pool:
            self._pool[self._pool.index(worker)] = _Worker(self._context, os.getpid())

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """fn(*args) in a worker process; its exception is re-raised here; WorkerCrashed if it kills
        its worker twice."""
        loop = asyncio.get_running_loop()
        if self._slots is None or self._slots_loop is not loop:
            self._slots, self._slots_loop = asyncio.Semaphore(QUEUED * self.workers), loop
        async with self._slots:
            self.start()
            worker = min(self._pool, key=lambda w: len(w.pending))
            self._watch(worker, loop)
            task_id = next(self._ids)
            future = worker.pending[task_id] = loop.create_future()
            try:
                _send(worker.tasks, pickle.dumps((task_id, fn, args), pickle.HIGHEST_PROTOCOL))
            except OSError:  # the worker is gone already
                self._lost(worker)
            try:
                return await future
            except _Broken:
                pass
        # caught in a crash: once more, alone, so that only the page that kills its worker fails
        with ProcessPoolExecutor(1, mp_context=self._context, initializer=_die_with_parent,
                                 initargs=(os.getpid(),)) as alone:
            try:
                return await asyncio.wrap_future(alone.submit(fn, *args))
            except BrokenProcessPool:
                raise WorkerCrashed("the extraction worker process died on this page") from None

    def close(self) -> None:
        """Stop the workers (tasks still pending are cancelled); safe to call twice."""
        pool, self._pool = self._pool, []
        for worker in pool:
            if worker.loop is not None and not worker.loop.is_closed():
                worker.loop.remove_reader(worker.results.fileno())
            try:
                worker.tasks.send_bytes(b"")
            except OSError:
                pass
        for worker in pool:
            worker.process.join(5)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join(1)
            for future in worker.pending.values():
                if not future.get_loop().is_closed():
                    future.cancel()
            worker.tasks.close()
            worker.results.close()
