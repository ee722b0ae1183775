"""Read-side queries over the archive: a document's revisions, a diff between two of them, recent changes.

Shared by the command line and the Datasette plugin; everything here only reads.
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlite_utils

from archive.diff import WORD_RE, Diff, chars_changed, diff_revisions, diff_texts

REVISION_COLUMNS = "id, document_id, fetched_at, content_hash, title, published, publisher, report_year, text"


class NotFound(LookupError):
    """A document or revision the user named does not exist (the message says which)."""


def _one(db: sqlite_utils.Database, sql: str, params: list) -> dict | None:
    try:
        rows = list(db.query(sql, params))
    except OverflowError:  # an id beyond SQLite's 64-bit integers (typed in a URL or a command): no such row
        return None
    return rows[0] if rows else None


def find_document(db: sqlite_utils.Database, ref: str | int) -> dict:
    """The document named by its id or its URL; NotFound with a one-line message otherwise."""
    ref = str(ref).strip()
    if ref.isascii() and ref.isdigit():  # "²" and "٣" are digits to str.isdigit, not ids
        doc = _one(db, "SELECT * FROM documents WHERE id = ?", [int(ref)])
        if doc is None:
            raise NotFound(f"no document with id {ref}")
        return doc
    doc = _one(db, "SELECT * FROM documents WHERE url = ?", [ref])
    if doc is None:
        raise NotFound(f"no document with id or url {ref!r}")
    return doc


def revisions(db: sqlite_utils.Database, document_id: int) -> list[dict]:
    """All revisions of a document, oldest first, with their full text."""
    return list(db.query(f"SELECT {REVISION_COLUMNS} FROM revisions WHERE document_id = ? ORDER BY id",
                         [document_id]))


def history(db: sqlite_utils.Database, document_id: int) -> list[dict]:
    """Each revision's id, fetched_at, size (characters) and characters added/removed vs the one before."""
    out = []
    previous = None
    for rev in revisions(db, document_id):
        ops = diff_texts(previous or "", rev["text"])
        added, removed = chars_changed(ops)
        out.append({"id": rev["id"], "fetched_at": rev["fetched_at"], "size": len(rev["text"]),
                    "added": added, "removed": removed, "title": rev["title"],
                    "figures": figures_changed(ops) if previous is not None else []})
        previous = rev["text"]
    return out


MAX_FIGURES = 12


def figures_changed(ops) -> list[str]:
    """The figures a diff changed: ``old → new`` for a figure replaced, ``+new`` / ``−old`` for one only
    added or removed. Figures are whole numbers as the diff tokenises them (800, 15.8%, 2,000), read from
    each changed run, so punctuation the diff swept into a run is left out and a figure that stayed the same
    inside a changed run is not reported."""
    out: list[str] = []
    for op in ops:
        if op.op == "equal":
            continue
        old, new = _figures(op.old), _figures(op.new)
        if len(old) == len(new):
            out += [f"{a} → {b}" for a, b in zip(old, new, strict=True) if a != b]
        else:
            common = set(old) & set(new)
            gone, added = [f for f in old if f not in common], [f for f in new if f not in common]
            if gone and added:
                out.append(f"{', '.join(gone)} → {', '.join(added)}")
            else:
                out += [f"−{f}" for f in gone] + [f"+{f}" for f in added]
    return out[:MAX_FIGURES]


def _figures(text: str) -> list[str]:
    return [t for t in WORD_RE.findall(text) if t[0].isdigit()]


def get_revision(db: sqlite_utils.Database, document_id: int, revision_id: int | str) -> dict:
    """One revision of this document; NotFound if it does not exist or belongs to another document."""
    rev = _one(db, f"SELECT {REVISION_COLUMNS} FROM revisions WHERE id = ?", [int(revision_id)])
    if rev is None:
        raise NotFound(f"no revision with id {revision_id}")
    if rev["document_id"] != document_id:
        raise NotFound(f"revision {revision_id} belongs to document {rev['document_id']}, not {document_id}")
    return rev


def document_diff(db: sqlite_utils.Database, document: dict, from_id: int | str | None = None,
                  to_id: int | str | None = None) -> Diff:
    """Diff two revisions of a document; by default the latest against the one before it.

    With only ``to`` given, it is diffed against the revision before it; a first revision, or
    ``from_id`` 0, is diffed against nothing (everything inserted).
    """
    revs = revisions(db, document["id"])
    if not revs:
        raise NotFound(f"document {document['id']} has no revisions")
    to_rev = get_revision(db, document["id"], to_id) if to_id not in (None, "") else revs[-1]
    if str(from_id) == "0":
        from_rev = None
    elif from_id not in (None, ""):
        from_rev = get_revision(db, document["id"], from_id)
    else:
        earlier = [r for r in revs if r["id"] < to_rev["id"]]
        from_rev = earlier[-1] if earlier else None
    return diff_revisions(document, from_rev, to_rev)


def parse_since(value: str | None, *, default_days: int = 30) -> str:
    """An ISO date/datetime string to compare fetched_at against; default: ``default_days`` ago."""
    if not value:
        return (datetime.now(UTC) - timedelta(days=default_days)).replace(tzinfo=None).isoformat()
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"--since: not a date: {value!r} (use YYYY-MM-DD or an ISO datetime)") from None
    if parsed.tzinfo is None and "T" not in value and " " not in value:
        return parsed.date().isoformat()
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC)
    return parsed.replace(tzinfo=None).isoformat()


def changes_since(db: sqlite_utils.Database, since: str) -> list[dict]:
    """Events at or after ``since``, newest first: one row per new, changed, gone, returned or attachment event
    (a document first seen and then changed within the window has both)."""
    from archive import events

    return events.since(db, since)


def timeline(db: sqlite_utils.Database, document_id: int) -> list[dict]:
    """A document's revisions (:func:`history`) with its gone/returned events between them, oldest first;
    every row has ``kind`` (new, changed, gone, returned, or reextracted) and ``at``."""
    from archive import events

    rows = []
    kinds = {e["revision_id"]: e["kind"] for e in events.of_document(db, document_id) if e["revision_id"]}
    for i, rev in enumerate(history(db, document_id)):
        kind = kinds.get(rev["id"]) or ("new" if i == 0 else "reextracted")
        rows.append({**rev, "kind": kind, "at": rev["fetched_at"]})
    for event in events.of_document(db, document_id):
        if event["kind"] in ("gone", "returned"):
            rows.append({"kind": event["kind"], "at": event["at"], "id": None, "run_id": event["run_id"]})
    return sorted(rows, key=lambda r: (r["at"] or "", r["id"] or 0))
