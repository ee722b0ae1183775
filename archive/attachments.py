"""Attachments in the archive: one row per document and URL, every distinct version of the file, each
distinct file once by sha256.

Tables (archive/db.py): ``attachments`` (document_id, url, link text, the latest revision linking it,
ETag / Last-Modified of its last good fetch), ``attachment_links`` (which revision linked which
attachment, with that revision's link text), ``attachment_revisions`` (id, attachment_id, fetched_at,
file_hash, size, mime, text, error, extractor: one row per distinct version), ``files`` (hash, size, mime,
compression, body — zlib unless the format is compressed already). A version whose file could not be
read has ``error`` set and no text; a new version is visible as a new attachment_revisions row (its
``fetched_at``), e.g. for notifications: ``SELECT * FROM attachment_revisions WHERE fetched_at > ?``.
"""
from __future__ import annotations

import hashlib
import logging
import sqlite3
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

import sqlite_utils

from archive import filetext
from archive.db import now
from archive.diff import Diff, diff_texts
from archive.store import transaction

logger = logging.getLogger(__name__)

VERSION_COLUMNS = "id, attachment_id, fetched_at, file_hash, size, mime, text, error, extractor"


class NotFound(LookupError):
    """An attachment or version the user named does not exist (the message says which)."""


# --- links (written with each revision) ------------------------------------------------------------

def link(conn: sqlite3.Connection, document_id: int, revision_id: int, links: Iterable[tuple[str, str]]) -> None:
    """Record a revision's attachment links inside its transaction: one `attachments` row per document and
    URL (its link text and latest revision move), one `attachment_links` row per revision and URL."""
    for url, text in dict(links).items():
        row = conn.execute("SELECT id FROM attachments WHERE document_id = ? AND url = ?",
                           (document_id, url)).fetchone()
        if row:
            attachment_id = row[0]
            conn.execute("UPDATE attachments SET text = ?, revision_id = ? WHERE id = ?", (text, revision_id, row[0]))
        else:
            attachment_id = conn.execute("INSERT INTO attachments (document_id, revision_id, url, text) "
                                         "VALUES (?, ?, ?, ?)", (document_id, revision_id, url, text)).lastrowid
        conn.execute("INSERT OR IGNORE INTO attachment_links (revision_id, attachment_id, text) VALUES (?, ?, ?)",
                     (revision_id, attachment_id, text))


def migrate(db: sqlite_utils.Database) -> int:
    """Bring an archive written before attachment versions (an `attachments` row per revision and URL) to
    one row per document and URL, in place: every old row becomes an `attachment_links` row (revision and
    link text kept), the first row of each document and URL stays (its id kept) and points at the latest
    revision linking it. Returns how many old rows were folded; 0 when there is nothing to do."""
    todo = db.execute("SELECT count(*) FROM attachments a WHERE NOT EXISTS "
                      "(SELECT 1 FROM attachment_links l WHERE l.attachment_id = a.id)").fetchone()[0]
    if not todo:
        return 0
    db["attachment_links"].create_index(["attachment_id"], if_not_exists=True)
    with transaction(db) as conn:
        conn.execute("CREATE TEMP TABLE _first AS SELECT document_id, url, min(id) AS keep_id FROM attachments "
                     "GROUP BY document_id, url")
        conn.execute("CREATE INDEX temp._first_key ON _first (document_id, url)")
        conn.execute("CREATE TEMP TABLE _keep AS SELECT a.id AS old_id, coalesce(f.keep_id, a.id) AS keep_id, "
                     "a.revision_id, a.text FROM attachments a "
                     "LEFT JOIN _first f ON f.document_id = a.document_id AND f.url = a.url WHERE NOT EXISTS "
                     "(SELECT 1 FROM attachment_links l WHERE l.attachment_id = a.id)")
        conn.execute("INSERT OR IGNORE INTO attachment_links (revision_id, attachment_id, text) "
                     "SELECT revision_id, keep_id, text FROM _keep WHERE revision_id IS NOT NULL ORDER BY old_id")
        conn.execute("DELETE FROM attachments WHERE id IN (SELECT old_id FROM _keep WHERE old_id != keep_id)")
        conn.execute("UPDATE attachments SET revision_id = (SELECT max(l.revision_id) FROM attachment_links l "
                     "WHERE l.attachment_id = attachments.id) WHERE id IN (SELECT keep_id FROM _keep)")
        conn.execute("UPDATE attachments SET text = (SELECT l.text FROM attachment_links l WHERE "
                     "l.attachment_id = attachments.id AND l.revision_id = attachments.revision_id) "
                     "WHERE id IN (SELECT keep_id FROM _keep) AND revision_id IS NOT NULL")
        conn.execute("DROP TABLE _keep")
        conn.execute("DROP TABLE _first")
    logger.info("attachments: %d rows folded into one row per document and URL", todo)
    return todo


