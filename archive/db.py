"""Schema and connection of the archive: one SQLite file, WAL, a busy timeout.

The table and column names here are a public interface (Datasette users and scripts read them).
"""
from __future__ import annotations

import os
import sqlite3
import zlib
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from archive.search import SEGMENTER_VERSION, ensure_search, segmenter_version

if TYPE_CHECKING:  # sqlite-utils is imported where it is used: an unchanged recrawl never needs it
    import sqlite_utils

DEFAULT_DB = "data/archive.db"
BUSY_TIMEOUT_MS = 30_000

SCHEMA: dict[str, tuple[dict, dict]] = {
    # table: (columns, options)
    "sources": (
        {"id": str, "name": str, "district": str, "listing": str, "start_urls": str, "schedule": str,
         "timezone": str, "config": str, "updated_at": str, "active": int},
        {"pk": "id"},
    ),
    "documents": (
        {"id": int, "url": str, "source_id": str, "title": str, "published": str, "publisher": str,
         "district": str, "report_year": int, "status": str, "first_seen": str, "last_seen": str,
         "last_changed": str, "latest_revision_id": int},
        {"pk": "id", "not_null": {"url", "source_id", "status"}},
    ),
    "revisions": (
        {"id": int, "document_id": int, "fetched_at": str, "content_hash": str, "title": str,
         "published": str, "publisher": str, "report_year": int, "text": str, "record": str,
         "capture_hash": str, "reextracted": int, "extractor": str, "captured_at": str, "suspect": int},
        {"pk": "id", "not_null": {"document_id", "fetched_at", "content_hash", "text"}},
    ),
    "document_sources": (  # which sources list (or re-ask) a document; a shared report is watched by each
        {"document_id": int, "source_id": str, "first_seen": str, "last_seen": str},
        {"pk": ("document_id", "source_id"), "not_null": {"first_seen", "last_seen"}},
    ),
    "runs": (
        {"id": int, "source_id": str, "started_at": str, "finished_at": str, "status": str, "pid": int,
         "pages_fetched": int, "new_documents": int, "new_revisions": int, "unchanged": int, "gone": int,
         "errors": int, "blocked": int, "message": str, "pages_extracted": int, "notify_error": str,
         "full_listing": int},  # 1: the run read every page of its listing (gkmlpt: every API page)
        {"pk": "id", "not_null": {"source_id", "started_at", "status"}},
    ),
    "fetches": (
        {"id": int, "run_id": int, "url": str, "document_id": int, "http_status": int, "outcome": str,
         "error": str, "content_hash": str, "fetched_at": str, "etag": str, "last_modified": str,
         "final_url": str},  # where redirects ended, when the page answered from another URL
        {"pk": "id", "not_null": {"url", "outcome", "fetched_at"}},
    ),
    # one row per document and attachment URL (text: its latest link text; revision_id: the latest
    # revision linking it); archive/attachments.py
    "attachments": (
        {"id": int, "document_id": int, "revision_id": int, "url": str, "text": str, "etag": str,
         "last_modified": str, "checked_at": str},
        {"pk": "id"},
    ),
    "events": (
        {"id": int, "document_id": int, "kind": str, "at": str, "revision_id": int, "run_id": int,
         "source_id": str, "notified_at": str, "attachment_revision_id": int},
        {"pk": "id", "not_null": {"document_id", "kind", "at"}},
    ),
    "attachment_links": (
        {"revision_id": int, "attachment_id": int, "text": str},
        {"pk": ("revision_id", "attachment_id")},
    ),
    "files": (
        {"hash": str, "size": int, "mime": str, "compression": str, "body": bytes},
        {"pk": "hash"},
    ),
    "attachment_revisions": (
        {"id": int, "attachment_id": int, "fetched_at": str, "file_hash": str, "size": int, "mime": str,
         "text": str, "error": str, "extractor": str},
        {"pk": "id", "not_null": {"attachment_id", "fetched_at"}},
    ),
    "captures": (
        {"hash": str, "url": str, "fetched_at": str, "http_status": int, "headers": str,
         "encoding": str, "size": int, "body": bytes},
        {"pk": "hash"},
    ),
}

