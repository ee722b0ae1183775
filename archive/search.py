"""Full-text search that works for Chinese, through plain FTS5 and Datasette's own ``?_search=``.

The approach: FTS5 with its default ``unicode61`` tokenizer takes a run of Chinese as one token, and
the trigram tokenizer never matches terms under three characters. So the text is *segmented* before
it is indexed: every CJK character starts a token of its own — itself and the CJK character after it
(a *bigram*: 人民调解 → ``人民 民调 调解 解``; the last character of a run stands alone) — and a run of
punctuation or spaces next to a CJK character becomes the separator token U+E000 (a private-use
character, which ``unicode61`` keeps as a token), so a phrase never matches across a comma or a
paragraph break. Latin words and figures are left alone (tokenised by unicode61 as usual, i.e. matched
as whole words).

A query is segmented the same way and searched as a phrase: 调解 → ``"调解"`` (one token: a two-character
search reads one short doclist, with no positions to compare), 行政复议 → ``"行政 政复 复议"``; a run of
one character at the end of a query is a prefix (调 → ``"调" *``, the token of every 调 in the text). Each
character of the text starts exactly one token, so the phrase matches exactly where the characters stand
next to each other in the original — any length, no false negatives, no false positives.
:func:`escape_fts` does that; the Datasette plugin registers it as the SQL function ``escape_fts``
(replacing Datasette's own), so ``?_search=`` works unchanged. For a query without CJK characters it
returns exactly what Datasette's own ``escape_fts`` returns, so other databases are unaffected. An
archive indexed by the older one-character segmenter (``search_meta`` segmenter ``1``) is searched with
one-character phrases until ``python -m archive upgrade`` re-indexes it.

Tables: ``revisions_fts`` (rowid = revisions.id; title, text), ``documents_fts``
(rowid = documents.id; the document's title and its latest revision's text) and
``attachment_revisions_fts`` (rowid = attachment_revisions.id; the attachment's link text and the
version's extracted text). All are ordinary FTS5 tables holding the segmented text;
:func:`rebuild_search` recreates their contents from scratch.
"""
from __future__ import annotations

import re
import sqlite3
import unicodedata
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # sqlite-utils is imported where it is used: an unchanged recrawl never needs it
    import sqlite_utils


SEPARATOR = "\ue000"
SEGMENTER_VERSION = "2"  # 1: one token per CJK character; 2: bigrams
FTS_TABLES = {"revisions_fts": "revisions", "documents_fts": "documents",
              "attachment_revisions_fts": "attachment_revisions"}


class _lazy:  # noqa: N801 — stands for re.compile
    """A pattern compiled on its first use: the CJK classes take ~20 ms to compile (their ranges beyond the
    BMP), which every process importing the archive paid, searching or not (a crawl's start-up)."""

    def __init__(self, pattern: str) -> None:
        self.source = pattern

    def __getattr__(self, name: str):  # only called for what is not yet in __dict__: the first use
        compiled = re.compile(self.source)
        self.__dict__.update({attr: getattr(compiled, attr) for attr in dir(compiled) if not attr.startswith("_")})
        return getattr(compiled, name)


_CJK = (r"\u3040-\u30ff\u3100-\u312f\u31a0-\u31bf\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
        r"\uac00-\ud7af\uf900-\ufaff\U00020000-\U0003134f")
_CJK_RE = _lazy(f"[{_CJK}]")
# a run of non-token characters (anything but letters, digits, marks and private use)
_GAP = r"(?:[^\w\ue000-\uf8ff]|_)+"
_GAP_RE = re.compile(_GAP)
# a gap with a CJK character on either side (gaps are maximal runs, so this never matches half a gap);
# the lookahead in front skips a character no gap starts with in one test (most are letters)
_CJK_GAP_RE = _lazy(f"(?=[^\\w\ue000-\uf8ff]|_)(?:(?<=[{_CJK}]){_GAP}|{_GAP}(?=[{_CJK}]))")
_QUERY_SPLIT_RE = re.compile(r'\s+|(".*?")')


class _Table(dict):
    """str.translate table: a CJK character → `cjk` formatted with it; anything else unchanged. Filled
    lazily, one entry per distinct character seen."""

    def __init__(self, cjk: str) -> None:
        super().__init__()
        self.cjk = cjk

    def __missing__(self, codepoint: int) -> str:
        char = chr(codepoint)
        self[codepoint] = value = self.cjk.format(char) if _CJK_RE.match(char) else char
        return value


