"""Crashes lose nothing: kill -9 at random moments, readers during writes, a full disk, a read-only file."""
from __future__ import annotations

import asyncio
import hashlib
import os
import random
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

from archive.store import content_hash
from crawler.extract import Page
from crawler.jobs import abandon_stale_runs
from tests.crawling import ROOT, crawl, rows
from tests.sites.faults import FaultFarm, squash

KILLS = 6
ARTICLES = 24


def _start(config, db, source, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "crawler.run", "--source", source, "--config", str(config),
                             "--db", str(db), "--log-level", "WARNING"], cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, **kwargs)


def _articles_site(farm: FaultFarm, tmp_path, *, delay: float, per_host: int):
    """The farm's `kill` site with ARTICLES articles, its sources.yaml and the archive path."""
    site = farm.sites["kill"]
    for n in range(ARTICLES):
        site.add_article(f"a{n}")
    # Groups of at most 4 pages (archive.groupcommit): kills land mid-group, and the progress the test
    # waits for becomes visible in small steps rather than in one commit near the end of the run.
    config = farm.sources_yaml(tmp_path / "sources.yaml", settings={"DOWNLOAD_DELAY": delay,
                                                                     "CONCURRENT_REQUESTS_PER_DOMAIN": per_host,
                                                                     "ZWGK_COMMIT_PAGES": 4})
    return site, config, tmp_path / "archive.db"


def assert_archive_sound(db) -> None:
    """integrity_check passes, and every revision is complete and consistent with its document."""
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    finally:
        conn.close()
    for rev in rows(db, "SELECT r.*, d.id AS doc FROM revisions r LEFT JOIN documents d ON d.id = r.document_id"):
        assert rev["doc"] is not None and rev["text"] and rev["title"] and rev["fetched_at"]
        stored = Page(title=rev["title"], published=rev["published"], publisher=rev["publisher"],
                      report_year=rev["report_year"], text=rev["text"])
        assert content_hash(stored) == rev["content_hash"], f"revision {rev['id']} is torn"
        assert rows(db, "SELECT count(*) n FROM captures WHERE hash = ?", [rev["capture_hash"]])[0]["n"] == 1
    for doc in rows(db, "SELECT * FROM documents"):
        [latest] = rows(db, "SELECT max(id) id FROM revisions WHERE document_id = ?", [doc["id"]])
        assert doc["latest_revision_id"] == latest["id"], f"document {doc['id']} points at a stale revision"


def _wait_for_writes(child: subprocess.Popen, db, fetches: int, limit: float = 30) -> None:
    """Until the running crawl has logged `fetches` fetches (a random point in its writing), or ends."""
    deadline = time.monotonic() + limit
    while child.poll() is None and time.monotonic() < deadline:
        if db.exists():
            try:
                conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
                try:
                    n = conn.execute("SELECT count(*) FROM fetches WHERE run_id = (SELECT max(id) FROM runs "
                                     "WHERE status = 'running')").fetchone()[0]
                finally:
                    conn.close()
                if n >= fetches:
                    return
            except sqlite3.Error:
                pass
        time.sleep(0.005)


def test_kill_9_at_random_moments_loses_nothing(tmp_path):
    seed = random.randrange(1_000_000)
    chance = random.Random(seed)
    killed_mid_run = 0
    with FaultFarm(("kill",)) as farm:
        site, config, db = _articles_site(farm, tmp_path, delay=0.02, per_host=2)
        for attempt in range(KILLS):
            site.bump()  # every article changes, so every fetch writes a revision
            child = _start(config, db, farm.source_id("kill"))
            _wait_for_writes(child, db, chance.randint(1, ARTICLES - 4))  # 0: the kill could land before the run row
            time.sleep(chance.uniform(0, 0.05))
            child.send_signal(signal.SIGKILL)
            child.communicate(timeout=60)
            running = rows(db, "SELECT id FROM runs WHERE status = 'running'") if db.exists() else []
            killed_mid_run += bool(running)
            assert_archive_sound(db) if db.exists() else None
            marked = abandon_stale_runs(db) if db.exists() else []
            assert sorted(marked) == sorted(r["id"] for r in running), f"seed {seed}, attempt {attempt}"
        done = crawl(config, db, farm.source_id("kill"))
        assert done.returncode == 0, done.stderr[-2000:]
        current = {site.article_url(s): spec.text for s, spec in site.articles.items()}
    assert killed_mid_run >= KILLS - 1, f"seed {seed}: only {killed_mid_run} kills landed mid-crawl"
    assert_archive_sound(db)
    assert rows(db, "SELECT count(*) n FROM runs WHERE status = 'running'")[0]["n"] == 0
    assert rows(db, "SELECT count(*) n FROM runs WHERE status = 'abandoned'")[0]["n"] == killed_mid_run
    assert rows(db, "SELECT status FROM runs ORDER BY id DESC LIMIT 1")[0]["status"] == "ok"
    latest = rows(db, "SELECT d.url, r.text FROM documents d JOIN revisions r ON r.id = d.latest_revision_id")
    assert {r["url"]: squash(r["text"]) for r in latest} == {u: squash(t) for u, t in current.items()}


