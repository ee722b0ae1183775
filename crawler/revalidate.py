"""Revalidation: an unchanged recrawl's conditional requests, sent before Scrapy starts (crawler/run.py).

Scrapy costs its main thread ~3 ms per request; a recrawl of a source whose reports did not change is
mostly 304 answers, which need none of Scrapy's machinery. So before Scrapy starts, this stage asks every
known document that has validators conditionally (`If-None-Match` / `If-Modified-Since`, the ones the spider
would send, `store.validators`) over keep-alive http.client connections from a few threads, and records
each 304 with `store.record_not_modified` (one `fetches` row, as the spider's 304 makes), in group commits.
Everything else is left to the Scrapy crawl that follows — a 200, a redirect, an error answer, a challenge,
a network failure, a document without validators or with attachments to check — and an answer already
received is served to the spider's request for it (crawler.middlewares.PrefetchedMiddleware) instead of
being asked again, so every rule (guard, retries, gone, redirects, suspect, attachments, events,
notifications, the runs row) stays in one place and nothing is ever stored from this stage but 304s.

When listing paging may be incremental (`store.incremental_listing_allowed`) and the source has HTML
listings, the start listing pages are read here too (with `crawler.listings.read_listing`, as the spider
reads them): when each holds nothing new and every document answered 304, the run ends here, and Scrapy is
not even imported. Politeness is Scrapy's (crawler/politehttp.py), read from the same settings
(crawler/settings.py and the source's `settings`): USER_AGENT and DEFAULT_REQUEST_HEADERS, robots.txt when
ROBOTSTXT_OBEY (parsed by Protego, as Scrapy's default parser, and its answer handed to Scrapy's robots.txt
middleware), at most CONCURRENT_REQUESTS_PER_DOMAIN requests at once per host (and MAX_THREADS), request
starts spaced by DOWNLOAD_DELAY with its jitter — with AutoThrottle, starting at AUTOTHROTTLE_START_DELAY
and adjusted from latencies as Scrapy's AutoThrottle does — DOWNLOAD_TIMEOUT and DOWNLOAD_MAXSIZE.
"""
from __future__ import annotations

import http.client
import json
import logging
import os
import queue
import sqlite3
import sys
import threading
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from archive import store
from archive.db import connect_current, now
from archive.groupcommit import GroupCommit
from crawler import guard, listings
from crawler.politehttp import Answer, CrawlSettings, Fetcher, Halted, JudgedAnswer, TooLarge
from crawler.sources import Source

logger = logging.getLogger(__name__)

MAX_THREADS = 4  # a few connections are enough to keep a server busy; more only contend for the GIL
# A 304 writes a few small rows: they are committed in larger groups than pages are (fewer WAL frames; the
# write lock is still released at least every COMMIT_SECONDS), and a crawl killed before a commit only asks
# those documents again next run.
COMMIT_PAGES = 1000
COMMIT_SECONDS = 1.0
WAIT_SLICE = 0.25  # while an answer is awaited: how often the group's commit, a stop and the time limit are checked
# 304s are written in batches (store.record_not_modified_many): at RECORD_BATCH received, or as soon as
# RECORD_EARLY are waiting and the next answer has not arrived yet, or after WAIT_SLICE without an answer.
RECORD_BATCH = 500
RECORD_EARLY = 50
# While the threads wait on sockets and the main thread writes SQLite, a GIL handed over every 5 ms (Python's
# default) makes each side wait for the other; a shorter interval keeps both busy.
SWITCH_INTERVAL = 0.0005
# Failed, refused or challenged answers after which the stage sends nothing more (Scrapy's retries and
# challenge rules take over): a struggling or blocking server is not sent a whole source's requests.
TROUBLE_LIMIT = 3


# --- what this stage hands to Scrapy ----------------------------------------------------------------------

def prefetch_key(url: str, etag: str | None, modified: str | None) -> tuple[str, str | None, str | None]:
    """The key of an answer: the URL and the conditional headers it was asked with."""
    return url, etag or None, modified or None


@dataclass
class Revalidated:
    """What the stage did: the run it wrote into, the URLs it settled (not to be asked again), the answers
    it received but left to Scrapy (by prefetch_key), the answers it consumed (counted in
    runs.pages_fetched), and — when the run ended here — its final status."""

    run_id: int
    settled: set[str] = field(default_factory=set)
    prefetched: dict[tuple, Answer] = field(default_factory=dict)
    responses: int = 0
    status: str | None = None


