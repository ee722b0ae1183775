"""Events: what happened to a document, one row each — `new`, `changed`, `gone`, `returned`, `attachment`.

`attachment` is a new version of one of the document's attachments (``attachment_revision_id``; written by
archive.attachments.record in the same transaction as the version). The first versions of the attachments
of a document that is itself new are part of its `new` event, and a re-extraction adds none.

The `events` table is written by archive.store in the same transaction as the change it records, and is
what the Atom feed, ``python -m archive changes``/``history`` and the notifications (archive.notify) read.
A re-extraction (archive.reextract) is not an event: the page did not change, the extractor did.

Archives made before the table existed get it back-filled from `revisions` and `fetches` by
:func:`backfill` (run once, by archive.db.ensure_schema, when the table is created); back-filled events
count as already notified, so turning notifications on never mails a whole archive's past.
"""
from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # sqlite-utils is imported where it is used: an unchanged recrawl never needs it
    import sqlite_utils


KINDS = ("new", "changed", "gone", "returned", "attachment")
COLUMNS = "id, document_id, kind, at, revision_id, run_id, source_id, notified_at, attachment_revision_id"
# an attachment event's attachment (id, link text) for readers of events
ATTACHMENT_JOIN = ("LEFT JOIN attachment_revisions av ON av.id = e.attachment_revision_id "
                   "LEFT JOIN attachments a ON a.id = av.attachment_id")


def record(conn: sqlite3.Connection, document_id: int, kind: str, at: str, *, revision_id: int | None = None,
           run_id: int | None = None, source_id: str | None = None, attachment_revision_id: int | None = None) -> int:
    """Append one event (call inside the transaction that makes the change); its id."""
    if kind not in KINDS:
        raise ValueError(f"unknown event kind {kind!r}")
    if source_id is None:
        row = conn.execute("SELECT source_id FROM documents WHERE id = ?", (document_id,)).fetchone()
        source_id = row[0] if row else None
    cur = conn.execute("INSERT INTO events (document_id, kind, at, revision_id, run_id, source_id, "
                       "attachment_revision_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (document_id, kind, at, revision_id, run_id, source_id, attachment_revision_id))
    return int(cur.lastrowid)


def backfill(db: sqlite_utils.Database) -> int:
    """Rebuild the events of an archive written before the table existed; the number added.

    new/changed from revisions (re-extracted ones left out), gone/returned from the fetches in order
    (a `gone` fetch of a live document, a good fetch of a gone one); a document whose status is gone with
    no such fetch gets a `gone` event at its last_changed. Every back-filled event counts as notified."""
    conn = db.conn
    own = not conn.in_transaction
    if own:
        conn.execute("BEGIN IMMEDIATE")
    try:
        added = _backfill(conn)
    except BaseException:
        if own:
            conn.execute("ROLLBACK")
        raise
    if own:
        conn.execute("COMMIT")
    return added


def _backfill(conn: sqlite3.Connection) -> int:
    if conn.execute("SELECT 1 FROM events LIMIT 1").fetchone():
        return 0
    found: list[tuple] = []
    first: dict[int, int] = {}
    for rev_id, doc_id, at, reextracted, source_id in conn.execute(
            "SELECT r.id, r.document_id, r.fetched_at, coalesce(r.reextracted, 0), d.source_id "
            "FROM revisions r JOIN documents d ON d.id = r.document_id ORDER BY r.id"):
        if doc_id not in first:
            first[doc_id] = rev_id
            found.append((doc_id, "new", at, rev_id, None, source_id))
        elif not reextracted:
            found.append((doc_id, "changed", at, rev_id, None, source_id))
    state: dict[int, str] = {}
    for doc_id, outcome, at, run_id, source_id in conn.execute(
            "SELECT f.document_id, f.outcome, f.fetched_at, f.run_id, d.source_id FROM fetches f "
            "JOIN documents d ON d.id = f.document_id "
            "WHERE f.outcome IN ('new', 'changed', 'unchanged', 'gone') ORDER BY f.id"):
        if outcome == "gone" and state.get(doc_id, "live") == "live":
            found.append((doc_id, "gone", at, None, run_id, source_id))
            state[doc_id] = "gone"
        elif outcome != "gone" and state.get(doc_id) == "gone":
            found.append((doc_id, "returned", at, None, run_id, source_id))
            state[doc_id] = "live"
    for doc_id, at, source_id in conn.execute(
            "SELECT id, coalesce(last_changed, last_seen, first_seen), source_id FROM documents "
            "WHERE status = 'gone'"):
        if state.get(doc_id) != "gone":
            found.append((doc_id, "gone", at, None, None, source_id))
    # as the store writes them: a document's return before the revision it returned with
    found.sort(key=lambda e: (e[2] or "", e[0], e[1] in ("new", "changed")))
    conn.executemany("INSERT INTO events (document_id, kind, at, revision_id, run_id, source_id, notified_at) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?)", [(*e, e[2]) for e in found])
    return len(found)


def since(db: sqlite_utils.Database, since_value: str, *, kinds: tuple[str, ...] = KINDS,
          document_id: int | None = None) -> list[dict]:
    """Events at or after ``since_value`` (newest first), with their document's title, url, district (and
    an attachment event's attachment_id and attachment_text, its link text)."""
    marks = ", ".join("?" for _ in kinds)
    sql = (f"SELECT e.id, e.document_id, e.kind, e.at, e.revision_id, e.run_id, e.source_id, "
           f"coalesce(r.title, d.title) AS title, d.url, d.district, d.status, e.attachment_revision_id, "
           f"a.id AS attachment_id, a.text AS attachment_text "
           f"FROM events e JOIN documents d ON d.id = e.document_id LEFT JOIN revisions r ON r.id = e.revision_id "
           f"{ATTACHMENT_JOIN} "
           f"WHERE e.at >= ? AND e.kind IN ({marks})")
    params: list = [since_value, *kinds]
    if document_id is not None:
        sql += " AND e.document_id = ?"
        params.append(document_id)
    return list(db.query(sql + " ORDER BY e.at DESC, e.id DESC", params))


def of_document(db: sqlite_utils.Database, document_id: int) -> list[dict]:
    """A document's events, oldest first."""
    return list(db.query(f"SELECT {COLUMNS} FROM events WHERE document_id = ? ORDER BY at, id", [document_id]))