# --- files ------------------------------------------------------------------------------------------

def save_file(conn: sqlite3.Connection, body: bytes, mime: str) -> str:
    """Store a file's bytes once by sha256 (inside the caller's transaction); its hash."""
    digest = hashlib.sha256(body).hexdigest()
    compressed = mime not in filetext.COMPRESSED
    conn.execute("INSERT OR IGNORE INTO files (hash, size, mime, compression, body) VALUES (?, ?, ?, ?, ?)",
                 (digest, len(body), mime, "zlib" if compressed else None,
                  zlib.compress(body, 6) if compressed else body))
    return digest


def load_file(db: sqlite_utils.Database, digest: str) -> bytes | None:
    """A stored file's bytes, or None."""
    row = db.execute("SELECT compression, body FROM files WHERE hash = ?", [digest]).fetchone()
    if row is None:
        return None
    return zlib.decompress(row[1]) if row[0] == "zlib" else bytes(row[1])


# --- versions (written by the crawler's attachments pipeline) -------------------------------------

@dataclass(frozen=True)
class Fetched:
    """One attachment download as the archive records it: the stored file (`file_hash`, see
    :func:`save_file`) and what its text extraction gave; or no file and `error` (e.g. over the size
    limit); or neither (a 304 answer: the latest version stands)."""

    url: str
    file_hash: str | None = None
    size: int | None = None
    extracted: filetext.Extracted | None = None
    error: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    segmented: str | None = None  # the text as indexed (archive.search.segment), done by the worker


def to_fetch(db: sqlite_utils.Database, document_id: int) -> list[dict]:
    """The attachments its latest revision links (id, url, text, etag, last_modified)."""
    return list(db.query(
        "SELECT a.id, a.url, a.text, a.etag, a.last_modified FROM attachments a "
        "JOIN documents d ON d.id = a.document_id "
        "JOIN attachment_links l ON l.attachment_id = a.id AND l.revision_id = d.latest_revision_id "
        "WHERE d.id = ? ORDER BY a.id", [document_id]))


