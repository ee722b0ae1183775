"""Group commit: pages share a transaction, each page still whole or absent; the group's search rows are
written at its commit; and the covering indexes that keep Datasette's search count exact and cheap."""
from __future__ import annotations

import asyncio
import sqlite3
import time
import zlib
from dataclasses import replace

import pytest

from archive import captures, search, store
from archive.db import connect
from archive.groupcommit import Checkpointer, GroupCommit
from crawler.extract import Page

SOURCE = {"id": "s", "name": "测试", "district": "测试区", "listing": "html", "start_urls": "[]",
          "schedule": "every 6h", "timezone": "Asia/Shanghai", "config": "{}"}


def _page(n: int, extra: str = "") -> Page:
    return Page(title=f"第{n}号报告", published="2025-01-02", publisher="司法局", report_year=2024,
                text=f"第{n}段:全年共开展人民调解工作{n}次。{extra}\n第二段:行政复议案件办理情况。")


def _record(db, run: int, n: int, extra: str = "") -> str:
    return store.record_page(db, run, source_id="s", district="测试区", url=f"https://example.test/{n}.html",
                             http_status=200, page=_page(n, extra), body=f"<p>{n}{extra}</p>".encode(),
                             encoding="utf-8", headers={"ETag": f'"{n}"'})


def _count(path, sql: str) -> int:
    reader = sqlite3.connect(path)
    try:
        return reader.execute(sql).fetchone()[0]
    finally:
        reader.close()


@pytest.fixture
def archive(tmp_path):
    path = tmp_path / "archive.db"
    db = connect(path)
    store.upsert_source(db, SOURCE)
    run = store.start_run(db, "s")
    yield path, db, run
    db.close()


def test_pages_of_a_group_become_visible_together_at_its_commit(archive):
    path, db, run = archive
    group = GroupCommit(db, max_pages=3, max_seconds=3600)
    for n in (1, 2):
        with group.page():
            assert _record(db, run, n) == "new"
    assert _count(path, "SELECT count(*) FROM revisions") == 0  # another connection sees nothing yet
    with group.page():
        _record(db, run, 3)  # the third page fills the group: committed
    assert not group.open and group.commits == 1
    assert _count(path, "SELECT count(*) FROM revisions") == 3
    assert _count(path, "SELECT count(*) FROM fetches WHERE outcome = 'new'") == 3


def test_a_failing_page_is_rolled_back_alone(archive):
    path, db, run = archive
    group = GroupCommit(db, max_pages=50, max_seconds=3600)
    with group.page():
        _record(db, run, 1)
    bad = Page(title="坏页", published=None, publisher=None, report_year=None, text="正文。",
               attachments=[("https://example.test/a.pdf", object())])  # not storable: fails mid-page
    with pytest.raises((sqlite3.Error, TypeError, ValueError)), group.page():
        store.record_page(db, run, source_id="s", district=None, url="https://example.test/bad.html",
                          http_status=200, page=bad, body=b"<p>bad</p>", encoding="utf-8", headers={})
    with group.page():
        _record(db, run, 2)
    group.commit()
    assert _count(path, "SELECT count(*) FROM documents") == 2  # the bad page left no document …
    assert _count(path, "SELECT count(*) FROM revisions") == 2  # … no revision, no fetch, no capture
    assert _count(path, "SELECT count(*) FROM fetches") == 2
    assert _count(path, "SELECT count(*) FROM captures") == 2
    assert _count(path, "SELECT count(*) FROM revisions_fts") == 2  # nor search rows
    assert [r["document_id"] for r in search.search(db, "人民调解")] == [2, 1]


def test_a_page_whose_caller_fails_after_writing_leaves_nothing(archive):
    path, db, run = archive
    group = GroupCommit(db, max_pages=50, max_seconds=3600)
    with pytest.raises(RuntimeError), group.page():
        _record(db, run, 1)  # written whole (its own savepoint released) …
        raise RuntimeError("the pipeline fails after the write")  # … then the page as a whole fails
    with group.page():
        _record(db, run, 2)
    group.commit()
    assert _count(path, "SELECT group_concat(url) FROM documents") == "https://example.test/2.html"
    assert _count(path, "SELECT count(*) FROM revisions_fts") == 1
    assert _count(path, "SELECT count(*) FROM documents_fts") == 1


def test_search_rows_of_a_group_are_written_at_commit_and_match_page_by_page(tmp_path):
    """The same pages written one transaction each and in one group leave identical search tables."""
    tables = {}
    for mode in ("single", "group"):
        path = tmp_path / f"{mode}.db"
        db = connect(path)
        store.upsert_source(db, SOURCE)
        run = store.start_run(db, "s")
        group = GroupCommit(db, max_pages=1 if mode == "single" else 50, max_seconds=3600)
        for n, extra in ((1, ""), (2, ""), (1, "另有更正。"), (3, ""), (1, "再次更正。")):  # doc 1 thrice
            with group.page():
                _record(db, run, n, extra)
        group.commit()
        tables[mode] = {fts: db.execute(f"SELECT rowid, title, text FROM {fts} ORDER BY rowid").fetchall()
                        for fts in search.FTS_TABLES}
        assert [r["id"] for r in search.search(db, "更正")] == [5, 3]
        assert len(search.search(db, "调解", table="documents")) == 3
        db.close()
    assert tables["group"] == tables["single"]
    assert len(tables["group"]["documents_fts"]) == 3 and len(tables["group"]["revisions_fts"]) == 5