_SPACER = _Table(" {0} ")  # one token per CJK character (segmenter 1)
# Bigrams by C-level passes only: each CJK character c becomes "\x01c c\x02" (a gap never holds \x01 or
# \x02 by then: both are gap characters, already spaces). Where a CJK character follows another, "\x02\x01"
# between them goes, leaving the first's second copy joined to the second's first copy — the bigram; a
# "\x01c " left at the start of a run is that character's copy no bigram needs.
_PAIRER = _Table("\x01{0} {0}\x02")
_RUN_START_RE = re.compile("\x01. ", re.S)


def segment(text: str | None) -> str:
    """Text as indexed: NFKC-normalised, each CJK character the start of a token (it and the next CJK
    character), CJK-side punctuation a separator.

    Done with C-level passes only (regex substitutions with constant replacements, one translate, two
    replaces, one split/join), as it runs for every revision the archive stores."""
    text = _gapped(text)
    if not text or not _CJK_RE.search(text):
        return text
    paired = text.translate(_PAIRER).replace("\x02\x01", "")
    return " ".join(_RUN_START_RE.sub(" ", paired).replace("\x02", " ").split())


def _gapped(text: str | None) -> str:
    """NFKC text with CJK-side gaps made separators and other gaps spaces ("" for None; a text without CJK
    characters is only normalised)."""
    if not text:
        return ""
    text = unicodedata.normalize("NFKC", text)
    if not _CJK_RE.search(text):
        return text
    return _GAP_RE.sub(" ", _CJK_GAP_RE.sub(f" {SEPARATOR} ", text))


def _unigrams(text: str | None) -> str:
    """segment() before the bigram step: each CJK character a token (the segmenter of version 1)."""
    text = _gapped(text)
    if not text or not _CJK_RE.search(text):
        return text
    return " ".join(text.translate(_SPACER).split())


READ_MMAP_BYTES = (1 << 31) - (1 << 16)  # SQLite's default ceiling (SQLITE_MAX_MMAP_SIZE)


def segmenter_version(conn) -> str:
    """The segmenter the archive on this sqlite3 connection was indexed with (the current one when it has
    no search index yet, or is not an archive)."""
    try:
        row = conn.execute("SELECT value FROM search_meta WHERE key = 'segmenter'").fetchone()
    except sqlite3.Error:
        row = None
    return row[0] if row else SEGMENTER_VERSION


def tune_reader(conn) -> None:
    """Settings for a connection that searches and reads the archive (Datasette's): memory-map up to
    2 GiB of the file, so the row lookups behind a search's count and facets (one per matching
    revision) read pages in place instead of copying each through SQLite's small page cache."""
    conn.execute(f"PRAGMA mmap_size = {READ_MMAP_BYTES}")


def escape_fts(query: str | None, segmenter: str = SEGMENTER_VERSION) -> str:
    """Turn a user's search into an FTS5 query: each term (or "quoted phrase") a segmented phrase, for an
    index made by `segmenter` (a version of SEGMENTER_VERSION).

    Same contract as Datasette's ``escape_fts`` (terms are ANDed, quotes group a phrase); identical
    output when the query is plain ASCII.
    """
    query = query or ""
    if query.count('"') % 2:
        query += '"'
    bits = [b for b in _QUERY_SPLIT_RE.split(query) if b and b != '""']
    phrases = []
    for bit in bits:
        inner = unicodedata.normalize("NFKC", bit[1:-1] if bit.startswith('"') else bit)
        prefix = ""
        if _CJK_RE.search(inner):
            if segmenter == "1":
                inner = _unigrams(inner)
            else:
                inner, prefix = _query_phrase(inner)
            inner = inner.replace('"', '""')
        phrases.append(f'"{inner}"{prefix}')
    return " ".join(phrases)


def _query_phrase(text: str) -> tuple[str, str]:
    """A query term's tokens under the bigram segmenter, and " *" when its last token must be a prefix.

    Inside the query the tokens are the text's own; only the end differs, since the query may stop in
    the middle of a run of the text: a last character that closes a bigram adds nothing (人民 → 人民, not
    人民 民), and a run of one character at the end stands for every token it starts (调 → 调*)."""
    tokens = segment(text).split(" ")
    last = tokens[-1]
    if len(last) == 1 and _CJK_RE.match(last):
        before = tokens[-2] if len(tokens) > 1 else ""
        if len(before) == 2 and before[1] == last and _CJK_RE.match(before[0]):
            return " ".join(tokens[:-1]), ""
        return " ".join(tokens), " *"
    return " ".join(tokens), ""


