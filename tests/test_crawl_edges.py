"""Red-team findings on the crawl side of issue #11, each a reproduction that failed before its fix:
listing links and API answers the real web gives (placeholders, millisecond epochs, Chinese file names,
GBK query strings, full-width catalogue ids, no `total`), and a probe facing a server that cuts the
connection or does not speak HTTP. Real spider and real HTTP on 127.0.0.1; pure logic by function."""
from __future__ import annotations

import io
import socket
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st
from parsel import Selector
from w3lib.url import safe_url_string

from crawler import listings
from crawler.probe import probe
from crawler.sources import load_config
from tests.crawling import crawl, rows
from tests.sites.faults import FaultFarm, _html

CHINA = timezone(timedelta(hours=8))



# --- gkmlpt API answers ------------------------------------------------------------------------------

def test_api_dates_in_milliseconds_lose_no_listing_page(dept, tmp_path):
    """An API giving epoch milliseconds made `datetime.fromtimestamp` raise in the spider's callback: the
    whole API page, and every report on it, was lost without a fetch logged."""
    site = dept.sites["gkmlpt"]
    record = site.record
    site.record = lambda article, catalog=11938: {
        **record(article, catalog), **{k: record(article, catalog)[k] * 1000
                                       for k in ("date", "first_publish_time", "display_publish_time")}}
    config = dept.sources_yaml(tmp_path / "sources.yaml", catalog="0")
    db = tmp_path / "archive.db"
    done = crawl(config, db, "replica-gkmlpt")
    assert done.returncode == 0, done.stderr[-3000:]
    docs = {d["url"]: d["published"] for d in rows(db, "select url, published from documents")}
    assert docs == {e.url: e.published for e in dept.expected(1)}


def test_an_api_without_total_is_read_while_its_pages_are_full(dept, tmp_path):
    """With no `total` nor `classify.post_count`, the page count was taken as 1: older pages never read."""
    site = dept.sites["gkmlpt"]
    site.per_page = 4
    api = site.api

    def no_total(catalog, query, state):
        answer = api(catalog, query, state)
        data = __import__("json").loads(answer.body)
        data.pop("total"), data.pop("classify")
        answer.body = __import__("json").dumps(data, ensure_ascii=False)
        return answer

    site.api = no_total
    config = dept.sources_yaml(tmp_path / "sources.yaml", catalog="0")
    db = tmp_path / "archive.db"
    assert crawl(config, db, "replica-gkmlpt").returncode == 0
    assert {r["url"] for r in rows(db, "select url from documents")} == {e.url for e in dept.expected(1)}
    assert len(site.catalogue(0, 1)) > 4


@given(st.integers(946684800, 4102444800))  # 2000 .. 2100
def test_api_epoch_seconds_and_milliseconds_give_one_date(seconds):
    day = datetime.fromtimestamp(seconds, CHINA).date().isoformat()
    assert listings._api_date({"display_publish_time": seconds}) == day
    assert listings._api_date({"display_publish_time": seconds * 1000}) == day
    assert listings._api_date({"display_publish_time": seconds * 1000 + 999}) == day


@pytest.mark.parametrize("odd", [True, float("inf"), float("nan"), 10**40, -1])
def test_odd_api_dates_are_none_not_errors(odd):
    assert listings._api_date({"date": odd}) is None


def test_tree_counts_and_full_width_catalogue_ids():
    html = ("<script>window._CONFIG = {TREE: [{id: 1, name: 'a', post_count: NaN}, {id: 2, name: 'b', "
            "post_count: '12'}, {id: 3, name: 'c', post_count: Infinity}]};</script>")
    assert [(c.id, c.post_count) for c in listings.gkmlpt_tree(html)] == [("1", None), ("2", 12), ("3", None)]
    assert listings.gkmlpt_find_catalog(html, "１１９３８") == "11938"  # typed with a Chinese input method
    assert listings.gkmlpt_wanted_catalog(None, "http://x.cn/gkmlpt/index#１１９３８") == "11938"
    assert listings.gkmlpt_page_count({"articles": [{}] * 10}) == listings.UNKNOWN_PAGES
    assert listings.gkmlpt_page_count({"articles": [{}] * 3}, 10) == 1
    data = {"articles": [{"url": "http://[#InfoURL#]/x.html"}, {"url": "/gkmlpt/content/1/1/post_1.html"}]}
    assert [u for u, _ in listings.gkmlpt_articles(data, "http://x.cn/gkmlpt/api/all/0")] == [
        "http://x.cn/gkmlpt/content/1/1/post_1.html"]


