"""Red-team tests of the performance changes of issue 16 (WAL checkpoint thread, captures packed in the
extraction workers, QUEUED pages per worker). Real SQLite files, real processes; nothing timed."""
from __future__ import annotations

import asyncio
import multiprocessing
import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

from hypothesis import example, given, settings
from hypothesis import strategies as st

from archive.db import connect
from archive.groupcommit import Checkpointer, GroupCommit
from crawler.workers import QUEUED, ExtractorPool, WorkerCrashed, _send

ROOT = Path(__file__).resolve().parent.parent


def test_wal_stays_bounded_while_a_busy_writer_keeps_its_group_open(tmp_path):
    """With the writer's automatic checkpoints off, a PASSIVE checkpoint in another thread can never reset
    the WAL while the crawl keeps a group open (a WAL restarts only when a write begins after a complete
    checkpoint): the WAL file grew past 600 MB beside a 300 MB database. The writer must catch up
    itself once the WAL is large, as its automatic checkpoints did."""
    path = tmp_path / "archive.db"
    db = connect(path)
    db.conn.execute("CREATE TABLE filler (id INTEGER PRIMARY KEY, b BLOB)")
    checkpoints = Checkpointer(db)  # as the crawl starts it
    group = GroupCommit(db, max_pages=50, max_seconds=3600, checkpointer=checkpoints)
    checkpoints.start()
    try:
        for _ in range(20_000):  # ~170 MB of pages, one group after another as a fast crawl writes them
            with group.page():
                db.conn.execute("INSERT INTO filler (b) VALUES (randomblob(8000))")
    finally:
        checkpoints.stop()
    wal = os.path.getsize(f"{path}-wal")
    assert wal <= 3 * Checkpointer.WAL_LIMIT, f"WAL of {wal / 1e6:.0f} MB"
    assert db.conn.execute("SELECT count(*) FROM filler").fetchone()[0] == 20_000
    assert db.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()
    assert sqlite3.connect(path).execute("SELECT count(*) FROM filler").fetchone()[0] == 20_000


BIG_PAGES = r'''
import asyncio, sys
from crawler.workers import ExtractorPool, extract_and_prepare

def page(n):
    paras = "".join(f"<p>第{i}段 区政府信息公开年度报告 主动公开政府信息情况 {n} 依申请公开 {i * 7}</p>"
                    for i in range(10000))
    return (f"<html><head><title>报告{n}</title></head><body><div class='article'><h1>报告{n}</h1>{paras}</div>"
            "</body></html>")

async def main():
    pool = ExtractorPool(1)
    pool.start()
    pages = [page(n) for n in range(2)]
    done = await asyncio.gather(*(pool.run(extract_and_prepare, h, f"http://127.0.0.1/{n}.html", None, (), {},
                                           h.encode()) for n, h in enumerate(pages)))
    pool.close()
    print(sum(1 for p, prep in done if "报告" in p.title and prep.capture))

asyncio.run(main())
'''


