"""Plain HTTP with Scrapy's politeness, without Scrapy: the crawl's settings resolved as Scrapy resolves them,
GETs over keep-alive http.client connections paced per host as Scrapy's download slots and AutoThrottle pace
them, and answers that crawler.guard can judge. Used by the revalidation stage (crawler/revalidate.py)."""
from __future__ import annotations

import http.client
import importlib
import os
import random
import threading
import time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

ACCEPT_ENCODING = "gzip, deflate"  # what Answer.content decodes (Scrapy decodes it again when served)


# --- settings: Scrapy's, resolved as Scrapy resolves them, without importing Scrapy ----------------------

class CrawlSettings(dict):
    """The crawl's settings by name, with Scrapy's typed getters."""

    def getbool(self, name: str, default: bool = False) -> bool:
        value = self.get(name, default)
        if isinstance(value, str):
            return value.strip().lower() in ("1", "true")
        return bool(value)

    def getfloat(self, name: str, default: float = 0.0) -> float:
        value = self.get(name)
        return float(default if value is None else value)

    def getint(self, name: str, default: int = 0) -> int:
        return int(self.getfloat(name, default))


def crawl_settings(source_settings: dict[str, Any], overrides: dict[str, Any]) -> CrawlSettings:
    """The project's settings module (crawler/settings.py, or $SCRAPY_SETTINGS_MODULE) with the source's
    `settings` over it and the command line's `overrides` over both — Scrapy's priorities (project < spider
    < cmdline). Names the module does not set are absent (Scrapy's defaults are not loaded here)."""
    module = importlib.import_module(os.environ.get("SCRAPY_SETTINGS_MODULE") or "crawler.settings")
    values = CrawlSettings({k: getattr(module, k) for k in dir(module) if k.isupper()})
    values.update(source_settings)
    values.update(overrides)
    return values


# --- answers -------------------------------------------------------------------------------------------

