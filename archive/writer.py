"""One thread that owns the archive's writing connection, so a crawl's event loop never runs SQLite.

A crawl's page writes (rows, the FTS5 segment of each group, the COMMIT) were a third of its reactor
thread. SQLite releases the GIL while it works, so the same writes done in a thread of their own overlap
with Scrapy's work instead of stalling it. Every use of the connection goes through that one thread, in
the order asked: sqlite3 refuses a connection used from another thread, so nothing can slip past it.

    writer = ArchiveWriter(path)                 # opens the archive (archive.db.connect) in its thread
    outcome = await writer.run(fn, item)         # fn(db, item) in the thread, awaited from a coroutine
    rows = writer.call(fn, url)                  # the same, waiting for it (start and end of a run)
    writer.submit(fn)                            # the same, not waiting (a timer's commit, progress)
    writer.close()                               # closes the connection after what was asked, ends the thread
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

import sqlite_utils

from archive.db import connect

T = TypeVar("T")
logger = logging.getLogger(__name__)


class ArchiveWriter:
    """The archive's connection and the one thread allowed to use it (see the module docstring)."""

    def __init__(self, path: str | None, opener: Callable[[str | None], sqlite_utils.Database] = connect) -> None:
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="archive-writer")  # one thread, for ever
        try:
            self.db: sqlite_utils.Database = self._thread.submit(opener, path).result()
        except BaseException:
            self._thread.shutdown()
            raise

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        """fn(db, *args) in the writer's thread, after everything asked before; its future."""
        return self._thread.submit(fn, self.db, *args)

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """fn(db, *args) in the writer's thread; waits for it and returns (or raises) what it did."""
        return self.submit(fn, *args).result()

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """fn(db, *args) in the writer's thread, awaited without blocking the event loop."""
        return await asyncio.wrap_future(self.submit(fn, *args))

    def close(self) -> None:
        """Close the connection once everything asked is done, and end the thread (twice is harmless)."""
        if self.db is None:
            return
        try:
            self.call(lambda db: db.close())
        finally:
            self.db = None
            self._thread.shutdown()
