"""Fetch the files an archived page links, with Scrapy's media pipeline, into the archive.

`AttachmentsPipeline` is a `FilesPipeline` whose store is the archive (`ArchiveFilesStore`: the `files`
table, each distinct file once by sha256) instead of a folder. For every page the archive recorded
(new, changed, unchanged or 304), it asks for the attachments its latest revision links — those on the
source's hosts (or its `attachment_hosts`) with a report-file extension — through the engine, so the
crawl's politeness, robots.txt, retries and challenge handling apply; conditionally (If-None-Match /
If-Modified-Since from the attachment's last stored file); at most ZWGK_ATTACHMENT_MAXSIZE bytes each.
The type is sniffed from the bytes and the text extracted in the extraction workers
(crawler/workers.extract_file); archive/attachments.record decides whether it is a new version.

A bad file (corrupt, encrypted, a zip bomb, an HTML page, over the size limit) becomes a version with
`error` set and a log line; a network failure or an HTTP error answer is logged only (asked again next
run). Nothing here fails the crawl.
"""
from __future__ import annotations

import hashlib
import logging
import sqlite3
from functools import partial
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

from scrapy import signals
from scrapy.exceptions import IgnoreRequest, NotConfigured, StopDownload
from scrapy.http import Request, Response
from scrapy.http.request import NO_CALLBACK
from scrapy.pipelines.files import FilesPipeline
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet.defer import CancelledError
from twisted.python.failure import Failure

from archive import attachments as store
from archive import filetext
from crawler.items import ArchivedPage, NotModifiedItem, PageItem
from crawler.middlewares import REDIRECT_REASON, REDIRECT_STATUSES, on_hosts
from crawler.workers import WorkerCrashed, extract_file

try:
    from scrapy.exceptions import DownloadCancelledError
except ImportError:  # Scrapy < 2.14 cancels with Twisted's CancelledError
    DownloadCancelledError = CancelledError

logger = logging.getLogger(__name__)

EXTENSIONS = (".pdf", ".doc", ".docx", ".wps", ".xls", ".xlsx", ".et", ".ofd", ".txt", ".zip")
META_KEY = "zwgk_attachment"
RECEIVED_KEY = "zwgk_attachment_bytes"  # request.meta: body bytes received so far


def _http_on_hosts(url: str, hosts: list[str]) -> bool:
    """An http(s) URL on `hosts` (or a subdomain of one)."""
    return urlsplit(url).scheme in ("http", "https") and on_hosts(url, hosts)


def wanted(url: str, link_text: str | None, hosts: list[str]) -> bool:
    """An attachment to fetch: http(s), on `hosts`, its path (or its link text) ending in a report-file
    extension."""
    if not _http_on_hosts(url, hosts):
        return False
    names = (unquote(urlsplit(url).path), (link_text or "").strip())
    return any(PurePosixPath(name.lower()).suffix in EXTENSIONS for name in names if name)


class AttachmentFailed(Exception):
    """An attachment download that produced no file: `kind` is `too-large` (recorded as a version with an
    error) or `not-fetched` (logged only, asked again next run)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class ArchiveFilesStore:
    """The FilesPipeline store that writes into the archive's `files` table (path = the file's sha256).
    `writer` (archive.writer) is set when the spider opens (its archive is known only then)."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.writer = None

    def persist_file(self, path: str, buf, info, meta: dict | None = None, headers: dict | None = None) -> None:
        self.writer.call(_save_file, buf.getvalue(), (meta or {}).get("mime") or filetext.BINARY)

    def stat_file(self, path: str, info) -> dict:
        return {}  # never "up to date" by age: conditional requests decide


def _save_file(db, body: bytes, mime: str) -> None:
    with store.transaction(db) as conn:
        store.save_file(conn, body, mime)


def _targets(db, url: str) -> list[dict]:
    """The attachments of the archived document at `url` to ask for now (store.to_fetch)."""
    row = db.execute("SELECT id FROM documents WHERE url = ?", [url]).fetchone()
    return store.to_fetch(db, row[0]) if row else []


