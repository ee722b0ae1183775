"""Downloader middlewares for a hostile web: retries that back off, redirects that never leave the
source's hosts, and a source that slows down, then stops, when it is answered with challenge pages.

Wired in crawler/settings.py (DOWNLOADER_MIDDLEWARES); tuned by ZWGK_* settings, which a source may
override in its `settings`.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Request, Response
from scrapy.utils.defer import deferred_from_coro, maybe_deferred_to_future
from twisted.internet import reactor
from twisted.internet.task import deferLater
from twisted.python.failure import Failure

from crawler import guard
from crawler.listings import on_hosts

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)


class BackoffRetryMiddleware(RetryMiddleware):
    """Scrapy's retries (5xx, timeouts, resets, truncated bodies), each after an exponential pause:
    ZWGK_RETRY_BACKOFF × 2^(attempt−1) seconds, at most ZWGK_RETRY_BACKOFF_MAX. The pause holds one
    of the source's concurrent slots, so a struggling server gets fewer requests, not more."""

    async def process_response(self, request: Request, response: Response) -> Request | Response:
        result = super().process_response(request, response)
        return await self._after_pause(result)

    async def process_exception(self, request: Request, exception: Exception) -> Request | Response | None:
        result = super().process_exception(request, exception)
        return await self._after_pause(result)

    async def _after_pause(self, result):
        if isinstance(result, Request):
            settings = self.crawler.settings
            attempt = int(result.meta.get("retry_times", 1))
            pause = min(settings.getfloat("ZWGK_RETRY_BACKOFF") * 2 ** (attempt - 1),
                        settings.getfloat("ZWGK_RETRY_BACKOFF_MAX"))
            if pause > 0:
                await maybe_deferred_to_future(deferLater(reactor, pause, lambda: None))
        return result


REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
REDIRECT_REASON = "zwgk_redirect_refused"  # request.meta key: why a redirect was not followed


class OffsiteRedirectMiddleware:
    """Redirects are followed (by Scrapy's RedirectMiddleware, which runs after this one) only within
    the source's hosts — http and https of the same host alike — and for at most REDIRECT_MAX_TIMES hops.
    A redirect off the hosts, or one hop too many, is not followed: the 3xx reaches the spider with the
    reason in `request.meta[REDIRECT_REASON]`, and is logged as a fetch (not-found when it points at a home
    or error page, else error). Scrapy alone would drop such a request silently, leaving no trace."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> OffsiteRedirectMiddleware:
        return cls(crawler)

    def process_response(self, request: Request, response: Response) -> Response:
        location = response.headers.get(b"Location")
        if response.status not in REDIRECT_STATUSES or not location or request.meta.get("dont_redirect"):
            return response
        target = urljoin(response.url, location.decode("latin-1").strip())
        hops = int(request.meta.get("redirect_times", 0))
        limit = self.crawler.settings.getint("REDIRECT_MAX_TIMES")
        if not on_hosts(target, getattr(self.crawler.spider, "allowed_domains", None)):
            reason = f"off-host redirect to {target} not followed"
        elif hops >= limit:
            reason = f"more than {limit} redirects (last to {target}) not followed"
        else:
            return response
        request.meta["dont_redirect"] = True
        request.meta[REDIRECT_REASON] = reason
        logger.info("%s -> %s: %s", response.url, target, reason)
        return response


class ChallengeMiddleware:
    """Watch for anti-bot / WAF challenge answers. After the first, the source's download slot waits
    ZWGK_BLOCKED_DELAY seconds between requests; after ZWGK_BLOCKED_LIMIT, the source's crawl stops
    for this run (close reason `blocked`; the run is marked partial). The responses themselves go on
    to the spider, which logs each as a `blocked` fetch."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.blocked = 0
        self.stopping = False

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ChallengeMiddleware:
        return cls(crawler)

    def process_response(self, request: Request, response: Response) -> Response:
        if request.meta.get("dont_obey_robotstxt") or urlsplit(response.url).path == "/robots.txt":
            return response
        requested = (request.meta.get("redirect_urls") or [None])[0]  # as the spider will judge it
        verdict = guard.judge(response, requested, memo=request.meta)
        if verdict.kind == "blocked":
            self._on_blocked(request, verdict.reason)
        return response

    def _on_blocked(self, request: Request, reason: str) -> None:
        settings = self.crawler.settings
        self.blocked += 1
        self.crawler.stats.inc_value("zwgk/blocked")
        spider = self.crawler.spider
        engine = self.crawler.engine
        delay = settings.getfloat("ZWGK_BLOCKED_DELAY")
        downloader = engine.downloader if engine else None
        if downloader is not None and delay > 0:
            key = downloader.get_slot_key(request)
            slot = downloader.slots.get(key)
            if slot is not None and slot.delay < delay:
                slot.delay = delay
                logger.warning("challenge page from %s (%s): slowing to one request per %ss", key, reason, delay)
        limit = settings.getint("ZWGK_BLOCKED_LIMIT")
        if limit and self.blocked >= limit and not self.stopping and engine is not None:
            self.stopping = True
            message = f"stopped after {self.blocked} blocked responses (last: {reason}, {request.url})"
            spider.stop_message = message
            logger.warning("source %s: %s", getattr(getattr(spider, "source", None), "id", "?"), message)
            deferred_from_coro(engine.close_spider_async(reason="blocked"))
            if downloader is not None:
                _drop_queued(downloader, message)


def _drop_queued(downloader, message: str) -> None:
    """Requests already handed to the downloader would still be sent while the engine closes: drop
    them (their errbacks see IgnoreRequest, i.e. "not fetched", which is logged but not archived)."""
    for slot in list(getattr(downloader, "slots", {}).values()):
        queue = getattr(slot, "queue", None)
        while queue:
            request, waiting = queue.popleft()
            waiting.errback(Failure(IgnoreRequest(f"source stopped: {message}")))


class PrefetchedMiddleware:
    """Serves a request an answer the revalidation stage (crawler/revalidate.py) already received for it
    — same URL, same conditional headers, first attempt (a retry or a redirect's next hop is sent) — so
    that everything but a 304 it recorded is judged by the spider and the middlewares above, without
    asking the server twice. Each answer is served once."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> PrefetchedMiddleware:
        return cls(crawler)

    def process_request(self, request: Request) -> Response | None:
        answers = getattr(self.crawler.spider, "prefetched", None)
        if not answers or request.method != "GET" or request.meta.get("retry_times") \
                or request.meta.get("redirect_times"):
            return None
        from crawler.revalidate import prefetch_key

        etag, modified = (request.headers.get(name) for name in (b"If-None-Match", b"If-Modified-Since"))
        answer = answers.pop(prefetch_key(request.url, etag.decode("latin-1") if etag else None,
                                          modified.decode("latin-1") if modified else None), None)
        if answer is None:
            return None
        from scrapy.http import Headers
        from scrapy.responsetypes import responsetypes

        headers = Headers(answer.header_map())
        cls = responsetypes.from_args(headers=headers, url=request.url, body=answer.body)
        logger.debug("served the revalidation stage's answer (%s) to %s", answer.status, request.url)
        return cls(url=request.url, status=answer.status, headers=headers, body=answer.body, request=request,
                   flags=["prefetched"], protocol="HTTP/1.1")
