"""Run one source's crawl in this process: what the scheduler starts in a child process.

    python -m crawler.run --source pingshan [--config config/sources.yaml] [--db data/archive.db] [--run-id N]
                          [--time-limit S] [--grace S] [--parent-pid PID] [--lock-held]

A crawl can never outlive its supervisor or its time limit: with `--time-limit` Scrapy closes the
spider at the limit (CLOSESPIDER_TIMEOUT; the run is `failed`) and the process kills itself `--grace`
seconds later if it has not ended; with `--parent-pid` it stops when that process dies (Linux:
PR_SET_PDEATHSIG; everywhere: a watchdog thread comparing os.getppid()), its run `abandoned`.

Exit code: 0 when the run ended ok, 1 when partial, 3 when failed or interrupted, 2 for bad arguments.
"""
from __future__ import annotations

import argparse
import ast
import atexit
import importlib.util
import logging
import os
import re
import signal
import sqlite3
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from archive.db import connect, connect_current, db_path, now
from crawler import guard, politehttp, revalidate
from crawler.locks import SourceLock
from crawler.sources import DEFAULT_CONFIG, ConfigError, Source, load_config

# Scrapy is imported only when it crawls: a recrawl that the revalidation stage (crawler/revalidate.py)
# finishes never loads it.

EXIT_CODES = {"ok": 0, "partial": 1}
PR_SET_PDEATHSIG = 1


def crawl(source_id: str, config: str = DEFAULT_CONFIG, db: str | None = None, run_id: int | None = None,
          settings: dict[str, Any] | None = None, lifeline: Lifeline | None = None) -> str:
    """Crawl one source into the archive; the run's final status. Only once per process (Twisted).

    Known documents are revalidated first without Scrapy (crawler/revalidate.py, unless ZWGK_REVALIDATE is
    off); Scrapy then crawls what that stage left (nothing, when the source is unchanged)."""
    # fail fast, with a clear message, before Scrapy starts (the schedules are the scheduler's to check)
    source = load_config(config, schedules=False).get(source_id)
    overrides = dict(settings or {})
    if lifeline is not None:
        if lifeline.time_limit:
            overrides["CLOSESPIDER_TIMEOUT"] = lifeline.time_limit
        if lifeline.parent_pid is not None:
            overrides["ZWGK_PARENT_PID"] = lifeline.parent_pid
    preflight(source, politehttp.crawl_settings({}, overrides), db, str(config))
    check_archive_writable(db)
    if lifeline is not None:
        lifeline.start()
    values = politehttp.crawl_settings(source.settings, overrides)
    lock = None
    revalidated = None
    try:
        if values.getbool("ZWGK_REVALIDATE") and values.getbool("ZWGK_CONDITIONAL_REQUESTS"):
            if not values.getbool("ZWGK_LOCK_HELD"):  # held through both stages; else Scrapy says who holds it
                lock = SourceLock(db_path(db), source.id)
                lock = lock if lock.acquire(note=f"crawl of {source.id}") else None
            if lock is not None or values.getbool("ZWGK_LOCK_HELD"):
                overrides["ZWGK_LOCK_HELD"] = True
                revalidated = _revalidate(source, values, db, run_id, lifeline)
        if revalidated is not None:
            if lifeline is not None:
                lifeline.run_id = revalidated.run_id
            if revalidated.status:  # the run ended there: nothing for Scrapy to do
                return revalidated.status
            run_id = revalidated.run_id
        if lifeline is not None and lifeline.time_limit:  # the time limit is the whole run's, stage included
            overrides["CLOSESPIDER_TIMEOUT"] = max(lifeline.time_limit - (time.monotonic() - lifeline.started), 0.01)
        workers = _start_workers(values)
        try:
            return _scrapy_crawl(source_id, config, db, run_id, overrides, revalidated, workers)
        finally:
            if workers is not None:  # ExtractPipeline closed it, unless Scrapy failed before that
                workers.close()
    finally:
        if lock is not None:
            lock.release()


def _start_workers(values: politehttp.CrawlSettings):
    """The extraction workers (crawler.workers), started before Scrapy is imported: each loads the extractor
    on the other core while this process starts Scrapy (half a second), instead of on its first page; and
    none holds a copy of Scrapy. ExtractPipeline takes them over. None when extraction is in-process."""
    from crawler.workers import ExtractorPool, worker_count

    count = worker_count(values.get("ZWGK_EXTRACT_WORKERS"))
    if count < 1:
        return None
    pool = ExtractorPool(count)
    pool.start()
    return pool


