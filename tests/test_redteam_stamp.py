"""Red team of the schema stamp (PRAGMA user_version) and connect_current(): real archives, real crawls of a
local replica site in child processes (`python -m crawler.run`), real reading commands (`python -m archive`)."""
from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from archive.db import schema_stamp
from tests.crawling import ROOT, crawl, rows
from tests.sites import ReplicaFarm
from tests.test_conditional import serve_with_validators
from tests.test_recrawl_fast import crawl_stamped, recrawl_importing

SOURCE = "replica-cms"

# what is done to an archive stamped current, outside the archive's code (a sqlite3 shell, a Datasette
# plugin, a script), and what must be back after the next crawl
SPOILS = {
    "a table dropped": ("DROP TABLE document_sources",
                        "SELECT count(*) FROM document_sources"),
    "a column renamed": ("ALTER TABLE runs RENAME COLUMN full_listing TO listing_read",
                         "SELECT count(full_listing) FROM runs"),
    "a search table dropped": ("DROP TABLE revisions_fts",
                               "SELECT count(*) FROM revisions_fts WHERE revisions_fts MATCH 'a OR e OR 的'"),
    "a unique index dropped": ("DROP INDEX idx_documents_url",
                               "SELECT count(*) FROM sqlite_master WHERE name = 'idx_documents_url'"),
}


@pytest.fixture(scope="module")
def stamped(tmp_path_factory):
    """An archive of the cms replica crawled once (stamped by connect()), its farm still serving 304s."""
    with ReplicaFarm(sites=("cms",)) as farm:
        config, db = crawl_stamped(farm, tmp_path_factory.mktemp("stamped"))
        yield config, db


