"""The one generic spider: a configured source's listing pages → its report pages.

    scrapy crawl disclosure -a source=pingshan [-a config=config/sources.yaml] [-a db=data/archive.db]
"""
from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import scrapy
from scrapy import signals
from scrapy.exceptions import DontCloseSpider, IgnoreRequest
from scrapy.http import Response
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure

from archive.db import connect, now
from archive.store import incremental_listing_allowed, known_urls, validators
from crawler import guard, listings
from crawler.items import FailureItem, NotModifiedItem, PageItem
from crawler.sources import DEFAULT_CONFIG, load_config

# Every answer but a redirect reaches parse_article (a 304, 404, 410 or 5xx is judged there); redirects
# are followed by Scrapy within the source's hosts (crawler.middlewares.OffsiteRedirectMiddleware).
ARTICLE_STATUSES = [304, *range(400, 600)]
MAX_REDIRECTS = 5


class DisclosureSpider(scrapy.Spider):
    name = "disclosure"

    def __init__(self, source: str | None = None, config: str = DEFAULT_CONFIG, db: str | None = None,
                 run_id: str | int | None = None, revalidated: Any = None, **kwargs: Any) -> None:
        if not source:
            raise ValueError("the disclosure spider needs a source: -a source=ID")
        super().__init__(**kwargs)
        self.config_path = config
        self.source = load_config(config, schedules=False).get(source)  # a crawl never reads schedules
        self.db_path = db
        self.run_id = int(run_id) if run_id else None
        self.allowed_domains = sorted({urlsplit(u).hostname or "" for u in self.source.start_urls})
        self.listing_pages = 0
        self.validators: dict[str, tuple[str | None, str | None]] = {}  # url -> (ETag, Last-Modified)
        self.known: list[str] = []  # documents the source watches in the archive, live or gone
        self.requested: set[str] = set()  # article URLs asked in this run
        self.archived: dict[str, str | None] = {}  # every archived document of the source -> published
        self.newest_published: str | None = None
        self.gkmlpt_seen: dict[str, set[str]] = {}  # catalogue -> article URLs its API pages listed
        self.gkmlpt_page_size: dict[str, int] = {}  # catalogue -> articles on its first page
        self.incremental = False  # whether gkmlpt paging may stop at a page of known documents
        self.full_listing = True  # whether every listing page was read (runs.full_listing); cleared by
        # a listing failure, the page limit or an incremental stop
        self.known_set: set[str] = set()  # every document the source watches or archived (HTML incremental paging)
        self.listings_asked: set[str] = set()  # HTML listing pages asked in this run
        # what the revalidation stage (crawler/revalidate.py) did before Scrapy started: documents it settled
        # (304s recorded, robots.txt refusals) are not asked again; the answers it did not settle are served
        # to this crawl's requests by crawler.middlewares.PrefetchedMiddleware (`self.prefetched`)
        self.revalidated = revalidated
        self.prefetched: dict = revalidated.prefetched if revalidated is not None else {}
        if revalidated is not None:
            self.requested |= revalidated.settled

    @classmethod
    def from_crawler(cls, crawler, *args: Any, **kwargs: Any) -> DisclosureSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        # Scrapy applies settings after creating the spider, so a source's own settings win here.
        crawler.settings.set("REDIRECT_MAX_TIMES", MAX_REDIRECTS, priority="spider")
        crawler.settings.setdict(spider.source.settings, priority="spider")
        crawler.signals.connect(spider.ask_known_documents, signal=signals.spider_idle)
        return spider

    async def start(self) -> AsyncIterator[scrapy.Request]:
        if getattr(self, "locked_by", None):  # another crawl of this source holds its lock (ArchivePipeline)
            return
        db = connect(self.db_path)
        try:
            self.known = known_urls(db, self.source.id)
            self.archived = archived_dates(db, self.source.id)
            self.newest_published = max((d for d in self.archived.values() if d), default=None)
            self.known_set = set(self.known) | set(self.archived)
            self.incremental = incremental_listing_allowed(
                db, self.source.id, self.crawler.settings.getfloat("ZWGK_FULL_LISTING_DAYS"))
            if self.crawler.settings.getbool("ZWGK_CONDITIONAL_REQUESTS"):
                self.validators = validators(db, self.source.id)
        finally:
            db.close()
        if self.revalidated is not None:  # the answers it consumed count as pages fetched (runs.pages_fetched)
            self.crawler.stats.inc_value("response_received_count", self.revalidated.responses)
        for url in self.source.start_urls:
            if self.source.listing == "gkmlpt":
                yield scrapy.Request(url, callback=self.parse_gkmlpt_index, errback=self.failed,
                                     cb_kwargs={"start": url})
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
        self.listings_asked.add(url)
        return scrapy.Request(url, callback=self.parse_listing, errback=self.failed)

    def on_source_hosts(self, url: str) -> bool:
        """Whether a linked report is on the source's hosts (article requests bypass Scrapy's offsite
        filter, being `dont_filter`); a report elsewhere is not fetched."""
        if listings.on_hosts(url, self.allowed_domains):
            return True
        self.logger.info("not fetched: %s is not on the source's hosts %s", url, self.allowed_domains)
        return False

    def article_request(self, url: str, hints: dict[str, str] | None = None) -> scrapy.Request:
        """A report page's request. Not filtered as a duplicate (callers ask each URL once, on the
        source's hosts), so that a redirect to a URL also asked elsewhere is still followed and logged
        under this URL."""
        self.requested.add(url)
        meta = {"handle_httpstatus_list": ARTICLE_STATUSES, "hints": hints or {}, "article": True}
        headers = {}
        etag, modified = self.validators.get(url, (None, None))
        if etag:
            headers["If-None-Match"] = etag
        if modified:
            headers["If-Modified-Since"] = modified
        if headers:
            meta["validators"] = (etag, modified)
        return scrapy.Request(url, callback=self.parse_article, errback=self.failed, headers=headers, meta=meta,
                              dont_filter=True)

    # --- HTML listings ------------------------------------------------------------------------------
    def parse_listing(self, response: Response):
        """An HTML listing page: its reports are asked, then its further pages — all of them, or, when paging
        may be incremental (`self.incremental`, the rule of gkmlpt's paging), only the next one, and none
        after a page that holds nothing new (every report it links is archived)."""
        self.listing_pages += 1
        verdict = guard.judge(response, memo=response.meta)
        if verdict.kind != "ok":
            self.full_listing = False
            yield listing_failure(response, verdict, "listing page")
            return
        page = listings.read_listing(verdict.text, response.url, self.source.article_urls, self.source.title_filter,
                                     self.source.listing_urls)
        for link in page.reports:
            if link.url not in self.requested and self.on_source_hosts(link.url):
                yield self.article_request(link.url)
        pages = page.pages
        if self.incremental:
            reports = [link.url for link in page.reports if listings.on_hosts(link.url, self.allowed_domains)]
            if listings.listing_is_known(reports, self.known_set):
                if any(url not in self.listings_asked for url in pages):  # pages left unread
                    self.full_listing = False
                    self.logger.info("listing %s holds nothing new, older pages not read", response.url)
                return
            following = listings.next_listing_page(page, self.listings_asked)
            pages = [following] if following else []
        limit = self.crawler.settings.getint("ZWGK_MAX_LISTING_PAGES")
        for url in pages:
            if self.listing_pages < limit:
                yield self.listing_request(url)
            else:
                self.full_listing = False

    # --- gkmlpt listings ----------------------------------------------------------------------------
    def parse_gkmlpt_index(self, response: Response, start: str = ""):
        verdict = guard.judge(response, memo=response.meta)
        if verdict.kind != "ok":
            self.full_listing = False
            yield listing_failure(response, verdict, "gkmlpt index")
            return
        sid = self.source.sid or listings.gkmlpt_sid(verdict.text)
        wanted = listings.gkmlpt_wanted_catalog(self.source.catalog, start)
        catalog = listings.gkmlpt_find_catalog(verdict.text, wanted)
        if not sid or not catalog:
            self.full_listing = False
            missing = "SID" if not sid else f"catalogue {wanted!r}"
            yield FailureItem(response.url, "error", now(), response.status, f"gkmlpt index: no {missing} found")
            return
        yield scrapy.Request(listings.gkmlpt_api_url(response.url, catalog, sid, 1),
                             callback=self.parse_gkmlpt_api, errback=self.failed,
                             cb_kwargs={"catalog": catalog, "sid": sid, "page": 1})

    def parse_gkmlpt_api(self, response: Response, catalog: str, sid: str, page: int):
        """One page of a catalogue's list API. Pages are read one after another, newest first, and paging
        stops at a page that holds only documents the archive already has with the same dates (so a daily
        run reads one or two pages — only when `self.incremental`: the previous run was clean and a recent
        run read every page), at a page that repeats what this run has seen (the API's page 0 is page 1;
        some servers ignore `page`), at a short page, or at the last page. An answer without an `articles`
        list (`{"code": 500, "msg": "系统繁忙"}`) is a failure, not an empty page."""
        self.listing_pages += 1
        verdict = guard.judge(response, memo=response.meta)
        if verdict.kind in ("blocked", "not-found"):
            self.full_listing = False
            yield listing_failure(response, verdict, "gkmlpt API")
            return
        try:
            data = listings.parse_json(response.text)
        except (ValueError, AttributeError) as e:
            self.full_listing = False
            yield FailureItem(response.url, "error", now(), response.status, f"gkmlpt API: not JSON ({e})")
            return
        if not isinstance(data.get("articles"), list):  # e.g. 200 {"code": 500, "msg": "系统繁忙"}: busy, not empty
            self.full_listing = False
            said = ", ".join(f"{k}={data[k]!r}" for k in ("code", "msg", "message") if k in data)
            yield FailureItem(response.url, "error", now(), response.status,
                              "gkmlpt API: answer has no articles list" + (f" ({said})" if said else ""))
            return
        reports = listings.gkmlpt_report_links(data, response.url, self.source.article_urls,
                                               self.source.title_filter)
        for url, hints in reports:
            if url not in self.requested and self.on_source_hosts(url):
                yield self.article_request(url, hints)
        listed = {url for url, _ in listings.gkmlpt_articles(data, response.url)}
        seen = self.gkmlpt_seen.setdefault(catalog, set())
        repeated = bool(listed) and listed <= seen
        seen |= listed
        # a short page is judged by the answer's raw count: an article listed twice (`#0` and `#11938`)
        # does not make a full page look short
        raw = len(data["articles"])
        size = self.gkmlpt_page_size.setdefault(catalog, raw)
        if repeated or raw < size or page >= listings.gkmlpt_page_count(data, size):
            return
        if self.incremental and listings.gkmlpt_page_is_known(data, response.url, [u for u, _ in reports],
                                                              self.archived, self.newest_published):
            self.full_listing = False
            self.logger.info("gkmlpt catalogue %s: page %d holds nothing new, older pages not read", catalog, page)
            return
        if self.listing_pages >= self.crawler.settings.getint("ZWGK_MAX_LISTING_PAGES"):
            self.full_listing = False
        else:
            yield scrapy.Request(listings.gkmlpt_api_url(response.url, catalog, sid, page + 1),
                                 callback=self.parse_gkmlpt_api, errback=self.failed,
                                 cb_kwargs={"catalog": catalog, "sid": sid, "page": page + 1})

    # --- articles ---------------------------------------------------------------------------------
    def parse_article(self, response: Response):
        """A report page's answer, judged. After redirects the document is still the URL the listing
        named; where the redirects ended is recorded as the fetch's `final_url`. A redirect to the home
        page, an error page or a listing page means the report is gone (not-found)."""
        requested, final = requested_and_final(response)
        if response.status == 304:
            yield self.not_modified(response, requested)
            return
        verdict = guard.judge(response, requested, memo=response.meta)
        if verdict.kind == "ok" and final and self.is_listing_page(final):
            verdict = guard.Verdict("not-found", f"redirected to a listing page {final}")
        other = self.other_report(requested, final)
        if verdict.kind == "ok" and other:  # its text is that report's, not a revision of this one
            verdict = guard.Verdict("not-found", f"redirects to another report: {other}")
        if verdict.kind == "ok":
            yield PageItem(
                url=requested, http_status=response.status, html=verdict.text, body=response.body,
                encoding=verdict.encoding, fetched_at=now(),
                headers={k.decode("latin-1"): b", ".join(v).decode("latin-1") for k, v in response.headers.items()},
                hints=response.meta.get("hints") or {}, final_url=final,
            )
        else:
            yield FailureItem(requested, verdict.kind, now(), response.status, verdict.reason, final)

    def other_report(self, requested: str, final: str | None) -> str | None:
        """The document a redirect ended at when it is another report of the archive (or of this run),
        e.g. a withdrawn report sent to its successor; else None."""
        if not final:
            return None
        target = listings.canonical_url(final)
        if target == listings.canonical_url(requested):
            return None
        return target if target in self.archived or target in self.requested else None

    def is_listing_page(self, url: str) -> bool:
        """Whether `url` is one of the source's listing pages (a start URL, a `listing_urls` match or a
        gkmlpt index), where a CMS sends a withdrawn report."""
        url = listings.canonical_url(url)
        if url in {listings.canonical_url(u) for u in self.source.start_urls}:
            return True
        if self.source.listing_urls and listings.matches(url, self.source.listing_urls):
            return True
        return self.source.listing == "gkmlpt" and url.rstrip("/").endswith(("/gkmlpt/index", "/gkmlpt"))

    def not_modified(self, response: Response, url: str) -> NotModifiedItem | FailureItem:
        """A 304: unchanged if we asked conditionally (validators as answered, else as sent)."""
        sent = response.meta.get("validators")
        if not sent:
            return FailureItem(url, "error", now(), 304, "304 Not Modified to a request that was not conditional")
        etag = (response.headers.get("ETag") or b"").decode("latin-1") or sent[0]
        modified = (response.headers.get("Last-Modified") or b"").decode("latin-1") or sent[1]
        return NotModifiedItem(url, now(), 304, etag, modified)

    def failed(self, failure: Failure):
        from crawler.middlewares import REDIRECT_REASON  # not at import: it imports the Twisted reactor

        request = failure.request
        if not request.meta.get("article"):  # a listing, index or API page not read
            self.full_listing = False
        if failure.check(IgnoreRequest) and not failure.check(HttpError):
            self.logger.info("not fetched: %s (%s)", request.url, failure.value)
            return
        response = getattr(failure.value, "response", None)
        status = response.status if response is not None else None
        url = (request.meta.get("redirect_urls") or [request.url])[0]  # the URL the listing named
        final = request.url if url != request.url else None
        outcome, error = "error", _describe(failure)
        if response is not None:  # an HTTP error answer: a challenge page is `blocked`, not an error
            verdict = guard.judge(response, url)
            gone = verdict.kind == "not-found" and request.meta.get("article")  # e.g. a redirect home
            outcome = verdict.kind if verdict.kind == "blocked" or gone else "error"
            refused = request.meta.get(REDIRECT_REASON)
            if refused and outcome == "error":
                error = refused
            else:
                error = f"{error}: {verdict.reason}" if verdict.reason else error
        yield FailureItem(url, outcome, now(), status, error, final)


def requested_and_final(response: Response) -> tuple[str, str | None]:
    """(the URL first asked, the URL the answer came from when redirects were followed, else None)."""
    chain = response.meta.get("redirect_urls") if response.request is not None else None
    if not chain:
        return response.url, None
    return chain[0], response.url


def archived_dates(db, source_id: str) -> dict[str, str | None]:
    """Every archived document of a source (live or gone) with its `published` date, for incremental
    gkmlpt listing."""
    return {row["url"]: row["published"] for row in
            db.query("select url, published from documents where source_id = ?", [source_id])}


def listing_failure(response: Response, verdict: guard.Verdict, what: str) -> FailureItem:
    """A listing, index or API page that is not usable: `blocked` for a challenge, else `error`."""
    outcome = "blocked" if verdict.kind == "blocked" else "error"
    return FailureItem(response.url, outcome, now(), response.status, f"{what}: {verdict.reason}")


def _describe(failure: Failure) -> str:
    value = failure.value
    text = f"{type(value).__name__}: {value}".strip()
    return json.dumps(text, ensure_ascii=False)[1:-1][:500]
