"""Schema and connection of the archive: one SQLite file, WAL, a busy timeout.

The table and column names here are a public interface (Datasette users and scripts read them).
"""
from __future__ import annotations

import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import sqlite_utils

from archive.search import ensure_search

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
         "capture_hash": str, "reextracted": int, "extractor": str},
        {"pk": "id", "not_null": {"document_id", "fetched_at", "content_hash", "text"}},
    ),
    "runs": (
        {"id": int, "source_id": str, "started_at": str, "finished_at": str, "status": str, "pid": int,
         "pages_fetched": int, "new_documents": int, "new_revisions": int, "unchanged": int, "gone": int,
         "errors": int, "blocked": int, "message": str, "pages_extracted": int},
        {"pk": "id", "not_null": {"source_id", "started_at", "status"}},
    ),
    "fetches": (
        {"id": int, "run_id": int, "url": str, "document_id": int, "http_status": int, "outcome": str,
         "error": str, "content_hash": str, "fetched_at": str, "etag": str, "last_modified": str},
        {"pk": "id", "not_null": {"url", "outcome", "fetched_at"}},
    ),
    # one row per document and attachment URL (text: its latest link text; revision_id: the latest
    # revision linking it); archive/attachments.py
    "attachments": (
        {"id": int, "document_id": int, "revision_id": int, "url": str, "text": str, "etag": str,
         "last_modified": str, "checked_at": str},
        {"pk": "id"},
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
    "runs": [("source_id", "sources", "id")],
    "fetches": [("run_id", "runs", "id"), ("document_id", "documents", "id")],
    "attachments": [("document_id", "documents", "id"), ("revision_id", "revisions", "id")],
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


def connect(path: str | os.PathLike | None = None, *, create: bool = True) -> sqlite_utils.Database:
    """Open (and if needed create) the archive with WAL and a busy timeout, schema ensured."""
    path = db_path(path)
    if not create and not path.exists():
        raise FileNotFoundError(f"archive database not found: {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    db = sqlite_utils.Database(conn)
    if db.journal_mode != "wal":
        db.enable_wal()
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    ensure_schema(db)
    return db


def ensure_schema(db: sqlite_utils.Database) -> None:
    """Create missing tables, columns and indexes; never drops or rewrites anything."""
    existing = set(db.table_names())
    if all(name in existing for name in SCHEMA):
        for name, (columns, _) in SCHEMA.items():
            have = db[name].columns_dict
            for col, typ in columns.items():
                if col not in have:
                    db[name].add_column(col, typ)
        ensure_search(db)
        return
    for name, (columns, options) in SCHEMA.items():
        if name in existing:  # an archive from before this table's newer columns
            have = db[name].columns_dict
            for col, typ in columns.items():
                if col not in have:
                    db[name].add_column(col, typ)
        db[name].create(columns, foreign_keys=FOREIGN_KEYS.get(name, []), if_not_exists=True, **options)
    from archive.attachments import migrate

    migrate(db)  # attachments: one row per revision and URL → one per document and URL
    for table, cols, unique in INDEXES:
        db[table].create_index(cols, unique=unique, if_not_exists=True)
    ensure_search(db)