# Covering indexes for Datasette's search pages. Its count and facet queries look up every match by rowid
# (`… WHERE rowid IN (SELECT rowid FROM revisions_fts WHERE … MATCH …)`); in `revisions`, whose rows carry
# the full text, each lookup reads a large row, while these narrow indexes hold the rowid and the faceted
# columns side by side, many to a page. SQLite picks them once the planner has statistics
# (:func:`refresh_planner_stats`): the count of 70,000 matches reads ~1 MB instead of the table.
SEARCH_INDEXES = {
    "revisions_search_facets": ("revisions", ("id", "report_year")),
    "documents_search_facets": ("documents", ("id", "source_id", "district", "report_year", "status")),
}


def ensure_search_indexes(db: sqlite_utils.Database) -> None:
    """Create the covering indexes of SEARCH_INDEXES that are missing (only writes when one is; on a
    read-only archive they are left missing: searches are slower, never wrong)."""
    have = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'").fetchall()}
    for name, (table, columns) in SEARCH_INDEXES.items():
        if name not in have:
            try:
                db.execute(f"CREATE INDEX IF NOT EXISTS [{name}] ON [{table}] ({', '.join(columns)})")
            except sqlite3.OperationalError as e:
                if "readonly" not in str(e):
                    raise


def refresh_planner_stats(db: sqlite_utils.Database, growth: float = 2.0) -> bool:
    """ANALYZE (sampled: analysis_limit) when `revisions` has no planner statistics yet or has grown
    `growth`× since they were taken; without them SQLite ignores the covering SEARCH_INDEXES. Whether
    it ran. Call from the archive's writer (the crawl does, at the end of a run)."""
    if "sqlite_stat1" in db.table_names():
        row = db.execute("SELECT stat FROM sqlite_stat1 WHERE idx = 'revisions_search_facets'").fetchone()
    else:
        row = None
    count = db.execute("SELECT max(id) FROM revisions").fetchone()[0] or 0
    if row is not None and count < growth * max(1, int(row[0].split()[0])):
        return False
    db.execute("PRAGMA analysis_limit = 1000")
    db.execute("ANALYZE")
    return True


def ensure_search(db: sqlite_utils.Database) -> None:
    """Create the FTS tables if missing (and fill them from what is already archived)."""
    ensure_search_indexes(db)
    existing = set(db.table_names())
    created = set()
    for fts in FTS_TABLES:
        if fts not in existing:
            db.execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS [{fts}] USING fts5(title, text)")
            created.add(fts)
    if "search_meta" not in existing:
        db["search_meta"].create({"key": str, "value": str}, pk="key", if_not_exists=True)
    version = db.execute("SELECT value FROM search_meta WHERE key = 'segmenter'").fetchone()
    current = bool(version) and version[0] == SEGMENTER_VERSION
    if current and created == {"attachment_revisions_fts"}:  # an archive from before attachment versions
        with_transaction(db, _index_attachments)
    elif created or not current:
        rebuild_search(db)


def rebuild_search(db: sqlite_utils.Database) -> None:
    """Re-index every revision and document (after a segmenter change; the source tables are untouched)."""
    own_transaction = not db.conn.in_transaction
    if own_transaction:
        db.execute("BEGIN")
    try:
        for fts in FTS_TABLES:
            db.execute(f"DELETE FROM [{fts}]")
        for row in db.execute("SELECT id, title, text FROM revisions").fetchall():
            _insert(db, "revisions_fts", row[0], row[1], row[2])
        for (document_id,) in db.execute("SELECT id FROM documents").fetchall():
            index_document(db, document_id)
        _index_attachments(db)
        db.execute("INSERT OR REPLACE INTO search_meta (key, value) VALUES ('segmenter', ?)",
                   [SEGMENTER_VERSION])
    except BaseException:
        if own_transaction:
            db.execute("ROLLBACK")
        raise
    if own_transaction:
        db.execute("COMMIT")


