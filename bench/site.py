"""The benchmark's replica site: N article pages over several listing columns, pre-rendered with the
replica templates of tests/sites (TRS/GBK and CMS/UTF-8 alternate by column), served from a child
process by a small asyncio HTTP/1.1 server that answers conditional requests with 304.

    site = BenchSite.generate(2000)        # articles, both states rendered
    with site.serve() as server:           # http://127.0.0.1:PORT in a child process
        server.set_state(2)                # 5% of the articles edited (new ETag / Last-Modified)
        server.stats()                     # {"200": …, "304": …, "404": …}

Pages are rendered once per state, so a page that did not change keeps its bytes, ETag and
Last-Modified (as a static CMS export behind nginx does); the server does nothing per request but
look up bytes, compare validators and write.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import math
import multiprocessing
import urllib.request
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from typing import Self

from tests.sites import cms, trs
from tests.sites.corpus import Article
from tests.sites.seeds import SEED_SPECS, seed_body, vary
from tests.sites.server import ROBOTS, esc

DEPARTMENTS = ("人民政府", "司法局", "发展和改革局", "教育局", "科技创新局", "城市管理和综合执法局", "住房和建设局",
               "水务局", "卫生健康局", "应急管理局", "工业和信息化局", "生态环境分局", "财政局", "民政局",
               "人力资源局", "交通运输局", "文化广电旅游体育局", "市场监督管理局", "退役军人事务局", "审计局")
DISTRICTS = ("坪山区", "南山区", "光明区", "龙岗区", "宝安区", "福田区", "罗湖区", "盐田区")
PER_PAGE = 20
EDIT_SHARE = 0.05
CONTROL = "/__bench__/"
BASE_MODIFIED = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


class _Column:
    """Mixin: a replica template site whose `live()` is one column's articles (or a window of them)."""

    def __init__(self, articles: list[Article]) -> None:
        super().__init__(None)  # type: ignore[arg-type]  # no farm: rendering only
        self.articles = articles
        self.window: list[Article] | None = None

    def live(self, state: int) -> list[Article]:
        return self.window if self.window is not None else self.articles

    def render_article(self, article: Article, state: int) -> str:
        """The template's article page, its prev/next/related links limited to a few neighbours."""
        i = self.articles.index(article)
        self.window = self.articles[max(0, i - 3):i + 4]
        try:
            return self.article_html(article, state)
        finally:
            self.window = None


class TrsColumn(_Column, trs.TrsSite):
    def render_listing(self, column: str, index: int, pages: int, chunk: list[Article]) -> str:
        items = "\n".join(
            f'                <li><span class="time">{a.date}</span><a href="./content/{a.path.rsplit("/", 1)[1]}" '
            f'title="{esc(a.title)}" target="_blank">{esc(a.title)}</a></li>' for a in chunk)
        main = trs.LISTING.substitute(items=items, pager_js=trs.PAGER_JS, pages=pages, current=index)
        return self.frame(self.chrome(), "法治政府建设年度报告-深圳市坪山区人民政府", "", main)


class CmsColumn(_Column, cms.CmsSite):
    def render_listing(self, column: str, index: int, pages: int, chunk: list[Article]) -> str:
        items = "\n".join(f'      <li><a href="{a.path}" target="_blank" title="{esc(a.title)}">{esc(a.title)}</a>'
                          f'<span class="date">{a.date}</span></li>' for a in chunk)
        name = "index.html" if index == 0 else f"index_{index}.html"
        pager = ['<a href="index.html">首页</a>', f'<span class="current">{index + 1}</span>']
        if index + 1 < pages:
            pager.append(f'<a href="index_{index + 1}.html">下一页</a>')
        pager.append(f'<a href="{"index.html" if pages == 1 else f"index_{pages - 1}.html"}">尾页</a>')
        main = (f'  <div class="list-box"><h2 class="col-title">法治政府建设年度报告</h2>\n'
                f'    <ul class="news-list">\n{items}\n    </ul>\n'
                f'    <div class="pagination" data-page="{name}">{" ".join(pager)}</div>\n  </div>')
        return self.render(self.chrome(), "法治政府建设年度报告_深圳市南山区人民政府", main)


@dataclass(frozen=True)
class Page:
    body: bytes
    content_type: str
    etag: str
    last_modified: str  # HTTP date


