"""Redirects, with the real spider against replica sites on 127.0.0.1: followed within the source's host
(another port of the same host stands for http -> https), at most 5 hops; the document stays the URL the
listing named and the fetch records where the redirects ended; a redirect home or to a listing page means
the report is gone; off the host it is logged, not followed."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.crawling import crawl, rows
from tests.sites.faults import FaultFarm, _html


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    work: Path = tmp_path_factory.mktemp("redirects")
    with FaultFarm(("redir", "other")) as farm:
        site, other = farm.sites["redir"], farm.sites["other"]
        for slug in ("clean", "moved", "https", "chain", "home", "listing", "merged"):
            site.add_article(slug)
        config = farm.sources_yaml(work / "sources.yaml")
        # the listing itself moved: its old address answers 301 (listings follow redirects too)
        data = yaml.safe_load(config.read_text(encoding="utf-8"))
        source = next(s for s in data["sources"] if s["id"] == "fault-redir")
        source["start_urls"] = [site.url("/old-list/")]
        data["sources"] = [source]
        config.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        site.routes["/old-list/"] = lambda: _html(301, "", Location="/list/index.html")
        db = work / "archive.db"
        first = crawl(config, db, "fault-redir")

        def page(slug):
            return lambda: _html(200, site.article_html(slug))

        def to(location):
            return lambda: _html(301, "", Location=location)

        site.add_article("new-moved")
        site.routes[site.article_path("moved")] = to("/reorganised/moved.html")
        site.routes["/reorganised/moved.html"] = page("moved")
        site.routes[site.article_path("new-moved")] = lambda: _html(302, "", Location="/reorganised/new.html")
        site.routes["/reorganised/new.html"] = page("new-moved")
        site.routes[site.article_path("https")] = to(other.url("/content/post_https.html"))
        other.routes["/content/post_https.html"] = page("https")
        site.routes[site.article_path("chain")] = to("/hop/1")
        for n in range(1, 7):
            site.routes[f"/hop/{n}"] = to(f"/hop/{n + 1}")
        site.routes["/hop/7"] = page("chain")
        site.routes[site.article_path("home")] = lambda: _html(302, "", Location="/")
        site.routes[site.article_path("listing")] = lambda: _html(303, "", Location=site.url("/list/index.html"))
        site.routes[site.article_path("merged")] = to(site.article_path("clean"))  # to another known report
        second = crawl(config, db, "fault-redir")
        yield {"site": site, "other": other, "db": db, "first": first, "second": second}


def fetch_of(run, slug: str) -> dict:
    url = run["site"].article_url(slug)
    found = rows(run["db"], "select f.* from fetches f where f.url = ? and f.run_id = (select max(id) from runs)",
                 [url])
    assert len(found) == 1, (slug, found, run["second"].stderr[-2000:])
    return found[0]


def test_first_run_followed_the_moved_listing(run):
    assert run["first"].returncode == 0, run["first"].stderr[-2000:]
    assert rows(run["db"], "select status, new_documents from runs order by id limit 1") == [
        {"status": "ok", "new_documents": 7}]


def test_same_host_301_keeps_the_document_and_records_the_final_url(run):
    fetch = fetch_of(run, "moved")
    assert fetch["outcome"] == "unchanged" and fetch["http_status"] == 200
    assert fetch["final_url"] == run["site"].url("/reorganised/moved.html")
    urls = {r["url"] for r in rows(run["db"], "select url from documents")}
    assert run["site"].url("/reorganised/moved.html") not in urls  # no duplicate for the new address
    new = fetch_of(run, "new-moved")
    assert new["outcome"] == "new" and new["final_url"] == run["site"].url("/reorganised/new.html")
    assert run["site"].article_url("new-moved") in urls


def test_same_host_other_port_is_followed(run):
    fetch = fetch_of(run, "https")  # 127.0.0.1:A -> 127.0.0.1:B, as http://host -> https://host
    assert fetch["outcome"] == "unchanged"
    assert fetch["final_url"] == run["other"].url("/content/post_https.html")


def test_more_than_five_hops_is_an_error_not_a_revision(run):
    fetch = fetch_of(run, "chain")
    assert fetch["outcome"] == "error" and fetch["http_status"] == 301
    assert "more than 5 redirects" in fetch["error"]
    assert [p for _, p, _ in run["site"].requests if p.startswith("/hop/")] == [f"/hop/{n}" for n in range(1, 6)]
    [doc] = rows(run["db"], "select status from documents where url = ?", [run["site"].article_url("chain")])
    assert doc["status"] == "live"


@pytest.mark.parametrize("slug", ["home", "listing"])
def test_redirect_home_or_to_the_listing_means_gone(run, slug):
    fetch = fetch_of(run, slug)
    assert fetch["outcome"] == "gone", fetch
    assert fetch["final_url"]
    [doc] = rows(run["db"], "select d.status, count(r.id) n from documents d join revisions r "
                            "on r.document_id = d.id where d.url = ?", [run["site"].article_url(slug)])
    assert doc == {"status": "gone", "n": 1}
    assert rows(run["db"], "select status from runs order by id")[-1]["status"] in ("ok", "partial")


def test_redirect_to_another_known_report_means_gone_and_stores_nothing(run):
    """A withdrawn report sent to another report of the archive: that page's text is not a revision of it."""
    site = run["site"]
    fetch = fetch_of(run, "merged")
    assert fetch["outcome"] == "gone" and fetch["final_url"] == site.article_url("clean")
    assert fetch["error"] == f"redirects to another report: {site.article_url('clean')}"
    counts = {r["url"]: (r["status"], r["n"]) for r in rows(
        run["db"], "select d.url, d.status, count(r.id) n from documents d join revisions r "
                   "on r.document_id = d.id group by d.id")}
    assert counts[site.article_url("merged")] == ("gone", 1)
    assert counts[site.article_url("clean")] == ("live", 1)
    assert fetch_of(run, "clean")["outcome"] == "unchanged"
