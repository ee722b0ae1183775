"""The revalidation stage (crawler/revalidate.py): an unchanged recrawl is settled with plain conditional
requests before Scrapy starts, everything else is handed to the Scrapy crawl without being asked twice,
and HTML listings are paged incrementally under the full-listing rule. Real HTTP to replica sites on
127.0.0.1, the real crawl (`python -m crawler.run`), real SQLite."""
from __future__ import annotations

from collections import Counter

import pytest

from crawler import guard
from crawler.politehttp import Answer, CrawlSettings, JudgedAnswer, Pacer, crawl_settings
from tests.crawling import crawl, rows
from tests.sites import ReplicaFarm, Request, Response
from tests.test_conditional import serve_with_validators

SOURCE = "replica-cms"


def _requests(farm: ReplicaFarm, since: int) -> Counter:
    """Requests to the cms site after the `since`-th, by path."""
    return Counter(path for path, _ in farm.fetched("cms")[since:])


def _setup(tmp_path, farm: ReplicaFarm, **settings):
    serve_with_validators(farm, "cms")
    base = {"DOWNLOAD_DELAY": 0, "AUTOTHROTTLE_ENABLED": False, "ZWGK_RETRY_BACKOFF": 0, **settings}
    config = farm.sources_yaml(tmp_path / "sources.yaml", defaults={"settings": base})
    db = tmp_path / "archive.db"
    done = crawl(config, db, SOURCE)
    assert done.returncode == 0, done.stderr[-2000:]
    return config, db


@pytest.mark.parametrize("attachments", [False, True])
def test_unchanged_recrawl_is_only_304s_each_asked_once_and_no_scrapy(tmp_path, attachments):
    """Without attachments to check, the run ends in the revalidation stage; a document that links
    attachments is handed to Scrapy (its attachments pipeline checks them), served the 304 already received."""
    with ReplicaFarm(sites=("cms",)) as farm:
        config, db = _setup(tmp_path, farm, ZWGK_ATTACHMENTS=attachments)
        site = farm.sites["cms"]
        reports = {e.url for e in farm.expected(1)}
        first = dict(rows(db, "select * from runs where id = 1")[0])
        assert first["full_listing"] == 1 and first["status"] == "ok"

        since = len(farm.fetched("cms"))
        done = crawl(config, db, SOURCE, extra=["--log-level", "INFO"])
        assert done.returncode == 0, done.stderr[-2000:]
        asked = _requests(farm, since)
        articles = {site.url(p) for p in asked if "/content/" in p}
        assert articles == reports and all(asked[p] == 1 for p in asked)  # one request per known document
        assert asked[site.column + "index.html"] == 1 and site.column + "index_1.html" not in asked  # page 1 only
        assert asked["/robots.txt"] == 1
        second = rows(db, "select * from fetches where run_id = 2")
        assert {(f["http_status"], f["outcome"]) for f in second} == {(304, "unchanged")}
        assert {f["url"] for f in second} == reports
        [run] = rows(db, "select * from runs where id = 2")
        assert run["status"] == "ok" and run["unchanged"] == len(reports) and run["pages_extracted"] == 0
        assert run["errors"] == 0 and run["new_revisions"] == 0 and run["finished_at"]
        assert run["full_listing"] == 0  # stopped at page 1: the next full listing is due within 7 days
        assert run["pages_fetched"] == sum(asked.values())
        if attachments:  # the report with attachments: its 304 and its files went through Scrapy
            assert "Spider closed (finished)" in done.stderr
            assert any(p.endswith((".pdf", ".docx")) for p in asked)
        else:
            assert "finished without Scrapy" in done.stderr and "[scrapy" not in done.stderr
        assert rows(db, "select count(*) n from revisions")[0]["n"] == len(reports)


