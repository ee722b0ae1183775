"""Run one source's crawl in a child process (`python -m crawler.run`), under the source's lock and a
hard time limit, and make sure its `runs` row ends in a final status whatever happens to the child.

Twisted's reactor cannot be restarted in one process, and a crawl that crashes or hangs must never take
the scheduler down: hence one child process per crawl.
"""
from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archive import store
from archive.db import connect
from archive.status import crawl_alive as _crawler_alive
from crawler.locks import SourceLock
from crawler.sources import Source

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TIME_LIMIT = 2 * 3600  # seconds one crawl may take before it is stopped
DEFAULT_GRACE = 20  # seconds a stopped crawl gets to close cleanly before it is killed
FAILED_FETCHES = ("error", "blocked", "suspect")
PROGRESS_LOG_INTERVAL = 30.0  # seconds between progress log lines of a running crawl
COUNT_FIELDS = ("pages_fetched", "new_documents", "new_revisions", "unchanged", "gone", "errors", "blocked")

logger = logging.getLogger("zwgk.scheduler")


@dataclass
class CrawlOutcome:
    """What one attempt to crawl a source came to. `status` is the runs row's status, or `locked` /
    `skipped` when no run was started."""

    source_id: str
    status: str
    run_id: int | None = None
    row: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    message: str | None = None
    log_path: Path | None = None

    @property
    def succeeded(self) -> bool:
        return self.status in ("ok", "partial")

    def counts(self) -> str:
        """'pages 12, new 3, changed 1, unchanged 8, gone 0, errors 0, blocked 0'."""
        r = self.row
        changed = (r.get("new_revisions") or 0) - (r.get("new_documents") or 0)
        return (f"pages {r.get('pages_fetched') or 0}, new {r.get('new_documents') or 0}, changed {changed}, "
                f"unchanged {r.get('unchanged') or 0}, gone {r.get('gone') or 0}, "
                f"errors {r.get('errors') or 0}, blocked {r.get('blocked') or 0}")


