"""A small threaded HTTP server per replica site, with a route hook for fault injection.

Each site runs its own ThreadingHTTPServer on 127.0.0.1 (ephemeral port), so every site has its own
root, robots.txt and 404 page. Subclasses render pages from Python string templates per request.
"""
from __future__ import annotations

import html
import itertools
import re
import threading
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, ClassVar
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo

from .corpus import Article, live_articles

if TYPE_CHECKING:
    from .farm import ReplicaFarm

SHANGHAI = ZoneInfo("Asia/Shanghai")
WEEKDAYS = "一二三四五六日"
ROBOTS = "User-agent: *\nDisallow: /private/\nAllow: /\n"
NOT_FOUND = """<!DOCTYPE html>
<html><head><meta charset="{charset}"><title>404 页面不存在</title></head>
<body><div class="error-page"><h1>404</h1><p>抱歉,您访问的页面不存在或已被删除!</p>
<p><a href="/">返回首页</a></p></div></body></html>"""

PRIVATE = """<!DOCTYPE html>
<html><head><meta charset="{charset}"><title>内部资料</title></head>
<body><h1>内部资料</h1><p>本栏目仅供内部使用(robots.txt 禁止抓取)。</p></body></html>"""


@dataclass
class Request:
    """One incoming request as route handlers see it."""

    site: str
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]


@dataclass
class Response:
    """What a route returns; `body` str is encoded with the site's charset."""

    status: int
    body: bytes | str
    content_type: str = "text/html"
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Request], Response]


@dataclass(frozen=True)
class Chrome:
    """Per-request volatile page furniture: view counter, today's date, a cache-busting nonce."""

    count: int
    today: str  # 今天是2026年11月22日 星期日
    now: str  # 2026-11-22 15:33:12
    nonce: str


