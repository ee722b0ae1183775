"""WAF / anti-bot challenge answers, as Chinese government sites send them, are `blocked`: logged, the run
partial, no revision, and after a few of them the source's crawl slows, then stops for the run."""
from __future__ import annotations

import pytest
from scrapy.http import HtmlResponse

from crawler import guard
from tests.crawling import crawl
from tests.sites.faults import FAULTS, FaultFarm, assert_history_kept, assert_never_archived, fault_run

CHALLENGES = ["ruishu-412", "ruishu-202", "ruishu-200", "jiasule-521", "jiasule-200", "aliyun-acw",
              "chuangyu-418", "chuangyu-200", "captcha", "too-frequent", "too-frequent-429", "cookie-script"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    # ZWGK_BLOCKED_LIMIT 0: never stop, so every kind of challenge page is fetched and judged
    return fault_run(tmp_path_factory.mktemp("challenge"), CHALLENGES, settings={"ZWGK_BLOCKED_LIMIT": 0})


@pytest.mark.parametrize("fault", CHALLENGES)
def test_challenge_on_a_known_document(run, fault):
    [fetch] = run.fetches(f"known-{fault}")
    assert fetch["outcome"] == "blocked", fetch
    assert_history_kept(run, f"known-{fault}")


@pytest.mark.parametrize("fault", CHALLENGES)
def test_challenge_on_a_new_document(run, fault):
    [fetch] = run.fetches(f"new-{fault}")
    assert fetch["outcome"] == "blocked", fetch
    assert_never_archived(run, f"new-{fault}")


def test_run_with_challenges_is_partial(run):
    assert run.first.returncode == 0, run.first.stderr[-2000:]
    assert run.second.returncode == 1, run.second.stderr[-2000:]
    row = run.run(2)
    assert row["status"] == "partial" and row["blocked"] == 2 * len(CHALLENGES)
    assert row["new_revisions"] == 0


def test_source_stops_after_repeated_challenges(tmp_path):
    """A site that challenges every page: the listing and a few articles are tried, then the source stops."""
    with FaultFarm(("waf",)) as farm:
        site = farm.sites["waf"]
        for n in range(8):
            site.add_article(f"a{n}")
        config = farm.sources_yaml(tmp_path / "sources.yaml", settings={
            "ZWGK_BLOCKED_LIMIT": 2, "CONCURRENT_REQUESTS_PER_DOMAIN": 1, "DOWNLOAD_DELAY": 0.2})
        db = tmp_path / "archive.db"
        assert crawl(config, db, "fault-waf").returncode == 0
        site.requests.clear()
        site.listing_fault = "ruishu-412"
        for slug in site.articles:
            site.faults[slug] = "ruishu-412"
        done = crawl(config, db, "fault-waf")
    assert done.returncode == 3, done.stderr[-2000:]  # nothing could be archived: failed
    from tests.crawling import rows

    [row] = rows(db, "SELECT * FROM runs WHERE id = 2")
    assert row["status"] == "failed" and row["message"].startswith("no page could be archived (0 errors, 2")
    assert "stopped after 2 blocked responses" in row["message"]
    challenged = site.served("ruishu-412")
    assert 2 <= len(challenged) <= 4, challenged  # the limit, plus what was already in flight
    assert len(challenged) < 1 + len(site.articles)
    outcomes = {r["outcome"] for r in rows(db, "SELECT outcome FROM fetches WHERE run_id = 2")}
    assert outcomes == {"blocked"}
    assert rows(db, "SELECT count(*) n FROM revisions")[0]["n"] == len(site.articles)
    assert {r["status"] for r in rows(db, "SELECT status FROM documents")} == {"live"}
    # the listing's 412 came through Scrapy's HttpError path and is still logged as blocked
    assert rows(db, "SELECT outcome FROM fetches WHERE run_id = 2 AND url LIKE '%/list/index.html'")[0][
        "outcome"] == "blocked"


def _response(html: str, status: int = 200) -> HtmlResponse:
    return HtmlResponse("http://127.0.0.1/content/post_x.html", status=status, body=html.encode("utf-8"),
                        headers={"Content-Type": "text/html; charset=utf-8"})


def test_real_pages_that_mention_challenge_words_stay_ok():
    """A full report page whose chrome has a login box with 验证码, a cookie script and a $_ts variable
    (瑞数 leaves one on pages it lets through) is not a challenge page."""
    with FaultFarm(("ok",)) as farm:
        site = farm.sites["ok"]
        site.add_article("a")
        html = site.article_html("a")
    html = html.replace('<div class="footer">', '<div class="login">用户名<input> 验证码<input> '
                        '<a href="/login">登录</a></div><script>$_ts=window["$_ts"];document.cookie="v=1";</script>'
                        '<div class="footer">')
    assert guard.judge(_response(html)).kind == "ok"


@pytest.mark.parametrize("fault", CHALLENGES)
def test_guard_names_the_challenge(fault):
    with FaultFarm(("g",)) as farm:
        site = farm.sites["g"]
        site.add_article("a")
        answer = FAULTS[fault](site, "a")
    body = answer.body.encode() if isinstance(answer.body, str) else answer.body
    response = HtmlResponse("http://127.0.0.1/content/post_a.html", status=answer.status, body=body,
                            headers={"Content-Type": answer.content_type, **answer.headers})
    verdict = guard.judge(response)
    assert verdict.kind == "blocked" and verdict.reason, verdict
