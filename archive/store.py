"""The revision rules: the archive is the one writer of documents and revisions.

Every page is written in one short IMMEDIATE transaction. Revisions are append-only; documents hold the
latest state. A failure is logged as a fetch and never touches documents or revisions.
"""
from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import unicodedata
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from archive import captures
from archive.db import now

if TYPE_CHECKING:  # sqlite-utils is imported where it is used: an unchanged recrawl never needs it
    import sqlite_utils

# A page whose body shrank below this share of the last revision's is held back as `suspect`
# until the next run confirms it.
SUSPECT_RATIO = 0.5
SUSPECT_MIN_CHARS = 300
# ... and a page still suspect on its fetch in this many runs is stored anyway, as a revision marked
# `suspect = 1` (it is what the site now serves), so it cannot hold its source `partial` forever.
SUSPECT_RUNS = 3
# fetch outcomes that confirm the document's latest revision as what the server serves
CONFIRMING_OUTCOMES = ("new", "changed", "unchanged")


class PageLike(Protocol):
    title: str
    published: str | None
    publisher: str | None
    report_year: int | None
    text: str
    attachments: list[tuple[str, str]]
    record: dict[str, str]


@contextmanager
def transaction(db: sqlite_utils.Database) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE … COMMIT on the archive's autocommit connection; ROLLBACK on any error.

    Inside an open transaction (a group commit, :class:`archive.groupcommit.GroupCommit`) it is a
    SAVEPOINT instead: the page is written whole or not at all, and becomes durable with the group."""
    conn = db.conn
    if conn.in_transaction:
        with savepoint(conn):
            yield conn
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


@contextmanager
def savepoint(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """SAVEPOINT … RELEASE; on any error ROLLBACK TO it (the enclosing transaction stays open)."""
    conn.execute("SAVEPOINT page")
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:  # SQLite may have rolled the whole transaction back itself (disk full)
            conn.execute("ROLLBACK TO page")
            conn.execute("RELEASE page")
        raise
    conn.execute("RELEASE page")


def normalize(text: str | None) -> str:
    """NFC, with every run of whitespace inside a line (full-width and no-break spaces included: str.split
    knows them) folded to one space, and blank lines dropped."""
    if not text:
        return ""
    text = unicodedata.normalize("NFC", text)
    return "\n".join(" ".join(line.split()) for line in text.splitlines() if line.strip())


def content_hash(page: PageLike) -> str:
    """What makes a revision distinct: normalised title, published, publisher and body text."""
    return prepare(page, search=False).digest


@dataclass(frozen=True)
class Prepared:
    """A page's CPU-bound share of the archive's work, done before the write transaction (and, in a
    crawl, in the extraction worker): normalised fields, the content hash, the segmented search text."""

    title: str
    publisher: str
    text: str
    digest: str
    search_title: str | None = None
    search_text: str | None = None
    capture: tuple[str, bytes] | None = None  # captures.pack(body) of the response, when computed with it


def prepare(page: PageLike, *, search: bool = True) -> Prepared:
    """Normalise a page, hash it and (with `search`) segment its title and text for the FTS index."""
    title, publisher, text = normalize(page.title), normalize(page.publisher), normalize(page.text)
    key = json.dumps([title, page.published or "", publisher, text], ensure_ascii=False)
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
    if not search:
        return Prepared(title, publisher, text, digest)
    from archive.search import segment

    return Prepared(title, publisher, text, digest, segment(title), segment(text))


def header(headers: dict[str, str] | None, name: str) -> str | None:
    """A response header by case-insensitive name, or None."""
    name = name.lower()
    return next((v for k, v in (headers or {}).items() if k.lower() == name and v), None)


# --- sources and runs -----------------------------------------------------------------------------

def upsert_source(db: sqlite_utils.Database, row: dict[str, Any]) -> None:
    """Record a configured source (active) in `sources`."""
    with transaction(db) as conn:
        _upsert(conn, "sources", {**row, "updated_at": now(), "active": 1}, "id")


def retire_sources(db: sqlite_utils.Database, configured_ids: list[str]) -> list[str]:
    """Mark sources no longer in the config inactive (their history stays); the ids retired."""
    marks = ", ".join("?" for _ in configured_ids) or "''"
    with transaction(db) as conn:
        retired = [r[0] for r in conn.execute(
            f"SELECT id FROM sources WHERE coalesce(active, 1) = 1 AND id NOT IN ({marks})", configured_ids)]
        for source_id in retired:
            conn.execute("UPDATE sources SET active = 0, updated_at = ? WHERE id = ?", (now(), source_id))
    return retired


def start_run(db: sqlite_utils.Database, source_id: str, pid: int | None = None) -> int:
    """A new `running` row in runs; its id."""
    with transaction(db) as conn:
        cur = conn.execute(
            "INSERT INTO runs (source_id, started_at, status, pid) VALUES (?, ?, 'running', ?)",
            (source_id, now(), pid if pid is not None else os.getpid()),
        )
        return int(cur.lastrowid)


def run_counts(db: sqlite_utils.Database, run_id: int) -> dict[str, int]:
    return _counts(_outcomes(db, run_id))


def _outcomes(db: sqlite_utils.Database, run_id: int) -> dict[str, int]:
    return dict(db.execute("SELECT outcome, count(*) FROM fetches WHERE run_id = ? GROUP BY outcome",
                           [run_id]).fetchall())


def _counts(rows: dict[str, int]) -> dict[str, int]:
    """The runs row's counts from fetch outcomes (a suspect page counts as an error until confirmed)."""
    return {
        "new_documents": rows.get("new", 0),
        "new_revisions": rows.get("new", 0) + rows.get("changed", 0),
        "unchanged": rows.get("unchanged", 0),
        "gone": rows.get("gone", 0),
        "errors": rows.get("error", 0) + rows.get("suspect", 0),
        "blocked": rows.get("blocked", 0),
    }


