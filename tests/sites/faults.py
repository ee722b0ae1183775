"""A fault-injecting replica government site over real HTTP on 127.0.0.1, for the reliability tests.

    with FaultFarm(("http",)) as farm:
        site = farm.sites["http"]
        site.add_article("a")                    # /content/post_a.html, listed on /list/index.html
        site.faults["a"] = "ruishu-412"          # from now on the article answers with 瑞数's challenge
        farm.sources_yaml(tmp / "sources.yaml", settings={"RETRY_TIMES": 1})

Every fault in FAULTS is what real Chinese government sites send: server errors, hangs, resets,
truncated bodies, WAF / anti-bot challenges (瑞数, 加速乐, Aliyun, 创宇盾, captchas, rate limits), soft
404s and redirects to the home page, mislabelled encodings, binaries served as HTML, empty and broken
pages. Raw faults (hang, reset, truncation) work on the socket itself, below HTTP.
"""
from __future__ import annotations

import io
import re
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self
from urllib.parse import urlsplit

import yaml

from .seeds import seed_body, vary
from .server import ROBOTS, Response, esc

ARTICLE_DIR = "/content/"
ARTICLE_RE = r"/content/post_[\w-]+\.html$"
LISTING_RE = r"/list/index(_\d+)?\.html$"
# Characters outside GBK (GB18030 four-byte codes): a GBK/GB2312 reading of the page loses them.
RARE_CHARS_PARAGRAPH = "本报告由区司法局𠮷晓䶮同志汇总,联系电话0755-21212121。"

PAGE = """<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta http-equiv="Content-Type" content="text/html; charset={charset}">
<title>{title}_{site}</title>
<meta name="ArticleTitle" content="{title}">
<meta name="PubDate" content="{date} 09:30">
<meta name="ContentSource" content="{publisher}">
<link rel="stylesheet" href="/css/style.css">
</head>
<body>
<div class="top"><a href="/">首页</a> | <a href="/list/index.html">法治政府建设年度报告</a> | <a href="/wza/">无障碍</a></div>
<div class="crumb">当前位置:<a href="/">首页</a> &gt; <a href="/list/index.html">法治政府建设年度报告</a></div>
<div class="article">
<h1 class="title">{title}</h1>
<div class="info"><span>发布日期:{date}</span> <span>来源:{publisher}</span> <span>浏览次数:<em>{visits}</em></span></div>
<div class="article-content" id="zoom">
{paragraphs}
</div>
<div class="tools"><a href="javascript:window.print();">打印</a> <a href="javascript:window.close();">关闭</a></div>
</div>
<div class="footer"><p>版权所有:{site} 主办:{site}办公室</p><p>网站标识码:4403990001 粤ICP备05012345号</p></div>
</body>
</html>
"""

LISTING = """<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>法治政府建设年度报告_{site}</title></head>
<body>
<div class="top"><a href="/">首页</a></div>
<h2>法治政府建设年度报告</h2>
<ul class="list">
{items}
</ul>
<div class="page">{pager}</div>
<div class="footer">版权所有:{site}</div>
</body></html>
"""

HOME = """<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{site}</title></head>
<body><div class="top"><a href="/">首页</a> <a href="/list/index.html">信息公开</a></div>
<h1>{site}门户网站</h1><p>欢迎访问{site}门户网站。今日要闻、政务公开、政务服务、互动交流。</p>
<ul><li><a href="/list/index.html">法治政府建设年度报告</a></li><li><a href="/zwfw/">政务服务</a></li></ul>
<div class="footer">版权所有:{site}</div></body></html>
"""