def _index_attachments(db: sqlite_utils.Database) -> None:
    for row in db.execute("SELECT v.id, a.text, v.text FROM attachment_revisions v "
                          "JOIN attachments a ON a.id = v.attachment_id").fetchall():
        _insert(db, "attachment_revisions_fts", row[0], row[1], row[2])


def with_transaction(db: sqlite_utils.Database, fn) -> None:
    """fn(db) in a transaction of its own unless one is open already."""
    own = not db.conn.in_transaction
    if own:
        db.execute("BEGIN")
    try:
        fn(db)
    except BaseException:
        if own:
            db.execute("ROLLBACK")
        raise
    if own:
        db.execute("COMMIT")


def _insert(db: sqlite_utils.Database, fts: str, rowid: int, title: str | None, text: str | None) -> None:
    db.execute(f"INSERT INTO [{fts}] (rowid, title, text) VALUES (?, ?, ?)",
               [rowid, segment(title), segment(text)])


# connection id → index rows held back until the group commit (archive.groupcommit): FTS5 writes a new
# index segment at every COMMIT *and every SAVEPOINT*, so rows written inside a page's savepoint would
# still cost a segment per page; held here, a group's rows are written together just before its COMMIT.
_DEFERRED: dict[int, list[tuple[int, int, str, str]]] = {}


def defer_index(conn, rows: list[tuple[int, int, str, str]] | None) -> None:
    """From now on, :func:`index_latest` on `conn` appends to `rows` instead of writing (None: writes again)."""
    if rows is None:
        _DEFERRED.pop(id(conn), None)
    else:
        _DEFERRED[id(conn)] = rows


def write_index(conn, rows: list[tuple[int, int, str, str]]) -> None:
    """Write deferred (revision_id, document_id, title, text) rows, in a few statements: every revision,
    and each document once, with its last revision in `rows` (what index_latest one by one would leave)."""
    if not rows:
        return
    latest = {doc: (doc, title, text) for _, doc, title, text in rows}
    for fts, values in (("revisions_fts", [(rev, title, text) for rev, _, title, text in rows]),
                        ("documents_fts", list(latest.values()))):
        conn.executemany(f"DELETE FROM [{fts}] WHERE rowid = ?", [(v[0],) for v in values])
        conn.executemany(f"INSERT INTO [{fts}] (rowid, title, text) VALUES (?, ?, ?)", values)


def index_latest(db: sqlite_utils.Database, revision_id: int, document_id: int, title: str, text: str) -> None:
    """Index a new revision and its document, which now shows it, from its already segmented title and
    text (see :func:`segment`; call in the transaction that inserted the revision). In a group commit
    the rows are held until the group is written (:func:`defer_index`)."""
    pending = _DEFERRED.get(id(db.conn))
    if pending is not None:
        pending.append((revision_id, document_id, title, text))
        return
    for fts, rowid in (("revisions_fts", revision_id), ("documents_fts", document_id)):
        db.execute(f"DELETE FROM [{fts}] WHERE rowid = ?", [rowid])
        db.execute(f"INSERT INTO [{fts}] (rowid, title, text) VALUES (?, ?, ?)", [rowid, title, text])


def index_attachment(db: sqlite_utils.Database, version_id: int, link_text: str | None,
                     segmented_text: str) -> None:
    """Index a new attachment version: its attachment's link text and its (already segmented) text."""
    db.execute("DELETE FROM attachment_revisions_fts WHERE rowid = ?", [version_id])
    db.execute("INSERT INTO attachment_revisions_fts (rowid, title, text) VALUES (?, ?, ?)",
               [version_id, segment(link_text), segmented_text])


def index_document(db: sqlite_utils.Database, document_id: int) -> None:
    """Index a document's title and latest revision's text (call after its latest state changes)."""
    row = db.execute(
        "SELECT d.title, r.text FROM documents d LEFT JOIN revisions r ON r.id = d.latest_revision_id "
        "WHERE d.id = ?", [document_id]).fetchone()
    db.execute("DELETE FROM documents_fts WHERE rowid = ?", [document_id])
    if row is not None:
        _insert(db, "documents_fts", document_id, row[0], row[1])


