"""Group commit: many pages share one write transaction, each page a SAVEPOINT inside it.

A commit costs far more than a page's rows (WAL frames, and FTS5 writes a new index segment per
transaction), so a crawl commits its pages in groups: at most `max_pages` pages or `max_seconds` after the
group's first write, whichever comes first. A page is still written whole or not at all
(:func:`archive.store.transaction` becomes a savepoint inside a group); a crawl killed mid-group loses only
the pages of the open group, which were never confirmed to anyone and are fetched again by the next run.
The group's search-index rows are written together just before its COMMIT (archive.search.defer_index):
FTS5 writes a new index segment at every savepoint, so they cannot be written page by page.

    group = GroupCommit(db)
    with group.page():              # opens the group if none is open
        store.record_page(db, ...)  # its own transaction() is a savepoint of the group
    group.commit_if_due()           # also call this from a timer, so an idle crawl commits too
    group.commit()                  # before the run row is closed, and at the end
"""
from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from archive import search
from archive.store import savepoint

if TYPE_CHECKING:  # sqlite-utils is imported where it is used: an unchanged recrawl never needs it
    import sqlite_utils

MAX_PAGES = 50
MAX_SECONDS = 0.2
logger = logging.getLogger(__name__)


class GroupCommit:
    """Commits the archive's writes in groups of pages (see the module docstring)."""

    def __init__(self, db: sqlite_utils.Database, max_pages: int = MAX_PAGES,
                 max_seconds: float = MAX_SECONDS, checkpointer: Checkpointer | None = None) -> None:
        self.db, self.max_pages, self.max_seconds = db, max(1, max_pages), max_seconds
        self.checkpointer = checkpointer  # told of every commit, so the WAL never grows without bound
        self.pages = 0
        self.opened = 0.0
        self.commits = 0
        self.index_rows: list[tuple[int, int, str, str]] = []  # search rows of the group (search.defer_index)

    @property
    def open(self) -> bool:
        return self.db.conn.in_transaction

    @contextmanager
    def page(self) -> Iterator[None]:
        """One page's writes, inside the open group (opened here if needed); commits when the group is full."""
        if not self.open:
            self.db.conn.execute("BEGIN IMMEDIATE")
            self.pages, self.opened = 0, time.monotonic()
            self.index_rows = []
            search.defer_index(self.db.conn, self.index_rows)
        held = len(self.index_rows)
        try:
            with savepoint(self.db.conn):  # however the page fails, none of it stays …
                yield
        except BaseException:
            del self.index_rows[held:]  # … nor its search rows
            raise
        self.pages += 1
        self.commit_if_due()

    def commit_if_due(self) -> None:
        """Commit the group if it holds max_pages pages or was opened max_seconds ago."""
        if self.open and (self.pages >= self.max_pages or time.monotonic() - self.opened >= self.max_seconds):
            self.commit()

    def commit(self) -> None:
        """Commit the open group, if any (on failure it is rolled back and the error raised)."""
        conn = self.db.conn
        search.defer_index(conn, None)
        rows, self.index_rows = self.index_rows, []
        if not conn.in_transaction:
            return
        try:
            search.write_index(conn, rows)  # outside any savepoint: one FTS5 segment for the group
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        self.pages = 0
        self.commits += 1
        if self.checkpointer is not None:
            self.checkpointer.after_commit()


class Checkpointer:
    """WAL checkpoints in a thread of their own, so the crawl's thread never waits on them.

    With SQLite's automatic checkpoints, the COMMIT that grows the WAL past 1000 pages copies the WAL
    into the database file and syncs it, in the committing (the crawl's) thread. Here the writing
    connection's automatic checkpoints are off and a thread with a connection of its own runs a PASSIVE
    checkpoint every `interval` seconds (it never blocks the writer, and SQLite releases the GIL while it
    works). A checkpoint only moves committed pages from the WAL into the database file; a process killed
    meanwhile leaves a WAL that the next connection uses, as ever.

        checkpoints = Checkpointer(db)   # db: the writing sqlite_utils.Database
        checkpoints.start()
        ...
        checkpoints.stop()               # the writer's automatic checkpoints are on again

    A WAL restarts from its beginning only when a write transaction begins after a complete checkpoint,
    which the thread's checkpoints almost never are while a busy crawl keeps a group open: so once the WAL
    file passes WAL_LIMIT, the writer (after_commit, between its groups) checkpoints itself, a short one
    since the thread copied the rest, and its next group rewinds the WAL (journal_size_limit truncates it).
    """

    WAL_LIMIT = 32 * 1024 * 1024  # bytes

    def __init__(self, db: sqlite_utils.Database, interval: float = 1.0) -> None:
        self.db, self.interval = db, interval
        self.path = db.conn.execute("PRAGMA database_list").fetchone()[2]
        self.done = threading.Event()
        self.thread: threading.Thread | None = None
        self.checkpoints = 0

    def start(self) -> None:
        if not self.path or self.thread is not None:  # an in-memory database has no WAL
            return
        self.db.conn.execute("PRAGMA wal_autocheckpoint = 0")
        self.db.conn.execute(f"PRAGMA journal_size_limit = {self.WAL_LIMIT}")
        self.thread = threading.Thread(target=self._run, name="wal-checkpoints", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            conn = sqlite3.connect(self.path, isolation_level=None)
        except sqlite3.Error:
            return
        try:
            while not self.done.wait(self.interval):
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    self.checkpoints += 1
                except sqlite3.Error as e:  # busy or failing: the next round, or the writer's own, catches up
                    logger.warning("WAL checkpoint of %s failed: %s", self.path, e)
        finally:
            conn.close()

    def after_commit(self) -> None:
        """In the writer's thread, between two groups: checkpoint if the WAL has grown past WAL_LIMIT."""
        if self.thread is None:
            return
        try:
            if os.path.getsize(f"{self.path}-wal") <= self.WAL_LIMIT:
                return
            self.db.conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except (OSError, sqlite3.Error) as e:  # the next commit tries again
            logger.warning("WAL checkpoint of %s failed: %s", self.path, e)

    def stop(self) -> None:
        """End the thread (after its current checkpoint) and turn the writer's own checkpoints on again."""
        if self.thread is None:
            return
        self.done.set()
        self.thread.join()
        self.thread = None
        try:
            self.db.conn.execute("PRAGMA wal_autocheckpoint = 1000")
        except sqlite3.Error:
            pass
