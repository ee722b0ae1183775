"""Operating the crawl as its users expect: `scrapy crawl -o` feed exports of archived pages, the
per-source lock under `scrapy crawl`, no remote-control server, and progress while a crawl runs (the
running `runs` row, the progress log line, the live table of `scheduler.py --once` on a terminal)."""
from __future__ import annotations

import csv
import io
import json
import logging
import os
import pty
import select
import subprocess
import sys
from pathlib import Path

import pytest

from crawler.jobs import CrawlRunner
from crawler.locks import SourceLock
from crawler.sources import load_config
from tests.crawling import ROOT, rows
from tests.sites import ReplicaFarm

FIELDS = ["url", "title", "published", "publisher", "district", "report_year", "text", "outcome"]


def scrapy_crawl(config: Path, db: Path, source: str, *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "scrapy", "crawl", "disclosure", "-a", f"source={source}", "-a", f"config={config}",
           "-a", f"db={db}", *args]
    return subprocess.run(cmd, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True,
                          text=True, timeout=180)


@pytest.fixture(scope="module")
def news(tmp_path_factory):
    with ReplicaFarm(sites=("news",)) as farm:
        path = tmp_path_factory.mktemp("ops")
        yield farm, farm.sources_yaml(path / "sources.yaml"), path


def test_feed_exports_give_one_record_per_archived_page(news):
    farm, config, path = news
    db = path / "export.db"
    expected = {e.url: e for e in farm.expected(1) if e.site == "news"}
    first = scrapy_crawl(config, db, "replica-news", "-o", str(path / "pages.jsonl"))
    assert first.returncode == 0, first.stderr[-3000:]
    assert "bytes is not JSON serializable" not in first.stderr
    records = [json.loads(line) for line in (path / "pages.jsonl").read_text(encoding="utf-8").splitlines()]
    assert sorted(r["url"] for r in records) == sorted(expected)
    assert all(list(r) == FIELDS and r["outcome"] == "new" for r in records)
    archived = {r["url"]: r for r in rows(db, "select d.url, d.district, r.* from documents d join revisions r "
                                               "on r.id = d.latest_revision_id")}
    for record in records:  # what was exported is what was archived
        stored = archived[record["url"]]
        assert {k: record[k] for k in FIELDS[1:7]} == {k: stored[k] for k in FIELDS[1:7]}
        assert "<" not in record["text"] and record["text"].strip()

    again = scrapy_crawl(config, db, "replica-news", "-o", str(path / "pages.json"), "-o", str(path / "pages.csv"))
    assert again.returncode == 0, again.stderr[-3000:]
    as_json = json.loads((path / "pages.json").read_text(encoding="utf-8"))
    assert sorted(r["url"] for r in as_json) == sorted(expected)
    assert {r["outcome"] for r in as_json} == {"unchanged"}
    assert all(r["text"] == archived[r["url"]]["text"] for r in as_json)  # 304 or not, the page's text
    table = list(csv.reader(io.StringIO((path / "pages.csv").read_text(encoding="utf-8"))))
    assert table[0] == FIELDS and len(table) == 1 + len(expected)
    assert not any("<html" in cell.lower() or "b'" in cell for row in table for cell in row)


def test_scrapy_crawl_takes_the_source_lock_and_runs_no_remote_control(news):
    farm, config, path = news
    db = path / "locked.db"
    lock = SourceLock(db, "replica-news")
    assert lock.acquire(note="a scheduled crawl")
    try:
        blocked = scrapy_crawl(config, db, "replica-news")
    finally:
        lock.release()
    assert "being crawled already" in blocked.stderr and "a scheduled crawl" in blocked.stderr
    assert not db.exists(), "no archive, no run while another crawl holds the lock"
    done = scrapy_crawl(config, db, "replica-news")
    assert done.returncode == 0
    assert [r["status"] for r in rows(db, "select status from runs")] == ["ok"]
    assert not lock.is_held_elsewhere(), "the lock is released when the crawl ends"
    enabled = done.stderr.split("Enabled extensions:", 1)[1].split("]", 1)[0]
    assert "CoreStats" in enabled  # the list is there ...
    assert "RemoteControl" not in enabled and "TelnetConsole" not in enabled  # ... without the servers


def test_a_running_crawl_shows_its_progress(tmp_path, caplog):
    """While a slow crawl runs, its `runs` row carries live counts, the runner reports progress snapshots,
    and a progress line is logged."""
    with ReplicaFarm(sites=("news",)) as farm:
        config = farm.sources_yaml(tmp_path / "sources.yaml", defaults={"settings": {
            "DOWNLOAD_DELAY": 0.5, "RANDOMIZE_DOWNLOAD_DELAY": False, "AUTOTHROTTLE_ENABLED": False,
            "CONCURRENT_REQUESTS_PER_DOMAIN": 1, "ZWGK_PROGRESS_INTERVAL": 0.5}})
        db = tmp_path / "archive.db"
        seen: list[tuple[dict, dict]] = []

        def on_progress(source_id: str, snapshot: dict) -> None:
            (row,) = rows(db, "select * from runs order by id desc limit 1")
            seen.append((snapshot, row))

        runner = CrawlRunner(config, db, log_dir=tmp_path / "logs", on_progress=on_progress)
        outcome = runner.crawl(load_config(config).get("replica-news"))
        assert outcome.status == "ok"
        live_rows = [row for _, row in seen if row["status"] == "running" and row["pages_fetched"]]
        assert live_rows, "the running row was never updated"
        assert live_rows[-1]["new_documents"] <= outcome.row["new_documents"]
        pages = [snap["pages_fetched"] for snap, _ in seen]
        assert pages == sorted(pages) and pages[-1] > 0
        assert all(snap["source_id"] == "replica-news" and snap["rate"] >= 0 for snap, _ in seen)

        caplog.set_level(logging.INFO, logger="zwgk.scheduler")
        quiet = CrawlRunner(config, db, log_dir=tmp_path / "logs", progress_log_interval=0.5)
        assert quiet.crawl(load_config(config).get("replica-news")).status == "ok"
    lines = [r.getMessage() for r in caplog.records if " done / " in r.getMessage()]
    assert lines and lines[-1].startswith("source replica-news: pages ") and "pages/s" in lines[-1]


def test_once_on_a_terminal_draws_a_live_table(tmp_path):
    with ReplicaFarm(sites=("news", "cms")) as farm:
        config = farm.sources_yaml(tmp_path / "sources.yaml")
        master, slave = pty.openpty()
        proc = subprocess.Popen([sys.executable, "scheduler.py", "--once", "--config", str(config),
                                 "--db", str(tmp_path / "archive.db")], cwd=ROOT, stdin=subprocess.DEVNULL,
                                stdout=slave, stderr=subprocess.DEVNULL, env={**os.environ, "COLUMNS": "120"})
        os.close(slave)
        out = b""
        while True:
            ready, _, _ = select.select([master], [], [], 120)
            if not ready:
                break
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the terminal closed: the scheduler exited
                break
            if not chunk:
                break
            out += chunk
        assert proc.wait(timeout=60) == 0
    text = out.decode("utf-8", "replace")
    assert "zwgk-archive: crawling" in text and "queued" in text and "pages/s" in text
    for source in ("replica-news", "replica-cms"):
        assert source in text
    assert "2 of 2 source(s) crawled" in text
