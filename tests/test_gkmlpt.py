"""gkmlpt as deployed: the real spider against a department-prefixed replica whose pages carry DETAIL in
the `window._CONFIG` object literal (content JSON-escaped) and whose API gives `#<catalogue>` URLs; every
report is archived once with its body, and a daily rerun reads one API page. URL canonicalisation is
checked with Hypothesis."""
from __future__ import annotations

import json
import re
from urllib.parse import parse_qsl, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crawler import listings
from crawler.sources import ConfigError, load_config
from tests.crawling import crawl, rows
from tests.sites import ReplicaFarm
from tests.sites.server import Response


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text or "")



def write_config(farm: ReplicaFarm, path, **overrides):
    return farm.sources_yaml(path, **overrides)


def test_department_site_archives_every_report_with_its_body(dept, tmp_path):
    site = dept.sites["gkmlpt"]
    assert site.url("/gkmlpt/index").endswith("/gmsfj/gkmlpt/index")
    config = write_config(dept, tmp_path / "sources.yaml", catalog="0")  # 0: every article, title_filter picks
    db = tmp_path / "archive.db"
    done = crawl(config, db, "replica-gkmlpt")
    assert done.returncode == 0, done.stderr[-3000:]
    expected = {e.url: e for e in dept.expected(1)}
    docs = {d["url"]: d for d in rows(db, "select * from documents")}
    assert set(docs) == set(expected)  # one document per report: no #fragment, no ?jump=true duplicates
    assert all("#" not in url and "jump" not in url and "/gmsfj/gkmlpt/content/" in url for url in docs)
    for url, exp in expected.items():
        [rev] = rows(db, "select * from revisions where document_id = ?", [docs[url]["id"]])
        assert squash(rev["text"]) == squash(exp.body), url
        assert docs[url]["title"] == exp.title and docs[url]["published"] == exp.published
    api = [p for p, _ in dept.fetched("gkmlpt", "/gmsfj/gkmlpt/api/all/")]
    assert api and all(p.startswith("/gmsfj/gkmlpt/api/all/0?page=") for p in api)
    assert "page=0" not in " ".join(api)
    assert rows(db, "select status from runs") == [{"status": "ok"}]