def _revalidate(source: Source, values: politehttp.CrawlSettings, db: str | None, run_id: int | None,
                lifeline: Lifeline | None) -> revalidate.Revalidated | None:
    """The revalidation stage, stopped by SIGTERM / SIGINT (as Scrapy would be) or at the time limit."""
    stop = threading.Event()
    deadline = lifeline.started + lifeline.time_limit if lifeline is not None and lifeline.time_limit else None
    handlers = {}
    for sig in (signal.SIGTERM, signal.SIGINT):
        handlers[sig] = signal.signal(sig, lambda *_: stop.set())
    log = logging.StreamHandler()  # Scrapy's log format and level until Scrapy installs its own
    log.setFormatter(logging.Formatter(str(values.get("LOG_FORMAT") or scrapy_default("LOG_FORMAT"))))
    root, level = logging.getLogger(), logging.getLogger().level
    root.addHandler(log)
    root.setLevel(str(values.get("LOG_LEVEL") or "DEBUG").upper())
    try:
        return revalidate.revalidate(source, values, db, run_id, stop, deadline)
    except sqlite3.Error as e:  # disk full, read-only, I/O error: as ArchivePipeline, the run fails
        error = f"{type(e).__name__}: {e}"
        if run_id is not None:
            try:  # may fail too (the disk is still full): the scheduler marks the run abandoned later
                from archive import store

                handle = connect(db)
                try:
                    store.finish_run(handle, run_id, status="failed", message=f"archive not writable: {error}")
                finally:
                    handle.conn.close()
            except sqlite3.Error:
                pass
        raise ArchiveError(f"archive {db_path(db)}: {error}; crawl stopped") from None
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        root.removeHandler(log)
        root.setLevel(level)


def _scrapy_crawl(source_id: str, config: str, db: str | None, run_id: int | None, overrides: dict[str, Any],
                  revalidated: revalidate.Revalidated | None, workers=None) -> str:
    from scrapy.crawler import CrawlerProcess
    from scrapy.utils.project import get_project_settings

    project = get_project_settings()
    project.setdict(overrides, priority="cmdline")
    process = CrawlerProcess(project)
    crawler = process.create_crawler("disclosure")
    crawler.zwgk_started_workers = workers  # for ExtractPipeline
    refused: list = []  # Scrapy could not start the crawl (a setting naming a class that does not exist, ...)
    process.crawl(crawler, source=source_id, config=str(config), db=str(db) if db else None, run_id=run_id,
                  revalidated=revalidated).addErrback(refused.append)
    process.start()
    spider = crawler.spider
    if getattr(spider, "archive_error", None):  # set by ArchivePipeline: disk full, read-only, I/O error
        raise ArchiveError(f"archive {db_path(db)}: {spider.archive_error}; crawl stopped")
    if refused:
        _fail_run(db, run_id, f"Scrapy could not start: {refused[0].getErrorMessage()}")
    return getattr(spider, "run_status", None) or "failed"


def _fail_run(db: str | None, run_id: int | None, message: str) -> None:
    """The crawl could not start: the run the revalidation stage opened (or the caller's) ends `failed`
    with `message` instead of staying `running`; ConfigError(message), one line."""
    message = " ".join(message.split())
    if run_id is not None:
        from archive import store

        try:  # may fail (the disk is full): the scheduler marks the run abandoned later
            handle = connect(db)
            try:
                if handle.execute("SELECT status FROM runs WHERE id = ?", [run_id]).fetchone() == ("running",):
                    store.finish_run(handle, run_id, status="failed", message=message)
            finally:
                handle.conn.close()
        except sqlite3.Error:
            pass
    raise ConfigError(message)


