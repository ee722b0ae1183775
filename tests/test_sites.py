"""The replica sites over real HTTP: encodings, pagination, gkmlpt API, state-2 changes, volatile chrome."""
from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from html import unescape

import pytest
import yaml

from crawler.extract import gkmlpt_detail
from tests.sites import ReplicaFarm
from tests.sites.seeds import seed_body


def fetch(url: str) -> tuple[int, str, bytes]:
    """(status, content-type, body) of a GET, including error statuses."""
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.headers["Content-Type"], resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers["Content-Type"], err.read()


def visible_text(html: str) -> str:
    return unescape(re.sub(r"<[^>]+>", "", html))


def body_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line]


def test_seed_bodies_have_no_chrome() -> None:
    for seed in ("000", "001", "002", "003", "004"):
        body = "\n".join(seed_body(seed))
        assert body, seed
        for chrome in ("扫一扫", "分享到", "字号", "字体【", "视力保护色", "来源:", "触碰右侧展开"):
            assert chrome not in body, (seed, chrome)
        assert not any(line.startswith("\u3000") for line in seed_body(seed))
    assert any("构建坪山区“五调融合”调解工作法" in p for p in seed_body("000"))  # broken line re-joined


def test_trs_page_is_gbk_and_holds_the_body(replica: ReplicaFarm) -> None:
    trs = replica.sites["trs"]
    report = next(e for e in replica.expected(1) if e.site == "trs" and "科技创新局2024" in e.title)
    status, ctype, raw = fetch(report.url)
    assert status == 200 and "charset=gbk" in ctype
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    page = raw.decode("gbk")
    assert 'content="text/html; charset=gbk"' in page
    text = visible_text(page)
    for line in body_lines(report.body):
        assert line in text
    for chrome in ("当前位置", "来源:坪山区科技创新局", "发布时间:2025-02-25", "字体【", "视力保护色", "打印本页",
                   "关闭窗口", "上一篇", "下一篇", "浏览次数", "版权所有", "网站标识码", "粤ICP备"):
        assert chrome in text, chrome
    assert re.search(r"今天是\d{4}年\d{1,2}月\d{1,2}日 星期.", text)
    assert trs.base_url.startswith("http://127.0.0.1:")


def test_trs_pagination_exists_only_in_script(replica: ReplicaFarm) -> None:
    base = replica.sites["trs"].url("/zwgk/fzzfjsbg/")
    status, _, raw = fetch(base + "index.html")
    page = raw.decode("gbk")
    assert status == 200
    assert 'createPageHTML(3, 0, "index", "html");' in page
    assert "index_1.html" not in page and "index_2.html" not in page
    for name in ("index_1.html", "index_2.html"):
        status, _, raw = fetch(base + name)
        assert status == 200 and "/content/post_" in raw.decode("gbk")
    assert fetch(base + "index_3.html")[0] == 404
    assert ("trs", "/zwgk/fzzfjsbg/index_2.html", 200) in replica.requests


def test_table_and_attachments_are_served(replica: ReplicaFarm) -> None:
    with_table = next(e for e in replica.expected(1) if " | " in e.body)
    page = fetch(with_table.url)[2].decode("gbk")
    assert "<table" in page and "行政规范性文件备案审查率" in page
    with_files = [e for e in replica.expected(1) if e.attachments]
    assert {url.rsplit(".", 1)[1] for e in with_files for _, url in e.attachments} >= {"pdf", "docx"}
    for expected in with_files:
        for _, url in expected.attachments:
            status, _, raw = fetch(url)
            assert status == 200 and raw[:4] in (b"%PDF", b"PK\x03\x04")


def test_cms_meta_tags_disclosure_table_and_next_links(replica: ReplicaFarm) -> None:
    cms = replica.sites["cms"]
    report = next(e for e in replica.expected(1) if e.site == "cms" and "人民政府2024" in e.title)
    page = fetch(report.url)[2].decode("utf-8")
    assert f'<meta name="ArticleTitle" content="{report.title}">' in page
    assert '<meta name="PubDate" content="2024-12-31' in page
    assert '<meta name="ContentSource" content="南山区人民政府">' in page
    for label in ("索引号", "发布机构", "成文日期", "文号", "主题词", "有效性", "您现在的位置", "分享到",
                  "扫一扫在手机打开当前页", "我要纠错", "相关文章"):
        assert label in page, label
    listing = fetch(cms.url("/xxgk/fzzfjsndbg/index.html"))[2].decode()
    assert '<a href="index_1.html">下一页</a>' in listing
    assert fetch(cms.url("/xxgk/fzzfjsndbg/index_1.html"))[0] == 200


def test_news_listing_mixes_unrelated_items(replica: ReplicaFarm) -> None:
    news = replica.sites["news"]
    listing = fetch(news.url("/news/fz/index.htm"))[2].decode()
    titles = re.findall(r'<a href="/news/content/[^"]+" target="_blank">([^<]+)</a>', listing)
    kept = [t for t in titles if re.search(news.title_filter, t)]
    assert 0 < len(kept) < len(titles)
    assert sorted(kept) == sorted(e.title for e in replica.expected(1) if e.site == "news")
    report = next(e for e in replica.expected(1) if e.site == "news" and e.title == "坪山区2024年法治建设成效显著")
    page = fetch(report.url)[2].decode()
    assert "/news/content/2025-01/26/content_" in report.url
    for prompt in ("手机扫一扫打开当前页面", "扫码下载坪山发布APP(安卓版)", "微信里点“发现”,扫一下", "责任编辑"):
        assert prompt in page
    assert report.body.startswith("深圳新闻网2025年1月26日讯")


