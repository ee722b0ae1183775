"""Cheap recrawls: conditional requests answered 304 are recorded as unchanged without extracting the page
again (but never stand for a revision that was not confirmed), and extraction in worker processes where
a crashing worker costs one page."""
from __future__ import annotations

import asyncio
import os

import pytest

from archive import store
from archive.db import connect
from crawler.extract import Page
from crawler.workers import ExtractorPool, WorkerCrashed
from tests.crawling import crawl, rows
from tests.sites import ReplicaFarm, Request, Response


def serve_with_validators(farm: ReplicaFarm, key: str) -> None:
    """Every article of one replica site answers with an ETag (per article and state) and honours
    If-None-Match with 304, as a static CMS behind nginx does."""
    site = farm.sites[key]

    def handler(request: Request) -> Response:
        article = site.find(request.path, farm.state)
        if article is None:
            return site.not_found()
        edited = farm.state == 2 and article.path == farm.changes[key].edited
        etag = f'"{article.key}-{2 if edited else 1}"'
        asked = {k.lower(): v for k, v in request.headers.items()}.get("if-none-match")
        if asked == etag:
            return Response(304, b"", headers={"ETag": etag})
        return Response(200, site.article_html(article, farm.state), headers={"ETag": etag})

    for state in (1, 2):
        for article in site.live(state):
            site.add_route(article.path, handler)


def test_recrawl_asks_conditionally_and_304_is_unchanged_without_extraction(tmp_path):
    with ReplicaFarm(sites=("cms",)) as farm:
        serve_with_validators(farm, "cms")
        config = farm.sources_yaml(tmp_path / "sources.yaml")
        db = tmp_path / "archive.db"
        reports = {e.url for e in farm.expected(1)}

        assert crawl(config, db, "replica-cms").returncode == 0
        first = rows(db, "select * from fetches where run_id = 1")
        assert {f["url"] for f in first} == reports and all(f["etag"] for f in first)

        assert crawl(config, db, "replica-cms").returncode == 0
        second = rows(db, "select * from fetches where run_id = 2")
        assert {(f["http_status"], f["outcome"]) for f in second} == {(304, "unchanged")}
        assert {f["url"] for f in second} == reports
        [run] = rows(db, "select * from runs where id = 2")
        assert run["pages_extracted"] == 0 and run["unchanged"] == len(reports) and run["status"] == "ok"
        docs = rows(db, "select d.last_seen, f.fetched_at from documents d join fetches f on f.url = d.url "
                        "where f.run_id = 2")
        assert all(d["last_seen"] == d["fetched_at"] for d in docs)
        assert rows(db, "select count(*) n from revisions")[0]["n"] == len(reports)

        farm.set_state(2)  # one edit (new ETag), one withdrawal, one new report
        assert crawl(config, db, "replica-cms").returncode == 0
        third = {f["url"]: f for f in rows(db, "select * from fetches where run_id = 3")}
        change = farm.changes["cms"]
        site = farm.sites["cms"]
        assert third[site.url(change.edited)]["outcome"] == "changed"
        assert third[site.url(change.new)]["outcome"] == "new"
        assert third[site.url(change.withdrawn)]["outcome"] == "gone"
        others = reports - {site.url(change.edited), site.url(change.withdrawn)}
        assert {third[u]["http_status"] for u in others} == {304}
        [run] = rows(db, "select * from runs where id = 3")
        assert run["pages_extracted"] == 2  # the edited page and the new one


def _page(text: str) -> Page:
    return Page(title="深圳市某区2024年法治政府建设年度报告", published="2025-01-01", publisher="某区司法局",
                report_year=2024, text=text)


def test_a_304_confirms_only_a_confirmed_revision(tmp_path):
    db = connect(tmp_path / "archive.db")
    store.upsert_source(db, {"id": "s", "name": "某区", "district": "某区", "listing": "html", "start_urls": "[]",
                             "schedule": "every 6h", "timezone": "Asia/Shanghai", "config": "{}"})
    run = store.start_run(db, "s")
    url = "http://127.0.0.1/post_1.html"
    long_text = "\n".join(f"第{i}段:依法行政工作扎实推进,全年办理行政复议案件{i * 7}宗。" for i in range(40))

    def record(text: str, etag: str) -> str:
        return store.record_page(db, run, source_id="s", district="某区", url=url, http_status=200, page=_page(text),
                                 body=text.encode(), encoding="utf-8", headers={"ETag": etag}, fetched_at=store.now())

    assert record(long_text, '"v1"') == "new"
    assert store.validators(db, "s") == {url: ('"v1"', None)}
    assert store.record_not_modified(db, run, url=url, etag='"v1"') == "unchanged"
    [doc] = db.query("select * from documents")
    [last] = db.query("select * from fetches order by id desc limit 1")
    assert doc["last_seen"] == last["fetched_at"] and last["http_status"] == 304 and last["etag"] == '"v1"'

    assert record("很短的正文。", '"v2"') == "suspect"  # held back: nothing confirmed, so no validators
    assert store.validators(db, "s") == {}
    assert store.record_not_modified(db, run, url=url, etag='"v2"') == "error"
    assert db.execute("select count(*) from revisions").fetchone()[0] == 1
    [doc_after] = db.query("select * from documents")
    assert doc_after["last_seen"] == doc["last_seen"]
    db.close()


def _square(n: int) -> int:
    return n * n


def _die(n: int) -> int:
    os._exit(13)


def test_a_crashing_worker_costs_only_its_own_task():
    pool = ExtractorPool(2)
    pool.start()

    async def run_all():
        tasks = [pool.run(_square, 3), pool.run(_die, 0), pool.run(_square, 4), pool.run(_square, 5)]
        return await asyncio.gather(*tasks, return_exceptions=True)

    try:
        results = asyncio.run(run_all())
        assert results[0] == 9 and results[2] == 16 and results[3] == 25
        assert isinstance(results[1], WorkerCrashed)
        assert asyncio.run(pool.run(_square, 6)) == 36  # the pool works on after a crash
    finally:
        pool.close()


def test_extractor_pool_needs_a_worker():
    with pytest.raises(ValueError, match="at least one worker"):
        ExtractorPool(0)


def test_workers_end_with_a_killed_crawl_process(tmp_path):
    """kill -9 of the crawl process must not leave extraction workers behind (they would hold its pipes)."""
    import signal
    import subprocess
    import sys
    import time

    from tests.crawling import ROOT

    # the workers' pids as their parent knows them (the pool forks them all at start); not by scanning /proc,
    # where any other process may exit between listing and reading (that made this test flaky)
    script = ("import multiprocessing, time\n"
              "from crawler.workers import ExtractorPool\n"
              "pool = ExtractorPool(2); pool.start()\n"
              "print(*[p.pid for p in multiprocessing.active_children()], flush=True)\n"
              "time.sleep(60)\n")

    def running(pid: int) -> bool:  # alive and not a zombie (a pid that is gone: not running)
        try:
            with open(f"/proc/{pid}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()[0] != "Z"
        except OSError:
            return False

    child = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
    workers = [int(p) for p in child.stdout.readline().split()]
    assert len(workers) == 2 and all(map(running, workers))
    child.send_signal(signal.SIGKILL)
    child.wait()
    deadline = time.monotonic() + 30  # they go at once (the kernel kills them): this only bounds a failure
    while time.monotonic() < deadline and any(map(running, workers)):
        time.sleep(0.1)
    assert [p for p in workers if running(p)] == []
    child.stdout.close()
