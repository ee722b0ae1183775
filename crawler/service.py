"""The scheduler proper: crawl sources once (`--once`), list them (`--list`), or run for months (APScheduler 3).

One job per enabled source on its own trigger, with jitter; every crawl goes through `CrawlRunner` (child
process, per-source lock, time limit). Missed runs are coalesced into one run on start-up. The config
file is re-read when it changes or on SIGHUP; an invalid edit is logged and the last good config stays.
"""
from __future__ import annotations

import logging
import logging.handlers
import os
import shutil
import signal
import tempfile
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from archive import store
from archive.db import connect
from crawler.jobs import DEFAULT_GRACE, DEFAULT_TIME_LIMIT, CrawlOutcome, CrawlRunner, abandon_stale_runs
from crawler.sources import Config, ConfigError, Source, load_config

DEFAULT_MAX_CONCURRENT = 2
DEFAULT_JITTER = 60  # seconds, capped at a tenth of each source's period
DEFAULT_RELOAD_INTERVAL = 10  # seconds between checks of the config file's modification time

logger = logging.getLogger("zwgk.scheduler")


def setup_logging(log_dir: Path, level: int = logging.INFO, stderr: bool = True) -> Path:
    """Scheduler and APScheduler logs to stderr and to a rotating <log_dir>/scheduler.log; its path."""
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / "scheduler.log"
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    handlers: list[logging.Handler] = [
        logging.handlers.RotatingFileHandler(path, maxBytes=5_000_000, backupCount=5, encoding="utf-8"),
    ]
    if stderr:
        handlers.append(logging.StreamHandler())
    for name in ("zwgk", "apscheduler"):
        log = logging.getLogger(name)
        log.setLevel(level if name == "zwgk" else max(level, logging.WARNING))  # APScheduler's INFO is chatter
        log.propagate = False
        for handler in list(log.handlers):
            log.removeHandler(handler)
        for handler in handlers:
            handler.setFormatter(formatter)
            log.addHandler(handler)
    return path


def enabled_sources(config: Config, only: str | None = None) -> list[Source]:
    """The sources to crawl: one named source (even if disabled), else every enabled one."""
    if only:
        return [config.get(only)]
    return [s for s in config.sources.values() if s.enabled]


# --- --once ----------------------------------------------------------------------------------------

def run_once(runner: CrawlRunner, sources: list[Source], out: TextIO, live: bool = False) -> list[CrawlOutcome]:
    """Crawl each source now, one after another, printing a summary line per source to `out`; with
    `live` (a terminal), a live progress table per source while they run (crawler/progress.py)."""
    abandon_stale_runs(runner.db_path)
    view = None
    if live:
        from crawler.progress import LiveProgress

        view = LiveProgress([s.id for s in sources], out)
        runner.on_progress = view.update
        view.__enter__()
    outcomes = []
    try:
        for source in sources:
            if runner.stopping.is_set():
                outcomes.append(CrawlOutcome(source.id, "skipped", message="stopped before it started"))
                continue
            outcomes.append(runner.crawl(source))
            if view is not None:
                view.finished(outcomes[-1])
    finally:
        if view is not None:
            view.__exit__(None, None, None)
    for line in summary_lines(outcomes, runner.db_path):
        print(line, file=out)
    return outcomes


def summary_lines(outcomes: list[CrawlOutcome], archive: Path) -> list[str]:
    """`--once`'s summary: a line per source (status, run, counts, and why when it did not succeed),
    then the total."""
    width = max((len(o.source_id) for o in outcomes), default=6)
    lines = []
    for o in outcomes:
        run = f"run {o.run_id}" if o.run_id else "no run"
        line = f"{o.source_id:<{width}}  {o.status:<11} {run:<8}"
        if o.run_id:
            line += f" {o.counts()}  ({o.seconds:.1f}s)"
        if o.message and not o.succeeded:
            line += f"  {o.message}"
        lines.append(line)
    failed = [o.source_id for o in outcomes if not o.succeeded]
    lines.append(f"{len(outcomes) - len(failed)} of {len(outcomes)} source(s) crawled"
                 + (f"; not crawled: {', '.join(failed)}" if failed else "") + f"; archive: {archive}")
    return lines


