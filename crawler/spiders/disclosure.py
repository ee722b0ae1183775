"""The one generic spider: a configured source's listing pages → its report pages.

    scrapy crawl disclosure -a source=pingshan [-a config=config/sources.yaml] [-a db=data/archive.db]
"""
from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import scrapy
from parsel import Selector
from scrapy import signals
from scrapy.exceptions import DontCloseSpider, IgnoreRequest
from scrapy.http import Response
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure

from archive.db import connect, now
from archive.store import known_urls, validators
from crawler import guard, listings
from crawler.items import FailureItem, NotModifiedItem, PageItem
from crawler.sources import DEFAULT_CONFIG, load_config


class DisclosureSpider(scrapy.Spider):
    name = "disclosure"

    def __init__(self, source: str | None = None, config: str = DEFAULT_CONFIG, db: str | None = None,
                 run_id: str | int | None = None, **kwargs: Any) -> None:
        if not source:
            raise ValueError("the disclosure spider needs a source: -a source=ID")
        super().__init__(**kwargs)
        self.config_path = config
        self.source = load_config(config).get(source)
        self.db_path = db
        self.run_id = int(run_id) if run_id else None
        self.allowed_domains = sorted({urlsplit(u).hostname or "" for u in self.source.start_urls})
        self.listing_pages = 0
        self.validators: dict[str, tuple[str | None, str | None]] = {}  # url -> (ETag, Last-Modified)
        self.known: list[str] = []  # documents the source watches in the archive, live or gone
        self.requested: set[str] = set()  # article URLs asked in this run

    @classmethod
    def from_crawler(cls, crawler, *args: Any, **kwargs: Any) -> DisclosureSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        # Scrapy applies settings after creating the spider, so a source's own settings win here.
        crawler.settings.setdict(spider.source.settings, priority="spider")
        crawler.signals.connect(spider.ask_known_documents, signal=signals.spider_idle)
        return spider

    async def start(self) -> AsyncIterator[scrapy.Request]:
        db = connect(self.db_path)
        try:
            self.known = known_urls(db, self.source.id)
            if self.crawler.settings.getbool("ZWGK_CONDITIONAL_REQUESTS"):
                self.validators = validators(db, self.source.id)
        finally:
            db.close()
        for url in self.source.start_urls:
            if self.source.listing == "gkmlpt":
                yield scrapy.Request(url, callback=self.parse_gkmlpt_index, errback=self.failed)
            else:
                yield self.listing_request(url)

    def ask_known_documents(self) -> None:
        """When the listings are done, every known document they did not link is asked again, so a
        report that slid off the listings is still watched — gone ones too, so a restored page comes back
        live. (Asked last, so that a listing's request — which may carry the gkmlpt API's fields — is the
        one that is made.)"""
        missed = [url for url in self.known if url not in self.requested]
        self.known = []
        for url in missed:
            self.crawler.engine.crawl(self.article_request(url))
        if missed:
            raise DontCloseSpider

    # --- requests ---------------------------------------------------------------------------------
    def listing_request(self, url: str) -> scrapy.Request:
        return scrapy.Request(url, callback=self.parse_listing, errback=self.failed)

    def article_request(self, url: str, hints: dict[str, str] | None = None) -> scrapy.Request:
        self.requested.add(url)
        meta = {"handle_httpstatus_all": True, "hints": hints or {}, "article": True}
        headers = {}
        etag, modified = self.validators.get(url, (None, None))
        if etag:
            headers["If-None-Match"] = etag
        if modified:
            headers["If-Modified-Since"] = modified
        if headers:
            meta["validators"] = (etag, modified)
        return scrapy.Request(url, callback=self.parse_article, errback=self.failed, headers=headers, meta=meta)

    # --- HTML listings ------------------------------------------------------------------------------
    def parse_listing(self, response: Response):
        self.listing_pages += 1
        verdict = guard.judge(response, memo=response.meta)
        if verdict.kind != "ok":
            yield listing_failure(response, verdict, "listing page")
            return
        selector = Selector(text=verdict.text)
        links = listings.page_links(selector, response.url)
        for link in listings.article_links(links, self.source.article_urls, self.source.title_filter):
            yield self.article_request(link.url)
        limit = self.crawler.settings.getint("ZWGK_MAX_LISTING_PAGES")
        for url in listings.listing_links(selector, response.url, links, self.source.listing_urls):
            if self.listing_pages < limit:
                yield self.listing_request(url)

    # --- gkmlpt listings ----------------------------------------------------------------------------
    def parse_gkmlpt_index(self, response: Response):
        verdict = guard.judge(response, memo=response.meta)
        if verdict.kind != "ok":
            yield listing_failure(response, verdict, "gkmlpt index")
            return
        sid = self.source.sid or listings.gkmlpt_sid(verdict.text)
        catalog = listings.gkmlpt_find_catalog(verdict.text, self.source.catalog or "")
        if not sid or not catalog:
            missing = "SID" if not sid else f"catalogue {self.source.catalog!r}"
            yield FailureItem(response.url, "error", now(), response.status, f"gkmlpt index: no {missing} found")
            return
        yield scrapy.Request(listings.gkmlpt_api_url(response.url, catalog, sid, 1),
                             callback=self.parse_gkmlpt_api, errback=self.failed,
                             cb_kwargs={"catalog": catalog, "sid": sid, "page": 1})

    def parse_gkmlpt_api(self, response: Response, catalog: str, sid: str, page: int):
        self.listing_pages += 1
        verdict = guard.judge(response, memo=response.meta)
        if verdict.kind == "blocked":
            yield listing_failure(response, verdict, "gkmlpt API")
            return
        try:
            data = listings.parse_json(response.text)
        except (ValueError, AttributeError) as e:
            yield FailureItem(response.url, "error", now(), response.status, f"gkmlpt API: not JSON ({e})")
            return
        for url, hints in listings.gkmlpt_report_links(data, response.url, self.source.article_urls,
                                                       self.source.title_filter):
            yield self.article_request(url, hints)
        if page == 1:
            limit = self.crawler.settings.getint("ZWGK_MAX_LISTING_PAGES")
            for n in range(2, min(listings.gkmlpt_page_count(data), limit) + 1):
                yield scrapy.Request(listings.gkmlpt_api_url(response.url, catalog, sid, n),
                                     callback=self.parse_gkmlpt_api, errback=self.failed,
                                     cb_kwargs={"catalog": catalog, "sid": sid, "page": n})

    # --- articles ---------------------------------------------------------------------------------
    def parse_article(self, response: Response):
        requested = response.request.meta.get("redirect_urls", [response.url])[0] if response.request else response.url
        if response.status == 304:
            yield self.not_modified(response, requested)
            return
        verdict = guard.judge(response, requested, memo=response.meta)
        if verdict.kind == "ok":
            yield PageItem(
                url=requested, http_status=response.status, html=verdict.text, body=response.body,
                encoding=verdict.encoding, fetched_at=now(),
                headers={k.decode("latin-1"): b", ".join(v).decode("latin-1") for k, v in response.headers.items()},
                hints=response.meta.get("hints") or {},
            )
        else:
            yield FailureItem(requested, verdict.kind, now(), response.status, verdict.reason)

    def not_modified(self, response: Response, url: str) -> NotModifiedItem | FailureItem:
        """A 304: unchanged if we asked conditionally (validators as answered, else as sent)."""
        sent = response.meta.get("validators")
        if not sent:
            return FailureItem(url, "error", now(), 304, "304 Not Modified to a request that was not conditional")
        etag = (response.headers.get("ETag") or b"").decode("latin-1") or sent[0]
        modified = (response.headers.get("Last-Modified") or b"").decode("latin-1") or sent[1]
        return NotModifiedItem(url, now(), 304, etag, modified)

    def failed(self, failure: Failure):
        request = failure.request
        if failure.check(IgnoreRequest) and not failure.check(HttpError):
            self.logger.info("not fetched: %s (%s)", request.url, failure.value)
            return
        response = getattr(failure.value, "response", None)
        status = response.status if response is not None else None
        outcome, error = "error", _describe(failure)
        if response is not None:  # an HTTP error answer: a challenge page is `blocked`, not an error
            verdict = guard.judge(response, request.url)
            outcome = "blocked" if verdict.kind == "blocked" else "error"
            error = f"{error}: {verdict.reason}" if verdict.reason else error
        yield FailureItem(request.url, outcome, now(), status, error)


def listing_failure(response: Response, verdict: guard.Verdict, what: str) -> FailureItem:
    """A listing, index or API page that is not usable: `blocked` for a challenge, else `error`."""
    outcome = "blocked" if verdict.kind == "blocked" else "error"
    return FailureItem(response.url, outcome, now(), response.status, f"{what}: {verdict.reason}")


def _describe(failure: Failure) -> str:
    value = failure.value
    text = f"{type(value).__name__}: {value}".strip()
    return json.dumps(text, ensure_ascii=False)[1:-1][:500]
