"""The scheduler's machinery in process (crawler/jobs.py, crawler/service.py): real SQLite archives,
real config files, real crawls of local ports in child processes; fast enough for mutation testing."""
from __future__ import annotations

import io
import logging
import os
import shutil
import signal
import socket
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from archive import store
from archive.db import connect
from crawler import jobs
from crawler.jobs import CrawlOutcome, CrawlRunner, abandon_stale_runs, progress_text
from crawler.locks import SourceLock
from crawler.service import SchedulerService, enabled_sources, list_sources, run_once, setup_logging, summary_lines
from crawler.sources import ConfigError, Source, load_config
from tests.crawling import rows
from tests.sites import ReplicaFarm


def closed_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}/list/index.html"


# Politeness off and extraction in the crawl's own process: a crawl child starts and ends in about a second.
FAST = {"RETRY_ENABLED": False, "ZWGK_EXTRACT_WORKERS": 0, "DOWNLOAD_DELAY": 0, "AUTOTHROTTLE_ENABLED": False,
        "ROBOTSTXT_OBEY": False, "ZWGK_ATTACHMENTS": False}


def source(source_id: str, url: str | None = None, settings: dict | None = None, **extra) -> dict:
    return {"id": source_id, "name": "测试区人民政府", "district": "测试区", "start_urls": [url or closed_url()],
            "article_urls": [r"/content/post_\d+\.html$"], "settings": {**FAST, **(settings or {})}, **extra}


def write(path: Path, *sources: dict, schedule: str = "0 6 * * *") -> Path:
    path.write_text(yaml.safe_dump({"defaults": {"schedule": schedule, "timezone": "Asia/Shanghai"},
                                    "sources": list(sources)}, allow_unicode=True), encoding="utf-8")
    return path


# --- CrawlOutcome and small helpers ---------------------------------------------------------------

@pytest.mark.parametrize("status, ok", [("ok", True), ("partial", True), ("failed", False), ("locked", False),
                                        ("skipped", False), ("interrupted", False), ("abandoned", False)])
def test_outcome_succeeded(status, ok):
    assert CrawlOutcome("s", status).succeeded is ok


def test_outcome_counts_text():
    row = {"pages_fetched": 12, "new_documents": 3, "new_revisions": 5, "unchanged": 7, "gone": 1, "errors": 2,
           "blocked": 4}
    assert CrawlOutcome("s", "ok", 1, row).counts() == (
        "pages 12, new 3, changed 2, unchanged 7, gone 1, errors 2, blocked 4")
    assert CrawlOutcome("s", "ok", 1, {k: None for k in row}).counts() == (
        "pages 0, new 0, changed 0, unchanged 0, gone 0, errors 0, blocked 0")


def test_progress_text():
    snap = {"pages_fetched": 12, "queued": 30, "new_documents": 3, "changed": 1, "errors": 2, "blocked": 1,
            "rate": 1.25}
    assert progress_text(snap) == "pages 12 done / 30 queued, new 3, changed 1, errors 3, 1.2 pages/s"
    assert progress_text({}) == "pages 0 done / 0 queued, new 0, changed 0, errors 0, 0.0 pages/s"


def test_read_progress(tmp_path):
    path = tmp_path / "p.json"
    assert jobs._read_progress(path) is None
    path.write_text("{not json", encoding="utf-8")
    assert jobs._read_progress(path) is None
    path.write_text('{"pages_fetched": 3}', encoding="utf-8")
    assert jobs._read_progress(path) == {"pages_fetched": 3}


def test_exit_text():
    assert jobs._exit_text(None) == "still running"
    assert jobs._exit_text(0) == "exited with code 0"
    assert jobs._exit_text(3) == "exited with code 3"
    assert jobs._exit_text(-9) == "killed by SIGKILL"
    assert jobs._exit_text(-15) == "killed by SIGTERM"
    assert jobs._exit_text(-200) == "killed by signal 200"


def test_last_line(tmp_path):
    log = tmp_path / "crawl.log"
    assert jobs._last_line(log) == "no log"
    log.write_text("\n  \n", encoding="utf-8")
    assert jobs._last_line(log) == "empty log"
    log.write_text("first\nTraceback\nValueError: boom\n\n", encoding="utf-8")
    assert jobs._last_line(log) == "ValueError: boom"
    log.write_text("x" * 500 + "\n", encoding="utf-8")
    assert jobs._last_line(log) == "x" * 300
    log.write_bytes("抓取失败：连接被拒绝\n".encode() + b"\xff\xfe broken\n")  # a crash mid-character
    assert jobs._last_line(log) == "\ufffd\ufffd broken"
    log.write_bytes("抓取失败：连接被拒绝\n".encode())
    assert jobs._last_line(log) == "抓取失败：连接被拒绝"


def test_time_limit_of_a_source():
    plain = Source("a", "n", "d", ("http://127.0.0.1/",))
    own = Source("a", "n", "d", ("http://127.0.0.1/",), settings={"ZWGK_TIME_LIMIT": 600})
    assert jobs._time_limit(plain, 7200) == 7200.0
    assert jobs._time_limit(own, 7200) == 600.0