def finish_run(db: sqlite_utils.Database, run_id: int, status: str | None = None,
               message: str | None = None, pages_fetched: int | None = None,
               pages_extracted: int | None = None, full_listing: bool | None = None) -> dict[str, Any]:
    """Close a run with its counts. Without a status: ok, or partial when some fetches failed, or
    failed when nothing at all could be fetched. A partial run in which no page could be archived
    (every page tried failed or was blocked) is failed, its message saying why. `full_listing`: whether
    the run read every page of its listing (recorded as `runs.full_listing` 1/0)."""
    outcomes = _outcomes(db, run_id)
    counts = _counts(outcomes)
    # a suspect page was served and read (only held back): the source works
    good = counts["new_revisions"] + counts["unchanged"] + counts["gone"] + outcomes.get("suspect", 0)
    if status is None:
        if counts["errors"] or counts["blocked"]:
            # blocked answers mean "not allowed this time": partial (failed below if nothing was archived)
            status = "partial" if good or counts["blocked"] or (pages_fetched or 0) > counts["errors"] \
                else "failed"
        else:
            status = "ok" if good or pages_fetched else "failed"
    tried = counts["errors"] + counts["blocked"]
    if tried and not good and (status == "partial" or (status == "failed" and message is None)):
        # pages were tried and none could be archived: the source is not working, say why
        status, message = "failed", nothing_archived(db, run_id, counts, message)
    row = {**counts, "status": status, "finished_at": now(), "message": message}
    if pages_fetched is not None:
        row["pages_fetched"] = pages_fetched
    if pages_extracted is not None:
        row["pages_extracted"] = pages_extracted
    if full_listing is not None:
        row["full_listing"] = int(full_listing)
    with transaction(db) as conn:
        sets = ", ".join(f"{k} = ?" for k in row)
        conn.execute(f"UPDATE runs SET {sets} WHERE id = ? AND status = 'running'", [*row.values(), run_id])
    return {**row, "id": run_id}


def incremental_listing_allowed(db: sqlite_utils.Database, source_id: str, days: float) -> bool:
    """Whether a crawl of a source may stop paging its listing at a page of known documents: only when the
    source's previous finished run was clean (ok, no errors or blocked answers) and a run that read the
    whole listing finished ok within `days` days. Else pages left unread by a failed run (or a report
    back-dated below page 1) would never be read."""
    last = db.execute("SELECT status, errors, blocked FROM runs WHERE source_id = ? AND finished_at IS NOT NULL "
                      "AND status != 'running' ORDER BY id DESC LIMIT 1", [source_id]).fetchone()
    if last is None or last[0] != "ok" or last[1] or last[2]:
        return False
    since = (datetime.now(UTC) - timedelta(days=days)).isoformat(timespec="microseconds")
    return db.execute("SELECT 1 FROM runs WHERE source_id = ? AND status = 'ok' AND full_listing = 1 "
                      "AND finished_at >= ? LIMIT 1", [source_id, since]).fetchone() is not None