class AttachmentsPipeline(FilesPipeline):
    """See the module docstring. Runs after ArchivePipeline (ITEM_PIPELINES)."""

    STORE_SCHEMES = {**FilesPipeline.STORE_SCHEMES, "archive": ArchiveFilesStore}
    LOG_FAILED_RESULTS = False

    @classmethod
    def from_crawler(cls, crawler):
        if not crawler.settings.getbool("ZWGK_ATTACHMENTS"):
            raise NotConfigured("ZWGK_ATTACHMENTS is off")
        return cls("archive:", crawler=crawler)

    def open_spider(self, spider=None) -> None:
        super().open_spider()
        source = self.crawler.spider.source
        # the archive pipeline's connection (its writer thread): a page it recorded in the still-open group
        # commit is visible here, and attachment versions join that group (a connection of its own would see
        # neither) (none when the archive pipeline did not open the archive, e.g. the source is locked: no files)
        self.writer = getattr(self.crawler, "zwgk_archive_writer", None)
        self.store.writer = self.writer
        settings = self.crawler.settings
        self.maxsize = settings.getint("ZWGK_ATTACHMENT_MAXSIZE")
        self.time_limit = settings.getfloat("ZWGK_ATTACHMENT_TIME_LIMIT") or None
        self.hosts = list(getattr(self.crawler.spider, "allowed_domains", None) or []) + list(source.attachment_hosts)
        self.pool = getattr(self.crawler, "zwgk_extractor_pool", None)
        self.crawler.signals.connect(self.bytes_received, signal=signals.bytes_received)
        self.pending: dict[int, list[dict]] = {}  # id(item) -> the attachments asked for it
        self.failures: dict[str, AttachmentFailed] = {}  # url -> why it gave no file (this run)

    def close_spider(self, spider=None) -> None:
        self.writer = None  # the archive pipeline's: it closes it

    # --- which files --------------------------------------------------------------------------------
    async def process_item(self, item, spider=None):
        archived = isinstance(item, ArchivedPage | PageItem | NotModifiedItem)  # ArchivePipeline hands on ArchivedPage
        if not archived or self.writer is None or getattr(self.crawler.spider, "archive_error", None):
            return item
        try:
            targets = [a for a in await self.writer.run(_targets, item.url) if wanted(a["url"], a["text"], self.hosts)]
        except sqlite3.Error as exc:
            logger.error("attachments of %s not fetched: %s", item.url, exc)
            return item
        if not targets:
            return item
        self.pending[id(item)] = targets
        try:
            return await super().process_item(item)
        finally:
            self.pending.pop(id(item), None)

    def get_media_requests(self, item, info) -> list[Request]:
        requests = []
        for att in self.pending.get(id(item), []):
            headers = {}
            if att["etag"]:
                headers["If-None-Match"] = att["etag"]
            if att["last_modified"]:
                headers["If-Modified-Since"] = att["last_modified"]
            # allow_offsite: `wanted` has checked the host (attachment_hosts are not the spider's domains)
            requests.append(Request(att["url"], callback=NO_CALLBACK, headers=headers, meta={
                META_KEY: att["id"], "download_maxsize": self.maxsize, "download_warnsize": self.maxsize,
                "conditional": bool(headers), "allow_offsite": True}))
        return requests

    def bytes_received(self, data: bytes, request: Request, spider=None) -> None:
        """Stop a download past the size limit that announced no length (chunked, or cut by closing):
        Scrapy cancels those with an anonymous CancelledError, indistinguishable from any other."""
        if META_KEY not in request.meta or not self.maxsize:
            return
        request.meta[RECEIVED_KEY] = received = request.meta.get(RECEIVED_KEY, 0) + len(data)
        if received > self.maxsize:
            raise StopDownload(fail=True)

    def file_path(self, request, response=None, info=None, *, item=None) -> str:
        return hashlib.sha256(response.body).hexdigest() if response is not None else ""

    # --- one download -------------------------------------------------------------------------------
    async def media_downloaded(self, response: Response, request: Request, info, *, item=None) -> dict[str, Any]:
        response = await self._follow_to_attachment_hosts(response, request)
        etag = (response.headers.get("ETag") or b"").decode("latin-1") or None
        modified = (response.headers.get("Last-Modified") or b"").decode("latin-1") or None
        if response.status == 304 and request.meta.get("conditional"):
            self.inc_stats("uptodate")
            return {"url": request.url, "status": "uptodate"}
        if response.status != 200:
            raise AttachmentFailed("not-fetched", f"HTTP {response.status}")
        self.inc_stats("downloaded")
        body = response.body
        try:
            if self.pool is not None:
                extracted, segmented = await self.pool.run(extract_file, body, self.time_limit)
            else:
                extracted, segmented = extract_file(body, self.time_limit)
        except WorkerCrashed as exc:
            extracted, segmented = filetext.Extracted(filetext.sniff(body), None, f"extraction crashed: {exc}",
                                                      filetext.FILETEXT_VERSION), None
        if getattr(self.crawler.spider, "archive_error", None):  # the crawl is stopping: nothing more written
            raise AttachmentFailed("not-fetched", "the archive cannot be written")
        path = self.file_path(request, response, info)
        self.store.persist_file(path, _Buffer(body), info, meta={"mime": extracted.mime})
        return {"url": request.url, "status": "downloaded", "path": path, "checksum": path,
                "fetched": store.Fetched(request.url, path, len(body), extracted, etag=etag, last_modified=modified,
                                         segmented=segmented)}

    async def _follow_to_attachment_hosts(self, response: Response, request: Request) -> Response:
        """Follow a redirect the crawl refused as off the source's hosts when it leads to one of the
        attachment hosts (a download link on the site answered from its file server), at most
        REDIRECT_MAX_TIMES hops."""
        limit = self.crawler.settings.getint("REDIRECT_MAX_TIMES")
        hops = int(request.meta.get("redirect_times", 0))
        while (response.status in REDIRECT_STATUSES and request.meta.get(REDIRECT_REASON) and hops < limit
               and response.headers.get(b"Location")):
            target = urljoin(response.url, response.headers[b"Location"].decode("latin-1").strip())
            if not _http_on_hosts(target, self.hosts):
                break
            hops += 1
            meta = {k: v for k, v in request.meta.items() if k not in (REDIRECT_REASON, "dont_redirect")}
            request = request.replace(url=target, meta={**meta, "redirect_times": hops})
            engine = self.crawler.engine
            if hasattr(engine, "download_async"):
                response = await engine.download_async(request)
            else:  # Scrapy < 2.14
                response = await maybe_deferred_to_future(engine.download(request))
        return response

    def media_failed(self, failure: Failure, request: Request, info) -> None:
        """Why a download gave no file, kept for item_completed (returned as a None result: raising here
        would make the media pipeline log a traceback for what is an ordinary, logged outcome)."""
        if failure.check(AttachmentFailed):
            error = failure.value
        elif failure.check(StopDownload) and request.meta.get(RECEIVED_KEY, 0) > self.maxsize:
            error = AttachmentFailed("too-large", f"file over the {self.maxsize}-byte limit")
        elif failure.check(IgnoreRequest) and "exceeded DOWNLOAD_MAXSIZE" in str(failure.value):
            # a gzip/deflate/br-encoded answer that inflates past the limit (HttpCompressionMiddleware)
            error = AttachmentFailed("too-large", f"file over the {self.maxsize}-byte limit")
        elif failure.check(IgnoreRequest):
            error = AttachmentFailed("not-fetched", f"not fetched: {failure.value}")
        elif failure.check(DownloadCancelledError, CancelledError) and "max size" in str(failure.value):
            error = AttachmentFailed("too-large", f"file over the {self.maxsize}-byte limit")
        else:
            error = AttachmentFailed("not-fetched", f"{type(failure.value).__name__}: {failure.value}")
        self.failures[request.url] = error

    # --- into the archive ---------------------------------------------------------------------------
    def item_completed(self, results, item, info):
        if getattr(self.crawler.spider, "archive_error", None):  # the crawl is stopping: nothing more written
            return item
        for (ok, value), att in zip(results, self.pending.get(id(item), []), strict=False):
            url = att["url"]
            if ok and value and value.get("status") == "uptodate":
                fetched = store.Fetched(url)
            elif ok and value:
                fetched = value["fetched"]
            else:
                error = value.value if isinstance(value, Failure) else self.failures.get(url, "no result")
                if getattr(error, "kind", None) != "too-large":
                    logger.warning("attachment not fetched (asked again next run): %s: %s", url, error)
                    continue
                fetched = store.Fetched(url, error=str(error))
            try:
                spider = self.crawler.spider
                outcome = self.writer.call(partial(store.record, attachment_id=att["id"], fetched=fetched,
                                                   run_id=getattr(spider, "run_id", None), source_id=spider.source.id))
            except sqlite3.Error as exc:
                logger.error("attachment %s not recorded: %s", url, exc)
                continue
            self.crawler.stats.inc_value(f"zwgk/attachments/{outcome}")
            problem = fetched.error or (fetched.extracted.error if fetched.extracted else None)
            if outcome == "new" and problem:
                logger.warning("bad attachment %s: %s", url, problem)
        return item


class _Buffer:
    """What FilesStore.persist_file expects (a BytesIO's getvalue) without copying the body."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def getvalue(self) -> bytes:
        return self._body