def test_crawler_alive():
    assert jobs._crawler_alive(None) is False
    assert jobs._crawler_alive(0) is False
    assert jobs._crawler_alive(os.getpid()) is ("crawler" in Path(f"/proc/{os.getpid()}/cmdline").read_text()
                                                or "scheduler" in Path(f"/proc/{os.getpid()}/cmdline").read_text())
    dead = os.fork()
    if dead == 0:
        os._exit(0)
    os.waitpid(dead, 0)
    assert jobs._crawler_alive(dead) is False
    import subprocess
    import sys

    for word, alive in (("crawler.run", True), ("scrapy", True), ("scheduler.py", True), ("other", False)):
        proc = subprocess.Popen([sys.executable, "-c", "import sys; print(1, flush=True); sys.stdin.read()", word],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        try:
            assert proc.stdout.readline() == b"1\n"  # exec'd: /proc shows its own command line
            assert jobs._crawler_alive(proc.pid) is alive, word  # a recycled pid is not a crawl
        finally:
            proc.communicate(b"")


# --- abandoned runs --------------------------------------------------------------------------------

def test_abandon_stale_runs(tmp_path, caplog):
    import subprocess
    import sys

    caplog.set_level(logging.INFO, logger="zwgk.scheduler")
    db_path = tmp_path / "archive.db"
    db = connect(db_path)
    for sid in ("gone", "locked", "done", "alive"):
        store.upsert_source(db, {"id": sid, "name": sid})
    dead = os.fork()
    if dead == 0:
        os._exit(0)
    os.waitpid(dead, 0)
    # a crawl process still running though its source is not locked (its lock went with a dead scheduler)
    crawl = subprocess.Popen([sys.executable, "-c", "import sys; print(1, flush=True); sys.stdin.read()",
                              "crawler.run"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert crawl.stdout.readline() == b"1\n"
        held = store.start_run(db, "locked", dead)  # first: a live run before a stale one is no reason to stop
        running = store.start_run(db, "alive", crawl.pid)
        stale = store.start_run(db, "gone", dead)
        finished = store.start_run(db, "done", dead)
        store.finish_run(db, finished, status="ok")
        db.close()
        lock = SourceLock(db_path, "locked")
        assert lock.acquire()
        try:
            assert abandon_stale_runs(db_path) == [stale]
        finally:
            lock.release()
        by_id = {r["id"]: r for r in rows(db_path, "select * from runs")}
        assert by_id[stale]["status"] == "abandoned"
        assert by_id[stale]["message"] == "found running with no live crawl process when a scheduler started"
        assert [r.getMessage() for r in caplog.records] == [
            f"source gone: run {stale} was left running by a process that is gone: marked abandoned"]
        assert by_id[held]["status"] == "running"  # its crawl still holds the source's lock
        assert by_id[running]["status"] == "running"  # its crawl process still runs
        assert by_id[finished]["status"] == "ok"
        assert abandon_stale_runs(db_path) == [held]  # the lock is free now
    finally:
        crawl.communicate(b"")
    assert abandon_stale_runs(db_path) == [running]  # and now its process is gone too


# --- CrawlRunner -----------------------------------------------------------------------------------
# Every test here supervises a real `python -m crawler.run` child (politeness off, extraction in the
# child's own process, so one starts and ends in about a second). A hanging crawl is one whose only
# request meets a port that accepts and never answers: asked to stop, Scrapy waits for that download
# (its DOWNLOAD_TIMEOUT) before it closes, which is what lets a test see the grace and the kill.

def test_runner_skips_when_stopping_and_when_locked(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="zwgk.scheduler")
    config = load_config(write(tmp_path / "sources.yaml", source("down")))
    runner = CrawlRunner(tmp_path / "sources.yaml", tmp_path / "archive.db", log_dir=tmp_path / "logs")
    lock = SourceLock(tmp_path / "archive.db", "down")
    assert lock.acquire(note="someone else")
    try:
        locked = runner.crawl(config.get("down"))
        holder = lock.holder()
    finally:
        lock.release()
    assert (locked.source_id, locked.status, locked.run_id) == ("down", "locked", None)
    assert locked.message == f"locked by {holder}"
    assert holder.endswith("someone else")
    assert [r.getMessage() for r in caplog.records] == [
        f"source down: not started, another crawl holds its lock ({holder})"]
    runner.stop()
    skipped = runner.crawl(config.get("down"))
    assert (skipped.source_id, skipped.status, skipped.message) == ("down", "skipped", "scheduler is stopping")
    assert not (tmp_path / "archive.db").exists()


def test_runner_paths_and_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CrawlRunner("sources.yaml", "data/archive.db")  # relative: the child runs elsewhere
    assert runner.config_path == tmp_path / "sources.yaml" and runner.db_path == tmp_path / "data" / "archive.db"
    assert runner.log_dir == tmp_path / "data" / "logs"  # beside the archive unless given
    assert (runner.time_limit, runner.grace, runner.progress_log_interval) == (2 * 3600, 20, 30.0)
    assert runner.on_progress is None and runner.register_sources is True
    assert CrawlRunner("sources.yaml", "archive.db", log_dir="elsewhere").log_dir == tmp_path / "elsewhere"
    assert not runner.stopping.is_set() and not runner._killing.is_set()
    runner.stop(kill=True)
    assert runner.stopping.is_set() and runner._killing.is_set()


@pytest.mark.crawl(4)
def test_runner_crawls_a_site_and_logs_its_counts(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="zwgk.scheduler")
    db_path = tmp_path / "archive.db"
    with ReplicaFarm(sites=("news",)) as farm:
        farm.sources_yaml(tmp_path / "sources.yaml")
        entries = yaml.safe_load((tmp_path / "sources.yaml").read_text(encoding="utf-8"))
        for entry in entries["sources"]:
            entry["settings"] = {**entry.get("settings", {}), **FAST}
        (tmp_path / "sources.yaml").write_text(yaml.safe_dump(entries, allow_unicode=True), encoding="utf-8")
        news = load_config(tmp_path / "sources.yaml").get("replica-news")
        runner = CrawlRunner(tmp_path / "sources.yaml", db_path, log_dir=tmp_path / "logs")
        before = time.monotonic()
        first = runner.crawl(news)
        took = time.monotonic() - before
        first_log = first.log_path.read_text(encoding="utf-8")
        # a progress file left by an earlier crawl is never shown as this crawl's figures
        (tmp_path / "logs" / "crawls" / "replica-news.progress.json").write_text('{"pages_fetched": 999}')
        shown: list[dict] = []
        runner.on_progress = lambda sid, snap: shown.append(snap)
        second = runner.crawl(news)
    (row1, row2) = rows(db_path, "select * from runs order by id")
    documents = rows(db_path, "select count(*) as n from documents")[0]["n"]
    assert first.status == "ok" and first.succeeded and first.run_id == 1 and first.row == row1
    assert first.message is None and 0 < first.seconds <= took
    assert row1["new_documents"] == documents > 0 and row1["errors"] == 0
    assert first.counts() == (f"pages {row1['pages_fetched']}, new {documents}, changed 0, unchanged 0, gone 0, "
                              f"errors 0, blocked 0")
    assert row1["pid"] not in (None, os.getpid())  # the crawl's own process, not the scheduler's
    assert first.log_path == tmp_path / "logs" / "crawls" / "replica-news.log"
    assert "Spider closed (finished)" in first_log  # the child's whole output, stderr included
    assert (tmp_path / "logs" / "crawls" / "replica-news.log.1").read_text(encoding="utf-8") == first_log
    assert second.status == "ok" and second.row == row2 and row2["unchanged"] == documents
    assert all(s.get("pages_fetched") != 999 for s in shown)
    assert rows(db_path, "select id, schedule from sources") == [{"id": "replica-news", "schedule": news.schedule}]
    done = [r for r in caplog.records if " ok in " in r.getMessage()]
    assert [(r.levelno, r.getMessage()) for r in done] == [
        (logging.INFO, f"source replica-news: run {o.run_id} ok in {o.seconds:.1f}s: {o.counts()}")
        for o in (first, second)]
    assert not SourceLock(db_path, "replica-news").is_held_elsewhere()


@pytest.mark.crawl(5)
def test_runner_records_a_failed_crawl(tmp_path, caplog):
    url = closed_url()
    config = load_config(write(tmp_path / "sources.yaml", source("down", url)))
    db_path = tmp_path / "archive.db"
    db = connect(db_path)
    store.upsert_source(db, {"id": "down", "name": "down", "schedule": "every 5h"})  # what a scheduler registered
    db.close()
    quiet = CrawlRunner(tmp_path / "sources.yaml", db_path, log_dir=tmp_path / "logs", time_limit=60, grace=5,
                        register_sources=False)
    caplog.set_level(logging.INFO, logger="zwgk.scheduler")
    outcome = quiet.crawl(config.get("down"))
    assert outcome.status == "failed" and not outcome.succeeded and outcome.run_id == 1
    assert rows(db_path, "select schedule from sources") == [{"schedule": "every 5h"}]  # left to the scheduler
    assert outcome.log_path == tmp_path / "logs" / "crawls" / "down.log" and outcome.log_path.exists()
    (row,) = rows(db_path, "select * from runs")
    assert row["status"] == "failed" and row["errors"] == 1 and outcome.row == row and outcome.message == row["message"]
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0] == "source down: run 1 started (time limit 60s)"
    (fetch,) = rows(db_path, "select url, error from fetches")
    assert messages[1] == f"source down: run 1: error fetch of {url}: {fetch['error']}" and fetch["url"] == url
    assert (caplog.records[-1].levelno, messages[-1]) == (
        logging.WARNING, f"source down: run 1 failed in {outcome.seconds:.1f}s: {outcome.counts()} ({row['message']})")
    assert len(messages) == 3
    assert not SourceLock(db_path, "down").is_held_elsewhere()
    own = CrawlRunner(tmp_path / "sources.yaml", db_path, log_dir=tmp_path / "logs")
    assert own.crawl(config.get("down")).run_id == 2
    assert rows(db_path, "select schedule from sources") == [{"schedule": "0 6 * * *"}]  # --once records its config


def test_runner_records_a_crawler_that_cannot_start(tmp_path):
    config = load_config(write(tmp_path / "sources.yaml", source("down")))
    (tmp_path / "logs").write_text("a file where the log directory should be", encoding="utf-8")
    runner = CrawlRunner(tmp_path / "sources.yaml", tmp_path / "archive.db", log_dir=tmp_path / "logs")
    outcome = runner.crawl(config.get("down"))
    assert outcome.status == "failed" and outcome.run_id == 1
    assert outcome.message.startswith("could not start the crawler: [Errno 20] Not a directory")
    assert outcome.log_path == tmp_path / "logs" / "crawls" / "down.log"  # where its log was to be
    (row,) = rows(tmp_path / "archive.db", "select status, message from runs")
    assert row == {"status": "failed", "message": outcome.message}
    assert not SourceLock(tmp_path / "archive.db", "down").is_held_elsewhere()


@pytest.mark.crawl(2)
def test_runner_fails_a_run_its_crawler_left_unfinished(tmp_path):
    config = load_config(write(tmp_path / "sources.yaml", source("down")))
    (tmp_path / "sources.yaml").write_text("sources: [", encoding="utf-8")  # broken after it was read
    runner = CrawlRunner(tmp_path / "sources.yaml", tmp_path / "archive.db", log_dir=tmp_path / "logs")
    outcome = runner.crawl(config.get("down"))
    last = outcome.log_path.read_text(encoding="utf-8").strip().splitlines()[-1]
    assert last.startswith("error: ")  # crawler.run's one line about the config, exit code 2
    assert outcome.status == "failed"
    assert outcome.message == f"crawler exited with code 2 without finishing the run: {last}"
    assert rows(tmp_path / "archive.db", "select message from runs") == [{"message": outcome.message}]


@pytest.fixture
def hanging_url():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(50)
        yield f"http://127.0.0.1:{server.getsockname()[1]}/list/index.html"


def hanging(tmp_path: Path, url: str, download_timeout: int = 10, **settings) -> Source:
    """A source whose crawl hangs on its first request for `download_timeout` seconds."""
    return load_config(write(tmp_path / "sources.yaml", source("hang", url, settings={
        "DOWNLOAD_TIMEOUT": download_timeout, **settings}))).get("hang")


@pytest.mark.crawl(6)
def test_runner_stop_kills_a_crawl_that_does_not_close_within_its_grace(tmp_path, hanging_url, caplog):
    caplog.set_level(logging.INFO, logger="zwgk.scheduler")
    hang = hanging(tmp_path, hanging_url)
    db_path = tmp_path / "archive.db"
    runner = CrawlRunner(tmp_path / "sources.yaml", db_path, log_dir=tmp_path / "logs", time_limit=600, grace=1)
    seen: list[tuple[str, dict]] = []
    child: dict = {}

    def on_progress(source_id: str, snapshot: dict) -> None:
        if not seen:  # the crawl is up: look at its process, try a second crawl, then stop it
            pid = rows(db_path, "select pid from runs")[0]["pid"]
            child["cmdline"] = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            child["fds"] = [os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()]
            child["second"] = CrawlRunner(tmp_path / "sources.yaml", db_path, log_dir=tmp_path / "other").crawl(hang)
            runner.stop()
        seen.append((source_id, snapshot))

    runner.on_progress = on_progress
    outcome = runner.crawl(hang)
    assert seen and seen[0][0] == "hang" and "pages_fetched" in seen[0][1]
    assert all(a[1] != b[1] for a, b in zip(seen, seen[1:], strict=False))  # shown when they change
    assert b"crawler.run" in child["cmdline"]  # the runs row names the crawl's own process
    assert str(SourceLock(db_path, "hang").path) in child["fds"]  # it holds the source's lock itself
    assert child["second"].status == "locked" and child["second"].message.endswith("crawl of hang")
    assert outcome.status == "interrupted"
    assert outcome.message == "scheduler stopped before the crawl finished (killed by SIGKILL)"
    assert "source hang: run 1 started (time limit 600s)" in [r.getMessage() for r in caplog.records]


@pytest.mark.crawl(7)
def test_runner_kill_ends_a_crawl_at_once(tmp_path, hanging_url):
    hang = hanging(tmp_path, hanging_url)
    runner = CrawlRunner(tmp_path / "sources.yaml", tmp_path / "archive.db", log_dir=tmp_path / "logs",
                         time_limit=600, grace=600)
    runner.on_progress = lambda *_: runner.stop(kill=True)  # without kill=True: the 600 s grace
    outcome = runner.crawl(hang)
    assert outcome.status == "interrupted"
    assert outcome.message == "scheduler stopped before the crawl finished (killed by SIGKILL)"


@pytest.mark.crawl(10)
def test_runner_gives_a_stopped_crawl_its_grace_to_close(tmp_path, hanging_url, caplog):
    caplog.set_level(logging.INFO, logger="zwgk.scheduler")
    hang = hanging(tmp_path, hanging_url, download_timeout=5)  # it can close once its download gives up
    runner = CrawlRunner(tmp_path / "sources.yaml", tmp_path / "archive.db", log_dir=tmp_path / "logs",
                         time_limit=600, grace=600)
    runner.on_progress = lambda *_: runner.stop()
    outcome = runner.crawl(hang)
    assert outcome.status == "interrupted" and outcome.message == "crawl stopped: shutdown"  # the crawl's own end
    assert (caplog.records[-1].levelno, caplog.records[-1].getMessage()) == (
        logging.WARNING, f"source hang: run 1 interrupted in {outcome.seconds:.1f}s: {outcome.counts()} "
                         "(crawl stopped: shutdown)")


@pytest.mark.crawl(1)
def test_runner_stops_a_crawl_at_its_time_limit(tmp_path, hanging_url):
    hang = hanging(tmp_path, hanging_url, ZWGK_TIME_LIMIT=1)
    runner = CrawlRunner(tmp_path / "sources.yaml", tmp_path / "archive.db", log_dir=tmp_path / "logs",
                         time_limit=600, grace=1)
    outcome = runner.crawl(hang)
    # the scheduler or the crawl itself stops it, whichever sees the deadline first
    assert outcome.status == "failed" and outcome.message.startswith("stopped at the time limit of 1s")


@pytest.mark.crawl(3)
def test_a_crawl_child_keeps_its_own_time_limit_and_grace(tmp_path, hanging_url):
    """Unsupervised (its scheduler hangs), the child still ends at its limit + grace, as it was told."""
    hang = hanging(tmp_path, hanging_url, ZWGK_TIME_LIMIT=1)
    db_path = tmp_path / "archive.db"
    runner = CrawlRunner(tmp_path / "sources.yaml", db_path, log_dir=tmp_path / "logs", time_limit=600, grace=1)
    db = connect(db_path)
    store.upsert_source(db, hang.as_row())
    run_id = store.start_run(db, "hang")
    db.close()
    with SourceLock(db_path, "hang") as lock:
        assert lock.acquire()
        child = runner._spawn(hang, run_id, lock, tmp_path / "logs" / "crawls" / "hang.log")
        child.wait(60)
    assert rows(db_path, "select status, message from runs") == [{
        "status": "failed", "message": "stopped at the time limit of 1s; it did not end within 1s and killed itself"}]


@pytest.mark.crawl(8)
def test_wait_says_why_it_stopped_a_crawl(tmp_path, hanging_url):
    hang = hanging(tmp_path, hanging_url)
    db_path = tmp_path / "archive.db"
    db = connect(db_path)
    store.upsert_source(db, hang.as_row())
    log = tmp_path / "logs" / "crawls" / "hang.log"
    with SourceLock(db_path, "hang") as lock:
        assert lock.acquire()
        runner = CrawlRunner(tmp_path / "sources.yaml", db_path, log_dir=tmp_path / "logs", time_limit=600, grace=0)
        late = runner._spawn(hang, store.start_run(db, "hang"), lock, log)
        assert runner._wait(late, time.monotonic() - 11, 10, "hang") == "time-limit"  # started 11 s ago, limit 10
        assert late.returncode < 0  # stopped at once, by a signal
        runner.stop()
        stopped = runner._spawn(hang, store.start_run(db, "hang"), lock, log)
        assert runner._wait(stopped, time.monotonic(), 600, "hang") == "stop" and stopped.returncode < 0
    down = load_config(write(tmp_path / "down.yaml", source("down"))).get("down")
    with SourceLock(db_path, "down") as lock:
        assert lock.acquire()
        runner = CrawlRunner(tmp_path / "down.yaml", db_path, log_dir=tmp_path / "logs", time_limit=600, grace=0)
        store.upsert_source(db, down.as_row())
        done = runner._spawn(down, store.start_run(db, "down"), lock, tmp_path / "logs" / "crawls" / "down.log")
        assert runner._wait(done, time.monotonic(), 600, "down") is None and done.returncode == 3  # ended itself
    db.close()


@pytest.mark.crawl(9)
def test_runner_logs_progress_when_nobody_watches(tmp_path, hanging_url, caplog):
    caplog.set_level(logging.INFO, logger="zwgk.scheduler")
    hang = hanging(tmp_path, hanging_url)
    runner = CrawlRunner(tmp_path / "sources.yaml", tmp_path / "archive.db", log_dir=tmp_path / "logs",
                         time_limit=600, grace=0, progress_log_interval=0)
    ended = threading.Event()

    def stop_after_a_progress_line() -> None:
        deadline = time.monotonic() + 60
        while not ended.is_set() and time.monotonic() < deadline:
            if any(r.getMessage().startswith("source hang: pages ") for r in list(caplog.records)):
                break
            time.sleep(0.05)
        runner.stop(kill=True)

    stopper = threading.Thread(target=stop_after_a_progress_line)
    stopper.start()
    try:
        outcome = runner.crawl(hang)
    finally:
        ended.set()
        stopper.join()
    progress = [r.getMessage() for r in caplog.records if r.getMessage().startswith("source hang: ")
                and " run " not in r.getMessage()]
    assert progress[0] == "source hang: starting"  # before the child wrote its first figures
    line = next(m for m in progress if m != "source hang: starting")
    assert line.startswith("source hang: pages 0 done / ") and line.endswith(" pages/s")
    assert outcome.status == "interrupted"


def test_outcome_reports_the_run_row_and_its_failed_fetches(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="zwgk.scheduler")
    db_path = tmp_path / "archive.db"
    db = connect(db_path)
    store.upsert_source(db, {"id": "s", "name": "s"})
    runner = CrawlRunner(tmp_path / "sources.yaml", db_path, log_dir=tmp_path / "logs")
    src = Source("s", "n", "d", ("http://127.0.0.1/",))
    run_id = store.start_run(db, "s")
    for url, outcome, error in (("http://127.0.0.1/1.html", "blocked", "HTTP 412"),
                                ("http://127.0.0.1/2.html", "unchanged", None),
                                ("http://127.0.0.1/3.html", "error", "timeout"),
                                ("http://127.0.0.1/4.html", "suspect", "a third of its text")):
        db["fetches"].insert({"run_id": run_id, "url": url, "outcome": outcome, "error": error,
                              "fetched_at": "2026-11-29T00:00:00+00:00"})
    store.finish_run(db, run_id, status="partial", message="the crawl's own words")
    log = tmp_path / "s.log"
    before = time.monotonic()
    said = runner._outcome(db, src, run_id, before, log, "the supervisor's words")
    assert (said.source_id, said.status, said.run_id, said.log_path) == ("s", "partial", run_id, log)
    assert said.row == jobs._run_row(db, run_id) and said.message == "the crawl's own words"  # the row's wins
    assert 0 <= said.seconds <= time.monotonic() - before
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.WARNING, f"source s: run {run_id}: blocked fetch of http://127.0.0.1/1.html: HTTP 412"),
        (logging.WARNING, f"source s: run {run_id}: error fetch of http://127.0.0.1/3.html: timeout"),
        (logging.WARNING, f"source s: run {run_id}: suspect fetch of http://127.0.0.1/4.html: a third of its text"),
        (logging.INFO, f"source s: run {run_id} partial in {said.seconds:.1f}s: {said.counts()}")]
    quiet = store.start_run(db, "s")
    store.finish_run(db, quiet, status="interrupted")  # no message of its own
    assert runner._outcome(db, src, quiet, before, log, "the supervisor's words").message == "the supervisor's words"
    db.close()