# --- URLs --------------------------------------------------------------------------------------------

def test_a_placeholder_href_does_not_lose_the_listing_page():
    """`href="http://[#InfoURL#]/"` (an unfilled TRS placeholder) raised ValueError for the whole page."""
    html = '<a href="http://[#InfoURL#]/">x</a><a href="/content/post_1.html">报告</a>'
    assert listings.page_links(Selector(text=html), "http://x.cn/list/") == [
        listings.Link("http://x.cn/content/post_1.html", "报告")]


def test_jump_is_dropped_without_re_encoding_the_rest_of_the_query():
    assert listings.canonical_url("http://x.cn/a?kw=%D6%D0&jump=true") == "http://x.cn/a?kw=%D6%D0"  # GBK kept
    assert listings.canonical_url("http://x.cn/a?flag&JUMP=true&id=2#7") == "http://x.cn/a?flag&id=2"
    assert listings.canonical_url("http://x.cn/a?id=1") != listings.canonical_url("http://x.cn/a?id=2")
    assert listings.canonical_url("http://[::1]:8080/a?jump=true") == "http://[::1]:8080/a"


@given(st.lists(st.text(alphabet="报告年度法治 -_.~%/?=&ab1", min_size=1, max_size=6), min_size=1, max_size=3),
       st.booleans())
def test_canonical_urls_are_what_scrapy_asks(segments, jump):
    url = "http://www.szgm.gov.cn/" + "/".join(segments) + ("?jump=true" if jump else "")
    canonical = listings.canonical_url(url)
    assert safe_url_string(canonical) == canonical  # Scrapy requests (and the archive stores) this very string
    assert listings.canonical_url(canonical) == canonical


def test_a_chinese_file_name_is_one_url_across_runs(tmp_path):
    """A report at `/content/post_年度报告.html`: the listing gave the raw URL, Scrapy asked (and the archive
    stored) the escaped one, so every later run fetched the report twice and gkmlpt never saw it known."""
    with FaultFarm(("cn",)) as farm:
        site = farm.sites["cn"]
        site.add_article("cn", listed=False)
        raw = "/content/post_年度报告.html"
        site.extra_links = [(raw, site.articles["cn"].title)]
        site.routes[quote(raw)] = lambda: _html(200, site.article_html("cn"))
        config = farm.sources_yaml(tmp_path / "sources.yaml")
        db = tmp_path / "archive.db"
        assert crawl(config, db, "fault-cn").returncode == 0
        asked = len([p for _, p, _ in site.requests if p == quote(raw)])
        assert asked == 1
        assert crawl(config, db, "fault-cn").returncode == 0
        assert len([p for _, p, _ in site.requests if p == quote(raw)]) == asked + 1
        assert [r["url"] for r in rows(db, "select url from documents")] == [site.url(quote(raw))]


# --- probe -------------------------------------------------------------------------------------------

@pytest.fixture(params=["cut", "not-http"])
def broken_server(request) -> Iterator[str]:
    """A 127.0.0.1 server that cuts its answer short (IncompleteRead) or does not speak HTTP."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    answer = (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 5000\r\n\r\n<html>"
              if request.param == "cut" else b"SSH-2.0-OpenSSH_8.9\r\n")

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                conn.sendall(answer)

    threading.Thread(target=serve, daemon=True).start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    listener.close()


@pytest.mark.parametrize("listing", ["html", "gkmlpt"])
def test_probe_says_cannot_reach_when_the_answer_breaks(broken_server, listing, tmp_path):
    config = tmp_path / "sources.yaml"
    entry = {"id": "broken", "name": "坏站", "district": "光明区", "listing": listing, "catalog": "0",
             "title_filter": "法治政府建设",
             "start_urls": [broken_server + ("/gkmlpt/index" if listing == "gkmlpt" else "/list/")],
             "article_urls": ["/content/"], "schedule": "every 6h"}
    config.write_text(__import__("yaml").safe_dump({"sources": [entry]}, allow_unicode=True), encoding="utf-8")
    out = io.StringIO()
    assert probe(load_config(config).get("broken"), out) == 1
    assert f"cannot reach {broken_server}" in out.getvalue(), out.getvalue()