# --- --list ----------------------------------------------------------------------------------------

def list_sources(config: Config, out: TextIO) -> None:
    """Each source with its schedule, time zone and next run time."""
    width = max((len(s) for s in config.sources), default=6)
    for source in config.sources.values():
        if source.enabled:
            nxt = source.trigger().get_next_fire_time(None, datetime.now(UTC))
            when = nxt.strftime("%Y-%m-%d %H:%M %Z") if nxt else "never"
        else:
            when = "disabled"
        print(f"{source.id:<{width}}  {source.schedule:<14} {source.timezone:<16} next: {when}", file=out)


# --- the long-running scheduler ----------------------------------------------------------------------

class SchedulerService:
    """Runs every enabled source on its schedule until `stop()`; see the module docstring."""

    def __init__(self, config_path: str | os.PathLike, db_path: str | os.PathLike, *,
                 max_concurrent: int = DEFAULT_MAX_CONCURRENT, time_limit: float = DEFAULT_TIME_LIMIT,
                 grace: float = DEFAULT_GRACE, jitter: float = DEFAULT_JITTER,
                 reload_interval: float = DEFAULT_RELOAD_INTERVAL, log_dir: Path | None = None) -> None:
        self.config_path = Path(config_path).resolve()
        self.config = load_config(self.config_path)  # ConfigError here: refuse to start
        self._mtime = _mtime(self.config_path)
        self.jitter = jitter
        self.max_concurrent = max_concurrent
        self.reload_interval = reload_interval
        self._snapshot_dir = Path(tempfile.mkdtemp(prefix="zwgk-scheduler-"))
        self._snapshot = self._snapshot_dir / "sources.yaml"
        self._write_snapshot()
        # Crawls read the last good config from the snapshot, never a half-edited file.
        self.runner = CrawlRunner(self._snapshot, db_path, time_limit=time_limit, grace=grace, log_dir=log_dir,
                                  register_sources=False)
        self.scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(max_concurrent)},
            job_defaults={
                # Never drop a run because it starts late (the pool was busy, the machine slept):
                # APScheduler's default grace of 1s would. Coalescing folds a backlog into one run.
                "misfire_grace_time": None, "coalesce": True, "max_instances": 1,
            },
        )
        self._stop = threading.Event()
        self._reload_requested = threading.Event()
        self._signals = 0

    # lifecycle
    def run_forever(self, install_signals: bool = True) -> int:
        """Start, block until SIGTERM/SIGINT (or stop()), shut down cleanly; the exit code (0)."""
        if install_signals:
            signal.signal(signal.SIGTERM, self._on_stop_signal)
            signal.signal(signal.SIGINT, self._on_stop_signal)
            signal.signal(signal.SIGHUP, lambda *_: self._reload_requested.set())
        self.start()
        last_check = 0.0
        import time

        while not self._stop.wait(0.5):
            if self._reload_requested.is_set() or time.monotonic() - last_check >= self.reload_interval:
                self.reload(force=self._reload_requested.is_set())
                self._reload_requested.clear()
                last_check = time.monotonic()
        self.shutdown()
        return 0

    def start(self) -> None:
        abandon_stale_runs(self.runner.db_path)
        self._register_sources()
        self.scheduler.start()
        due = self._catch_up_due()
        for source in enabled_sources(self.config):
            self._add_job(source, run_now=source.id in due)
        logger.info("scheduler started (pid %s): %d source(s), at most %d crawl(s) at once, config %s, archive %s",
                    os.getpid(), len(enabled_sources(self.config)), self.max_concurrent, self.config_path,
                    self.runner.db_path)
        if due:
            logger.info("missed or never-run source(s), crawling now: %s", ", ".join(sorted(due)))

    def stop(self, kill: bool = False) -> None:
        self.runner.stop(kill=kill)
        self._stop.set()

    def shutdown(self) -> None:
        """Start nothing more; stop running crawls (grace, then kill); wait for them to be recorded."""
        logger.info("scheduler stopping: no new crawls; running crawls get %ss to stop", self.runner.grace)
        self.runner.stop()
        self.scheduler.shutdown(wait=True)
        shutil.rmtree(self._snapshot_dir, ignore_errors=True)
        logger.info("scheduler stopped")

    def _on_stop_signal(self, signum: int, _frame) -> None:
        self._signals += 1
        logger.info("received %s%s", signal.Signals(signum).name,
                    "" if self._signals == 1 else " again: killing running crawls now")
        self.stop(kill=self._signals > 1)

    # config
    def reload(self, force: bool = False) -> bool:
        """Re-read the config if its file changed (or `force`); apply it if valid. True when applied."""
        mtime = _mtime(self.config_path)
        if not force and mtime == self._mtime:
            return False
        self._mtime = mtime
        try:
            config = load_config(self.config_path)
        except ConfigError as e:
            logger.error("config change rejected, the last good config stays in force: %s", e)
            return False
        old, self.config = self.config, config
        self._write_snapshot()
        self._register_sources()
        for source_id, source in old.sources.items():
            if source.enabled and (source_id not in config.sources or not config.sources[source_id].enabled):
                self.scheduler.remove_job(source_id)
                logger.info("source %s: removed from the schedule", source_id)
        for source in enabled_sources(config):
            before = old.sources.get(source.id)
            if before is None or not before.enabled:
                self._add_job(source)
                logger.info("source %s: added to the schedule (%s)", source.id, source.schedule)
            elif (before.schedule, before.timezone) != (source.schedule, source.timezone):
                self.scheduler.reschedule_job(source.id, trigger=self._trigger(source))
                logger.info("source %s: schedule changed to %s", source.id, source.schedule)
        logger.info("config reloaded from %s: %d source(s) scheduled", self.config_path, len(enabled_sources(config)))
        return True

    def _write_snapshot(self) -> None:
        tmp = self._snapshot.with_suffix(".tmp")
        shutil.copyfile(self.config_path, tmp)
        os.replace(tmp, self._snapshot)

    def _register_sources(self) -> None:
        """Keep the `sources` table (schedule, time zone) in step with the config, for `archive status`."""
        db = connect(self.runner.db_path)
        try:
            for source in self.config.sources.values():
                store.upsert_source(db, source.as_row())
            retired = store.retire_sources(db, list(self.config.sources))
            if retired:
                logger.info("sources no longer in the config, kept as history: %s", ", ".join(retired))
        finally:
            db.close()

    # jobs
    def _trigger(self, source: Source):
        period = source.period().total_seconds()
        jitter = min(self.jitter, period / 10) or None
        trigger = source.trigger(jitter=jitter)
        if isinstance(trigger, CronTrigger):
            trigger.jitter = jitter
        return trigger

    def _add_job(self, source: Source, run_now: bool = False) -> None:
        kwargs = {"next_run_time": datetime.now(UTC)} if run_now else {}
        self.scheduler.add_job(self._crawl, trigger=self._trigger(source), args=[source.id], id=source.id,
                               name=f"crawl {source.id}", replace_existing=True, **kwargs)

    def _crawl(self, source_id: str) -> None:
        source = self.config.sources.get(source_id)
        if source is None or not source.enabled:
            return
        try:
            self.runner.crawl(source)
        except Exception:  # a bug here must cost one run, never the scheduler
            logger.exception("source %s: the crawl job failed", source_id)

    def _catch_up_due(self) -> set[str]:
        """Sources whose last run is older than their previous scheduled slot (or that never ran)."""
        db = connect(self.runner.db_path)
        try:
            last = dict(db.execute("SELECT source_id, max(started_at) FROM runs GROUP BY source_id").fetchall())
        finally:
            db.close()
        now, due = datetime.now(UTC), set()
        for source in enabled_sources(self.config):
            started = last.get(source.id)
            if started is None:
                due.add(source.id)
                continue
            since = datetime.fromisoformat(started)
            trigger = source.trigger()
            if isinstance(trigger, IntervalTrigger):
                slot = since + trigger.interval
            else:
                slot = trigger.get_next_fire_time(None, since + timedelta(seconds=1))
            if slot is not None and slot <= now:
                due.add(source.id)
        return due


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None