def test_an_edit_a_new_report_and_a_withdrawal_are_each_asked_once(tmp_path):
    with ReplicaFarm(sites=("cms",)) as farm:
        config, db = _setup(tmp_path, farm)
        site, change = farm.sites["cms"], farm.changes["cms"]
        revisions = rows(db, "select count(*) n from revisions")[0]["n"]
        farm.set_state(2)  # one edit (new ETag), one withdrawal (404), one new report on listing page 1
        since = len(farm.fetched("cms"))
        done = crawl(config, db, SOURCE)
        assert done.returncode == 0, done.stderr[-2000:]
        asked = _requests(farm, since)
        # the edited page's 200 and the withdrawn page's 404 were received by the revalidation stage and
        # served to Scrapy's requests: no document is asked twice
        assert all(n == 1 for p, n in asked.items() if "/content/" in p), asked
        assert asked[change.edited] == 1 and asked[change.withdrawn] == 1 and asked[change.new] == 1
        fetched = {f["url"]: f for f in rows(db, "select * from fetches where run_id = 2")}
        assert fetched[site.url(change.edited)]["outcome"] == "changed"
        assert fetched[site.url(change.new)]["outcome"] == "new"
        assert fetched[site.url(change.withdrawn)]["outcome"] == "gone"
        assert rows(db, "select count(*) n from revisions")[0]["n"] == revisions + 2  # the edit and the new one
        [run] = rows(db, "select * from runs where id = 2")
        assert run["status"] == "ok" and run["pages_extracted"] == 2 and run["new_revisions"] == 2
        assert run["pages_fetched"] == sum(asked.values())


def test_a_back_dated_report_deep_in_the_listing_waits_for_the_full_listing(tmp_path):
    with ReplicaFarm(sites=("cms",)) as farm:
        site = farm.sites["cms"]
        last_page = site.column + "index_1.html"
        backdated = site.column.replace("index", "") + "content/post_10000001.html"
        extra = {"on": False}
        model = site.live(1)[-1]

        def listing(request: Request) -> Response:
            response = site.listing(1, farm.state)
            if extra["on"]:  # a report published late but dated long ago: listed on the last page
                link = f'<li><a href="{backdated}" title="{model.title}（补发）">{model.title}（补发）</a></li>'
                response.body = response.body.replace("</ul>", link + "</ul>", 1)
            return response

        def article(request: Request) -> Response:
            return Response(200, site.article_html(model, 1).replace(model.title, model.title + "（补发）"))

        site.add_route(last_page, listing)
        site.add_route(backdated, article)
        config, db = _setup(tmp_path, farm)
        extra["on"] = True
        assert crawl(config, db, SOURCE).returncode == 0  # incremental: page 1 holds nothing new
        assert not rows(db, "select * from documents where url = ?", [site.url(backdated)])
        assert rows(db, "select full_listing from runs where id = 2")[0]["full_listing"] == 0

        # the full-listing rule: no run read the whole listing within ZWGK_FULL_LISTING_DAYS
        config = farm.sources_yaml(tmp_path / "sources.yaml", defaults={"settings": {
            "DOWNLOAD_DELAY": 0, "AUTOTHROTTLE_ENABLED": False, "ZWGK_FULL_LISTING_DAYS": 0}})
        since = len(farm.fetched("cms"))
        assert crawl(config, db, SOURCE).returncode == 0
        [doc] = rows(db, "select * from documents where url = ?", [site.url(backdated)])
        assert doc["status"] == "live"
        assert rows(db, "select full_listing from runs where id = 3")[0]["full_listing"] == 1
        asked = _requests(farm, since)
        assert all(n == 1 for p, n in asked.items() if "/content/" in p), asked


def test_robots_txt_refusal_is_honoured_for_known_documents(tmp_path):
    with ReplicaFarm(sites=("cms",)) as farm:
        site = farm.sites["cms"]
        refused = {"path": None}

        def robots(request: Request) -> Response:
            rules = "User-agent: *\n" + (f"Disallow: {refused['path']}\n" if refused["path"] else "") + "Allow: /\n"
            return Response(200, rules, "text/plain")

        site.add_route("/robots.txt", robots)
        config, db = _setup(tmp_path, farm)
        refused["path"] = farm.changes["cms"].edited
        since = len(farm.fetched("cms"))
        done = crawl(config, db, SOURCE)
        assert done.returncode == 0, done.stderr[-2000:]
        asked = _requests(farm, since)
        assert refused["path"] not in asked and asked["/robots.txt"] == 1
        urls = {f["url"] for f in rows(db, "select * from fetches where run_id = 2")}
        assert site.url(refused["path"]) not in urls and urls
        assert rows(db, "select status from runs where id = 2")[0]["status"] == "ok"


