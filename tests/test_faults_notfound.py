"""Soft 404s (status 200 pages that say the page does not exist) and redirects of an article to the
site's home page or an error page are not-found: `gone` only if the document was known, never a revision.
A redirect to another host is never followed."""
from __future__ import annotations

import pytest
from scrapy.http import HtmlResponse

from crawler import guard
from tests.sites.faults import FaultFarm, assert_history_kept, assert_never_archived, fault_run

NOT_FOUND = ["http-404", "soft404-title", "soft404-deleted", "soft404-bare", "redirect-home", "redirect-index",
             "redirect-error", "redirect-offsite-home"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return fault_run(tmp_path_factory.mktemp("notfound"), [*NOT_FOUND, "redirect-offsite"])


@pytest.mark.parametrize("fault", NOT_FOUND)
def test_known_document_becomes_gone_with_history(run, fault):
    [fetch] = run.fetches(f"known-{fault}")
    assert fetch["outcome"] == "gone", fetch
    assert_history_kept(run, f"known-{fault}", status="gone")


@pytest.mark.parametrize("fault", NOT_FOUND)
def test_new_document_is_not_found_and_not_archived(run, fault):
    [fetch] = run.fetches(f"new-{fault}")
    assert fetch["outcome"] == "not-found", fetch
    assert_never_archived(run, f"new-{fault}")


def test_offsite_redirect_is_an_error_and_never_followed(run):
    [known] = run.fetches("known-redirect-offsite")
    [new] = run.fetches("new-redirect-offsite")
    assert known["outcome"] == new["outcome"] == "error"
    assert "localhost" in known["error"]
    assert_history_kept(run, "known-redirect-offsite")
    assert_never_archived(run, "new-redirect-offsite")
    # the same server under the host name "localhost" never saw a request
    assert run.site.served(host="localhost") == []


def test_run_counts_gone_documents(run):
    assert run.second.returncode == 1, run.second.stderr[-2000:]  # partial: the off-host redirect errors
    row = run.run(2)
    assert row["gone"] == len(NOT_FOUND) and row["new_revisions"] == 0


def test_reports_that_mention_missing_pages_stay_ok():
    """A real report that says "页面不存在" or "404" in its text is not a soft 404."""
    with FaultFarm(("ok",)) as farm:
        site = farm.sites["ok"]
        site.add_article("a")
        html = site.article_html("a", paragraphs=(*site.articles["a"].paragraphs,
                                                  "全年整改网站“页面不存在”等错误链接404个。"))
    response = HtmlResponse("http://127.0.0.1/content/post_a.html", body=html.encode(),
                            headers={"Content-Type": "text/html; charset=utf-8"})
    assert guard.judge(response).kind == "ok"
