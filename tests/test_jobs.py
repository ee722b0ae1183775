"""The scheduler's machinery in process (crawler/jobs.py, crawler/service.py): real SQLite archives,
real config files, real crawls of local ports in child processes; fast enough for mutation testing."""
from __future__ import annotations

import io
import logging
import os
import signal
import socket
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from archive import store
from archive.db import connect
from crawler import jobs
from crawler.jobs import CrawlOutcome, CrawlRunner, abandon_stale_runs, progress_text
from crawler.locks import SourceLock
from crawler.service import SchedulerService, enabled_sources, list_sources, run_once, setup_logging
from crawler.sources import Source, load_config
from tests.crawling import rows


def closed_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}/list/index.html"


def source(source_id: str, url: str | None = None, **extra) -> dict:
    return {"id": source_id, "name": "测试区人民政府", "district": "测试区", "start_urls": [url or closed_url()],
            "article_urls": [r"/content/post_\d+\.html$"], "settings": {"RETRY_ENABLED": False}, **extra}


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

def test_abandon_stale_runs(tmp_path):
    db_path = tmp_path / "archive.db"
    db = connect(db_path)
    for sid in ("gone", "locked", "done"):
        store.upsert_source(db, {"id": sid, "name": sid})
    dead = os.fork()
    if dead == 0:
        os._exit(0)
    os.waitpid(dead, 0)
    stale = store.start_run(db, "gone", dead)
    held = store.start_run(db, "locked", dead)
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
    assert by_id[stale]["status"] == "abandoned" and "no live crawl" in by_id[stale]["message"]
    assert by_id[held]["status"] == "running"  # its crawl still holds the source's lock
    assert by_id[finished]["status"] == "ok"
    assert abandon_stale_runs(db_path) == [held]  # the lock is free now


# --- CrawlRunner -----------------------------------------------------------------------------------

def test_runner_skips_when_stopping_and_when_locked(tmp_path):
    config = load_config(write(tmp_path / "sources.yaml", source("down")))
    runner = CrawlRunner(tmp_path / "sources.yaml", tmp_path / "archive.db", log_dir=tmp_path / "logs")
    lock = SourceLock(tmp_path / "archive.db", "down")
    assert lock.acquire(note="someone else")
    try:
        locked = runner.crawl(config.get("down"))
    finally:
        lock.release()
    assert locked.status == "locked" and locked.run_id is None and "someone else" in locked.message
    runner.stop()
    skipped = runner.crawl(config.get("down"))
    assert skipped.status == "skipped" and skipped.message == "scheduler is stopping"
    assert not (tmp_path / "archive.db").exists()


def test_runner_records_a_failed_crawl(tmp_path, caplog):
    url = closed_url()
    config = load_config(write(tmp_path / "sources.yaml", source("down", url)))
    runner = CrawlRunner(tmp_path / "sources.yaml", tmp_path / "archive.db", log_dir=tmp_path / "logs",
                         time_limit=60, grace=5)
    caplog.set_level(logging.INFO, logger="zwgk.scheduler")
    outcome = runner.crawl(config.get("down"))
    assert outcome.status == "failed" and not outcome.succeeded and outcome.run_id == 1
    assert outcome.log_path == tmp_path / "logs" / "crawls" / "down.log" and outcome.log_path.exists()
    (row,) = rows(tmp_path / "archive.db", "select * from runs")
    assert row["status"] == "failed" and row["errors"] == 1 and row["pid"] != os.getpid()
    assert outcome.row["errors"] == 1 and outcome.seconds > 0
    messages = [r.getMessage() for r in caplog.records]
    assert "source down: run 1 started (time limit 60s)" in messages
    assert any(m.startswith(f"source down: run 1: error fetch of {url}: ") for m in messages)
    assert any(m.startswith("source down: run 1 failed in ") for m in messages)
    assert not SourceLock(tmp_path / "archive.db", "down").is_held_elsewhere()
    # the log of the run before is kept as .log.1
    runner.crawl(config.get("down"))
    assert (tmp_path / "logs" / "crawls" / "down.log.1").exists()


@pytest.fixture
def hanging_url():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(50)
        yield f"http://127.0.0.1:{server.getsockname()[1]}/list/index.html"


