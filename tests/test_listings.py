"""Link discovery: regex filters, script-only TRS pagination, and the gkmlpt shell and API."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from urllib.parse import urljoin, urlsplit

from hypothesis import given, settings
from hypothesis import strategies as st
from parsel import Selector

from crawler import listings
from tests.crawling import ROOT, rows

LISTING = """<html><body>
<a href="content/post_1.html">深圳市某区2024年法治政府建设年度报告</a>
<a href="/col/content/post_2.html#top"> 关于开展安全检查的通知 </a>
<a href="http://other.example/col/content/post_3.html">某区法治政府建设报告</a>
<a href="index_1.html">2</a><a href="javascript:void(0)">x</a><a href="index_3.html">下一页</a>
<script>createPageHTML(4, 0, "index", "html");</script>
</body></html>"""


def test_article_and_listing_links():
    base = "http://site.example/col/index.html"
    sel = Selector(text=LISTING)
    links = listings.page_links(sel, base)
    found = listings.article_links(links, [r"/content/post_\d+\.html$"], "法治政府建设")
    assert [link.url for link in found] == ["http://site.example/col/content/post_1.html",
                                             "http://other.example/col/content/post_3.html"]
    assert listings.article_links(links, [r"/content/post_\d+\.html$"], None)[1].url.endswith("post_2.html")
    pages = listings.listing_links(sel, base, links, [r"/index(_\d+)?\.html$"])
    assert pages == [f"http://site.example/col/index_{i}.html" for i in (1, 3, 2)]


def test_create_page_html_names_every_page():
    urls = listings.create_page_urls('createPageHTML(12, 0, "index", "html");', "http://s.example/a/b/index.html")
    assert urls[0] == "http://s.example/a/b/index.html"
    assert urls[-1] == "http://s.example/a/b/index_11.html"
    assert len(urls) == 12


def test_gkmlpt_index_and_api(replica):
    site = replica.sites["gkmlpt"]
    html = urllib.request.urlopen(site.url("/gkmlpt/index")).read().decode("utf-8")
    assert listings.gkmlpt_sid(html) == "755041"
    catalog = listings.gkmlpt_find_catalog(html, "法治政府建设年度报告")
    assert catalog and catalog.isdigit()
    api = listings.gkmlpt_api_url(site.url("/gkmlpt/index"), catalog, "755041", 1)
    data = json.loads(urllib.request.urlopen(api).read())
    articles = list(listings.gkmlpt_articles(data, api))
    assert listings.gkmlpt_page_count(data) == 2
    assert all(url.startswith(site.base_url + "/gkmlpt/content/") for url, _ in articles)
    url, hints = articles[0]
    assert hints["title"] and hints["publisher"] and len(hints["published"]) == 10


def test_scrapy_crawl_command(replica, replica_config, db_path):
    """`scrapy crawl disclosure -a source=ID` works from the project root, Scrapy's own way."""
    env = {**os.environ, "ARCHIVE_DB": str(db_path)}
    done = subprocess.run([sys.executable, "-m", "scrapy", "crawl", "disclosure", "-a", "source=replica-news",
                           "-a", f"config={replica_config}", "-s", "LOG_LEVEL=WARNING"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    expected = {e.url for e in replica.expected(1) if e.site == "news"}
    assert {r["url"] for r in rows(db_path, "select url from documents")} == expected
    assert rows(db_path, "select status from runs") == [{"status": "ok"}]


# --- page_links walks lxml's tree itself: the same links as the CSS definition ---------------------------

def _page_links_by_css(selector: Selector, base_url: str) -> list[listings.Link]:
    """page_links as first written, with parsel's CSS: its definition."""
    links = []
    for a in selector.css("a[href]"):
        href = (a.attrib.get("href") or "").strip()
        if not href or href.startswith(("javascript:", "mailto:", "#")):
            continue
        try:
            url = listings.canonical_url(urljoin(base_url, href))
        except ValueError:
            continue
        if urlsplit(url).scheme not in ("http", "https"):
            continue
        text = " ".join("".join(a.css("::text").getall()).split()) or a.attrib.get("title", "")
        links.append(listings.Link(url, text))
    return links


_WORDS = st.sampled_from(["报告", "下一页", " ", "\n", "2024", "a&amp;b", "&lt;", "x y", ""])
_HREFS = st.sampled_from(["post_1.html", "/col/index_2.html", "#top", "javascript:void(0)", "mailto:a@b.cn",
                          "http://[#InfoURL#]/", "http://h.example:abc/x", "ftp://f.example/x", " ", "",
                          "../up.html?jump=true&id=3#c", "http://H.Example:80/年度报告.html", "//cdn.example/x"])


@st.composite
def _markup(draw, depth: int = 0) -> str:
    """Markup with links in odd places: nested elements, comments, scripts, tails, titles, upper case."""
    parts = []
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["text", "a", "span", "comment", "script", "A"] if depth < 3 else ["text"]))
        if kind == "text":
            parts.append(draw(_WORDS))
        elif kind in ("a", "A"):
            title = draw(st.one_of(st.none(), _WORDS))
            attrs = f' href="{draw(_HREFS)}"' if draw(st.booleans()) else ""
            attrs += f' title="{title}"' if title is not None else ""
            parts.append(f"<{kind}{attrs}>{draw(_markup(depth + 1))}</{kind}>")
        elif kind == "span":
            parts.append(f"<span>{draw(_markup(depth + 1))}</span>{draw(_WORDS)}")
        elif kind == "comment":
            parts.append(f"<!-- {draw(_WORDS)} -->")
        else:
            parts.append(f"<script>var s = '{draw(_WORDS)}';</script>")
    return "".join(parts)


@settings(max_examples=300, deadline=None)
@given(_markup())
def test_page_links_finds_what_the_css_definition_finds(body):
    selector = Selector(text=f"<html><body><div>{body}</div></body></html>")
    base = "http://site.example/col/index.html"
    assert listings.page_links(selector, base) == _page_links_by_css(selector, base)


def test_page_links_finds_what_the_css_definition_finds_on_every_real_page():
    """The real pages (tests/real: navigation, footers, link lists, attachments) link much as listings do."""
    pages = sorted((ROOT / "tests" / "real").glob("*.html"))
    assert len(pages) >= 10
    for path in pages:
        selector = Selector(text=path.read_text(encoding="utf-8", errors="replace"))
        assert listings.page_links(selector, "http://site.example/") == \
            _page_links_by_css(selector, "http://site.example/"), path