def test_settle_gives_every_run_a_final_status(tmp_path):
    db_path = tmp_path / "archive.db"
    db = connect(db_path)
    store.upsert_source(db, {"id": "s", "name": "s"})
    runner = CrawlRunner(tmp_path / "sources.yaml", db_path, log_dir=tmp_path / "logs")
    log = tmp_path / "s.log"
    log.write_text("starting\nTraceback (most recent call last):\nMemoryError: out of memory\n", encoding="utf-8")

    def settle(status: str | None, returncode: int | None, reason: str | None, limit: float = 7.9,
               message: str | None = None, fetched: str | None = None):
        run_id = store.start_run(db, "s")
        if fetched:  # a page the crawl recorded before it was stopped
            db["fetches"].insert({"run_id": run_id, "url": "http://127.0.0.1/a.html", "outcome": fetched,
                                  "fetched_at": "2026-11-29T00:00:00+00:00"})
        if status:
            store.finish_run(db, run_id, status=status, message=message)
        said = runner._settle(db, run_id, returncode, reason, limit, log)
        row = jobs._run_row(db, run_id)
        return said, row["status"], row["message"]

    at_limit = "stopped at the time limit of 7s (killed by SIGTERM)"
    assert settle(None, -15, "time-limit") == (at_limit, "failed", at_limit)
    assert settle(None, -15, "time-limit", fetched="unchanged") == (at_limit, "failed", at_limit)  # pages or not
    assert settle("interrupted", -15, "time-limit", message="crawl stopped: shutdown") == (
        at_limit, "failed", at_limit)  # it closed itself, but not in time
    assert settle("ok", 0, "time-limit", limit=3) == (
        "stopped at the time limit of 3s (exited with code 0)", "ok", None)  # it did finish: kept
    stop = "scheduler stopped before the crawl finished (killed by SIGKILL)"
    assert settle(None, -9, "stop") == (stop, "interrupted", stop)
    assert settle(None, -9, "stop", fetched="unchanged") == (stop, "interrupted", stop)
    assert settle("interrupted", 3, "stop", message="crawl stopped: shutdown") == (
        "crawl stopped: shutdown", "interrupted", "crawl stopped: shutdown")
    crash = "crawler exited with code 1 without finishing the run: MemoryError: out of memory"
    assert settle(None, 1, None) == (crash, "failed", crash)
    assert settle(None, 1, None, fetched="unchanged") == (crash, "failed", crash)
    assert settle("ok", 0, None) == (None, "ok", None)
    assert settle("partial", 1, None, message="3 pages blocked") == ("3 pages blocked", "partial", "3 pages blocked")
    db.close()