def test_sigterm_mid_crawl_finishes_the_run_as_interrupted(tmp_path):
    """Scrapy closes cleanly on SIGTERM; the run says it did not finish, and what was written stays."""
    with FaultFarm(("kill",)) as farm:
        _, config, db = _articles_site(farm, tmp_path, delay=0.2, per_host=1)
        child = _start(config, db, farm.source_id("kill"))
        _wait_for_writes(child, db, 2)
        child.send_signal(signal.SIGTERM)
        _, err = child.communicate(timeout=60)
    assert child.returncode == 3, err[-2000:]
    [run] = rows(db, "SELECT * FROM runs")
    assert run["status"] == "interrupted" and "shutdown" in run["message"] and run["finished_at"]
    assert 2 <= run["new_revisions"] < ARTICLES
    assert_archive_sound(db)


def test_readers_during_a_crawl_never_see_locked(tmp_path):
    from datasette.app import Datasette

    with FaultFarm(("read",)) as farm:
        site = farm.sites["read"]
        for n in range(ARTICLES):
            site.add_article(f"a{n}")
        config = farm.sources_yaml(tmp_path / "sources.yaml", settings={"DOWNLOAD_DELAY": 0.02})
        db = tmp_path / "archive.db"
        assert crawl(config, db, farm.source_id("read")).returncode == 0
        site.bump()
        child = _start(config, db, farm.source_id("read"))
        failures: list[str] = []
        stop = threading.Event()

        def raw_reader():  # a plain SQLite reader holding read transactions open
            conn = sqlite3.connect(db, timeout=5)
            while not stop.is_set():
                try:
                    conn.execute("BEGIN")
                    conn.execute("SELECT count(*) FROM revisions").fetchone()
                    conn.execute("SELECT * FROM documents").fetchall()
                    time.sleep(0.01)
                    conn.execute("COMMIT")
                except sqlite3.Error as e:
                    failures.append(f"reader: {e}")
            conn.close()

        async def datasette_reader() -> int:
            ds = Datasette([str(db)])
            pages = 0
            while child.poll() is None:
                for path in ("/archive/revisions.json?_size=20", "/archive.json?sql=select+count(*)+from+fetches",
                             "/archive/documents"):
                    response = await ds.client.get(path)
                    pages += 1
                    if response.status_code != 200 or "locked" in response.text:
                        failures.append(f"datasette {path}: {response.status_code} {response.text[:200]}")
            return pages

        thread = threading.Thread(target=raw_reader)
        thread.start()
        pages = asyncio.run(datasette_reader())
        stop.set()
        thread.join()
        _, stderr = child.communicate()
    assert child.returncode == 0, stderr[-2000:]
    assert "locked" not in stderr
    assert failures == []
    assert pages > 0
    assert rows(db, "SELECT count(*) n FROM revisions")[0]["n"] == 2 * ARTICLES


def _hash(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _first_crawl(tmp_path, key: str):
    farm = FaultFarm((key,)).__enter__()
    site = farm.sites[key]
    for n in range(12):
        site.add_article(f"a{n}")
    config = farm.sources_yaml(tmp_path / "sources.yaml")
    db = tmp_path / "archive.db"
    assert crawl(config, db, farm.source_id(key)).returncode == 0
    site.bump()
    return farm, config, db


def test_full_disk_stops_the_crawl_and_keeps_the_archive(tmp_path):
    farm, config, db = _first_crawl(tmp_path, "full")
    try:
        before = rows(db, "SELECT id, content_hash FROM revisions ORDER BY id")
        limit = 48 * 1024  # RLIMIT_FSIZE: the WAL cannot grow past this, as on a full disk
        child = _start(config, db, farm.source_id("full"),
                       preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit)))
        _, stderr = child.communicate(timeout=120)
        assert child.returncode == 3, stderr[-2000:]
        assert stderr.strip().splitlines()[-1].startswith("error: archive ")
        assert "crawl stopped" in stderr.strip().splitlines()[-1]
        assert_archive_sound(db)
        assert rows(db, "SELECT id, content_hash FROM revisions ORDER BY id")[:len(before)] == before
        done = crawl(config, db, farm.source_id("full"))  # space again: the next run completes
        assert done.returncode == 0, done.stderr[-2000:]
        assert rows(db, "SELECT count(*) n FROM revisions")[0]["n"] == 2 * 12
        assert_archive_sound(db)
    finally:
        farm.__exit__()


def test_read_only_archive_is_a_clear_error_and_stays_intact(tmp_path):
    farm, config, db = _first_crawl(tmp_path, "ro")
    as_root = os.geteuid() == 0
    if as_root and not shutil.which("chattr"):
        pytest.skip("running as root without chattr: cannot make a file read-only")
    try:
        if as_root:  # root ignores permission bits; the immutable flag it cannot ignore
            if subprocess.run(["chattr", "+i", str(db)], capture_output=True).returncode != 0:
                pytest.skip("this filesystem does not support chattr +i")
        else:
            db.chmod(0o444)
        before = _hash(db)
        done = crawl(config, db, farm.source_id("ro"))
    finally:
        if as_root:
            subprocess.run(["chattr", "-i", str(db)], capture_output=True)
        else:
            db.chmod(0o644)
        farm.__exit__()
    assert done.returncode == 3
    [line] = done.stderr.strip().splitlines()
    assert line.startswith(f"error: archive {db}") and "readonly" in line
    assert _hash(db) == before
    assert_archive_sound(db)
