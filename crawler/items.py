"""What the spider hands to the pipelines: a judged page, or a failure that must not become a revision."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class PageItem:
    """A report page that passed the guard, with its raw bytes and decoded text."""

    url: str
    http_status: int
    html: str
    body: bytes
    encoding: str
    headers: dict[str, str]
    fetched_at: str
    hints: dict[str, Any] = field(default_factory=dict)
    final_url: str | None = None  # where redirects ended, when not `url`
    page: Any = None  # crawler.extract.Page, set by ExtractPipeline
    prepared: Any = None  # archive.store.Prepared, set by ExtractPipeline (in the extraction worker)


@dataclass
class FailureItem:
    """A fetch that produced no page: error, blocked, not-found (gone), or suspect."""

    url: str
    outcome: str  # "error" | "blocked" | "not-found"
    fetched_at: str
    http_status: int | None = None
    error: str | None = None
    final_url: str | None = None  # where redirects ended, when not `url`


@dataclass
class NotModifiedItem:
    """A 304 answer to a conditional request: the page is what the archive's latest revision holds.
    Nothing to extract; the archive records it as `unchanged` (if that revision is confirmed)."""

    url: str
    fetched_at: str
    http_status: int = 304
    etag: str | None = None
    last_modified: str | None = None


@dataclass
class ArchivedPage:
    """What the crawl hands on after archiving a page: one record per page for Scrapy's feed exports
    (`scrapy crawl disclosure -a source=ID -o pages.jsonl`), never raw bytes. `outcome` is the archive's
    verdict: new, changed, unchanged (304s included) or suspect."""

    url: str
    title: str | None
    published: str | None
    publisher: str | None
    district: str | None
    report_year: int | None
    text: str | None
    outcome: str