# --- service.py ------------------------------------------------------------------------------------

@pytest.fixture
def restore_logging():
    """setup_logging reconfigures the process's loggers: put them back for the tests after."""
    saved = {name: (logging.getLogger(name).level, logging.getLogger(name).propagate,
                    list(logging.getLogger(name).handlers)) for name in ("zwgk", "apscheduler")}
    yield
    for name, (level, propagate, handlers) in saved.items():
        log = logging.getLogger(name)
        for handler in list(log.handlers):
            log.removeHandler(handler)
            handler.close()
        log.setLevel(level)
        log.propagate = propagate
        for handler in handlers:
            log.addHandler(handler)


def test_setup_logging(tmp_path, restore_logging):
    import re

    path = setup_logging(tmp_path / "new" / "logs", stderr=False)  # parents created
    assert path == tmp_path / "new" / "logs" / "scheduler.log"
    log = logging.getLogger("zwgk")
    assert log.level == logging.INFO and log.propagate is False and len(log.handlers) == 1
    (handler,) = log.handlers
    assert (handler.maxBytes, handler.backupCount, handler.encoding) == (5_000_000, 5, "utf-8")  # rotated
    assert logging.getLogger("apscheduler").level == logging.WARNING
    assert logging.getLogger("apscheduler").handlers == [handler]
    logging.getLogger("zwgk.test").info("hello %s", "there")
    logging.getLogger("zwgk.test").debug("not at INFO")
    logging.getLogger("apscheduler.x").info("chatter")
    lines = path.read_text(encoding="utf-8").splitlines()
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}"
    assert len(lines) == 1 and re.fullmatch(stamp + " INFO zwgk.test: hello there", lines[0])
    setup_logging(tmp_path / "new" / "logs", stderr=False)  # again: the same directory is fine
    setup_logging(tmp_path / "logs", level=logging.DEBUG)
    assert len(log.handlers) == 2 and log.level == logging.DEBUG  # replaced, not added to
    assert logging.getLogger("apscheduler").level == logging.WARNING