def record(db: sqlite_utils.Database, attachment_id: int, fetched: Fetched, fetched_at: str | None = None,
           run_id: int | None = None, source_id: str | None = None) -> str:
    """Record one download of an attachment (its file already stored): `new` when a version was added,
    `unchanged` when the file (or, without a file, the error) is its latest version's, or for a 304.
    A new version is news of its document: an `attachment` event of the run and source that fetched it
    (source: by default the document's) in the same transaction (see :func:`_news`)."""
    fetched_at = fetched_at or now()
    with transaction(db) as conn:
        latest = conn.execute("SELECT file_hash, error FROM attachment_revisions WHERE attachment_id = ? "
                              "ORDER BY id DESC LIMIT 1", (attachment_id,)).fetchone()
        if fetched.file_hash is None and fetched.error is None:  # 304: the latest version stands
            conn.execute("UPDATE attachments SET checked_at = ? WHERE id = ?", (fetched_at, attachment_id))
            if latest is not None:
                return "unchanged"
            # the same URL, linked by another document, was answered 304 in this run: its stored file is ours
            return _copy_version(conn, attachment_id, fetched.url, fetched_at, run_id, source_id)
        extracted = fetched.extracted
        digest = fetched.file_hash
        error = fetched.error or (extracted.error if extracted else None)
        if latest and latest[0] is not None and latest[1] is None and extracted and extracted.mime == filetext.HTML:
            # a web page where a good file was before: a soft 404 or a maintenance page, not a new version
            # of the file (the file is asked again in full next run; nothing is stored, no news)
            logger.warning("attachment %s: an HTML page instead of the file; its last version stands", fetched.url)
            conn.execute("UPDATE attachments SET checked_at = ?, etag = NULL, last_modified = NULL WHERE id = ?",
                         (fetched_at, attachment_id))
            return "unavailable"
        if latest and latest[0] == digest and (digest is not None or latest[1] == error):
            outcome = "unchanged"
        else:
            outcome = "new"
            text = extracted.text if extracted and not error else None
            version_id = conn.execute(
                "INSERT INTO attachment_revisions (attachment_id, fetched_at, file_hash, size, mime, text, error,"
                " extractor) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (attachment_id, fetched_at, digest, fetched.size, extracted.mime if extracted else None,
                 text, error, extracted.extractor if extracted else None)).lastrowid
            _index(conn, version_id, attachment_id, text, fetched.segmented)
            _news(conn, attachment_id, version_id, first=latest is None, at=fetched_at, run_id=run_id,
                  source_id=source_id)
        # validators stand for a stored file only; without one, ask in full next time
        etag, modified = (fetched.etag, fetched.last_modified) if digest else (None, None)
        conn.execute("UPDATE attachments SET checked_at = ?, etag = ?, last_modified = ? WHERE id = ?",
                     (fetched_at, etag, modified, attachment_id))
    return outcome