# --- anti-bot / WAF answers, modelled on what the real gateways send ------------------------------
RUISHU = """<!DOCTYPE html><html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8">\
<meta http-equiv="Cache-Control" content="no-cache, no-store, must-revalidate"><meta http-equiv="Pragma" \
content="no-cache"><meta http-equiv="Expires" content="0"><meta id="9DhefwqGPrzGxEp9hPaoag" \
content="{token}" r='m'><!--[if lt IE 9]><script r='m'>document.createElement("section")</script><![endif]-->\
<script type="text/javascript" charset="utf-8" src="/4QbVtADbnLVIc/d.FxJzG50F.dfe1675.js" r='m'></script>\
<script type="text/javascript" r='m'>$_ts=window['$_ts'];if(!$_ts)$_ts={{}};$_ts.nsd=84361;\
$_ts.cd="qyrcrrAlcGEcrrAlDqEcqqQlDqlqrAQlDGEqraQlcqAkrrLRcsAqrqA1ckAVckAlrrQmcsAcrAVRcG1crrAqqq9lDGlUqGEkrqa";\
$_ts.lcd=function(){{}};if($_ts.lcd){{$_ts.lcd()}};</script></head><body></body></html>"""
RUISHU_SCRIPT = ("(function(){var _$a=window['$_ts'];document.cookie='FSSBBIl1UgzbN7N80S=' + _$a.nsd"
                 " + '; path=/';window.location.reload();})();")
JIASULE = ("<script>document.cookie=('_')+('_')+('j')+('s')+('l')+('_')+('c')+('l')+('e')+('a')+('r')+('a')"
           "+('n')+('c')+('e')+('_')+('s')+('=')+(+!+[]+'6'+(1+5)+(2+4)+'.'+(1+7)+'|0|'+'rD'+'%2B'+'Xk')"
           "+';max-age=3600;path=/';location.href=location.pathname+location.search</script>")
ALIYUN = """<html><script>
var arg1='3A5F92EE2C1D2B0E7B0D41E5D9C4D1B86C3F1A22';
var _0x4818=['\\x63\\x6f\\x6f\\x6b\\x69\\x65','\\x72\\x65\\x6c\\x6f\\x61\\x64'];
var _0x55f3=function(_0x4818d2,_0x433b42){_0x4818d2=_0x4818d2-0x0;return _0x4818[_0x4818d2];};
var l=function(){var x=arg1.split('').reverse().join('');return x;};
document.cookie='acw_sc__v2='+l()+'; expires=Sat, 01 Jan 2000 00:00:00 GMT; max-age=3600; path=/';
document.location.reload();
</script></html>"""
CHUANGYU = """<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"><title>访问被拦截</title>
<style>body{{font-family:"Microsoft YaHei";background:#f5f5f5}}.box{{margin:120px auto;width:600px}}</style></head>
<body><div class="box"><h2>您的访问被拦截</h2><p>当前访问疑似黑客攻击,已被创宇盾拦截。</p>
<p>拦截时间:2025-03-01 10:12:45 &nbsp; 事件ID:{token}</p><p>如果您是网站管理员,请登录创宇盾查看详情。</p>
</div></body></html>"""
CAPTCHA = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>安全验证</title></head>
<body><div class="verify"><h3>访问验证</h3><p>请输入验证码后继续访问</p>
<form method="post" action="/verify"><img src="/captcha.jpg?t={token}" alt="验证码">
<input type="text" name="code"><a href="javascript:;">看不清?换一张</a><button>提交</button></form></div></body></html>"""
TOO_FREQUENT = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>提示</title></head>
<body><div style="text-align:center;margin-top:100px"><h3>您的访问过于频繁,请稍后再试。</h3>
<p>请求编号:{token}</p></div></body></html>"""
COOKIE_SCRIPT = ("<html><head><script type=\"text/javascript\">document.cookie=\"sec_defend={token}; path=/\";"
                 "window.location.reload();</script></head><body></body></html>")