def test_daily_rerun_reads_one_api_page(dept, tmp_path):
    """Incremental listing: with 4 articles a page, the first run reads every page; the rerun stops after
    the first page, which holds only known, unchanged documents, yet every known report is still asked."""
    site = dept.sites["gkmlpt"]
    site.per_page = 4
    config = write_config(dept, tmp_path / "sources.yaml", catalog="0")
    db = tmp_path / "archive.db"
    assert crawl(config, db, "replica-gkmlpt").returncode == 0
    listed = len(site.catalogue(0, 1))
    pages = -(-listed // 4)
    assert pages >= 3
    first = [p for p, _ in dept.fetched("gkmlpt", "/gmsfj/gkmlpt/api/")]
    assert len(first) == pages
    dept.requests.clear()
    done = crawl(config, db, "replica-gkmlpt")
    assert done.returncode == 0, done.stderr[-3000:]
    second = [p for p, _ in dept.fetched("gkmlpt", "/gmsfj/gkmlpt/api/")]
    assert second == ["/gmsfj/gkmlpt/api/all/0?page=1&sid=755041"]
    asked = {p.split("?")[0] for p, _ in dept.fetched("gkmlpt", "/gmsfj/gkmlpt/content/")}
    assert {urlsplit(e.url).path for e in dept.expected(1)} <= asked
    runs = rows(db, "select status, new_documents from runs order by id")
    assert runs[-1] == {"status": "ok", "new_documents": 0}
    # a new report on top of the first page is found by the next daily run, still from one page
    dept.set_state(2)
    dept.requests.clear()
    assert crawl(config, db, "replica-gkmlpt").returncode == 0
    new_url = dept.sites["gkmlpt"].url(dept.changes["gkmlpt"].new)
    assert rows(db, "select count(*) n from documents where url = ?", [new_url]) == [{"n": 1}]


def test_a_server_that_ignores_page_is_read_once(dept, tmp_path):
    """Some deployments answer every `page` with page 1 (page 0 always is): the repeat ends the paging."""
    site = dept.sites["gkmlpt"]
    site.per_page = 4
    real_api = site.api
    site.api = lambda catalog, query, state: real_api(catalog, {**query, "page": "1"}, state)
    config = write_config(dept, tmp_path / "sources.yaml", catalog="0")
    assert crawl(config, tmp_path / "archive.db", "replica-gkmlpt").returncode == 0
    assert len(dept.fetched("gkmlpt", "/gmsfj/gkmlpt/api/")) == 2  # page 1, then page 2 = page 1 again


# --- URL canonicalisation ------------------------------------------------------------------------------

segments = st.text(alphabet=st.characters(whitelist_categories=("Ll", "Nd"), max_codepoint=127), min_size=1,
                   max_size=8)
hosts = st.sampled_from(["www.szpsq.gov.cn", "127.0.0.1:8080", "www.dpxq.gov.cn", "gxj.sz.gov.cn"])
params = st.lists(st.tuples(st.sampled_from(["id", "page", "sid", "a"]), segments), max_size=3)


@st.composite
def urls(draw) -> tuple[str, str, list[tuple[str, str]]]:
    path = "/" + "/".join(draw(st.lists(segments, min_size=1, max_size=4))) + ".html"
    return draw(hosts), path, draw(params)


def build(host: str, path: str, query: list[tuple[str, str]], fragment: str = "") -> str:
    q = "&".join(f"{k}={v}" for k, v in query)
    return f"http://{host}{path}" + (f"?{q}" if q else "") + (f"#{fragment}" if fragment else "")


@given(urls(), st.text(max_size=10), st.booleans(), st.integers(0, 3))
def test_canonical_url_drops_fragments_and_jump_only(parts, fragment, upper, jump_at):
    host, path, query = parts
    plain = listings.canonical_url(build(host, path, query))
    with_jump = list(query)
    with_jump.insert(min(jump_at, len(query)), ("jump", "true"))
    noisy = build(host.upper() if upper else host, path, with_jump, fragment.replace("#", ""))
    canonical = listings.canonical_url(noisy)
    assert canonical == plain
    assert listings.canonical_url(canonical) == canonical  # idempotent
    split = urlsplit(canonical)
    assert split.fragment == "" and split.path == path
    assert parse_qsl(split.query, keep_blank_values=True) == query  # other parameters kept, in order


@given(st.sampled_from(["", "/gmsfj", "/pskjcxfws", "/a/b"]), st.sampled_from(["index", "index#2972", "",
                                                                              "content/1/2/post_3.html"]),
       st.integers(0, 99999), st.integers(-1, 50))
def test_api_url_keeps_the_platform_prefix(prefix, tail, catalog, page):
    url = listings.gkmlpt_api_url(f"http://www.szpsq.gov.cn{prefix}/gkmlpt/{tail}", str(catalog), "755325", page)
    assert url == f"http://www.szpsq.gov.cn{prefix}/gkmlpt/api/all/{catalog}?page={max(page, 1)}&sid=755325"


def test_page_is_known_rules():
    base = "http://x.cn/gkmlpt/api/all/0?page=1&sid=1"
    data = {"articles": [
        {"url": "http://x.cn/gkmlpt/content/1/1/post_1.html#0", "title": "报告", "date": "2025-02-01"},
        {"url": "http://x.cn/gkmlpt/content/1/1/post_2.html", "title": "通知", "date": "2025-01-01"}]}
    report = ["http://x.cn/gkmlpt/content/1/1/post_1.html"]
    known = {report[0]: "2025-02-01"}
    assert listings.gkmlpt_page_is_known(data, base, report, known, "2025-02-01")
    assert not listings.gkmlpt_page_is_known(data, base, report, {}, None)  # nothing archived yet
    assert not listings.gkmlpt_page_is_known(data, base, report, {report[0]: "2025-01-31"}, "2025-02-01")
    assert not listings.gkmlpt_page_is_known(data, base, report, known, "2024-12-31")  # a newer non-report
    assert listings.gkmlpt_page_is_known({"articles": []}, base, [], known, "2025-02-01")


def test_catalogue_from_the_start_url_fragment(dept, tmp_path):
    """`…/gkmlpt/index#11938`, as the platform links a catalogue, needs no `catalog` key."""
    site = dept.sites["gkmlpt"]
    config = write_config(dept, tmp_path / "sources.yaml", catalog=None,
                          start_urls=[site.url("/gkmlpt/index") + "#11938"])
    db = tmp_path / "archive.db"
    done = crawl(config, db, "replica-gkmlpt")
    assert done.returncode == 0, done.stderr[-3000:]
    assert {r["url"] for r in rows(db, "select url from documents")} == {e.url for e in dept.expected(1)}
    assert all(p.startswith("/gmsfj/gkmlpt/api/all/11938?") for p, _ in dept.fetched("gkmlpt", "/gmsfj/gkmlpt/api/"))
    bad = write_config(dept, tmp_path / "bad.yaml", catalog=None)  # no catalog, no fragment
    with pytest.raises(ConfigError, match="catalog"):
        load_config(bad)


# --- red team of issue 11: backlogs, busy answers, duplicates, catalogue 0 -----------------------------

QUICK = {"DOWNLOAD_DELAY": 0, "AUTOTHROTTLE_ENABLED": False, "RETRY_TIMES": 0}


def api_pages(farm: ReplicaFarm) -> list[int]:
    return [int(dict(parse_qsl(urlsplit(p).query))["page"]) for p, _ in farm.fetched("gkmlpt", "/gmsfj/gkmlpt/api/")]


def test_a_backlog_left_by_a_failed_run_is_read(dept, tmp_path):
    """Run 1 reads page 1 and gets a 500 for page 2: pages 2+ are a backlog. Page 1 is then known, yet the
    next runs must not stop there until a run has read the whole listing; after that, one page a day."""
    site = dept.sites["gkmlpt"]
    site.per_page = 4
    real_api = site.api
    site.api = lambda catalog, query, state: (real_api(catalog, query, state) if query.get("page") == "1"
                                              else Response(500, "busy", "text/plain"))
    config = write_config(dept, tmp_path / "sources.yaml", catalog="0", settings=QUICK)
    db = tmp_path / "archive.db"
    crawl(config, db, "replica-gkmlpt")
    assert rows(db, "select status, full_listing from runs") == [{"status": "partial", "full_listing": 0}]
    site.api = real_api
    pages = -(-len(site.catalogue(0, 1)) // 4)
    for _ in range(2):
        dept.requests.clear()
        done = crawl(config, db, "replica-gkmlpt")
        assert done.returncode == 0, done.stderr[-3000:]
    assert {r["url"] for r in rows(db, "select url from documents")} == {e.url for e in dept.expected(1)}
    assert rows(db, "select status, full_listing from runs order by id")[1:] == [
        {"status": "ok", "full_listing": 1}, {"status": "ok", "full_listing": 0}]
    assert api_pages(dept) == [1]  # the third run, after a clean full read: incremental again
    # a full read older than ZWGK_FULL_LISTING_DAYS (0 here: any) no longer allows stopping early
    stale = write_config(dept, tmp_path / "stale.yaml", catalog="0",
                         settings={**QUICK, "ZWGK_FULL_LISTING_DAYS": 0})
    dept.requests.clear()
    assert crawl(stale, db, "replica-gkmlpt").returncode == 0
    assert api_pages(dept) == list(range(1, pages + 1))


def test_a_busy_api_answer_is_a_logged_listing_failure(dept, tmp_path):
    """`200 {"code":500,"msg":"系统繁忙"}` has no `articles` list: not an empty page but a failed one."""
    site = dept.sites["gkmlpt"]
    site.per_page = 4
    real_api = site.api
    busy = json.dumps({"code": 500, "msg": "系统繁忙"}, ensure_ascii=False)
    site.api = lambda catalog, query, state: (real_api(catalog, query, state) if query.get("page") == "1"
                                              else Response(200, busy, "application/json"))
    config = write_config(dept, tmp_path / "sources.yaml", catalog="0", settings=QUICK)
    db = tmp_path / "archive.db"
    assert crawl(config, db, "replica-gkmlpt").returncode == 1  # a partial run
    [run] = rows(db, "select status, errors, full_listing from runs")
    assert run == {"status": "partial", "errors": 1, "full_listing": 0}
    [failure] = rows(db, "select url, outcome, error from fetches where url like '%/gkmlpt/api/%'")
    assert "page=2" in failure["url"] and failure["outcome"] == "error"
    assert "no articles list" in failure["error"] and "系统繁忙" in failure["error"]


def test_an_article_listed_twice_does_not_end_paging(dept, tmp_path):
    """Page 2 holds one article twice (`#0` and `#11938`): 4 entries, 3 URLs — still a full page."""
    site = dept.sites["gkmlpt"]
    site.per_page = 4
    site.duplicate = 4  # the first entry of page 2, listed again second
    config = write_config(dept, tmp_path / "sources.yaml", catalog="0")
    db = tmp_path / "archive.db"
    done = crawl(config, db, "replica-gkmlpt")
    assert done.returncode == 0, done.stderr[-3000:]
    pages = -(-(len(site.catalogue(0, 1)) + 1) // 4)
    assert pages >= 3 and api_pages(dept) == list(range(1, pages + 1))
    assert {r["url"] for r in rows(db, "select url from documents")} == {e.url for e in dept.expected(1)}


def test_catalogue_0_needs_a_title_filter(dept, tmp_path):
    config = write_config(dept, tmp_path / "sources.yaml", catalog="0", title_filter=None)
    with pytest.raises(ConfigError, match=r"source 'replica-gkmlpt': field 'title_filter': required with catalog 0"):
        load_config(config)
    assert load_config(write_config(dept, tmp_path / "ok.yaml", catalog="0", title_filter="报告"))