class Fallback(Exception):
    """Scrapy must do the whole crawl (e.g. robots.txt could not be read): nothing is settled here."""


class Stopped(Exception):
    """The stage was told to stop (signal, time limit): the run ends here with this status and message."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


# --- HTTP, politely ---------------------------------------------------------------------------------------

class _Writes:
    """The stage's archive writes: the 304s received and not yet written (`pending`), written in batches as
    savepoints of a group commit that is committed every `commit_pages` answers or `commit_seconds`."""

    def __init__(self, db, commit_pages: int, commit_seconds: float) -> None:
        self.db = db
        self.group = GroupCommit(db, commit_pages, commit_seconds)
        self.commit_pages = commit_pages
        self.pending: list[tuple[str, str | None, str | None, str]] = []
        self.uncommitted = 0


@dataclass
class _Raised:
    """What a thread's request raised that is no answer nor network failure (a bug)."""

    error: BaseException


class _Answers:
    """The stage's requests, sent by `threads` threads in the order asked (each takes the next one when it
    is done with its last), their answers handed back in that order. Plain queues, not a future per request:
    an unchanged recrawl is thousands of requests of a fraction of a millisecond each."""

    def __init__(self, stage: Stage, asks: list[tuple[str, str | None, str | None]], threads: int) -> None:
        self.stage = stage
        self.todo: queue.SimpleQueue = queue.SimpleQueue()
        for item in enumerate(asks):
            self.todo.put(item)
        self.done: queue.SimpleQueue = queue.SimpleQueue()
        self.ready: dict[int, Answer | Exception] = {}
        self.threads = [threading.Thread(target=self._work, name=f"revalidate_{n}", daemon=True)
                        for n in range(min(threads, len(asks)))]
        for thread in self.threads:
            thread.start()

    def _work(self) -> None:
        while not self.stage.stop.is_set():
            try:
                index, ask = self.todo.get_nowait()
            except queue.Empty:
                return
            try:
                self.done.put((index, self.stage._ask(ask)))
            except BaseException as e:  # a bug, not an answer: raised in the stage's thread when its turn
                self.done.put((index, _Raised(e)))  # comes, as a future's result would be

    def get(self, index: int, writes: _Writes) -> Answer | Exception:
        """The answer to the `index`-th request. While it is awaited, the 304s received are written (the
        network wait covers them), the open group is committed when due (the write lock is never held for as
        long as a slow server takes) and a stop or the time limit is noticed."""
        while index not in self.ready:
            try:
                got, answer = self.done.get_nowait()
            except queue.Empty:
                if len(writes.pending) >= RECORD_EARLY:
                    self.stage._record(writes)
                    continue
                try:
                    got, answer = self.done.get(timeout=WAIT_SLICE)
                except queue.Empty:
                    self.stage._record(writes)
                    writes.group.commit_if_due()
                    self.stage._check_stop()
                    continue
            self.ready[got] = answer
        answer = self.ready.pop(index)
        if isinstance(answer, _Raised):
            raise answer.error
        return answer

    def close(self) -> None:
        """Wait for the threads (after a stop, each ends after its request in flight)."""
        for thread in self.threads:
            thread.join()


# --- the stage --------------------------------------------------------------------------------------------

def attachment_documents(db, source_id: str) -> set[str]:
    """URLs of the source's documents whose latest revision links attachments: their 304 goes to Scrapy,
    whose attachments pipeline checks the files of every page it archives, a 304 included."""
    rows = db.execute(f"SELECT d.url FROM documents d WHERE d.id IN {store._SOURCE_DOCUMENTS} AND EXISTS "
                      "(SELECT 1 FROM attachment_links l WHERE l.revision_id = d.latest_revision_id)",
                      {"source": source_id}).fetchall()
    return {r[0] for r in rows}


def robots_parser(answer: Answer):
    """A Protego parser of a robots.txt answer, read as Scrapy's ProtegoRobotParser reads it (a body that
    is not UTF-8 is an empty file: everything allowed)."""
    from protego import Protego

    try:
        text = answer.content().decode("utf-8")
    except (UnicodeDecodeError, zlib.error):
        text = ""
    return Protego.parse(text)