def test_two_large_pages_queued_on_one_worker_do_not_deadlock_the_crawl():
    """A task larger than the worker's pipe, queued while the worker's answer to the page before, larger than
    its pipe too, waits to be read: the crawl's thread (blocked writing the task) and the worker (blocked
    writing its answer) waited for each other for ever. QUEUED pages per worker make this likelier.
    (A hang guard, far above the few seconds this takes; no duration is asserted.)"""
    out = subprocess.run([sys.executable, "-c", BIG_PAGES], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["2"]


def _square(n: int) -> int:
    return n * n


def _die(n: int) -> int:
    os._exit(13)


def test_a_worker_killed_with_its_queue_full_costs_only_the_pages_that_kill_it():
    """One worker, twice QUEUED pages in flight, two of them killers: every other page (running, queued in
    the pipe, or read into the worker's inbox) is retried and archived; only the two killers fail."""
    pool = ExtractorPool(1)
    pool.start()
    fns = [_square, _die, _square, _square, _square, _die, _square, _square, _square]
    fns += [_square] * (2 * QUEUED - len(fns))

    async def run_all():
        return await asyncio.gather(*(pool.run(fn, n) for n, fn in enumerate(fns)), return_exceptions=True)

    try:
        results = asyncio.run(run_all())
        for n, (fn, result) in enumerate(zip(fns, results, strict=True)):
            if fn is _die:
                assert isinstance(result, WorkerCrashed), (n, result)
            else:
                assert result == n * n, (n, result)
        assert asyncio.run(pool.run(_square, 7)) == 49
    finally:
        pool.close()


def test_every_stored_capture_is_the_body_its_hash_names_after_faulty_crawls(tmp_path):
    """Captures are hashed and compressed in the extraction workers now: over two real crawls with redirects,
    mislabelled encodings, retried 503s, truncated and challenge pages, every capture row decompresses to
    bytes whose SHA-256 is its hash and whose length is its size, each revision names such a capture, and the
    challenge pages (whose visible text the guard now computes once) are still never archived."""
    import hashlib
    import zlib

    from tests.sites.faults import assert_never_archived, fault_run

    faults = ["redirect-offsite", "gbk-as-utf8", "gbk-unlabelled", "utf8-bom-as-gbk", "flaky-503", "truncated",
              "ruishu-200", "jiasule-200", "chuangyu-200"]
    run = fault_run(tmp_path, faults)
    captures = run.query("SELECT hash, size, body FROM captures")
    assert len(captures) >= 2
    for row in captures:
        body = zlib.decompress(row["body"])
        assert hashlib.sha256(body).hexdigest() == row["hash"] and len(body) == row["size"]
    assert run.query("SELECT count(*) n FROM revisions WHERE capture_hash NOT IN (SELECT hash FROM captures)"
                     ) == [{"n": 0}]
    for challenge in ("ruishu-200", "jiasule-200", "chuangyu-200"):
        assert_never_archived(run, f"new-{challenge}")


def test_two_crawls_of_two_sources_write_one_archive_at_once(tmp_path):
    """Two crawl processes (each with its own checkpoint thread, the writers' automatic checkpoints off)
    write one archive at the same time, and a reader reads it throughout: both runs finish with every
    article and the archive is sound."""
    from tests.crawling import rows
    from tests.sites.faults import FaultFarm
    from tests.test_crashes import assert_archive_sound

    with FaultFarm(("one", "two")) as farm:
        for site in farm.sites.values():
            for n in range(30):
                site.add_article(f"a{n}")
        config = farm.sources_yaml(tmp_path / "sources.yaml", settings={"ZWGK_COMMIT_PAGES": 2})
        db = tmp_path / "archive.db"
        connect(db).close()
        reader = sqlite3.connect(db)
        children = [subprocess.Popen([sys.executable, "-m", "crawler.run", "--source", farm.source_id(key),
                                      "--config", str(config), "--db", str(db), "--log-level", "WARNING"],
                                     cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                    for key in ("one", "two")]
        while any(child.poll() is None for child in children):
            reader.execute("SELECT count(*) FROM revisions").fetchone()
        errors = [child.stderr.read() for child in children]
        reader.close()
    assert [child.returncode for child in children] == [0, 0], errors
    runs = rows(db, "SELECT source_id, status, new_documents FROM runs ORDER BY source_id")
    assert runs == [{"source_id": "fault-one", "status": "ok", "new_documents": 30},
                    {"source_id": "fault-two", "status": "ok", "new_documents": 30}], runs
    assert_archive_sound(db)
    assert rows(db, "SELECT count(*) n FROM revisions") == [{"n": 60}]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 3 << 20).map(lambda n: os.urandom(1) * n), min_size=1, max_size=4))
@example([b"", b"x" * 16384, b"y" * 16385, b"z" * (1 << 20)])
def test_a_message_sent_in_one_write_is_read_whole_by_recv_bytes(messages):
    """The pool's own framing (one write for length and bytes) is multiprocessing's: every message, of any
    size (past the 16 KiB where multiprocessing splits, past the pipe's buffer), arrives whole and in order."""
    receiving, sending = multiprocessing.Pipe(duplex=False)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.extend(receiving.recv_bytes() for _ in messages))
    reader.start()
    for message in messages:
        _send(sending, message)
    reader.join(30)
    sending.close()
    receiving.close()
    assert got == messages
