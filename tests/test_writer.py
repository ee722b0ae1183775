"""archive.writer.ArchiveWriter: one thread owns the archive's connection; everything asked of it runs
there, in the order asked, and its errors reach whoever asked. Real archives in a temp dir."""
from __future__ import annotations

import asyncio
import sqlite3
import threading

import pytest

from archive.db import connect_readonly
from archive.writer import ArchiveWriter


def _thread(db) -> int:
    return threading.get_ident()


def _note(db, url: str) -> None:
    db.execute("INSERT INTO sources (id, name) VALUES (?, ?)", [url, url])


def test_everything_runs_in_one_thread_of_its_own_in_the_order_asked(tmp_path):
    writer = ArchiveWriter(str(tmp_path / "a.db"))
    try:
        first = writer.call(_thread)
        futures = [writer.submit(_note, f"s{i}") for i in range(50)]
        assert writer.call(_thread) == first != threading.get_ident()
        assert all(f.result() is None for f in futures)
        order = writer.call(lambda db: [r[0] for r in db.execute("SELECT id FROM sources ORDER BY rowid")])
        assert order == [f"s{i}" for i in range(50)]
    finally:
        writer.close()


def test_the_connection_refuses_any_other_thread(tmp_path):
    writer = ArchiveWriter(str(tmp_path / "a.db"))
    try:
        with pytest.raises(sqlite3.ProgrammingError):
            writer.db.execute("SELECT 1")
    finally:
        writer.close()


def test_errors_reach_the_caller_and_the_writer_goes_on(tmp_path):
    writer = ArchiveWriter(str(tmp_path / "a.db"))
    try:
        with pytest.raises(sqlite3.OperationalError, match="no such table"):
            writer.call(lambda db: db.execute("SELECT * FROM nowhere"))

        async def awaited():
            return await writer.run(lambda db, x: db.execute("SELECT ? * 2", [x]).fetchone()[0], 21)

        assert asyncio.run(awaited()) == 42

        async def failing():
            await writer.run(lambda db: db.execute("INSERT INTO nowhere VALUES (1)"))

        with pytest.raises(sqlite3.OperationalError, match="no such table"):
            asyncio.run(failing())
        assert writer.call(lambda db: db.execute("SELECT 7").fetchone()[0]) == 7
    finally:
        writer.close()


def test_close_finishes_what_was_asked_first(tmp_path):
    path = tmp_path / "a.db"
    writer = ArchiveWriter(str(path))
    for i in range(20):
        writer.submit(_note, f"s{i}")
    writer.close()
    writer.close()  # twice is harmless
    db = connect_readonly(path)
    try:
        assert db.execute("SELECT count(*) FROM sources").fetchone()[0] == 20
    finally:
        db.close()


def test_an_archive_that_cannot_be_opened_fails_at_once_and_leaves_no_thread(tmp_path):
    before = {t.name for t in threading.enumerate()}
    (tmp_path / "dir.db").mkdir()
    with pytest.raises(sqlite3.Error):
        ArchiveWriter(str(tmp_path / "dir.db"))
    assert not {t.name for t in threading.enumerate()} - before