# --- pages that say "not here" with status 200 ------------------------------------------------------
SOFT_404_TITLE = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>404 页面不存在</title></head>
<body><div class="top"><a href="/">首页</a></div><div class="err"><h1>404</h1>
<p>抱歉,您访问的页面不存在或已被删除!</p><p><a href="/">返回首页</a></p></div></body></html>"""
SOFT_404_DELETED = """<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"><title>{site}</title></head>
<body><div class="top"><a href="/">首页</a> | <a href="/list/index.html">信息公开</a> | <a href="/wza/">无障碍</a></div>
<div class="crumb">当前位置:<a href="/">首页</a></div>
<div class="main"><p class="tip">您访问的页面不存在或已被删除</p><p><a href="/">返回首页</a> <a href="javascript:history.back()">返回上一页</a></p></div>
<div class="footer"><p>版权所有:{site} 主办:{site}办公室</p><p>网站标识码:4403990001 粤ICP备05012345号</p></div>
</body></html>"""
SOFT_404_BARE = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>提示信息</title></head>
<body><div class="box"><h1>404</h1><p>抱歉,出错了!</p><p><a href="/">返回首页</a></p></div></body></html>"""
ERROR_PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>系统提示</title></head>
<body><div class="box"><h2>系统提示</h2><p>您请求的资源暂时无法访问,请返回首页浏览其他内容。</p>
<p><a href="/">返回首页</a></p></div></body></html>"""

Fault = Callable[["FaultSite", str], "Response | RawFault"]


@dataclass
class RawFault:
    """A fault below HTTP: what to do with the socket instead of answering."""

    action: str  # "hang" | "reset" | "truncate" | "close"
    body: bytes = b""


@dataclass
class ArticleSpec:
    slug: str
    title: str
    publisher: str
    date: str
    paragraphs: tuple[str, ...]

    @property
    def text(self) -> str:
        return "\n".join(self.paragraphs)


class FaultSite:
    """One replica site: a listing of report pages, each of which can be switched to a fault."""

    def __init__(self, key: str, hang_seconds: float = 4.0) -> None:
        self.key = key
        self.name = f"深圳市{key}测试区人民政府"
        self.district = f"{key}测试区"
        self.hang_seconds = hang_seconds
        self.generation = 0  # bump to change every article's text
        self.articles: dict[str, ArticleSpec] = {}
        self.listed: list[str] = []
        self.faults: dict[str, str] = {}  # slug -> fault name
        self.listing_fault: str | None = None
        self.pagination: str = "none"  # "none" | "endless" | "self"
        self.extra_links: list[tuple[str, str]] = []  # (absolute or site-relative URL, link text)
        self.routes: dict[str, Callable[[], Response]] = {}
        self.requests: list[tuple[str, str, str]] = []  # (Host header, path, what was served)
        self.hits: dict[str, int] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._port: int | None = None

    # ------------------------------------------------------------------ lifecycle
    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError(f"fault site {self.key!r} is not started")
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def offsite_url(self, path: str) -> str:
        """The same server under another host name: a crawler must treat it as another site."""
        return f"http://localhost:{self.port}{path}"

    def start(self) -> None:
        site = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                site._serve(self)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._port = self._server.server_address[1]  # kept after stop(): tests still compute URLs
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True,
                         name=f"fault-{self.key}").start()

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # ------------------------------------------------------------------ content
    def add_article(self, slug: str, listed: bool = True) -> ArticleSpec:
        """A report page at /content/post_<slug>.html (listed on the listing unless told otherwise)."""
        n = len(self.articles)
        dept = ("司法局", "教育局", "水务局", "民政局", "卫生健康局", "文化广电旅游体育局", "科技创新局",
                "住房和建设局")[n % 8]
        spec = ArticleSpec(slug, f"深圳市{self.district}{dept}2024年法治政府建设年度报告({slug})",
                           f"{self.district}{dept}", f"2025-0{1 + n % 9}-1{n % 10}", ())
        self.articles[slug] = spec
        self._refresh(spec)
        if listed and slug not in self.listed:
            self.listed.append(slug)
        return self.articles[slug]

    def bump(self) -> None:
        """A new generation of every article's text (as if each was edited)."""
        self.generation += 1
        for spec in self.articles.values():
            self._refresh(spec)

    def _refresh(self, spec: ArticleSpec) -> None:
        salt = f"{self.key}-{spec.slug}-{self.generation}"
        body = vary(seed_body("002")[:8], salt=salt, replace={"光明区": self.district})
        spec.paragraphs = (*body, RARE_CHARS_PARAGRAPH)

    def article_path(self, slug: str) -> str:
        return f"{ARTICLE_DIR}post_{slug}.html"

    def article_url(self, slug: str) -> str:
        return self.url(self.article_path(slug))

    def article_html(self, slug: str, charset: str = "utf-8", paragraphs: tuple[str, ...] | None = None) -> str:
        spec = self.articles[slug]
        with self._lock:
            visits = sum(self.hits.values())
        body = "\n".join(f"<p>{esc(p)}</p>" for p in (paragraphs or spec.paragraphs))
        return PAGE.format(charset=charset, title=esc(spec.title), site=self.name, date=spec.date,
                           publisher=esc(spec.publisher), visits=visits, paragraphs=body)

    def listing_html(self, page: int) -> str:
        items = [f'<li><a href="{self.article_path(s)}" title="{esc(self.articles[s].title)}">'
                 f'{esc(self.articles[s].title)}</a><span>{self.articles[s].date}</span></li>' for s in self.listed]
        items += [f'<li><a href="{esc(url)}">{esc(text)}</a></li>' for url, text in self.extra_links]
        pager = ""
        if self.pagination == "endless":
            pager = f'<a href="/list/index_{page + 1}.html">下一页</a>'
        elif self.pagination == "self":
            me = "/list/index.html" if page == 0 else f"/list/index_{page}.html"
            pager = (f'<a href="{me}">首页</a> <a href="{me}">上一页</a> <a href="{me}#top">1</a> '
                     f'<a href="{me}">下一页</a> <a href="./index.html">尾页</a>')
        return LISTING.format(site=self.name, items="\n".join(items), pager=pager)

    # ------------------------------------------------------------------ serving
    def _route(self, path: str) -> tuple[Response | RawFault, str]:
        if path in self.routes:
            return self.routes[path](), "route"
        if path == "/robots.txt":
            return Response(200, ROBOTS, "text/plain; charset=utf-8"), "robots"
        if path.startswith("/private/"):
            return Response(200, "<html><body>内部资料</body></html>", "text/html; charset=utf-8"), "private"
        if path in ("/", "/index.html"):
            return Response(200, HOME.format(site=self.name), "text/html; charset=utf-8"), "home"
        if path.startswith("/error/"):
            return Response(200, ERROR_PAGE, "text/html; charset=utf-8"), "error-page"
        if path == "/4QbVtADbnLVIc/d.FxJzG50F.dfe1675.js":
            return Response(200, RUISHU_SCRIPT, "application/javascript"), "ruishu-script"
        m = re.fullmatch(r"/list/index(?:_(\d+))?\.html", path)
        if m:
            if self.listing_fault:
                return FAULTS[self.listing_fault](self, ""), self.listing_fault
            page = int(m.group(1) or 0)
            if page and self.pagination != "endless":
                return Response(404, "<html><title>404</title></html>", "text/html; charset=utf-8"), "404"
            return Response(200, self.listing_html(page), "text/html; charset=utf-8"), "listing"
        m = re.fullmatch(r"/content/post_([\w-]+)\.html", path)
        if m and m.group(1) in self.articles:
            slug = m.group(1)
            fault = self.faults.get(slug)
            if fault:
                return FAULTS[fault](self, slug), fault
            return Response(200, self.article_html(slug), "text/html; charset=utf-8"), "article"
        return Response(404, "<html><head><title>404 Not Found</title></head><body>Not Found</body></html>",
                        "text/html; charset=utf-8"), "404"

    def _serve(self, http: BaseHTTPRequestHandler) -> None:
        path = urlsplit(http.path).path or "/"
        with self._lock:
            self.hits[path] = self.hits.get(path, 0) + 1
        answer, what = self._route(path)
        with self._lock:
            self.requests.append((http.headers.get("Host", ""), path, what))
        if isinstance(answer, RawFault):
            self._raw(http, answer)
            return
        body = answer.body.encode("utf-8") if isinstance(answer.body, str) else answer.body
        http.send_response(answer.status)
        http.send_header("Content-Type", answer.content_type)
        http.send_header("Content-Length", str(len(body)))
        http.send_header("Server", "nginx")
        for name, value in answer.headers.items():
            http.send_header(name, value)
        http.end_headers()
        try:
            http.wfile.write(body)
        except OSError:
            pass

    def _raw(self, http: BaseHTTPRequestHandler, fault: RawFault) -> None:
        sock = http.connection
        http.close_connection = True
        try:
            if fault.action == "hang":  # answer long after any sane timeout (or when the site stops)
                self._stopping.wait(self.hang_seconds)
                return
            if fault.action == "reset":  # RST instead of an answer: linger 0, then the last close
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                http.rfile.close()
                http.wfile.close()
                http.rfile, http.wfile = io.BytesIO(), io.BytesIO()  # what the handler flushes after us
                sock.close()
                return
            if fault.action == "truncate":  # promise the whole page, send half, hang up
                head = (f"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
                        f"Content-Length: {len(fault.body)}\r\nConnection: close\r\n\r\n").encode()
                sock.sendall(head + fault.body[:len(fault.body) // 2])
                return
            # "close": hang up without a word
        except OSError:
            pass
        finally:
            try:
                sock.shutdown(socket.SHUT_RDWR) if fault.action != "reset" else None
            except OSError:
                pass

    def served(self, what: str | None = None, path_prefix: str = "/", host: str | None = None) -> list[str]:
        """Paths served (optionally only those served as `what`, under a prefix, to a Host header prefix)."""
        with self._lock:
            return [p for h, p, w in self.requests if p.startswith(path_prefix)
                    and (what is None or w == what) and (host is None or h.startswith(host))]


# --- the faults -------------------------------------------------------------------------------------

def _html(status: int, body: str | bytes, ctype: str = "text/html; charset=utf-8", **headers: str) -> Response:
    return Response(status, body, ctype, dict(headers))


def _token(site: FaultSite, slug: str) -> str:
    import hashlib

    return hashlib.md5(f"{site.key}{slug}{len(site.requests)}".encode()).hexdigest()[:20]


def _encoded(site: FaultSite, slug: str, codec: str, meta: str | None, header: str | None,
             prefix: bytes = b"") -> Response:
    html = site.article_html(slug, charset=meta or "")
    if meta is None:
        html = html.replace('<meta http-equiv="Content-Type" content="text/html; charset=">\n', "")
    ctype = f"text/html; charset={header}" if header else "text/html"
    return Response(200, prefix + html.encode(codec), ctype)


def _malformed(site: FaultSite, slug: str) -> Response:
    html = site.article_html(slug)
    html = re.sub(r"</p>|</div>|</body>|</html>|</li>", "", html)
    html = html.replace('<div class="article">', '<div class=article><table><tr><td><span><font color=red>')
    html = html.replace('<h1 class="title">', '</td></tr><h1 class=title>')
    html = html.replace("<head>", "<head><meta name=robots content=all><</head>")
    return Response(200, html, "text/html; charset=utf-8")


def _oversize(site: FaultSite, slug: str) -> Response:
    html = site.article_html(slug)
    blob = "iVBORw0KGgoAAAANSUhEUgAA" * 20000  # ~480 KB of inline image
    return Response(200, html.replace("</h1>", f'</h1><img src="data:image/png;base64,{blob}">'),
                    "text/html; charset=utf-8")


FAULTS: dict[str, Fault] = {
    # server failures (retried with backoff, then logged as error)
    "http-500": lambda s, a: _html(500, "<html><body><h1>500 Internal Server Error</h1></body></html>"),
    "http-502": lambda s, a: _html(502, "<html><body><center><h1>502 Bad Gateway</h1></center><hr>"
                                        "<center>nginx</center></body></html>"),
    "http-503": lambda s, a: _html(503, "<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>",
                                   **{"Retry-After": "1"}),
    "flaky-503": lambda s, a: _html(503, "<html><body><h1>503</h1></body></html>")
    if len(s.served("flaky-503", s.article_path(a))) % 2 == 0  # every other answer fails
    else Response(200, s.article_html(a), "text/html; charset=utf-8"),
    "hang": lambda s, a: RawFault("hang"),
    "reset": lambda s, a: RawFault("reset"),
    "truncated": lambda s, a: RawFault("truncate", s.article_html(a).encode("utf-8")),
    "close": lambda s, a: RawFault("close"),
    # anti-bot / WAF challenges (logged as blocked)
    "ruishu-412": lambda s, a: _html(412, RUISHU.format(token=_token(s, a)),
                                     **{"Set-Cookie": "FSSBBIl1UgzbN7N80T=5tmW; path=/; HttpOnly"}),
    "ruishu-202": lambda s, a: _html(202, RUISHU.format(token=_token(s, a))),
    "ruishu-200": lambda s, a: _html(200, RUISHU.format(token=_token(s, a))),
    "jiasule-521": lambda s, a: _html(521, JIASULE, **{"Set-Cookie": f"__jsluid_h={_token(s, a)}; max-age=31536000;"
                                                                    " path=/; HttpOnly"}),
    "jiasule-200": lambda s, a: _html(200, JIASULE),
    "aliyun-acw": lambda s, a: _html(200, ALIYUN, **{"Set-Cookie": f"acw_tc={_token(s, a)};path=/;HttpOnly"}),
    "chuangyu-418": lambda s, a: _html(418, CHUANGYU.format(token=_token(s, a))),
    "chuangyu-200": lambda s, a: _html(200, CHUANGYU.format(token=_token(s, a))),
    "captcha": lambda s, a: _html(200, CAPTCHA.format(token=_token(s, a))),
    "too-frequent": lambda s, a: _html(200, TOO_FREQUENT.format(token=_token(s, a))),
    "too-frequent-429": lambda s, a: _html(429, TOO_FREQUENT.format(token=_token(s, a))),
    "cookie-script": lambda s, a: _html(200, COOKIE_SCRIPT.format(token=_token(s, a))),
    # "not here" answers (not-found: gone when the document was known)
    "http-404": lambda s, a: _html(404, SOFT_404_TITLE),
    "soft404-title": lambda s, a: _html(200, SOFT_404_TITLE),
    "soft404-deleted": lambda s, a: _html(200, SOFT_404_DELETED.format(site=s.name)),
    "soft404-bare": lambda s, a: _html(200, SOFT_404_BARE),
    "redirect-home": lambda s, a: _html(302, "", Location="/"),
    "redirect-index": lambda s, a: _html(301, "", Location=s.url("/index.html")),
    "redirect-error": lambda s, a: _html(302, "", Location="/error/404.html"),
    "redirect-offsite-home": lambda s, a: _html(302, "", Location=s.offsite_url("/")),
    "redirect-offsite": lambda s, a: _html(302, "", Location=s.offsite_url(f"/content/post_{a}.html")),
    # encodings (decoded right: a known page stays unchanged)
    "gbk-as-utf8": lambda s, a: _encoded(s, a, "gb18030", "utf-8", "utf-8"),
    "gbk-unlabelled": lambda s, a: _encoded(s, a, "gb18030", None, None),
    "utf8-as-gb2312": lambda s, a: _encoded(s, a, "utf-8", "gb2312", "gb2312"),
    "gb18030-as-gbk": lambda s, a: _encoded(s, a, "gb18030", "gbk", "gbk"),
    "utf8-bom-as-gbk": lambda s, a: _encoded(s, a, "utf-8", "gbk", None, prefix=b"\xef\xbb\xbf"),
    "xml-gbk": lambda s, a: Response(200, ('<?xml version="1.0" encoding="gb2312"?>\n' + s.article_html(a, "gb2312")
                                           ).encode("gb18030"), "text/html"),
    # size and shape
    "oversize": _oversize,
    "pdf-as-html": lambda s, a: _html(200, b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<</Type/Catalog>>endobj\n"
                                           + bytes(range(256)) * 8 + b"\n%%EOF\n"),
    "png-as-html": lambda s, a: _html(200, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4),
    "binary-as-html": lambda s, a: _html(200, bytes(range(256)) * 16),
    "empty": lambda s, a: _html(200, b""),
    "whitespace": lambda s, a: _html(200, b"\r\n  \r\n"),
    "malformed": _malformed,
    "short": lambda s, a: Response(200, s.article_html(a, paragraphs=s.articles[a].paragraphs[:1]),
                                   "text/html; charset=utf-8"),
}


class FaultFarm:
    """Fault sites by key, started together; writes a sources.yaml with one source per site."""

    def __init__(self, keys: tuple[str, ...] = ("faults",), hang_seconds: float = 4.0) -> None:
        self.sites = {key: FaultSite(key, hang_seconds) for key in keys}

    def __enter__(self) -> Self:
        for site in self.sites.values():
            site.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for site in self.sites.values():
            site.stop()

    @staticmethod
    def source_id(key: str) -> str:
        return f"fault-{key}"

    def sources_yaml(self, path: str | Path, settings: dict[str, Any] | None = None,
                     per_site: dict[str, dict[str, Any]] | None = None) -> Path:
        """A sources.yaml for the running sites; quick retries and no politeness delays by default."""
        defaults = {"DOWNLOAD_DELAY": 0, "AUTOTHROTTLE_ENABLED": False, "RETRY_TIMES": 1,
                    "DOWNLOAD_TIMEOUT": 1.5, "ZWGK_RETRY_BACKOFF": 0.05, "ZWGK_BLOCKED_DELAY": 0.05,
                    "ZWGK_BLOCKED_LIMIT": 0, **(settings or {})}
        sources = []
        for key, site in self.sites.items():
            sources.append({
                "id": self.source_id(key), "name": site.name, "district": site.district,
                "start_urls": [site.url("/list/index.html")], "article_urls": [ARTICLE_RE],
                "listing_urls": [LISTING_RE], "title_filter": "法治政府建设",
                "settings": {**defaults, **((per_site or {}).get(key) or {})},
            })
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump({"defaults": {"schedule": "every 6h"}, "sources": sources},
                                       allow_unicode=True, sort_keys=False), encoding="utf-8")
        return path


# --- the scenario every fault test runs: archive clean pages, then serve them (and new ones) faulty -----

@dataclass
class FaultRun:
    """Two crawls of one fault site into one archive: run 1 clean, run 2 with faults on every
    `known-<fault>` page (archived in run 1) and every `new-<fault>` page (first listed in run 2)."""

    site: FaultSite
    db: Path
    first: Any  # subprocess.CompletedProcess of run 1
    second: Any
    original: dict[str, str]  # slug -> text archived in run 1

    def query(self, sql: str, params: list | tuple = ()) -> list[dict]:
        from tests.crawling import rows

        return rows(self.db, sql, params)

    def fetches(self, slug: str, run: int = 2) -> list[dict]:
        return self.query("SELECT f.* FROM fetches f JOIN runs r ON r.id = f.run_id WHERE f.url = ? "
                          "AND r.id = (SELECT id FROM runs ORDER BY id LIMIT 1 OFFSET ?) ORDER BY f.id",
                          [self.site.article_url(slug), run - 1])

    def document(self, slug: str) -> dict | None:
        found = self.query("SELECT * FROM documents WHERE url = ?", [self.site.article_url(slug)])
        return found[0] if found else None

    def revisions(self, slug: str) -> list[dict]:
        return self.query("SELECT r.* FROM revisions r JOIN documents d ON d.id = r.document_id "
                          "WHERE d.url = ? ORDER BY r.id", [self.site.article_url(slug)])

    def run(self, n: int) -> dict:
        return self.query("SELECT * FROM runs ORDER BY id LIMIT 1 OFFSET ?", [n - 1])[0]


def fault_run(workdir: Path, faults: list[str], *, settings: dict[str, Any] | None = None,
              key: str = "faults", clean: tuple[str, ...] = ("clean",)) -> FaultRun:
    """Run the two-crawl scenario for `faults` (plus always-clean pages `clean`) and return it."""
    from tests.crawling import crawl

    with FaultFarm((key,)) as farm:
        site = farm.sites[key]
        for slug in (*clean, *(f"known-{f}" for f in faults)):
            site.add_article(slug)
        config = farm.sources_yaml(workdir / "sources.yaml", settings=settings)
        db = workdir / "archive.db"
        first = crawl(config, db, farm.source_id(key))
        original = {slug: spec.text for slug, spec in site.articles.items()}
        for fault in faults:
            site.add_article(f"new-{fault}")
            site.faults[f"known-{fault}"] = fault
            site.faults[f"new-{fault}"] = fault
        second = crawl(config, db, farm.source_id(key))
    return FaultRun(site, db, first, second, original)


def squash(text: str | None) -> str:
    return re.sub(r"\s+", "", text or "")


def assert_history_kept(run: FaultRun, slug: str, status: str = "live") -> None:
    """A known document after a bad fetch: still `status`, its one revision intact and still latest."""
    doc = run.document(slug)
    assert doc is not None, f"{slug}: the archived document disappeared"
    assert doc["status"] == status, f"{slug}: document is {doc['status']}, expected {status}"
    revisions = run.revisions(slug)
    assert len(revisions) == 1, f"{slug}: {len(revisions)} revisions; a bad fetch must never add one"
    assert doc["latest_revision_id"] == revisions[0]["id"]
    assert squash(revisions[0]["text"]) == squash(run.original[slug])
    assert "\ufffd" not in revisions[0]["text"]


def assert_never_archived(run: FaultRun, slug: str) -> None:
    """A new page whose only fetch was bad: no document, no revision."""
    assert run.document(slug) is None, f"{slug}: a bad first fetch created a document"
