"""Item pipelines, one job each: ExtractPipeline turns a judged page into text and metadata;
ArchivePipeline hands every item to the archive, which alone decides new / changed / unchanged / gone."""
from __future__ import annotations

import logging
import os
import sqlite3

from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.utils.defer import deferred_from_coro

from archive import search, store
from archive.db import connect
from archive.groupcommit import MAX_PAGES, MAX_SECONDS, GroupCommit
from crawler.items import FailureItem, NotModifiedItem, PageItem
from crawler.workers import ExtractorPool, WorkerCrashed, default_workers, extract_and_prepare

logger = logging.getLogger(__name__)


class ExtractPipeline:
    """HTML → crawler.extract.Page (with the source's publisher fallback and prune selectors) and its
    archive.store.Prepared, in ZWGK_EXTRACT_WORKERS worker processes (0: in the crawl's own process).
    Counts every extraction in the stat `zwgk/extracted` (kept in runs.pages_extracted)."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        workers = crawler.settings.get("ZWGK_EXTRACT_WORKERS")
        self.workers = default_workers() if workers in (None, "") else int(workers)
        self.pool = ExtractorPool(self.workers) if self.workers > 0 else None

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
        args = (item.html, item.url, source.name, tuple(source.prune), dict(item.hints or {}))
        try:
            if self.pool is not None:
                item.page, item.prepared = await self.pool.run(extract_and_prepare, *args)
            else:
                item.page, item.prepared = extract_and_prepare(*args)
        except WorkerCrashed as e:  # a page that kills its worker costs that page, never the run
            logger.error("extraction failed for %s: %s", item.url, e)
            return FailureItem(item.url, "error", item.fetched_at, item.http_status, f"extraction failed: {e}")
        except Exception as e:  # an extractor bug must cost one page, never the run
            logger.exception("extraction failed for %s", item.url)
            return FailureItem(item.url, "error", item.fetched_at, item.http_status, f"extraction failed: {e}")
        finally:
            self.crawler.stats.inc_value("zwgk/extracted")
        if not item.page.text.strip():
            return FailureItem(item.url, "error", item.fetched_at, item.http_status, "no body text extracted")
        return item


class ArchivePipeline:
    """Writes pages and failures to the archive (ARCHIVE_DB / the spider's `db`), and the run row."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.db = None
        self.run_id: int | None = None
        self.write_error: str | None = None
        self.group: GroupCommit | None = None
        self._ticker = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ArchivePipeline:
        pipeline = cls(crawler)
        # The run is finished on spider_closed, the first moment Scrapy says why the crawl ended.
        crawler.signals.connect(pipeline.finish_run, signal=signals.spider_closed)
        return pipeline

    def open_spider(self) -> None:
        spider = self.crawler.spider
        self.db = connect(spider.db_path)
        store.upsert_source(self.db, spider.source.as_row())
        self.run_id = spider.run_id or store.start_run(self.db, spider.source.id, os.getpid())
        spider.run_id = self.run_id
        self._start_group()
        logger.info("run %s of source %s started", self.run_id, spider.source.id)

    def process_item(self, item):
        if self.write_error:  # the archive cannot be written: what is still in flight is not recorded
            return item
        try:
            with self.group.page():
                return self._record(item)
        except sqlite3.Error as e:  # disk full, read-only file, I/O error: stop, never half-write
            self.write_error = f"{type(e).__name__}: {e}"
            self._commit_group()
            self.crawler.spider.archive_error = self.write_error
            logger.error("cannot write the archive %s (%s): crawl stopped", self.crawler.spider.db_path,
                         self.write_error)
            deferred_from_coro(self.crawler.engine.close_spider_async(reason="archive-error"))
            return item

    def _record(self, item):
        spider = self.crawler.spider
        if isinstance(item, PageItem):
            outcome = store.record_page(
                self.db, self.run_id, source_id=spider.source.id, district=spider.source.district, url=item.url,
                http_status=item.http_status, page=item.page, body=item.body, encoding=item.encoding,
                headers=item.headers, fetched_at=item.fetched_at, prepared=item.prepared)
            if outcome == "suspect":
                logger.warning("suspect page held back (body much shorter than before): %s", item.url)
        elif isinstance(item, NotModifiedItem):
            outcome = store.record_not_modified(self.db, self.run_id, url=item.url, etag=item.etag,
                                                last_modified=item.last_modified, http_status=item.http_status,
                                                fetched_at=item.fetched_at)
            if outcome == "error":
                logger.warning("error: %s (304 Not Modified without a confirmed revision)", item.url)
        elif isinstance(item, FailureItem):
            outcome = store.record_failure(self.db, self.run_id, url=item.url, outcome=item.outcome,
                                           http_status=item.http_status, error=item.error,
                                           fetched_at=item.fetched_at)
            if outcome in ("error", "blocked"):
                logger.warning("%s: %s (%s)", outcome, item.url, item.error)
        return item

    def finish_run(self, spider, reason: str) -> None:
        """Close the run row: interrupted unless the crawl finished, partial when stopped by anti-bot
        answers, failed when the archive could not be written."""
        if self.db is None:
            return
        self._stop_group()
        stats = self.crawler.stats
        pages = stats.get_value("response_received_count", 0) if stats else None
        extracted = stats.get_value("zwgk/extracted", 0) if stats else None
        status = None if reason in (None, "finished") else "interrupted"
        message = None if status is None else f"crawl stopped: {reason}"
        stop_message = getattr(self.crawler.spider, "stop_message", None)
        if stop_message:  # stopped by the source's anti-bot answers (crawler.middlewares)
            status, message = "partial", stop_message
        if self.write_error:
            self.crawler.spider.run_status = "failed"
            try:  # may fail too (the disk is still full): the scheduler marks the run abandoned later
                store.finish_run(self.db, self.run_id, status="failed", pages_fetched=pages,
                                 message=f"archive not writable: {self.write_error}")
            except sqlite3.Error:
                pass
            self._close()
            return
        row = store.finish_run(self.db, self.run_id, status=status, pages_fetched=pages, message=message,
                               pages_extracted=extracted)
        self.crawler.spider.run_status = row["status"]
        logger.info("run %s of source %s finished: %s", self.run_id, self.crawler.spider.source.id,
                    {k: row[k] for k in ("status", "pages_fetched", "new_documents", "new_revisions",
                                         "unchanged", "gone", "errors", "blocked") if k in row})
        self._close()

    # --- group commit (archive.groupcommit): pages share a transaction, committed every
    # ZWGK_COMMIT_PAGES pages or ZWGK_COMMIT_SECONDS seconds; 1 page = the old commit per page.

    def _start_group(self) -> None:
        from twisted.internet.task import LoopingCall

        settings = self.crawler.settings
        self.group = GroupCommit(self.db, settings.getint("ZWGK_COMMIT_PAGES", MAX_PAGES),
                                 settings.getfloat("ZWGK_COMMIT_SECONDS", MAX_SECONDS))
        self._ticker = LoopingCall(self._commit_group, due_only=True)
        self._ticker.start(max(0.05, self.group.max_seconds / 2), now=False)

    def _commit_group(self, due_only: bool = False) -> None:
        """Commit the open group (only if due, from the timer); a failing commit stops the crawl like a
        failing page: the group's pages are not archived, and the next run fetches them again."""
        if self.group is None or self.write_error and due_only:
            return
        try:
            self.group.commit_if_due() if due_only else self.group.commit()
        except sqlite3.Error as e:
            if not self.write_error:
                self.write_error = f"{type(e).__name__}: {e}"
                self.crawler.spider.archive_error = self.write_error
                logger.error("cannot write the archive %s (%s): crawl stopped", self.crawler.spider.db_path,
                             self.write_error)
                deferred_from_coro(self.crawler.engine.close_spider_async(reason="archive-error"))

    def _stop_group(self) -> None:
        if self._ticker is not None and self._ticker.running:
            self._ticker.stop()
        self._commit_group()

    def _close(self) -> None:
        try:  # planner statistics for the search pages' covering indexes (archive.search)
            if not self.write_error:
                search.refresh_planner_stats(self.db)
        except sqlite3.Error as e:
            logger.warning("could not refresh the archive's planner statistics: %s", e)
        self.db.close()
        self.db = None
