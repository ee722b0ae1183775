"""Red-team tests of the revalidation stage of a recrawl (crawler/revalidate.py, issue 16): servers that
misbehave in ways real sites do, against the rules the stage must keep (robots.txt, DOWNLOAD_TIMEOUT,
DOWNLOAD_DELAY, the runs row, the archive). Real HTTP to replica sites on 127.0.0.1, the real crawl
(`python -m crawler.run`), real SQLite; no mocks."""
from __future__ import annotations

import time
from collections import Counter

import pytest

from tests.crawling import crawl, rows
from tests.sites import ReplicaFarm, Request, Response
from tests.test_conditional import serve_with_validators

SOURCE = "replica-cms"
QUICK = {"DOWNLOAD_DELAY": 0, "AUTOTHROTTLE_ENABLED": False, "ZWGK_RETRY_BACKOFF": 0}


def _asked(farm: ReplicaFarm, since: int) -> Counter:
    return Counter(path for path, _ in farm.fetched("cms")[since:])


def _first_crawl(tmp_path, farm: ReplicaFarm, **settings):
    serve_with_validators(farm, "cms")
    config = farm.sources_yaml(tmp_path / "sources.yaml", defaults={"settings": {**QUICK, **settings}})
    db = tmp_path / "archive.db"
    done = crawl(config, db, SOURCE)
    assert done.returncode == 0, done.stderr[-2000:]
    return config, db


def test_robots_txt_that_redirects_is_followed_before_any_document_is_asked(tmp_path):
    """robots.txt answered with a redirect (a site moved to https or a new CMS path): Scrapy's robots.txt
    middleware follows it and obeys the rules found there. The stage must not read the 301's body as an
    empty robots.txt (everything allowed) and ask documents the site forbids."""
    with ReplicaFarm(sites=("cms",)) as farm:
        site = farm.sites["cms"]
        forbidden = farm.changes["cms"].edited
        moved = {"on": False}

        def robots(request: Request) -> Response:
            if moved["on"]:
                return Response(301, "<html><body>301 Moved Permanently</body></html>",
                                headers={"Location": site.url("/robots-new.txt")})
            return Response(200, "User-agent: *\nAllow: /\n", "text/plain")

        site.add_route("/robots.txt", robots)
        site.add_route("/robots-new.txt",
                       lambda request: Response(200, f"User-agent: *\nDisallow: {forbidden}\n", "text/plain"))
        config, db = _first_crawl(tmp_path, farm)
        moved["on"] = True
        since = len(farm.fetched("cms"))
        done = crawl(config, db, SOURCE)
        assert done.returncode == 0, done.stderr[-2000:]
        asked = _asked(farm, since)
        assert asked["/robots-new.txt"] == 1 and asked["/robots.txt"] == 1  # the stage's 301 was served to Scrapy
        assert forbidden not in asked, asked  # forbidden by the robots.txt the redirect leads to
        assert site.url(forbidden) not in {f["url"] for f in rows(db, "select url from fetches where run_id = 2")}