def test_enabled_sources_and_list(tmp_path):
    config = load_config(write(tmp_path / "sources.yaml", source("a"), source("b", enabled=False),
                               source("c", schedule="every 30m"), source("feb30", schedule="0 0 30 2 *")))
    assert [s.id for s in enabled_sources(config)] == ["a", "c", "feb30"]
    assert [s.id for s in enabled_sources(config, "b")] == ["b"]  # named: even when disabled
    out = io.StringIO()
    list_sources(config, out)
    lines = out.getvalue().splitlines()
    import re

    day = r"\d{4}-\d\d-\d\d"
    assert re.fullmatch(r"a      0 6 \* \* \*      Asia/Shanghai    next: " + day + " 06:00 CST", lines[0]), lines[0]
    assert lines[1] == "b      0 6 * * *      Asia/Shanghai    next: disabled"
    assert re.fullmatch(r"c      every 30m      Asia/Shanghai    next: " + day + r" \d\d:\d\d CST", lines[2]), lines[2]
    assert lines[3] == "feb30  0 0 30 2 *     Asia/Shanghai    next: never"  # a date that never comes


@pytest.mark.crawl(13)
def test_run_once_summary(tmp_path):
    write(tmp_path / "sources.yaml", source("down"), source("other"))
    config = load_config(tmp_path / "sources.yaml")
    runner = CrawlRunner(tmp_path / "sources.yaml", tmp_path / "archive.db", log_dir=tmp_path / "logs")
    db = connect(tmp_path / "archive.db")
    store.upsert_source(db, {"id": "other", "name": "other"})
    stale = store.start_run(db, "other", 0)  # left running by a scheduler that is gone
    db.close()
    out = io.StringIO()
    outcomes = run_once(runner, [config.get("down")], out)
    assert [o.status for o in outcomes] == ["failed"]
    assert rows(tmp_path / "archive.db", "select status from runs where id = ?", [stale])[0]["status"] == "abandoned"
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("down  failed      run 2    pages ") and "errors 1" in lines[0]
    assert lines[1] == f"0 of 1 source(s) crawled; not crawled: down; archive: {runner.db_path}"
    runner.stop()
    out = io.StringIO()
    skipped = run_once(runner, list(config.sources.values()), out)
    assert [o.status for o in skipped] == ["skipped", "skipped"]
    assert out.getvalue().splitlines()[0] == "down   skipped     no run    stopped before it started"
    assert "0 of 2 source(s) crawled; not crawled: down, other" in out.getvalue()