def test_runner_stops_a_crawl_at_its_time_limit(tmp_path, hanging_url):
    config = load_config(write(tmp_path / "sources.yaml", source("hang", hanging_url, settings={
        "RETRY_ENABLED": False, "ZWGK_TIME_LIMIT": 2})))
    runner = CrawlRunner(tmp_path / "sources.yaml", tmp_path / "archive.db", log_dir=tmp_path / "logs",
                         time_limit=600, grace=1)
    outcome = runner.crawl(config.get("hang"))
    assert outcome.status == "failed" and "time limit of 2s" in outcome.message


def test_runner_stop_interrupts_a_running_crawl(tmp_path, hanging_url):
    config = load_config(write(tmp_path / "sources.yaml", source("hang", hanging_url)))
    runner = CrawlRunner(tmp_path / "sources.yaml", tmp_path / "archive.db", log_dir=tmp_path / "logs",
                         time_limit=600, grace=1)
    seen = threading.Event()
    runner.on_progress = lambda *_: seen.set()  # the crawl is up and running
    stopper = threading.Thread(target=lambda: seen.wait(60) and runner.stop())
    stopper.start()
    outcome = runner.crawl(config.get("hang"))
    stopper.join()
    assert outcome.status == "interrupted", outcome
    assert "scheduler stopped" in outcome.message or "crawl stopped: shutdown" in outcome.message


def test_runner_kill_ends_a_crawl_at_once(tmp_path, hanging_url):
    config = load_config(write(tmp_path / "sources.yaml", source("hang", hanging_url)))
    runner = CrawlRunner(tmp_path / "sources.yaml", tmp_path / "archive.db", log_dir=tmp_path / "logs",
                         time_limit=600, grace=600)
    seen = threading.Event()
    runner.on_progress = lambda *_: seen.set()
    stopper = threading.Thread(target=lambda: seen.wait(60) and runner.stop(kill=True))
    stopper.start()
    outcome = runner.crawl(config.get("hang"))  # without kill=True this would wait out the 600 s grace
    stopper.join()
    assert outcome.status in ("interrupted", "abandoned")
    assert "SIGKILL" in outcome.message or "SIGTERM" in outcome.message or "shutdown" in outcome.message


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
                               source("c", schedule="every 30m")))
    assert [s.id for s in enabled_sources(config)] == ["a", "c"]
    assert [s.id for s in enabled_sources(config, "b")] == ["b"]  # named: even when disabled
    out = io.StringIO()
    list_sources(config, out)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("a  0 6 * * *") and "Asia/Shanghai" in lines[0] and " CST" in lines[0]
    assert lines[1].startswith("b ") and lines[1].endswith("next: disabled")
    assert lines[2].startswith("c  every 30m")


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


def test_reload_applies_valid_edits_and_rejects_invalid_ones(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="zwgk.scheduler")
    service = service_for(tmp_path, source("a"), source("b"), jitter=0, max_concurrent=1)
    db = connect(tmp_path / "archive.db")
    store.upsert_source(db, {"id": "gone", "name": "gone"})
    stale = store.start_run(db, "gone", 0)  # left running by a scheduler that died
    db.close()
    service.start()
    messages = [r.getMessage() for r in caplog.records]
    assert rows(tmp_path / "archive.db", "select status from runs where id = ?", [stale])[0]["status"] == "abandoned"
    assert (f"scheduler started (pid {os.getpid()}): 2 source(s), at most 1 crawl(s) at once, config "
            f"{tmp_path / 'sources.yaml'}, archive {tmp_path / 'archive.db'}") in messages
    assert "missed or never-run source(s), crawling now: a, b" in messages
    try:
        assert sorted(j.id for j in service.scheduler.get_jobs()) == ["a", "b"]
        assert service.reload() is False  # nothing changed
        good = (tmp_path / "sources.yaml").read_text(encoding="utf-8")
        (tmp_path / "sources.yaml").write_text(good.replace("id: a", "id: a a"), encoding="utf-8")
        os.utime(tmp_path / "sources.yaml", ns=(1, 1))
        assert service.reload() is False
        assert "config change rejected" in caplog.text
        assert service._snapshot.read_text(encoding="utf-8") == good  # crawls keep the last good config
        assert "config change rejected, the last good config stays in force: " in caplog.text
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
        deadline = time.monotonic() + 60
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
    finally:
        service.stop()
        thread.join(60)
    assert result == [0] and not thread.is_alive()
    assert not service.scheduler.running