@dataclass
class Answer:
    """One HTTP answer as received: status, headers in order, body still content-encoded."""

    url: str
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header_map(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for name, value in self.headers:
            out.setdefault(name, []).append(value)
        return out

    def content(self) -> bytes:
        """The body with its Content-Encoding (gzip, deflate) undone."""
        encoding = next((v.strip().lower() for k, v in self.headers if k.lower() == "content-encoding"), "")
        if encoding in ("gzip", "x-gzip"):
            return zlib.decompress(self.body, 16 + zlib.MAX_WBITS)
        if encoding == "deflate":
            try:
                return zlib.decompress(self.body)
            except zlib.error:
                return zlib.decompress(self.body, -zlib.MAX_WBITS)
        return self.body


class _Headers:
    """The part of Scrapy's Headers that crawler.guard reads."""

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        self.pairs = [(k.lower().encode("latin-1"), v.encode("latin-1", "replace")) for k, v in pairs]

    def getlist(self, name: bytes) -> list[bytes]:
        return [v for k, v in self.pairs if k == name.lower()]

    def get(self, name: bytes, default: bytes | None = None) -> bytes | None:
        values = self.getlist(name)
        return values[-1] if values else default


class JudgedAnswer:
    """An answer as crawler.guard.judge reads a Scrapy response (status, url, decoded body, headers)."""

    def __init__(self, answer: Answer) -> None:
        self.url, self.status = answer.url, answer.status
        self.body = answer.content()
        self.headers = _Headers((k, v) for k, v in answer.headers if k.lower() != "content-encoding")

    def urljoin(self, url: str) -> str:
        return urljoin(self.url, url)


# --- HTTP, politely ---------------------------------------------------------------------------------------

class Halted(Exception):
    """Not asked: the stage stopped sending after too many failed or refused answers."""


class TooLarge(Exception):
    """An answer over DOWNLOAD_MAXSIZE: not kept (Scrapy asks it itself and refuses it as it does)."""


class Pacer:
    """One host's download slot, as Scrapy's: request starts at least `delay` apart (± `jitter` of it), at
    most `concurrency` requests at once; with AutoThrottle the delay follows latencies (Scrapy's rule: the
    mean of the old delay and latency / target concurrency, never below DOWNLOAD_DELAY nor above the maximum,
    and lowered only by a 200)."""

    def __init__(self, settings: CrawlSettings) -> None:
        self.min_delay = settings.getfloat("DOWNLOAD_DELAY")
        self.autothrottle = settings.getbool("AUTOTHROTTLE_ENABLED")
        self.delay = max(self.min_delay, settings.getfloat("AUTOTHROTTLE_START_DELAY")) if self.autothrottle \
            else self.min_delay
        self.max_delay = settings.getfloat("AUTOTHROTTLE_MAX_DELAY", 60.0)
        self.target = max(settings.getfloat("AUTOTHROTTLE_TARGET_CONCURRENCY", 1.0), 1e-6)
        if "RANDOMIZE_DOWNLOAD_DELAY" in settings:  # the deprecated switch, when a source sets it
            self.jitter = 0.5 if settings.getbool("RANDOMIZE_DOWNLOAD_DELAY") else 0.0
        else:
            self.jitter = settings.getfloat("DOWNLOAD_DELAY_JITTER", 0.5)
        self.slots = threading.BoundedSemaphore(max(1, settings.getint("CONCURRENT_REQUESTS_PER_DOMAIN", 8)))
        self.lock = threading.Lock()
        self.next_start = 0.0
        self.started = 0  # requests started (for tests and logs)

    def wait(self) -> None:
        """Block until this host may be sent the next request (the caller holds one of its slots)."""
        with self.lock:
            self.started += 1
            if self.delay <= 0:
                return
            at = max(time.monotonic(), self.next_start)
            spread = random.uniform(1 - self.jitter, 1 + self.jitter) if self.jitter else 1.0
            self.next_start = at + self.delay * spread
        pause = at - time.monotonic()
        if pause > 0:
            time.sleep(pause)

    def observe(self, latency: float, status: int) -> None:
        if not self.autothrottle:
            return
        with self.lock:
            target = latency / self.target
            new = min(max(self.min_delay, max(target, (self.delay + target) / 2)), self.max_delay)
            if status == 200 or new > self.delay:
                self.delay = new


class Fetcher:
    """GETs over keep-alive connections (one per thread and host), paced per host by a Pacer."""

    def __init__(self, settings: CrawlSettings, stop: threading.Event | None = None) -> None:
        self.settings = settings
        self.stop = stop  # set: a request whose turn comes is not sent (raises InterruptedError)
        self.timeout = settings.getfloat("DOWNLOAD_TIMEOUT", 180.0)
        self.maxsize = settings.getint("DOWNLOAD_MAXSIZE", 1024 * 1024 * 1024) or 1024 * 1024 * 1024
        self.headers = {str(k): str(v) for k, v in (settings.get("DEFAULT_REQUEST_HEADERS") or {}).items()}
        self.headers.update({"User-Agent": str(settings.get("USER_AGENT") or "Scrapy"),
                             "Accept-Encoding": ACCEPT_ENCODING})
        self.pacers: dict[str, Pacer] = {}
        self.lock = threading.Lock()
        self.local = threading.local()
        self.tls = None  # made for the first https URL

    def pacer(self, host: str) -> Pacer:
        with self.lock:
            if host not in self.pacers:
                self.pacers[host] = Pacer(self.settings)
            return self.pacers[host]

    def _connection(self, scheme: str, netloc: str) -> http.client.HTTPConnection:
        pool = self.local.__dict__.setdefault("connections", {})
        conn = pool.get((scheme, netloc))
        if conn is None:
            if scheme == "https":
                if self.tls is None:
                    import ssl

                    self.tls = ssl._create_unverified_context()  # as Scrapy's default context factory: unverified
                conn = http.client.HTTPSConnection(netloc, timeout=self.timeout, context=self.tls)
            else:
                conn = http.client.HTTPConnection(netloc, timeout=self.timeout)
            pool[(scheme, netloc)] = conn
        return conn

    def _drop(self, scheme: str, netloc: str) -> None:
        conn = self.local.__dict__.get("connections", {}).pop((scheme, netloc), None)
        if conn is not None:
            conn.close()

    def get(self, url: str, etag: str | None = None, modified: str | None = None) -> Answer:
        """GET `url` (conditionally when validators are given); OSError, HTTPException or TooLarge."""
        parts = urlsplit(url)
        scheme, netloc = parts.scheme, parts.netloc
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        headers = dict(self.headers)
        if etag:
            headers["If-None-Match"] = etag
        if modified:
            headers["If-Modified-Since"] = modified
        pacer = self.pacer(parts.hostname or netloc)
        with pacer.slots:
            pacer.wait()
            if self.stop is not None and self.stop.is_set():  # stopped while it waited for its turn
                raise InterruptedError("stopped")
            started = time.monotonic()
            for attempt in (1, 2):
                conn = self._connection(scheme, netloc)
                reused = conn.sock is not None
                try:
                    conn.request("GET", target, headers=headers)
                    response = conn.getresponse()
                    break
                except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                    self._drop(scheme, netloc)
                    if attempt == 2 or not reused:  # a kept-alive connection the server had closed: once more
                        raise
                except (OSError, http.client.HTTPException):
                    self._drop(scheme, netloc)
                    raise
            try:
                length = response.getheader("Content-Length")
                if length and length.strip().isdigit() and int(length) > self.maxsize:
                    raise TooLarge(f"{length} bytes")
                body = self._read_body(conn, response, started + self.timeout)
            except BaseException:
                self._drop(scheme, netloc)
                raise
            if response.will_close:
                self._drop(scheme, netloc)
            pacer.observe(time.monotonic() - started, response.status)
        return Answer(url, response.status, response.getheaders(), body)

    def _read_body(self, conn: http.client.HTTPConnection, response: http.client.HTTPResponse,
                   deadline: float) -> bytes:
        """The body, read by pieces within DOWNLOAD_TIMEOUT of the request's start: as Scrapy's, the timeout
        bounds the whole download, not each read (a body trickling in forever is a timeout)."""
        if response.length == 0 and deadline > time.monotonic():  # a 304 (or Content-Length: 0) in time:
            response.close()  # nothing to read, the connection is ready for the next request
            return b""
        body = bytearray()
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"download took longer than {self.timeout:g}s (DOWNLOAD_TIMEOUT)")
            if conn.sock is not None:
                conn.sock.settimeout(remaining)
            piece = response.read1(65536)
            if not piece:  # the whole body: close the response (read1 leaves it open at Content-Length), so
                response.close()  # the kept-alive connection may send the next request
                break
            body += piece
            if len(body) > self.maxsize:
                raise TooLarge(f"over {self.maxsize} bytes")
        if conn.sock is not None:
            conn.sock.settimeout(self.timeout)
        return bytes(body)

    def wait_out(self, stop: threading.Event) -> None:
        """Wait until every host may be sent its next request (or `stop`): Scrapy's download slots start
        empty and send their first request at once, so a hand-over must not shorten DOWNLOAD_DELAY."""
        while not stop.is_set():
            pause = max((p.next_start for p in self.pacers.values()), default=0.0) - time.monotonic()
            if pause <= 0:
                return
            time.sleep(min(pause, 0.1))

    def close(self) -> None:
        for conn in self.local.__dict__.get("connections", {}).values():
            conn.close()