def nothing_archived(db: sqlite_utils.Database, run_id: int, counts: dict[str, int], message: str | None) -> str:
    """Why a run that archived nothing failed: its failure counts and its first failed fetch."""
    first = db.execute("SELECT url, outcome, error FROM fetches WHERE run_id = ? AND outcome IN "
                       "('error', 'blocked', 'suspect') ORDER BY id LIMIT 1", [run_id]).fetchone()
    why = f"no page could be archived ({counts['errors']} errors, {counts['blocked']} blocked)"
    if first:
        why += f"; first: {first[1]} {first[0]}" + (f" ({first[2]})" if first[2] else "")
    return f"{why}; {message}" if message else why


# --- pages ----------------------------------------------------------------------------------------

# The documents a source watches: those it found first, and every one it has listed or re-asked since
# (a report two sources list is watched by both).
_SOURCE_DOCUMENTS = ("(SELECT id FROM documents WHERE source_id = :source"
                     " UNION SELECT document_id FROM document_sources WHERE source_id = :source)")


def known_urls(db: sqlite_utils.Database, source_id: str) -> list[str]:
    """URLs of every document the source watches, live or gone: each run asks them all again, so an
    edit to a report that slid off the listings is seen and a restored page comes back `live`."""
    return [r[0] for r in db.execute(f"SELECT url FROM documents WHERE id IN {_SOURCE_DOCUMENTS} ORDER BY id",
                                     {"source": source_id})]


# The newest fetch of a URL that was not an error or blocked, if it confirmed the document's latest
# revision (new / changed / unchanged with that revision's hash): its validators stand for that revision.
_CONFIRMED_FETCH = f"""
    SELECT d.url, f.etag, f.last_modified, r.content_hash FROM documents d
    JOIN revisions r ON r.id = d.latest_revision_id
    JOIN fetches f ON f.id = (SELECT id FROM fetches WHERE url = d.url AND outcome NOT IN ('error', 'blocked')
                              ORDER BY id DESC LIMIT 1)
    WHERE f.outcome IN {CONFIRMING_OUTCOMES!r} AND f.content_hash = r.content_hash
      AND (f.etag IS NOT NULL OR f.last_modified IS NOT NULL)"""


def validators(db: sqlite_utils.Database, source_id: str) -> dict[str, tuple[str | None, str | None]]:
    """url → (ETag, Last-Modified) for every document of a source whose latest good fetch confirmed its
    latest revision, for conditional requests. A document whose latest word was suspect, gone or
    re-extracted is left out: it must be fetched in full and judged again."""
    rows = db.execute(_CONFIRMED_FETCH + f" AND d.id IN {_SOURCE_DOCUMENTS}", {"source": source_id}).fetchall()
    return {url: (etag, modified) for url, etag, modified, _ in rows}


def record_page(db: sqlite_utils.Database, run_id: int | None, *, source_id: str, district: str | None,
                url: str, http_status: int, page: PageLike, body: bytes, encoding: str,
                headers: dict[str, str], fetched_at: str | None = None, prepared: Prepared | None = None,
                final_url: str | None = None) -> str:
    """Write one good page: new document, changed (new revision), unchanged, or suspect. Its outcome.

    `prepared` is :func:`prepare` of the page when the caller did that work already (elsewhere);
    `final_url` is where redirects ended (the document stays `url`, the one the listing named)."""
    fetched_at = fetched_at or now()
    prepared = prepared or prepare(page)
    digest = prepared.digest
    with transaction(db) as conn:
        doc = _document(conn, url)
        doc_id = doc["id"] if doc else None
        latest = _latest_revision(conn, doc_id) if doc else None
        held = _suspect(conn, url, latest, prepared.text, digest) if latest and latest["content_hash"] != digest \
            else 0
        if doc and latest and latest["content_hash"] == digest:
            outcome = "unchanged"
            conn.execute("UPDATE documents SET last_seen = ?, status = 'live' WHERE id = ?", (fetched_at, doc_id))
            _returned(conn, doc, fetched_at, run_id)
        elif 0 < held < SUSPECT_RUNS:
            outcome = "suspect"
        else:
            outcome = "changed" if doc else "new"
            if doc is None:
                doc_id = _insert(conn, "documents", {
                    "url": url, "source_id": source_id, "district": district, "status": "live",
                    "first_seen": fetched_at})
            capture = captures.save_capture(conn, url=url, body=body, fetched_at=fetched_at,
                                             http_status=http_status, headers=headers, encoding=encoding,
                                             packed=prepared.capture)
            if doc is not None:
                _returned(conn, doc, fetched_at, run_id)
            rev_id = add_revision(conn, doc_id, page, fetched_at, capture, digest=digest, prepared=prepared,
                                  suspect=bool(held))
            _event(conn, doc_id, outcome, fetched_at, run_id, source_id if doc is None else doc["source_id"], rev_id)
        _link_source(conn, doc_id, source_id, fetched_at)
        _insert(conn, "fetches", {"run_id": run_id, "url": url, "document_id": doc_id, "http_status": http_status,
                                  "outcome": outcome, "content_hash": digest, "fetched_at": fetched_at,
                                  "error": "body far shorter than the last revision; held until confirmed"
                                  if outcome == "suspect" else None,
                                  "etag": header(headers, "etag"), "last_modified": header(headers, "last-modified"),
                                  "final_url": final_url if final_url and final_url != url else None})
    return outcome


