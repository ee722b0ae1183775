"""Red-team tests of the performance changes of issue 16 (WAL checkpoint thread, captures packed in the
extraction workers, QUEUED pages per worker). Real SQLite files, real processes; nothing timed."""
from __future__ import annotations

import os
import sqlite3

from archive.db import connect
from archive.groupcommit import Checkpointer, GroupCommit


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
