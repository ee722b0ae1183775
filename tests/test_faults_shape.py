"""Size and shape: pages over the size limit, binaries served as text/html, empty and broken pages, bodies
far shorter than the last revision, listings that link to themselves or paginate forever, links to other
hosts and to pages robots.txt forbids."""
from __future__ import annotations

import pytest

from tests.crawling import crawl, rows
from tests.sites.faults import FaultFarm, assert_history_kept, assert_never_archived, fault_run, squash

BAD_SHAPES = ["oversize", "pdf-as-html", "png-as-html", "binary-as-html", "empty", "whitespace"]
MAX_SIZE = 200_000


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return fault_run(tmp_path_factory.mktemp("shape"), [*BAD_SHAPES, "malformed", "short"],
                     settings={"DOWNLOAD_MAXSIZE": MAX_SIZE, "DOWNLOAD_WARNSIZE": MAX_SIZE // 2})


@pytest.mark.parametrize("fault", BAD_SHAPES)
def test_bad_shape_is_an_error_and_nothing_is_archived(run, fault):
    [known] = run.fetches(f"known-{fault}")
    [new] = run.fetches(f"new-{fault}")
    assert known["outcome"] == new["outcome"] == "error", (known, new)
    assert known["error"]
    assert_history_kept(run, f"known-{fault}")
    assert_never_archived(run, f"new-{fault}")


def test_malformed_html_still_reads_right(run):
    assert [f["outcome"] for f in run.fetches("known-malformed")] == ["unchanged"]
    [revision] = run.revisions("new-malformed")
    assert squash(revision["text"]) == squash(run.site.articles["new-malformed"].text)


def test_short_body_is_held_back_as_suspect(run):
    [fetch] = run.fetches("known-short")
    assert fetch["outcome"] == "suspect"
    assert_history_kept(run, "known-short")
    # a page never seen before has nothing to be compared with: it is simply new
    assert [f["outcome"] for f in run.fetches("new-short")] == ["new"]


def test_suspect_body_becomes_a_revision_only_when_it_repeats(tmp_path):
    with FaultFarm(("short",)) as farm:
        site = farm.sites["short"]
        site.add_article("a")
        config = farm.sources_yaml(tmp_path / "sources.yaml")
        db = tmp_path / "archive.db"
        assert crawl(config, db, "fault-short").returncode == 0
        site.faults["a"] = "short"
        crawl(config, db, "fault-short")
        crawl(config, db, "fault-short")
    outcomes = [r["outcome"] for r in rows(db, "SELECT outcome FROM fetches WHERE url LIKE '%post_a.html' ORDER BY id")]
    assert outcomes == ["new", "suspect", "changed"]
    texts = [r["text"] for r in rows(db, "SELECT text FROM revisions ORDER BY id")]
    assert len(texts) == 2 and len(texts[1]) < len(texts[0]) / 2


def test_listings_that_loop_or_never_end_are_bounded(tmp_path):
    with FaultFarm(("endless", "loop")) as farm:
        endless, loop = farm.sites["endless"], farm.sites["loop"]
        endless.pagination, loop.pagination = "endless", "self"
        for site in (endless, loop):
            site.add_article("a")
            site.extra_links = [  # a report link on another host name, one robots.txt forbids
                (site.offsite_url("/content/post_offsite.html"), "深圳市另一区2024年法治政府建设年度报告"),
                ("/private/content/post_secret.html", "内部2024年法治政府建设年度报告"),
            ]
        config = farm.sources_yaml(tmp_path / "sources.yaml", settings={"ZWGK_MAX_LISTING_PAGES": 5})
        db = tmp_path / "archive.db"
        results = {key: crawl(config, db, farm.source_id(key), timeout=60) for key in farm.sites}
    for key, done in results.items():
        assert done.returncode == 0, f"{key}: {done.stderr[-2000:]}"
    assert 5 <= len(endless.served("listing", "/list/")) <= 6
    assert loop.served("listing", "/list/") == ["/list/index.html"]
    for site in (endless, loop):
        assert site.served(host="localhost") == [], "the crawler left the source's host"
        assert site.served(path_prefix="/private/") == [], "robots.txt was not honoured"
        assert site.served()[0] == "/robots.txt"
    docs = rows(db, "SELECT url FROM documents")
    assert sorted(d["url"] for d in docs) == sorted(s.article_url("a") for s in (endless, loop))
