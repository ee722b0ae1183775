"""Item pipelines, one job each: ExtractPipeline turns a judged page into text and metadata;
ArchivePipeline hands every item to the archive, which alone decides new / changed / unchanged / gone."""
from __future__ import annotations

import logging
import os

from scrapy.crawler import Crawler

from archive import store
from archive.db import connect
from crawler.extract import extract_page
from crawler.items import FailureItem, PageItem

logger = logging.getLogger(__name__)


class ExtractPipeline:
    """HTML → crawler.extract.Page, with the source's publisher fallback and prune selectors."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> "ExtractPipeline":
        return cls(crawler)

    def process_item(self, item):
        if isinstance(item, PageItem):
            source = self.crawler.spider.source
            try:
                item.page = extract_page(item.html, item.url, site_name=source.name, prune=source.prune,
                                         hints=item.hints)
            except Exception as e:  # an extractor bug must cost one page, never the run
                logger.exception("extraction failed for %s", item.url)
                return FailureItem(item.url, "error", item.fetched_at, item.http_status, f"extraction failed: {e}")
            if not item.page.text.strip():
                return FailureItem(item.url, "error", item.fetched_at, item.http_status, "no body text extracted")
        return item


class ArchivePipeline:
    """Writes pages and failures to the archive (ARCHIVE_DB / the spider's `db`), and the run row."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.db = None
        self.run_id: int | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> "ArchivePipeline":
        return cls(crawler)

    def open_spider(self) -> None:
        spider = self.crawler.spider
        self.db = connect(spider.db_path)
        store.upsert_source(self.db, spider.source.as_row())
        self.run_id = spider.run_id or store.start_run(self.db, spider.source.id, os.getpid())
        spider.run_id = self.run_id
        logger.info("run %s of source %s started", self.run_id, spider.source.id)

    def process_item(self, item):
        spider = self.crawler.spider
        if isinstance(item, PageItem):
            outcome = store.record_page(
                self.db, self.run_id, source_id=spider.source.id, district=spider.source.district, url=item.url,
                http_status=item.http_status, page=item.page, body=item.body, encoding=item.encoding,
                headers=item.headers, fetched_at=item.fetched_at)
            if outcome == "suspect":
                logger.warning("suspect page held back (body much shorter than before): %s", item.url)
        elif isinstance(item, FailureItem):
            outcome = store.record_failure(self.db, self.run_id, url=item.url, outcome=item.outcome,
                                           http_status=item.http_status, error=item.error,
                                           fetched_at=item.fetched_at)
            if outcome in ("error", "blocked"):
                logger.warning("%s: %s (%s)", outcome, item.url, item.error)
        return item

    def close_spider(self) -> None:
        stats = self.crawler.stats
        reason = stats.get_value("finish_reason") if stats else None
        pages = stats.get_value("response_received_count", 0) if stats else None
        status = None if reason in (None, "finished") else "interrupted"
        row = store.finish_run(self.db, self.run_id, status=status, pages_fetched=pages,
                               message=None if status is None else f"crawl stopped: {reason}")
        self.crawler.spider.run_status = row["status"]
        logger.info("run %s of source %s finished: %s", self.run_id, self.crawler.spider.source.id,
                    {k: row[k] for k in ("status", "pages_fetched", "new_documents", "new_revisions",
                                         "unchanged", "gone", "errors", "blocked") if k in row})
        self.db.close()