@pytest.mark.crawl(14)
def test_run_once_live_table(tmp_path):
    write(tmp_path / "sources.yaml", source("down"), source("other"))
    config = load_config(tmp_path / "sources.yaml")
    runner = CrawlRunner(tmp_path / "sources.yaml", tmp_path / "archive.db", log_dir=tmp_path / "logs")
    out = io.StringIO()
    outcomes = run_once(runner, [config.get("down"), config.get("other")], out, live=True)
    assert [o.status for o in outcomes] == ["failed", "failed"]
    text = out.getvalue()
    table = text[text.rindex("zwgk-archive: crawling"):]
    for sid in ("down", "other"):
        row = next(line for line in table.splitlines() if f" {sid} " in line)
        assert "failed" in row and row.split("│")[7].strip() == "1"  # errors
    assert "0 of 2 source(s) crawled" in text
    from crawler.progress import LiveProgress

    assert isinstance(getattr(runner.on_progress, "__self__", None), LiveProgress)  # crawls feed the table


def service_for(tmp_path: Path, *sources: dict, **kwargs) -> SchedulerService:
    write(tmp_path / "sources.yaml", *sources)
    return SchedulerService(tmp_path / "sources.yaml", tmp_path / "archive.db", log_dir=tmp_path / "logs",
                            **kwargs)


def test_service_settings_and_triggers(tmp_path):
    service = service_for(tmp_path, source("a"), source("b", schedule="every 30s"), jitter=60, max_concurrent=3)
    assert service.scheduler._executors["default"]._pool._max_workers == 3
    assert service._trigger(service.config.get("a")).jitter == 60
    assert service._trigger(service.config.get("b")).jitter == 3  # a tenth of the period
    assert service._snapshot.read_text(encoding="utf-8") == (tmp_path / "sources.yaml").read_text(encoding="utf-8")
    assert service.runner.config_path == service._snapshot
    none = service_for(tmp_path, source("a"), jitter=0)
    assert none._trigger(none.config.get("a")).jitter is None
    write(tmp_path / "sources.yaml", source("a"))
    own = SchedulerService(tmp_path / "sources.yaml", tmp_path / "archive.db", log_dir=tmp_path / "elsewhere",
                           grace=7, time_limit=99, reload_interval=3)
    assert (own.runner.grace, own.runner.time_limit, own.runner.log_dir) == (7, 99, tmp_path / "elsewhere")
    assert own.reload_interval == 3 and own.runner.db_path == tmp_path / "archive.db"


def test_catch_up_due(tmp_path):
    service = service_for(tmp_path, source("never"), source("recent"), source("old"),
                          source("interval", schedule="every 1h"), source("fresh", schedule="every 1h"))
    db = connect(tmp_path / "archive.db")
    for sid in ("never", "recent", "old", "interval", "fresh"):
        store.upsert_source(db, {"id": sid, "name": sid})
    now = datetime.now(UTC)
    for sid, ago in (("recent", timedelta(minutes=1)), ("old", timedelta(days=2)),
                     ("interval", timedelta(hours=1, minutes=1)), ("fresh", timedelta(minutes=59))):
        db.execute("INSERT INTO runs (source_id, started_at, status) VALUES (?, ?, 'ok')",
                   [sid, (now - ago).isoformat()])
    db.close()
    due = service._catch_up_due()
    assert "never" in due and "old" in due and "interval" in due
    assert "fresh" not in due
    # 'recent' ran a minute ago: due only if a 06:00 Shanghai slot passed in that minute
    slot = service.config.get("recent").trigger().get_next_fire_time(None, now - timedelta(minutes=1))
    assert ("recent" in due) == (slot <= datetime.now(UTC))


@pytest.mark.crawl(13)
def test_a_slot_that_comes_while_its_crawl_runs_is_skipped(tmp_path, hanging_url, caplog):
    """One crawl of a source at a time (max_instances=1): APScheduler skips a slot that finds it running,
    rather than start a second job that would only find the source locked."""
    from apscheduler.events import EVENT_JOB_MAX_INSTANCES

    caplog.set_level(logging.INFO, logger="zwgk.scheduler")
    service = service_for(tmp_path, source("hang", hanging_url, schedule="every 1s"), jitter=0, max_concurrent=2,
                          grace=0)
    skipped = threading.Event()
    service.scheduler.add_listener(lambda event: skipped.set(), EVENT_JOB_MAX_INSTANCES)
    service.start()  # never ran: crawled now, and the next slot comes a second later
    try:
        assert skipped.wait(30), "no slot was skipped while the crawl ran"
    finally:
        service.stop(kill=True)
        service.shutdown()
    assert "another crawl holds its lock" not in caplog.text
    assert len(rows(tmp_path / "archive.db", "select id from runs")) == 1


