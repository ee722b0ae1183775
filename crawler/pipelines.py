"""Item pipelines, one job each: ExtractPipeline turns a judged page into text and metadata;
ArchivePipeline hands every item to the archive, which alone decides new / changed / unchanged / gone,
keeps the running `runs` row's counts current, and hands on one ArchivedPage per page (feed exports).
Every archive write runs in the archive's writer thread (archive.writer), never in Scrapy's."""
from __future__ import annotations

import json
import logging
import os
import sqlite3
import sys
import time
from collections import Counter
from pathlib import Path

from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem
from scrapy.utils.defer import deferred_from_coro
from twisted.internet import task

from archive import search, store
from archive.db import db_path
from archive.groupcommit import MAX_PAGES, MAX_SECONDS, Checkpointer, GroupCommit
from archive.writer import ArchiveWriter
from crawler.items import ArchivedPage, FailureItem, NotModifiedItem, PageItem
from crawler.locks import SourceLock
from crawler.workers import ExtractorPool, WorkerCrashed, extract_and_prepare, worker_count

logger = logging.getLogger(__name__)


class ExtractPipeline:
    """HTML → crawler.extract.Page (with the source's publisher fallback and prune selectors) and its
    archive.store.Prepared, in ZWGK_EXTRACT_WORKERS worker processes (0: in the crawl's own process).
    Counts every extraction in the stat `zwgk/extracted` (kept in runs.pages_extracted)."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.workers = worker_count(crawler.settings.get("ZWGK_EXTRACT_WORKERS"))
        started = getattr(crawler, "zwgk_started_workers", None)  # forked before Scrapy started (crawler/run.py)
        if started is not None and started.workers != self.workers:  # the setting changed since
            started.close()
            started = None
        if started is None and self.workers > 0:
            started = ExtractorPool(self.workers)
        self.pool = started
        crawler.zwgk_extractor_pool = self.pool  # shared with the attachments pipeline (crawler/attachments.py)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ExtractPipeline:
        return cls(crawler)

    def open_spider(self) -> None:
        if self.pool is not None:
            self.pool.start()

    def close_spider(self) -> None:
        if self.pool is not None:
            self.pool.close()

    async def process_item(self, item):
        if not isinstance(item, PageItem):
            return item
        source = self.crawler.spider.source
        args = (item.html, item.url, source.name, tuple(source.prune), dict(item.hints or {}), item.body)
        try:
            if self.pool is not None:
                item.page, item.prepared = await self.pool.run(extract_and_prepare, *args)
            else:
                item.page, item.prepared = extract_and_prepare(*args)
        except WorkerCrashed as e:  # a page that kills its worker costs that page, never the run
            logger.error("extraction failed for %s: %s", item.url, e)
            return FailureItem(item.url, "error", item.fetched_at, item.http_status, f"extraction failed: {e}",
                               item.final_url)
        except Exception as e:  # an extractor bug must cost one page, never the run
            logger.exception("extraction failed for %s", item.url)
            return FailureItem(item.url, "error", item.fetched_at, item.http_status, f"extraction failed: {e}",
                               item.final_url)
        finally:
            self.crawler.stats.inc_value("zwgk/extracted")
        if not item.page.text.strip():
            return FailureItem(item.url, "error", item.fetched_at, item.http_status, "no body text extracted",
                               item.final_url)
        return item


# runs columns from fetch outcomes, as archive.store.run_counts counts them
PROGRESS_COLUMNS = {"new_documents": ("new",), "new_revisions": ("new", "changed"), "unchanged": ("unchanged",),
                    "gone": ("gone",), "errors": ("error", "suspect"), "blocked": ("blocked",)}


class ArchivePipeline:
    """Writes pages and failures to the archive (ARCHIVE_DB / the spider's `db`), and the run row.

    The connection belongs to an ArchiveWriter: page writes are awaited from its thread, and every other
    use of the archive (the run row, progress, group commits, the attachments pipeline's) goes through it.
    Unless the caller holds it already (ZWGK_LOCK_HELD, the scheduler), the crawl takes the source's
    lock first, so `scrapy crawl` never runs beside a scheduled crawl of the same source."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.writer: ArchiveWriter | None = None
        self.run_id: int | None = None
        self.write_error: str | None = None
        self.lock: SourceLock | None = None
        self.outcomes: Counter[str] = Counter()
        self.started = time.monotonic()
        self._progress: task.LoopingCall | None = None
        self._last_update = 0.0
        self.export = bool(crawler.settings.getdict("FEEDS"))  # look up 304 pages' text only for -o
        self.group: GroupCommit | None = None
        self._checkpoints: Checkpointer | None = None
        self._ticker = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ArchivePipeline:
        pipeline = cls(crawler)
        # The run is finished on spider_closed, the first moment Scrapy says why the crawl ended.
        crawler.signals.connect(pipeline.finish_run, signal=signals.spider_closed)
        return pipeline

    def open_spider(self) -> None:
        spider = self.crawler.spider
        if not self.crawler.settings.getbool("ZWGK_LOCK_HELD"):
            lock = SourceLock(db_path(spider.db_path), spider.source.id)
            if not lock.acquire(note=f"crawl of {spider.source.id}"):
                spider.locked_by = lock.holder()  # the spider then requests nothing
                spider.run_status = "locked"
                logger.error("source %s is being crawled already (lock %s held by %s): not crawled",
                             spider.source.id, lock.path, spider.locked_by)
                return
            self.lock = lock
        self.writer = ArchiveWriter(spider.db_path)
        interval = self.crawler.settings.getfloat("ZWGK_SWITCH_INTERVAL")
        self._switch_interval = sys.getswitchinterval()  # restored when the run ends
        if interval > 0:  # Scrapy's thread gets the GIL back from the writer's soon (crawler/settings.py)
            sys.setswitchinterval(interval)
        # shared with the attachments pipeline, so it sees (and joins) the open group of pages
        self.crawler.zwgk_archive_writer = self.writer
        self.run_id = self.writer.call(self._open_run, spider.source, spider.run_id)
        spider.run_id = self.run_id
        self._start_group()
        logger.info("run %s of source %s started", self.run_id, spider.source.id)
        self.started = self._last_update = time.monotonic()
        self._progress = task.LoopingCall(self.report_progress)
        self._progress.start(1.0, now=False)

    @staticmethod
    def _open_run(db, source, run_id: int | None) -> int:
        if not run_id:  # a crawl on its own (`scrapy crawl`); the scheduler registers its sources itself,
            # and a child's late write of the config it started with must not undo a reload's newer one
            store.upsert_source(db, source.as_row())
        return run_id or store.start_run(db, source.id, os.getpid())

    # --- progress -------------------------------------------------------------------------------------
    def progress(self) -> dict:
        """The crawl so far: pages done and queued, outcomes counted as the runs row counts them, rate."""
        stats = self.crawler.stats
        done = stats.get_value("response_received_count", 0)
        queued = max(0, stats.get_value("scheduler/enqueued", 0) - stats.get_value("scheduler/dequeued", 0))
        elapsed = max(time.monotonic() - self.started, 1e-6)
        counts = {col: sum(self.outcomes[o] for o in outcomes) for col, outcomes in PROGRESS_COLUMNS.items()}
        return {"run_id": self.run_id, "source_id": self.crawler.spider.source.id, "pages_fetched": done,
                "queued": queued, **counts, "changed": counts["new_revisions"] - counts["new_documents"],
                "rate": round(done / elapsed, 2), "elapsed": round(elapsed, 1)}

    def report_progress(self) -> None:
        """Every second: the progress file (ZWGK_PROGRESS_FILE) if asked for; every
        ZWGK_PROGRESS_INTERVAL seconds: one UPDATE of the running `runs` row's counts."""
        if self.writer is None or self.write_error:
            return
        now = time.monotonic()
        snapshot = self.progress()
        path = self.crawler.settings.get("ZWGK_PROGRESS_FILE")
        if path:
            tmp = Path(f"{path}.tmp")
            try:
                tmp.write_text(json.dumps(snapshot), encoding="utf-8")
                tmp.replace(path)
            except OSError:
                pass
        if now - self._last_update >= self.crawler.settings.getfloat("ZWGK_PROGRESS_INTERVAL"):
            self._last_update = now
            self.writer.submit(self._update_progress, snapshot)  # not waited for

    def _update_progress(self, db, snapshot: dict) -> None:
        if self.write_error:  # queued before a write failed: it would only wait out the busy timeout again
            return
        columns = ["pages_fetched", *PROGRESS_COLUMNS]
        try:
            db.execute(f"UPDATE runs SET {', '.join(f'{c} = ?' for c in columns)} "
                       "WHERE id = ? AND status = 'running'", [*(snapshot[c] for c in columns), self.run_id])
        except sqlite3.Error as e:  # busy for 30 s or worse: the next update tries again
            logger.warning("could not update the progress of run %s: %s", self.run_id, e)

    async def process_item(self, item):
        if self.write_error or self.writer is None:  # the archive cannot be written: nothing more is recorded
            return item
        try:
            written = await self.writer.run(self._write, item)
        except sqlite3.Error as e:  # disk full, read-only file, I/O error: stop, never half-write
            self.write_error = self.write_error or f"{type(e).__name__}: {e}"  # (a read for -o may fail too)
            self._stop_for_write_error()
            return item
        if written is None:  # a write failed before this page's turn came: not recorded
            return item
        outcome, row = written
        self.outcomes[outcome] += 1
        return self._archived(item, outcome, row)

    def _write(self, db, item) -> tuple[str, dict] | None:
        """In the writer's thread: one item into the open group; its outcome, and for an unchanged page
        exported with -o its archived record. None once a write has failed (the crawl is stopping)."""
        if self.write_error:
            return None
        try:
            with self.group.page():
                outcome = self._record(db, item)
        except sqlite3.Error as e:
            self.write_error = f"{type(e).__name__}: {e}"
            self._commit_now(db)  # what the group holds besides the failed page is kept
            raise
        row = {}
        if self.export and isinstance(item, NotModifiedItem) and outcome == "unchanged":
            row = next(db.query(
                "SELECT r.title, r.published, r.publisher, r.report_year, r.text, d.district FROM documents d "
                "JOIN revisions r ON r.id = d.latest_revision_id WHERE d.url = ?", [item.url]), {})
        return outcome, row

    def _stop_for_write_error(self) -> None:
        """In Scrapy's thread, once a write failed: say so, and close the spider."""
        if getattr(self.crawler.spider, "archive_error", None):
            return
        self.crawler.spider.archive_error = self.write_error
        logger.error("cannot write the archive %s (%s): crawl stopped", self.crawler.spider.db_path,
                     self.write_error)
        deferred_from_coro(self.crawler.engine.close_spider_async(reason="archive-error"))

    def _archived(self, item, outcome: str, row: dict) -> ArchivedPage:
        """The record handed on (to feed exports) for a page; a failure is dropped (it archived nothing)."""
        source = self.crawler.spider.source
        if isinstance(item, PageItem):
            page = item.page
            return ArchivedPage(item.url, page.title, page.published, page.publisher, source.district,
                                page.report_year, page.text, outcome)
        if isinstance(item, NotModifiedItem) and outcome == "unchanged":
            return ArchivedPage(item.url, row.get("title"), row.get("published"), row.get("publisher"),
                                row.get("district", source.district), row.get("report_year"), row.get("text"),
                                outcome)
        raise DropItem(f"{outcome}: {item.url}", log_level="DEBUG")

    def _record(self, db, item) -> str:
        """Write one item to the archive; the fetch's outcome."""
        spider = self.crawler.spider
        if isinstance(item, PageItem):
            outcome = store.record_page(
                db, self.run_id, source_id=spider.source.id, district=spider.source.district, url=item.url,
                http_status=item.http_status, page=item.page, body=item.body, encoding=item.encoding,
                headers=item.headers, fetched_at=item.fetched_at, prepared=item.prepared, final_url=item.final_url)
            if outcome == "suspect":
                logger.warning("suspect page held back (body much shorter than before): %s", item.url)
        elif isinstance(item, NotModifiedItem):
            outcome = store.record_not_modified(db, self.run_id, url=item.url, etag=item.etag,
                                                last_modified=item.last_modified, http_status=item.http_status,
                                                fetched_at=item.fetched_at)
            if outcome == "error":
                logger.warning("error: %s (304 Not Modified without a confirmed revision)", item.url)
        elif isinstance(item, FailureItem):
            outcome = store.record_failure(db, self.run_id, url=item.url, outcome=item.outcome,
                                           http_status=item.http_status, error=item.error,
                                           fetched_at=item.fetched_at, final_url=item.final_url)
            if outcome in ("error", "blocked"):
                logger.warning("%s: %s (%s)", outcome, item.url, item.error)
        else:
            raise TypeError(f"not an item of the crawl: {type(item).__name__}")
        return outcome

    def finish_run(self, spider, reason: str) -> None:
        """Close the run row: interrupted unless the crawl finished, failed at its time limit (Scrapy's
        closespider_timeout), abandoned when stopped because its scheduler died, partial when stopped by
        anti-bot answers, failed when the archive could not be written."""
        if self._progress is not None and self._progress.running:
            self._progress.stop()
        if self.writer is None:
            self._release()
            return
        if self._ticker is not None and self._ticker.running:
            self._ticker.stop()
        stats = self.crawler.stats
        pages = stats.get_value("response_received_count", 0) if stats else None
        extracted = stats.get_value("zwgk/extracted", 0) if stats else None
        status = None if reason in (None, "finished") else "interrupted"
        message = None if status is None else f"crawl stopped: {reason}"
        parent = self.crawler.settings.get("ZWGK_PARENT_PID")
        if reason == "closespider_timeout":
            status = "failed"
            message = f"stopped at the time limit of {self.crawler.settings.getfloat('CLOSESPIDER_TIMEOUT'):g}s"
        elif reason == "shutdown" and parent is not None and os.getppid() != int(parent):
            status, message = "abandoned", f"its scheduler (pid {parent}) died; the crawl stopped itself"
        stop_message = getattr(self.crawler.spider, "stop_message", None)
        if stop_message:  # stopped by the source's anti-bot answers (crawler.middlewares)
            status, message = "partial", stop_message
        try:
            self.writer.call(self._finish, status, message, pages, extracted)
            if self.write_error and not getattr(spider, "archive_error", None):  # the last commit failed
                spider.archive_error = self.write_error  # crawler.run: exit 3 and `error: archive …`
                logger.error("cannot write the archive %s (%s): crawl stopped", spider.db_path, self.write_error)
        finally:
            self.writer.close()
            self.writer = None
            sys.setswitchinterval(self._switch_interval)
            self._release()

    def _finish(self, db, status: str | None, message: str | None, pages: int | None,
                extracted: int | None) -> None:
        """In the writer's thread, at the end: the last group, the run row, the run's news, planner stats."""
        self._commit_now(db)
        if self._checkpoints is not None:
            self._checkpoints.stop()
        spider = self.crawler.spider
        if self.write_error:
            spider.run_status = "failed"
            try:  # may fail too (the disk is still full): the scheduler marks the run abandoned later
                store.finish_run(db, self.run_id, status="failed", pages_fetched=pages,
                                 message=f"archive not writable: {self.write_error}")
            except sqlite3.Error:
                pass
            return
        row = store.finish_run(db, self.run_id, status=status, pages_fetched=pages, message=message,
                               pages_extracted=extracted, full_listing=getattr(spider, "full_listing", None))
        spider.run_status = row["status"]
        logger.info("run %s of source %s finished: %s", self.run_id, spider.source.id,
                    {k: row[k] for k in ("status", "pages_fetched", "new_documents", "new_revisions",
                                         "unchanged", "gone", "errors", "blocked") if k in row})
        from archive import notify  # the run's news (and any left unsent before), one message; never raises

        notify.after_run(db, self.run_id, spider.source)
        try:  # planner statistics for the search pages' covering indexes (archive.search)
            search.refresh_planner_stats(db)
        except sqlite3.Error as e:
            logger.warning("could not refresh the archive's planner statistics: %s", e)

    # --- group commit (archive.groupcommit): pages share a transaction, committed every
    # ZWGK_COMMIT_PAGES pages or ZWGK_COMMIT_SECONDS seconds; 1 page = the old commit per page.

    def _start_group(self) -> None:
        from twisted.internet.task import LoopingCall

        settings = self.crawler.settings
        self.writer.call(self._open_group, settings.getint("ZWGK_COMMIT_PAGES", MAX_PAGES),
                         settings.getfloat("ZWGK_COMMIT_SECONDS", MAX_SECONDS))
        self._ticker = LoopingCall(lambda: deferred_from_coro(self._tick()))
        self._ticker.start(max(0.05, self.group.max_seconds / 2), now=False)

    def _open_group(self, db, max_pages: int, max_seconds: float) -> None:
        self._checkpoints = Checkpointer(db)  # WAL checkpoints off the writer's thread too
        self.group = GroupCommit(db, max_pages, max_seconds, self._checkpoints)
        self._checkpoints.start()

    async def _tick(self) -> None:
        """The timer: commit the group once it is due, so an idle crawl commits too."""
        if self.writer is None or self.write_error:
            return
        if not await self.writer.run(self._commit_now, True):
            self._stop_for_write_error()

    def _commit_now(self, db, due_only: bool = False) -> bool:
        """In the writer's thread: commit the open group (only if due). A failing commit is a write error
        (the crawl stops): the group's pages are not archived, and the next run fetches them again."""
        if self.group is None or self.write_error and due_only:
            return True
        try:
            self.group.commit_if_due() if due_only else self.group.commit()
        except sqlite3.Error as e:
            self.write_error = self.write_error or f"{type(e).__name__}: {e}"
            return False
        return True

    def _release(self) -> None:
        if self.lock is not None:
            self.lock.release()
            self.lock = None