class CrawlRunner:
    """Starts crawls as child processes; thread-safe, one call to `crawl` per running crawl."""

    def __init__(self, config_path: str | os.PathLike, db_path: str | os.PathLike, *,
                 time_limit: float = DEFAULT_TIME_LIMIT, grace: float = DEFAULT_GRACE,
                 log_dir: str | os.PathLike | None = None,
                 on_progress: Callable[[str, dict], None] | None = None,
                 progress_log_interval: float = PROGRESS_LOG_INTERVAL, register_sources: bool = True) -> None:
        self.config_path = Path(config_path).resolve()
        # Record each source's config row before its crawl (`--once`). A scheduler registers its sources
        # itself, on start and on every reload: a crawl job holding the Source it started with must not
        # write that older config back after a reload.
        self.register_sources = register_sources
        # on_progress(source_id, snapshot) about once a second while a crawl runs (the --once display);
        # without it, one progress log line every progress_log_interval seconds.
        self.on_progress = on_progress
        self.progress_log_interval = progress_log_interval
        self.db_path = Path(db_path).resolve()
        self.time_limit = time_limit
        self.grace = grace
        self.log_dir = Path(log_dir).resolve() if log_dir else self.db_path.parent / "logs"
        self.stopping = threading.Event()
        self._killing = threading.Event()

    def stop(self, kill: bool = False) -> None:
        """Start no more crawls and ask the running ones to stop (SIGTERM, then SIGKILL after `grace`);
        `kill=True` kills them at once."""
        self.stopping.set()
        if kill:
            self._killing.set()

    def crawl(self, source: Source) -> CrawlOutcome:
        """Crawl `source` once in a child process; never raises for a failed crawl."""
        if self.stopping.is_set():
            return CrawlOutcome(source.id, "skipped", message="scheduler is stopping")
        lock = SourceLock(self.db_path, source.id)
        if not lock.acquire(note=f"crawl of {source.id}"):
            holder = lock.holder()
            logger.warning("source %s: not started, another crawl holds its lock (%s)", source.id, holder)
            return CrawlOutcome(source.id, "locked", message=f"locked by {holder}")
        try:
            return self._crawl_locked(source, lock)
        finally:
            lock.release()

    def _crawl_locked(self, source: Source, lock: SourceLock) -> CrawlOutcome:
        db = connect(self.db_path)
        try:
            if self.register_sources:
                store.upsert_source(db, source.as_row())
            run_id = store.start_run(db, source.id, os.getpid())
            log_path = self._log_path(source.id)
            started = time.monotonic()
            limit = _time_limit(source, self.time_limit)
            logger.info("source %s: run %s started (time limit %ss)", source.id, run_id, int(limit))
            try:
                child = self._spawn(source, run_id, lock, log_path)
            except OSError as e:
                row = store.finish_run(db, run_id, status="failed", message=f"could not start the crawler: {e}")
                return self._outcome(db, source, run_id, started, log_path, row["message"])
            db.execute("UPDATE runs SET pid = ? WHERE id = ?", [child.pid, run_id])
            stop_reason = self._wait(child, started, limit, source.id)
            message = self._settle(db, run_id, child.returncode, stop_reason, limit, log_path)
            return self._outcome(db, source, run_id, started, log_path, message)
        finally:
            db.close()

    # --- the child process ---------------------------------------------------------------------------
    def _spawn(self, source: Source, run_id: int, lock: SourceLock, log_path: Path):
        import subprocess

        cmd = [sys.executable, "-m", "crawler.run", "--source", source.id, "--config", str(self.config_path),
               "--db", str(self.db_path), "--run-id", str(run_id), "--log-level", "INFO",
               # the child's own deadline and its tie to this process (crawler.run.Lifeline)
               "--time-limit", f"{_time_limit(source, self.time_limit):g}", "--grace", f"{self.grace:g}",
               "--parent-pid", str(os.getpid()), "--lock-held", "--progress-file", str(self._progress_path(source.id))]
        env = {**os.environ, "SCRAPY_SETTINGS_MODULE": "crawler.settings",
               "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._progress_path(source.id).unlink(missing_ok=True)  # no stale figures from the run before
        if log_path.exists():
            log_path.replace(log_path.with_suffix(".log.1"))
        with open(log_path, "wb") as log_file:
            # Own session: a Ctrl-C in the terminal reaches the scheduler only, which stops the child
            # itself. The lock's descriptor is inherited so the lock outlives a scheduler that dies.
            return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
                                    env=env, cwd=ROOT, start_new_session=True, pass_fds=(lock.fileno(),))

    def _wait(self, child, started: float, limit: float, source_id: str = "") -> str | None:
        """Wait for the child; stop it at the time limit or when the runner stops. Why it was stopped."""
        reason, signalled_at = None, None
        progress_path, last_log, last_seen = self._progress_path(source_id), time.monotonic(), None
        while child.poll() is None:
            snapshot = _read_progress(progress_path)
            if snapshot and snapshot != last_seen:
                last_seen = snapshot
                if self.on_progress is not None:
                    self.on_progress(source_id, snapshot)
            if self.on_progress is None and time.monotonic() - last_log >= self.progress_log_interval:
                last_log = time.monotonic()
                logger.info("source %s: %s", source_id, progress_text(last_seen) if last_seen else "starting")
            if reason is None:
                if time.monotonic() - started > limit:
                    reason = "time-limit"
                elif self.stopping.is_set():
                    reason = "stop"
                if reason:
                    _signal(child, signal.SIGTERM)
                    signalled_at = time.monotonic()
            elif self._killing.is_set() or time.monotonic() - signalled_at > self.grace:
                _signal(child, signal.SIGKILL)
                child.wait()
                break
            time.sleep(0.2)
        return reason

    def _settle(self, db, run_id: int, returncode: int, stop_reason: str | None, limit: float,
                log_path: Path) -> str | None:
        """Give the run a final status if the child could not: failed, interrupted or killed."""
        row = _run_row(db, run_id)
        if stop_reason == "time-limit":
            message = f"stopped at the time limit of {int(limit)}s ({_exit_text(returncode)})"
            if row["status"] == "running":
                store.finish_run(db, run_id, status="failed", message=message)
            else:  # the crawler closed itself as interrupted: it still did not finish in time
                db.execute("UPDATE runs SET status = 'failed', message = ? WHERE id = ? AND status = 'interrupted'",
                           [message, run_id])
            return message
        if row["status"] != "running":
            return row["message"]
        if stop_reason == "stop":
            message = f"scheduler stopped before the crawl finished ({_exit_text(returncode)})"
            store.finish_run(db, run_id, status="interrupted", message=message)
        else:
            message = f"crawler {_exit_text(returncode)} without finishing the run: {_last_line(log_path)}"
            store.finish_run(db, run_id, status="failed", message=message)
        return message

    def _outcome(self, db, source: Source, run_id: int, started: float, log_path: Path,
                 message: str | None) -> CrawlOutcome:
        row = _run_row(db, run_id)
        outcome = CrawlOutcome(source.id, row["status"], run_id, row, time.monotonic() - started,
                               row.get("message") or message, log_path)
        for url, status, error in db.execute(
                "SELECT url, outcome, error FROM fetches WHERE run_id = ? AND outcome IN (?, ?, ?) ORDER BY id",
                [run_id, *FAILED_FETCHES]).fetchall():
            logger.warning("source %s: run %s: %s fetch of %s: %s", source.id, run_id, status, url, error)
        level = logging.INFO if outcome.succeeded else logging.WARNING
        logger.log(level, "source %s: run %s %s in %.1fs: %s%s", source.id, run_id, outcome.status,
                   outcome.seconds, outcome.counts(),
                   f" ({outcome.message})" if outcome.message and not outcome.succeeded else "")
        return outcome

    def _log_path(self, source_id: str) -> Path:
        return self.log_dir / "crawls" / f"{source_id}.log"

    def _progress_path(self, source_id: str) -> Path:
        return self.log_dir / "crawls" / f"{source_id}.progress.json"