def test_catch_up_at_a_slot_boundary(tmp_path):
    """A run that started at a slot covers it; one that started a second before it does not."""
    service = service_for(tmp_path, source("at"), source("before"))  # daily at 06:00 Asia/Shanghai
    try:
        now = datetime.now(UTC)
        slot = service.config.get("at").trigger().get_next_fire_time(None, now - timedelta(days=1))
        assert slot <= now  # the last 06:00 that passed
        db = connect(tmp_path / "archive.db")
        for sid, started in (("at", slot), ("before", slot - timedelta(seconds=1))):
            store.upsert_source(db, {"id": sid, "name": sid})
            db.execute("INSERT INTO runs (source_id, started_at, status) VALUES (?, ?, 'ok')",
                       [sid, started.astimezone(UTC).isoformat()])
        db.close()
        assert service._catch_up_due() == {"before"}
    finally:
        shutil.rmtree(service._snapshot_dir)


def test_reload_applies_valid_edits_and_rejects_invalid_ones(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="zwgk.scheduler")
    service = service_for(tmp_path, source("a"), source("b"), jitter=0, max_concurrent=1)
    db = connect(tmp_path / "archive.db")
    store.upsert_source(db, {"id": "gone", "name": "gone"})
    store.upsert_source(db, {"id": "gone2", "name": "gone2"})
    stale = store.start_run(db, "gone", 0)  # left running by a scheduler that died
    db.close()
    service.start()
    messages = [r.getMessage() for r in caplog.records]
    assert rows(tmp_path / "archive.db", "select status from runs where id = ?", [stale])[0]["status"] == "abandoned"
    assert (f"scheduler started (pid {os.getpid()}): 2 source(s), at most 1 crawl(s) at once, config "
            f"{tmp_path / 'sources.yaml'}, archive {tmp_path / 'archive.db'}") in messages
    assert "missed or never-run source(s), crawling now: a, b" in messages
    assert "sources no longer in the config, kept as history: gone, gone2" in messages
    try:
        assert sorted(j.id for j in service.scheduler.get_jobs()) == ["a", "b"]
        assert service.reload() is False  # nothing changed
        good = (tmp_path / "sources.yaml").read_text(encoding="utf-8")
        (tmp_path / "sources.yaml").write_text(good.replace("id: a", "id: a a"), encoding="utf-8")
        os.utime(tmp_path / "sources.yaml", ns=(1, 1))
        assert service.reload() is False
        with pytest.raises(ConfigError) as bad:
            load_config(tmp_path / "sources.yaml")
        assert (caplog.records[-1].levelno, caplog.records[-1].getMessage()) == (
            logging.ERROR, f"config change rejected, the last good config stays in force: {bad.value}")
        assert service._snapshot.read_text(encoding="utf-8") == good  # crawls keep the last good config
        assert "field 'id'" in caplog.text or "'a a'" in caplog.text
        write(tmp_path / "sources.yaml", source("a", schedule="every 2h"), source("c"), source("b", enabled=False))
        caplog.clear()
        assert service.reload(force=True) is True
        assert service.reload() is False  # applied: the same file is not reloaded again
        messages = [r.getMessage() for r in caplog.records]
        assert "source b: removed from the schedule" in messages
        assert "source c: added to the schedule (0 6 * * *)" in messages
        assert "source a: schedule changed to every 2h" in messages
        assert not any(m.startswith("source a: added") for m in messages)
        assert f"config reloaded from {tmp_path / 'sources.yaml'}: 2 source(s) scheduled" in messages
        jobs_now = {j.id: j for j in service.scheduler.get_jobs()}
        assert sorted(jobs_now) == ["a", "c"]
        assert jobs_now["c"].next_run_time > datetime.now(UTC)  # on its schedule, not crawled at once
        assert jobs_now["c"].name == "crawl c"  # as APScheduler's own warnings name it
        assert "interval[2:00:00]" in str(jobs_now["a"].trigger)
        assert rows(tmp_path / "archive.db", "select id, schedule from sources order by id")[0] == {
            "id": "a", "schedule": "every 2h"}
    finally:
        service.stop()
        service.shutdown()
    assert not service._snapshot_dir.exists()
    messages = [r.getMessage() for r in caplog.records]
    assert "scheduler stopping: no new crawls; running crawls get 20s to stop" in messages
    assert messages[-1] == "scheduler stopped"


def test_stop_signals(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="zwgk.scheduler")
    service = service_for(tmp_path, source("a"))
    service._on_stop_signal(signal.SIGTERM, None)
    assert service._stop.is_set() and service.runner.stopping.is_set() and not service.runner._killing.is_set()
    service._on_stop_signal(signal.SIGINT, None)
    assert service.runner._killing.is_set()
    assert [r.getMessage() for r in caplog.records] == ["received SIGTERM",
                                                        "received SIGINT again: killing running crawls now"]


def test_mtime(tmp_path):
    from crawler.service import _mtime

    assert _mtime(tmp_path / "nope") is None
    (tmp_path / "f").write_text("x")
    os.utime(tmp_path / "f", ns=(5, 7))
    assert _mtime(tmp_path / "f") == 7


def test_run_forever_reloads_and_stops(tmp_path, caplog):
    import time

    caplog.set_level(logging.INFO, logger="zwgk.scheduler")
    service = service_for(tmp_path, source("a"), jitter=0, reload_interval=0.2)
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(service.run_forever(install_signals=False)))
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not service.scheduler.running and time.monotonic() < deadline:
            time.sleep(0.05)
        write(tmp_path / "sources.yaml", source("a"), source("b"))
        os.utime(tmp_path / "sources.yaml", ns=(2, 2))  # a changed mtime, as an edit makes
        while service.scheduler.get_job("b") is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert service.scheduler.get_job("b") is not None, "the edit was not picked up"
        caplog.clear()
        service._reload_requested.set()  # SIGHUP: reload now even though the file did not change
        while not any("config reloaded" in r.getMessage() for r in caplog.records) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert any("config reloaded" in r.getMessage() for r in caplog.records)
        write(tmp_path / "sources.yaml", source("a"), source("b"), source("c"))  # and later edits still count
        os.utime(tmp_path / "sources.yaml", ns=(3, 3))
        while service.scheduler.get_job("c") is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert service.scheduler.get_job("c") is not None, "an edit after a SIGHUP reload was not picked up"
    finally:
        service.stop()
        thread.join(60)
    assert result == [0] and not thread.is_alive()
    assert not service.scheduler.running