def test_a_server_error_in_the_revalidation_stage_is_retried_by_scrapy_never_a_revision(tmp_path):
    with ReplicaFarm(sites=("cms",)) as farm:
        site, change = farm.sites["cms"], farm.changes["cms"]
        config, db = _setup(tmp_path, farm)
        failing = {"on": True}
        serve = site.routes[change.edited]

        def flaky(request: Request) -> Response:
            if failing["on"]:
                return Response(503, "<html><body>服务暂时不可用</body></html>")
            return serve(request)

        site.add_route(change.edited, flaky)
        revisions = rows(db, "select count(*) n from revisions")[0]["n"]
        since = len(farm.fetched("cms"))
        done = crawl(config, db, SOURCE)
        assert done.returncode == 1, done.stderr[-2000:]  # partial
        asked = _requests(farm, since)
        assert asked[change.edited] == 4  # the stage's request, then Scrapy's 3 retries (RETRY_TIMES)
        [failed] = rows(db, "select * from fetches where run_id = 2 and url = ?", [site.url(change.edited)])
        assert failed["outcome"] == "error" and failed["http_status"] == 503
        assert rows(db, "select count(*) n from revisions")[0]["n"] == revisions
        assert rows(db, "select status from runs where id = 2")[0]["status"] == "partial"

        failing["on"] = False  # next run: the error is not a confirmed fetch, the page is asked again
        assert crawl(config, db, SOURCE).returncode == 0
        [again] = rows(db, "select * from fetches where run_id = 3 and url = ?", [site.url(change.edited)])
        assert again["outcome"] in ("unchanged",) and rows(db, "select count(*) n from revisions")[0]["n"] == revisions


def test_requests_at_once_never_exceed_concurrent_requests_per_domain(tmp_path):
    with ReplicaFarm(sites=("cms",)) as farm:
        site = farm.sites["cms"]
        config, db = _setup(tmp_path, farm, CONCURRENT_REQUESTS_PER_DOMAIN=1)
        import threading
        import time

        state = {"now": 0, "most": 0}
        lock = threading.Lock()
        for path, serve in list(site.routes.items()):
            def counted(request: Request, serve=serve) -> Response:
                with lock:
                    state["now"] += 1
                    state["most"] = max(state["most"], state["now"])
                try:
                    time.sleep(0.02)  # long enough that a second connection would overlap
                    return serve(request)
                finally:
                    with lock:
                        state["now"] -= 1
            site.add_route(path, counted)
        assert crawl(config, db, SOURCE).returncode == 0
        assert state["most"] == 1
        assert {f["outcome"] for f in rows(db, "select * from fetches where run_id = 2")} == {"unchanged"}


# --- politeness, as pure logic ------------------------------------------------------------------------

class _Clock:
    """A clock that only moves when slept: the pacer's waits are counted, not timed."""

    def __init__(self) -> None:
        self.t = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds


def _pacer(monkeypatch, **settings) -> tuple[Pacer, _Clock]:
    clock = _Clock()
    monkeypatch.setattr("crawler.politehttp.time", clock)
    return Pacer(CrawlSettings({"CONCURRENT_REQUESTS_PER_DOMAIN": 2, **settings})), clock


def test_download_delay_spaces_request_starts(monkeypatch):
    pacer, clock = _pacer(monkeypatch, DOWNLOAD_DELAY=2.0, DOWNLOAD_DELAY_JITTER=0, AUTOTHROTTLE_ENABLED=False)
    for _ in range(5):
        pacer.wait()
    assert clock.sleeps == [2.0, 2.0, 2.0, 2.0]  # the first request goes at once, then one per delay

    pacer, clock = _pacer(monkeypatch, DOWNLOAD_DELAY=2.0, DOWNLOAD_DELAY_JITTER=0.5, AUTOTHROTTLE_ENABLED=False)
    for _ in range(50):
        pacer.wait()
    assert len(clock.sleeps) == 49 and all(1.0 <= s <= 3.0 for s in clock.sleeps)
    assert len(set(clock.sleeps)) > 1  # jittered

    pacer, clock = _pacer(monkeypatch, DOWNLOAD_DELAY=0, AUTOTHROTTLE_ENABLED=False)
    for _ in range(5):
        pacer.wait()
    assert clock.sleeps == []