class Stage:
    """One source's revalidation (see the module docstring); `run()` returns what it did."""

    def __init__(self, source: Source, settings: CrawlSettings, db_path: str | None, run_id: int | None,
                 stop: threading.Event | None = None, deadline: float | None = None,
                 progress_file: str | None = None) -> None:
        self.source, self.settings, self.db_path, self.run_id = source, settings, db_path, run_id
        self.stop = stop or threading.Event()
        self.deadline = deadline
        self.progress_file = progress_file
        self.fetcher = Fetcher(settings, self.stop)
        self.robots: dict[str, Any] = {}  # "scheme://netloc" -> Protego parser
        self.user_agent = str(settings.get("ROBOTSTXT_USER_AGENT") or settings.get("USER_AGENT") or "Scrapy")
        self.started = time.monotonic()
        self.last_progress = 0.0
        self.unchanged = self.errors = 0
        self.troubles = 0  # failed, refused or challenged answers (see _note_trouble)
        self.halt = threading.Event()
        self.trouble_lock = threading.Lock()

    def run(self) -> Revalidated | None:
        """Revalidate; None when there is nothing to revalidate (no document with validators: Scrapy does
        the whole crawl, as on a first run). Raises sqlite3.Error when the archive cannot be written."""
        db = connect_current(self.db_path)
        try:
            checks = store.validators(db, self.source.id)
            if not checks:
                return None
            known = store.known_urls(db, self.source.id)
            known_set = set(known) | {r[0] for r in db.execute("SELECT url FROM documents WHERE source_id = ?",
                                                               [self.source.id])}
            incremental = self.source.listing == "html" and store.incremental_listing_allowed(
                db, self.source.id, self.settings.getfloat("ZWGK_FULL_LISTING_DAYS", 7))
            attached = attachment_documents(db, self.source.id) if self.settings.getbool("ZWGK_ATTACHMENTS") \
                else set()
            if self.run_id is None:  # a crawl on its own: the run is registered here, as ArchivePipeline does
                store.upsert_source(db, self.source.as_row())
                self.run_id = store.start_run(db, self.source.id, os.getpid())
            result = Revalidated(self.run_id)
            try:
                self._revalidate(db, result, known, known_set, checks, attached, incremental)
            except Fallback as e:
                logger.info("revalidation skipped (%s): Scrapy crawls everything", e)
            except Stopped as stop:
                result.status = self._finish(db, result, status=stop.status, message=stop.message)
            if result.status is None:  # Scrapy goes on: its first request keeps DOWNLOAD_DELAY after ours
                self.fetcher.wait_out(self.stop)
            return result
        finally:
            self.fetcher.close()
            db.close()

    def _revalidate(self, db, result: Revalidated, known: list[str], known_set: set[str],
                    checks: dict[str, tuple[str | None, str | None]], attached: set[str], incremental: bool) -> None:
        starts = list(self.source.start_urls) if incremental else []
        documents = [url for url in known if url in checks]
        handed_over = len(documents) < len(known)  # documents without validators: Scrapy asks them
        if self.settings.getbool("ROBOTSTXT_OBEY"):
            self._read_robots({_origin(u) for u in starts + documents}, result)
        asks: list[tuple[str, str | None, str | None]] = []
        for url in starts:
            if self._allowed(url):
                asks.append((url, None, None))
            else:  # Scrapy logs it "not fetched"; the listing was not read whole
                handed_over = True
        for url in documents:
            if self._allowed(url):
                asks.append((url, *checks[url]))
            else:
                logger.info("not fetched: %s (Forbidden by robots.txt)", url)
                result.settled.add(url)
        threads = max(1, min(MAX_THREADS, self.settings.getint("CONCURRENT_REQUESTS", 16),
                             self.settings.getint("CONCURRENT_REQUESTS_PER_DOMAIN", 8)))
        writes = _Writes(db, max(COMMIT_PAGES, self.settings.getint("ZWGK_COMMIT_PAGES", 50)),
                         max(COMMIT_SECONDS, self.settings.getfloat("ZWGK_COMMIT_SECONDS", 0.2)))
        unread_pages = False
        consumed_listings = 0
        switch = sys.getswitchinterval()
        sys.setswitchinterval(SWITCH_INTERVAL)
        answers = _Answers(self, asks, threads)
        try:
            for index, (url, etag, modified) in enumerate(asks):
                answer = answers.get(index, writes)
                self._check_stop()
                if isinstance(answer, Exception):  # network failure: Scrapy asks again (and retries)
                    logger.debug("revalidation of %s failed (%s): left to Scrapy", url, answer)
                    handed_over = True  # a start page too: Scrapy asks it again, and its failure rules
                    continue  # (full_listing cleared) apply only if it fails there as well
                if url in starts and not (etag or modified):
                    result.prefetched[prefetch_key(url, None, None)] = answer
                    state = self._listing_state(answer, known_set)
                    if state is None:
                        handed_over = True
                    else:
                        consumed_listings += 1
                        unread_pages = unread_pages or state
                    continue
                if answer.status == 304 and url not in attached:
                    writes.pending.append((url, _header(answer, "etag") or etag,
                                           _header(answer, "last-modified") or modified, now()))
                    result.settled.add(url)
                    result.responses += 1
                    if len(writes.pending) >= RECORD_BATCH:
                        self._record(writes)
                else:
                    result.prefetched[prefetch_key(url, etag, modified)] = answer
                    handed_over = True
                self._progress(result, len(asks))
            self._record(writes)
        except BaseException as e:
            self.stop.set()  # the threads send nothing more
            if not isinstance(e, sqlite3.Error):  # the 304s received before a stop are kept, as ever
                self._record(writes)
            raise
        finally:
            try:
                writes.group.commit()
            finally:
                answers.close()
                sys.setswitchinterval(switch)
        if not starts or handed_over:
            logger.info("revalidated %d of %d documents (304); Scrapy crawls the rest", self.unchanged, len(known))
            return
        # every start page read and holding nothing new, every document answered 304: the run ends here
        result.responses += consumed_listings + len(self.robots)
        result.status = self._finish(db, result, full_listing=not unread_pages)

    def _record(self, writes: _Writes) -> None:
        """Write the 304s received so far (one savepoint of the open group); commit the group when due."""
        if not writes.pending:
            return
        batch, writes.pending = writes.pending, []
        with writes.group.page():
            outcomes = store.record_not_modified_many(writes.db, self.run_id, batch)
        for (url, *_), outcome in zip(batch, outcomes, strict=True):
            if outcome == "unchanged":
                self.unchanged += 1
            else:
                self.errors += 1
                logger.warning("error: %s (304 Not Modified without a confirmed revision)", url)
        writes.uncommitted += len(batch)
        if writes.uncommitted >= writes.commit_pages:
            writes.group.commit()
        writes.group.commit_if_due()
        if not writes.group.open:
            writes.uncommitted = 0

    def _note_trouble(self, answer: Answer | Exception) -> None:
        """A network failure, a server error, a rate limit or a challenge page: after TROUBLE_LIMIT of them,
        or at once after a challenge page (a normal crawl slows to ZWGK_BLOCKED_DELAY after the first and
        stops after ZWGK_BLOCKED_LIMIT), no more requests are sent here — Scrapy, with its retry back-off
        and its challenge rules, asks the rest. Called by the thread that received the answer, before it
        sends another request."""
        if isinstance(answer, InterruptedError | Halted) or isinstance(answer, Answer) and answer.status == 304:
            return
        blocked = False
        if isinstance(answer, Answer) and answer.status < 500 and answer.status != 429:
            try:
                if guard.judge(JudgedAnswer(answer)).kind != "blocked":
                    return
                blocked = True
            except (zlib.error, ValueError):
                pass
        with self.trouble_lock:
            self.troubles += 1
            halt = blocked or self.troubles >= TROUBLE_LIMIT
        if halt and not self.halt.is_set():
            self.halt.set()
            logger.info("revalidation of %s halted after %d failed or refused answers: Scrapy asks the rest",
                        self.source.id, self.troubles)

    def _ask(self, ask: tuple[str, str | None, str | None]) -> Answer | Exception:
        if self.stop.is_set():
            return InterruptedError("stopped")
        if self.halt.is_set():
            return Halted("halted")
        try:
            answer: Answer | Exception = self.fetcher.get(*ask)
        except (OSError, http.client.HTTPException, TooLarge, ValueError) as e:
            answer = e
        self._note_trouble(answer)
        return answer

    def _read_robots(self, origins: set[str], result: Revalidated) -> None:
        for origin in sorted(origins):
            answer = self._ask((origin + "/robots.txt", None, None))
            if isinstance(answer, Answer) and 300 <= answer.status < 400:  # served to Scrapy, which follows it
                result.prefetched[prefetch_key(origin + "/robots.txt", None, None)] = answer
            if isinstance(answer, Exception) or answer.status >= 500 or 300 <= answer.status < 400:
                # Scrapy would retry it, or allow everything after a failure, or follow a redirect to the
                # rules that apply (a 3xx body is not robots.txt): its call, not ours
                raise Fallback(f"robots.txt of {origin}: "
                               f"{answer if isinstance(answer, Exception) else f'HTTP {answer.status}'}")
            self.robots[origin] = robots_parser(answer)
            result.prefetched[prefetch_key(origin + "/robots.txt", None, None)] = answer

    def _allowed(self, url: str) -> bool:
        parser = self.robots.get(_origin(url))
        return parser is None or parser.can_fetch(url, self.user_agent)

    def _listing_state(self, answer: Answer, known: set[str]) -> bool | None:
        """For a start listing page read here: None when it holds something new or is not a good page (the
        spider reads it, served this answer); else whether pages after it were left unread."""
        if answer.status != 200:
            return None
        try:
            verdict = guard.judge(JudgedAnswer(answer))
        except (zlib.error, ValueError):
            return None
        if verdict.kind != "ok":
            return None
        src = self.source
        page = listings.read_listing(verdict.text, answer.url, src.article_urls, src.title_filter, src.listing_urls)
        hosts = sorted({urlsplit(u).hostname or "" for u in src.start_urls})
        reports = [link.url for link in page.reports if listings.on_hosts(link.url, hosts)]
        if not listings.listing_is_known(reports, known):
            return None
        return any(url not in src.start_urls for url in page.pages)

    def _check_stop(self) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            self.stop.set()
            limit = self.settings.getfloat("CLOSESPIDER_TIMEOUT")
            raise Stopped("failed", f"stopped at the time limit of {limit:g}s")
        if self.stop.is_set():
            parent = self.settings.get("ZWGK_PARENT_PID")
            if parent is not None and os.getppid() != int(parent):
                raise Stopped("abandoned", f"its scheduler (pid {parent}) died; the crawl stopped itself")
            raise Stopped("interrupted", "crawl stopped: shutdown")

    def _progress(self, result: Revalidated, total: int) -> None:
        """The progress file the scheduler shows (ZWGK_PROGRESS_FILE), every second, as ArchivePipeline's."""
        if not self.progress_file or time.monotonic() - self.last_progress < 1.0:
            return
        self.last_progress = time.monotonic()
        elapsed = max(self.last_progress - self.started, 1e-6)
        snapshot = {"run_id": self.run_id, "source_id": self.source.id, "pages_fetched": result.responses,
                    "queued": max(0, total - result.responses), "new_documents": 0, "new_revisions": 0,
                    "unchanged": self.unchanged, "gone": 0, "errors": self.errors, "blocked": 0, "changed": 0,
                    "rate": round(result.responses / elapsed, 2), "elapsed": round(elapsed, 1)}
        tmp = Path(f"{self.progress_file}.tmp")
        try:
            tmp.write_text(json.dumps(snapshot), encoding="utf-8")
            tmp.replace(self.progress_file)
        except OSError:
            pass

    def _finish(self, db, result: Revalidated, status: str | None = None, message: str | None = None,
                full_listing: bool = False) -> str:
        """Close the run as ArchivePipeline.finish_run does (counts from its fetches), notify, refresh the
        planner statistics; the final status."""
        from archive import notify, search

        row = store.finish_run(db, self.run_id, status=status, message=message, pages_fetched=result.responses,
                               pages_extracted=0, full_listing=full_listing)
        logger.info("run %s of source %s finished without Scrapy: %s", self.run_id, self.source.id,
                    {k: row[k] for k in ("status", "pages_fetched", "new_documents", "new_revisions", "unchanged",
                                         "gone", "errors", "blocked") if k in row})
        notify.after_run(db, self.run_id, self.source)
        try:
            search.refresh_planner_stats(db)
        except Exception as e:  # noqa: BLE001 — statistics only, as ArchivePipeline
            logger.warning("could not refresh the archive's planner statistics: %s", e)
        return row["status"]


def _origin(url: str) -> str:
    """`scheme://netloc` of an absolute URL (the key of its robots.txt)."""
    scheme, _, rest = url.partition("://")
    return f"{scheme.lower()}://{rest.split('/', 1)[0].split('?', 1)[0]}"


def _header(answer: Answer, name: str) -> str | None:
    return next((v for k, v in answer.headers if k.lower() == name), None)


def revalidate(source: Source, settings: CrawlSettings, db_path: str | None, run_id: int | None,
               stop: threading.Event | None = None, deadline: float | None = None) -> Revalidated | None:
    """Run the stage for one source (see the module docstring); None when Scrapy should do everything."""
    stage = Stage(source, settings, db_path, run_id, stop, deadline, settings.get("ZWGK_PROGRESS_FILE"))
    return stage.run()