def _copy_version(conn: sqlite3.Connection, attachment_id: int, url: str, fetched_at: str,
                  run_id: int | None = None, source_id: str | None = None) -> str:
    """A first version for an attachment from the latest stored version of the same URL (another
    document's); `unchanged` when there is none."""
    row = conn.execute(
        "SELECT v.file_hash, v.size, v.mime, v.text, v.error, v.extractor FROM attachment_revisions v "
        "JOIN attachments a ON a.id = v.attachment_id WHERE a.url = ? AND v.file_hash IS NOT NULL "
        "ORDER BY v.id DESC LIMIT 1", (url,)).fetchone()
    if row is None:
        return "unchanged"
    version_id = conn.execute(
        "INSERT INTO attachment_revisions (attachment_id, fetched_at, file_hash, size, mime, text, error, extractor)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (attachment_id, fetched_at, *row)).lastrowid
    _index(conn, version_id, attachment_id, row[3], None)
    _news(conn, attachment_id, version_id, first=True, at=fetched_at, run_id=run_id, source_id=source_id)
    return "new"


def _news(conn: sqlite3.Connection, attachment_id: int, version_id: int, *, first: bool, at: str,
          run_id: int | None, source_id: str | None = None) -> None:
    """Record an `attachment` event for a new version, unless it is the first version of an attachment
    that the document's first revision links: that is part of the document's own `new` event."""
    document_id, first_link, first_revision = conn.execute(
        "SELECT a.document_id, (SELECT min(revision_id) FROM attachment_links WHERE attachment_id = a.id), "
        "(SELECT min(id) FROM revisions WHERE document_id = a.document_id) FROM attachments a WHERE a.id = ?",
        (attachment_id,)).fetchone()
    if first and first_link is not None and first_link == first_revision:
        return
    from archive import events

    events.record(conn, document_id, "attachment", at, run_id=run_id, source_id=source_id,
                  attachment_revision_id=version_id)


def _index(conn: sqlite3.Connection, version_id: int, attachment_id: int, text: str | None,
           segmented: str | None) -> None:
    from archive import search

    link_text = conn.execute("SELECT text FROM attachments WHERE id = ?", (attachment_id,)).fetchone()[0]
    search.index_attachment(sqlite_utils.Database(conn), version_id, link_text,
                            segmented if segmented is not None else search.segment(text))


# --- reading ----------------------------------------------------------------------------------------

def versions(db: sqlite_utils.Database, document_id: int) -> list[dict]:
    """A document's attachments (id, url, text, checked_at), each with `versions`: its version rows
    (without text; with `chars`), oldest first."""
    out = []
    for att in db.query("SELECT id, url, text, revision_id, checked_at FROM attachments WHERE document_id = ? "
                        "ORDER BY id", [document_id]):
        att["versions"] = list(db.query(
            "SELECT id, attachment_id, fetched_at, file_hash, size, mime, length(text) AS chars, error, extractor "
            "FROM attachment_revisions WHERE attachment_id = ? ORDER BY id", [att["id"]]))
        out.append(att)
    return out


def get_attachment(db: sqlite_utils.Database, document_id: int, attachment_id: int | str) -> dict:
    rows = list(db.query("SELECT * FROM attachments WHERE id = ?", [int(attachment_id)]))
    if not rows:
        raise NotFound(f"no attachment with id {attachment_id}")
    if rows[0]["document_id"] != document_id:
        raise NotFound(f"attachment {attachment_id} belongs to document {rows[0]['document_id']}, not {document_id}")
    return rows[0]


def attachment_diff(db: sqlite_utils.Database, document: dict, attachment_id: int | str,
                    from_id: int | str | None = None, to_id: int | str | None = None) -> Diff:
    """Diff two versions' text of a document's attachment (by default the latest against the one before),
    with the same diff as revisions; ``from_id`` 0 diffs against nothing."""
    att = get_attachment(db, document["id"], attachment_id)
    vers = list(db.query(f"SELECT {VERSION_COLUMNS} FROM attachment_revisions WHERE attachment_id = ? ORDER BY id",
                         [att["id"]]))
    if not vers:
        raise NotFound(f"attachment {att['id']} has no versions")
    by_id = {v["id"]: v for v in vers}

    def pick(ref) -> dict:
        if int(ref) not in by_id:
            raise NotFound(f"no version {ref} of attachment {att['id']}")
        return by_id[int(ref)]

    to_rev = pick(to_id) if to_id not in (None, "") else vers[-1]
    if str(from_id) == "0":
        from_rev = None
    elif from_id not in (None, ""):
        from_rev = pick(from_id)
    else:
        earlier = [v for v in vers if v["id"] < to_rev["id"]]
        from_rev = earlier[-1] if earlier else None
    shown = {**document, "title": f"{document.get('title') or ''} · 附件 {att['text'] or att['url']}".strip(" ·"),
             "url": att["url"], "attachment_id": att["id"]}
    return Diff(document=shown, from_revision=from_rev, to_revision=to_rev,
                changes=diff_texts((from_rev or {}).get("text") or "", to_rev["text"] or ""))


# --- re-extraction ----------------------------------------------------------------------------------

def reextract_files(db: sqlite_utils.Database, source_id: str | None = None) -> dict[str, int]:
    """Re-extract the stored file of each attachment's latest version with the current readers; where the
    text or error differs, add a version (same file, new extractor). Counts: files, changed, unchanged,
    missing (file not stored)."""
    counts = {"files": 0, "changed": 0, "unchanged": 0, "missing": 0}
    where, params = ("AND d.source_id = ?", [source_id]) if source_id else ("", [])
    rows = db.execute(
        "SELECT v.attachment_id, v.file_hash, v.text, v.error FROM attachment_revisions v "
        "JOIN attachments a ON a.id = v.attachment_id JOIN documents d ON d.id = a.document_id "
        "WHERE v.id = (SELECT max(id) FROM attachment_revisions WHERE attachment_id = v.attachment_id) "
        f"AND v.file_hash IS NOT NULL {where} ORDER BY v.id", params).fetchall()
    for attachment_id, digest, text, error in rows:
        counts["files"] += 1
        body = load_file(db, digest)
        if body is None:
            counts["missing"] += 1
            continue
        extracted = filetext.extract(body)
        if (extracted.text, extracted.error) == (text, error):
            counts["unchanged"] += 1
            continue
        with transaction(db) as conn:
            version_id = conn.execute(
                "INSERT INTO attachment_revisions (attachment_id, fetched_at, file_hash, size, mime, text, error,"
                " extractor) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (attachment_id, now(), digest, len(body), extracted.mime, extracted.text, extracted.error,
                 extracted.extractor)).lastrowid
            _index(conn, version_id, attachment_id, extracted.text, None)
        counts["changed"] += 1
    return counts