def record_not_modified(db: sqlite_utils.Database, run_id: int | None, *, url: str, etag: str | None = None,
                        last_modified: str | None = None, http_status: int = 304,
                        fetched_at: str | None = None) -> str:
    """Write a 304 answer to a conditional request: `unchanged`, exactly as an unchanged 200 (last_seen
    and status move, no revision) — but only if the URL's latest good fetch still confirms its latest
    revision (what :func:`validators` offered). Otherwise it is logged as an `error` and confirms nothing."""
    fetched_at = fetched_at or now()
    with transaction(db) as conn:
        doc = _document(conn, url)
        confirmed = conn.execute(_CONFIRMED_FETCH + " AND d.url = ?", (url,)).fetchone() if doc else None
        if confirmed is None:
            _insert(conn, "fetches", {"run_id": run_id, "url": url, "document_id": doc["id"] if doc else None,
                                      "http_status": http_status, "outcome": "error", "fetched_at": fetched_at,
                                      "error": "304 Not Modified, but no confirmed revision to stand for"})
            return "error"
        _, sent_etag, sent_modified, digest = confirmed
        _returned(conn, doc, fetched_at, run_id)
        conn.execute("UPDATE documents SET last_seen = ?, status = 'live' WHERE id = ?", (fetched_at, doc["id"]))
        source = conn.execute("SELECT source_id FROM runs WHERE id = ?", (run_id,)).fetchone() if run_id else None
        if source:
            _link_source(conn, doc["id"], source[0], fetched_at)
        _insert(conn, "fetches", {"run_id": run_id, "url": url, "document_id": doc["id"], "http_status": http_status,
                                  "outcome": "unchanged", "content_hash": digest, "fetched_at": fetched_at,
                                  "etag": etag or sent_etag, "last_modified": last_modified or sent_modified})
    return "unchanged"



def record_not_modified_many(db: sqlite_utils.Database, run_id: int | None,
                             answers: Sequence[tuple[str, str | None, str | None, str]],
                             http_status: int = 304) -> list[str]:
    """:func:`record_not_modified` for many 304 answers — (url, etag, last_modified, fetched_at) each — in one
    transaction (a savepoint inside a group commit): the same rows, in the same order, as one call per answer,
    with two reads per answer and the writes of the whole batch in a few statements, instead of ten statements
    per answer (an unchanged recrawl writes thousands). The outcomes, in order."""
    outcomes: list[str] = []
    start = 0
    while start < len(answers):  # a URL twice: its second answer must see the first's fetch, as one by one
        seen: set[str] = set()
        end = start
        while end < len(answers) and answers[end][0] not in seen:
            seen.add(answers[end][0])
            end += 1
        outcomes += _record_not_modified_distinct(db, run_id, answers[start:end], http_status)
        start = end
    return outcomes