def test_gkmlpt_api_paginates_and_detail_parses_back(replica: ReplicaFarm) -> None:
    gk = replica.sites["gkmlpt"]
    shell = fetch(gk.url("/gkmlpt/index"))[2].decode()
    assert "window._CONFIG = {SID: '755041'" in shell
    tree = json.loads(re.search(r"TREE: (\[.*?\]), API_BASE", shell).group(1))
    assert '"id": 11938, "name": "法治政府建设年度报告"' in json.dumps(tree, ensure_ascii=False)
    pages, urls = [], []
    for page in (1, 2, 3):
        data = json.loads(fetch(gk.url(f"/gkmlpt/api/all/11938?page={page}&sid=755041"))[2])
        pages.append(len(data["articles"]))
        urls += [a["url"].split("#")[0] for a in data["articles"]]  # the API adds #<catalogue>
    live = [e for e in replica.expected(1, include_non_reports=True) if e.site == "gkmlpt"]
    assert data["classify"]["post_count"] == len(live) and pages == [10, len(live) - 10, 0]
    assert sorted(urls) == sorted(e.url for e in live)
    assert fetch(gk.url("/gkmlpt/api/all/11938?page=1&sid=1"))[0] == 404
    report = next(e for e in live if e.publisher == "光明区")
    page = fetch(report.url)[2].decode()
    detail = gkmlpt_detail(page)  # DETAIL inside the window._CONFIG object literal, content JSON-escaped
    assert detail["title"] == report.title and detail["publisher"] == "光明区"
    assert body_lines(visible_text(detail["content"].replace("</p>", "</p>\n"))) == body_lines(report.body)
    assert report.body.splitlines()[0] not in visible_text(page.split("<body>", 1)[1].split("<script", 1)[0])


def test_state_two_changes_exactly_what_farm_changes_says(replica: ReplicaFarm) -> None:
    before = {e.url: e for e in replica.expected(1, include_non_reports=True)}
    replica.set_state(2)
    after = {e.url: e for e in replica.expected(2, include_non_reports=True)}
    assert set(before) - set(after) == replica.change_urls("withdrawn")
    assert set(after) - set(before) == replica.change_urls("new")
    changed = {url for url in set(before) & set(after) if before[url] != after[url]}
    assert changed == replica.change_urls("edited")
    for key, change in replica.changes.items():
        site = replica.sites[key]
        assert fetch(site.url(change.withdrawn))[0] == 404
        assert fetch(site.url(change.new))[0] == 200
        page = fetch(site.url(change.edited))[2].decode(site.charset)
        if key == "gkmlpt":
            page = gkmlpt_detail(page)["content"]
        assert change.new_figure in page and change.old_figure not in page
        assert change.removed_sentence not in page
        assert change.removed_sentence in before[site.url(change.edited)].body
    news_new = f'href="{replica.changes["news"].new}"'
    assert news_new in fetch(replica.sites["news"].url("/news/fz/index.htm"))[2].decode()
    trs_first = fetch(replica.sites["trs"].url("/zwgk/fzzfjsbg/index.html"))[2].decode("gbk")
    assert replica.changes["trs"].new.rsplit("/", 1)[1] in trs_first


def test_counter_differs_between_fetches(replica: ReplicaFarm) -> None:
    url = next(e.url for e in replica.expected(1) if e.site == "trs")
    first, second = (fetch(url)[2].decode("gbk") for _ in range(2))
    counts = [re.search(r'id="viewcount">(\d+)<', page).group(1) for page in (first, second)]
    assert counts[0] != counts[1] and first != second


def test_robots_404_and_sources_yaml(replica: ReplicaFarm, replica_config) -> None:
    for site in replica.sites.values():
        status, _, robots = fetch(site.url("/robots.txt"))
        assert status == 200 and b"Disallow: /private/" in robots
        status, _, page = fetch(site.url("/no/such/page.html"))
        assert status == 404 and "页面不存在" in page.decode(site.charset)
        assert fetch(site.url("/"))[0] == 200
    config = yaml.safe_load(replica_config.read_text(encoding="utf-8"))
    assert config["defaults"]["settings"] == {"DOWNLOAD_DELAY": 0, "AUTOTHROTTLE_ENABLED": False}
    by_id = {s["id"]: s for s in config["sources"]}
    assert set(by_id) == {"replica-trs", "replica-cms", "replica-news", "replica-gkmlpt"}
    assert by_id["replica-gkmlpt"]["listing"] == "gkmlpt"
    for source in config["sources"]:
        assert fetch(source["start_urls"][0])[0] == 200


def test_article_pages_cover_every_live_article() -> None:
    with ReplicaFarm(sites=("trs", "gkmlpt")) as farm:
        pages = farm.article_pages(1)
        assert {url for url, _, _ in pages} == {e.url for e in farm.expected(1, include_non_reports=True)}
        assert all(expected.title in html for _, html, expected in pages)
        assert farm.requests == []