class Lifeline:
    """This crawl's own deadline and its tie to the process supervising it (see the module docstring).
    `start()` arms both: SIGTERM when the parent dies (Scrapy then closes the spider cleanly), and a
    hard exit `grace` seconds after the time limit or after the parent's death, whatever Scrapy is doing."""

    def __init__(self, time_limit: float | None, grace: float, parent_pid: int | None,
                 db: str | None = None, run_id: int | None = None) -> None:
        self.time_limit = time_limit
        self.grace = grace
        self.parent_pid = parent_pid
        self.db = db
        self.run_id = run_id
        self.started = time.monotonic()
        self.orphaned_at: float | None = None
        self.pdeathsig = False  # True when the kernel will signal us (a second SIGTERM would force Scrapy)

    def orphaned(self) -> bool:
        """True when the supervising process has died (this process was re-parented)."""
        return self.parent_pid is not None and os.getppid() != self.parent_pid

    def start(self) -> None:
        # Until the stage and then Scrapy install their own handlers, a SIGTERM (the kernel's when the
        # scheduler dies, armed just below; or anyone's, to a crawl started by hand, while Scrapy starts)
        # or a SIGINT (Ctrl-C) ends the run here, recorded, instead of killing the process (or raising
        # KeyboardInterrupt) with its run row left `running`.
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._stop_early)
        if self.parent_pid is not None:
            import ctypes

            try:  # Linux: the kernel sends SIGTERM when the parent dies, kill -9 included
                self.pdeathsig = ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM) == 0
            except (OSError, AttributeError):
                pass
            if self.orphaned():  # the parent died before prctl took effect
                self._hard_exit("abandoned", f"its scheduler (pid {self.parent_pid}) died before the crawl started")
        if self.parent_pid is not None or self.time_limit:
            threading.Thread(target=self._watch, name="crawl-lifeline", daemon=True).start()

    def _stop_early(self, signum: int, frame) -> None:
        """SIGTERM or SIGINT before the crawl's own handlers: abandoned if the scheduler died, else interrupted."""
        if self.orphaned():
            self._hard_exit("abandoned", f"its scheduler (pid {self.parent_pid}) died before the crawl took over")
        self._hard_exit("interrupted", f"stopped ({signal.Signals(signum).name}) before the crawl took over")

    def _watch(self) -> None:
        while True:
            time.sleep(0.5)
            elapsed = time.monotonic() - self.started
            if self.orphaned_at is None and self.orphaned():
                self.orphaned_at = time.monotonic()
                if not self.pdeathsig:
                    os.kill(os.getpid(), signal.SIGTERM)  # Scrapy closes the spider cleanly
            if self.orphaned_at is not None and time.monotonic() - self.orphaned_at > self.grace:
                self._hard_exit("abandoned", f"its scheduler (pid {self.parent_pid}) died; the crawl did not "
                                             f"stop within {self.grace:g}s and was killed")
            if self.time_limit and elapsed > self.time_limit + self.grace:
                self._hard_exit("failed", f"stopped at the time limit of {self.time_limit:g}s; it did not end "
                                          f"within {self.grace:g}s and killed itself")

    def _hard_exit(self, status: str, message: str) -> None:
        """Record the run's end if the archive answers within 2 s, then end this process group at once."""
        if self.run_id is not None:
            try:
                conn = sqlite3.connect(str(db_path(self.db)), timeout=2, isolation_level=None)
                try:
                    conn.execute("UPDATE runs SET status = ?, message = ?, finished_at = ? "
                                 "WHERE id = ? AND status = 'running'", [status, message, now(), self.run_id])
                finally:
                    conn.close()
            except sqlite3.Error:
                pass  # the next scheduler marks the run abandoned
        print(f"crawler.run: {message}", file=sys.stderr, flush=True)
        if os.getpgrp() == os.getpid():  # our own group (the scheduler starts us in a new session)
            os.killpg(os.getpid(), signal.SIGKILL)
        os._exit(3)


class ArchiveError(RuntimeError):
    """The archive cannot be written (read-only file, full disk, I/O error); one line."""


def check_archive_writable(db: str | None) -> None:
    """Open the archive (creating it if new) and make one no-op write, so a read-only file or a full
    disk stops the crawl before it starts, with one clear line."""
    try:
        handle = connect_current(db)
        try:
            version = int(handle.execute("PRAGMA user_version").fetchone()[0])
            handle.execute(f"PRAGMA user_version = {version}")
        finally:
            handle.conn.close()
    except (sqlite3.Error, OSError) as e:
        raise ArchiveError(f"archive {db_path(db)}: {e}") from None


def preflight(source: Source, project: Mapping[str, Any], db: str | None, config: str = DEFAULT_CONFIG) -> None:
    """Everything that would fail mid-crawl, checked before anything is written: the guard rules, the
    source's setting values (a number where Scrapy wants a number), and the archive path. `project`: the
    project's settings (a setting it does not name is checked against Scrapy's default)."""
    try:
        guard.load_rules()
    except guard.GuardConfigError as e:
        raise ConfigError(str(e)) from None
    check_extractor_rules()
    for name, value in source.settings.items():
        default = project.get(name)
        if default is None and name not in project:
            default = scrapy_default(name)
        if name == "ZWGK_EXTRACT_WORKERS":  # read by this process itself, to fork its workers (_start_workers)
            ok = value in (None, "") or (not isinstance(value, bool | float)
                                         and re.fullmatch(r"\s*[0-9]+\s*", str(value)) is not None)
        elif isinstance(default, bool):
            ok = isinstance(value, bool) or str(value).lower() in ("0", "1", "true", "false")
        elif isinstance(default, (int, float)):
            try:
                ok = not isinstance(value, bool) and float(value) >= 0
            except (TypeError, ValueError):
                ok = False
        else:
            ok = True
        if not ok:
            wanted = "true or false" if isinstance(default, bool) else "a non-negative number"
            if name == "ZWGK_EXTRACT_WORKERS":
                wanted = "a whole number of worker processes (0: extract in the crawl process)"
            raise ConfigError(f"{config}: source '{source.id}': field 'settings': {name} must be {wanted} "
                              f"(got {value!r})")
    path = db_path(db)
    if path.is_dir():
        raise ConfigError(f"--db {path} is a directory, not a database file")
    parent = path.resolve().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"--db {path}: cannot create it under {parent} (not a writable directory)")