def _record_not_modified_distinct(db: sqlite_utils.Database, run_id: int | None,
                                  answers: Sequence[tuple[str, str | None, str | None, str]],
                                  http_status: int) -> list[str]:
    """record_not_modified_many for answers with distinct URLs (each sees the archive as it was before)."""
    outcomes: list[str] = []
    with transaction(db) as conn:
        # two statements for the whole batch: the URLs as a JSON list, which SQLite reads as a list subquery
        # and looks up one by one in the url index (a plain IN list of parameters made it scan documents)
        urls = json.dumps([url for url, *_ in answers])
        docs: dict[str, tuple[int, str, str]] = {row[0]: row[1:] for row in conn.execute(
            "SELECT url, id, status, source_id FROM documents WHERE url IN (SELECT value FROM json_each(?))",
            (urls,))}
        confirmed: dict[str, tuple[str | None, str | None, str]] = {row[0]: row[1:] for row in conn.execute(
            _CONFIRMED_FETCH + " AND d.url IN (SELECT value FROM json_each(?))", (urls,))}
        source = conn.execute("SELECT source_id FROM runs WHERE id = ?", (run_id,)).fetchone() if run_id else None
        seen, links, fetches = [], [], []
        for url, etag, modified, fetched_at in answers:
            doc = docs.get(url)
            hit = confirmed.get(url)
            if doc is None or hit is None:
                fetches.append((run_id, url, doc[0] if doc else None, http_status, "error",
                                "304 Not Modified, but no confirmed revision to stand for", None, fetched_at, None,
                                None))
                outcomes.append("error")
                continue
            sent_etag, sent_modified, digest = hit
            if doc[1] == "gone":
                _event(conn, doc[0], "returned", fetched_at, run_id, doc[2])
            seen.append((fetched_at, doc[0]))
            if source:
                links.append((doc[0], source[0], fetched_at, fetched_at))
            fetches.append((run_id, url, doc[0], http_status, "unchanged", None, digest, fetched_at,
                            etag or sent_etag, modified or sent_modified))
            outcomes.append("unchanged")
        conn.executemany("UPDATE documents SET last_seen = ?, status = 'live' WHERE id = ?", seen)
        conn.executemany(_LINK_SOURCE, links)
        conn.executemany("INSERT INTO fetches (run_id, url, document_id, http_status, outcome, error, content_hash, "
                         "fetched_at, etag, last_modified) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", fetches)
    return outcomes

def add_revision(conn: sqlite3.Connection, document_id: int, page: PageLike, fetched_at: str,
                 capture_hash: str | None, *, digest: str | None = None, reextracted: bool = False,
                 extractor: str | None = None, prepared: Prepared | None = None, captured_at: str | None = None,
                 suspect: bool = False) -> int:
    """Append a revision (and its attachments) and move the document's latest state to it.

    `fetched_at` is when the revision is made; `captured_at` when its capture was fetched (the same, but
    for a re-extraction). `suspect` marks a body far shorter than before, stored after SUSPECT_RUNS runs."""
    if extractor is None:
        from crawler.extract import EXTRACTOR_VERSION as extractor
    if prepared is None or prepared.search_text is None:
        prepared = prepare(page)
    rev_id = _insert(conn, "revisions", {
        "document_id": document_id, "fetched_at": fetched_at, "content_hash": digest or prepared.digest,
        "title": prepared.title, "published": page.published, "publisher": prepared.publisher or None,
        "report_year": page.report_year, "text": prepared.text,
        "record": json.dumps(page.record, ensure_ascii=False) if page.record else None,
        "capture_hash": capture_hash, "reextracted": int(reextracted), "extractor": extractor,
        "captured_at": captured_at or fetched_at, "suspect": int(suspect),
    })
    from archive import attachments

    attachments.link(conn, document_id, rev_id, page.attachments or ())
    conn.execute(
        "UPDATE documents SET title = ?, published = ?, publisher = ?, report_year = ?, status = 'live',"
        " last_seen = max(coalesce(last_seen, ''), ?), last_changed = ?, latest_revision_id = ? WHERE id = ?",
        (prepared.title, page.published, prepared.publisher or None, page.report_year,
         fetched_at, fetched_at, rev_id, document_id),
    )
    import sqlite_utils

    from archive import search

    search.index_latest(sqlite_utils.Database(conn, execute_plugins=False), rev_id, document_id, prepared.search_title,
                        prepared.search_text)
    return rev_id


