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

import time
from collections.abc import Iterator
from contextlib import contextmanager

import sqlite_utils

from archive import search
from archive.store import savepoint

MAX_PAGES = 50
MAX_SECONDS = 0.2


class GroupCommit:
    """Commits the archive's writes in groups of pages (see the module docstring)."""

    def __init__(self, db: sqlite_utils.Database, max_pages: int = MAX_PAGES,
                 max_seconds: float = MAX_SECONDS) -> None:
        self.db, self.max_pages, self.max_seconds = db, max(1, max_pages), max_seconds
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