def test_summary_lines():
    row = {"pages_fetched": 4, "new_documents": 3, "new_revisions": 3, "unchanged": 1, "gone": 0, "errors": 0,
           "blocked": 2}
    outcomes = [CrawlOutcome("longname", "partial", 7, row, 12.345, "2 pages blocked"),  # succeeded: no why
                CrawlOutcome("b", "failed", 8, {}, 0.5, "nothing archived"),
                CrawlOutcome("c", "locked", None, message="locked by pid 1"),
                CrawlOutcome("d", "ok", 9, row, 1.04)]
    assert summary_lines(outcomes, Path("/data/archive.db")) == [
        "longname  partial     run 7    pages 4, new 3, changed 0, unchanged 1, gone 0, errors 0, blocked 2  (12.3s)",
        "b         failed      run 8    pages 0, new 0, changed 0, unchanged 0, gone 0, errors 0, blocked 0  (0.5s)"
        "  nothing archived",
        "c         locked      no run    locked by pid 1",
        "d         ok          run 9    pages 4, new 3, changed 0, unchanged 1, gone 0, errors 0, blocked 2  (1.0s)",
        "2 of 4 source(s) crawled; not crawled: b, c; archive: /data/archive.db"]
    assert summary_lines(outcomes[3:], Path("x.db"))[-1] == "1 of 1 source(s) crawled; archive: x.db"
    assert summary_lines([], Path("x.db")) == ["0 of 0 source(s) crawled; archive: x.db"]


def test_a_crawl_job_never_raises_and_skips_unknown_or_disabled_sources(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="zwgk.scheduler")
    service = service_for(tmp_path, source("a"), source("b", enabled=False))
    try:
        service._crawl("nope")  # removed from the config while its job waited
        service._crawl("b")  # disabled
        assert not (tmp_path / "archive.db").exists()  # neither touched the archive
        (tmp_path / "archive.db").write_bytes(b"not a database " * 100)
        service._crawl("a")  # the archive fails under it: logged, never raised into APScheduler
    finally:
        shutil.rmtree(service._snapshot_dir)
    (record,) = caplog.records
    assert record.getMessage() == "source a: the crawl job failed" and record.exc_info is not None


@pytest.mark.crawl(11)
def test_a_crawl_started_before_a_reload_leaves_the_reloaded_source_row(tmp_path):
    """A job picks up its Source, a reload then registers the edited config: the job's crawl must not
    write the older config back into `sources` (it made test_reload_… fail under load)."""
    service = service_for(tmp_path, source("a"), jitter=0)
    try:
        service._register_sources()
        started_with = service.config.get("a")
        write(tmp_path / "sources.yaml", source("a", name="测试区人民政府办公室"))  # renamed
        assert service.reload(force=True)
        assert service.runner.crawl(started_with).run_id == 1
    finally:
        shutil.rmtree(service._snapshot_dir)
    assert rows(tmp_path / "archive.db", "select id, name from sources") == [
        {"id": "a", "name": "测试区人民政府办公室"}]


@pytest.mark.crawl(12)
def test_shutdown_waits_until_running_crawls_are_recorded(tmp_path, hanging_url, caplog):
    caplog.set_level(logging.INFO, logger="zwgk.scheduler")
    service = service_for(tmp_path, source("hang", hanging_url, settings={"DOWNLOAD_TIMEOUT": 5}), jitter=0,
                          grace=600)
    service.start()  # never ran: crawled now
    try:
        deadline = time.monotonic() + 30
        progress = service.runner._progress_path("hang")
        while not progress.exists() and time.monotonic() < deadline:  # the crawl is up and hanging
            time.sleep(0.05)
        assert progress.exists()
    finally:
        service.stop()
        service.shutdown()
    # stop() gives the crawl its grace: it closes itself once its hanging download gives up (5 s), and
    # shutdown returns only after that, with the run recorded
    assert rows(tmp_path / "archive.db", "select status, message from runs") == [{
        "status": "interrupted", "message": "crawl stopped: shutdown"}]
    messages = [r.getMessage() for r in caplog.records]
    assert "scheduler stopping: no new crawls; running crawls get 600s to stop" in messages
    assert messages[-1] == "scheduler stopped"


def test_run_forever_answers_its_signals(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="zwgk.scheduler")
    service = service_for(tmp_path, source("a"), jitter=0, reload_interval=3600)
    db = connect(tmp_path / "archive.db")
    store.upsert_source(db, {"id": "a", "name": "a"})
    store.finish_run(db, store.start_run(db, "a"), status="ok")  # ran just now: nothing is due
    db.close()
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    returned = threading.Event()

    def poke() -> None:
        deadline = time.monotonic() + 20
        try:
            while not service.scheduler.running and not returned.is_set() and time.monotonic() < deadline:
                time.sleep(0.05)
            if callable(signal.getsignal(signal.SIGHUP)):  # never the default handler: it would end pytest
                os.kill(os.getpid(), signal.SIGHUP)  # reload now, though the file did not change
            while not any(r.getMessage().startswith("config reloaded") for r in list(caplog.records)) \
                    and not returned.is_set() and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            if signal.getsignal(signal.SIGTERM) == service._on_stop_signal:
                os.kill(os.getpid(), signal.SIGTERM)
            else:
                service.stop()

    poker = threading.Thread(target=poke)
    poker.start()
    try:
        assert service.run_forever() == 0
    finally:
        returned.set()
        poker.join()
        for signum, handler in saved.items():
            signal.signal(signum, handler)
        shutil.rmtree(service._snapshot_dir, ignore_errors=True)
    messages = [r.getMessage() for r in caplog.records]
    assert f"config reloaded from {tmp_path / 'sources.yaml'}: 1 source(s) scheduled" in messages
    assert "received SIGTERM" in messages and messages[-1] == "scheduler stopped"
    assert not service.scheduler.running and not service._snapshot_dir.exists()
    assert len(rows(tmp_path / "archive.db", "select id from runs")) == 1  # nothing crawled


@pytest.mark.crawl(3)
def test_a_runner_given_a_progress_callback_logs_no_progress_lines(tmp_path, hanging_url, caplog):
    """A runner built with `on_progress` (the --once live table) hands progress to it instead of logging it:
    even with a log interval of 0 no progress line is written while its crawl runs."""
    caplog.set_level(logging.INFO, logger="zwgk.scheduler")
    hang = hanging(tmp_path, hanging_url, ZWGK_TIME_LIMIT=1)
    runner = CrawlRunner(tmp_path / "sources.yaml", tmp_path / "archive.db", log_dir=tmp_path / "logs",
                         time_limit=600, grace=1, on_progress=lambda source_id, snapshot: None,
                         progress_log_interval=0)
    outcome = runner.crawl(hang)
    assert outcome.status == "failed"
    progress = [r.getMessage() for r in caplog.records if r.getMessage() == f"source {hang.id}: starting"
                or r.getMessage().startswith(f"source {hang.id}: {progress_text({})[:5]}")]
    assert progress == []