def record_failure(db: sqlite_utils.Database, run_id: int | None, *, url: str, outcome: str,
                   http_status: int | None = None, error: str | None = None, fetched_at: str | None = None,
                   final_url: str | None = None) -> str:
    """Log a fetch that produced no page. A known document that is not found becomes `gone`;
    every other failure leaves documents and revisions untouched. Returns the logged outcome."""
    fetched_at = fetched_at or now()
    with transaction(db) as conn:
        doc = _document(conn, url)
        if outcome == "not-found" and doc is not None:
            outcome = "gone"
            if doc["status"] == "live":
                _event(conn, doc["id"], "gone", fetched_at, run_id, doc["source_id"])
            conn.execute("UPDATE documents SET status = 'gone', last_changed = CASE WHEN status = 'live' "
                         "THEN ? ELSE last_changed END WHERE id = ?", (fetched_at, doc["id"]))
        _insert(conn, "fetches", {"run_id": run_id, "url": url, "document_id": doc["id"] if doc else None,
                                  "http_status": http_status, "outcome": outcome, "error": error,
                                  "fetched_at": fetched_at,
                                  "final_url": final_url if final_url and final_url != url else None})
    return outcome


# --- helpers --------------------------------------------------------------------------------------

def _event(conn: sqlite3.Connection, document_id: int, kind: str, at: str, run_id: int | None,
           source_id: str | None, revision_id: int | None = None) -> None:
    """Record a new/changed/gone/returned event in the current transaction (archive.events)."""
    from archive import events

    events.record(conn, document_id, kind, at, revision_id=revision_id, run_id=run_id, source_id=source_id)


def _returned(conn: sqlite3.Connection, doc: dict, at: str, run_id: int | None) -> None:
    """A `returned` event when a gone document is served again."""
    if doc["status"] == "gone":
        _event(conn, doc["id"], "returned", at, run_id, doc["source_id"])


def _suspect(conn: sqlite3.Connection, url: str, latest: dict, text: str, digest: str) -> int:
    """For a body (normalised `text`) far shorter than the last revision's and not yet confirmed by an
    identical previous fetch: the number of runs it has been suspect in, this one included. 0 otherwise."""
    old_len, new_len = latest["chars"] or 0, len(text)
    if old_len < SUSPECT_MIN_CHARS or new_len >= old_len * SUSPECT_RATIO:
        return 0
    previous = conn.execute("SELECT outcome, content_hash, run_id FROM fetches WHERE url = ? AND outcome NOT IN "
                            "('error', 'blocked') ORDER BY id DESC", (url,))
    runs: set = set()
    for outcome, content_hash, run_id in previous:
        if outcome != "suspect":
            break
        if not runs and content_hash == digest:
            return 0  # the same short body as last time: confirmed
        runs.add(run_id)
    return len(runs) + 1


_LINK_SOURCE = ("INSERT INTO document_sources (document_id, source_id, first_seen, last_seen) VALUES (?, ?, ?, ?)"
                " ON CONFLICT(document_id, source_id) DO UPDATE SET last_seen = max(last_seen, excluded.last_seen)")


def _link_source(conn: sqlite3.Connection, document_id: int, source_id: str, seen: str) -> None:
    """Note that `source_id` lists (or re-asks) the document, as of `seen`."""
    conn.execute(_LINK_SOURCE, (document_id, source_id, seen, seen))


def _document(conn: sqlite3.Connection, url: str) -> dict | None:
    cur = conn.execute("SELECT * FROM documents WHERE url = ?", (url,))
    row = cur.fetchone()
    return dict(zip([c[0] for c in cur.description], row, strict=True)) if row else None


def _latest_revision(conn: sqlite3.Connection, document_id: int) -> dict | None:
    cur = conn.execute("SELECT id, content_hash, length(text) AS chars FROM revisions WHERE document_id = ? "
                       "ORDER BY id DESC LIMIT 1", (document_id,))
    row = cur.fetchone()
    return dict(zip([c[0] for c in cur.description], row, strict=True)) if row else None


def _insert(conn: sqlite3.Connection, table: str, row: dict[str, Any]) -> int:
    cols = ", ".join(row)
    marks = ", ".join("?" for _ in row)
    return int(conn.execute(f"INSERT INTO {table} ({cols}) VALUES ({marks})", list(row.values())).lastrowid)


def _upsert(conn: sqlite3.Connection, table: str, row: dict[str, Any], pk: str) -> None:
    cols = ", ".join(row)
    marks = ", ".join("?" for _ in row)
    updates = ", ".join(f"{c} = excluded.{c}" for c in row if c != pk)
    conn.execute(f"INSERT INTO {table} ({cols}) VALUES ({marks}) ON CONFLICT({pk}) DO UPDATE SET {updates}",
                 list(row.values()))