def search(db: sqlite_utils.Database, query: str, *, table: str = "revisions", limit: int = 50) -> list[dict]:
    """Rows of ``revisions``, ``documents`` or ``attachment_revisions`` whose title (an attachment's link
    text) or text contains every term of the query."""
    if table not in FTS_TABLES.values():
        raise ValueError(f"cannot search table {table!r}: use revisions, documents or attachment_revisions")
    sql = (f"SELECT * FROM [{table}] WHERE id IN (SELECT rowid FROM [{table}_fts] "
           f"WHERE [{table}_fts] MATCH ?) ORDER BY id DESC LIMIT ?")
    return [dict(r) for r in db.query(sql, [escape_fts(query), limit])]


# --- ranked search with snippets (python -m archive search) ------------------------------------------

SNIPPET_CHARS = 40


def ranked_documents(db: sqlite_utils.Database, terms: list[str], *, limit: int = 20) -> list[dict]:
    """Documents whose title or latest text holds every term, or one of whose attachments does (in its
    latest version's text or its link text), best first (FTS5 bm25), each with a ``snippet`` around the
    first hit (hits in 【】), its ``rank`` (lower is better) and ``match``: ``document``, or ``attachment``
    with ``attachment`` (id, text — the link text —, url, version) whose text the snippet is from. A
    document that matches itself is listed once, as a document match."""
    query = escape_fts(" ".join(terms))
    if not query:
        return []
    sql = ("SELECT d.id, d.url, d.title, d.status, d.district, d.source_id, d.published, d.latest_revision_id, "
           "r.text, bm25(documents_fts) AS rank FROM documents_fts JOIN documents d ON d.id = documents_fts.rowid "
           "LEFT JOIN revisions r ON r.id = d.latest_revision_id "
           "WHERE documents_fts MATCH ? ORDER BY rank, d.id LIMIT ?")
    out = {}
    for row in db.query(sql, [query, limit]):
        row = dict(row)
        row["snippet"] = snippet(row.pop("text") or "", terms)
        out[row["id"]] = {**row, "match": "document", "attachment": None}
    sql = ("SELECT d.id, d.url, d.title, d.status, d.district, d.source_id, d.published, d.latest_revision_id, "
           "a.id AS attachment_id, a.text AS link_text, a.url AS attachment_url, v.id AS version, v.text, "
           "bm25(attachment_revisions_fts) AS rank FROM attachment_revisions_fts "
           "JOIN attachment_revisions v ON v.id = attachment_revisions_fts.rowid "
           "JOIN attachments a ON a.id = v.attachment_id JOIN documents d ON d.id = a.document_id "
           "WHERE attachment_revisions_fts MATCH ? "
           "AND v.id = (SELECT max(id) FROM attachment_revisions WHERE attachment_id = a.id) ORDER BY rank, v.id")
    for row in db.query(sql, [query]):
        if row["id"] in out:
            continue
        attachment = {"id": row.pop("attachment_id"), "text": row.pop("link_text"), "url": row.pop("attachment_url"),
                      "version": row.pop("version")}
        text = row.pop("text") or ""
        row["snippet"] = snippet(text if text else attachment["text"] or "", terms)
        out[row["id"]] = {**row, "match": "attachment", "attachment": attachment}
    return sorted(out.values(), key=lambda r: (r["rank"], r["id"]))[:limit]


def _terms(terms: list[str]) -> list[str]:
    bits = [b for t in terms for b in _QUERY_SPLIT_RE.split(t) if b and b != '""']
    return [unicodedata.normalize("NFKC", b.strip('"')) for b in bits if b.strip('"')]


def snippet(text: str, terms: list[str], width: int = SNIPPET_CHARS) -> str:
    """About `width` characters either side of the first hit of any term, every hit in the window
    bracketed 【like this】, on one line; the text's start when no term is found in it (a title hit)."""
    flat = " ".join(text.split())
    wanted = _terms(terms)
    lower = flat.lower()
    hits = [(lower.find(t.lower()), t) for t in wanted]
    hits = [(i, t) for i, t in hits if i >= 0]
    if not hits:
        return flat[: 2 * width] + ("…" if len(flat) > 2 * width else "")
    first = min(i for i, _ in hits)
    start, end = max(0, first - width), min(len(flat), first + width + max(len(t) for _, t in hits))
    window = flat[start:end]
    pattern = re.compile("|".join(re.escape(t) for t in sorted(wanted, key=len, reverse=True)), re.IGNORECASE)
    window = pattern.sub(lambda m: f"【{m.group(0)}】", window)
    return ("…" if start else "") + window + ("…" if end < len(flat) else "")