FOREIGN_KEYS = {
    "documents": [("source_id", "sources", "id")],
    "revisions": [("document_id", "documents", "id")],
    "document_sources": [("document_id", "documents", "id"), ("source_id", "sources", "id")],
    "runs": [("source_id", "sources", "id")],
    "fetches": [("run_id", "runs", "id"), ("document_id", "documents", "id")],
    "attachments": [("document_id", "documents", "id"), ("revision_id", "revisions", "id")],
    "events": [("document_id", "documents", "id"), ("revision_id", "revisions", "id")],
    "attachment_links": [("revision_id", "revisions", "id"), ("attachment_id", "attachments", "id")],
    "attachment_revisions": [("attachment_id", "attachments", "id"), ("file_hash", "files", "hash")],
}

INDEXES = [
    ("documents", ["url"], True),
    ("documents", ["source_id", "status"], False),
    ("revisions", ["document_id", "id"], False),
    ("runs", ["source_id", "id"], False),
    ("runs", ["status"], False),
    ("fetches", ["run_id"], False),
    ("fetches", ["url", "id"], False),
    ("attachments", ["revision_id"], False),
    ("document_sources", ["source_id"], False),
    ("events", ["at"], False),
    ("events", ["document_id", "id"], False),
    ("events", ["source_id", "notified_at"], False),
    ("attachments", ["document_id", "url"], True),
    ("attachment_links", ["attachment_id"], False),
    ("attachment_revisions", ["attachment_id", "id"], False),
    ("attachment_revisions", ["fetched_at"], False),
]


def now() -> str:
    """The current time as ISO 8601 in UTC, e.g. ``2026-11-22T15:26:08.123456+00:00``."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def db_path(path: str | os.PathLike | None = None) -> Path:
    """The archive's path: the argument, else $ARCHIVE_DB, else data/archive.db."""
    return Path(path or os.environ.get("ARCHIVE_DB") or DEFAULT_DB)


# Bump when ensure_schema learns a data migration that the declarations below do not show.
SCHEMA_REVISION = 1


def schema_stamp() -> int:
    """The current schema as a number, kept in the archive's `PRAGMA user_version` by connect(): the tables,
    columns, indexes and search index this version declares (a positive 31-bit CRC)."""
    from archive import search

    text = repr(_canonical((SCHEMA_REVISION, SCHEMA, FOREIGN_KEYS, INDEXES, search.FTS_TABLES,
                            search.SEARCH_INDEXES, SEGMENTER_VERSION)))
    return zlib.crc32(text.encode()) & 0x7FFFFFFF or 1


def _canonical(value):
    """`value` with its sets sorted (a set's order, hence its repr, changes with every process's hash seed)."""
    if isinstance(value, set | frozenset):
        return sorted(_canonical(v) for v in value)
    if isinstance(value, dict):
        return [(_canonical(k), _canonical(v)) for k, v in value.items()]
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return value