def _page(body: str, charset: str, modified: datetime) -> Page:
    data = body.encode(charset, errors="xmlcharrefreplace")
    return Page(data, f"text/html; charset={charset}", f'"{hashlib.sha1(data).hexdigest()[:16]}"',
                format_datetime(modified, usegmt=True))


def _article(n: int, column: int) -> Article:
    """The n-th synthetic report: a seed body varied by salt, a department and year of its own."""
    seeds = sorted(SEED_SPECS)
    body = seed_body(seeds[n % len(seeds)])
    district = DISTRICTS[n % len(DISTRICTS)]
    dept = DEPARTMENTS[(n // len(DISTRICTS)) % len(DEPARTMENTS)]
    year = 2024 - (n // 160) % 6
    blocks = tuple(vary(body, salt=f"bench{n}", year_shift=year - 2024, drop_every=3 + n % 5))
    published = (datetime(year + 1, 1, 5) + timedelta(days=n % 80, minutes=n)).strftime("%Y-%m-%d %H:%M:%S")
    extra = {}
    if column % 2:
        extra = {"索引号": f"1144030000754{n:04d}P/{year + 1}-{n:05d}", "分类": "法治政府建设;年度报告",
                 "发布机构": f"深圳市{district}{dept}", "成文日期": published[:10], "文号": "",
                 "发布日期": published[:10], "主题词": "法治政府建设", "有效性": "有效"}
    return Article("bench", f"a{n}", f"/col{column}/content/post_{20000000 + n}.html",
                   f"深圳市{district}{dept}{year}年法治政府建设年度报告", published, f"{district}{dept}", year,
                   blocks, extra=extra)


def _edited(article: Article) -> Article:
    """A realistic correction: every figure of the body nudged, one sentence added at the end."""
    blocks = [b for b in article.blocks if isinstance(b, str)]
    varied = vary(blocks, salt=f"edit-{article.key}")
    varied[-1] += "(本文数据已于近日更正。)"
    return replace(article, blocks=tuple(varied))


@dataclass
class BenchSite:
    """N articles over `columns` listing columns, every page pre-rendered for state 1 and state 2."""

    n: int
    columns: int
    articles: list[Article]
    edited: set[str]  # paths of the articles edited in state 2
    pages: dict[int, dict[str, Page]]  # state -> path -> page

    @classmethod
    def generate(cls, n: int = 2000, columns: int = 8) -> Self:
        per_column: list[list[Article]] = [[] for _ in range(columns)]
        for k in range(n):
            per_column[k % columns].append(_article(k, k % columns))
        every = max(1, round(1 / EDIT_SHARE))
        edited = {per_column[k % columns][k // columns].path for k in range(0, n, every)}
        pages: dict[int, dict[str, Page]] = {1: {}, 2: {}}
        all_articles = []
        for c, articles in enumerate(per_column):
            articles.sort(key=lambda a: a.published, reverse=True)
            all_articles.extend(articles)
            site = (CmsColumn if c % 2 else TrsColumn)(articles)
            count = max(1, math.ceil(len(articles) / PER_PAGE))
            for index in range(count):
                html = site.render_listing(f"/col{c}/", index, count, articles[index * PER_PAGE:(index + 1) * PER_PAGE])
                page = _page(html, site.charset, BASE_MODIFIED)
                path = f"/col{c}/index.html" if index == 0 else f"/col{c}/index_{index}.html"
                pages[1][path] = pages[2][path] = page
            for i, article in enumerate(articles):
                modified = BASE_MODIFIED + timedelta(minutes=i)
                pages[1][article.path] = page = _page(site.render_article(article, 1), site.charset, modified)
                if article.path in edited:
                    site.articles[i] = changed = _edited(article)
                    page = _page(site.render_article(changed, 2), site.charset, modified + timedelta(days=30))
                    site.articles[i] = article
                pages[2][article.path] = page
        return cls(n, columns, all_articles, edited, pages)

    def start_paths(self) -> list[str]:
        return [f"/col{c}/index.html" for c in range(self.columns)]

    def source_entry(self, base_url: str, settings: dict | None = None) -> dict:
        """This site as a sources.yaml entry (politeness off through `settings`)."""
        return {"id": "bench", "name": "深圳市基准测试区人民政府", "district": "基准区",
                "start_urls": [base_url + p for p in self.start_paths()],
                "article_urls": [r"/col\d+/content/post_\d+\.html$"],
                "listing_urls": [r"/col\d+/index(_\d+)?\.html$"],
                "schedule": "every 6h", "settings": settings or {}}

    def serve(self) -> SiteServer:
        return SiteServer(self.pages)


# ---------------------------------------------------------------------------------------------- server

def _not_modified(page: Page, headers: dict[str, str]) -> bool:
    """RFC 9110: If-None-Match wins; else If-Modified-Since at or after Last-Modified."""
    if "if-none-match" in headers:
        tags = [t.strip() for t in headers["if-none-match"].split(",")]
        return page.etag in tags or "*" in tags
    since = headers.get("if-modified-since")
    if since:
        try:
            return parsedate_to_datetime(since) >= parsedate_to_datetime(page.last_modified)
        except (TypeError, ValueError):
            return False
    return False


async def _serve(pages: dict[int, dict[str, Page]], port_pipe, ready) -> None:
    state = {"n": 1}
    stats: dict[str, int] = {}
    asked: list[list] = []  # every request but control ones: [target, If-None-Match, If-Modified-Since]
    robots = ROBOTS.encode()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        k, v = line.split(":", 1)
                        headers[k.strip().lower()] = v.strip()
                path = target.split("?", 1)[0]
                extra = b""
                if path.startswith(CONTROL):
                    if path == CONTROL + "state":
                        state["n"] = int(target.rsplit("=", 1)[1])
                    if path == CONTROL + "asked":
                        body = json.dumps(asked[int(target.rsplit("=", 1)[1]):]).encode()
                    else:
                        body = json.dumps({**stats, "state": state["n"], "asked": len(asked)}).encode()
                    status, ctype = 200, "application/json"
                    writer.write(f"HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n\r\n"
                                 .encode() + body)
                    await writer.drain()
                    continue
                asked.append([target, headers.get("if-none-match"), headers.get("if-modified-since")])
                if path == "/robots.txt":
                    status, ctype, body = 200, "text/plain", robots
                else:
                    page = pages[state["n"]].get(path)
                    if page is None:
                        status, ctype, body = 404, "text/html; charset=utf-8", b"<html><body>404</body></html>"
                    else:
                        status, ctype = (304, None) if _not_modified(page, headers) else (200, page.content_type)
                        body = b"" if status == 304 else page.body
                        extra = f"ETag: {page.etag}\r\nLast-Modified: {page.last_modified}\r\n".encode()
                    stats[str(status)] = stats.get(str(status), 0) + 1
                reason = {200: "OK", 304: "Not Modified", 404: "Not Found"}[status]
                out = f"HTTP/1.1 {status} {reason}\r\nServer: nginx\r\n".encode() + extra
                if status != 304:
                    out += f"Content-Type: {ctype}\r\nContent-Length: {len(body)}\r\n".encode()
                writer.write(out + b"\r\n" + (body if method != "HEAD" else b""))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=256)
    port_pipe.send(server.sockets[0].getsockname()[1])
    async with server:
        await server.serve_forever()


def _run_server(pages, port_pipe, ready) -> None:
    asyncio.run(_serve(pages, port_pipe, ready))


class SiteServer:
    """The bench site's server in a forked child process (so it never shares the crawl's GIL)."""

    def __init__(self, pages: dict[int, dict[str, Page]]) -> None:
        self.pages = pages
        self.process: multiprocessing.Process | None = None
        self.base_url = ""

    def __enter__(self) -> Self:
        ctx = multiprocessing.get_context("fork")
        parent, child = ctx.Pipe()
        self.process = ctx.Process(target=_run_server, args=(self.pages, child, None), daemon=True,
                                   name="bench-site")
        self.process.start()
        if not parent.poll(30):
            raise RuntimeError("bench site server did not start")
        self.base_url = f"http://127.0.0.1:{parent.recv()}"
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.join(5)

    def _control(self, what: str) -> dict:
        with urllib.request.urlopen(self.base_url + CONTROL + what, timeout=10) as r:
            return json.loads(r.read())

    def set_state(self, state: int) -> None:
        self._control(f"state?n={state}")

    def stats(self) -> dict[str, int]:
        """Requests answered so far, by status (control requests not counted)."""
        return {k: v for k, v in self._control("stats").items() if k not in ("state", "asked")}

    def asked(self, since: int = 0) -> list[list]:
        """Every request received (control ones aside) from the `since`-th on, in order of arrival:
        [target, If-None-Match, If-Modified-Since]."""
        return self._control(f"asked?since={since}")

    def asked_count(self) -> int:
        return int(self._control("stats")["asked"])