def test_autothrottle_starts_at_its_start_delay_and_304s_never_lower_it(monkeypatch):
    pacer, clock = _pacer(monkeypatch, DOWNLOAD_DELAY=0.5, DOWNLOAD_DELAY_JITTER=0, AUTOTHROTTLE_ENABLED=True,
                          AUTOTHROTTLE_START_DELAY=1.0, AUTOTHROTTLE_MAX_DELAY=30.0,
                          AUTOTHROTTLE_TARGET_CONCURRENCY=1.0)
    assert pacer.delay == 1.0
    pacer.observe(0.01, 304)  # a fast 304 does not lower the delay (Scrapy: only a 200 may)
    assert pacer.delay == 1.0
    pacer.observe(0.01, 200)
    assert pacer.delay == 0.505  # the mean of 1.0 and 0.01, within [DOWNLOAD_DELAY, max]
    pacer.observe(0.01, 200)
    assert pacer.delay == 0.5  # never below DOWNLOAD_DELAY
    pacer.observe(8.0, 304)  # a slow answer raises it, whatever its status
    assert pacer.delay == 8.0
    pacer.observe(100.0, 200)
    assert pacer.delay == 30.0


def test_settings_are_the_projects_with_the_source_and_command_line_over_them():
    values = crawl_settings({"DOWNLOAD_DELAY": 3, "USER_AGENT": "source"}, {"USER_AGENT": "cmdline"})
    assert values["DOWNLOAD_DELAY"] == 3 and values["USER_AGENT"] == "cmdline"
    assert values.getbool("ROBOTSTXT_OBEY") is True and values.getint("CONCURRENT_REQUESTS_PER_DOMAIN") == 2
    assert CrawlSettings({"A": "false", "B": "1", "C": "2.5"}).getbool("A") is False
    assert CrawlSettings({"B": "1"}).getbool("B") is True and CrawlSettings({"C": "2.5"}).getfloat("C") == 2.5


def test_an_answer_is_judged_by_the_guard_as_a_scrapy_response_would_be():
    import gzip

    page = "<html><head><title>法治政府建设年度报告</title></head><body>" + "<p>依法行政。</p>" * 50 + "</body></html>"
    answer = Answer("http://127.0.0.1/a.html", 200, [("Content-Type", "text/html; charset=gbk"),
                                                      ("Content-Encoding", "gzip")], gzip.compress(page.encode("gbk")))
    verdict = guard.judge(JudgedAnswer(answer))
    assert verdict.kind == "ok" and "依法行政" in verdict.text and verdict.encoding.lower().startswith("gb")
    challenge = Answer("http://127.0.0.1/b.html", 200, [("Set-Cookie", "acw_sc__v2=abc; path=/")], b"<html></html>")
    assert guard.judge(JudgedAnswer(challenge)).kind == "blocked"


def test_the_stage_stops_sending_after_a_few_failed_or_challenged_answers(tmp_path):
    from crawler.revalidate import TROUBLE_LIMIT, Stage
    from crawler.sources import load_config

    with ReplicaFarm(sites=("cms",)) as farm:
        config = farm.sources_yaml(tmp_path / "sources.yaml")
        source = load_config(config).get(SOURCE)
        stage = Stage(source, crawl_settings(source.settings, {}), str(tmp_path / "a.db"), None)
        page = "<html><body>" + "<p>依法行政,全面推进法治政府建设。</p>" * 40 + "</body></html>"
        for _ in range(10):  # good answers (a changed page, a 404) are not trouble
            stage._note_trouble(Answer("http://127.0.0.1/a.html", 200, [("Content-Type", "text/html")], page.encode()))
            stage._note_trouble(Answer("http://127.0.0.1/b.html", 404, [], b"<html>404</html>"))
        assert not stage.halt.is_set()
        challenge = Answer("http://127.0.0.1/c.html", 200, [("Set-Cookie", "__jsluid_h=1; path=/")], b"<html></html>")
        troubles = [Answer("http://127.0.0.1/d.html", 503, [], b""), ConnectionRefusedError(111, "refused"), challenge]
        for trouble in troubles[:TROUBLE_LIMIT - 1]:
            stage._note_trouble(trouble)
        assert not stage.halt.is_set()
        stage._note_trouble(troubles[TROUBLE_LIMIT - 1])
        assert stage.halt.is_set()
        assert type(stage._ask((farm.sites["cms"].url("/robots.txt"), None, None))).__name__ == "Halted"