class Handle:
    """An archive open on plain sqlite3, its schema current: the part of sqlite_utils.Database that the
    crawl's revalidation stage and its run row use (conn, execute, query, table_names, close)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def execute(self, sql: str, parameters: Iterable | dict | None = None) -> sqlite3.Cursor:
        return self.conn.execute(sql) if parameters is None else self.conn.execute(sql, parameters)

    def query(self, sql: str, params: Iterable | dict | None = None) -> Iterator[dict]:
        cursor = self.execute(sql, params or ())
        keys = [d[0] for d in cursor.description]
        for row in cursor:
            yield dict(zip(keys, row, strict=True))

    def table_names(self) -> list[str]:
        return [row[0] for row in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]

    def close(self) -> None:
        self.conn.close()


def connect_current(path: str | os.PathLike | None = None) -> Handle | sqlite_utils.Database:
    """connect(), without sqlite-utils when the archive needs no schema work: one stamped current by
    connect() (schema_stamp), in WAL mode and with nothing declared dropped or renamed since (_intact)
    gets the same connection settings on plain sqlite3 (a Handle); any other (new, older, stamped by
    another version, unreadable) goes through connect(). For the crawl
    process: importing sqlite-utils (with the click, pluggy and dateutil it imports) was a tenth of an
    unchanged recrawl, whose revalidation stage only runs SQL."""
    path = db_path(path)
    if path.is_file():
        conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)  # busy timeout
        try:
            if (conn.execute("PRAGMA user_version").fetchone()[0] == schema_stamp()
                    and conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal" and _intact(conn)):
                conn.execute("PRAGMA synchronous = NORMAL")
                conn.execute("PRAGMA foreign_keys = ON")
                return Handle(conn)
        except sqlite3.Error:  # connect() says what is wrong
            pass
        conn.close()
    return connect(path)


def _intact(conn: sqlite3.Connection) -> bool:
    """Whether the archive still has every declared table, column, index and search table. The stamp says
    which version last ensured the schema, not that nothing was dropped or renamed since (a DROP or ALTER
    leaves user_version alone): such an archive goes through connect(), which puts it back, as every crawl
    did before the stamp."""
    from archive import search

    have: dict[str, set[str]] = {}
    for kind, name in conn.execute("SELECT type, name FROM sqlite_master WHERE type IN ('table', 'index')"):
        have.setdefault(kind, set()).add(name)
    tables, indexes = have.get("table", set()), have.get("index", set())
    wanted = {f"idx_{table}_{'_'.join(cols)}" for table, cols, _ in INDEXES} | set(search.SEARCH_INDEXES)
    if not (set(SCHEMA) | set(search.FTS_TABLES) | {"search_meta"}) <= tables or not wanted <= indexes:
        return False
    return all(set(columns) <= {row[1] for row in conn.execute(f"PRAGMA table_info([{name}])")}
               for name, (columns, _) in SCHEMA.items())


def connect(path: str | os.PathLike | None = None, *, create: bool = True) -> sqlite_utils.Database:
    """Open (and if needed create) the archive with WAL and a busy timeout, schema ensured. Installed
    sqlite-utils plugins are not run on the archive's connections (execute_plugins=False): they would
    change nothing the archive needs, and finding them scans every installed package at each start-up."""
    path = db_path(path)
    if not create and not path.exists():
        raise FileNotFoundError(f"archive database not found: {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    import sqlite_utils

    db = sqlite_utils.Database(conn, execute_plugins=False)
    if db.journal_mode != "wal":
        db.enable_wal()
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    ensure_schema(db)
    stamp = schema_stamp()
    if conn.execute("PRAGMA user_version").fetchone()[0] != stamp:
        try:
            conn.execute(f"PRAGMA user_version = {stamp}")
        except sqlite3.OperationalError:  # a read-only archive: connect_current goes on using connect()
            pass
    return db


class NotAnArchive(Exception):
    """The path given as an archive cannot be read as one; the message is one line naming the file."""


ARCHIVE_TABLES = ("documents", "revisions")


def connect_readonly(path: str | os.PathLike | None = None, *, current: bool = True) -> sqlite_utils.Database:
    """Open an existing archive for reading only: SQLite's `mode=ro`, no schema created, no pragma that
    writes (no WAL switch), so a read never changes the file. NotAnArchive (one line) when the path is
    missing, a directory, unreadable, not SQLite, or an SQLite file without the archive's tables, and (with
    `current`) when an older version wrote it and `archive upgrade` must bring it up to date first."""
    path = db_path(path)
    if not path.exists():
        raise NotAnArchive(f"{path}: no such file")
    if path.is_dir():
        raise NotAnArchive(f"{path}: is a directory, not an archive file")
    if not os.access(path, os.R_OK):
        raise NotAnArchive(f"{path}: cannot read it (permission denied)")
    # Never `immutable=1`: a crawl may start and checkpoint while we read, and an immutable reader would
    # then see stale pages and "database disk image is malformed". SQLite's read-only WAL mode may leave
    # empty -wal/-shm files beside the archive; the archive file itself is never written.
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    except sqlite3.Error as e:
        raise NotAnArchive(f"{path}: cannot open it ({e})") from None
    try:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as e:
        conn.close()
        raise NotAnArchive(f"{path}: not an SQLite database ({e})") from None
    missing = [name for name in ARCHIVE_TABLES if name not in tables]
    if missing:
        conn.close()
        raise NotAnArchive(f"{path}: not a zwgk archive (no {'/'.join(missing)} table"
                           f"{'s' if len(missing) > 1 else ''})")
    conn.execute("PRAGMA query_only = ON")  # belt and braces: this connection never writes
    import sqlite_utils

    db = sqlite_utils.Database(conn, execute_plugins=False)
    lacking = outdated(db) if current else []
    if lacking:
        conn.close()
        raise NotAnArchive(f"{path}: written by an older version of zwgk-archive (no {lacking[0]}); "
                           f"bring it up to date once with: python -m archive --db {path} upgrade")
    return db


def outdated(db: sqlite_utils.Database) -> list[str]:
    """What the archive lacks of the current schema ("events table", "revisions.suspect column" …);
    empty when it is up to date. Reading commands refuse an outdated archive rather than fail midway."""
    tables = set(db.table_names())
    lacking = []
    for name, (columns, _) in SCHEMA.items():
        if name not in tables:
            lacking.append(f"{name} table")
            continue
        have = db[name].columns_dict
        lacking += [f"{name}.{col} column" for col in columns if col not in have]
    if "search_meta" in tables:
        version = segmenter_version(db.conn)
        if version != SEGMENTER_VERSION:
            lacking.append(f"search index of segmenter {SEGMENTER_VERSION} (it has {version})")
    return lacking


def ensure_schema(db: sqlite_utils.Database) -> None:
    """Create missing tables, columns and indexes, then bring data written by older versions up to date
    (each step runs only when its table or column was just added); never drops anything but the duplicate
    per-revision rows of the old `attachments` table, whose content moves to `attachment_links`."""
    existing = set(db.table_names())
    added_tables: set[str] = set()
    added_columns: set[tuple[str, str]] = set()
    for name, (columns, options) in SCHEMA.items():
        if name not in existing:
            db[name].create(columns, foreign_keys=FOREIGN_KEYS.get(name, []), **options)
            added_tables.add(name)
            continue
        have = db[name].columns_dict
        for col, typ in columns.items():
            if col not in have:
                db[name].add_column(col, typ)
                added_columns.add((name, col))
    if "documents" in existing:  # an archive written by an older version
        _migrate(db, added_tables, added_columns)
    for table, cols, unique in INDEXES:
        db[table].create_index(cols, unique=unique, if_not_exists=True)
    ensure_search(db)


def _migrate(db: sqlite_utils.Database, added_tables: set[str], added_columns: set[tuple[str, str]]) -> None:
    """Fill what an older archive lacks: links of documents to their sources, events, capture times, and
    attachments folded to one row per document and URL."""
    if "document_sources" in added_tables:
        db.execute("INSERT OR IGNORE INTO document_sources SELECT id, source_id, first_seen,"
                   " coalesce(last_seen, first_seen) FROM documents WHERE first_seen IS NOT NULL")
    if ("revisions", "captured_at") in added_columns:  # before: every revision dated by its capture
        db.execute("UPDATE revisions SET captured_at = fetched_at")
    if "events" in added_tables:
        from archive import events

        events.backfill(db)
    if db.execute("SELECT 1 FROM attachments a WHERE NOT EXISTS (SELECT 1 FROM attachment_links l "
                  "WHERE l.attachment_id = a.id) LIMIT 1").fetchone():  # else not even imported (a crawl's start)
        from archive.attachments import migrate

        migrate(db)
