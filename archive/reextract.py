"""Re-run the current extractor over stored raw captures; append a revision where the result differs.

Old revisions are never rewritten: a better extractor shows up as new revisions marked `reextracted = 1`
(with the extractor version), each pointing at the same capture it was re-extracted from.
"""
from __future__ import annotations

import json
import logging

import sqlite_utils

from archive import captures, store
from archive.db import now

logger = logging.getLogger(__name__)

# Record fields that only a listing API knows (not re-derivable from every page): passed back as hints.
HINT_FIELDS = {"索引号": "identifier", "文号": "document_number"}


def decode_capture(capture: captures.Capture) -> str | None:
    """The capture's bytes as text, decoded exactly as the crawler decodes a response (its stored encoding
    as the declared one): never with replacement characters; None when that is impossible."""
    from crawler.guard import decode_body

    decoded = decode_body(capture.body, capture.encoding or None)
    return decoded[0] if decoded else None


def _source_settings(db: sqlite_utils.Database, source_id: str,
                     cache: dict) -> tuple[str | None, tuple[str, ...]]:
    if source_id not in cache:
        row = db.execute("SELECT name, config FROM sources WHERE id = ?", [source_id]).fetchone()
        name, prune = (row[0], ()) if row else (None, ())
        if row and row[1]:
            try:
                prune = tuple(json.loads(row[1]).get("prune") or ())
            except (ValueError, AttributeError):
                prune = ()
        cache[source_id] = (name, prune)
    return cache[source_id]


def reextract(db: sqlite_utils.Database, source_id: str | None = None) -> dict[str, int]:
    """Re-extract each document's latest revision from its capture; counts of what happened.

    Keys: documents, changed (new revision added), unchanged, missing (no capture stored), failed.
    """
    from crawler.extract import EXTRACTOR_VERSION, extract_page

    counts = {"documents": 0, "changed": 0, "unchanged": 0, "missing": 0, "failed": 0}
    where, params = ("WHERE d.source_id = ?", [source_id]) if source_id else ("", [])
    rows = db.execute(
        "SELECT d.id, d.url, d.source_id, d.status, d.last_changed, d.last_seen, r.content_hash, r.capture_hash,"
        " coalesce(r.captured_at, r.fetched_at), r.record"
        f" FROM documents d JOIN revisions r ON r.id = d.latest_revision_id {where} ORDER BY d.id",
        params).fetchall()
    sources: dict = {}
    for doc_id, url, src, status, last_changed, last_seen, old_hash, capture_hash, captured_at, record_json in rows:
        counts["documents"] += 1
        capture = captures.load_capture(db, capture_hash) if capture_hash else None
        if capture is None:
            counts["missing"] += 1
            continue
        site_name, prune = _source_settings(db, src, sources)
        record = json.loads(record_json) if record_json else {}
        hints = {key: record[name] for name, key in HINT_FIELDS.items() if record.get(name)}
        html = decode_capture(capture)
        if html is None:
            logger.warning("re-extraction skipped for %s: its capture cannot be decoded", url)
            counts["failed"] += 1
            continue
        try:
            page = extract_page(html, capture.url or url, site_name=site_name, prune=prune, hints=hints)
        except Exception as exc:  # noqa: BLE001 (one bad capture must not stop the others)
            logger.warning("re-extraction failed for %s: %s", url, exc)
            counts["failed"] += 1
            continue
        if not page.text.strip():
            counts["failed"] += 1
            continue
        digest = store.content_hash(page)
        if digest == old_hash:
            counts["unchanged"] += 1
            continue
        with store.transaction(db) as conn:
            # dated when it is made (so it sorts after every earlier revision); its capture's time kept apart
            store.add_revision(conn, doc_id, page, now(), capture_hash, digest=digest, reextracted=True,
                               extractor=EXTRACTOR_VERSION, captured_at=capture.fetched_at or captured_at)
            # a re-extraction is not news about the page: keep its status (e.g. gone), change and seen times
            conn.execute("UPDATE documents SET status = ?, last_changed = ?, last_seen = ? WHERE id = ?",
                         (status, last_changed, last_seen, doc_id))
        counts["changed"] += 1
    return counts