def progress_text(p: dict) -> str:
    """'pages 12 done / 30 queued, new 3, changed 1, errors 0, 1.5 pages/s'."""
    return (f"pages {p.get('pages_fetched', 0)} done / {p.get('queued', 0)} queued, new {p.get('new_documents', 0)}, "
            f"changed {p.get('changed', 0)}, errors {p.get('errors', 0) + p.get('blocked', 0)}, "
            f"{p.get('rate', 0):.1f} pages/s")


def _read_progress(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def abandon_stale_runs(db_path: str | os.PathLike) -> list[int]:
    """Mark `abandoned` every `running` run with no live crawl behind it (its source unlocked and its
    pid not a running crawler); the ids marked. Called when a scheduler starts."""
    db = connect(db_path)
    try:
        marked = []
        for run_id, source_id, pid in db.execute(
                "SELECT id, source_id, pid FROM runs WHERE status = 'running' ORDER BY id").fetchall():
            if SourceLock(db_path, source_id).is_held_elsewhere() or _crawler_alive(pid):
                continue
            store.finish_run(db, run_id, status="abandoned",
                             message="found running with no live crawl process when a scheduler started")
            logger.warning("source %s: run %s was left running by a process that is gone: marked abandoned",
                           source_id, run_id)
            marked.append(run_id)
        return marked
    finally:
        db.close()



def _time_limit(source: Source, default: float) -> float:
    """A source may set its own limit with `settings: {ZWGK_TIME_LIMIT: seconds}`."""
    value = source.settings.get("ZWGK_TIME_LIMIT")
    return float(value) if value else float(default)


def _signal(child, signum: int) -> None:
    try:
        os.killpg(child.pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def _run_row(db, run_id: int) -> dict[str, Any]:
    return next(db.query("SELECT * FROM runs WHERE id = ?", [run_id]))


def _exit_text(returncode: int | None) -> str:
    if returncode is None:
        return "still running"
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exited with code {returncode}"


def _last_line(log_path: Path) -> str:
    """The last non-empty line of a crawl's log (where a traceback or error message ends)."""
    try:
        lines = [line for line in log_path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    except OSError:
        return "no log"
    return lines[-1][:300] if lines else "empty log"