def test_a_body_trickling_past_download_timeout_is_a_timeout_not_a_page(tmp_path):
    """DOWNLOAD_TIMEOUT is the time a whole download may take (Scrapy cancels it then, and retries). A
    server that sends a page one piece at a time, each piece well within the timeout but the whole far
    beyond it, must end as a timed-out fetch (an error, retried), never as a page received and archived."""
    with ReplicaFarm(sites=("cms",)) as farm:
        site = farm.sites["cms"]
        slow_path = farm.changes["cms"].edited
        config, db = _first_crawl(tmp_path, farm, DOWNLOAD_TIMEOUT=2, RETRY_TIMES=1)
        article = site.find(slow_path, farm.state)
        body = site.article_html(article, farm.state).encode(site.charset)
        serve = site._serve
        finished = []

        def trickle(http, head: bool) -> None:
            if http.path != slow_path:
                return serve(http, head)
            farm.log_request("cms", http.path, 200)
            http.send_response(200)
            http.send_header("Content-Type", f"text/html; charset={site.charset}")
            http.send_header("Content-Length", str(len(body)))
            http.send_header("ETag", '"slow-new"')
            http.end_headers()
            pieces = [body[i:i + len(body) // 16 + 1] for i in range(0, len(body), len(body) // 16 + 1)]
            try:
                for piece in pieces:  # 16 pieces 0.5 s apart: ~8 s in all, four times DOWNLOAD_TIMEOUT
                    http.wfile.write(piece)
                    http.wfile.flush()
                    time.sleep(0.5)
            except OSError:
                return
            finished.append(http.path)

        site._serve = trickle
        revisions = rows(db, "select count(*) n from revisions")[0]["n"]
        done = crawl(config, db, SOURCE)
        [fetch] = rows(db, "select * from fetches where run_id = 2 and url = ?", [site.url(slow_path)])
        assert fetch["outcome"] == "error" and fetch["http_status"] in (None, 0), (fetch, done.stderr[-1500:])
        assert rows(db, "select count(*) n from revisions")[0]["n"] == revisions
        assert rows(db, "select status from runs where id = 2")[0]["status"] == "partial"


def _gate(farm: ReplicaFarm, path: str):
    """Hold requests for `path` at the server until released: (entered, release) events."""
    import threading

    site = farm.sites["cms"]
    serve = site.routes[path]
    entered, release = threading.Event(), threading.Event()

    def held(request: Request) -> Response:
        entered.set()
        release.wait(90)
        return serve(request)

    site.add_route(path, held)
    return entered, release


def _start_crawl(config, db, *extra: str):
    import os
    import subprocess
    import sys

    from tests.crawling import ROOT

    cmd = [sys.executable, "-m", "crawler.run", "--source", SOURCE, "--config", str(config), "--db", str(db),
           "--log-level", "INFO", *extra]
    return subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_second_crawl_while_the_stage_runs_is_refused_and_the_first_completes(tmp_path):
    with ReplicaFarm(sites=("cms",)) as farm:
        config, db = _first_crawl(tmp_path, farm)
        entered, release = _gate(farm, farm.changes["cms"].edited)
        first = _start_crawl(config, db)
        try:
            assert entered.wait(60), "the stage never asked the held document"
            second = crawl(config, db, SOURCE, extra=["--log-level", "INFO"])
        finally:
            release.set()
            out, err = first.communicate(timeout=120)
        assert first.returncode == 0, err[-2000:]
        assert second.returncode != 0 and "being crawled already" in second.stderr, second.stderr[-2000:]
        runs = rows(db, "select * from runs order by id")
        assert [r["status"] for r in runs if r["id"] > 1] in (["ok"], ["ok", "locked"], ["locked", "ok"]), runs
        [mine] = [r for r in runs if r["id"] > 1 and r["status"] == "ok"]
        fetched = rows(db, "select url, count(*) n from fetches where run_id > 1 group by url")
        assert fetched and all(f["n"] == 1 for f in fetched)  # one fetch per document, from the first crawl
        assert {f["run_id"] for f in rows(db, "select run_id from fetches where run_id > 1")} == {mine["id"]}


def test_kill_9_during_the_stage_leaves_a_sound_archive_and_the_next_run_completes(tmp_path):
    import os
    import signal
    import sqlite3

    with ReplicaFarm(sites=("cms",)) as farm:
        config, db = _first_crawl(tmp_path, farm)
        revisions = rows(db, "select count(*) n from revisions")[0]["n"]
        entered, release = _gate(farm, farm.changes["cms"].edited)
        victim = _start_crawl(config, db)
        try:
            assert entered.wait(60)
            os.kill(victim.pid, signal.SIGKILL)
            victim.communicate(timeout=60)
        finally:
            release.set()
        conn = sqlite3.connect(db)
        try:
            assert conn.execute("pragma integrity_check").fetchone()[0] == "ok"
        finally:
            conn.close()
        done = crawl(config, db, SOURCE)
        assert done.returncode == 0, done.stderr[-2000:]
        from crawler.jobs import abandon_stale_runs

        assert abandon_stale_runs(db) == [2]  # what the scheduler does with a run whose process is gone
        runs = {r["id"]: r for r in rows(db, "select * from runs")}
        assert runs[2]["status"] == "abandoned" and runs[3]["status"] == "ok", runs
        assert {f["outcome"] for f in rows(db, "select * from fetches where run_id = 3")} == {"unchanged"}
        assert rows(db, "select count(*) n from revisions")[0]["n"] == revisions


def test_after_a_challenge_page_the_stage_sends_nothing_more(tmp_path):
    """A WAF starts answering every report with a cookie challenge (200, `Set-Cookie: acw_sc__v2`). A normal
    crawl slows to ZWGK_BLOCKED_DELAY (30 s) after the first challenge and stops after ZWGK_BLOCKED_LIMIT;
    the stage must not first send its own quota of challenged requests at DOWNLOAD_DELAY pace. The real
    stage against the real archive, one request at a time: exactly one challenged request (counted)."""
    from crawler.politehttp import crawl_settings
    from crawler.revalidate import Stage
    from crawler.sources import load_config

    with ReplicaFarm(sites=("cms",)) as farm:
        site = farm.sites["cms"]
        config, db = _first_crawl(tmp_path, farm, CONCURRENT_REQUESTS_PER_DOMAIN=1)
        challenge = Response(200, "<html><head><script>var arg1='3F1A';</script></head><body></body></html>",
                             headers={"Set-Cookie": "acw_sc__v2=5f3c1a; path=/; max-age=3600"})
        for article in site.live(farm.state):
            site.add_route(article.path, lambda request: challenge)
        source = load_config(config).get(SOURCE)
        since = len(farm.fetched("cms"))
        result = Stage(source, crawl_settings(source.settings, {}), str(db), None).run()
        asked = _asked(farm, since)
        assert sum(n for p, n in asked.items() if "/content/" in p) == 1, asked
        assert result is not None and result.status is None and not result.settled  # all left to Scrapy
        [(key, answer)] = [(k, a) for k, a in result.prefetched.items() if "/content/" in k[0]]
        assert answer.status == 200 and key[1]  # served to Scrapy's conditional request, judged there


def test_one_challenge_page_halts_the_stage(tmp_path):
    from crawler.politehttp import Answer, crawl_settings
    from crawler.revalidate import Stage
    from crawler.sources import load_config

    with ReplicaFarm(sites=("cms",)) as farm:
        source = load_config(farm.sources_yaml(tmp_path / "sources.yaml")).get(SOURCE)
        stage = Stage(source, crawl_settings(source.settings, {}), str(tmp_path / "a.db"), None)
        stage._note_trouble(Answer("http://127.0.0.1/a.html", 304, [], b""))
        stage._note_trouble(Answer("http://127.0.0.1/b.html", 503, [], b""))
        assert not stage.halt.is_set()
        stage._note_trouble(Answer("http://127.0.0.1/c.html", 200, [("Set-Cookie", "acw_sc__v2=1; path=/")],
                                   b"<html></html>"))
        assert stage.halt.is_set()


def test_the_time_limit_covers_the_stage_and_scrapy_together(tmp_path):
    """`--time-limit` bounds the whole run: when the stage hands over to Scrapy, Scrapy's CLOSESPIDER_TIMEOUT
    is what is left of it, not the whole limit again (else Scrapy's clean stop comes after the lifeline's
    hard exit at limit + grace). Read from Scrapy's own "Overridden settings" log line, not timed."""
    import re

    with ReplicaFarm(sites=("cms",)) as farm:
        config, db = _first_crawl(tmp_path, farm)
        farm.set_state(2)  # an edit and a new report: the stage hands over to Scrapy
        done = crawl(config, db, SOURCE, extra=["--log-level", "INFO", "--time-limit", "600"])
        assert done.returncode == 0, done.stderr[-2000:]
        [limit] = re.findall(r"'CLOSESPIDER_TIMEOUT': ([\d.]+)", done.stderr)
        assert 0 < float(limit) < 600


def test_handing_over_to_scrapy_keeps_download_delay_after_the_stages_last_request(monkeypatch):
    """Scrapy's download slot starts empty and sends its first request at once: the stage, when it hands
    over, waits out the delay due after its own last request start (cut short by a stop)."""
    import threading

    from crawler.politehttp import CrawlSettings, Fetcher
    from tests.test_revalidate import _Clock

    clock = _Clock()
    monkeypatch.setattr("crawler.politehttp.time", clock)
    fetcher = Fetcher(CrawlSettings({"DOWNLOAD_DELAY": 2.0, "DOWNLOAD_DELAY_JITTER": 0,
                                     "AUTOTHROTTLE_ENABLED": False, "CONCURRENT_REQUESTS_PER_DOMAIN": 1}))
    for _ in range(3):
        fetcher.pacer("127.0.0.1").wait()
    assert clock.sleeps == [2.0, 2.0]
    fetcher.wait_out(threading.Event())
    assert sum(clock.sleeps[2:]) == pytest.approx(2.0)  # the delay due after the third request start
    clock.sleeps.clear()
    fetcher.pacer("127.0.0.1").wait()
    stop = threading.Event()
    stop.set()
    fetcher.wait_out(stop)
    assert clock.sleeps == []  # stopped: no wait


def test_sigterm_during_the_stage_ends_the_run_interrupted_and_the_next_run_completes(tmp_path):
    import os
    import signal

    with ReplicaFarm(sites=("cms",)) as farm:
        config, db = _first_crawl(tmp_path, farm)
        farm.set_state(2)  # something changed: without the stop, Scrapy would be started after the stage
        entered, release = _gate(farm, farm.changes["cms"].edited)
        crawling = _start_crawl(config, db)
        try:
            assert entered.wait(60)
            os.kill(crawling.pid, signal.SIGTERM)
        finally:
            release.set()
        out, err = crawling.communicate(timeout=120)
        assert crawling.returncode == 3, err[-2000:]
        assert "Spider opened" not in err  # stopped in the stage: Scrapy never started
        [run] = rows(db, "select * from runs where id = 2")
        assert run["status"] == "interrupted" and run["finished_at"] and run["full_listing"] == 0, run
        assert rows(db, "select count(*) n from fetches where run_id = 2 and outcome not in "
                        "('unchanged', 'error')")[0]["n"] == 0  # nothing but 304s is stored by the stage
        done = crawl(config, db, SOURCE)
        assert done.returncode == 0, done.stderr[-2000:]
        assert rows(db, "select status from runs where id = 3")[0]["status"] == "ok"
        change = farm.changes["cms"]
        outcomes = {f["url"]: f["outcome"] for f in rows(db, "select * from fetches where run_id = 3")}
        site = farm.sites["cms"]
        assert outcomes[site.url(change.edited)] == "changed" and outcomes[site.url(change.new)] == "new"


def test_the_stage_never_holds_the_archive_write_lock_while_it_waits_on_the_network(tmp_path):
    """Group commit keeps a write transaction open between pages; the stage must commit it when due even
    while its next answer is slow to come (a hanging server), or every other writer of the archive (another
    source's crawl, the scheduler's run rows) waits on it for as long as the server does."""
    import sqlite3

    with ReplicaFarm(sites=("cms",)) as farm:
        config, db = _first_crawl(tmp_path, farm, CONCURRENT_REQUESTS_PER_DOMAIN=1, ZWGK_ATTACHMENTS=False)
        site = farm.sites["cms"]
        [last] = rows(db, "select url from documents order by id desc limit 1")
        entered, release = _gate(farm, last["url"].removeprefix(site.base_url))
        crawling = _start_crawl(config, db)
        try:
            assert entered.wait(60)  # every other document answered 304 (one request at a time), in a group
            others = rows(db, "select count(*) n from documents")[0]["n"] - 1
            conn = sqlite3.connect(db, timeout=20, isolation_level=None)
            try:
                for _ in range(600):  # until the other documents' 304s are committed (each turn, the lock got)
                    conn.execute("BEGIN IMMEDIATE")  # another writer: gets the lock, whatever the server does
                    pending = conn.execute("select count(*) from fetches where run_id = 2").fetchone()[0]
                    conn.execute("ROLLBACK")
                    if pending == others:
                        break
                    time.sleep(0.1)
            finally:
                conn.close()
        finally:
            release.set()
            out, err = crawling.communicate(timeout=120)
        assert pending == others  # the 304s before the held request were committed, not held
        assert crawling.returncode == 0, err[-2000:]
        assert rows(db, "select status from runs where id = 2")[0]["status"] == "ok"


def test_a_listing_the_stage_failed_to_read_but_scrapy_read_whole_is_a_full_listing(tmp_path, monkeypatch):
    """The stage's request for the (one-page) listing dies (connection closed without an answer); Scrapy asks
    it again, reads it whole: the run read the whole listing, and runs.full_listing must say so."""
    import tests.sites.cms

    monkeypatch.setattr(tests.sites.cms, "PER_PAGE", 100)  # every report on one listing page
    with ReplicaFarm(sites=("cms",)) as farm:
        site = farm.sites["cms"]
        config, db = _first_crawl(tmp_path, farm)
        assert rows(db, "select full_listing from runs where id = 1")[0]["full_listing"] == 1
        listing, serve, failures = site.column + "index.html", site._serve, []

        def once_dropped(http, head: bool) -> None:
            if http.path == listing and not failures:
                failures.append(http.path)
                http.close_connection = True  # hang up without a word
                return
            return serve(http, head)

        site._serve = once_dropped
        since = len(farm.fetched("cms"))
        done = crawl(config, db, SOURCE)
        assert done.returncode == 0, done.stderr[-2000:]
        assert failures and _asked(farm, since)[listing] == 1  # the retry (the dropped one is not logged)
        [run] = rows(db, "select * from runs where id = 2")
        assert run["status"] == "ok" and run["full_listing"] == 1, run


def test_weak_etags_last_modified_only_a_changed_etag_on_304_and_an_identical_200(tmp_path):
    """Validators as servers send them: a weak ETag, Last-Modified only, a 304 that carries a new ETag (the
    next run must send the new one), and a page without validators answered 200 with the same body (no
    revision). Nothing is stored but `unchanged`, every run ends ok."""
    with ReplicaFarm(sites=("cms",)) as farm:
        site = farm.sites["cms"]
        reports = {e.url for e in farm.expected(1)}
        articles = [a for a in site.live(farm.state) if site.url(a.path) in reports][:4]
        assert len(articles) == 4
        sent: list[tuple[str, str | None, str | None]] = []
        renamed = {"on": False}

        def handler(request: Request) -> Response:
            article = site.find(request.path, farm.state)
            i = articles.index(article)
            headers = {k.lower(): v for k, v in request.headers.items()}
            inm, ims = headers.get("if-none-match"), headers.get("if-modified-since")
            sent.append((request.path, inm, ims))
            body = site.article_html(article, farm.state)
            if i == 0:
                tag = f'W/"{article.key}"'
                return Response(304, b"", headers={"ETag": tag}) if inm == tag else Response(200, body, headers={
                    "ETag": tag})
            if i == 1:
                stamp = "Mon, 02 Jan 2023 03:04:05 GMT"
                return Response(304, b"") if ims == stamp else Response(200, body, headers={"Last-Modified": stamp})
            if i == 2:
                tag = f'"{article.key}-{2 if renamed["on"] else 1}"'
                return Response(304, b"", headers={"ETag": tag}) if inm else Response(200, body, headers={"ETag": tag})
            return Response(200, body)  # no validators: the same body every time

        for article in articles:
            site.add_route(article.path, handler)
        config = farm.sources_yaml(tmp_path / "sources.yaml", defaults={"settings": QUICK})
        db = tmp_path / "archive.db"
        assert crawl(config, db, SOURCE).returncode == 0
        revisions = rows(db, "select count(*) n from revisions")[0]["n"]
        renamed["on"] = True
        for run in (2, 3):
            sent.clear()
            done = crawl(config, db, SOURCE)
            assert done.returncode == 0, done.stderr[-2000:]
            outcomes = {f["url"]: (f["http_status"], f["outcome"])
                        for f in rows(db, "select * from fetches where run_id = ?", [run])}
            by_path = {path: (inm, ims) for path, inm, ims in sent}
            assert by_path[articles[0].path][0] == f'W/"{articles[0].key}"'
            assert by_path[articles[1].path] == (None, "Mon, 02 Jan 2023 03:04:05 GMT")
            assert by_path[articles[2].path][0] == f'"{articles[2].key}-{1 if run == 2 else 2}"'
            assert by_path[articles[3].path] == (None, None)
            assert [outcomes[site.url(a.path)] for a in articles] == [(304, "unchanged")] * 3 + [(200, "unchanged")]
            assert all(n == 1 for n in Counter(p for p, _, _ in sent).values()), sent
            assert rows(db, "select status from runs where id = ?", [run])[0]["status"] == "ok"
        assert rows(db, "select count(*) n from revisions")[0]["n"] == revisions


def test_no_request_is_sent_after_sigterm_even_one_waiting_for_its_download_delay(tmp_path):
    """SIGTERM while a request waits for its DOWNLOAD_DELAY turn: it is not sent when its turn comes
    (counted at the server: nothing after the request in flight when the signal came)."""
    import os
    import signal

    with ReplicaFarm(sites=("cms",)) as farm:
        config, db = _first_crawl(tmp_path, farm, CONCURRENT_REQUESTS_PER_DOMAIN=1, ZWGK_ATTACHMENTS=False)
        [first] = rows(db, "select url from documents order by id limit 1")
        path = first["url"].removeprefix(farm.sites["cms"].base_url)
        since = len(farm.fetched("cms"))
        farm.sources_yaml(tmp_path / "sources.yaml", defaults={"settings": {
            **QUICK, "CONCURRENT_REQUESTS_PER_DOMAIN": 1, "ZWGK_ATTACHMENTS": False, "DOWNLOAD_DELAY": 4,
            "DOWNLOAD_DELAY_JITTER": 0, "RANDOMIZE_DOWNLOAD_DELAY": False}})
        crawling = _start_crawl(config, db)
        while path not in _asked(farm, since) and crawling.poll() is None:  # answered: the next one waits 4 s
            time.sleep(0.01)
        os.kill(crawling.pid, signal.SIGTERM)
        out, err = crawling.communicate(timeout=120)
        log = [p for p, _ in farm.fetched("cms")[since:]]
        assert log[log.index(path) + 1:] == [], log  # nothing sent after the signal
        assert crawling.returncode == 3, err[-2000:]
        assert rows(db, "select status from runs where id = 2")[0]["status"] == "interrupted"