@pytest.mark.parametrize("spoil", sorted(SPOILS))
def test_a_stamped_archive_that_lost_part_of_its_schema_is_mended_by_the_next_crawl(tmp_path, stamped, spoil):
    """A DROP or ALTER leaves user_version alone: the stamp still says "current". Before the stamp, every
    crawl's connect() re-created what was missing; an unchanged recrawl (which now opens a stamped archive
    on plain sqlite3 and ends without Scrapy) must still do so, not fail on every run ("no such table") nor
    leave the search index missing for good."""
    config, template = stamped
    db = tmp_path / "archive.db"
    shutil.copy(template, db)
    sql, check = SPOILS[spoil]
    documents = rows(db, "SELECT count(*) n FROM documents")[0]["n"]
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute(sql)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == schema_stamp()  # the stamp did not notice
    conn.close()
    done = crawl(config, db, SOURCE, extra=["--log-level", "INFO"])
    assert done.returncode == 0, f"{spoil}: {done.stderr[-1500:]}"
    conn = sqlite3.connect(db)
    try:
        assert conn.execute(check).fetchone()[0], spoil  # back (document_sources refilled, FTS rebuilt)
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == schema_stamp()
        [last] = conn.execute("SELECT status, unchanged FROM runs ORDER BY id DESC LIMIT 1").fetchall()
        assert last == ("ok", documents)
    finally:
        conn.close()


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_reading_commands_never_stamp_or_mend_an_archive(tmp_path, stamped):
    """The stamp is written by connect() only: reading commands (status, search, history, list) on an
    archive whose stamp is stale or missing leave the file byte for byte as it was, user_version included."""
    _, template = stamped
    db = tmp_path / "archive.db"
    shutil.copy(template, db)
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA user_version = 0")  # as a version before the stamp left it
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    before = _digest(db)
    [doc] = rows(db, "SELECT id FROM documents ORDER BY id LIMIT 1")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for args in (["status"], ["status", "--json"], ["search", "公开"], ["history", str(doc["id"])]):
        out = subprocess.run([sys.executable, "-m", "archive", "--db", str(db), *args], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, (args, out.stderr[-1500:])
        assert _digest(db) == before, args
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 0
    conn.close()


def test_a_document_back_from_gone_in_an_unchanged_recrawl_is_notified_through_the_plain_handle(tmp_path):
    """The revalidation stage ends an unchanged recrawl on plain sqlite3 (a Handle, not a sqlite_utils
    Database): a withdrawn document answering 304 again is a `returned` event, and the run's notification
    (notify.after_run, with the planner statistics refresh after it) must go out and be marked sent there."""
    from tests.test_notify import Webhook

    hook = Webhook()
    try:
        with ReplicaFarm(sites=("cms",)) as farm:
            serve_with_validators(farm, "cms")
            config = farm.sources_yaml(tmp_path / "sources.yaml", defaults={"notify": [hook.url], "settings": {
                "DOWNLOAD_DELAY": 0, "AUTOTHROTTLE_ENABLED": False, "ZWGK_ATTACHMENTS": False}})
            db = tmp_path / "archive.db"
            done = crawl(config, db, SOURCE)
            assert done.returncode == 0, done.stderr[-2000:]
            first = len(hook.received)
            [doc] = rows(db, "SELECT id, url FROM documents ORDER BY id LIMIT 1")
            conn = sqlite3.connect(db, isolation_level=None)
            conn.execute("UPDATE documents SET status = 'gone' WHERE id = ?", (doc["id"],))  # as a withdrawal leaves it
            conn.execute("UPDATE events SET notified_at = coalesce(notified_at, '2026-01-01T00:00:00+00:00')")
            conn.close()
            done = crawl(config, db, SOURCE, extra=["--log-level", "INFO"])
            assert done.returncode == 0, done.stderr[-2000:]
            assert "finished without Scrapy" in done.stderr
    finally:
        hook.close()
    [event] = rows(db, "SELECT kind, notified_at, run_id FROM events WHERE document_id = ? AND kind = 'returned'",
                   [doc["id"]])
    assert event["notified_at"] and event["run_id"] == 2, event
    [run] = rows(db, "SELECT status, notify_error FROM runs WHERE id = 2")
    assert run == {"status": "ok", "notify_error": None}
    assert len(hook.received) == first + 1
    sent = hook.received[-1]
    assert sent["title"].endswith(": 1 returned") and f"/-/document/{doc['id']}" in sent["message"], sent
    assert rows(db, "SELECT status FROM documents WHERE id = ?", [doc["id"]]) == [{"status": "live"}]


def test_an_older_archive_is_refused_by_reads_stamped_by_upgrade_and_then_recrawled_on_plain_sqlite3(
        tmp_path, stamped):
    """An archive as a version before the stamp left it (user_version 0, no events table, no
    revisions.suspect column): a reading command refuses it with one line naming `upgrade` and writes
    nothing; `python -m archive upgrade` brings it up to date and stamps it; the next unchanged recrawl
    then opens it on plain sqlite3 (sqlite_utils never imported) and records every 304."""
    config, template = stamped
    db = tmp_path / "archive.db"
    shutil.copy(template, db)
    documents = rows(db, "SELECT count(*) n FROM documents")[0]["n"]
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("DROP TABLE events")
    conn.execute("ALTER TABLE revisions DROP COLUMN suspect")
    conn.execute("PRAGMA user_version = 0")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    before = _digest(db)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def archive(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "archive", "--db", str(db), *args], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120)

    refused = archive("status")
    assert refused.returncode == 2 and "upgrade" in refused.stderr, refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1 and _digest(db) == before
    upgraded = archive("upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == schema_stamp()
    assert conn.execute("SELECT count(*) FROM events WHERE kind = 'new'").fetchone()[0] == documents  # backfilled
    conn.close()
    log, imported = recrawl_importing(config, db)
    assert "finished without Scrapy" in log and "sqlite_utils" not in imported
    [run] = rows(db, "SELECT status, unchanged, errors FROM runs ORDER BY id DESC LIMIT 1")
    assert run == {"status": "ok", "unchanged": documents, "errors": 0}
    assert archive("status").returncode in (0, 1)  # readable again (1: a health verdict, not a refusal)