def test_an_idle_group_commits_when_due(archive):
    path, db, run = archive
    group = GroupCommit(db, max_pages=50, max_seconds=0)
    with group.page():
        _record(db, run, 1)
    assert not group.open  # due at once: a crawl's timer calls commit_if_due between pages
    assert _count(path, "SELECT count(*) FROM revisions") == 1


def test_datasette_search_count_uses_the_covering_index_and_stays_exact(archive):
    from datasette.app import Datasette

    path, db, run = archive
    for n in range(1, 31):
        _record(db, run, n, "行政复议决定书。" if n % 3 == 0 else "")
    assert search.refresh_planner_stats(db) is True
    assert search.refresh_planner_stats(db) is False  # fresh statistics: not taken again
    count_sql = ("SELECT count(*) FROM revisions WHERE rowid IN (SELECT rowid FROM revisions_fts "
                 "WHERE revisions_fts MATCH ?)")
    plan = " ".join(r[3] for r in db.execute("EXPLAIN QUERY PLAN " + count_sql, ["x"]).fetchall())
    assert "COVERING INDEX revisions_search_facets" in plan
    db.close()

    async def counts() -> tuple[int, int]:
        ds = Datasette([str(path)])
        decision = (await ds.client.get("/archive/revisions.json?_search=复议决定")).json()
        everything = (await ds.client.get("/archive/revisions.json?_search=调解")).json()
        return decision["filtered_table_rows_count"], everything["filtered_table_rows_count"]

    assert asyncio.run(counts()) == (10, 30)


def test_the_writer_leaves_wal_checkpoints_to_the_checkpointer_thread_while_it_runs(archive):
    path, db, run = archive
    checkpoints = Checkpointer(db, interval=3600)  # its thread does not come round during this test
    checkpoints.start()
    assert db.conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
    group = GroupCommit(db, max_pages=5, max_seconds=3600)
    big = "人民调解" * 3000  # ~36 KB a page: 60 pages grow the WAL past SQLite's 1000-page checkpoint
    for n in range(60):
        with group.page():
            _record(db, run, n, big + str(n))
    group.commit()
    wal = path.with_name(path.name + "-wal")
    assert wal.stat().st_size > 1000 * 4096  # the writer did not checkpoint (nor restart) its WAL
    checkpoints.stop()
    assert checkpoints.thread is None
    assert db.conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000
    assert _count(path, "SELECT count(*) FROM revisions") == 60


def test_the_checkpointer_thread_copies_committed_pages_into_the_database_file(archive, tmp_path):
    path, db, run = archive
    checkpoints = Checkpointer(db, interval=0.01)
    checkpoints.start()
    try:
        group = GroupCommit(db, max_pages=4, max_seconds=3600)
        for n in range(8):
            with group.page():
                _record(db, run, n)
        group.commit()
        after = checkpoints.checkpoints
        deadline = time.monotonic() + 60  # a wait for the thread, not a measure of its speed
        while checkpoints.checkpoints < after + 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert checkpoints.checkpoints >= after + 2  # a whole round after the last commit
    finally:
        checkpoints.stop()
    alone = tmp_path / "file-alone.db"  # the database file without its WAL: what was checkpointed
    alone.write_bytes(path.read_bytes())
    assert _count(alone, "SELECT count(*) FROM revisions") == 8
    assert _count(path, "SELECT count(*) FROM revisions") == 8


def test_a_capture_packed_in_the_worker_is_stored_as_one_packed_by_the_archive(archive):
    path, db, run = archive
    page = _page(1)
    body = "<p>第1段</p>".encode() * 50
    packed = (captures.body_hash(body), zlib.compress(body, 0))  # not how the archive would pack it itself
    assert packed[1] != captures.pack(body)[1]
    prepared = replace(store.prepare(page), capture=packed)
    outcome = store.record_page(db, run, source_id="s", district="测试区", url="https://example.test/1.html",
                                http_status=200, page=page, body=body, encoding="utf-8", headers={},
                                prepared=prepared)
    assert outcome == "new"
    stored = captures.load_capture(db, prepared.capture[0])
    assert stored is not None and stored.body == body and stored.hash == captures.body_hash(body)
    assert [r[0] for r in db.execute("SELECT capture_hash FROM revisions").fetchall()] == [packed[0]]
    assert db.execute("SELECT body FROM captures").fetchall() == [(packed[1],)]  # stored as handed over