def check_extractor_rules() -> None:
    """An operator's own extractor rules file ($ZWGK_CHROME_RULES, $ZWGK_VOLATILE_RULES) must load: the
    workers load the rules only in their warm-up, which leaves a failure to every page (each then fetched
    and recorded as an error). The shipped files are checked by the tests, and not loaded here (0.1 s)."""
    if not (os.environ.get("ZWGK_CHROME_RULES") or os.environ.get("ZWGK_VOLATILE_RULES")):
        return
    from crawler.extract.rules import RulesError, load_rules
    from crawler.extract.volatile import load_volatile

    try:
        load_rules()
        load_volatile()
    except RulesError as e:
        raise ConfigError(" ".join(str(e).split())) from None  # YAML's errors take several lines


def scrapy_default(name: str) -> Any:
    """Scrapy's default value of a setting, read from its default_settings.py without importing Scrapy
    (the revalidation stage may finish the run without it); None when unknown or not a literal. Only the
    setting's own statement is parsed (the file's first top-level assignment to it), not the whole file."""
    spec = importlib.util.find_spec("scrapy")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "settings" / "default_settings.py"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return None
    found = re.search(rf"^{re.escape(name)}[ \t]*=(?!=)", text, re.MULTILINE)
    if found is None:
        return None
    lines = text[found.start():].splitlines()
    for end in range(1, len(lines) + 1):  # the statement's lines: the shortest prefix that parses
        try:
            statement = ast.parse("\n".join(lines[:end])).body[0]
        except SyntaxError:
            continue
        if not isinstance(statement, ast.Assign):
            return None
        try:
            return ast.literal_eval(statement.value)
        except ValueError:
            return None
    return None


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line and exit 2 (argparse prints the usage first)
        print(f"python -m crawler.run: error: {message} (see --help)", file=sys.stderr)
        sys.exit(2)


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(prog="python -m crawler.run", description=__doc__.splitlines()[0])
    parser.add_argument("--source", required=True)
    parser.add_argument("--config", default=DEFAULT_CONFIG)
    parser.add_argument("--db", default=None)
    parser.add_argument("--run-id", type=int, default=None)
    parser.add_argument("--log-level", default=None)
    parser.add_argument("--time-limit", type=float, default=None, help="seconds before the crawl stops itself")
    parser.add_argument("--grace", type=float, default=20.0, help="seconds after a stop before a hard exit")
    parser.add_argument("--parent-pid", type=int, default=None, help="stop when this process dies")
    parser.add_argument("--progress-file", default=None, help="write the crawl's progress (JSON) here every second")
    parser.add_argument("--lock-held", action="store_true",
                        help="the caller holds the source's lock (crawler/locks.py) and passed it down")
    args = parser.parse_args(argv)
    settings: dict[str, Any] = {"LOG_LEVEL": args.log_level} if args.log_level else {}
    if args.lock_held:
        settings["ZWGK_LOCK_HELD"] = True
    if args.progress_file:
        settings["ZWGK_PROGRESS_FILE"] = args.progress_file
    lifeline = Lifeline(args.time_limit, args.grace, args.parent_pid, args.db, args.run_id)
    try:
        status = crawl(args.source, args.config, args.db, args.run_id, settings, lifeline)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except ArchiveError as e:
        print(f"error: {e}", file=sys.stderr)
        return 3
    return EXIT_CODES.get(status, 3)


def leave(code: int) -> None:
    """End the crawl process now, without the interpreter's teardown: everything the crawl opened is
    closed by then (archive, lock, workers, threads), and freeing every object of Scrapy, lxml and the
    rules one by one took another half second of each crawl. Exit handlers and output are run first."""
    for thread in threading.enumerate():  # as the interpreter would: non-daemon threads finish first
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()  # noqa: SLF001  (what sys.exit would run; the teardown after it is skipped)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    leave(main())