class ReplicaSite:
    """Base class: HTTP plumbing, robots.txt, 404, attachments, route hook. Subclasses add pages."""

    key = "base"
    name = "站点"
    district = ""
    charset = "utf-8"
    title_filter = "法治政府建设|法治建设"
    start_path = "/"
    article_urls: tuple[str, ...] = ()
    listing_urls: tuple[str, ...] = ()
    extra_source: ClassVar[dict[str, str]] = {}

    def __init__(self, farm: ReplicaFarm) -> None:
        self.farm = farm
        self.routes: dict[str, Handler] = {}
        self._counter = itertools.count(1000 + zlib.crc32(self.key.encode()) % 5000)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError(f"replica site {self.key!r} is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> None:
        site = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                site._serve(self, head=False)

            def do_HEAD(self) -> None:
                site._serve(self, head=True)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name=f"replica-{self.key}",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # ------------------------------------------------------------------ routing
    def add_route(self, path: str, handler: Handler) -> None:
        """Serve `path` (exact, no query) with `handler(request) -> Response`, ahead of the site's pages."""
        self.routes[path] = handler

    def handle(self, request: Request) -> Response:
        """Dispatch: added routes, robots.txt, attachments, the site's pages, else a Chinese 404."""
        if request.path in self.routes:
            return self.routes[request.path](request)
        if request.path == "/robots.txt":
            return Response(200, ROBOTS, "text/plain")
        if request.path.startswith("/private/"):  # disallowed by robots.txt: a polite crawler never asks
            return Response(200, PRIVATE.format(charset=self.charset))
        state = self.farm.state
        attachment = self._attachment(request.path, state)
        if attachment is not None:
            return attachment
        response = self.page(request, state)
        return response if response is not None else self.not_found()

    def not_found(self) -> Response:
        return Response(404, NOT_FOUND.format(charset=self.charset))

    column = "/"  # the disclosure column's folder, for sites with paginated index pages

    def page(self, request: Request, state: int) -> Response | None:
        """The site's own pages (home, column index pages, articles); None means 404."""
        path = request.path
        if path in ("/", "/index.html"):
            return self.home(state)
        match = re.fullmatch(re.escape(self.column) + r"index(?:_(\d+))?\.html", path)
        if match:
            return self.listing(int(match.group(1) or 0), state)
        article = self.find(path, state)
        if article is not None:
            return Response(200, self.article_html(article, state), f"text/html; charset={self.charset}")
        return None

    def home(self, state: int) -> Response:
        """The site's home page. Overridden by sites that use the default `page`."""
        raise NotImplementedError

    def listing(self, index: int, state: int) -> Response | None:
        """Page `index` (0 = index.html) of the column. Overridden by sites that use the default `page`."""
        raise NotImplementedError

    def article_html(self, article: Article, state: int) -> str:
        """The article page as served in `state`. Overridden by each site."""
        raise NotImplementedError

    def source_entry(self) -> dict:
        """This site's entry for sources.yaml."""
        entry: dict = {"id": f"replica-{self.key}", "name": self.name, "district": self.district}
        entry.update(self.extra_source)
        entry["start_urls"] = [self.url(self.start_path)]
        if self.article_urls:
            entry["article_urls"] = list(self.article_urls)
        if self.listing_urls:
            entry["listing_urls"] = list(self.listing_urls)
        entry["title_filter"] = self.title_filter
        return entry

    # ------------------------------------------------------------------ helpers
    def live(self, state: int) -> list[Article]:
        return live_articles(self.key, state)

    def find(self, path: str, state: int) -> Article | None:
        return next((a for a in self.live(state) if a.path == path), None)

    def chrome(self) -> Chrome:
        now = datetime.now(SHANGHAI)
        today = f"今天是{now.year}年{now.month}月{now.day}日 星期{WEEKDAYS[now.weekday()]}"
        return Chrome(next(self._counter), today, now.strftime("%Y-%m-%d %H:%M:%S"), uuid.uuid4().hex[:12])

    def url(self, path: str) -> str:
        return self.base_url + path

    def _attachment(self, path: str, state: int) -> Response | None:
        for article in self.live(state):
            for name, att_path in article.attachments:
                if att_path == path:
                    if path.endswith(".pdf"):
                        body = f"%PDF-1.4\n% replica attachment: {name}\n%%EOF\n".encode()
                        return Response(200, body, "application/pdf")
                    body = b"PK\x03\x04replica attachment " + name.encode()
                    return Response(200, body, "application/vnd.openxmlformats-officedocument"
                                               ".wordprocessingml.document")
        return None

    def _serve(self, http: BaseHTTPRequestHandler, head: bool) -> None:
        parts = urlsplit(http.path)
        request = Request(self.key, "HEAD" if head else "GET", parts.path or "/",
                          dict(parse_qsl(parts.query)), dict(http.headers.items()))
        try:
            response = self.handle(request)
        except Exception as exc:  # noqa: BLE001 -- a bug in a template must show as a 500, not a hung client
            response = Response(500, f"replica error: {exc!r}", "text/plain")
        body = response.body.encode(self.charset, errors="xmlcharrefreplace") \
            if isinstance(response.body, str) else response.body
        content_type = response.content_type
        if content_type.startswith(("text/", "application/json")) and "charset" not in content_type:
            content_type += f"; charset={self.charset}"
        self.farm.log_request(self.key, http.path, response.status)
        http.send_response(response.status)
        http.send_header("Content-Type", content_type)
        chunked = response.headers.get("Transfer-Encoding") == "chunked"  # no length known in advance
        if not chunked:
            http.send_header("Content-Length", str(len(body)))
        http.send_header("Server", "nginx")
        for name, value in response.headers.items():
            http.send_header(name, value)
        http.end_headers()
        if head:
            return
        if not chunked:
            http.wfile.write(body)
            return
        for start in range(0, len(body), 8192):
            piece = body[start:start + 8192]
            http.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        http.wfile.write(b"0\r\n\r\n")


def esc(text: str) -> str:
    """HTML-escape text for element content and attribute values."""
    return html.escape(text, quote=True)


def blocks_html(blocks: tuple, indent: str = "", table_attrs: str = 'border="1" cellspacing="0"') -> str:
    """Body blocks as HTML: <p> per paragraph (headings bold), <table> for tables."""
    out = []
    for block in blocks:
        if isinstance(block, str):
            text = esc(block)
            if len(block) < 40 and block[:1] in "一二三四五六七八九十(" and not block.endswith("。"):
                text = f"<strong>{text}</strong>"
            out.append(f"<p>{indent}{text}</p>")
        else:
            rows = "".join("<tr>" + "".join(f"<td>{esc(cell)}</td>" for cell in row) + "</tr>" for row in block)
            out.append(f"<table {table_attrs}><tbody>{rows}</tbody></table>")
    return "\n".join(out)
